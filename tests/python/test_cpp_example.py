"""The C++ example in examples/cpp/ (vaekit_encode), built against the
installed package's CMake package, loads model files saved from Python and
prints the same latent means as ``transform``, from CSV and from ``.npy``
data; bad input gives one line on stderr and exit status 1.

The example is built once for this module. It needs the checkout's
examples/cpp/ beside the tests (the tests may run against an installed wheel,
from outside the source tree), cmake and a C++ compiler; without them the
tests are skipped."""

import io
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from _data import low_rank_data
from cpp_build import build_cmake_project, installed_cmake_dir
from sklearn.exceptions import ConvergenceWarning

from vaekit import PPCA, VAE, Autoencoder

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "cpp"

pytestmark = pytest.mark.skipif(not EXAMPLE_DIR.is_dir(), reason="examples/cpp/ is not next to the tests")

# Float tolerances between Python (which may run an AVX2/AVX-512 build of the
# core) and the example (the static library, baseline instruction set): the
# same computation, rounded differently in the last bits.
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    build = tmp_path_factory.mktemp("vaekit_encode") / "build"
    return build_cmake_project(EXAMPLE_DIR, build, installed_cmake_dir(), "vaekit_encode")


def make_data(n_samples=80, n_features=6, seed=0):
    """Samples near a 2-D plane, with noise."""
    return low_rank_data(n_samples, n_features, rank=2, noise=0.3, offset=1.0, seed=seed, latent_first=True)


MODELS = {
    "PPCA float64": lambda X: PPCA(n_components=2).fit(X),
    "PPCA float32": lambda X: PPCA(n_components=2, method="em", random_state=0).fit(X.astype(np.float32)),
    "VAE float32": lambda X: VAE(n_components=2, hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X),
    "VAE float64": lambda X: VAE(n_components=3, hidden_layer_sizes=(8, 4), activation="tanh",
                                 decoder_variance="diagonal", max_iter=5, random_state=1, dtype=np.float64).fit(X),
    "Autoencoder float64": lambda X: Autoencoder(n_components=2, hidden_layer_sizes=(8,), max_iter=5,
                                                 random_state=0, dtype=np.float64).fit(X),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def saved_model(request, tmp_path_factory):
    """(estimator, path of its model file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few epochs are enough here
        model = MODELS[request.param](make_data())
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    model.save(path)
    return model, path


def model_dtype(model):
    return model.components_.dtype if isinstance(model, PPCA) else np.dtype(model.dtype)


def encode(encoder, *arguments):
    return subprocess.run([encoder, *map(str, arguments)], capture_output=True, text=True, timeout=300)


def assert_matches_transform(result, model, X):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    printed = np.loadtxt(io.StringIO(result.stdout), delimiter=",", ndmin=2)
    dtype = model_dtype(model).type
    expected = model.transform(X.astype(dtype))
    assert printed.shape == expected.shape
    np.testing.assert_allclose(printed, expected, **TOLERANCE[dtype])


def test_encodes_a_csv_file_with_a_header_like_transform(encoder, saved_model, tmp_path):
    model, path = saved_model
    X = make_data(n_samples=7, seed=1)
    names = ",".join(f"feature {j}" for j in range(X.shape[1]))
    np.savetxt(tmp_path / "data.csv", X, delimiter=",", fmt="%.17g", header=names, comments="")
    assert_matches_transform(encode(encoder, path, tmp_path / "data.csv"), model, X)


@pytest.mark.parametrize("data_dtype", [np.float32, np.float64])
def test_encodes_a_npy_file_like_transform(encoder, saved_model, tmp_path, data_dtype):
    model, path = saved_model
    X = make_data(n_samples=5, seed=2).astype(data_dtype)
    np.save(tmp_path / "data.npy", X)
    assert_matches_transform(encode(encoder, path, tmp_path / "data.npy"), model, X)


def test_prints_enough_digits_to_read_back_the_values(encoder, saved_model, tmp_path):
    model, path = saved_model
    np.save(tmp_path / "data.npy", make_data(n_samples=3, seed=3))
    fields = encode(encoder, path, tmp_path / "data.npy").stdout.replace("\n", ",").strip(",").split(",")
    significant_digits = max(len(field.lstrip("-").split("e")[0].replace(".", "").lstrip("0")) for field in fields)
    assert significant_digits == (9 if model_dtype(model) == np.float32 else 17)


# ------------------------------------------------------------------ errors
@pytest.fixture(scope="module")
def ppca_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ppca") / "ppca.safetensors"
    PPCA(n_components=2).fit(make_data()).save(path)
    return path


def assert_one_line_error(result, *words):
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("vaekit_encode: error: "), result.stderr
    for word in words:
        assert word in result.stderr


def test_missing_files_are_errors(encoder, ppca_file, tmp_path):
    np.savetxt(tmp_path / "data.csv", make_data(n_samples=2), delimiter=",")
    assert_one_line_error(encode(encoder, tmp_path / "absent.safetensors", tmp_path / "data.csv"), "absent.safetensors")
    assert_one_line_error(encode(encoder, ppca_file, tmp_path / "absent.csv"), "absent.csv")


def test_a_file_that_is_not_a_model_is_an_error(encoder, tmp_path):
    np.savetxt(tmp_path / "data.csv", make_data(n_samples=2), delimiter=",")
    assert_one_line_error(encode(encoder, tmp_path / "data.csv", tmp_path / "data.csv"), "data.csv")


def test_data_of_the_wrong_width_is_an_error(encoder, ppca_file, tmp_path):
    np.save(tmp_path / "narrow.npy", make_data(n_samples=3)[:, :4])
    assert_one_line_error(encode(encoder, ppca_file, tmp_path / "narrow.npy"), "narrow.npy", "4 columns", "6 features")


@pytest.mark.parametrize(
    "array, words",
    [
        (np.zeros((3, 6), dtype=">f8"), ["'>f8'", "big-endian"]),
        (np.zeros((3, 6), dtype=np.int64), ["'<i8'", "float32 or float64"]),
        (np.zeros(6), ["1-D", "2-D"]),
        (np.zeros((3, 6, 1)), ["3-D", "2-D"]),
        (np.asfortranarray(np.arange(18.0).reshape(3, 6)), ["Fortran"]),
    ],
    ids=["big-endian", "integers", "1-D", "3-D", "Fortran order"],
)
def test_npy_files_it_cannot_read_are_errors(encoder, ppca_file, tmp_path, array, words):
    np.save(tmp_path / "data.npy", array)
    assert_one_line_error(encode(encoder, ppca_file, tmp_path / "data.npy"), "data.npy", *words)


def test_a_truncated_npy_file_is_an_error(encoder, ppca_file, tmp_path):
    np.save(tmp_path / "data.npy", make_data(n_samples=3))
    contents = (tmp_path / "data.npy").read_bytes()
    (tmp_path / "data.npy").write_bytes(contents[:-8])
    assert_one_line_error(encode(encoder, ppca_file, tmp_path / "data.npy"), "data.npy", "bytes of data")


@pytest.mark.parametrize(
    "text, words",
    [
        ("1,2,3,4,5,6\n1,2,x,4,5,6\n", ["line 2", '"x"', "not a number"]),
        ("1,2,3,4,5,6\n1,2,3\n", ["line 2", "3 fields"]),
        ("a,b,c,d,e,f\n", ["no samples"]),
    ],
    ids=["not a number", "ragged", "only a header"],
)
def test_csv_files_it_cannot_read_are_errors(encoder, ppca_file, tmp_path, text, words):
    (tmp_path / "data.csv").write_text(text)
    assert_one_line_error(encode(encoder, ppca_file, tmp_path / "data.csv"), "data.csv", *words)


def test_wrong_usage_prints_the_usage_and_exits_with_status_2(encoder):
    result = encode(encoder)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: vaekit_encode MODEL DATA")
