"""The main job: fit vaekit's models on scikit-learn's digits and report.

PPCA in closed form and by EM (also with 20% of the pixels missing), then
VAEs whose ELBO and IWAE estimate sit next to PPCA's exact log-likelihood.

Run with ``python -m vaekit.demo``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from . import PPCA, VAE, __version__
from ._native import core


def _ppca_section(X_train, X_test, n_components):
    print(f"\nPPCA, d = {n_components}")
    for method in ("closed_form", "em"):
        start = time.perf_counter()
        model = PPCA(n_components, method=method, random_state=0).fit(X_train)
        seconds = time.perf_counter() - start
        print(f"  {method:<12} train log-lik {model.score(X_train):9.3f} nats/sample   "
              f"test {model.score(X_test):9.3f}   noise variance {model.noise_variance_:.4f}   "
              f"{model.n_iter_:4d} iter   {seconds * 1e3:7.1f} ms")
    closed = PPCA(n_components).fit(X_train)
    ratio = closed.explained_variance_ratio_
    print("  explained variance ratio of the first 5 axes:", np.array2string(ratio[:5], precision=3),
          f" (all {n_components}: {ratio.sum():.3f})")
    return closed


def _missing_section(X_train, n_components, fraction=0.2):
    rng = np.random.default_rng(0)
    mask = rng.random(X_train.shape) < fraction
    X_missing = X_train.copy()
    X_missing[mask] = np.nan
    start = time.perf_counter()
    model = PPCA(n_components, method="em", random_state=0).fit(X_missing)
    seconds = time.perf_counter() - start
    # E[x_missing | x_observed] = mu + W E[z | x_observed] on the missing coordinates.
    imputed = model.inverse_transform(model.transform(X_missing))
    rmse_ppca = np.sqrt(np.mean((imputed[mask] - X_train[mask]) ** 2))
    column_means = np.nanmean(X_missing, axis=0)
    rmse_mean = np.sqrt(np.mean((np.broadcast_to(column_means, X_train.shape)[mask] - X_train[mask]) ** 2))
    print(f"\nPPCA EM with {fraction:.0%} of the pixels removed ({mask.sum()} entries)")
    print(f"  log-lik of the observed pixels {model.score(X_missing):9.3f} nats/sample, "
          f"{model.n_iter_} iterations, {seconds * 1e3:.1f} ms")
    print(f"  imputation RMSE: PPCA {rmse_ppca:.3f}   column means {rmse_mean:.3f}   "
          f"(pixel values 0..16)")


def _vae_section(X_train, X_test, n_components, ppca):
    print(f"\nVAE, d = {n_components}, Gaussian decoder (log-likelihoods in nats/sample, as PPCA's)")
    print(f"  {'model':<44} {'train ELBO':>10} {'test ELBO':>10} {'test IWAE':>10} {'seconds':>8}")
    print(f"  {'PPCA closed form (exact log p(x))':<44} {ppca.score(X_train):10.3f} {ppca.score(X_test):10.3f} "
          f"{ppca.score(X_test):10.3f} {'':>8}")
    configurations = [
        ("linear VAE, learned scalar variance", dict(hidden_layer_sizes=(), decoder_variance="scalar",
                                                     learning_rate=3e-3)),
        ("VAE 64-128-10, learned scalar variance", dict(hidden_layer_sizes=(128,), decoder_variance="scalar")),
    ]
    for label, parameters in configurations:
        start = time.perf_counter()
        vae = VAE(n_components, max_iter=1000, early_stopping=True, n_iter_no_change=30, random_state=0,
                  **parameters)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            vae.fit(X_train)
        # IWAE with m = 1000 importance samples (Burda et al. 2016): a tighter bound than the ELBO.
        iwae = vae.log_likelihood(X_test, n_samples=1000, random_state=0).mean()
        seconds = time.perf_counter() - start
        print(f"  {label:<44} {vae.score(X_train):10.3f} {vae.score(X_test):10.3f} {iwae:10.3f} "
              f"{seconds:8.1f}   ({vae.n_iter_} epochs)")


def main():
    digits = load_digits()
    X = digits.data.astype(np.float64)
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    print(f"vaekit {__version__} (kernels: {core.active_isa()}, OpenMP: {core.openmp_enabled()})")
    print(f"scikit-learn digits: {X_train.shape[0]} train / {X_test.shape[0]} test samples, "
          f"{X.shape[1]} pixels")
    n_components = 10
    ppca = _ppca_section(X_train, X_test, n_components)
    _missing_section(X_train, n_components)
    _vae_section(X_train.astype(np.float32), X_test.astype(np.float32), n_components, ppca)


if __name__ == "__main__":
    main()
