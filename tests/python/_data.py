"""Data sets shared by the test modules: small, seeded, and with a structure
the models can recover. Not a test module (imported by them, as cpp_build.py)."""

import numpy as np


def low_rank_data(n, n_features, rank=2, noise=0.3, scale=1.0, offset=0.0, seed=0, latent_first=False,
                  return_components=False):
    """Samples x = W z + offset + noise * eps near a ``rank``-dimensional subspace.

    W is n_features x rank with standard normal entries times ``scale`` (a
    number, or one factor per column); z and eps are standard normal, all drawn
    from ``np.random.default_rng(seed)``: W, then Z, then the noise, or with
    ``latent_first`` Z, then W (drawn as its transpose), then the noise. Both
    orders give the same distribution; each test module keeps the order its
    data was written with, since tolerances and edge cases were checked on
    those draws. Returns X, or (X, W) with ``return_components``.
    """
    rng = np.random.default_rng(seed)
    if latent_first:
        Z = rng.normal(size=(n, rank))
        W_transposed = rng.normal(size=(rank, n_features)) * np.reshape(scale, (-1, 1))
    else:
        W_transposed = (scale * rng.normal(size=(n_features, rank))).T
        Z = rng.normal(size=(n, rank))
    X = Z @ W_transposed + noise * rng.normal(size=(n, n_features)) + offset
    return (X, W_transposed.T) if return_components else X
