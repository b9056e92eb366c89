"""The compiled core, ``vaekit._core``.

One extension module for every CPU of its platform: the C++ library inside it
carries its hot kernels compiled for several instruction sets (baseline, and
on x86-64 also AVX2/FMA and AVX-512) and picks the best one this CPU runs at
first use. ``VAEKIT_ISA=baseline|avx2|avx512`` forces one;
``core.active_isa()`` and ``vaekit.show_config()`` tell which is in use.
"""

from __future__ import annotations

from . import _core as core

try:
    core.active_isa()  # chooses the kernels once: a bad VAEKIT_ISA fails here, not in a fit
except ValueError as error:
    raise ImportError(str(error)) from None
