"""Concurrency: eight Python threads calling one fitted model get exactly the
results of sequential calls (the bindings release the GIL, so the C++ calls
really overlap, and the models' const methods share no scratch buffers), and
fits in two threads at once give the models fitted one after the other; a
long C++ call lets other Python threads run."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import _data
import numpy as np
import pytest
from _reference import assert_same

from vaekit import PPCA, VAE, Autoencoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_THREADS = 8


# This module's data: 400 samples near a 3-dimensional subspace of 12 dimensions.
low_rank_data = partial(_data.low_rank_data, n=400, n_features=12, rank=3, noise=0.3, latent_first=True)


@pytest.fixture(scope="module")
def models():
    X = low_rank_data()
    X_missing = X.copy()
    X_missing[np.random.default_rng(1).uniform(size=X.shape) < 0.1] = np.nan
    neural = dict(hidden_layer_sizes=(32,), max_iter=3, random_state=0)
    return {
        "PPCA": (PPCA(3).fit(X), X),
        "PPCA-em": (PPCA(3, method="em", max_iter=50, random_state=0).fit(X_missing), X_missing),
        "VAE": (VAE(3, decoder_variance="diagonal", **neural).fit(X), X.astype(np.float32)),
        "Autoencoder": (Autoencoder(3, dtype=np.float64, **neural).fit(X), X),
    }


def public_calls(name):
    """(label, call(model, X, i)) for every inference method; i varies rows and seeds between threads."""
    rows = lambda X, i: X[25 * i:25 * i + 200]  # noqa: E731  overlapping row ranges
    calls = [
        ("transform", lambda m, X, i: m.transform(rows(X, i))),
        ("score_samples", lambda m, X, i: m.score_samples(rows(X, i))),
        ("score", lambda m, X, i: m.score(rows(X, i))),
        ("inverse_transform", lambda m, X, i: m.inverse_transform(m.transform(rows(X, i)) + i)),
    ]
    if name.startswith("PPCA"):
        calls += [("sample", lambda m, X, i: m.sample(100, random_state=i)),
                  ("get_precision", lambda m, X, i: m.get_precision())]
    if name == "VAE":
        calls += [("encode", lambda m, X, i: m.encode(rows(X, i))),
                  ("sample", lambda m, X, i: m.sample(100, random_state=i, noise=True)),
                  ("score_samples_mc", lambda m, X, i: m.score_samples(rows(X, i), n_mc_samples=5)),
                  ("log_likelihood", lambda m, X, i: m.log_likelihood(rows(X, i), n_samples=64, random_state=i))]
    return calls


def run_concurrently(work, n_threads=N_THREADS):
    """work(i) in n_threads threads released together; returns the results in thread order."""
    barrier = threading.Barrier(n_threads)

    def start(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(start, range(n_threads)))


@pytest.mark.parametrize("name", ["PPCA", "PPCA-em", "VAE", "Autoencoder"])
def test_eight_threads_on_one_estimator_give_the_sequential_results(models, name):
    model, X = models[name]
    calls = public_calls(name)
    expected = {(label, i): call(model, X, i) for label, call in calls for i in range(N_THREADS)}

    def work(i):
        # Each thread runs every method three times, in its own rotated order,
        # so that different methods overlap.
        results = []
        for repeat in range(3):
            for k in range(len(calls)):
                label, call = calls[(k + i + repeat) % len(calls)]
                results.append((label, call(model, X, i)))
        return results

    for i, results in enumerate(run_concurrently(work)):
        for label, result in results:
            assert_same(result, expected[(label, i)])


def native_calls(name, native, X):
    """The C++ model's const methods, called directly on one shared object."""
    if name.startswith("PPCA"):
        return [lambda i: native.transform(X[i:], 2), lambda i: native.score_samples(X[i:], 2),
                lambda i: native.sample(50, i, 2), lambda i: native.inverse_transform(np.full((20, 3), i, X.dtype)),
                lambda i: native.precision()]
    calls = [lambda i: native.transform(X[i:], 2), lambda i: native.inverse_transform(np.full((20, 3), i, X.dtype), 2)]
    if name == "VAE":
        calls += [lambda i: native.score_samples(X[i:], 3, i, 2), lambda i: native.encode(X[i:], 2),
                  lambda i: native.sample(50, i, True, 2),
                  lambda i: native.log_likelihood(X[i:], 40, i, "importance", 2),
                  lambda i: native.log_likelihood(X[i:], 40, i, "prior", 2)]
    else:
        calls += [lambda i: native.score_samples(X[i:], 2)]
    return calls


@pytest.mark.parametrize("name", ["PPCA", "PPCA-em", "VAE", "Autoencoder"])
def test_one_cpp_model_shared_by_eight_threads(models, name):
    # The estimators rebuild the C++ model per call; a cached model shared by
    # threads must be just as safe: call the const methods of one object.
    model, X = models[name]
    X = np.ascontiguousarray(X, dtype=np.float32 if name == "VAE" else np.float64)
    native = model._model(X.dtype) if name.startswith("PPCA") else model._native_model()
    calls = native_calls(name, native, X)
    expected = [[call(i) for call in calls] for i in range(N_THREADS)]
    results = run_concurrently(lambda i: [[call(i) for call in calls] for _ in range(3)])
    for i in range(N_THREADS):
        for repeat in results[i]:
            for result, reference in zip(repeat, expected[i]):
                assert_same(result, reference)


# ------------------------------------------------------------ the GIL
def longest_pause_of_this_thread_while(work):
    """Runs work() in another thread and returns (longest gap between two
    iterations of a Python loop in this thread meanwhile, duration of work)."""
    done = threading.Event()
    duration = []

    def run():
        start = time.perf_counter()
        work()
        duration.append(time.perf_counter() - start)
        done.set()

    worker = threading.Thread(target=run)
    last, longest = time.perf_counter(), 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    return longest, duration[0]


GIL_CASES = [
    ("PPCA", "fit"), ("PPCA", "transform"), ("PPCA", "sample"), ("PPCA-em", "fit"), ("PPCA-em", "transform"),
    ("VAE", "fit"), ("VAE", "transform"), ("VAE", "encode"), ("VAE", "score_samples"), ("VAE", "log_likelihood"),
    ("VAE", "sample"), ("VAE", "inverse_transform"), ("Autoencoder", "fit"), ("Autoencoder", "score_samples"),
]


def long_call(name, method, size):
    """A call of `method` whose C++ part grows with `size` (single-threaded for the neural models)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((size, 32))
    if name == "PPCA-em":
        X[rng.uniform(size=X.shape) < 0.1] = np.nan
    if name.startswith("PPCA"):
        model = PPCA(8, method="em" if name == "PPCA-em" else "closed_form", max_iter=5, tol=0.0, random_state=0)
    else:
        cls = VAE if name == "VAE" else Autoencoder
        model = cls(4, hidden_layer_sizes=(64,), max_iter=1, n_threads=1, random_state=0)
        X = X.astype(np.float32)
    if method == "fit":
        return lambda: model.fit(X)
    model.fit(X[:200])
    if method == "sample":
        return lambda: model.sample(size)
    if method == "inverse_transform":
        Z = rng.normal(size=(size, 4)).astype(np.float32)
        return lambda: model.inverse_transform(Z)
    if method == "log_likelihood":
        return lambda: model.log_likelihood(X[:size // 100], n_samples=100)
    return lambda: getattr(model, method)(X)


@pytest.mark.parametrize("name, method", GIL_CASES)
def test_the_gil_is_released_during_the_cpp_call(name, method):
    # Size the input for a call of about 0.2 s: while it runs in another thread,
    # this thread's Python loop must keep going (a held GIL would stop it for
    # the whole C++ call).
    size = 8000
    for _ in range(4):
        call = long_call(name, method, size)
        start = time.perf_counter()
        call()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.15 or size >= 2**19:
            break
        size = min(int(size * 0.25 / max(elapsed, 1e-3)), 2**19)
    pause, duration = longest_pause_of_this_thread_while(call)
    assert pause < 0.5 * duration, f"this thread stood still {pause:.3f} s of a {duration:.3f} s call"


# -------------------------------------------------------------- fitting
FIT_PAIRS = {
    "VAE+VAE": [lambda: VAE(3, hidden_layer_sizes=(64,), max_iter=15, n_threads=2, random_state=0),
                lambda: VAE(3, hidden_layer_sizes=(32, 16), decoder_variance="network", max_iter=15, n_threads=2,
                            random_state=1)],
    "VAE+PPCA-em": [lambda: VAE(3, hidden_layer_sizes=(64,), max_iter=15, n_threads=2, random_state=0),
                    lambda: PPCA(3, method="em", max_iter=200, tol=0.0, random_state=0)],
    "Autoencoder+PPCA": [lambda: Autoencoder(3, hidden_layer_sizes=(64,), max_iter=15, n_threads=2, random_state=0),
                         lambda: PPCA(3)],
}
FITTED = ("components_", "mean_", "noise_variance_", "log_likelihood_curve_", "encoder_coefs_",
          "encoder_intercepts_", "decoder_coefs_", "decoder_intercepts_", "loss_curve_")


@pytest.mark.parametrize("pair", list(FIT_PAIRS))
def test_two_fits_in_two_threads_give_the_sequential_models(pair):
    factories = FIT_PAIRS[pair]
    datasets = [low_rank_data(n=4000, n_features=20, seed=seed) for seed in range(2)]
    sequential = [make().fit(X) for make, X in zip(factories, datasets)]
    concurrent = run_concurrently(lambda i: factories[i]().fit(datasets[i]), n_threads=2)
    for one, other in zip(sequential, concurrent):
        for attribute in FITTED:
            if hasattr(one, attribute):
                a, b = getattr(one, attribute), getattr(other, attribute)
                for part_a, part_b in zip(a, b) if isinstance(a, list) else [(a, b)]:
                    assert np.array_equal(part_a, part_b), attribute
