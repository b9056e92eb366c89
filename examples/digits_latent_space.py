"""A two-dimensional latent space of scikit-learn's digits: PPCA against a VAE.

PPCA's posterior means are a linear projection of the images (the two leading
principal axes, rescaled), so the ten digits overlap. A VAE with a small
non-linear encoder places them in separate clusters. Each point is one image,
coloured by the digit it shows; the title gives the accuracy of a 5-nearest-
neighbour classifier on the two latent coordinates (5-fold cross-validation),
a number for how well the classes separate.

Run with ``python examples/digits_latent_space.py [--output-dir DIR]``
(about 15 seconds on 2 cores). Writes ``digits_latent_space.png``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from _common import Timer, load_digits_unit, parse_args, save
from vaekit import PPCA, VAE


def knn_accuracy(Z, y):
    return cross_val_score(KNeighborsClassifier(n_neighbors=5), Z, y, cv=5).mean()


def plot_latent(ax, Z, y, title):
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", vmin=-0.5, vmax=9.5, s=6, alpha=0.8,
                        linewidths=0)
    # Each digit's label at the median of its points.
    for digit in range(10):
        centre = np.median(Z[y == digit], axis=0)
        ax.text(*centre, str(digit), fontsize=13, fontweight="bold", ha="center", va="center",
                bbox=dict(boxstyle="circle,pad=0.2", facecolor="white", alpha=0.75, linewidth=0))
    ax.set_title(title)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return points


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, y = load_digits_unit()

    with Timer("PPCA"):
        ppca = PPCA(n_components=2).fit(X)
    # A learned decoder variance lets the reconstruction term outweigh the KL,
    # so the encoder keeps the digits apart instead of collapsing to the prior.
    vae = VAE(n_components=2, hidden_layer_sizes=(128, 64), decoder_variance="scalar", learning_rate=3e-3,
              max_iter=15 if args.quick else 150, random_state=0)
    with Timer("VAE"):
        vae.fit(X)

    fig, axes = plt.subplots(1, 2, figsize=(11, 5), layout="constrained")
    for ax, model, name in [(axes[0], ppca, "PPCA"), (axes[1], vae, "VAE (hidden layers 128, 64)")]:
        Z = model.transform(X)
        points = plot_latent(ax, Z, y, f"{name}: 5-NN accuracy {knn_accuracy(Z, y):.0%}")
    colorbar = fig.colorbar(points, ax=axes, ticks=range(10), shrink=0.9)
    colorbar.set_label("digit")
    fig.suptitle("Digits (1797 images, 8 x 8 pixels) in a 2-D latent space: posterior means E[z | x]")
    save(fig, args.output_dir, "digits_latent_space.png")


if __name__ == "__main__":
    main()
