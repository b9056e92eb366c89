"""vaekit on data beyond one process's memory (issue 14), side by side with
dask-ml and scikit-learn in one run.

Sections (select with --only, letters or names, comma-separated):
  a cluster  PPCA closed form on a dask array (200,000 x 200 float64, 25,000-row
             chunks) persisted on a dask.distributed LocalCluster (2 worker
             processes, 1 thread each) against dask-ml PCA (svd_solver "tsqr" and
             "randomized") on the same cluster and array, and against the baseline
             "gather the array into the client, then PPCA.fit(numpy)". The bytes the
             workers sent (to each other and to the client) are measured for each.
  b sparse   PPCA on a CSR matrix 200,000 x 20,000 at 0.1% density
             (scipy.sparse.random, seed 0) against scikit-learn
             PCA(svd_solver="arpack"), TruncatedSVD (arpack, and randomized as an
             extra); then the same sparsity pattern with low-rank values (an
             extra row). Every fit runs in a fresh subprocess that reports its
             seconds and its peak resident memory above the resident memory
             before the fit (VmHWM reset through /proc/self/clear_refs), shown
             as % of the dense size n*D*8.
  c zarr     PPCA on a zarr array on disk (2,000,000 x 100 float64, 1.6 GB,
             50,000-row chunks, written once) with the threaded scheduler, in a
             subprocess: seconds and peak resident memory, against dask-ml PCA on
             the same array. The issue asks for "a few blocks": the goal is a peak
             at most 1.25x that of dask's own X.sum(axis=0) on the same array and
             scheduler (what reading it costs); ZARR_BUDGET_BLOCKS blocks are shown
             for reference.
  d vae      VAE fit (100,000 x 100 float32, max_iter=3) streaming from a dask
             array (10,000-row chunks; threaded scheduler over an in-memory array,
             and persisted on the 2-worker cluster) against the same fit on numpy:
             throughput in samples/s.
  e em       PPCA EM iterations (method="em", tol=0) on a dask array persisted on a
             LocalCluster of 1 and of 2 workers: seconds per iteration
             ((fit with 1 + EM_ITERATIONS iterations - fit with 1) / EM_ITERATIONS),
             the speed-up, and the bytes the workers sent per iteration, against a
             dask + numpy EM written here (one map over the blocks and a tree
             reduction per iteration, the same steps as bench/numpy_ppca.py). Then
             the same with 10% of the entries NaN (EM_MISSING): vaekit's
             missing-value EM on the clusters against the same EM on the array
             gathered into the client (no dask peer fits PPCA with NaN).

Every round runs each method once, the methods interleaved, so that all see
the same load on a shared machine; the table shows medians and [min-max].
Ratios are oriented as in bench/compare.py: ABOVE 1 MEANS VAEKIT IS BETTER
(reference time / vaekit time; vaekit throughput / reference throughput;
memory budget / vaekit's peak). "goal" is issue 14's goal in that orientation.

Input vaekit does not handle yet: a fit that raises TypeError or ValueError is
reported as "vaekit: not supported yet (<error>)" and the peers still run; a
fit that converts the whole dask array to numpy (np.asarray, as scikit-learn's
validation does) is timed but flagged "GATHERED" (not the dask path), and its
goal is not checked.

    python bench/scale.py                    # everything (about 15-20 min on 2 cores)
    python bench/scale.py --quick            # small sizes, a smoke run (< 1 min)
    python bench/scale.py --only a,e         # the cluster sections only
    python bench/scale.py --only sparse --repeats 2

Needs: numpy, scipy, scikit-learn, dask[array], distributed, dask-ml, zarr
(bench-only dependencies; sections whose peer is missing show vaekit only).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import Stat, Table, cpu_description, ratio_of_medians_stat, resident_mb

# ----------------------------------------------------------------------------- sizes

N_COMPONENTS = 10

# a: PPCA closed form on a dask array on a 2-worker LocalCluster
CLUSTER_N, CLUSTER_D, CLUSTER_CHUNK = 200_000, 200, 25_000
CLUSTER_WORKERS = 2
DATA_RANK = 20  # low rank + noise, as bench_ppca.make_data

# b: CSR
SPARSE_N, SPARSE_D, SPARSE_DENSITY = 200_000, 20_000, 0.001
SPARSE_LOW_RANK = 10  # rank of the values of the extra low-rank matrix
SPARSE_BUDGET = 0.10  # peak memory goal: fraction of the dense size

# c: zarr on disk, threaded scheduler
ZARR_N, ZARR_D, ZARR_CHUNK = 2_000_000, 100, 50_000
ZARR_BUDGET_BLOCKS = 4  # "peak RSS <= a few blocks", shown for reference
# The goal of the zarr memory row: vaekit's peak growth at most 1.25x that of
# dask's own one-pass reduction of the array (ZARR_FLOOR), i.e. the fit adds
# little to what reading the blocks costs; how many blocks that is depends on
# the scheduler's threads and the store's codec, not on vaekit.
ZARR_FLOOR_GOAL = 0.8
ZARR_REPEATS = 1  # subprocess runs per method (each reads the whole array)

# d: VAE streaming from dask
VAE_N, VAE_D, VAE_CHUNK, VAE_EPOCHS = 100_000, 100, 10_000, 3

# e: PPCA EM on dask, 1 vs 2 workers
EM_N, EM_D, EM_CHUNK, EM_ITERATIONS = 200_000, 200, 25_000, 10
EM_MISSING = 0.1  # the fraction of NaN entries in the missing-value EM rows

QUICK = dict(CLUSTER_N=20_000, CLUSTER_D=50, CLUSTER_CHUNK=5_000,
             SPARSE_N=20_000, SPARSE_D=2_000, SPARSE_DENSITY=0.002,
             ZARR_N=200_000, ZARR_D=20, ZARR_CHUNK=20_000,
             VAE_N=10_000, VAE_D=50, VAE_CHUNK=2_000, VAE_EPOCHS=1,
             EM_N=20_000, EM_D=50, EM_CHUNK=5_000, EM_ITERATIONS=3)

SECTIONS = {"a": "cluster", "b": "sparse", "c": "zarr", "d": "vae", "e": "em"}
MB = 1024.0 * 1024.0
# What vaekit raises on input it does not handle yet (TypeError, ValueError) and, while the support is
# being written, anything else: the section carries on with the peers.
NOT_SUPPORTED = (Exception,)


# ----------------------------------------------------------------------------- helpers

def have(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def fmt_bytes(value):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"


def short_error(error):
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text if len(text) <= 160 else text[:157] + "..."


def not_supported(error):
    message = f"vaekit: not supported yet ({short_error(error)})"
    print("    " + message, flush=True)
    return message


@contextlib.contextmanager
def watch_materialisation():
    """Records the shape of every dask array converted to numpy through
    __array__ (np.asarray: what scikit-learn's validation does with a dask
    array). A conversion of the whole array means the fit gathered it."""
    import dask.array as da

    shapes = []
    original = da.Array.__array__

    def spy(self, *args, **kwargs):
        shapes.append(tuple(self.shape))
        return original(self, *args, **kwargs)

    da.Array.__array__ = spy
    try:
        yield shapes
    finally:
        da.Array.__array__ = original


def gathered_note(shapes, shape):
    if tuple(shape) in shapes:
        return ("GATHERED: vaekit converted the whole dask array with np.asarray (no dask path yet), "
                "so this is the gather-then-fit path; goal not checked")
    return None


def subspace_cosine(A, B):
    """Cosine of the largest principal angle between the row spaces of A and B (1 = same subspace)."""
    qa, _ = np.linalg.qr(np.asarray(A, dtype=np.float64).T)
    qb, _ = np.linalg.qr(np.asarray(B, dtype=np.float64).T)
    return float(np.linalg.svd(qa.T @ qb, compute_uv=False).min())


def stat_or_none(values):
    return Stat(values) if values else None


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux >= 4.0); False if it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    value = resident_mb("VmHWM")
    if math.isnan(value):  # no /proc: ru_maxrss (KB on Linux), the lifetime peak
        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return value


def set_memory_guard(gigabytes):
    """Caps the address space, so that a fit that densifies fails with
    MemoryError instead of taking the machine down. 0: no cap."""
    if gigabytes > 0:
        limit = int(gigabytes * 1e9)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def default_memory_guard_gb():
    try:
        with open("/proc/meminfo") as meminfo:
            total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
        return round(0.6 * total_kb / 1e6, 1)
    except (OSError, StopIteration):
        return 0.0


# ----------------------------------------------------------------------------- data

def low_rank_dask(n, D, chunk, dtype=np.float64, seed=0, rank=DATA_RANK, missing=0.0):
    """Low rank + noise (bench_ppca.make_data's model), generated block by block
    where the array is computed (on the workers of a cluster); a fraction
    `missing` of the entries NaN, completely at random."""
    import dask.array as da

    rank = min(rank, D)
    scales = np.linspace(5.0, 0.5, rank)
    W = np.random.default_rng(seed + 1).standard_normal((rank, D)) * scales[:, None] / np.sqrt(rank)
    rng = da.random.default_rng(seed)
    Z = rng.standard_normal((n, rank), chunks=(chunk, rank))
    X = Z @ W + 0.5 * rng.standard_normal((n, D), chunks=(chunk, D)) + 3.0
    if missing:
        X = da.where(rng.random((n, D), chunks=(chunk, D)) < missing, np.nan, X)
    return X.astype(dtype).rechunk((chunk, D))


def sparse_matrix(n, D, density, seed=0, low_rank=0):
    """scipy.sparse.random CSR float64; with low_rank > 0, the same pattern with
    values 1 + (U V^T)_ij (U: n x r with decreasing scales, V: D x r)."""
    import scipy.sparse as sp

    X = sp.random(n, D, density=density, format="csr", dtype=np.float64, random_state=np.random.default_rng(seed))
    if low_rank:
        rng = np.random.default_rng(seed + 1)
        U = rng.standard_normal((n, low_rank)) * np.linspace(3.0, 1.0, low_rank)
        V = rng.standard_normal((D, low_rank))
        rows = np.repeat(np.arange(n), np.diff(X.indptr))
        X.data = 1.0 + np.einsum("ij,ij->i", U[rows], V[X.indices])
    return X


# ----------------------------------------------------------------------------- clusters

class Clusters:
    """LocalClusters (worker processes, 1 thread each) made on first use and
    data persisted on them, kept for the whole run."""

    def __init__(self):
        self.clients = {}
        self.clusters = {}
        self.arrays = {}

    def client(self, n_workers):
        if n_workers not in self.clients:
            from distributed import Client, LocalCluster

            started = time.perf_counter()
            logging.getLogger("distributed").setLevel(logging.ERROR)  # no INFO lines when clusters close
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
            self.clusters[n_workers] = cluster
            self.clients[n_workers] = Client(cluster, set_as_default=False)
            print(f"    LocalCluster({n_workers} workers x 1 thread, processes) up in "
                  f"{time.perf_counter() - started:.1f} s; {worker_threads(self.clients[n_workers])}", flush=True)
        return self.clients[n_workers]

    def persisted(self, n_workers, n, D, chunk, dtype=np.float64, missing=0.0):
        """A low-rank dask array persisted on the cluster (not counted in any timing)."""
        key = (n_workers, n, D, chunk, np.dtype(dtype).name, missing)
        if key not in self.arrays:
            from distributed import wait

            client = self.client(n_workers)
            started = time.perf_counter()
            with client.as_current():
                X = client.persist(low_rank_dask(n, D, chunk, dtype, missing=missing))
                wait(X)
            self.arrays[key] = X
            placement = {}
            for workers in client.who_has(X).values():
                for worker in workers:
                    placement[worker] = placement.get(worker, 0) + 1
            print(f"    data {n:,} x {D} {np.dtype(dtype).name} in {len(X.chunks[0])} chunks of {chunk:,} rows "
                  f"persisted on {n_workers} worker(s) in {time.perf_counter() - started:.1f} s; chunks per worker: "
                  + ", ".join(str(c) for c in sorted(placement.values(), reverse=True)), flush=True)
        return self.arrays[key]

    def close(self):
        for client in self.clients.values():
            client.close()
        for cluster in self.clusters.values():
            cluster.close()


def worker_threads(client):
    def info():
        import os as _os

        try:
            from threadpoolctl import threadpool_info

            pools = ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info())
        except ImportError:
            pools = "threadpoolctl not installed"
        return f"OMP_NUM_THREADS={_os.environ.get('OMP_NUM_THREADS')}; {pools}"

    answers = client.run(info)
    return "worker threads: " + "; ".join(sorted(set(answers.values())))


class Transfers:
    """Bytes the workers sent (their get_data replies: to other workers, and to
    the scheduler or the client for results), from each worker's
    transfer_outgoing_log, which this measurement clears first. Data sent to
    the workers inside the task graph (small arguments such as W) is not in it."""

    def __init__(self, client):
        self.client = client
        self.workers = None

    def start(self):
        self.client.run(lambda dask_worker: dask_worker.transfer_outgoing_log.clear())
        self.workers = set(self.client.scheduler_info()["workers"])

    def stop(self):
        logs = self.client.run(lambda dask_worker: [(entry["who"], entry["total"])
                                                    for entry in dask_worker.transfer_outgoing_log])
        between = sum(total for log in logs.values() for who, total in log if who in self.workers)
        out = sum(total for log in logs.values() for who, total in log if who not in self.workers)
        return dict(between_workers=between, to_client=out, total=between + out)


def transfers_text(moved):
    return (f"workers sent {fmt_bytes(moved['total'])} ({fmt_bytes(moved['between_workers'])} between workers, "
            f"{fmt_bytes(moved['to_client'])} to the client)")


# ----------------------------------------------------------------------------- a: cluster

def section_cluster(table, clusters, sizes, repeats):
    import vaekit

    n, D, chunk, d = sizes["CLUSTER_N"], sizes["CLUSTER_D"], sizes["CLUSTER_CHUNK"], N_COMPONENTS
    client = clusters.client(CLUSTER_WORKERS)
    X = clusters.persisted(CLUSTER_WORKERS, n, D, chunk)
    size = f"{n:,} x {D} float64, {len(X.chunks[0])} chunks, {CLUSTER_WORKERS} workers"
    transfers = Transfers(client)
    gather_times = []

    def fit_vaekit():
        return vaekit.PPCA(d).fit(X)

    def fit_gathered():
        start = time.perf_counter()
        Xn = X.compute()
        gather_times.append(time.perf_counter() - start)
        return vaekit.PPCA(d).fit(Xn)

    methods = {"vaekit": fit_vaekit, "gather + vaekit numpy fit": fit_gathered}
    if have("dask_ml"):
        from dask_ml.decomposition import PCA as DaskPCA

        methods["dask-ml tsqr"] = lambda: DaskPCA(d, svd_solver="tsqr").fit(X)
        methods["dask-ml randomized"] = lambda: DaskPCA(d, svd_solver="randomized", random_state=0).fit(X)
    else:
        print("    dask-ml not installed: no reference")
    notes = {name: [] for name in methods}
    times = {name: [] for name in methods}
    components = {}
    with client.as_current(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Warm-up round: imports, first compilations; measures the bytes moved and checks the result.
        for name, fit in list(methods.items()):
            transfers.start()
            try:
                with watch_materialisation() as shapes:
                    start = time.perf_counter()
                    model = fit()
                    seconds = time.perf_counter() - start
            except NOT_SUPPORTED as error:
                if name != "vaekit":
                    raise
                notes[name].append(not_supported(error))
                del methods[name]
                continue
            moved = transfers.stop()
            components[name] = model.components_
            notes[name].append(transfers_text(moved))
            if name == "vaekit":
                flag = gathered_note(shapes, X.shape)
                if flag:
                    notes[name].insert(0, flag)
            print(f"    warm-up {name}: {seconds:.2f} s; {transfers_text(moved)}", flush=True)
        gather_times.clear()
        for _ in range(repeats):
            for name, fit in methods.items():
                start = time.perf_counter()
                fit()
                times[name].append(time.perf_counter() - start)
    reference = components.get("gather + vaekit numpy fit")
    for name in components:
        if name != "gather + vaekit numpy fit" and reference is not None:
            notes[name].append(f"subspace cos vs numpy PPCA {subspace_cosine(components[name], reference):.9f}")
    for name, values in times.items():
        print(f"    {name}: " + ", ".join(f"{v:.2f}" for v in values) + " s", flush=True)
    ours = stat_or_none(times.get("vaekit"))
    gathered = any(note.startswith("GATHERED") for note in notes["vaekit"])
    gather_text = (f"gather {statistics.median(gather_times):.2f} s of it" if gather_times else "")
    for peer in ("dask-ml tsqr", "dask-ml randomized"):
        if peer not in times:
            continue
        ref = Stat(times[peer])
        ratio = ratio_of_medians_stat(ref, ours) if ours else None
        table.add(f"PPCA closed form, dask {size}, vs {peer}", ours, ref, "s", ratio,
                  None if gathered or ours is None else 5.0,
                  "; ".join([f"vaekit: {'; '.join(notes['vaekit'])}", f"{peer}: {'; '.join(notes[peer])}"]))
    if "dask-ml tsqr" in times:
        gathered_stat = Stat(times["gather + vaekit numpy fit"])
        ref = Stat(times["dask-ml tsqr"])
        table.add(f"gather into the client + PPCA.fit(numpy), {size}, vs dask-ml tsqr", gathered_stat, ref, "s",
                  ratio_of_medians_stat(ref, gathered_stat), None,
                  f"the baseline (issue: about 2.7x); {gather_text}; "
                  f"{'; '.join(notes['gather + vaekit numpy fit'])}")


# ----------------------------------------------------------------------------- b: sparse

SPARSE_METHODS = ("vaekit", "sklearn PCA arpack", "sklearn TruncatedSVD arpack", "sklearn TruncatedSVD randomized",
                  "sklearn PCA covariance_eigh")


def sparse_estimator(method, d):
    if method == "vaekit":
        import vaekit

        return vaekit.PPCA(d)
    from sklearn.decomposition import PCA, TruncatedSVD

    if method == "sklearn PCA arpack":
        return PCA(d, svd_solver="arpack", random_state=0)
    if method == "sklearn PCA covariance_eigh":
        return PCA(d, svd_solver="covariance_eigh")
    if method == "sklearn TruncatedSVD arpack":
        return TruncatedSVD(d, algorithm="arpack", random_state=0)
    if method == "sklearn TruncatedSVD randomized":
        return TruncatedSVD(d, algorithm="randomized", random_state=0)
    raise ValueError(method)


def child_sparse(method, path, guard_gb):
    """--child sparse: one fit of a CSR matrix saved with save_npz; prints JSON."""
    import scipy.sparse as sp

    X = sp.load_npz(path).tocsr()
    d = N_COMPONENTS
    warm = sp.random(200, 50, density=0.1, format="csr", random_state=np.random.default_rng(1))
    try:
        sparse_estimator(method, 3).fit(warm)  # loads the code paths before the baseline
    except NOT_SUPPORTED as error:
        return dict(error=short_error(error))
    gc.collect()
    set_memory_guard(guard_gb)
    before = resident_mb("VmRSS")
    reset = reset_peak_rss()
    estimator = sparse_estimator(method, d)
    start = time.perf_counter()
    try:
        estimator.fit(X)
    except MemoryError as error:
        return dict(error=f"MemoryError under the {guard_gb:g} GB address-space guard ({error})")
    except NOT_SUPPORTED as error:
        return dict(error=short_error(error))
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    np.save(f"{path}.{method.replace(' ', '_')}.npy", np.asarray(estimator.components_))
    variance = getattr(estimator, "explained_variance_", None)
    return dict(seconds=seconds, rss_before=before, peak=peak, growth=peak - before, hwm_reset=reset,
                explained_variance=None if variance is None else np.asarray(variance, np.float64).tolist(),
                n=X.shape[0])


def child_rounds(kind, path, methods, repeats, guard_gb, label, describe):
    """Interleaved rounds of fits in fresh subprocesses (run_child(kind, method,
    path)): {method: [results]}, {method: error}; describe(result) -> progress text."""
    results = {m: [] for m in methods}
    errors = {}
    for _ in range(repeats):
        for method in methods:
            if method in errors:
                continue
            r = run_child([kind, method, path], guard_gb)
            if "error" in r:
                errors[method] = r["error"]
                print(f"    {label} {method}: {r['error']}", flush=True)
                continue
            results[method].append(r)
            print(f"    {label} {method}: {describe(r)}", flush=True)
    return results, errors


def sparse_rounds(path, methods, repeats, guard_gb, label):
    return child_rounds("sparse", path, methods, repeats, guard_gb, label,
                        lambda r: f"{r['seconds']:.2f} s, peak RSS +{r['growth']:.0f} MB "
                                  f"(VmHWM reset {'yes' if r['hwm_reset'] else 'NO'})")


def sparse_rows(table, results, errors, X_shape, nnz, dense_mb, label, path, memory_goal):
    n = X_shape[0]
    ours = results.get("vaekit")
    ours_time = Stat([r["seconds"] for r in ours]) if ours else None
    ours_note = f"vaekit: not supported yet ({errors['vaekit']})" if "vaekit" in errors else ""

    def memory_text(method):
        rs = results.get(method)
        if not rs:
            return f"{method}: {errors.get(method, 'not run')}"
        growth = statistics.median(r["growth"] for r in rs)
        return f"{method} peak RSS +{growth:.0f} MB ({100 * growth / dense_mb:.2f}% of dense)"

    agreement = ""
    if ours and results.get("sklearn PCA arpack"):
        a = np.load(f"{path}.vaekit.npy")
        b = np.load(f"{path}.sklearn_PCA_arpack.npy")
        ev_ours = np.asarray(ours[0]["explained_variance"])
        ev_ref = np.asarray(results["sklearn PCA arpack"][0]["explained_variance"]) * (n - 1) / n
        agreement = (f"; vs PCA arpack: subspace cos {subspace_cosine(a, b):.6f}, explained variance max rel. diff "
                     f"{np.max(np.abs(ev_ours - ev_ref) / ev_ref):.1e}")
    for peer, goal in (("sklearn PCA arpack", 2.0), ("sklearn TruncatedSVD arpack", 2.0),
                       ("sklearn TruncatedSVD randomized", None), ("sklearn PCA covariance_eigh", None)):
        if peer not in results:
            continue
        rs = results[peer]
        if not rs:
            table.add(f"PPCA, {label}, vs {peer}", ours_time, None, "s", None, None,
                      f"{peer}: {errors.get(peer)}; {ours_note}")
            continue
        ref = Stat([r["seconds"] for r in rs])
        ratio = ratio_of_medians_stat(ref, ours_time) if ours_time else None
        notes = [ours_note or memory_text("vaekit"), memory_text(peer)]
        table.add(f"PPCA, {label}, vs {peer}", ours_time, ref, "s", ratio, goal if ours_time else None,
                  "; ".join(notes) + (agreement if peer == "sklearn PCA arpack" else ""))
    if memory_goal:
        budget = SPARSE_BUDGET * dense_mb
        if ours:
            growth = Stat([r["growth"] for r in ours])
            table.add(f"peak RSS growth, PPCA fit, {label}", growth, Stat([budget]), "MB",
                      Stat([budget / growth.median, budget / growth.max, budget / growth.min]), 1.0,
                      f"reference = {100 * SPARSE_BUDGET:g}% of the dense size {dense_mb:,.0f} MB; vaekit at "
                      f"{100 * growth.median / dense_mb:.2f}% of dense; CSR itself {fmt_bytes(nnz * 12 + 4 * n)}")
        else:
            table.add(f"peak RSS growth, PPCA fit, {label}", None, Stat([budget]), "MB", None, None,
                      f"{ours_note}; " + "; ".join(memory_text(m) for m in results if m != "vaekit"))


def section_sparse(table, sizes, repeats, guard_gb, work_dir, with_covariance_eigh, low_rank, quick):
    n, D, density = sizes["SPARSE_N"], sizes["SPARSE_D"], sizes["SPARSE_DENSITY"]
    dense_mb = n * D * 8 / MB
    if not have("sklearn"):
        print("    scikit-learn not installed: no reference")
    peers = list(SPARSE_METHODS[1:3] if quick else SPARSE_METHODS[1:4]) if have("sklearn") else []
    if with_covariance_eigh and have("sklearn"):
        peers.append("sklearn PCA covariance_eigh")
    import scipy.sparse as sp

    variants = [("", 0, True)] + ([("low-rank values, ", SPARSE_LOW_RANK, False)] if low_rank else [])
    for prefix, rank, headline in variants:
        started = time.perf_counter()
        X = sparse_matrix(n, D, density, low_rank=rank)
        path = os.path.join(work_dir, f"csr_rank{rank}.npz")
        sp.save_npz(path, X, compressed=False)
        nnz = X.nnz
        label = f"CSR {n:,} x {D:,} at {100 * density:g}% ({prefix}nnz {nnz:,})"
        print(f"    {label}: made and saved in {time.perf_counter() - started:.1f} s; dense size "
              f"{dense_mb:,.0f} MB", flush=True)
        del X
        methods = ["vaekit"] + (peers if headline else [p for p in peers if "arpack" in p])
        results, errors = sparse_rounds(path, methods, repeats if headline else max(1, repeats - 1), guard_gb,
                                        label)
        sparse_rows(table, results, errors, (n, D), nnz, dense_mb, label, path, headline)


# ----------------------------------------------------------------------------- c: zarr

ZARR_METHODS = ("vaekit", "dask-ml tsqr", "dask-ml randomized")


def write_zarr(path, n, D, chunk):
    import dask
    import dask.array as da
    import zarr

    if os.path.exists(path):
        try:
            existing = zarr.open_array(path, mode="r")
            if existing.shape == (n, D) and existing.chunks == (chunk, D):
                print(f"    zarr array {path} already there, reused", flush=True)
                return
        except Exception as error:  # noqa: BLE001 - anything unreadable is rewritten
            print(f"    zarr array {path} unreadable ({short_error(error)}): rewritten", flush=True)
        shutil.rmtree(path)
    started = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        da.to_zarr(low_rank_dask(n, D, chunk), path)
    on_disk = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)
    print(f"    zarr array {n:,} x {D} float64 ({fmt_bytes(n * D * 8)}, {fmt_bytes(on_disk)} on disk) written "
          f"in {time.perf_counter() - started:.1f} s to {path}", flush=True)


# The reading floor: dask's own one-pass reduction of the same array with the
# same scheduler, whose peak memory is what reading the blocks costs
# (zarr's compressed and decoded copies of each block in flight).
ZARR_FLOOR = "dask X.sum(axis=0)"


class _ColumnSums:
    def fit(self, X):
        X.sum(axis=0).compute()
        return self


def zarr_estimator(method, d):
    if method == ZARR_FLOOR:
        return _ColumnSums()
    if method == "vaekit":
        import vaekit

        return vaekit.PPCA(d)
    from dask_ml.decomposition import PCA as DaskPCA

    if method == "dask-ml tsqr":
        return DaskPCA(d, svd_solver="tsqr")
    if method == "dask-ml randomized":
        return DaskPCA(d, svd_solver="randomized", random_state=0)
    raise ValueError(method)


def child_zarr(method, path, guard_gb):
    """--child zarr: one fit of da.from_zarr(path) with the threaded scheduler; prints JSON."""
    import dask
    import dask.array as da

    dask.config.set(scheduler="threads")
    warnings.simplefilter("ignore")
    X = da.from_zarr(path)
    try:  # loads the code paths before the baseline
        zarr_estimator(method, 3).fit(da.from_array(np.random.default_rng(0).standard_normal((400, 20)),
                                                    chunks=(100, 20)))
    except NOT_SUPPORTED as error:
        return dict(error=short_error(error))
    gc.collect()
    set_memory_guard(guard_gb)
    before = resident_mb("VmRSS")
    reset = reset_peak_rss()
    with watch_materialisation() as shapes:
        start = time.perf_counter()
        try:
            zarr_estimator(method, N_COMPONENTS).fit(X)
        except MemoryError as error:
            return dict(error=f"MemoryError under the {guard_gb:g} GB address-space guard ({error})")
        except NOT_SUPPORTED as error:
            return dict(error=short_error(error))
        seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    return dict(seconds=seconds, rss_before=before, peak=peak, growth=peak - before, hwm_reset=reset,
                gathered=tuple(X.shape) in shapes)


def section_zarr(table, sizes, guard_gb, zarr_dir, quick):
    n, D, chunk = sizes["ZARR_N"], sizes["ZARR_D"], sizes["ZARR_CHUNK"]
    path = os.path.join(zarr_dir, f"scale_{n}x{D}_{chunk}.zarr")
    write_zarr(path, n, D, chunk)
    array_mb = n * D * 8 / MB
    block_mb = chunk * D * 8 / MB
    methods = (["vaekit", ZARR_FLOOR]
               + (list(ZARR_METHODS[1:2] if quick else ZARR_METHODS[1:]) if have("dask_ml") else []))
    results, errors = child_rounds(
        "zarr", path, methods, ZARR_REPEATS, guard_gb, "zarr",
        lambda r: f"{r['seconds']:.1f} s, peak RSS +{r['growth']:.0f} MB ({r['growth'] / block_mb:.1f} blocks; "
                  f"array {array_mb:,.0f} MB){' GATHERED' * r['gathered']}")
    label = f"zarr {n:,} x {D} float64 ({fmt_bytes(n * D * 8)}), {chunk:,}-row chunks, threads"
    ours = results.get("vaekit")
    gathered = bool(ours) and any(r["gathered"] for r in ours)
    ours_note = (f"vaekit: not supported yet ({errors['vaekit']})" if "vaekit" in errors else
                 gathered_note([(n, D)] if gathered else [], (n, D)) or "")

    def memory_text(method):
        rs = results.get(method)
        if not rs:
            return f"{method}: {errors.get(method, 'not run')}"
        growth = statistics.median(r["growth"] for r in rs)
        return (f"{method} peak RSS +{growth:.0f} MB = {growth / block_mb:.1f} blocks = "
                f"{100 * growth / array_mb:.0f}% of the array")

    ours_time = Stat([r["seconds"] for r in ours]) if ours else None
    for peer in ZARR_METHODS[1:]:
        if peer not in results:
            continue
        rs = results[peer]
        ref = Stat([r["seconds"] for r in rs]) if rs else None
        ratio = ratio_of_medians_stat(ref, ours_time) if (ref and ours_time) else None
        table.add(f"PPCA closed form, {label}, vs {peer}", ours_time, ref, "s", ratio, None,
                  "; ".join(x for x in (ours_note, memory_text("vaekit") if ours else "", memory_text(peer)) if x))
    budget = ZARR_BUDGET_BLOCKS * block_mb
    if ours:
        growth = Stat([r["growth"] for r in ours])
        table.add(f"peak RSS growth, PPCA fit, {label}", growth, Stat([budget]), "MB",
                  Stat([budget / growth.median, budget / growth.max, budget / growth.min]), None,
                  f"reference = {ZARR_BUDGET_BLOCKS} blocks of {block_mb:.0f} MB; array {array_mb:,.0f} MB = "
                  f"{array_mb / growth.median:.1f}x vaekit's peak growth; {ours_note}".rstrip("; "))
    else:
        table.add(f"peak RSS growth, PPCA fit, {label}", None, Stat([budget]), "MB", None, None,
                  f"{ours_note}; " + "; ".join(memory_text(m) for m in methods if m != "vaekit"))
    floor = results.get(ZARR_FLOOR)
    if ours and floor:
        floor_growth = Stat([r["growth"] for r in floor])
        table.add(f"peak RSS growth, PPCA fit vs {ZARR_FLOOR} (reading the blocks), {label}", growth, floor_growth,
                  "MB", Stat([floor_growth.median / growth.median, floor_growth.min / growth.max,
                              floor_growth.max / growth.min]), None if gathered else ZARR_FLOOR_GOAL,
                  f"{ZARR_FLOOR}: {statistics.median(r['seconds'] for r in floor):.1f} s; the same scheduler "
                  "(threads): what reading the array costs in memory")


# ----------------------------------------------------------------------------- d: VAE

def section_vae(table, clusters, sizes, repeats):
    import dask
    import dask.array as da
    import vaekit

    n, D, chunk, epochs = sizes["VAE_N"], sizes["VAE_D"], sizes["VAE_CHUNK"], sizes["VAE_EPOCHS"]
    client = clusters.client(CLUSTER_WORKERS) if have("distributed") else None
    X_cluster = clusters.persisted(CLUSTER_WORKERS, n, D, chunk, np.float32) if client else None
    with dask.config.set(scheduler="threads"):
        Xn = np.ascontiguousarray(low_rank_dask(n, D, chunk, np.float32).compute())
    X_threads = da.from_array(Xn, chunks=(chunk, D))

    def make():
        return vaekit.VAE(n_components=N_COMPONENTS, max_iter=epochs, random_state=0, tol=0.0)

    def fit_numpy():
        return make().fit(Xn)

    def fit_threads():
        with dask.config.set(scheduler="threads"):
            return make().fit(X_threads)

    def fit_cluster():
        with client.as_current():
            return make().fit(X_cluster)

    methods = {"numpy": fit_numpy, "dask threads": fit_threads}
    if client is not None:
        methods["dask cluster"] = fit_cluster
    notes = {name: [] for name in methods}
    throughputs = {name: [] for name in methods}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vaekit.VAE(n_components=2, hidden_layer_sizes=(8,), max_iter=1).fit(Xn[:256])  # load everything
        for name, fit in list(methods.items()):  # warm-up round and support check
            try:
                with watch_materialisation() as shapes:
                    fit()
            except NOT_SUPPORTED as error:
                if name == "numpy":
                    raise
                notes[name].append(not_supported(error))
                del methods[name]
                continue
            flag = gathered_note(shapes, (n, D))
            if flag:
                notes[name].append(flag)
        for _ in range(repeats):
            for name, fit in methods.items():
                start = time.perf_counter()
                model = fit()
                seconds = time.perf_counter() - start
                throughputs[name].append(n * model.n_iter_ / seconds)
    for name, values in throughputs.items():
        if not values:
            continue
        print(f"    VAE {name}: " + ", ".join(f"{v:,.0f}" for v in values) + " samples/s", flush=True)
    ref = Stat(throughputs["numpy"])
    for name, where in (("dask threads", "da.from_array of an in-memory array, threaded scheduler"),
                        ("dask cluster", f"persisted on {CLUSTER_WORKERS} workers, training in the client")):
        if name not in notes:
            continue
        ours = stat_or_none(throughputs.get(name))
        gathered = any(note.startswith("GATHERED") for note in notes[name])
        table.add(f"VAE fit {n:,} x {D} float32, {chunk:,}-row chunks ({where}) vs numpy", ours, ref, "samples/s",
                  ratio_of_medians_stat(ours, ref) if ours else None, None if gathered or not ours else 0.8,
                  "; ".join([f"VAE(n_components={N_COMPONENTS}, max_iter={epochs}), default (256,) hidden, "
                             f"float32; throughput = n x epochs / fit seconds", *notes[name]]))


# ----------------------------------------------------------------------------- e: EM

def _em_block_statistics(block, mean, W, M_inverse):
    """One block's E-step sums at (W, s2): C^T <Z> (D x d) and A^T A (d x d),
    with C = X - mean and A = C W, <Z> = A M^-1 (as numpy_ppca's E-step)."""
    centred = block - mean
    A = centred @ W
    return centred.T @ (A @ M_inverse), A.T @ A


def _add_pairs(a, b):
    return a[0] + b[0], a[1] + b[1]


def dask_numpy_em(X, d, iterations, seed=0):
    """EM for PPCA on a dask array in dask + numpy: one pass for the mean and the
    sum of squares, then per iteration one map over the blocks and a binary
    tree reduction of the E-step sums (O(D d) per block); the M-step runs in the
    client. Returns the seconds of each iteration and the final (W, s2)."""
    import dask
    from dask import delayed

    n, D = X.shape
    mean = X.mean(axis=0).compute()
    sum_sq = float(((X - mean) ** 2).sum().compute())
    W = np.random.default_rng(seed).standard_normal((D, d)) * np.sqrt(sum_sq / (n * D))
    s2 = sum_sq / (n * D)
    blocks = list(X.to_delayed().ravel())
    statistics_of = delayed(_em_block_statistics, pure=True)
    add = delayed(_add_pairs, pure=True)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        M_inverse = np.linalg.inv(W.T @ W + s2 * np.eye(d))
        parts = [statistics_of(block, mean, W, M_inverse) for block in blocks]
        while len(parts) > 1:
            parts = [add(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                     for i in range(0, len(parts), 2)]
        B, AtA = dask.compute(parts[0])[0]
        sum_zz = M_inverse @ AtA @ M_inverse + n * s2 * M_inverse
        W = np.linalg.solve(sum_zz, B.T).T  # M-step
        s2 = (sum_sq - float(np.sum(W * B))) / (n * D)
        times.append(time.perf_counter() - start)
    return times, W, s2


def em_bytes_per_iteration(fit, transfers, k):
    """The bytes the workers sent in a run with 1 + k iterations minus a run with
    1, over k; and both runs."""
    moved = []
    for iterations in (1, 1 + k):
        transfers.start()
        fit(iterations)
        moved.append(transfers.stop())
    per_iteration = {key: (moved[1][key] - moved[0][key]) / k for key in moved[0]}
    runs = f"runs of 1 and {1 + k} iterations: {fmt_bytes(moved[0]['total'])}, {fmt_bytes(moved[1]['total'])}"
    if per_iteration["total"] < 0:
        # The scheduler moved data blocks between the workers in the shorter
        # run (a balancing decision, not the fit's traffic): the longer run's
        # total over its iterations bounds the traffic per iteration instead.
        bound = {key: moved[1][key] / (1 + k) for key in moved[1]}
        return f"at most {transfers_text(bound)} (blocks moved between workers in the shorter run; {runs})"
    return f"{transfers_text(per_iteration)} ({runs})"


def seconds_per_em_iteration(fit, k):
    """(fit with 1 + k iterations - fit with 1) / k, and the two fit times."""
    start = time.perf_counter()
    fit(1)
    t1 = time.perf_counter() - start
    start = time.perf_counter()
    fit(1 + k)
    t_more = time.perf_counter() - start
    return (t_more - t1) / k, (t1, t_more)


def section_em(table, clusters, sizes, repeats):
    import vaekit

    n, D, chunk, k, d = sizes["EM_N"], sizes["EM_D"], sizes["EM_CHUNK"], sizes["EM_ITERATIONS"], N_COMPONENTS
    worker_counts = (1, 2)
    arrays = {w: clusters.persisted(w, n, D, chunk) for w in worker_counts}
    n_blocks = len(arrays[2].chunks[0])

    def vaekit_fit(X, iterations):
        return vaekit.PPCA(d, method="em", max_iter=iterations, tol=0.0, random_state=0).fit(X)

    ours = {w: [] for w in worker_counts}
    ref = {w: [] for w in worker_counts}
    notes = {w: [] for w in worker_counts}
    fit_times = {w: [] for w in worker_counts}
    supported = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for w in worker_counts:  # warm-up, support check and bytes moved per iteration
            client = clusters.client(w)
            transfers = Transfers(client)

            def moved_per_iteration(fit, transfers=transfers):
                return em_bytes_per_iteration(fit, transfers, k)

            with client.as_current():
                if supported:
                    try:
                        with watch_materialisation() as shapes:
                            text = moved_per_iteration(lambda iterations, X=arrays[w]: vaekit_fit(X, iterations))
                        notes[w].append(f"vaekit per iteration: {text}")
                        flag = gathered_note(shapes, (n, D))
                        if flag:
                            notes[w].insert(0, flag.replace("; goal not checked", ": no per-iteration figure"))
                    except NOT_SUPPORTED as error:
                        notes[w].append(not_supported(error))
                        supported = False
                text = moved_per_iteration(lambda iterations, X=arrays[w]: dask_numpy_em(X, d, iterations))
                notes[w].append(f"dask+numpy per iteration: {text}")
        for _ in range(repeats):
            for w in worker_counts:
                with clusters.client(w).as_current():
                    if supported:
                        per_iteration, both = seconds_per_em_iteration(
                            lambda iterations, X=arrays[w]: vaekit_fit(X, iterations), k)
                        ours[w].append(per_iteration)
                        fit_times[w].append(both)
                    times, _, _ = dask_numpy_em(arrays[w], d, k)
                    ref[w].append(statistics.median(times))
    for w in worker_counts:
        print(f"    EM {w} worker(s): vaekit " + ", ".join(f"{v:.3f}" for v in ours[w]) + " s/it; dask+numpy "
              + ", ".join(f"{v:.3f}" for v in ref[w]) + " s/it", flush=True)
    analytic = n_blocks * (D * d + d * d) * 8
    gathered = any(note.startswith("GATHERED") for w in worker_counts for note in notes[w])
    size = f"dask {n:,} x {D} float64, {n_blocks} chunks, d={d}"
    for w in worker_counts:
        o = stat_or_none(ours[w])
        if gathered and fit_times[w]:
            # Gathering dominates both fits: their difference is noise, not an iteration.
            o = None
            notes[w].append(f"vaekit fits (gathered) of 1 and {1 + k} iterations: " + ", ".join(
                f"{a:.2f} and {b:.2f} s" for a, b in fit_times[w]))
        r = Stat(ref[w])
        table.add(f"PPCA EM iteration, {size}, {w} worker(s), vs dask+numpy EM", o, r, "s",
                  ratio_of_medians_stat(r, o) if o else None, None,
                  "; ".join([*notes[w], f"analytic O(D d) per block: {n_blocks} x (D d + d^2) x 8 B = "
                                        f"{fmt_bytes(analytic)} per iteration"]))
    o1, o2 = (None, None) if gathered else (stat_or_none(ours[1]), stat_or_none(ours[2]))
    r1, r2 = Stat(ref[1]), Stat(ref[2])
    speed_ours = ratio_of_medians_stat(o1, o2) if o1 and o2 else None
    speed_ref = ratio_of_medians_stat(r1, r2)
    table.add(f"EM speed-up 2 workers vs 1, {size}", speed_ours, speed_ref, "x", None, None,
              "time per iteration with 1 worker / with 2 workers (vaekit vs the dask+numpy EM)"
              + ("; vaekit GATHERED the array: not the dask path" if gathered else ""))
    if supported and not gathered:
        section_em_missing(table, clusters, sizes, repeats, vaekit_fit)


def section_em_missing(table, clusters, sizes, repeats, vaekit_fit):
    """EM with EM_MISSING of the entries NaN on the same clusters: seconds per
    iteration with 1 and 2 workers, the speed-up, and the bytes per iteration
    (O(D d^2) per block: the per-feature sums of <z z^T>). No dask peer fits
    PPCA with missing values; the reference is vaekit's in-memory EM on the
    same array gathered into the client."""
    n, D, chunk, k, d = sizes["EM_N"], sizes["EM_D"], sizes["EM_CHUNK"], sizes["EM_ITERATIONS"], N_COMPONENTS
    worker_counts = (1, 2)
    arrays = {w: clusters.persisted(w, n, D, chunk, missing=EM_MISSING) for w in worker_counts}
    n_blocks = len(arrays[2].chunks[0])
    with clusters.client(2).as_current():
        local = arrays[2].compute()
    ours = {w: [] for w in worker_counts}
    notes = {w: [] for w in worker_counts}
    in_memory = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for w in worker_counts:
            with clusters.client(w).as_current():
                text = em_bytes_per_iteration(lambda iterations, X=arrays[w]: vaekit_fit(X, iterations),
                                              Transfers(clusters.client(w)), k)
            notes[w].append(f"vaekit per iteration: {text}")
        for _ in range(repeats):
            for w in worker_counts:
                with clusters.client(w).as_current():
                    ours[w].append(seconds_per_em_iteration(
                        lambda iterations, X=arrays[w]: vaekit_fit(X, iterations), k)[0])
            in_memory.append(seconds_per_em_iteration(lambda iterations: vaekit_fit(local, iterations), k)[0])
    print(f"    EM with {EM_MISSING:.0%} NaN: " + "; ".join(
        f"{w} worker(s) " + ", ".join(f"{v:.3f}" for v in ours[w]) for w in worker_counts)
        + "; numpy in the client " + ", ".join(f"{v:.3f}" for v in in_memory) + " s/it", flush=True)
    packed = d * (d + 1) // 2
    analytic = n_blocks * (D * (packed + 2 * d + 3) + 2) * 8
    size = f"dask {n:,} x {D} float64 with {EM_MISSING:.0%} NaN, {n_blocks} chunks, d={d}"
    reference = Stat(in_memory)
    for w in worker_counts:
        o = Stat(ours[w])
        table.add(f"PPCA EM iteration, {size}, {w} worker(s), vs the same EM on numpy in the client", o, reference,
                  "s", ratio_of_medians_stat(reference, o), None,
                  "; ".join([*notes[w], f"analytic O(D d^2) per block: {n_blocks} x (D (d(d+1)/2 + 2d + 3) + 2) "
                                        f"x 8 B = {fmt_bytes(analytic)} per iteration"]))
    table.add(f"EM speed-up 2 workers vs 1, {size}", ratio_of_medians_stat(Stat(ours[1]), Stat(ours[2])), None, "x",
              None, None, "time per iteration with 1 worker / with 2 workers")


# ----------------------------------------------------------------------------- children

def run_child(arguments, guard_gb):
    command = [sys.executable, os.path.abspath(__file__), "--child", *arguments, "--memory-guard-gb", str(guard_gb)]
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    if output.returncode != 0:
        return dict(error=f"child exited with {output.returncode}: {output.stderr.strip()[-300:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main

def describe_environment():
    import vaekit
    from vaekit._native import core

    lines = [f"python {platform.python_version()}, numpy {np.__version__}, vaekit {vaekit.__version__} "
             f"(core {core.active_isa()}, OpenMP {core.openmp_enabled()}, {core.default_threads()} threads)"]
    versions = []
    for module in ("scipy", "sklearn", "dask", "distributed", "dask_ml", "zarr"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} not installed")
    lines.append(", ".join(versions))
    try:
        from threadpoolctl import threadpool_info

        lines.append("client BLAS/OpenMP: " + ", ".join(f"{p['internal_api']} {p['num_threads']} threads"
                                                        for p in threadpool_info()))
    except ImportError:
        pass
    lines.append(cpu_description())
    return "; ".join(lines)


def parse_sections(text):
    chosen = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            continue
        letter = item if item in SECTIONS else next((k for k, v in SECTIONS.items() if v == item), None)
        if letter is None:
            raise argparse.ArgumentTypeError(f"unknown section {item!r}: use "
                                             + ", ".join(f"{k} ({v})" for k, v in SECTIONS.items()))
        if letter not in chosen:
            chosen.append(letter)
    return sorted(chosen)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=parse_sections, default=sorted(SECTIONS), metavar="a,b,...",
                        help="sections to run, letters or names: "
                             + ", ".join(f"{k} {v}" for k, v in SECTIONS.items()) + " (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats: a smoke run (< 1 min)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per section (default 3; 1 quick)")
    parser.add_argument("--zarr-dir", default=None,
                        help="where the zarr array is written and kept (default: a temporary directory, removed)")
    parser.add_argument("--memory-guard-gb", type=float, default=None,
                        help="address-space cap of the memory subprocesses, so that densifying fails with "
                             "MemoryError (default 60%% of RAM; 0: none)")
    parser.add_argument("--covariance-eigh", action="store_true",
                        help="section b: also sklearn PCA(svd_solver='covariance_eigh') (dense D x D covariance; slow)")
    parser.add_argument("--no-low-rank", action="store_true",
                        help="section b: skip the low-rank-values matrix (skipped with --quick too)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    guard_gb = default_memory_guard_gb() if args.memory_guard_gb is None else args.memory_guard_gb
    if args.child:
        kind, method, path = args.child
        result = (child_sparse if kind == "sparse" else child_zarr)(method, path, guard_gb)
        print(json.dumps(result))
        return

    sizes = {name: value for name, value in globals().items() if name.isupper()}
    if args.quick:
        sizes.update(QUICK)
    repeats = args.repeats or (1 if args.quick else 3)
    print(describe_environment())
    print("ratio: above 1 means vaekit is better (reference time / vaekit time, vaekit throughput / reference "
          "throughput, or budget / vaekit's peak memory); goal: issue 14's goal in that orientation")
    print(f"sections: {', '.join(f'{s} {SECTIONS[s]}' for s in args.only)}; {repeats} timed round(s); "
          f"memory guard of the subprocesses {guard_gb:g} GB", flush=True)
    table = Table()
    timings = {}
    clusters = Clusters()
    work_dir = tempfile.mkdtemp(prefix="vaekit-scale-")
    zarr_dir = args.zarr_dir or work_dir
    try:
        for section in args.only:
            name = SECTIONS[section]
            started = time.perf_counter()
            print(f"== {section} {name}", flush=True)
            needs = {"a": ("dask", "distributed"), "c": ("dask", "zarr"), "d": ("dask",),
                     "e": ("dask", "distributed")}.get(section, ())
            missing = [m for m in needs if not have(m)]
            if missing:
                print(f"    skipped: {', '.join(missing)} not installed", flush=True)
                continue
            if section == "a":
                section_cluster(table, clusters, sizes, repeats)
            elif section == "b":
                section_sparse(table, sizes, repeats, guard_gb, work_dir, args.covariance_eigh,
                               not (args.no_low_rank or args.quick), args.quick)
            elif section == "c":
                section_zarr(table, sizes, guard_gb, zarr_dir, args.quick)
            elif section == "d":
                section_vae(table, clusters, sizes, repeats)
            elif section == "e":
                section_em(table, clusters, sizes, repeats)
            timings[name] = time.perf_counter() - started
            # The machine may be shared: a load above the 2 cores we use means the timings were disturbed.
            print("    load average after this section (1, 5, 15 min): "
                  + ", ".join(f"{v:.2f}" for v in os.getloadavg()), flush=True)
    finally:
        clusters.close()
        shutil.rmtree(work_dir, ignore_errors=True)
    print("\nsection times: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
          + f"; total {sum(timings.values()):.0f} s")
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {describe_environment()}\n")
    table.print_markdown()


if __name__ == "__main__":
    main()
