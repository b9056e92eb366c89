"""PPCA speed against scikit-learn and numpy, side by side in one run.

Times, on synthetic low-rank data:
- the closed-form fit against scikit-learn's PCA with every svd_solver and
  against FactorAnalysis (per iteration: FA is iterative);
- one EM iteration against the same iteration in numpy (bench/numpy_ppca.py);
- score_samples against PCA.score.
Prints medians of several runs and ratios (vaekit time / reference time:
below 1 means vaekit is faster).

    python bench/bench_ppca.py            # the issue's sizes
    python bench/bench_ppca.py --quick    # small sizes, a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from numpy_ppca import numpy_em_estep_complete, numpy_em_iteration_complete, starting_point
from sklearn.decomposition import PCA, FactorAnalysis

from vaekit import PPCA
from vaekit._native import core


def median_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_data(n, D, rank=50, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.linspace(5.0, 0.5, rank)
    X = (rng.standard_normal((n, rank)) * scales) @ rng.standard_normal((rank, D)) / np.sqrt(rank)
    X += 0.5 * rng.standard_normal((n, D)) + 3.0
    return np.ascontiguousarray(X, dtype=dtype)


def row(label, seconds, reference=None):
    ratio = "" if reference is None else f"{seconds / reference:8.3f}"
    print(f"  {label:<44} {seconds * 1e3:10.1f} ms {ratio}")


def bench_case(n, D, d, dtype, repeats, fa_iterations):
    X = make_data(n, D, dtype=dtype)
    print(f"\n{n} x {D}, d = {d}, {np.dtype(dtype).name}  (ratio = vaekit / reference)")

    vaekit_fit = median_time(lambda: PPCA(d).fit(X), repeats)
    solvers = {}
    for solver in ("covariance_eigh", "full", "randomized", "arpack"):
        if solver == "full" and n * D > 10_000_000:
            reps = 1
        else:
            reps = repeats
        solvers[solver] = median_time(lambda: PCA(d, svd_solver=solver, random_state=0).fit(X), reps)
    fastest_name = min(solvers, key=solvers.get)
    row("vaekit PPCA closed form", vaekit_fit)
    for solver, seconds in solvers.items():
        row(f"sklearn PCA svd_solver={solver!r}", seconds)
    row(f"ratio vs the fastest ({fastest_name})", vaekit_fit, solvers[fastest_name])

    # EM: the time of k + 10 iterations minus k iterations, per iteration.
    def em(iterations):
        return PPCA(d, method="em", max_iter=iterations, tol=0.0, random_state=0).fit(X)

    em_per_iteration = (median_time(lambda: em(11), repeats) - median_time(lambda: em(1), repeats)) / 10
    mean, sum_sq, W0, s20 = starting_point(X, d)
    first_estep = numpy_em_estep_complete(X, mean, sum_sq, W0, s20)
    numpy_iteration = median_time(lambda: numpy_em_iteration_complete(X, mean, sum_sq, first_estep), max(repeats, 3))
    row("vaekit PPCA EM, one iteration", em_per_iteration)
    row("numpy EM, one iteration (the same steps)", numpy_iteration)
    row("ratio vaekit / numpy", em_per_iteration, numpy_iteration)

    # Missing values: 10% of the entries removed.
    rng = np.random.default_rng(1)
    X_missing = X.copy()
    X_missing[rng.random(X.shape) < 0.1] = np.nan

    def em_missing(iterations):
        return PPCA(d, method="em", max_iter=iterations, tol=0.0, random_state=0).fit(X_missing)

    em_missing_iteration = (median_time(lambda: em_missing(3), 1) - median_time(lambda: em_missing(1), 1)) / 2
    row("vaekit PPCA EM, 10% missing, one iteration", em_missing_iteration)

    fa_time = median_time(lambda: FactorAnalysis(d, max_iter=fa_iterations, tol=0.0, random_state=0).fit(X), 1)
    row(f"sklearn FactorAnalysis, per iteration ({fa_iterations} it.)", fa_time / fa_iterations)
    row("ratio vaekit EM iteration / FA iteration", em_per_iteration, fa_time / fa_iterations)

    model = PPCA(d).fit(X)
    pca = PCA(d, svd_solver="covariance_eigh").fit(X)
    vaekit_score = median_time(lambda: model.score_samples(X), repeats)
    sklearn_score = median_time(lambda: pca.score(X), repeats)
    row("vaekit PPCA score_samples", vaekit_score)
    row("sklearn PCA.score", sklearn_score)
    row("ratio vaekit / sklearn", vaekit_score, sklearn_score)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"vaekit core: {core.active_isa()}, OpenMP {core.openmp_enabled()}, threads {core.default_threads()}")
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info["user_api"] == "blas":
                print(f"numpy BLAS: {info['internal_api']} {info.get('architecture')} threads {info['num_threads']}")
                break
    except ImportError:
        pass
    if args.quick:
        cases = [(5_000, 200, 10, np.float64), (1_000, 500, 10, np.float32)]
        fa_iterations = 3
    else:
        cases = [(60_000, 784, 20, np.float64), (60_000, 784, 20, np.float32), (10_000, 3_000, 20, np.float64)]
        fa_iterations = 5
    for n, D, d, dtype in cases:
        bench_case(n, D, d, dtype, args.repeats, fa_iterations)


if __name__ == "__main__":
    main()
