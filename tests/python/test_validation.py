"""Bad input gets a ValueError or TypeError that names the parameter or the
problem, raised before any heavy work, from every estimator and every public
method; the C++ boundary checks too; memory layout never changes a result; and
a hypothesis fuzz of shapes, dtypes and values finds nothing else: every
input gives either a finite result of the expected shape or a ValueError or
TypeError with a message."""

import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import assert_same
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.utils.estimator_checks import check_param_validation

import vaekit._validation
from vaekit import PPCA, VAE, Autoencoder
from vaekit._native import core

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # scikit-learn's check_array warns as it meets values beyond float32 (then raises).
    pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered in reduce:RuntimeWarning"),
]

N_FEATURES, N_COMPONENTS = 5, 2
ESTIMATORS = ["PPCA", "PPCA-em", "VAE", "Autoencoder"]
NEURAL = ["VAE", "Autoencoder"]
# Public methods of each estimator, by what they take.
METHODS = {
    "PPCA": ["fit", "transform", "score", "score_samples", "inverse_transform", "sample"],
    "PPCA-em": ["fit", "transform", "score", "score_samples", "inverse_transform", "sample"],
    "VAE": ["fit", "partial_fit", "transform", "encode", "score", "score_samples", "log_likelihood",
            "inverse_transform", "sample"],
    "Autoencoder": ["fit", "partial_fit", "transform", "score", "score_samples", "inverse_transform"],
}
FIT_METHODS = ("fit", "partial_fit")


def make_estimator(name, **params):
    if name.startswith("PPCA"):
        method = "em" if name == "PPCA-em" else "closed_form"
        estimator = PPCA(N_COMPONENTS, method=method, max_iter=30, random_state=0)
    else:
        cls = VAE if name == "VAE" else Autoencoder
        estimator = cls(N_COMPONENTS, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    return estimator.set_params(**params)


def training_data(n=40, seed=0):
    # In [0, 1]: valid for every likelihood and loss.
    return np.random.default_rng(seed).uniform(size=(n, N_FEATURES))


_FITTED = {}


def fitted(name):
    """One fitted model per estimator, shared (read-only) by the tests."""
    if name not in _FITTED:
        _FITTED[name] = make_estimator(name).fit(training_data())
    return _FITTED[name]


def call(name, method, data):
    """Runs `method` on `data`: fit methods on a fresh estimator, the others on the fitted one."""
    if method in FIT_METHODS:
        return getattr(make_estimator(name), method)(data)
    estimator = fitted(name)
    if method == "log_likelihood":
        return estimator.log_likelihood(data, n_samples=3, random_state=0)
    if method == "sample":
        return estimator.sample(data, random_state=0)
    return getattr(estimator, method)(data)


def input_width(method):
    return N_COMPONENTS if method == "inverse_transform" else N_FEATURES


def nan_is_missing(name, method):
    """NaN marks a missing value for PPCA's EM, in fit and in the per-sample methods, and for the
    VAE (MIWAE) in every method that takes X."""
    ppca_em = name == "PPCA-em" and method in ("fit", "transform", "score", "score_samples")
    return ppca_em or (name == "VAE" and method != "inverse_transform")


# ----------------------------------------------------------------- bad input
def bad_inputs(width):
    """name -> (input, expected exception types, regex the message must match)."""
    rng = np.random.default_rng(1)
    good = rng.uniform(size=(6, width))

    def with_value(value):
        X = good.copy()
        X[2, 1] = value
        return X

    objects = good.astype(object)
    objects[0, 0] = None
    return {
        "no_samples": (np.empty((0, width)), ValueError, "0 sample"),
        "no_features": (np.empty((6, 0)), ValueError, "0 feature"),
        "1d": (good[0], ValueError, "2D array"),
        "3d": (good[None], ValueError, "dim 3"),
        "scalar": (np.float64(0.5), ValueError, "2D array"),
        "strings": (np.full((6, width), "abc"), ValueError, "convert string"),
        # numpy reads None as NaN: a missing value (only PPCA's EM takes it).
        "object_with_none": (objects, ValueError, "NaN"),
        "complex": (good.astype(np.complex128), ValueError, "Complex data"),
        "ragged_list": ([[0.5] * width, [0.5] * (width - 1)], ValueError, "inhomogeneous|sequence"),
        "inf": (with_value(np.inf), ValueError, "infinity"),
        "minus_inf": (with_value(-np.inf), ValueError, "infinity"),
        "nan": (with_value(np.nan), ValueError, "NaN"),
        "wrong_width": (rng.uniform(size=(6, width + 1)), ValueError, "features|columns|components"),
    }


BAD_INPUT_CASES = [
    (name, method, case)
    for name in ESTIMATORS for method in METHODS[name] if method != "sample"
    for case in bad_inputs(N_FEATURES)
    # fit resets the number of features: another width is not an error there.
    if not (case == "wrong_width" and method in FIT_METHODS)
]


@pytest.mark.parametrize("name, method, case", BAD_INPUT_CASES)
def test_bad_input_gets_a_clear_error(name, method, case):
    data, expected, match = bad_inputs(input_width(method))[case]
    if case in ("nan", "object_with_none") and nan_is_missing(name, method):
        assert_finite(call(name, method, data))  # a missing value: a finite answer instead
        return
    with pytest.raises(expected, match=match):
        call(name, method, data)


def assert_finite(result):
    """Every number in a result is finite; for an estimator, in every fitted attribute."""
    if hasattr(result, "get_params"):
        result = [value for key, value in vars(result).items() if key.endswith("_") and value is not None]
    if isinstance(result, (list, tuple)):
        for part in result:
            assert_finite(part)
    else:
        assert np.all(np.isfinite(result))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_one_sample(name):
    one = training_data(n=1)
    if name.startswith("PPCA"):
        with pytest.raises(ValueError, match="minimum of 2"):
            make_estimator(name).fit(one)
    else:
        model = make_estimator(name).fit(one)
        assert np.all(np.isfinite(model.transform(one)))
        with pytest.raises(ValueError, match="early_stopping"):
            make_estimator(name, early_stopping=True).fit(one)
    assert fitted(name).transform(one).shape == (1, N_COMPONENTS)
    assert np.isfinite(fitted(name).score(one))


# ------------------------------------------------------------ bad parameters
ANY = ESTIMATORS
PPCAS = ["PPCA", "PPCA-em"]
BAD_PARAMETERS = [
    # (estimators, parameter, value)
    (ANY, "n_components", 0), (ANY, "n_components", -1), (ANY, "n_components", 1.5),
    (ANY, "n_components", "2"), (ANY, "n_components", None), (ANY, "n_components", 10**12),
    (PPCAS, "n_components", N_FEATURES + 1),  # more than min(n_samples, n_features)
    (PPCAS, "method", "svd"), (PPCAS, "method", None),
    (ANY, "max_iter", 0), (ANY, "max_iter", -5), (ANY, "max_iter", 2.5),
    (ANY, "tol", -1.0), (ANY, "tol", np.nan), (ANY, "tol", np.inf), (ANY, "tol", "small"),
    (ANY, "random_state", "seed"), (ANY, "random_state", 1.5),
    (ANY, "verbose", -1), (ANY, "verbose", "loud"),
    (NEURAL, "hidden_layer_sizes", (0,)), (NEURAL, "hidden_layer_sizes", (4, 0)),
    (NEURAL, "hidden_layer_sizes", (-3,)), (NEURAL, "hidden_layer_sizes", (2.5,)),
    (NEURAL, "hidden_layer_sizes", "64"), (NEURAL, "hidden_layer_sizes", None),
    (NEURAL, "hidden_layer_sizes", (10**9,)), (NEURAL, "hidden_layer_sizes", 10**9),
    (NEURAL, "hidden_layer_sizes", (10**5, 10**5)), (NEURAL, "hidden_layer_sizes", (10**30,)),
    (NEURAL, "activation", "swish"), (NEURAL, "activation", None),
    (NEURAL, "batch_size", 0), (NEURAL, "batch_size", -1), (NEURAL, "batch_size", 1.5),
    (NEURAL, "learning_rate", 0), (NEURAL, "learning_rate", -1e-3), (NEURAL, "learning_rate", np.nan),
    (NEURAL, "learning_rate", np.inf), (NEURAL, "learning_rate", "fast"),
    (NEURAL, "weight_decay", -1.0), (NEURAL, "weight_decay", np.nan), (NEURAL, "weight_decay", np.inf),
    (NEURAL, "early_stopping", "yes"), (NEURAL, "early_stopping", 2),
    (NEURAL, "validation_fraction", 0.0), (NEURAL, "validation_fraction", 1.0),
    (NEURAL, "validation_fraction", -0.1), (NEURAL, "validation_fraction", np.nan),
    (NEURAL, "n_iter_no_change", 0), (NEURAL, "n_iter_no_change", -2),
    (NEURAL, "n_threads", 0), (NEURAL, "n_threads", -1), (NEURAL, "n_threads", 2.5),
    (NEURAL, "n_threads", 10**5), (NEURAL, "n_threads", 2**40),
    (NEURAL, "dtype", np.int32), (NEURAL, "dtype", "float16"), (NEURAL, "dtype", None),
    (NEURAL, "dtype", np.complex128), (NEURAL, "dtype", "no such type"),
    (["VAE"], "likelihood", "poisson"), (["VAE"], "decoder_variance", "full"),
    (["VAE"], "noise_variance", 0.0), (["VAE"], "noise_variance", -1.0), (["VAE"], "noise_variance", np.nan),
    (["VAE"], "noise_variance", np.inf), (["VAE"], "beta", -1.0), (["VAE"], "beta", np.nan),
    (["VAE"], "beta", np.inf), (["VAE"], "n_mc_samples", 0), (["VAE"], "n_mc_samples", -1),
    (["VAE"], "n_mc_samples", 1.5), (["VAE"], "n_mc_samples", 10**10),
    (["Autoencoder"], "loss", "l1"), (["Autoencoder"], "loss", None),
]
BAD_PARAMETER_CASES = [(name, parameter, value) for names, parameter, value in BAD_PARAMETERS for name in names]


@pytest.mark.parametrize("name, parameter, value", BAD_PARAMETER_CASES)
def test_bad_parameter_fails_fast_and_names_the_parameter(name, parameter, value):
    for method in ("fit", "partial_fit") if name in NEURAL else ("fit",):
        estimator = make_estimator(name, **{parameter: value})
        start = time.perf_counter()
        with pytest.raises((ValueError, TypeError), match=parameter):
            getattr(estimator, method)(training_data())
        assert time.perf_counter() - start < 1.0  # no model was allocated, let alone trained


@pytest.mark.parametrize("name", NEURAL)
def test_architecture_larger_than_memory_fails_before_allocating(name, monkeypatch):
    # 10^7 hidden units: ~1.2e8 parameters, ~6 GB to train, under the core's 2^31 limit.
    monkeypatch.setattr(vaekit._validation, "physical_memory", lambda: 2**30)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(10000000,\).*more than this machine's 1 GiB"):
        make_estimator(name, hidden_layer_sizes=(10**7,)).fit(training_data())


@pytest.mark.parametrize("method, missing, n_components, fails", [
    ("closed_form", False, 2, True),  # 300 x 300 covariance: 2 MB
    ("em", False, 150, False),        # O((n + D) d): 2 MB
    ("em", True, 150, True),          # per-thread sums of E[z z^T] per feature: 27 MB and more
])
def test_ppca_working_memory_larger_than_the_machine_fails_before_allocating(method, missing, n_components, fails,
                                                                             monkeypatch):
    monkeypatch.setattr(vaekit._validation, "physical_memory", lambda: 2**20 if method == "closed_form" else 2**24)
    X = np.random.default_rng(0).normal(size=(300, 300))
    if missing:
        X[0, 0] = np.nan
    model = PPCA(n_components, method=method, max_iter=2)
    if fails:
        with pytest.raises(ValueError, match=f"PPCA\\(n_components={n_components}, method='{method}'\\) of 300 x "
                                             "300 data needs about .* GiB of memory, more than this machine's"):
            model.fit(X)
    else:
        model.fit(X)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_check_param_validation_of_scikit_learn(name):
    # scikit-learn's own test of _parameter_constraints (not in check_estimator's default set).
    estimator = make_estimator(name)
    check_param_validation(type(estimator).__name__, estimator)


# --------------------------------------------------------- method arguments
SAMPLERS = ["PPCA", "PPCA-em", "VAE"]


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("n_samples, match", [
    (-1, "n_samples == -1, must be >= 0"), (1.5, "n_samples must be an instance of int"),
    ("3", "n_samples must be an instance of int"), (None, "n_samples must be an instance of int"),
    (2**31, "n_samples == 2147483648, must be <= 2147483647"),
])
def test_sample_rejects_bad_n_samples(name, n_samples, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fitted(name).sample(n_samples)


@pytest.mark.parametrize("name", SAMPLERS)
def test_sample_larger_than_memory_fails_before_allocating(name, monkeypatch):
    monkeypatch.setattr(vaekit._validation, "physical_memory", lambda: 2**30)
    with pytest.raises(ValueError, match=r"sample\(n_samples=100000000\).*more than this machine's"):
        fitted(name).sample(10**8)


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("noise", [False, True])
def test_sample_zero_gives_an_empty_array(name, noise):
    model = fitted(name)
    samples = model.sample(0, noise=noise) if name == "VAE" else model.sample(0)
    assert samples.shape == (0, N_FEATURES)
    assert samples.dtype == (model.components_.dtype if name.startswith("PPCA") else np.float32)


@pytest.mark.parametrize("method, argument", [("score_samples", "n_mc_samples"), ("log_likelihood", "n_samples")])
@pytest.mark.parametrize("value", [0, -1, 1.5, "2", 2**31])
def test_vae_rejects_bad_sample_counts(method, argument, value):
    with pytest.raises((ValueError, TypeError), match=argument):
        getattr(fitted("VAE"), method)(training_data(n=3), **{argument: value})


@pytest.mark.parametrize("name", ESTIMATORS)
def test_unfitted_estimator_says_so(name):
    from sklearn.exceptions import NotFittedError
    for method in METHODS[name]:
        if method in FIT_METHODS:
            continue
        with pytest.raises(NotFittedError):
            getattr(make_estimator(name), method)(1 if method == "sample" else training_data())


# -------------------------------------------------------------- memory layout
def layouts(X):
    """The same values in other memory layouts (and as a list)."""
    strided = np.zeros((2 * X.shape[0], 3 * X.shape[1]), dtype=X.dtype)
    strided[::2, ::3] = X
    return {
        "fortran": np.asfortranarray(X),
        "strided": strided[::2, ::3],
        "reversed_rows": X[::-1].copy()[::-1],
        "transposed_view": np.ascontiguousarray(X.T).T,
        "list": X.tolist(),
    }


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed_rows", "transposed_view", "list"])
def test_memory_layout_does_not_change_results(name, layout):
    X = training_data()
    if name == "PPCA-em":
        X[3, 1] = X[7, 4] = np.nan  # the missing-value path too
    other = layouts(X)[layout]
    reference, model = make_estimator(name).fit(X), make_estimator(name).fit(other)
    for attribute in ("components_", "mean_", "noise_variance_", "encoder_coefs_", "encoder_intercepts_",
                      "decoder_coefs_", "decoder_intercepts_", "loss_curve_"):
        if hasattr(reference, attribute):
            assert_same(getattr(reference, attribute), getattr(model, attribute))
    assert_same(reference.transform(X), reference.transform(other))
    assert_same(reference.score_samples(X), reference.score_samples(other))
    Z = reference.transform(X)
    assert_same(reference.inverse_transform(Z), reference.inverse_transform(layouts(Z)[layout]))


# ------------------------------------------------------------ C++ boundary
def test_cpp_vae_config_is_validated():
    args = dict(n_features=5, n_components=2, hidden_layer_sizes=[4], activation="relu", likelihood="gaussian",
                decoder_variance="fixed", noise_variance=1.0, beta=1.0, n_mc_samples=1)
    for change, match in [
        (dict(n_features=0), "n_features"), (dict(n_components=0), "n_components"),
        (dict(n_components=-3), "n_components"), (dict(hidden_layer_sizes=[0]), "hidden_layer_sizes must be at least 1"),
        (dict(hidden_layer_sizes=[4, -1]), "hidden_layer_sizes must be at least 1"), (dict(hidden_layer_sizes=[10**9]), "2\\^31"),
        (dict(hidden_layer_sizes=[10**15, 10**15]), "2\\^31"), (dict(activation="swish"), "activation"),
        (dict(likelihood="poisson"), "likelihood"), (dict(decoder_variance="full"), "decoder_variance"),
        (dict(noise_variance=0.0), "noise_variance"), (dict(noise_variance=float("nan")), "noise_variance"),
        (dict(beta=-1.0), "beta"), (dict(beta=float("inf")), "beta"), (dict(n_mc_samples=0), "n_mc_samples"),
    ]:
        with pytest.raises(ValueError, match=match):
            hyper_parameters = {**args, **change}
            core.VAEFloat32(hyper_parameters.pop("n_features"), hyper_parameters)
    with pytest.raises(ValueError, match="loss"):
        core.AutoencoderFloat64(5, dict(n_components=2, hidden_layer_sizes=[4], activation="relu", loss="l1"))
    with pytest.raises(ValueError, match="n_features"):
        core.AutoencoderFloat64(0, dict(n_components=2, hidden_layer_sizes=[4], activation="relu", loss="mse"))
    with pytest.raises(ValueError, match="unknown hyper-parameter \"likelihood\""):
        core.AutoencoderFloat64(5, dict(likelihood="gaussian"))
    with pytest.raises(TypeError, match="n_components"):
        core.AutoencoderFloat64(5, dict(n_components="two"))


def test_cpp_training_options_and_inputs_are_validated():
    hyper_parameters = dict(n_components=2, hidden_layer_sizes=[4], activation="relu", likelihood="gaussian",
                            decoder_variance="fixed", noise_variance=1.0, beta=1.0, n_mc_samples=1)
    model = core.VAEFloat64(5, hyper_parameters)
    X = training_data()
    good = dict(batch_size=8, max_iter=1, learning_rate=1e-3, weight_decay=0.0, early_stopping=False,
                validation_fraction=0.1, n_iter_no_change=5, tol=1e-4)

    def fit(X, n_threads=0, **options):
        model.fit(X, options, seed=0, n_threads=n_threads)

    for change, match in [
        (dict(batch_size=0), "batch_size"), (dict(max_iter=0), "max_iter"), (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=float("nan")), "learning_rate"), (dict(learning_rate=float("inf")), "learning_rate"),
        (dict(weight_decay=-1.0), "weight_decay"), (dict(tol=float("nan")), "tol"),
        (dict(n_iter_no_change=0), "n_iter_no_change"),
        (dict(early_stopping=True, validation_fraction=1.5), "validation_fraction"),
        (dict(n_threads=5000), "n_threads"),
    ]:
        with pytest.raises(ValueError, match=match):
            fit(X, **{**good, **change})
    with pytest.raises(ValueError, match="features"):
        fit(X[:, :4], **good)
    X_inf = X.copy()
    X_inf[0, 0] = np.inf  # NaN is a missing value for the VAE; infinity is an error
    with pytest.raises(ValueError, match="infinity"):
        fit(X_inf, **good)
    fit(X, **good)
    for method, arguments, match in [
        ("transform", (X[:, :4],), "columns"), ("transform", (X_inf,), "infinity"),
        ("impute", (X_inf, 10, 0, False), "infinity"), ("impute", (X, 0, 0, False), "samples"),
        ("inverse_transform", (np.ones((3, 3)),), "columns"), ("sample", (-1, 0, False), "n_samples"),
        ("score_samples", (X, 0, 0), "samples"), ("log_likelihood", (X[:, :3], 10, 0), "columns"),
        ("transform", (X, 5000), "n_threads"),
    ]:
        with pytest.raises(ValueError, match=match):
            getattr(model, method)(*arguments)
    restore = type(model).restore
    with pytest.raises(ValueError, match="encoder layer 0"):
        restore(X.shape[1], hyper_parameters, encoder=([np.ones((3, 3))] * 2, [np.ones(3)] * 2),
                decoder=model.get_layers("decoder"))
    with pytest.raises(ValueError, match="parameters"):
        restore(X.shape[1], hyper_parameters, np.ones(3))


def test_cpp_ppca_is_validated():
    X = training_data(n=3)
    with pytest.raises(ValueError, match=r"min\(n_samples, n_features\) = 3"):
        core.PPCAFloat64.fit(X, dict(n_components=4, method="closed_form", max_iter=10, tol=1e-6), 0)
    with pytest.raises(ValueError, match="n_components"):
        core.PPCAFloat64.fit(X, dict(n_components=0, method="em", max_iter=10, tol=1e-6), 0)
    with pytest.raises(ValueError, match="method"):
        core.PPCAFloat64.fit(X, dict(n_components=2, method="svd", max_iter=10, tol=1e-6), 0)
    with pytest.raises(ValueError, match="max_iter"):
        core.PPCAFloat64.fit(X, dict(n_components=2, method="em", max_iter=0, tol=1e-6), 0)
    with pytest.raises(ValueError, match="tol"):
        core.PPCAFloat64.fit(X, dict(n_components=2, method="em", max_iter=10, tol=float("nan")), 0)
    with pytest.raises(ValueError, match="at least one sample"):
        core.PPCAFloat64.fit(np.empty((0, 5)), dict(n_components=2, method="em", max_iter=10, tol=1e-6), 0)
    model, interruption = core.PPCAFloat64.fit(
        training_data(), dict(n_components=2, method="closed_form", max_iter=10, tol=1e-6), 0)
    assert interruption is None
    with pytest.raises(ValueError, match="features"):
        model.transform(np.ones((3, 4)))
    with pytest.raises(ValueError, match="features"):
        model.score_samples(np.ones((3, 6)))
    with pytest.raises(ValueError, match="infinity"):
        model.transform(np.full((3, 5), np.inf))
    with pytest.raises(ValueError, match="components"):
        model.inverse_transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(-1, 0)
    for components, mean, variance, match in [
        (np.ones((2, 5)), np.ones(4), 1.0, "mean"), (np.ones((2, 5)), np.ones(5), 0.0, "noise_variance"),
        (np.full((2, 5), np.nan), np.ones(5), 1.0, "finite"), (np.ones((0, 5)), np.ones(5), 1.0, "non-empty"),
    ]:
        with pytest.raises(ValueError, match=match):
            core.PPCAFloat64(components, mean, variance)


# --------------------------------------------------------------------- fuzz
# Values: ordinary, extreme (near the float32 and float64 limits), tiny and subnormal, non-finite.
SPECIAL_VALUES = [0.0, -0.0, 1.0, 5e-324, 1e-300, 1e-8, 1e8, 1e19, -1e19, 1e30, -1e30, 3e38, 1e300, -1e300,
                  np.inf, -np.inf, np.nan]
KINDS = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex", "str", "object", "datetime",
         "sparse", "list"]


@st.composite
def fuzz_inputs(draw, width):
    """A random array-like: mostly 2-D with the expected width, of any kind and values."""
    ndim = draw(st.sampled_from([2, 2, 2, 2, 2, 0, 1, 3]))
    if ndim == 2:
        shape = (draw(st.integers(0, 7)), draw(st.sampled_from([width] * 5 + [0, 1, width + 1])))
    else:
        shape = tuple(draw(st.integers(0, 4)) for _ in range(ndim))
    values = draw(hnp.arrays(np.float64, shape, elements=st.one_of(
        st.floats(-5, 5), st.sampled_from(SPECIAL_VALUES))))
    kind = draw(st.sampled_from(KINDS))
    event(f"input kind: {kind}")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind in ("float64", "float32", "float16", "int64", "int8", "uint8", "bool"):
            return values.astype(kind)
        if kind == "complex":
            return values + 1j * draw(st.sampled_from([0.0, 1.0]))
        if kind == "str":
            return np.char.mod(draw(st.sampled_from(["%g", "x%g"])), values) if values.size else values.astype(str)
        if kind == "object":
            result = values.astype(object)
            if result.size and draw(st.booleans()):
                result.flat[0] = draw(st.sampled_from([None, "abc", [1.0], {}]))
            return result
        if kind == "datetime":
            return values.astype(np.int64).astype("datetime64[s]")
        if kind == "sparse":
            return sp.csr_matrix(values) if ndim == 2 else values
        return values.tolist()


def check_outcome(thunk, expected_shape):
    """Either a ValueError/TypeError with a message, or a finite result of the expected shape."""
    try:
        result = thunk()
    except (ValueError, TypeError) as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        event(f"outcome: {type(error).__name__}")
        return
    event("outcome: finite result")
    assert_finite(result)
    if expected_shape is not None:
        for part in result if isinstance(result, tuple) else (result,):
            assert np.shape(part) == expected_shape


def expected_shape(method, data):
    if method == "score":
        return ()
    shape = np.shape(data) if not sp.issparse(data) else data.shape
    n = shape[0] if len(shape) == 2 else -1  # anything but 2-D must be an error
    return {"transform": (n, N_COMPONENTS), "encode": (n, N_COMPONENTS), "inverse_transform": (n, N_FEATURES),
            "score_samples": (n,), "log_likelihood": (n,)}.get(method)


FUZZ_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_CASES = [(name, method) for name in ESTIMATORS for method in METHODS[name] if method != "sample"]


@pytest.mark.parametrize("name, method", FUZZ_CASES)
@FUZZ_SETTINGS
@given(draw=st.data())
def test_fuzz_inputs(name, method, draw):
    data = draw.draw(fuzz_inputs(input_width(method)), label="input")
    check_outcome(lambda: call(name, method, data), expected_shape(method, data))


@pytest.mark.parametrize("name", SAMPLERS)
@FUZZ_SETTINGS
@given(n=st.one_of(st.integers(-3, 20), st.sampled_from([2**31, -(2**63), 10**30, 1.5, "3", None, True,
                                                          np.int64(4), np.uint8(2), np.float64(2.0)])))
def test_fuzz_sample(name, n):
    n_rows = int(n) if isinstance(n, (int, np.integer)) else None
    check_outcome(lambda: fitted(name).sample(n, random_state=0), (n_rows, N_FEATURES))


# Hyper-parameter values to fuzz: valid ones, boundaries and garbage.
PARAMETER_VALUES = st.sampled_from([0, 1, 2, 3, -1, 10**12, 0.0, 0.5, 1.0, 1e-3, -0.5, 1e6, np.nan, np.inf,
                                    None, "", "relu", "em", "bernoulli", "scalar", "network", "bce", (), (3,),
                                    (0,), [2, 2], True, np.float32])


@pytest.mark.parametrize("name", ESTIMATORS)
@FUZZ_SETTINGS
@given(draw=st.data())
def test_fuzz_hyper_parameters(name, draw):
    parameters = sorted(set(make_estimator(name).get_params()) - {"max_iter"})  # keep runs short
    changes = draw.draw(st.dictionaries(st.sampled_from(parameters), PARAMETER_VALUES, max_size=3), label="changes")
    data = draw.draw(fuzz_inputs(N_FEATURES), label="input")
    check_outcome(lambda: make_estimator(name, **changes).fit(data), None)
