"""Input checks shared by the estimators (thin wrappers over scikit-learn's)."""

from __future__ import annotations

import functools
import os
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils._param_validation import Options

from ._inputs import is_dask_array

# The C++ core takes counts (epochs, draws, threads) as 32-bit ints and loops
# over parameters with int indices.
INT_MAX = 2**31 - 1
# Most threads the core accepts (kMaxThreads in cpp/include/vaekit/common.hpp).
MAX_THREADS = 1024

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class FloatDtype(Options):
    """Parameter constraint: np.float32 or np.float64, in any spelling np.dtype
    accepts (``np.float32``, ``"float64"``, ``np.dtype("f4")``, ``float``).
    (An ``Options`` so that scikit-learn's ``make_constraint`` takes it.)"""

    def __init__(self):
        super().__init__(object, set(_FLOAT_DTYPES))

    def is_satisfied_by(self, val):
        if val is None:  # np.dtype(None) would silently mean float64
            return False
        try:
            return np.dtype(val) in self.options
        except (TypeError, ValueError):
            return False

    def __str__(self):
        return "np.float32 or np.float64"


def seed_from_random_state(random_state) -> int:
    """A 64-bit seed for the C++ generators, drawn the scikit-learn way.

    ``None`` draws from numpy's global generator, an int always gives the same
    seed, a ``RandomState`` instance is advanced (as scikit-learn does).
    """
    rng = check_random_state(random_state)
    high, low = rng.randint(0, 2**32, size=2, dtype=np.uint64)
    return int((int(high) << 32) | int(low))


def check_count(value, name, *, min_val=1) -> int:
    """An int argument of a method (``n_samples``, ``n_mc_samples``) that the
    C++ core receives as a 32-bit int."""
    check_scalar(value, name, Integral, min_val=min_val, max_val=INT_MAX)
    return int(value)


def check_n_samples(n_samples, n_features=None, dtype=None) -> int:
    """Validates the ``n_samples`` argument of ``sample`` (0 gives an empty
    array) and, given the output's width and dtype, that the output fits in memory."""
    n_samples = check_count(n_samples, "n_samples", min_val=0)
    if n_features is not None:
        # The output, the latent draws and one product of the same size.
        check_memory(3 * n_samples * n_features * np.dtype(dtype).itemsize,
                     f"sample(n_samples={n_samples}) of {n_features} features")
    return n_samples


def physical_memory() -> int | None:
    """Bytes of RAM of this machine, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX (Windows)
        return None


def check_memory(n_bytes, what, advice=""):
    """Raises ValueError, before anything is allocated, when ``what`` needs
    more memory than the machine has: a clear message instead of a MemoryError
    (or the OOM killer) after allocating."""
    memory = physical_memory()
    if memory is not None and n_bytes > memory:
        raise ValueError(f"{what} needs about {n_bytes / 2**30:.3g} GiB of memory, more than this machine's "
                         f"{memory / 2**30:.3g} GiB. {advice}".rstrip())


def finite_output(method):
    """Decorates a public method so that it raises ValueError rather than return
    NaN or infinity (an overflow of the data's scale in the working precision):
    vaekit never hands a silent non-finite result to the caller."""

    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        for array in result if isinstance(result, tuple) else (result,):
            if is_dask_array(array):  # lazy: each block is checked when computed
                continue
            check_finite_output(array, f"{type(self).__name__}.{method.__name__}")
        return result

    return checked


def check_finite_output(array, what):
    """Raises ValueError naming the rows of `array` with NaN or infinity."""
    array = np.atleast_1d(np.asarray(array))
    finite = np.isfinite(array)
    if finite.all():
        return
    bad_rows = np.flatnonzero(~finite.reshape(finite.shape[0], -1).all(axis=1))
    precision = (" for float32: use float64 (dtype=np.float64) or scale the data" if array.dtype == np.float32
                 else ": scale the data (e.g. with StandardScaler)")
    raise ValueError(f"{what}: the result is not finite for {bad_rows.size} of {array.shape[0]} rows (first: row "
                     f"{bad_rows[0]}): the values are too large{precision}")
