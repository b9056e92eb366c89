"""The instruction-set dispatch: the kernel copies of the installed C++
library keep to their own namespaces, VAEKIT_ISA picks one, and
show_config reports it."""

import io
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vaekit
from vaekit._native import core

ISAS = core.compiled_isas()


def test_show_config_reports_the_build_and_the_kernels():
    out = io.StringIO()
    vaekit.show_config(file=out)
    text = out.getvalue()
    assert core.__file__ in text
    assert core.active_isa() in ISAS and f"instruction set: {core.active_isa()}" in text
    assert all(f"{isa}: " in core.kernel_flags for isa in ISAS) and core.kernel_flags in text
    assert f"Eigen:                 {core.eigen_version}" in text
    assert re.fullmatch(r"3\.4\.\d+", core.eigen_version)
    assert core.compiler and "build flags" in text


def test_the_build_holds_every_instruction_set_of_its_platform():
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    assert ISAS == (["avx512", "avx2", "baseline"] if x86 else ["baseline"])


def test_one_extension_module_serves_every_instruction_set():
    package = Path(vaekit.__file__).parent
    modules = [path.name for path in package.iterdir() if path.name.startswith("_core") and
               path.suffix in (".so", ".pyd")]
    assert len(modules) == 1 and modules[0].startswith("_core."), modules


def test_kernel_copies_define_symbols_only_in_their_own_namespaces():
    # Each copy of the kernels is compiled with its own instruction-set flags:
    # a symbol it defined outside its namespaces (an inline function or a
    # template of Eigen or of the standard library) could be the one the
    # linker keeps for every caller, and run AVX-512 code on a CPU without it.
    try:
        library = Path(vaekit.get_cmake_dir()).parents[1] / "libvaekit.a"
    except FileNotFoundError:
        pytest.skip("this vaekit has no C++ package")
    nm = shutil.which("nm")
    if not library.is_file() or nm is None or sys.platform != "linux":
        pytest.skip("needs the static library and GNU nm (Linux)")
    listing = subprocess.run([nm, "--defined-only", str(library)], capture_output=True, text=True,
                             check=True).stdout
    members = re.split(r"\n(?=\S+\.o:\n)", "\n" + listing)
    kernels = [member for member in members if member.strip().startswith("isa_kernels.cpp.o:")]
    expected = 3 if platform.machine().lower() in ("x86_64", "amd64") else 1
    assert len(kernels) == expected
    # A symbol is safe when its mangled name holds its copy's own namespace
    # (vaekit::detail::<isa>, or the renamed Eigen vaekit_eigen_<isa>): no
    # other object file can define the same name.
    own = re.compile(r"vaekit_eigen_(baseline|avx2|avx512)|6detail(8baseline|4avx2|6avx512)|"
                     r"^DW\.ref\.__gxx_personality_v0$")
    strays, checked = [], 0
    for member in kernels:
        for line in member.splitlines()[1:]:
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TWVRDBu":
                checked += 1
                if not own.search(parts[2]):
                    strays.append(parts[2])
    assert checked > 0
    assert not strays, f"symbols defined outside the kernels' namespaces: {strays[:10]}"
