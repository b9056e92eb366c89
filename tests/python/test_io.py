"""Model files: est.save(path) / vaekit.load(path) round trips for every
estimator, dtype and variant, interoperability with the `safetensors`
package, corrupted and hand-crafted files (always ValueError or OSError,
never a crash), and atomic writes."""

import json
import os
import pathlib
import pickle
import struct

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import vaekit
from vaekit import PPCA, VAE, Autoencoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NEURAL = dict(n_components=2, hidden_layer_sizes=(6, 4), max_iter=3, batch_size=16, random_state=0, n_threads=1)

# id -> (estimator factory given the dtype, whether the data must be in [0, 1])
VARIANTS = {
    "ppca-closed_form": (lambda dtype: PPCA(n_components=2), False),
    "ppca-em": (lambda dtype: PPCA(n_components=2, method="em", max_iter=30, random_state=0), False),
    "vae-fixed": (lambda dtype: VAE(**NEURAL, noise_variance=0.3, dtype=dtype), False),
    "vae-scalar": (lambda dtype: VAE(**NEURAL, decoder_variance="scalar", dtype=dtype), False),
    "vae-diagonal": (lambda dtype: VAE(**NEURAL, decoder_variance="diagonal", beta=0.5, dtype=dtype), False),
    "vae-network": (lambda dtype: VAE(**NEURAL, decoder_variance="network", activation="tanh", dtype=dtype), False),
    "vae-bernoulli": (lambda dtype: VAE(**NEURAL, likelihood="bernoulli", n_mc_samples=2, dtype=dtype), True),
    "autoencoder-mse": (lambda dtype: Autoencoder(**NEURAL, activation="logistic", dtype=dtype), False),
    "autoencoder-bce": (lambda dtype: Autoencoder(**NEURAL, loss="bce", dtype=dtype), True),
}
DTYPES = [np.float32, np.float64]


def data(dtype, unit_interval=False, n=60, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, n_features)) if unit_interval else rng.normal(size=(n, n_features)) + 1.0
    return X.astype(dtype)


def fitted(variant, dtype):
    make, unit_interval = VARIANTS[variant]
    X = data(dtype, unit_interval)
    return make(dtype).fit(X), X


def assert_same_value(a, b, name):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b), name
    elif isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        assert len(a) == len(b), name
        for x, y in zip(a, b):
            assert_same_value(x, y, name)
    else:
        assert a == b and type(a) is type(b), name


def fitted_attributes(est):
    return {name: value for name, value in vars(est).items() if name.endswith("_") and not name.startswith("_")}


def assert_same_predictions(original, loaded, X):
    np.testing.assert_array_equal(loaded.transform(X), original.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X), original.score_samples(X))
    Z = original.transform(X)
    np.testing.assert_array_equal(loaded.inverse_transform(Z), original.inverse_transform(Z))
    if hasattr(original, "sample"):
        np.testing.assert_array_equal(loaded.sample(5, random_state=3), original.sample(5, random_state=3))
    if isinstance(original, VAE):
        for a, b in zip(loaded.encode(X), original.encode(X)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(loaded.sample(5, random_state=3, noise=True),
                                      original.sample(5, random_state=3, noise=True))
        np.testing.assert_array_equal(loaded.log_likelihood(X, n_samples=20, random_state=1),
                                      original.log_likelihood(X, n_samples=20, random_state=1))


def header_of(path):
    raw = pathlib.Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def write_file(path, header, body, length=None):
    """A safetensors-like file from a header (dict or str), its data, and an optional length field."""
    text = (header if isinstance(header, str) else json.dumps(header)).encode()
    text += b" " * (-len(text) % 8)
    path = pathlib.Path(path)
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + body)
    return path


def rewrite(path, target, mutate):
    """Copies a model file with its header changed by mutate(header)."""
    header, body = header_of(path)
    mutate(header)
    return write_file(target, header, body)


@pytest.fixture(scope="module")
def saved_vae(tmp_path_factory):
    est, X = fitted("vae-diagonal", np.float32)
    path = tmp_path_factory.mktemp("saved") / "vae.safetensors"
    est.save(path)
    return est, X, path


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_round_trip_restores_parameters_attributes_and_predictions(variant, dtype, tmp_path):
    original, X = fitted(variant, dtype)
    path = tmp_path / "model.safetensors"
    original.save(path)
    loaded = vaekit.load(path)
    assert type(loaded) is type(original)
    params = original.get_params()
    for name, value in loaded.get_params().items():
        if name == "dtype":
            assert np.dtype(value) == np.dtype(params[name])
        else:
            assert value == params[name], name
    original_attributes = fitted_attributes(original)
    assert fitted_attributes(loaded).keys() == original_attributes.keys()
    for name, value in original_attributes.items():
        assert_same_value(value, getattr(loaded, name), name)
    assert_same_predictions(original, loaded, X)


@pytest.mark.parametrize("variant", ["vae-scalar", "autoencoder-mse"])
def test_training_continues_identically_after_loading(variant, tmp_path):
    original, X = fitted(variant, np.float64)
    original.save(tmp_path / "model.safetensors")
    loaded = vaekit.load(str(tmp_path / "model.safetensors"))
    original.partial_fit(X)
    loaded.partial_fit(X)
    for a, b in zip(loaded.encoder_coefs_ + loaded.decoder_coefs_, original.encoder_coefs_ + original.decoder_coefs_):
        np.testing.assert_array_equal(a, b)
    assert loaded.loss_curve_ == original.loss_curve_


def test_feature_names_are_restored(tmp_path):
    est, _ = fitted("ppca-closed_form", np.float64)
    est.feature_names_in_ = np.array(["a", "b", "c", "d", "é"], dtype=object)
    est.save(tmp_path / "m.safetensors")
    loaded = vaekit.load(tmp_path / "m.safetensors")
    assert loaded.feature_names_in_.dtype == object
    assert list(loaded.feature_names_in_) == ["a", "b", "c", "d", "é"]
    assert list(loaded.get_feature_names_out()) == ["ppca0", "ppca1"]


def test_a_random_state_instance_is_saved_as_none(tmp_path):
    est = PPCA(n_components=2, method="em", max_iter=5, random_state=np.random.RandomState(0)).fit(data(np.float64))
    est.save(tmp_path / "m.safetensors")
    assert vaekit.load(tmp_path / "m.safetensors").random_state is None


def test_loaded_estimators_pickle_and_clone(saved_vae):
    est, X, path = saved_vae
    loaded = vaekit.load(path)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(loaded)).transform(X), est.transform(X))
    assert clone(loaded).get_params() == loaded.get_params()
    assert not hasattr(clone(loaded), "encoder_coefs_")


def test_saving_an_unfitted_estimator_raises_not_fitted(tmp_path):
    for est in (PPCA(), VAE(), Autoencoder()):
        with pytest.raises(NotFittedError):
            est.save(tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_paths_must_be_path_like(saved_vae):
    est, _, _ = saved_vae
    with pytest.raises(TypeError):
        est.save(3)
    with pytest.raises(TypeError):
        vaekit.load(None)


def test_a_file_without_python_hyper_parameters_loads_from_the_architecture(saved_vae, tmp_path):
    """A model saved by a C++ program carries only the C++ metadata."""
    est, X, path = saved_vae

    def drop_python_entries(header):
        header["__metadata__"] = {key: value for key, value in header["__metadata__"].items()
                                  if not key.startswith(("param.", "fitted."))}

    loaded = vaekit.load(rewrite(path, tmp_path / "cpp.safetensors", drop_python_entries))
    assert loaded.get_params()["hidden_layer_sizes"] == (6, 4)
    assert loaded.decoder_variance == "diagonal" and loaded.beta == 0.5 and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


# ------------------------------------------------------------ safetensors package
@pytest.fixture
def safetensors():
    return pytest.importorskip("safetensors")


@pytest.mark.parametrize("variant", ["ppca-em", "vae-network", "autoencoder-bce"])
def test_the_safetensors_package_reads_the_files(variant, safetensors, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    est, _ = fitted(variant, np.float32)
    path = tmp_path / "model.safetensors"
    est.save(path)
    tensors = load_file(str(path))
    with safe_open(str(path), framework="numpy") as handle:
        metadata = handle.metadata()
    assert metadata["format_version"] == "1"
    assert metadata["vaekit_version"] == vaekit.__version__
    assert metadata["kind"] == type(est).__name__
    assert metadata["dtype"] == "float32"
    assert json.loads(metadata["param.n_components"]) == 2
    if isinstance(est, PPCA):
        np.testing.assert_array_equal(tensors["components"], est.components_)
        np.testing.assert_array_equal(tensors["mean"], est.mean_)
        assert tensors["noise_variance"].shape == () and float(tensors["noise_variance"]) == est.noise_variance_
        np.testing.assert_array_equal(tensors["log_likelihood_curve"], est.log_likelihood_curve_)
    else:
        assert json.loads(metadata["hidden_layer_sizes"]) == [6, 4]
        # PyTorch's nn.Linear layout: weight (out, in) is the transpose of the coef.
        for prefix, coefs, intercepts in (("encoder", est.encoder_coefs_, est.encoder_intercepts_),
                                          ("decoder", est.decoder_coefs_, est.decoder_intercepts_)):
            for layer, (coef, intercept) in enumerate(zip(coefs, intercepts)):
                np.testing.assert_array_equal(tensors[f"{prefix}.{layer}.weight"], coef.T)
                np.testing.assert_array_equal(tensors[f"{prefix}.{layer}.bias"], intercept)
        np.testing.assert_array_equal(tensors["history.loss_curve"], est.loss_curve_)


def test_a_file_rewritten_by_the_safetensors_package_loads(saved_vae, safetensors, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    est, X, path = saved_vae
    with safe_open(str(path), framework="numpy") as handle:
        metadata = handle.metadata()
    save_file(load_file(str(path)), str(tmp_path / "copy.safetensors"), metadata=metadata)
    loaded = vaekit.load(tmp_path / "copy.safetensors")
    assert_same_predictions(est, loaded, X)


def test_a_foreign_safetensors_file_is_refused(safetensors, tmp_path):
    from safetensors.numpy import save_file

    save_file({"weight": np.ones((2, 3), np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="not a vaekit model file"):
        vaekit.load(tmp_path / "foreign.safetensors")


# ------------------------------------------------------------ corrupted files
def load_outcome(path):
    """'loaded' or the exception class; a loaded model must still predict."""
    try:
        est = vaekit.load(path)
    except ValueError:
        return "ValueError"
    except OSError:
        return "OSError"
    est.transform(data(np.float32, n=4, n_features=est.n_features_in_))
    return "loaded"


def assert_truncations_refused(raw, lengths, directory):
    for length in lengths:
        path = directory / f"cut{length}"
        path.write_bytes(raw[:length])
        with pytest.raises(ValueError):
            vaekit.load(path)


def test_every_truncation_is_a_value_error(tmp_path):
    est, _ = fitted("ppca-closed_form", np.float64)
    est.save(tmp_path / "good.safetensors")
    raw = (tmp_path / "good.safetensors").read_bytes()
    assert_truncations_refused(raw, range(len(raw)), tmp_path)


def test_truncations_of_a_neural_model_are_value_errors(saved_vae, tmp_path):
    raw = saved_vae[2].read_bytes()
    assert_truncations_refused(raw, list(range(64)) + list(range(64, len(raw), 37)), tmp_path)


def test_flipped_bytes_give_a_model_or_a_value_error(saved_vae, tmp_path):
    raw = saved_vae[2].read_bytes()
    outcomes = {}
    for position in range(0, len(raw), 3):
        flipped = bytearray(raw)
        flipped[position] ^= 0x5A
        path = tmp_path / f"flip{position}"
        path.write_bytes(bytes(flipped))
        outcome = load_outcome(path)
        assert outcome in ("loaded", "ValueError"), f"byte {position}: {outcome}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("ValueError", 0) > 0 and outcomes.get("loaded", 0) > 0


def test_random_bytes_are_value_errors(tmp_path):
    rng = np.random.default_rng(0)
    for trial in range(100):
        raw = bytearray(rng.integers(0, 256, size=int(rng.integers(0, 3000)), dtype=np.uint8).tobytes())
        if trial % 2 and len(raw) >= 8:  # a plausible header length before random bytes
            raw[:8] = struct.pack("<Q", int(rng.integers(0, len(raw) - 7)))
        path = tmp_path / f"random{trial}"
        path.write_bytes(bytes(raw))
        with pytest.raises(ValueError):
            vaekit.load(path)


def test_a_header_length_of_2_to_the_62_is_refused_without_allocating(tmp_path):
    with pytest.raises(ValueError, match="header length 4611686018427387904 exceeds"):
        vaekit.load(write_file(tmp_path / "m", "{}", b"", length=2**62))


def test_shapes_claiming_terabytes_are_refused(saved_vae, tmp_path):
    def huge(header):
        header["encoder.0.weight"]["shape"] = [10**6, 10**6, 10**6]

    with pytest.raises(ValueError, match="needs more bytes than"):
        vaekit.load(rewrite(saved_vae[2], tmp_path / "m", huge))


def test_offsets_outside_the_file_are_refused(saved_vae, tmp_path):
    def outside(header):
        begin, end = header["encoder.0.bias"]["data_offsets"]
        header["encoder.0.bias"]["data_offsets"] = [begin + 10**9, end + 10**9]

    with pytest.raises(ValueError, match="reach past"):
        vaekit.load(rewrite(saved_vae[2], tmp_path / "m", outside))


def test_overlapping_offsets_are_refused(saved_vae, tmp_path):
    def overlap(header):
        header["encoder.0.bias"]["data_offsets"] = header["encoder.0.weight"]["data_offsets"][:1] + [
            header["encoder.0.weight"]["data_offsets"][0] + 4 * 6]

    with pytest.raises(ValueError, match="overlap|gap"):
        vaekit.load(rewrite(saved_vae[2], tmp_path / "m", overlap))


@pytest.mark.parametrize("dtype, message", [("BF16", "dtype BF16 is not supported"), ("X9", "unknown dtype"),
                                            ("F64", "spans|span")])
def test_wrong_dtypes_are_refused(saved_vae, tmp_path, dtype, message):
    def retype(header):
        header["decoder.1.bias"]["dtype"] = dtype

    with pytest.raises(ValueError, match=message):
        vaekit.load(rewrite(saved_vae[2], tmp_path / "m", retype))


def test_a_tensor_of_the_wrong_precision_is_refused(tmp_path):
    est, _ = fitted("ppca-closed_form", np.float32)
    est.save(tmp_path / "m.safetensors")
    header, body = header_of(tmp_path / "m.safetensors")
    # A float64 "mean" appended to the data; its float32 bytes stay, under another name.
    mean64 = est.mean_.astype(np.float64).tobytes()
    header["old_mean"] = header["mean"]
    header["mean"] = {"dtype": "F64", "shape": [5], "data_offsets": [len(body), len(body) + len(mean64)]}
    with pytest.raises(ValueError, match="tensor \"mean\" has dtype F64, expected F32"):
        vaekit.load(write_file(tmp_path / "m2", header, body + mean64))


@pytest.mark.parametrize("key, value, message", [
    ("kind", "GAN", "unknown model kind"),
    ("format_version", "2", "format version 2 is newer"),
    ("format_version", "x", "format_version"),
    ("dtype", "float16", "float32 or float64"),
    ("n_features", "6", "expected \\(6,\\)|expected \\(.*, 6\\)"),
    ("param.n_components", "3", "n_components=3"),
    ("param.activation", '"tanh"', "activation"),
    ("param.dtype", '"float64"', "dtype=float64"),
    ("param.colour", '"blue"', "unknown hyper-parameter 'colour'"),
    ("param.beta", "not json", "invalid VAE model file"),
    ("fitted.seed", "-1", "fitted.seed"),
    ("fitted.feature_names_in_", '["a"]', "feature_names_in_"),
])
def test_inconsistent_metadata_is_refused(saved_vae, tmp_path, key, value, message):
    def edit(header):
        header["__metadata__"][key] = value

    with pytest.raises(ValueError, match=message):
        vaekit.load(rewrite(saved_vae[2], tmp_path / "m", edit))


def test_non_string_metadata_is_refused(saved_vae, tmp_path):
    def edit(header):
        header["__metadata__"]["n_iter"] = 3

    with pytest.raises(ValueError, match="must be a string"):
        vaekit.load(rewrite(saved_vae[2], tmp_path / "m", edit))


def test_unexpected_and_missing_tensors_are_refused(saved_vae, tmp_path):
    def rename(header):
        header["encoder.9.weight"] = header.pop("encoder.0.weight")

    with pytest.raises(ValueError, match="missing tensor \"encoder.0.weight\""):
        vaekit.load(rewrite(saved_vae[2], tmp_path / "m", rename))


def test_non_finite_parameters_are_refused(tmp_path):
    est, _ = fitted("ppca-closed_form", np.float64)
    est.save(tmp_path / "m.safetensors")
    header, body = header_of(tmp_path / "m.safetensors")
    begin, _ = header["mean"]["data_offsets"]
    body = body[:begin] + struct.pack("<d", np.nan) + body[begin + 8:]
    with pytest.raises(ValueError, match="NaN or infinity"):
        vaekit.load(write_file(tmp_path / "nan", header, body))


def test_wrong_files_and_paths(tmp_path):
    text = tmp_path / "model.txt"
    text.write_text("not a model at all, just some text\n")
    with pytest.raises(ValueError, match="header length"):
        vaekit.load(text)
    with pytest.raises(FileNotFoundError):
        vaekit.load(tmp_path / "absent.safetensors")
    with pytest.raises(OSError):
        vaekit.load(tmp_path)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValueError, match="too short"):
        vaekit.load(tmp_path / "empty")


# ------------------------------------------------------------ atomic writes
def test_saving_replaces_an_existing_file_and_leaves_no_temporary(saved_vae, tmp_path):
    est = saved_vae[0]
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old contents")
    est.save(target)
    assert isinstance(vaekit.load(target), VAE)
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_a_failed_save_leaves_no_partial_file(saved_vae, tmp_path):
    est = saved_vae[0]
    with pytest.raises(FileNotFoundError):
        est.save(tmp_path / "absent" / "model.safetensors")
    assert not (tmp_path / "absent").exists()
    # Over a directory: the data is written, then the rename fails.
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "keep").write_bytes(b"k")
    with pytest.raises(OSError):
        est.save(tmp_path / "target")
    assert (tmp_path / "target" / "keep").read_bytes() == b"k"
    assert os.listdir(tmp_path) == ["target"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="POSIX permissions; root writes into read-only directories anyway")
def test_a_save_into_a_read_only_directory_leaves_the_target_untouched(saved_vae, tmp_path):
    est = saved_vae[0]
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old contents")
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            est.save(target)
    finally:
        tmp_path.chmod(0o755)
    assert target.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_the_loss_terms_survive_a_save_and_load(saved_vae, tmp_path):
    est, X, path = saved_vae
    loaded = vaekit.load(path)
    assert loaded.reconstruction_curve_ == est.reconstruction_curve_ and loaded.kl_curve_ == est.kl_curve_
    assert len(est.kl_curve_) == est.n_iter_
    # Training goes on from the loaded terms.
    loaded.partial_fit(X)
    assert loaded.kl_curve_[:-1] == est.kl_curve_ and len(loaded.reconstruction_curve_) == est.n_iter_ + 1


def test_a_file_without_the_loss_terms_loads_with_nan_for_them(saved_vae, safetensors, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    est, X, path = saved_vae
    with safe_open(str(path), framework="numpy") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    del tensors["history.reconstruction_curve"], tensors["history.kl_curve"]
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=metadata)
    loaded = vaekit.load(tmp_path / "old.safetensors")
    assert loaded.loss_curve_ == est.loss_curve_
    assert len(loaded.kl_curve_) == len(est.loss_curve_) and np.isnan(loaded.reconstruction_curve_ + loaded.kl_curve_).all()
    assert_same_predictions(est, loaded, X)
