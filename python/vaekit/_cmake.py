"""Where an installed vaekit keeps its C++ library for CMake projects.

The wheel carries the static library (baseline instruction set), the public
headers and the CMake package inside the Python package:
``vaekit/include``, ``vaekit/lib`` and ``vaekit/lib/cmake/vaekit``.
"""

from __future__ import annotations

from pathlib import Path

_CMAKE_DIR = Path(__file__).resolve().parent / "lib" / "cmake" / "vaekit"


def get_cmake_dir() -> str:
    """The folder of vaekit's CMake package, to put in ``CMAKE_PREFIX_PATH``.

    ``cmake -DCMAKE_PREFIX_PATH="$(python -m vaekit --cmake-dir)" ...`` then
    lets ``find_package(vaekit CONFIG REQUIRED)`` and
    ``target_link_libraries(app PRIVATE vaekit::vaekit)`` work.

    Raises FileNotFoundError when this installation has no C++ package (built
    with ``-Ccmake.define.VAEKIT_CPP_PACKAGE=OFF``).
    """
    if not (_CMAKE_DIR / "vaekitConfig.cmake").is_file():
        raise FileNotFoundError(
            f"vaekit's CMake package is not installed (no vaekitConfig.cmake in {_CMAKE_DIR}); "
            "this vaekit was built with VAEKIT_CPP_PACKAGE=OFF"
        )
    return str(_CMAKE_DIR)
