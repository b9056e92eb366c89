"""Estimators on dask arrays (the ``vaekit[dask]`` extra): fits by reduction
over the array's row blocks, and lazy inference with ``map_blocks``.

The mathematics stays in the C++ core. A block's part of a fit (PPCA's
moments, an EM E-step's scatter product, or its missing-value statistics) is
computed by the core on the worker that holds the block; only those small
results cross the network and are merged (``merge_moments``, a sum) in a
tree of up to 8 parts per merge; the core then fits the model from them in
this process. Imported only when a dask array is passed, so that ``import
vaekit`` needs neither dask nor distributed.
"""

from __future__ import annotations

import functools

import numpy as np

from ._description import native_class
from ._inputs import to_native

try:
    import dask
    import dask.array as da
except ImportError as error:  # pragma: no cover - only without the extra
    raise ImportError('dask arrays need dask: pip install "vaekit[dask]"') from error


def check_array(X, dtype, what="X"):
    """A 2-D dask array of known chunk sizes, its columns in one chunk, as
    float32 or float64 (``dtype``: the dtype to use, or a list to keep X's
    if it is in the list, else the first), lazily. The same errors as numpy
    input for other dtypes."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for {what}, got {X.ndim}-D with shape {X.shape}")
    if any(np.isnan(size) for sizes in X.chunks for size in sizes):
        raise ValueError(f"{what} is a dask array of unknown chunk sizes (e.g. from boolean indexing); call "
                         f"{what}.compute_chunk_sizes() first")
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {what} has dtype {X.dtype}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{what} is a dask array of dtype {X.dtype}; a numeric dtype is needed")
    choices = dtype if isinstance(dtype, (list, tuple)) else [dtype]
    target = X.dtype if X.dtype in [np.dtype(c) for c in choices] else np.dtype(choices[0])
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"Found array with shape {X.shape} while a minimum of 1 sample and 1 feature is required")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X.astype(target) if X.dtype != target else X


def input_features(estimator, X, reset):
    """n_features_in_ of an estimator given a dask X, which validate_data does
    not see: set (without feature_names_in_) when reset, else checked."""
    if reset:
        estimator.n_features_in_ = X.shape[1]
        estimator.__dict__.pop("feature_names_in_", None)
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input.")


def _task_threads():
    """OpenMP threads of the core inside one dask task: 0 (the process's
    setting) on a distributed worker, whose nanny sets OMP_NUM_THREADS to its
    share of the cores, and one under the local threaded scheduler, whose
    pool already runs a task per core."""
    scheduler = dask.base.get_scheduler()
    return 1 if scheduler is dask.threaded.get else 0


def _compute(delayed, scheduler=None):
    """delayed.compute() on `scheduler` (default: the calling thread's), through
    the distributed client when one is the scheduler: its compute-and-wait
    takes a fifth of the time of dask.compute on small graphs (20 ms against
    100 ms per EM iteration, measured)."""
    scheduler = dask.base.get_scheduler() if scheduler is None else scheduler
    client = getattr(scheduler, "__self__", None)
    if type(client).__name__ == "Client" and hasattr(client, "compute"):
        return client.compute(delayed).result()
    return delayed.compute(scheduler=scheduler)


def _merge_all(combine, *parts):
    return functools.reduce(combine, parts)


def _tree(parts, combine, part_bytes):
    """Tree reduction of delayed parts by combine(a, b), several parts per
    task: up to 8 (one level for up to 8 blocks, three for 512; each level
    costs a scheduler round trip and a transfer), fewer when a task would hold
    more than 256 MB of parts of part_bytes each, never fewer than 2."""
    fan_in = max(2, min(8, (256 << 20) // max(int(part_bytes), 1)))
    merge = dask.delayed(functools.partial(_merge_all, combine), pure=True)
    while len(parts) > 1:
        groups = [parts[i:i + fan_in] for i in range(0, len(parts), fan_in)]
        parts = [merge(*group) if len(group) > 1 else group[0] for group in groups]
    return parts[0]


def _core_block(block):
    """A block as the core takes it (dense: C-contiguous); the core itself
    checks its values (NaN, infinity) with a clear message."""
    if isinstance(block, np.ndarray):
        return np.ascontiguousarray(block)
    return block


def _block_call(method, dtype, n_threads, block, *args):
    """The core's PPCA.<method>(block, *args, n_threads) on one block."""
    return getattr(native_class("PPCA", dtype), method)(to_native(_core_block(block)), *args, n_threads)


def _native_merge(method, dtype):
    """combine(a, b) by the core's PPCA.<method>."""
    return lambda a, b: getattr(native_class("PPCA", dtype), method)(a, b)


def _reduce(X, method, args, combine, part_bytes):
    """The core's PPCA.<method>(block, *args) of each row block of X, computed
    where the block is and reduced by combine in a tree: one pass. Array
    arguments go to the cluster once (one key each), then to each worker
    that needs them."""
    args = [dask.delayed(arg) if isinstance(arg, np.ndarray) else arg for arg in args]
    call = dask.delayed(functools.partial(_block_call, method, X.dtype.name, _task_threads()), pure=True)
    parts = [call(block, *args) for block in X.to_delayed().ravel()]
    return _compute(_tree(parts, combine, part_bytes))


def missing_statistics(X, W, mean, noise_variance):
    """The missing-value EM's statistics of a dask array under (W, mean,
    noise_variance), W empty for the counts and sums only (one pass, summed in a tree)."""
    d = np.shape(W)[1] if np.size(W) else 0
    part_bytes = 8 * X.shape[1] * (d * (d + 1) // 2 + 2 * d + 3)  # MissingStatistics, in float64
    args = (np.asarray(W, dtype=X.dtype), np.asarray(mean, dtype=X.dtype), noise_variance)
    return _reduce(X, "missing_statistics", args, _native_merge("merge_missing_statistics", X.dtype.name), part_bytes)


def moments(X, with_scatter):
    """PPCA's moments of a dask array (one pass, reduced in a tree)."""
    part_bytes = X.dtype.itemsize * X.shape[1] ** 2 if with_scatter else 8 * X.shape[1]
    return _reduce(X, "moments", (with_scatter,), _native_merge("merge_moments", X.dtype.name), part_bytes)


def fit_ppca(estimator, X, hyper_parameters, seed, verbose):
    """The native PPCA fit of a dask array: the closed form from the moments;
    EM with each E-step's scatter product summed over the blocks, or, when X
    has NaN (missing values), with each E-step's missing-value statistics
    summed over the blocks."""
    native = native_class("PPCA", X.dtype)
    if hyper_parameters["method"] == "closed_form":
        return native.fit_moments(moments(X, True), hyper_parameters["n_components"]), None
    # The observed counts per feature: whether X has missing values, and the
    # missing-value EM's first statistics.
    counts = missing_statistics(X, np.empty((0, 0)), np.empty(0), 0.0)
    rows, observed = counts[0], counts[1]
    if np.any(observed < rows):
        def statistics(W, mean, noise_variance):
            return counts if W.size == 0 else missing_statistics(X, W, mean, noise_variance)

        return native.fit_em_missing(statistics, hyper_parameters, seed, 0, verbose)
    first_pass = moments(X, False)
    mean = first_pass[1].astype(X.dtype)

    def scatter_product(W):
        return _reduce(X, "scatter_product", (mean, np.asarray(W, dtype=X.dtype)), np.add, X.dtype.itemsize * W.size)

    return native.fit_em(first_pass, scatter_product, hyper_parameters, seed, 0, verbose)


class BlockStream:
    """The row blocks of a dask array for training in this process
    (``fit_blocks``): ``fetch(b, next)`` returns block b, prepared by
    ``prepare`` (checks, the core's form), and starts computing block
    ``next`` in a background thread, so that the next block is read (from
    the cluster, or from disk) while the current one trains."""

    def __init__(self, X, prepare):
        from concurrent.futures import ThreadPoolExecutor

        self.block_rows = [int(rows) for rows in X.chunks[0]]
        self._blocks = X.to_delayed().ravel()
        self._prepare = prepare
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vaekit-prefetch")
        self._pending = {}
        # The caller's scheduler (a distributed client may be current in this
        # thread only), for the prefetching thread.
        self._scheduler = dask.base.get_scheduler()

    def _start(self, b):
        if b >= 0 and b not in self._pending:
            self._pending[b] = self._pool.submit(
                lambda: self._prepare(_compute(self._blocks[b], self._scheduler)))

    def fetch(self, b, next_block):
        self._start(b)
        block = self._pending.pop(b).result()
        self._start(next_block)
        return block

    def close(self):
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)


def map_rows(function, X, n_columns, dtype):
    """function(block) on each row block of X, lazily: an (n, n_columns) dask
    array (n_columns None: a 1-D array of n values)."""
    meta = np.empty((0,) if n_columns is None else (0, n_columns), dtype=dtype)
    if n_columns is None:
        return X.map_blocks(lambda block: function(_core_block(block)), drop_axis=1, chunks=(X.chunks[0],),
                            dtype=dtype, meta=meta)
    return X.map_blocks(lambda block: function(_core_block(block)), chunks=(X.chunks[0], (n_columns,)),
                        dtype=dtype, meta=meta)


__all__ = ["BlockStream", "check_array", "fit_ppca", "input_features", "map_rows", "missing_statistics", "moments", "da"]
