"""vaekit.show_config(): how the core in use was built and what it runs on."""

from __future__ import annotations

import sys

from ._native import core

_OPENMP_VERSIONS = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0", 201511: "4.5", 201811: "5.0",
                    202011: "5.1", 202111: "5.2"}


def show_config(file=None):
    """Print how vaekit's C++ core was built and what it runs on.

    Like ``numpy.show_config()``: the instruction set of the kernels in use
    (``VAEKIT_ISA`` forces one), the CPU's x86-64 level, OpenMP and the
    default thread count, the Eigen version, the compiler, the build flags
    and the flags of each instruction set's kernels.

    Parameters
    ----------
    file : file-like, default=None
        Where to print; None: ``sys.stdout``.

    Examples
    --------
    >>> import vaekit
    >>> vaekit.show_config()  # doctest: +ELLIPSIS
    vaekit ...
    """
    openmp = core.openmp_version
    lines = [
        f"vaekit {core.__version__}",
        f"  extension module:      {core.__file__}",
        f"  kernels' instruction set: {core.active_isa()} (VAEKIT_ISA forces baseline, avx2 or avx512)",
        f"  CPU x86-64 level:      {core.x86_64_level()} (4: AVX-512, 3: AVX2/FMA, 1: baseline or not x86-64)",
        "  OpenMP:                " + (f"{_OPENMP_VERSIONS.get(openmp, openmp)} ({openmp}), "
                                      f"{core.default_threads()} threads by default" if core.openmp_enabled()
                                      else "not compiled in (one thread)"),
        f"  Eigen:                 {core.eigen_version}",
        f"  compiler:              {core.compiler}",
        f"  build flags:           {core.build_flags or '(none)'}",
        f"  kernel flags:          {core.kernel_flags}",
    ]
    print("\n".join(lines), file=file or sys.stdout)
