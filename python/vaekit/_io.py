"""Model files: ``est.save(path)`` and ``vaekit.load(path)``.

One safetensors file per model, written and validated by the C++ library
(``cpp/include/vaekit/io.hpp`` documents the layout). The C++ side stores
what rebuilds the model (architecture, parameters, training history, Adam's
state); this module adds the estimator's hyper-parameters as metadata entries
``param.<name>`` (JSON-encoded) and the Python-only fitted state (the seed of
``score_samples``, ``feature_names_in_``) as ``fitted.<name>``.
"""

from __future__ import annotations

import json
import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._native import core

_PARAM_PREFIX = "param."
_SEED_KEY = "fitted.seed"
_FEATURE_NAMES_KEY = "fitted.feature_names_in_"

# Hyper-parameters the C++ metadata also records (canonically), used when a
# file has no "param.<name>" entry for them, e.g. one written by a C++ program.
_ARCHITECTURE_KEYS = {
    "n_components": int,
    "hidden_layer_sizes": lambda text: tuple(json.loads(text)),
    "activation": str,
    "loss": str,
    "likelihood": str,
    "decoder_variance": str,
    "noise_variance": float,
    "beta": float,
    "n_mc_samples": int,
}


class ModelFileMixin:
    """``save(path)`` for the estimators; ``vaekit.load`` reads the file back."""

    def save(self, path):
        """Save the fitted model to one file in the safetensors format.

        The file holds the hyper-parameters, the fitted parameters and the
        training state; ``vaekit.load(path)`` returns an equivalent fitted
        estimator, and the C++ library loads it too. The file is written
        under a temporary name and renamed, so a failed save leaves any
        existing file untouched.

        Parameters
        ----------
        path : str or os.PathLike
            Conventionally ending in ``.safetensors``.

        Returns
        -------
        self : object
            The estimator, unchanged.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        OSError
            If the file cannot be written.

        See Also
        --------
        vaekit.load : Read the file back into a fitted estimator.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from vaekit import PPCA, load
        >>> X = np.random.default_rng(0).normal(size=(100, 5))
        >>> path = os.path.join(tempfile.mkdtemp(), "ppca.safetensors")
        >>> ppca = PPCA(n_components=2).fit(X).save(path)
        >>> np.allclose(load(path).transform(X), ppca.transform(X))
        True
        """
        check_is_fitted(self)
        path = os.fspath(path)
        native = _native_for_file(self)
        metadata = {_PARAM_PREFIX + name: _encode_param(name, value)
                    for name, value in self.get_params(deep=False).items()}
        if hasattr(self, "_seed"):
            metadata[_SEED_KEY] = str(int(self._seed))
        if hasattr(self, "feature_names_in_"):
            metadata[_FEATURE_NAMES_KEY] = json.dumps([str(name) for name in self.feature_names_in_])
        core.save_model(path, native, metadata)
        return self


def load(path):
    """Load a model saved with ``est.save(path)`` (or by the C++ library).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    estimator : PPCA, Autoencoder or VAE
        Fitted, with the hyper-parameters, dtype and fitted attributes it was
        saved with: ``transform``, ``inverse_transform``, ``score_samples``
        and ``sample`` give the same results as the saved estimator.

    Raises
    ------
    ValueError
        If the file is not a valid vaekit model file (truncated, corrupted,
        foreign, or from a newer format version).
    OSError
        If the file cannot be read.
    """
    from .autoencoder import Autoencoder
    from .ppca import PPCA
    from .vae import VAE

    path = os.fspath(path)
    native, info = core.load_model(path)
    metadata = info["metadata"]
    estimator_class = {"PPCA": PPCA, "Autoencoder": Autoencoder, "VAE": VAE}[info["kind"]]
    try:
        estimator = estimator_class(**_decode_params(estimator_class, metadata, info["dtype"]))
        if estimator_class is PPCA:
            _restore_ppca(estimator, native)
        else:
            _restore_neural(estimator, native, metadata, info["dtype"])
        if _FEATURE_NAMES_KEY in metadata:
            names = json.loads(metadata[_FEATURE_NAMES_KEY])
            if not (isinstance(names, list) and len(names) == estimator.n_features_in_
                    and all(isinstance(name, str) for name in names)):
                raise ValueError(f"{_FEATURE_NAMES_KEY} must list {estimator.n_features_in_} strings")
            estimator.feature_names_in_ = np.asarray(names, dtype=object)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path!r}: invalid {info['kind']} model file: {error}") from error
    return estimator


# ------------------------------------------------------------------ saving
def _encode_param(name, value):
    """A hyper-parameter as JSON text (a RandomState instance is saved as None)."""
    if name == "dtype":
        value = np.dtype(value).name
    elif name == "random_state" and not (value is None or isinstance(value, Integral)):
        value = None
    return json.dumps(_plain(value))


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _native_for_file(estimator):
    """The C++ model to save, with its fitted state."""
    from .ppca import PPCA, _native_class

    if isinstance(estimator, PPCA):
        dtype = estimator.components_.dtype
        curve = np.asarray(getattr(estimator, "log_likelihood_curve_", ()), dtype=np.float64)
        return _native_class(dtype).restore(
            np.ascontiguousarray(estimator.components_), np.ascontiguousarray(estimator.mean_),
            estimator.noise_variance_, np.ascontiguousarray(estimator.explained_variance_, dtype=dtype),
            int(estimator.n_iter_), curve.tolist())
    return estimator._native_model()


# ----------------------------------------------------------------- loading
def _decode_params(estimator_class, metadata, dtype):
    """The constructor's arguments: defaults, then the C++ architecture
    entries, then the saved hyper-parameters."""
    names = set(estimator_class._get_param_names())
    params = {}
    for name, parse in _ARCHITECTURE_KEYS.items():
        if name in names and name in metadata:
            params[name] = parse(metadata[name])
    if "dtype" in names:
        params["dtype"] = np.dtype(dtype).type
    for key, text in metadata.items():
        if not key.startswith(_PARAM_PREFIX):
            continue
        name = key[len(_PARAM_PREFIX):]
        if name not in names:
            raise ValueError(f"unknown hyper-parameter {name!r} for {estimator_class.__name__}")
        value = json.loads(text)
        if name == "hidden_layer_sizes" and isinstance(value, list):
            value = tuple(value)
        elif name == "dtype" and value in ("float32", "float64"):
            value = np.dtype(value).type
        params[name] = value
    return params


def _restore_ppca(estimator, native):
    estimator._validate_params()
    if estimator.n_components != native.components.shape[0]:
        raise ValueError(f"n_components={estimator.n_components} but the file holds "
                         f"{native.components.shape[0]} components")
    estimator._set_fitted(native)
    estimator.n_features_in_ = native.components.shape[1]
    if estimator.method == "em":
        estimator.log_likelihood_curve_ = np.asarray(native.log_likelihood_curve, dtype=np.float64)


def _restore_neural(estimator, native, metadata, dtype):
    estimator._check_training_params()
    if np.dtype(estimator.dtype).name != dtype:
        raise ValueError(f"dtype={np.dtype(estimator.dtype).name} but the parameters are {dtype}")
    loaded = core.model_metadata(native)
    # Sizes first, so that the comparison model below is no larger than the loaded one.
    if (estimator.n_components != int(loaded["n_components"])
            or estimator._hidden_sizes != json.loads(loaded["hidden_layer_sizes"])):
        raise ValueError(f"n_components={estimator.n_components} and hidden_layer_sizes="
                         f"{estimator.hidden_layer_sizes!r} do not match the architecture in the file")
    estimator._architecture = estimator._native_arguments()
    estimator.n_features_in_ = int(loaded["n_features"])
    expected = core.model_metadata(estimator._native_class(dtype)(estimator.n_features_in_, *estimator._architecture))
    mismatched = sorted(key for key in expected if key != "n_iter" and expected[key] != loaded.get(key))
    if mismatched:
        details = ", ".join(f"{key}: {expected[key]!r} vs {loaded.get(key)!r}" for key in mismatched)
        raise ValueError(f"the hyper-parameters do not match the model in the file ({details})")
    seed = int(metadata.get(_SEED_KEY, "0"))
    if not 0 <= seed < 2**64:
        raise ValueError(f"{_SEED_KEY} must be a 64-bit unsigned integer, got {seed}")
    estimator._seed = seed
    estimator._store(native)
