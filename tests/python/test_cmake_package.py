"""The installed vaekit carries a CMake package for C++ programs: the static
library, the headers and vaekitConfig.cmake, found with
``CMAKE_PREFIX_PATH=$(python -m vaekit --cmake-dir)``. A small C++ program
built against it gives the same PPCA fit as the Python estimator.

With ``VAEKIT_TEST_CMAKE_PREFIX`` set to the prefix of a plain CMake install
(``cmake --install build --prefix P``), the same program is also built
against that install (.ci/run does this)."""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cpp_build import build_cmake_project, installed_cmake_dir, run

import vaekit
from vaekit import PPCA


def test_cmake_dir_holds_the_package_config_library_and_headers():
    cmake_dir = installed_cmake_dir()
    for name in ("vaekitConfig.cmake", "vaekitConfigVersion.cmake", "vaekitTargets.cmake"):
        assert (cmake_dir / name).is_file(), name
    package_dir = Path(vaekit.__file__).parent
    assert cmake_dir == package_dir / "lib" / "cmake" / "vaekit"
    assert (package_dir / "include" / "vaekit" / "ppca.hpp").is_file()
    libraries = list((package_dir / "lib").glob("*vaekit.*"))
    assert [path.suffix for path in libraries] in ([".a"], [".lib"]), libraries


def test_command_line_prints_the_cmake_dir():
    result = subprocess.run(
        [sys.executable, "-m", "vaekit", "--cmake-dir"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == vaekit.get_cmake_dir()


def test_command_line_without_arguments_prints_usage():
    result = subprocess.run([sys.executable, "-m", "vaekit"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--cmake-dir" in result.stdout


def test_python_and_cmake_versions_agree():
    # One version, set in CMakeLists.txt: the wheel's metadata (pyproject's
    # dynamic version), the compiled core and the CMake package all carry it.
    assert importlib.metadata.version("vaekit") == vaekit.__version__
    version_file = (installed_cmake_dir() / "vaekitConfigVersion.cmake").read_text()
    assert re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', version_file).group(1) == vaekit.__version__


# Ten samples of a planted one-dimensional structure in three features.
DATA = np.array(
    [
        [2.0, 1.1, -0.3],
        [1.2, 0.4, 0.2],
        [-0.7, -0.5, 0.9],
        [0.3, 0.2, 0.1],
        [-1.9, -1.2, 1.4],
        [0.8, 0.7, -0.2],
        [-0.4, 0.1, 0.5],
        [1.6, 0.9, -0.8],
        [-1.1, -0.8, 0.3],
        [0.2, -0.1, 0.6],
    ]
)

CONSUMER_CMAKE = """\
cmake_minimum_required(VERSION 3.18)
project(vaekit_consumer LANGUAGES CXX)
find_package(vaekit {version} CONFIG REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE vaekit::vaekit)
"""

CONSUMER_MAIN = """\
#include <cstdio>

#include <vaekit/ppca.hpp>

int main() {{
  vaekit::RowMatrix<double> X({n}, {D});
  X << {values};
  vaekit::PPCAOptions options;
  options.n_components = 1;
  const auto model = vaekit::PPCA<double>::fit(X, options);
  std::printf("%.17g %.17g\\n", model.noise_variance(), model.score_samples(X).mean());
  return 0;
}}
"""


def cmake_prefix(package):
    if package == "wheel":
        return installed_cmake_dir()
    prefix = os.environ.get("VAEKIT_TEST_CMAKE_PREFIX")
    if not prefix:
        pytest.skip("VAEKIT_TEST_CMAKE_PREFIX is not set (the prefix of a plain CMake install of vaekit)")
    return Path(prefix)


@pytest.mark.parametrize("package", ["wheel", "plain CMake install"])
def test_cpp_program_built_against_the_package_matches_python(tmp_path, package):
    prefix = cmake_prefix(package)
    source, build = tmp_path / "consumer", tmp_path / "build"
    source.mkdir()
    (source / "CMakeLists.txt").write_text(CONSUMER_CMAKE.format(version=vaekit.__version__))
    values = ", ".join(repr(float(value)) for value in DATA.ravel())
    (source / "main.cpp").write_text(CONSUMER_MAIN.format(n=DATA.shape[0], D=DATA.shape[1], values=values))
    executable = build_cmake_project(source, build, prefix, "consumer")
    noise_variance, mean_log_likelihood = map(float, run([executable], tmp_path, "running it").stdout.split())

    ppca = PPCA(n_components=1).fit(DATA)
    # Python may run an AVX2/AVX-512 build of the core, the static library the
    # baseline one: the same algorithm, rounding may differ in the last bits.
    np.testing.assert_allclose(noise_variance, ppca.noise_variance_, rtol=1e-10)
    np.testing.assert_allclose(mean_log_likelihood, ppca.score(DATA), rtol=1e-10)
