"""Command line: ``python -m vaekit --cmake-dir`` prints the folder of
vaekit's CMake package (for ``CMAKE_PREFIX_PATH``).

Subcommands (``fit``, ``encode``, ...) plug in through ``add_subparsers`` in
``build_parser``: each sets ``run`` with ``set_defaults(run=function)``, and
``main`` calls ``run(args)`` and exits with what it returns.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from ._cmake import get_cmake_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vaekit",
        description="vaekit: probabilistic PCA, autoencoders and VAEs with a C++ core.",
    )
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    parser.add_argument(
        "--cmake-dir",
        action="store_true",
        help="print the folder of vaekit's CMake package (put it in CMAKE_PREFIX_PATH) and exit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmake_dir:
        try:
            print(get_cmake_dir())
        except FileNotFoundError as error:
            print(f"python -m vaekit: {error}", file=sys.stderr)
            return 1
        return 0
    if hasattr(args, "run"):
        return args.run(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
