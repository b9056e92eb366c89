"""Loads the compiled core built for the best instruction set this CPU runs.

The wheel carries the core compiled more than once (``_core``: the platform
baseline; ``_core_avx2``: x86-64-v3 with AVX2 and FMA). Each is a whole,
separate extension module, so instruction-set flags never mix inside one
shared object. Set ``VAEKIT_ISA=baseline`` (or ``avx2``) to force a variant.
"""

from __future__ import annotations

import importlib
import os

from . import _core as _baseline

_VARIANTS = {"baseline": "vaekit._core", "avx2": "vaekit._core_avx2"}


def _load_core():
    requested = os.environ.get("VAEKIT_ISA", "auto").strip().lower() or "auto"
    if requested == "auto":
        if _baseline.cpu_supports_x86_64_v3():
            try:
                return importlib.import_module(_VARIANTS["avx2"])
            except ImportError:  # a build without the variant (e.g. arm64)
                pass
        return _baseline
    if requested not in _VARIANTS:
        raise ImportError(
            f"VAEKIT_ISA={requested!r} is not a known variant; use one of 'auto', "
            + ", ".join(repr(name) for name in _VARIANTS)
        )
    if requested == "avx2" and not _baseline.cpu_supports_x86_64_v3():
        raise ImportError("VAEKIT_ISA='avx2' was requested but this CPU does not support AVX2/FMA")
    return importlib.import_module(_VARIANTS[requested])


core = _load_core()
"""The extension module in use; ``core.variant`` names it."""
