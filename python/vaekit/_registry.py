"""The kinds of model: for each kind of model file, the estimator class that
holds it and the function that restores a fitted estimator from a loaded file.

Each estimator module registers its class when it is imported, as skl2onnx's
converter registry does; the code that handles any model (``vaekit.load``,
the command line) loops over the registered kinds and never names a class.
The kinds themselves come from the C++ library (``vaekit::model_kinds()``):
registering another name is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ._native import core


@dataclass(frozen=True)
class ModelKind:
    """A registered kind of model."""

    name: str
    """As model files and the C++ library spell it: "PPCA", "Autoencoder", "VAE"."""
    estimator: type
    """The estimator class."""
    restore: Callable
    """``restore(estimator, native, metadata)``: sets the fitted state of a new
    estimator (built from the file's hyper-parameters) from the native model
    read from the file and the file's metadata; raises ValueError when they
    disagree."""

    @property
    def command(self):
        """The kind's name on the command line (``vaekit fit vae``)."""
        return self.name.lower()


_KINDS: dict[str, ModelKind] = {}


def register(name, estimator, restore):
    """Registers the estimator class of the model kind ``name``."""
    if name not in core.model_kinds():
        raise ValueError(f"{name!r} is not a kind of model the C++ library knows ({core.model_kinds()})")
    _KINDS[name] = ModelKind(name, estimator, restore)


def kind(name):
    """The registered kind ``name``; ValueError for an unknown one."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"unknown model kind {name!r} (expected one of {', '.join(_KINDS)})") from None


def kinds():
    """Every registered kind, in the C++ library's order."""
    return [_KINDS[name] for name in core.model_kinds() if name in _KINDS]
