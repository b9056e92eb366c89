"""vaekit's transform against the same model exported to ONNX and run by
onnxruntime, side by side in one process.

For each model, on 20,000 x 784 float32 rows, 2 threads for both:
  - batch throughput: transform of all rows (onnxruntime: one session.run),
    ROUNDS rounds, vaekit and onnxruntime alternating;
  - one-sample latency: transform of one row, CALLS calls per batch, BATCHES
    batches alternating; median over all calls, [min-max] of the batch medians.
Models: VAE(20, hidden_layer_sizes=(400,)) encoder (exported with
skl2onnx.to_onnx after `import vaekit.onnx`) on dense data (a 20-d latent
through a tanh layer, plus noise: no zeros) and on binarised images
(bench/compare.py's stand-in, about 19% ones: vaekit's encoder compresses
mostly-zero rows); PPCA(20) on the dense data. Ratios: onnxruntime time /
vaekit time, so above 1 means vaekit is faster.

    pip install ".[bench]" onnx skl2onnx onnxruntime
    python bench/onnx_export.py            # about a minute
    python bench/onnx_export.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from compare import Stat, binarized_images, cpu_description, dense_rows  # noqa: E402

N_ROWS = 20_000
ROUNDS = 7
CALLS = 2_000
BATCHES = 5
THREADS = 2
QUICK = {"N_ROWS": 2_000, "ROUNDS": 3, "CALLS": 200}


def session(model):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def alternate(functions, rounds):
    """Seconds of each function per round, the functions alternating, each
    after a pause: onnxruntime's and OpenMP's worker threads spin for a while
    after a run, and would take the cores from the other side's next run."""
    times = [[] for _ in functions]
    for _ in range(rounds):
        for k, function in enumerate(functions):
            time.sleep(0.2)
            start = time.perf_counter()
            function()
            times[k].append(time.perf_counter() - start)
    return times


def latency(functions, calls, batches):
    """Per-call microseconds: (median over all calls, batch medians) per function, batches alternating."""
    for function in functions:
        for _ in range(100):
            function()
    all_calls = [[] for _ in functions]
    medians = [[] for _ in functions]
    for _ in range(batches):
        for k, function in enumerate(functions):
            batch = []
            for _ in range(calls):
                start = time.perf_counter_ns()
                function()
                batch.append((time.perf_counter_ns() - start) / 1e3)
            all_calls[k] += batch
            medians[k].append(statistics.median(batch))
    return [Stat([statistics.median(c), min(m), max(m)]) for c, m in zip(all_calls, medians)]


def text(stat, digits=1):
    return f"{stat.median:,.{digits}f} [{stat.min:,.{digits}f}-{stat.max:,.{digits}f}]"


def main():
    global N_ROWS, ROUNDS, CALLS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rows, rounds and calls: a smoke run")
    args = parser.parse_args()
    if args.quick:
        N_ROWS, ROUNDS, CALLS = QUICK["N_ROWS"], QUICK["ROUNDS"], QUICK["CALLS"]
    import onnxruntime
    import skl2onnx

    import vaekit
    import vaekit.onnx  # noqa: F401  (registers the converters)

    print(f"vaekit {vaekit.__version__} (kernels {vaekit._native.core.active_isa()}), "
          f"onnxruntime {onnxruntime.__version__}, skl2onnx {skl2onnx.__version__}; {cpu_description()}; "
          f"{THREADS} threads", flush=True)
    dense = dense_rows(N_ROWS)
    images = binarized_images(N_ROWS)
    cases = [
        ("VAE 784-400-20 encoder, dense", dense,
         vaekit.VAE(20, hidden_layer_sizes=(400,), max_iter=1, n_threads=THREADS, random_state=0)),
        ("VAE 784-400-20 encoder, binary images", images,
         vaekit.VAE(20, hidden_layer_sizes=(400,), likelihood="bernoulli", max_iter=1, n_threads=THREADS,
                    random_state=0)),
        ("PPCA(20), dense", dense, vaekit.PPCA(20)),
    ]
    rows = []
    for name, X, model in cases:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[:4096])
        sess = session(skl2onnx.to_onnx(model, X[:1]))
        input_name = sess.get_inputs()[0].name
        expected = model.transform(X[:100])
        got = sess.run(None, {input_name: X[:100]})[0]
        error = float(np.abs(got - expected).max() / max(1.0, np.abs(expected).max()))
        ours, theirs = alternate([lambda: model.transform(X), lambda: sess.run(None, {input_name: X})], ROUNDS)
        ours_rate, theirs_rate = Stat([N_ROWS / t for t in ours]), Stat([N_ROWS / t for t in theirs])
        ratio = Stat([theirs_rate.median and ours_rate.median / theirs_rate.median,
                      ours_rate.min / theirs_rate.max, ours_rate.max / theirs_rate.min])
        x1 = np.ascontiguousarray(X[:1])
        ours1, theirs1 = latency([lambda: model.transform(x1), lambda: sess.run(None, {input_name: x1})], CALLS,
                                 BATCHES)
        ratio1 = Stat([theirs1.median / ours1.median, theirs1.min / ours1.max, theirs1.max / ours1.min])
        rows.append((f"{name}: transform {N_ROWS:,} rows", text(ours_rate, 0), text(theirs_rate, 0), "samples/s",
                     f"{ratio.median:.2f} [{ratio.min:.2f}-{ratio.max:.2f}]", f"{error:.1e}"))
        rows.append((f"{name}: one-sample transform", text(ours1), text(theirs1), "us",
                     f"{ratio1.median:.2f} [{ratio1.min:.2f}-{ratio1.max:.2f}]", ""))
        for row in rows[-2:]:
            print("  ROW | " + " | ".join(row), flush=True)
    header = ["figure", "vaekit (Python)", "onnxruntime", "unit", "ratio (> 1: vaekit faster)",
              "max |difference| / scale"]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
