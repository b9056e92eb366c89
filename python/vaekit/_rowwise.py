"""``rowwise``: every inference method of every estimator on every kind of
input (numpy, scipy.sparse, dask) from one numpy implementation. Imports
dask only when a dask array is passed."""

from __future__ import annotations

import functools
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._inputs import is_dask_array


# Rows of a sparse X densified at a time by the inference methods (rowwise):
# at most this many values.
_DENSE_CHUNK_VALUES = 1 << 22


def rowwise(n_columns, pair=False, latent=False, dense=False):
    """Decorates an inference method ``method(self, X, ...)`` whose output rows
    depend only on X's rows, so that it takes every input kind: a dask X gives
    a lazy dask array (``map_blocks``); a scipy.sparse X goes to the method as
    it is when the estimator's core takes CSR (``self._sparse_inference``),
    else it is densified a chunk of rows at a time (never whole).
    ``n_columns(self)``: the output's width (None: one value per row);
    ``pair``: the method returns two such arrays; ``latent``: the input is Z
    (dask only); ``dense``: the method takes dense X only, NaN included (a
    scipy.sparse X is densified even when the core takes CSR, and its stored
    NaN reach the method). Dask blocks are converted to
    ``self._inference_dtypes()``. A ``random_state`` that is not an int is
    drawn once, so that every block uses the same seed."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, X, *args, **kwargs):
            densified = sp.issparse(X) and not latent and (dense or not self._sparse_inference)
            if (is_dask_array(X) or densified) and not isinstance(kwargs.get("random_state", 0), Integral):
                kwargs["random_state"] = int(check_random_state(kwargs["random_state"]).randint(2**31))
            if is_dask_array(X):
                from . import _dask

                check_is_fitted(self)
                X = _dask.check_array(X, self._inference_dtypes(), "Z" if latent else "X")
                width = None if n_columns is None else n_columns(self)
                if pair:
                    both = _dask.map_rows(lambda block: np.hstack(method(self, block, *args, **kwargs)), X,
                                          2 * width, X.dtype)
                    return both[:, :width], both[:, width:]
                return _dask.map_rows(lambda block: method(self, block, *args, **kwargs), X, width, X.dtype)
            if densified:
                check_is_fitted(self)
                # NaN and infinity are the core's to judge (a missing value for some).
                X = validate_data(self, X, accept_sparse="csr", dtype=self._inference_dtypes(), reset=False,
                                  ensure_all_finite=False)
                rows = max(1, min(4096, _DENSE_CHUNK_VALUES // max(1, X.shape[1])))
                parts = [method(self, X[start:start + rows].toarray(), *args, **kwargs)
                         for start in range(0, X.shape[0], rows)]
                if pair:
                    return tuple(np.concatenate(side) for side in zip(*parts))
                return np.concatenate(parts)
            return method(self, X, *args, **kwargs)

        return wrapper

    return decorate


def n_components_of(estimator):
    """The latent width (rowwise's ``n_columns`` of transform and encode)."""
    return estimator.n_components


def n_features_of(estimator):
    """The data width (rowwise's ``n_columns`` of inverse_transform)."""
    return estimator.n_features_in_
