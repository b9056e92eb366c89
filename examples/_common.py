"""What every example shares: the command line, the data and saving figures.

Not an example itself; the scripts beside it import it (Python puts a
script's own directory first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import io
import os
import time
import warnings
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")  # headless by default: the examples only write files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from PIL import Image  # noqa: E402  (a dependency of matplotlib)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

# The examples train for a fixed number of epochs, chosen for the pictures;
# that the loss is still creeping down at the end is expected, not a problem.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

DPI = 100
NO_DITHER = 0  # Image.Dither.NONE in Pillow >= 9.1


def parse_args(description: str) -> argparse.Namespace:
    """``--output-dir DIR`` (default: the current directory) and ``--quick``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--output-dir", type=Path, default=Path("."),
                        help="where to write the PNG files (default: the current directory)")
    parser.add_argument("--quick", action="store_true",
                        help="train for far fewer epochs (for the test suite); the pictures are rougher")
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    return args


def load_digits_unit():
    """scikit-learn's 8 x 8 digits, 1797 images with pixels scaled to [0, 1], and their labels."""
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float64), y


def save(fig, output_dir: Path, name: str) -> Path:
    """Write ``fig`` as ``output_dir/name`` (a small PNG) and close it."""
    path = output_dir / name
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    # A 256-colour palette (no dithering) makes the file 3-4 times smaller
    # than 24-bit colour, with no visible change for plots.
    image = Image.open(buffer).convert("RGB").quantize(colors=256, dither=NO_DITHER)
    image.save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")
    return path


class Timer:
    """``with Timer("what"):`` prints how long the block took."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        print(f"{self.what}: {self.seconds:.1f} s")
        return False
