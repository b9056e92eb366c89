"""vaekit's C++ library, as a C++ service gets it, against the Python module,
side by side in one script.

The C++ side is bench/cpp_vs_python/timing.cpp, built with default CMake
flags (Release, no -march) against the installed vaekit's CMake package
(``vaekit.get_cmake_dir()``, or --prefix: a plain CMake install). Both sides
use the same model file, a VAE(20, hidden_layer_sizes=(400,)) trained one
epoch on the data, or a PPCA(20), and THREADS threads. Figures, for dense
data (a 20-d latent through a tanh layer, plus noise: no zeros) and binarised
images (bench/compare.py's stand-in):
  - transform of all N_ROWS rows;
  - one-sample transform (median of 1,000 calls);
  - one training epoch (partial_fit, batches of 128; dense data only);
  - PPCA (dense data): a closed-form fit, 20 EM iterations (tol = 0).
ROUNDS rounds, Python and C++ alternating (the C++ program starts once per
round, warms up with one repetition and times the second). Ratio: Python
seconds / C++ seconds, so 1 means the C++ program is as fast as Python; the
production issue asks >= 0.9.

    python bench/cpp_vs_python.py            # a few minutes
    python bench/cpp_vs_python.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from compare import Stat, binarized_images, cpu_description, dense_rows  # noqa: E402

N_ROWS = 20_000
ROUNDS = 5
THREADS = 2
QUICK = {"N_ROWS": 2_000, "ROUNDS": 2}


def build_program(work_dir, prefix):
    """Builds timing.cpp with default flags against the vaekit CMake package under prefix."""
    cmake = shutil.which("cmake") or shutil.which("cmake", path=os.path.dirname(sys.executable))
    eigen = subprocess.run([sys.executable, "-m", "cmeel", "cmake"], capture_output=True, text=True).stdout.strip()
    build = os.path.join(work_dir, "build")
    for step in ([cmake, "-S", os.path.join(REPO, "bench", "cpp_vs_python"), "-B", build,
                  f"-DCMAKE_PREFIX_PATH={prefix};{eigen}"],
                 [cmake, "--build", build, "--config", "Release"]):
        output = subprocess.run(step, capture_output=True, text=True)
        if output.returncode != 0:
            raise RuntimeError(f"{' '.join(step[:2])} failed:\n{(output.stdout + output.stderr)[-3000:]}")
    for name in ("vaekit_timing", "vaekit_timing.exe", os.path.join("Release", "vaekit_timing.exe")):
        if os.path.exists(os.path.join(build, name)):
            return os.path.join(build, name)
    raise RuntimeError("vaekit_timing was not built")


def run_cpp(program, model, data, X, what):
    """The C++ program's second repetition (the first warms it up, as
    python_seconds' caller does for Python): isa, seconds."""
    output = subprocess.run([program, model, data, str(X.shape[0]), str(X.shape[1]), what, "2", str(THREADS)],
                            capture_output=True, text=True, check=True).stdout.split()
    return output[1], float(output[3])


def python_seconds(vae, X, what):
    if what == "transform":
        start = time.perf_counter()
        vae.transform(X)
        return time.perf_counter() - start
    if what == "one":
        x1 = np.ascontiguousarray(X[:1])
        calls = []
        for _ in range(1000):
            start = time.perf_counter()
            vae.transform(x1)
            calls.append(time.perf_counter() - start)
        return statistics.median(calls)
    start = time.perf_counter()
    if what == "epoch":
        vae.partial_fit(X)
    elif what == "fit":
        vae.fit(X)
    else:  # "em": the same 20 iterations as the C++ side
        vae.set_params(method="em", max_iter=20, tol=0.0).fit(X)
        vae.set_params(method="closed_form")
    return time.perf_counter() - start


def text(stat, scale, digits):
    return f"{stat.median * scale:,.{digits}f} [{stat.min * scale:,.{digits}f}-{stat.max * scale:,.{digits}f}]"


def main():
    global N_ROWS, ROUNDS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rows and rounds: a smoke run")
    parser.add_argument("--prefix", default=None,
                        help="a CMake install prefix of vaekit (default: the installed Python package's)")
    args = parser.parse_args()
    if args.quick:
        N_ROWS, ROUNDS = QUICK["N_ROWS"], QUICK["ROUNDS"]
    import vaekit
    from vaekit._native import core

    prefix = args.prefix or vaekit.get_cmake_dir()
    print(f"vaekit {vaekit.__version__}: Python module {core.active_isa()}; C++ package {prefix}; {cpu_description()}; "
          f"{THREADS} threads", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vaekit-cpp-") as work_dir:
        program = build_program(work_dir, prefix)
        dense = dense_rows(N_ROWS)
        for name, X, kind, whats in (("dense", dense, "VAE", ("transform", "one", "epoch")),
                                     ("binary images", binarized_images(N_ROWS), "VAE", ("transform", "one")),
                                     ("dense", dense, "PPCA", ("transform", "one", "fit", "em"))):
            stem = f"{kind}_{name.replace(' ', '_')}"
            model = os.path.join(work_dir, f"{stem}.safetensors")
            data = os.path.join(work_dir, f"{stem}.f32")
            likelihood = "bernoulli" if name == "binary images" else "gaussian"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if kind == "VAE":
                    estimator = vaekit.VAE(20, hidden_layer_sizes=(400,), likelihood=likelihood, max_iter=1,
                                           random_state=0, n_threads=THREADS)
                else:
                    estimator = vaekit.PPCA(20)  # all cores: THREADS on the 2-core machine
                estimator.fit(X).save(model)
            np.ascontiguousarray(X, dtype=np.float32).tofile(data)
            vae = vaekit.load(model)
            if kind == "VAE":
                vae.set_params(n_threads=THREADS)
            for what in whats:
                python_times, cpp_times = [], []
                python_seconds(vae, X, what)  # warm-up
                for _ in range(ROUNDS):
                    python_times.append(python_seconds(vae, X, what))
                    isa, seconds = run_cpp(program, model, data, X, what)
                    cpp_times.append(seconds)
                py, cpp = Stat(python_times), Stat(cpp_times)
                ratio = Stat([py.median / cpp.median, py.min / cpp.max, py.max / cpp.min])
                unit, scale, digits = ("us", 1e6, 1) if what == "one" else ("s", 1, 3)
                label = {"transform": f"transform {N_ROWS:,} x 784", "one": "one-sample transform",
                         "epoch": f"training epoch {N_ROWS:,} x 784, batch 128",
                         "fit": f"closed-form fit {N_ROWS:,} x 784", "em": f"20 EM iterations {N_ROWS:,} x 784"}[what]
                model_name = "VAE 784-400-20" if kind == "VAE" else "PPCA 784-20"
                rows.append((f"{model_name} {label}, {name}", text(cpp, scale, digits), text(py, scale, digits),
                             unit, f"{ratio.median:.2f} [{ratio.min:.2f}-{ratio.max:.2f}]", isa,
                             "yes" if ratio.median >= 0.9 else "MISS"))
                print("  ROW | " + " | ".join(rows[-1]), flush=True)
    header = ["figure", "C++ (default flags)", "Python", "unit", "ratio Python/C++ (goal >= 0.9)", "C++ ISA", "met"]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
