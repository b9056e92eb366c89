"""Filling in missing pixels with PPCA fitted by EM, against column-mean imputation.

A fraction of the pixels of scikit-learn's digits (10% to 50%, chosen at
random) is replaced by NaN. ``PPCA(method="em")`` fits the model to the
observed pixels only (its E-step uses each image's observed coordinates,
exactly), and imputes a missing pixel by its conditional mean given the
observed ones, ``inverse_transform(transform(X))`` at the NaN positions. The
baseline fills each pixel with the mean of that pixel over the images where it
was observed.

- ``missing_values_error.png``: root mean squared error on the removed pixels
  against the fraction removed;
- ``missing_values_images.png``: a few images with 10%, 30% and 50% of their
  pixels removed, and both imputations.

Run with ``python examples/missing_values.py [--output-dir DIR]`` (about 10
seconds on 2 cores).
"""

import matplotlib.pyplot as plt
import numpy as np

from _common import Timer, load_digits_unit, parse_args, save
from vaekit import PPCA

N_COMPONENTS = 12
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
SHOWN_FRACTIONS = (0.1, 0.3, 0.5)


def remove_pixels(X, fraction, rng):
    """A copy of X with a random `fraction` of its entries set to NaN, and the mask."""
    mask = rng.random(X.shape) < fraction
    X_missing = X.copy()
    X_missing[mask] = np.nan
    return X_missing, mask


def impute_ppca(X_missing, max_iter):
    model = PPCA(n_components=N_COMPONENTS, method="em", max_iter=max_iter, random_state=0).fit(X_missing)
    # Conditional mean of every pixel given the observed ones; keep the observed values.
    reconstruction = model.inverse_transform(model.transform(X_missing))
    return np.where(np.isnan(X_missing), reconstruction, X_missing)


def impute_column_means(X_missing):
    return np.where(np.isnan(X_missing), np.nanmean(X_missing, axis=0), X_missing)


def rmse(X_imputed, X, mask):
    return np.sqrt(np.mean((X_imputed[mask] - X[mask]) ** 2))


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, _ = load_digits_unit()
    rng = np.random.default_rng(0)
    max_iter = 30 if args.quick else 1000
    fractions = SHOWN_FRACTIONS if args.quick else FRACTIONS

    errors = {"PPCA-EM": [], "column means": []}
    imputed = {}
    for fraction in fractions:
        X_missing, mask = remove_pixels(X, fraction, rng)
        with Timer(f"PPCA-EM, {fraction:.0%} missing"):
            X_ppca = impute_ppca(X_missing, max_iter)
        X_mean = impute_column_means(X_missing)
        errors["PPCA-EM"].append(rmse(X_ppca, X, mask))
        errors["column means"].append(rmse(X_mean, X, mask))
        imputed[fraction] = (X_missing, X_ppca, X_mean)
        print(f"  RMSE on the removed pixels: PPCA-EM {errors['PPCA-EM'][-1]:.3f}, "
              f"column means {errors['column means'][-1]:.3f}")

    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    percent = 100 * np.array(fractions)
    for (name, values), marker in zip(errors.items(), ("o", "s")):
        ax.plot(percent, values, marker=marker, label=name)
    ax.set_xlabel("pixels removed at random (%)")
    ax.set_ylabel("RMSE on the removed pixels\n(pixel values in [0, 1])")
    ax.set_title(f"Imputing missing pixels of the digits\n(PPCA fitted by EM on the observed pixels, "
                 f"d = {N_COMPONENTS})")
    ax.set_xticks(percent)
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, args.output_dir, "missing_values_error.png")

    # One panel per image; rows: fractions removed; columns: original, with holes, both imputations.
    shown_images = (0, 3, 7)
    columns = ("original", "observed", "PPCA-EM", "means")
    gray_with_red_holes = plt.get_cmap("gray_r").with_extremes(bad="tab:red")
    fig = plt.figure(figsize=(11, 3.7), layout="constrained")
    # The first panel is wider: it also holds the row labels.
    subfigures = fig.subfigures(1, len(shown_images), wspace=0.04, width_ratios=(1.2, 1, 1))
    for panel, (subfigure, index) in enumerate(zip(subfigures, shown_images)):
        axes = subfigure.subplots(len(SHOWN_FRACTIONS), len(columns))
        for row, fraction in enumerate(SHOWN_FRACTIONS):
            X_missing, X_ppca, X_mean = imputed[fraction]
            pictures = (X[index], X_missing[index], X_ppca[index], X_mean[index])
            for ax, picture, title in zip(axes[row], pictures, columns):
                ax.imshow(np.clip(picture.reshape(8, 8), 0, 1), cmap=gray_with_red_holes, vmin=0, vmax=1,
                          interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(title, fontsize=10)
            if panel == 0:
                axes[row, 0].set_ylabel(f"{fraction:.0%}\nremoved", rotation=0, ha="right", va="center")
    fig.suptitle("Missing pixels (red) filled in by PPCA-EM and by column means", fontsize=13)
    save(fig, args.output_dir, "missing_values_images.png")


if __name__ == "__main__":
    main()
