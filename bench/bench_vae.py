"""Seconds per epoch of a VAE 784-400-20 (Bernoulli likelihood, batch 128,
Adam 1e-3, float32) on 60,000 x 784 synthetic data in [0, 1] (MNIST's shape),
at n_threads = 1 and 2. Each epoch is one ``partial_fit`` call; the figure is
the median of a few epochs after a warm-up epoch.

Run with ``python bench/bench_vae.py [--epochs 3] [--threads 1 2]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import vaekit
from vaekit._native import core


def synthetic_images(n=60_000, n_features=784, rank=10, seed=0):
    """Soft binary images: sigmoid of a random rank-10 structure, in [0, 1]."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, rank)).astype(np.float32) @ (2.0 * rng.normal(size=(rank, n_features))).astype(
        np.float32)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def seconds_per_epoch(X, n_threads, epochs):
    vae = vaekit.VAE(n_components=20, hidden_layer_sizes=(400,), likelihood="bernoulli", batch_size=128,
                     learning_rate=1e-3, dtype=np.float32, n_threads=n_threads, random_state=0)
    vae.partial_fit(X)  # warm-up: first touch of the workspaces and of X
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        vae.partial_fit(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), vae.loss_curve_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    X = synthetic_images()
    print(f"vaekit {vaekit.__version__}, core {core.active_isa()}, OpenMP {core.openmp_enabled()}, "
          f"{core.default_threads()} cores available")
    print(f"data {X.shape} {X.dtype}; VAE 784-400-20 Bernoulli, batch 128, Adam 1e-3")
    for n_threads in args.threads:
        seconds, curve = seconds_per_epoch(X, n_threads, args.epochs)
        print(f"n_threads={n_threads}: {seconds:.2f} s/epoch (median of {args.epochs}); "
              f"-ELBO per epoch: {', '.join(f'{v:.1f}' for v in curve)}")


if __name__ == "__main__":
    main()
