"""Input checks shared by the estimators (thin wrappers over scikit-learn's)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state, check_scalar


def seed_from_random_state(random_state) -> int:
    """A 64-bit seed for the C++ generators, drawn the scikit-learn way.

    ``None`` draws from numpy's global generator, an int always gives the same
    seed, a ``RandomState`` instance is advanced (as scikit-learn does).
    """
    rng = check_random_state(random_state)
    high, low = rng.randint(0, 2**32, size=2, dtype=np.uint64)
    return int((int(high) << 32) | int(low))


def check_n_samples(n_samples) -> int:
    """Validates the ``n_samples`` argument of ``sample``."""
    check_scalar(n_samples, "n_samples", Integral, min_val=0)
    return int(n_samples)


def float_dtype_of(array) -> np.dtype:
    """float32 stays float32; everything else computes in float64."""
    return np.dtype(np.float32) if array.dtype == np.float32 else np.dtype(np.float64)
