"""Building C++ programs against vaekit's CMake package, for the tests that
do it (test_cmake_package.py, test_cpp_example.py). Not a test module."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import vaekit


def installed_cmake_dir():
    try:
        return Path(vaekit.get_cmake_dir())
    except FileNotFoundError as error:
        pytest.skip(str(error))


def run(command, cwd, what):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise AssertionError(f"{what} failed ({' '.join(map(str, command))}):\n{result.stdout}\n{result.stderr}")
    return result


def build_cmake_project(source, build, prefix, target):
    """Configures and builds the CMake project in ``source`` (Release) with
    ``CMAKE_PREFIX_PATH=prefix``; returns the path of the executable ``target``.
    Skips the test when there is no cmake or no C++ compiler."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not on PATH: this test builds a C++ program against vaekit's CMake package")
    configure = [cmake, "-S", source, "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"]
    # Ninja needs the compiler on PATH, which MSVC is not outside a developer
    # prompt; CMake's default Visual Studio generator finds it by itself.
    if shutil.which("ninja") and os.name != "nt":
        configure += ["-G", "Ninja"]
    result = subprocess.run(configure, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    if result.returncode != 0 and ("No CMAKE_CXX_COMPILER could be found" in output
                                   or "CMAKE_CXX_COMPILER not set" in output):
        pytest.skip("CMake found no C++ compiler")
    assert result.returncode == 0, f"configuring the C++ program failed:\n{result.stdout}\n{result.stderr}"
    run([cmake, "--build", build, "--config", "Release"], build, "building the C++ program")
    names = (target, f"{target}.exe")
    return next(path for path in Path(build).rglob(f"{target}*") if path.is_file() and path.name in names)
