"""Loads the compiled core built for the best instruction set this CPU runs.

The wheel carries the core compiled more than once: ``_core`` for the
platform baseline (x86-64 SSE2, arm64 NEON) and, on x86-64, ``_core_avx2``
(x86-64-v3: AVX2, FMA) and ``_core_avx512`` (x86-64-v4: AVX-512). Each is a
whole, separate extension module, so instruction-set flags never mix inside
one shared object. ``VAEKIT_ISA=baseline|avx2|avx512`` forces a variant.
"""

from __future__ import annotations

import importlib
import os

from . import _core as _baseline

# Variant name -> (module, x86-64 level it needs), best first.
_VARIANTS = {
    "avx512": ("vaekit._core_avx512", 4),
    "avx2": ("vaekit._core_avx2", 3),
    "baseline": ("vaekit._core", 1),
}


def _load_core():
    requested = os.environ.get("VAEKIT_ISA", "auto").strip().lower() or "auto"
    level = _baseline.x86_64_level()
    if requested == "auto":
        for module, needed in _VARIANTS.values():
            if level >= needed:
                try:
                    return importlib.import_module(module)
                except ImportError:  # a build without this variant (e.g. arm64)
                    continue
        return _baseline
    if requested not in _VARIANTS:
        raise ImportError(
            f"VAEKIT_ISA={requested!r} is not a known variant; use 'auto' or one of "
            + ", ".join(repr(name) for name in _VARIANTS)
        )
    module, needed = _VARIANTS[requested]
    if level < needed:
        raise ImportError(f"VAEKIT_ISA={requested!r} was requested but this CPU does not support it")
    return importlib.import_module(module)


core = _load_core()
"""The extension module in use; ``core.variant`` names it."""
