"""The kinds of data the estimators take besides numpy arrays: scipy.sparse
matrices (handed to the C++ core as CSR, never made dense) and dask arrays
(see ``_dask.py``). Nothing here imports dask: ``import vaekit`` needs only
numpy and scikit-learn."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._native import core


def is_dask_array(X) -> bool:
    """Whether X is a dask array (tested without importing dask)."""
    return any(cls.__module__.startswith("dask.array") and cls.__name__ == "Array" for cls in type(X).__mro__)


def csr_class(dtype):
    """The C++ core's CSR view class of a dtype."""
    return {"float32": core.CsrFloat32, "float64": core.CsrFloat64}[np.dtype(dtype).name]


def to_native(X):
    """X as the C++ core takes it: a numpy array as it is, a scipy.sparse
    matrix or array (validated, CSR, float32/64) as the core's CSR view of its
    arrays, with 64-bit indices."""
    if not sp.issparse(X):
        return X
    X = X.tocsr()
    index = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    return csr_class(X.dtype)(np.ascontiguousarray(X.data), index(X.indices), index(X.indptr), X.shape[0],
                              X.shape[1])

