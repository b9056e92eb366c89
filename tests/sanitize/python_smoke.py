"""Smoke run of the whole public Python API, for a vaekit built with
VAEKIT_SANITIZE=ON (AddressSanitizer + UndefinedBehaviorSanitizer) and run
with the sanitizer runtimes preloaded into the interpreter (.ci/run, step
"Python smoke run under ASan + UBSan").

Every estimator goes through fit, every inference method, a save/load round
trip and some bad input, on small data in float32 and float64, plus a few
threads calling one model at once. The sanitizers catch memory errors and
undefined behaviour in the bindings and the core on the way (and abort the
process); the assertions here check that the results are sane. Not a pytest
module (tests/python holds the test suite): run it as a script,

    python tests/sanitize/python_smoke.py [--expect-sanitized]

``--expect-sanitized`` first checks that the extension module in use really
is instrumented, so that a build without the sanitizers cannot pass unseen.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import pathlib
import sys
import tempfile
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import vaekit
from vaekit import PPCA, VAE, Autoencoder, Imputer

N_FEATURES = 8
DTYPES = (np.float32, np.float64)
# Small networks and few epochs: under ASan every memory access is checked.
NEURAL = dict(hidden_layer_sizes=(16,), max_iter=3, batch_size=32, random_state=0)


def data(n=150, seed=0):
    """Rank-3 data plus noise."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) @ rng.normal(size=(3, N_FEATURES)) + 0.3 * rng.normal(size=(n, N_FEATURES))


def unit_interval_data(n=150, seed=0):
    """For the Bernoulli likelihood and the cross-entropy loss."""
    return 1.0 / (1.0 + np.exp(-data(n, seed)))


def check_array(array, shape, dtype):
    assert array.shape == shape, f"shape {array.shape}, expected {shape}"
    assert array.dtype == dtype, f"dtype {array.dtype}, expected {np.dtype(dtype)}"
    assert np.isfinite(array).all(), "non-finite values"


def check_round_trip(model, X, directory):
    """save, then vaekit.load: the loaded model gives exactly the same results."""
    path = pathlib.Path(directory) / f"{type(model).__name__}-{id(model)}.safetensors"
    model.save(path)
    loaded = vaekit.load(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    Z = model.transform(X)
    np.testing.assert_array_equal(loaded.inverse_transform(Z), model.inverse_transform(Z))
    return path


def check_neural_inference(model, X, dtype, n_components):
    n = X.shape[0]
    Z = model.transform(X)
    check_array(Z, (n, n_components), dtype)
    check_array(model.inverse_transform(Z), (n, N_FEATURES), dtype)
    check_array(model.fit_transform(X), (n, n_components), dtype)
    scores = model.score_samples(X)
    assert scores.shape == (n,) and np.isfinite(scores).all()
    assert np.isfinite(model.score(X))
    model.partial_fit(X)
    check_array(model.transform(X), (n, n_components), dtype)


# ------------------------------------------------------------------ checks
def ppca_closed_form(directory):
    for dtype in DTYPES:
        X = data().astype(dtype)
        model = PPCA(n_components=3).fit(X)
        Z = model.transform(X)
        check_array(Z, (len(X), 3), dtype)
        check_array(model.inverse_transform(Z), X.shape, dtype)
        check_array(model.score_samples(X), (len(X),), dtype)
        check_array(model.sample(20, random_state=0), (20, N_FEATURES), dtype)
        check_array(model.get_covariance(), (N_FEATURES, N_FEATURES), dtype)
        check_array(model.get_precision(), (N_FEATURES, N_FEATURES), dtype)
        assert model.noise_variance_ > 0
        check_round_trip(model, X, directory)
        # A Fortran-ordered and a strided view go through the conversions too.
        np.testing.assert_allclose(model.transform(np.asfortranarray(X)), Z, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.transform(X[::2]), Z[::2], rtol=1e-5, atol=1e-6)


def ppca_em_missing_values(directory):
    for dtype in DTYPES:
        X = data().astype(dtype)
        X[np.random.default_rng(1).uniform(size=X.shape) < 0.15] = np.nan
        X[5] = np.nan  # a row with nothing observed
        log = io.StringIO()
        with contextlib.redirect_stdout(log):  # verbose: the progress callback, GIL taken from C++
            model = PPCA(n_components=2, method="em", max_iter=40, random_state=0, verbose=1).fit(X)
        assert log.getvalue(), "verbose EM printed nothing"
        assert np.all(np.diff(model.log_likelihood_curve_) >= -1e-3 * abs(model.log_likelihood_curve_[-1]))
        Z = model.transform(X)
        check_array(Z, (len(X), 2), dtype)
        np.testing.assert_array_equal(Z[5], 0)  # the prior mean
        check_array(model.inverse_transform(Z), X.shape, dtype)
        scores = model.score_samples(X)
        assert scores.shape == (len(X),) and np.isfinite(scores).all()
        check_array(model.sample(10, random_state=1), (10, N_FEATURES), dtype)
        check_round_trip(model, X, directory)


def vae(directory):
    X_unit = unit_interval_data()
    variants = [dict(decoder_variance="fixed"), dict(decoder_variance="scalar", activation="tanh"),
                dict(decoder_variance="diagonal", n_mc_samples=2), dict(decoder_variance="network"),
                dict(likelihood="bernoulli", activation="sigmoid")]
    for dtype in DTYPES:
        for variant in variants:
            X = (X_unit if variant.get("likelihood") == "bernoulli" else data()).astype(dtype)
            model = VAE(n_components=2, dtype=dtype, **NEURAL, **variant).fit(X)
            check_neural_inference(model, X, dtype, 2)
            mean, std = model.encode(X)
            check_array(mean, (len(X), 2), dtype)
            assert (std > 0).all()
            check_array(model.sample(15, random_state=0), (15, N_FEATURES), dtype)
            check_array(model.sample(15, random_state=0, noise=True), (15, N_FEATURES), dtype)
            assert np.isfinite(model.score_samples(X, n_mc_samples=3)).all()
            assert np.isfinite(model.log_likelihood(X[:20], n_samples=16, random_state=0)).all()
            assert model.kl_per_dimension(X).shape == (2,)
            model.active_units(X)
            check_round_trip(model, X, directory)
    # Early stopping: the validation split and the restore of the best epoch.
    model = VAE(n_components=2, early_stopping=True, n_iter_no_change=2,
                **{**NEURAL, "max_iter": 6}).fit(data())
    assert model.n_iter_ >= 1


def missing_values(directory):
    """MIWAE: VAEs trained and evaluated on incomplete data, imputation, the Imputer."""
    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        for variant in (dict(), dict(objective="iwae", n_mc_samples=3, decoder_variance="diagonal"),
                        dict(likelihood="bernoulli", objective="iwae", n_mc_samples=2)):
            X = (unit_interval_data() if variant.get("likelihood") else data()).astype(dtype)
            X[rng.random(X.shape) < 0.3] = np.nan
            X[5] = np.nan  # nothing observed
            model = VAE(n_components=2, dtype=dtype, **NEURAL, **variant).fit(X)
            check_array(model.transform(X), (len(X), 2), dtype)
            assert np.isfinite(model.score_samples(X)).all() and model.score_samples(X[5:6])[0] == 0
            assert np.isfinite(model.log_likelihood(X[:20], n_samples=8, random_state=0)).all()
            for sample in (False, True):
                check_array(model.impute(X, n_samples=20, sample_posterior=sample, random_state=0), X.shape, dtype)
            check_round_trip(model, X, directory)
    X = data()
    X[rng.random(X.shape) < 0.3] = np.nan
    ppca = PPCA(n_components=2, method="em").fit(X)
    check_array(ppca.impute(X), X.shape, np.float64)
    check_array(ppca.impute(X, sample_posterior=True, random_state=0), X.shape, np.float64)
    check_array(Imputer(VAE(n_components=2, **NEURAL), n_samples=10).fit_transform(X), X.shape, np.float64)


def autoencoder(directory):
    for dtype in DTYPES:
        for loss, X in (("mse", data()), ("bce", unit_interval_data())):
            X = X.astype(dtype)
            model = Autoencoder(n_components=3, loss=loss, dtype=dtype, activation="softplus", **NEURAL).fit(X)
            check_neural_inference(model, X, dtype, 3)
            check_round_trip(model, X, directory)
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        Autoencoder(n_components=2, verbose=1, **NEURAL).fit(data())
    assert log.getvalue(), "verbose training printed nothing"


def truncated_and_corrupted_files(directory):
    X = data()
    for model in (PPCA(n_components=2).fit(X), VAE(n_components=2, **NEURAL).fit(X)):
        raw = check_round_trip(model, X, directory).read_bytes()
        cut = pathlib.Path(directory) / "cut.safetensors"
        for length in sorted({0, 1, 7, 8, 9, 64, len(raw) // 2, len(raw) - 9, len(raw) - 1}):
            cut.write_bytes(raw[:length])
            try:
                vaekit.load(cut)
            except ValueError:
                continue
            raise AssertionError(f"{type(model).__name__} file cut to {length} of {len(raw)} bytes loaded")
        # Flipped bytes: a model or a ValueError, nothing else.
        for position in range(0, len(raw), max(1, len(raw) // 40)):
            flipped = bytearray(raw)
            flipped[position] ^= 0x5A
            cut.write_bytes(bytes(flipped))
            try:
                vaekit.load(cut)
            except ValueError:
                pass


def expect_error(error_types, call, what):
    try:
        call()
    except error_types:
        return
    raise AssertionError(f"{what}: no {error_types}")


def bad_inputs(directory):
    X = data()
    ppca = PPCA(n_components=2).fit(X)
    vae_model = VAE(n_components=2, **NEURAL).fit(X)
    autoencoder_model = Autoencoder(n_components=2, **NEURAL).fit(X)
    with_nan = X.copy()
    with_nan[3, 2] = np.nan
    with_inf = X.copy()
    with_inf[0, 0] = np.inf
    cases = [
        (ValueError, lambda: PPCA(n_components=20).fit(X), "more components than features"),
        (ValueError, lambda: PPCA(n_components=2).fit(with_nan), "NaN with the closed form"),
        (ValueError, lambda: PPCA(n_components=2, method="em").fit(np.full((10, 3), np.nan)), "all missing"),
        (ValueError, lambda: PPCA(n_components=2).fit(np.empty((0, 4))), "no samples"),
        (ValueError, lambda: VAE(n_components=2, **NEURAL).fit(with_inf), "infinite value"),
        (ValueError, lambda: VAE(likelihood="bernoulli", **NEURAL).fit(X), "Bernoulli outside [0, 1]"),
        (ValueError, lambda: Autoencoder(loss="bce", **NEURAL).fit(X), "cross-entropy outside [0, 1]"),
        (ValueError, lambda: VAE(hidden_layer_sizes=(0,)).fit(X), "a layer of size 0"),
        ((ValueError, TypeError), lambda: VAE(dtype=np.int32).fit(X), "an integer dtype"),
        ((ValueError, TypeError), lambda: PPCA().fit([["a", "b"], ["c", "d"]]), "strings"),
        ((ValueError, TypeError), lambda: PPCA().fit(X.astype(np.complex128)), "complex values"),
        (OSError, lambda: vaekit.load(pathlib.Path(directory) / "missing.safetensors"), "a missing file"),
    ]
    for model in (ppca, vae_model, autoencoder_model):
        cases += [
            (ValueError, lambda m=model: m.transform(X[:, :5]), "too few features"),
            (ValueError, lambda m=model: m.transform(np.ones((3, N_FEATURES + 2))), "too many features"),
            (ValueError, lambda m=model: m.inverse_transform(np.ones((3, 5))), "a latent code of width 5"),
            (ValueError, lambda m=model: m.score_samples(with_inf), "infinite value in score_samples"),
        ]
    for error_types, call, what in cases:
        expect_error(error_types, call, what)


def concurrent_transform(directory):
    X = data(400)
    models = [PPCA(n_components=3).fit(X),
              PPCA(n_components=3, method="em", max_iter=20, random_state=0).fit(X),
              VAE(n_components=3, dtype=np.float64, **NEURAL).fit(X),
              Autoencoder(n_components=3, **NEURAL).fit(X)]
    chunks = [X[50 * i:50 * i + 200] for i in range(4)]
    for model in models:
        expected = [model.transform(chunk) for chunk in chunks]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(model.transform, chunks * 3))
            scores = list(pool.map(model.score_samples, chunks * 2))
        for i, result in enumerate(results):
            np.testing.assert_array_equal(result, expected[i % len(chunks)])
        for i, result in enumerate(scores):
            np.testing.assert_array_equal(result, model.score_samples(chunks[i % len(chunks)]))


CHECKS = [ppca_closed_form, ppca_em_missing_values, vae, missing_values, autoencoder, truncated_and_corrupted_files,
          bad_inputs, concurrent_transform]


def check_sanitized(core):
    """The module imports the sanitizers' report functions only when it was
    compiled with them: a plain build would run this script unchecked."""
    binary = pathlib.Path(core.__file__).read_bytes()
    for marker in (b"__asan_report_", b"__ubsan_handle_"):
        if marker not in binary:
            raise SystemExit(f"{core.__file__} is not instrumented ({marker.decode()}* missing): "
                             "build it with -DVAEKIT_SANITIZE=ON")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expect-sanitized", action="store_true",
                        help="fail unless the extension module was built with the sanitizers")
    args = parser.parse_args()
    from vaekit._native import core

    print(f"vaekit {vaekit.__version__} from {vaekit.__file__}, module {core.active_isa()} ({core.__file__})")
    if args.expect_sanitized:
        check_sanitized(core)
    # Three epochs do not converge; numpy warnings about overflow are not ours to judge here.
    warnings.simplefilter("ignore")
    failed = 0
    with tempfile.TemporaryDirectory() as directory:
        for check in CHECKS:
            start = time.perf_counter()
            try:
                check(directory)
            except Exception:  # report every failing check, not only the first
                failed += 1
                print(f"FAILED {check.__name__}")
                traceback.print_exc()
                continue
            print(f"passed {check.__name__} ({time.perf_counter() - start:.1f} s)")
    print(f"smoke: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
