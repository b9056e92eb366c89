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

from . import _registry
from ._description import fields, parse_metadata_value
from ._native import core

_PARAM_PREFIX = "param."
_FEATURE_NAMES_KEY = "fitted.feature_names_in_"


class ModelFileMixin:
    """``save(path)`` for the estimators; ``vaekit.load`` reads the file back.

    An estimator class that takes it implements ``_native_for_file`` (and
    ``_fitted_metadata`` for state the C++ model does not hold) and registers
    its kind with ``_registry.register``.
    """

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
        metadata = {_PARAM_PREFIX + name: _encode_param(name, value)
                    for name, value in self.get_params(deep=False).items()}
        metadata.update(self._fitted_metadata())
        if hasattr(self, "feature_names_in_"):
            metadata[_FEATURE_NAMES_KEY] = json.dumps([str(name) for name in self.feature_names_in_])
        core.save_model(path, self._native_for_file(), metadata)
        return self

    # Hooks of the estimator classes that take this mixin.
    def _native_for_file(self):
        """The fitted C++ model to write."""
        raise NotImplementedError

    def _fitted_metadata(self):
        """Python-only fitted state as {metadata key: text}, read back by the
        kind's ``restore`` (see ``_registry``)."""
        return {}


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
    path = os.fspath(path)
    native, info = core.load_model(path)
    metadata = info["metadata"]
    kind = _registry.kind(info["kind"])
    try:
        estimator = kind.estimator(**_decode_params(kind, metadata, info["dtype"]))
        kind.restore(estimator, native, metadata)
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


# ----------------------------------------------------------------- loading
def _decode_params(kind, metadata, dtype):
    """The constructor's arguments: defaults, then the hyper-parameters the
    C++ library records (for files written by a C++ program, which have no
    "param." entries), then the saved hyper-parameters."""
    names = set(kind.estimator().get_params(deep=False))
    params = {}
    for field in fields(kind.name, "hyper_parameters"):
        if field["name"] in names and field["name"] in metadata:
            params[field["name"]] = parse_metadata_value(field, metadata[field["name"]])
    if "dtype" in names:
        params["dtype"] = np.dtype(dtype).type
    for key, text in metadata.items():
        if not key.startswith(_PARAM_PREFIX):
            continue
        name = key[len(_PARAM_PREFIX):]
        if name not in names:
            raise ValueError(f"unknown hyper-parameter {name!r} for {kind.name}")
        value = json.loads(text)
        if name == "hidden_layer_sizes" and isinstance(value, list):
            value = tuple(value)
        elif name == "dtype" and value in ("float32", "float64"):
            value = np.dtype(value).type
        params[name] = value
    return params
