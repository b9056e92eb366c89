"""Reconstructions and samples of scikit-learn's digits: PPCA, an Autoencoder and a VAE.

The three models are trained on 80% of the images with the same latent
dimension; the pictures show images of the other 20% that no model saw.

- ``digits_reconstructions.png``: originals, then each model's reconstruction
  ``inverse_transform(transform(x))``, with the mean squared error per pixel
  over the whole test split.
- ``digits_samples.png``: new images from the two generative models: latent
  points drawn from the prior ``z ~ N(0, I)``, decoded (the decoder mean,
  without the pixel noise). The Autoencoder has no prior, so it cannot sample.

Run with ``python examples/digits_reconstructions_and_samples.py [--output-dir DIR]``
(about 25 seconds on 2 cores).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from _common import Timer, load_digits_unit, parse_args, save
from vaekit import PPCA, VAE, Autoencoder

N_COMPONENTS = 8


def show_images(axes_row, images, label):
    for ax, image in zip(axes_row, images):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    if label:
        axes_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=11)


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, y = load_digits_unit()
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    epochs = 15 if args.quick else 200
    hidden = (128, 64)
    # Bernoulli likelihood: pixel intensities in [0, 1] are treated as soft
    # binary targets, the usual choice for digits.

    models = {
        "PPCA": PPCA(n_components=N_COMPONENTS),
        "Autoencoder": Autoencoder(n_components=N_COMPONENTS, hidden_layer_sizes=hidden, learning_rate=3e-3,
                                   max_iter=epochs, random_state=0),
        "VAE": VAE(n_components=N_COMPONENTS, hidden_layer_sizes=hidden, likelihood="bernoulli",
                   learning_rate=3e-3, max_iter=epochs, random_state=0),
    }
    for name, model in models.items():
        with Timer(name):
            model.fit(X_train)

    # Reconstructions of the first test image of each digit, 0 to 9.
    shown = np.array([np.flatnonzero(y_test == digit)[0] for digit in range(10)])
    fig, axes = plt.subplots(1 + len(models), len(shown), figsize=(10.4, 5.0), layout="constrained")
    show_images(axes[0], X_test[shown], "original")
    for row, (name, model) in enumerate(models.items(), start=1):
        reconstruction = model.inverse_transform(model.transform(X_test))
        error = np.mean((reconstruction - X_test) ** 2)
        show_images(axes[row], np.clip(reconstruction[shown], 0, 1), f"{name}\nMSE {error:.4f}")
    fig.suptitle(f"Test images and their reconstructions through a {N_COMPONENTS}-D latent space\n"
                 "(MSE: mean squared error per pixel over the 360 test images, pixels in [0, 1])")
    save(fig, args.output_dir, "digits_reconstructions.png")

    # Samples: z ~ N(0, I), then the decoder mean (PPCA's is W z + mu).
    n_rows, n_columns = 4, 8
    latent = np.random.default_rng(0).standard_normal((n_rows * n_columns, N_COMPONENTS))
    generated = {
        "PPCA: W z + mu": models["PPCA"].inverse_transform(latent),
        "VAE: decoder mean (Bernoulli probabilities)": models["VAE"].sample(n_rows * n_columns, random_state=0),
    }
    fig = plt.figure(figsize=(11, 3.9), layout="constrained")
    for subfigure, (name, images) in zip(fig.subfigures(1, 2, wspace=0.05), generated.items()):
        axes = subfigure.subplots(n_rows, n_columns)
        for row in range(n_rows):
            show_images(axes[row], np.clip(images[row * n_columns:(row + 1) * n_columns], 0, 1), "")
        subfigure.suptitle(name)
    fig.suptitle(f"New digits from the prior: z ~ N(0, I) in {N_COMPONENTS} dimensions, decoded", fontsize=13)
    save(fig, args.output_dir, "digits_samples.png")


if __name__ == "__main__":
    main()
