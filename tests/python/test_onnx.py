"""ONNX export: the graphs run in real onnxruntime sessions and give what the
estimators give (1e-5 relative in float32, 1e-10 in float64, relative to the
output's scale)."""

import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import vaekit.onnx  # noqa: E402,F401  (registers the converters)
from vaekit import PPCA, VAE, Autoencoder  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore::vaekit.PosteriorCollapseWarning")

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}
STANDARD_OPS = {"MatMul", "Gemm", "Add", "Sub", "Relu", "Tanh", "Sigmoid", "Abs", "Neg", "Exp", "Log", "Clip", "Slice",
                "IsNaN", "Where", "Not", "Cast", "Concat"}


def run(model, **inputs):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def assert_close(actual, expected, dtype):
    assert actual.dtype == expected.dtype == dtype
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale)


def data(n=64, D=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) @ rng.normal(size=(3, D)) + 0.3 * rng.normal(size=(n, D))


def op_types(model):
    assert {opset.domain for opset in model.opset_import} <= {"", "ai.onnx"}
    return {node.op_type for node in model.graph.node}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden", [(), (7,), (9, 5)])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "softplus", "identity"])
def test_networks_match_the_estimators(activation, hidden, dtype):
    X = data().astype(dtype)
    Z = np.random.default_rng(1).normal(size=(20, 2)).astype(dtype)
    for model in (VAE(2, hidden_layer_sizes=hidden, activation=activation, max_iter=3, random_state=0, dtype=dtype),
                  Autoencoder(2, hidden_layer_sizes=hidden, activation=activation, max_iter=3, random_state=0,
                              dtype=dtype)):
        model.fit(X)
        encoder, decoder = model.to_onnx("encoder"), model.to_onnx("decoder")
        assert op_types(encoder) | op_types(decoder) <= STANDARD_OPS
        outputs = run(encoder, X=X)
        if isinstance(model, VAE):
            mean, stddev = model.encode(X)
            assert_close(outputs[0], mean, dtype)
            assert_close(outputs[1], 2 * np.log(stddev), dtype)
        else:
            assert_close(outputs[0], model.transform(X), dtype)
        assert_close(run(decoder, Z=Z)[0], model.inverse_transform(Z), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [dict(likelihood="bernoulli"), dict(decoder_variance="network"),
                                     dict(decoder_variance="diagonal", encoder_mask=True)])
def test_vae_variants_and_missing_values(options, dtype):
    X = data()
    if options.get("likelihood") == "bernoulli":
        X = (X > 0).astype(float)
    X = X.astype(dtype)
    X[np.random.default_rng(2).random(X.shape) < 0.2] = np.nan  # NaN is the VAE's missing value
    model = VAE(2, hidden_layer_sizes=(8,), activation="tanh", max_iter=3, random_state=0, dtype=dtype,
                **options).fit(X)
    assert_close(run(model.to_onnx("encoder"), X=X)[0], model.transform(X), dtype)
    Z = model.transform(X)
    assert_close(run(model.to_onnx("decoder"), Z=Z)[0], model.inverse_transform(Z), dtype)


def test_autoencoder_bce_decoder_gives_probabilities():
    X = (data() > 0).astype(np.float32)
    model = Autoencoder(2, hidden_layer_sizes=(8,), loss="bce", max_iter=3, random_state=0).fit(X)
    Z = model.transform(X)
    out = run(model.to_onnx("decoder"), Z=Z)[0]
    assert ((out > 0) & (out < 1)).all()
    assert_close(out, model.inverse_transform(Z), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["closed_form", "em"])
def test_ppca_pipelines_with_every_n_components(method, dtype):
    X = data(D=7).astype(dtype) * 3 + 1
    for n_components in range(1, 7):
        pipeline = make_pipeline(StandardScaler(), PPCA(n_components, method=method)).fit(X)
        model = skl2onnx.to_onnx(pipeline, X[:1])
        assert_close(run(model, X=X)[0], pipeline.transform(X), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pipelines_with_neural_estimators_and_a_classifier(dtype):
    X = data(n=200, D=8, seed=3).astype(dtype)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    for estimator in (VAE(3, hidden_layer_sizes=(16,), activation="tanh", max_iter=5, random_state=0, dtype=dtype),
                      Autoencoder(3, hidden_layer_sizes=(16,), max_iter=5, random_state=0, dtype=dtype)):
        pipeline = make_pipeline(StandardScaler(), estimator).fit(X)
        assert_close(run(skl2onnx.to_onnx(pipeline, X[:1]), X=X)[0], pipeline.transform(X), dtype)
        classifier = make_pipeline(StandardScaler(), estimator, LogisticRegression()).fit(X, y)
        label, probabilities = run(skl2onnx.to_onnx(classifier, X[:1], options={"zipmap": False}), X=X)
        np.testing.assert_array_equal(label, classifier.predict(X))
        np.testing.assert_allclose(probabilities, classifier.predict_proba(X), rtol=1e-4, atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="part must be one of"):
        VAE(2, hidden_layer_sizes=(4,), max_iter=1).fit(data()).to_onnx("both")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        VAE(2, hidden_layer_sizes=(4,), max_iter=1).fit(data()).to_onnx(dtype=np.int32)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        VAE().to_onnx()


def test_vaekit_imports_without_onnx():
    code = ("import sys; sys.modules['onnx'] = None; import vaekit\n"
            "try:\n    import vaekit.onnx\nexcept ImportError as error:\n    print(error)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "vaekit[onnx]"' in out
