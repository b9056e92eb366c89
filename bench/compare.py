"""vaekit against PyTorch (CPU) and scikit-learn / numpy, side by side in one run.

Runs every row of issue 4's goal table and prints one table with, for each
row, vaekit's and the reference's median and [min, max], and a ratio. Every
ratio is oriented so that ABOVE 1 MEANS VAEKIT IS BETTER:
- throughput rows (samples/s): vaekit throughput / reference throughput;
- time rows (seconds, microseconds): reference time / vaekit time (speedup);
- the memory row: (input size + 50 MB) / peak growth (above 1: within budget).
The "goal" column restates the issue's goal in that same orientation
(e.g. "<= 0.5x PyTorch's latency" becomes ">= 2").

Rows (select with --rows):
  vae128    VAE 784-400-20 Bernoulli, Adam 1e-3, float32, batch 128, 1 and 2 threads,
            PyTorch with torch.set_flush_denormal(True); seconds of every epoch shown
            (training rows: a warm-up epoch, then the median of --epochs epochs, vaekit's
            and PyTorch's epochs alternating so both see the same load on a shared machine)
  noflush   the same at 2 threads, PyTorch without set_flush_denormal (its default)
  vae32     the same at batch 32 (1 and 2 threads)
  deep      Autoencoder and VAE 784-512-256-20 (2 threads)
  encode    transform of 60,000 x 784 against PyTorch encoding in batches of 1,024
  latency   one-sample transform from Python against PyTorch's one-sample encode
  ppca      closed form against sklearn's PCA solvers on three spectra (rank 50 + noise, a
            smooth one without a gap, low rank; interleaved rounds), score_samples, EM iteration
            (complete, and 10% missing, each against the same iteration in numpy:
            bench/numpy_ppca.py, a port of cpp/src/ppca_em.cpp's and ppca_em_missing.cpp's EM), float64 and float32
  isa       the vae128 2-thread row with VAEKIT_ISA=baseline, avx2, avx512 (one
            subprocess each, 3 interleaved rounds) against a build of this
            checkout's extension module with -march=native (cmake, ninja,
            pybind11 and Eigen needed; a few minutes; without them the fastest
            instruction set is the reference)
  memory    peak resident memory of a VAE fit on 60,000 x 784 float32 (subprocess)
  peers     the four rows below: vaekit against the strongest CPU peers, the best of
            JAX (bench/jax_peer.py: the epoch ONE jax.jit over lax.scan of pre-shuffled
            full batches, optax.adam; the last partial batch left out, so its samples/s
            count the samples it trained on), PyTorch eager (flush_denormal) and
            torch.compile (the loss with its backward, and Adam's step, compiled; left
            out, with the error in the note, when compiling fails); the same model and
            initialisation in all three; ratio: vaekit / the best peer. Each
            row and thread count runs in a child process pinned to that many cores
            (OMP_NUM_THREADS and BLAS threads set, XLA_FLAGS before JAX is imported),
            all frameworks there in interleaved rounds after a warm-up of each (which
            holds the compile times); note: each framework's share of the SGEMM peak
            (numpy float32 2048 x 2048 products at the row's thread count), counting
            3 x 2 x the forward pass's multiply-adds per trained sample (2 x the
            encoder's per encoded sample)
  peer-dense    VAE 784-400-20 Bernoulli, batch 128, 2 and 1 threads, on dense rows in
                (0, 1) (dense_unit_rows)
  peer-images   the same on the binarised images, 2 threads
  peer-tabular  VAE 100-64-8, Gaussian decoder with a learned scalar variance (vaekit's
                default decoder_variance="scalar", starting at the data's mean feature
                variance), batch 128, 2 and 1 threads, on 60,000 x 100 standardised rows
  peer-encode   transform of 30,000 x 784 dense rows, 2 and 1 threads (JAX: one compiled
                call on the whole array; PyTorch: batches of 1,024, inference_mode)

Training data: 60,000 x 784 float32 synthetic stand-in for statically
binarised MNIST (smoothed random blobs inside a disc, thresholded to about
19% ones, the border always zero) so that float32 training can drift into
denormal numbers as it does on MNIST.

    python bench/compare.py                 # everything (about 30 min on 2 cores)
    python bench/compare.py --quick         # small sizes, a smoke run (about 5 min)
    python bench/compare.py --rows vae128 encode latency
    python bench/compare.py --rows peers    # or some of peer-dense peer-images peer-tabular peer-encode

PyTorch, JAX (with optax) and scikit-learn are bench-only dependencies (the
"bench" extra); rows whose reference is not installed are skipped, or show
vaekit alone, with a note.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, NamedTuple

import numpy as np

PEER_ROWS = ("peer-dense", "peer-images", "peer-tabular", "peer-encode")
ROWS = ("vae128", "noflush", "vae32", "deep", "encode", "latency", "ppca", "isa", "memory", *PEER_ROWS)
MB = 1024.0 * 1024.0
LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- data

def dense_rows(n, D=784, latent=20, seed=0):
    """Dense float32 rows without zeros: a latent-dim Gaussian through a random
    tanh layer of 64, linearly to D features, plus noise 0.1 (the dense
    counterpart of binarized_images, for the bench scripts)."""
    rng = np.random.default_rng(seed)
    H = np.tanh(rng.standard_normal((n, latent)) @ rng.standard_normal((latent, 64)))
    return (H @ rng.standard_normal((64, D)) + 0.1 * rng.standard_normal((n, D))).astype(np.float32)


def dense_unit_rows(n, D=784, seed=0):
    """dense_rows squashed into (0, 1) for a Bernoulli likelihood (soft
    targets, as vaekit and the peers accept): the logistic function of the
    rows divided by their standard deviation."""
    X = dense_rows(n, D, seed=seed)
    X /= X.std()
    return (1.0 / (1.0 + np.exp(-X))).astype(np.float32)


def tabular_rows(n, D=100, latent=8, seed=0):
    """dense_rows with ``latent`` latent dimensions, standardised: every
    feature of mean 0 and variance 1, for a Gaussian likelihood."""
    X = dense_rows(n, D, latent, seed)
    return ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)


def binarized_images(n, seed=0, ones_fraction=0.19):
    """Statically binarised 28 x 28 images: Gaussian-smoothed noise thresholded
    inside a disc of radius 12 (outside it: always 0, as MNIST's border),
    threshold set so that about ``ones_fraction`` of all pixels are 1.
    Built in chunks so that generating it never holds more than X plus a chunk."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    radius2 = (yy - 13.5) ** 2 + (xx - 13.5) ** 2
    inside = radius2 <= 12.0 ** 2
    # Favour the centre a little, as digits do.
    bias = (-0.5 * radius2 / 8.0 ** 2).astype(np.float32)
    X = np.zeros((n, 784), dtype=np.float32)
    threshold = None
    chunk = 5000
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        field = gaussian_filter(rng.standard_normal((m, 28, 28), dtype=np.float32), sigma=(0, 1.5, 1.5))
        field /= field.std()
        field += bias
        field[:, ~inside] = -np.inf
        if threshold is None:
            threshold = np.quantile(field[:, inside], 1.0 - ones_fraction * 784 / inside.sum())
        X[start:start + m] = (field > threshold).reshape(m, 784)
    return X


# ----------------------------------------------------------------------------- timing

class Stat:
    """Median, min and max of repeated measurements."""

    def __init__(self, values):
        self.values = [float(v) for v in values]
        self.median = statistics.median(self.values)
        self.min = min(self.values)
        self.max = max(self.values)


def repeat_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


# ----------------------------------------------------------------------------- vaekit training

def vaekit_epochs(make_estimator, X, epochs):
    """Seconds of each partial_fit epoch; the first (warm-up) is returned apart."""
    estimator = make_estimator()
    start = time.perf_counter()
    estimator.partial_fit(X)
    warm_up = time.perf_counter() - start
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        estimator.partial_fit(X)
        times.append(time.perf_counter() - start)
    return warm_up, times, estimator


def vaekit_vae(hidden, batch_size, n_threads, n_components=20, likelihood="bernoulli"):
    import vaekit

    return lambda: vaekit.VAE(n_components, hidden_layer_sizes=hidden, likelihood=likelihood, batch_size=batch_size,
                              learning_rate=1e-3, n_threads=n_threads, random_state=0, dtype=np.float32)


def vaekit_autoencoder(hidden, batch_size, n_threads):
    import vaekit

    return lambda: vaekit.Autoencoder(20, hidden_layer_sizes=hidden, loss="bce", batch_size=batch_size,
                                      learning_rate=1e-3, n_threads=n_threads, random_state=0,
                                      dtype=np.float32)


# ----------------------------------------------------------------------------- PyTorch references

def torch_models():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class TorchVAE(nn.Module):
        """pytorch/examples' VAE (vae/main.py), generalised to several hidden
        layers, with the decoder returning logits (Bernoulli with logits), or
        with likelihood="gaussian" the mean of a Gaussian whose one learned
        log-variance starts at initial_log_variance (vaekit's default
        decoder_variance="scalar"); the negative ELBO with every constant."""

        def __init__(self, hidden=(400,), d=20, D=784, likelihood="bernoulli", initial_log_variance=0.0):
            super().__init__()
            self.log_variance = None
            if likelihood == "gaussian":
                self.log_variance = nn.Parameter(torch.tensor(float(initial_log_variance)))
            sizes = [D, *hidden]
            self.encoder = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())])
            self.fc_mean = nn.Linear(sizes[-1], d)
            self.fc_logvar = nn.Linear(sizes[-1], d)
            back = [d, *reversed(hidden)]
            self.decoder = nn.Sequential(*[m for a, b in zip(back, back[1:]) for m in (nn.Linear(a, b), nn.ReLU())],
                                         nn.Linear(back[-1], D))

        def encode(self, x):
            h = self.encoder(x)
            return self.fc_mean(h), self.fc_logvar(h)

        def loss(self, x):
            mu, logvar = self.encode(x)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            out = self.decoder(z)
            if self.log_variance is None:
                reconstruction = F.binary_cross_entropy_with_logits(out, x, reduction="sum")
            else:
                reconstruction = 0.5 * (torch.sum((x - out).square()) * torch.exp(-self.log_variance)
                                        + x.numel() * (self.log_variance + LOG_2PI))
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            return reconstruction + kld

    class TorchAutoencoder(nn.Module):
        def __init__(self, hidden=(512, 256), d=20, D=784):
            super().__init__()
            sizes = [D, *hidden]
            self.encoder = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())],
                                         nn.Linear(sizes[-1], d))
            back = [d, *reversed(hidden)]
            self.decoder = nn.Sequential(*[m for a, b in zip(back, back[1:]) for m in (nn.Linear(a, b), nn.ReLU())],
                                         nn.Linear(back[-1], D))

        def encode(self, x):
            return self.encoder(x)

        def loss(self, x):
            return F.binary_cross_entropy_with_logits(self.decoder(self.encoder(x)), x, reduction="sum")

    return TorchVAE, TorchAutoencoder


class TorchTrainer:
    """PyTorch training over pre-made batches (a list of tensors sharing X's
    memory), Adam 1e-3, one epoch per ``epoch()`` call (its seconds; the mean
    loss per sample is appended to ``losses``). With ``compiled``, the
    model's loss (forward and backward) and Adam's step go through
    torch.compile, which compiles at the first epoch. ``model_options`` go
    to ``model_class``."""

    def __init__(self, model_class, hidden, X, batch_size, n_threads, flush_denormal, compiled=False,
                 **model_options):
        import torch

        self.torch = torch
        self.n_threads = n_threads
        self.flush_denormal = flush_denormal
        torch.manual_seed(0)
        self.model = model_class(hidden, D=X.shape[1], **model_options)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss, self.step = self.model.loss, self.optimizer.step
        if compiled:
            self.loss, self.step = torch.compile(self.loss), torch.compile(self.step)
        self.batches = list(torch.split(torch.from_numpy(X), batch_size))
        self.samples = X.shape[0]  # per epoch
        self.losses = []

    def epoch(self):
        torch = self.torch
        torch.set_num_threads(self.n_threads)
        torch.set_flush_denormal(self.flush_denormal)
        losses = []
        try:
            start = time.perf_counter()
            for batch in self.batches:
                self.optimizer.zero_grad(set_to_none=True)
                loss = self.loss(batch)
                loss.backward()
                self.step()
                losses.append(loss.detach())
            seconds = time.perf_counter() - start
        finally:
            torch.set_flush_denormal(False)
        self.losses.append(float(torch.stack(losses).sum()) / self.samples)
        return seconds


def torch_encoder(model, X, batch_size=1024, compiled=False):
    """A function computing the posterior means of all of X with ``model``
    in batches under inference_mode (``model.encode`` through torch.compile
    with ``compiled``)."""
    import torch

    model.eval()
    encode = torch.compile(model.encode) if compiled else model.encode
    data = torch.from_numpy(X)

    def run():
        with torch.inference_mode():
            return torch.cat([encode(batch)[0] for batch in torch.split(data, batch_size)])

    return run


# ----------------------------------------------------------------------------- results

class Table:
    def __init__(self):
        self.rows = []

    def add(self, figure, vaekit, reference, unit, ratio, goal=None, note=""):
        """vaekit, reference: Stat (or None); ratio: Stat of "above 1 = vaekit better";
        goal: minimum ratio, or None when the issue sets none for this line."""
        self.rows.append(dict(figure=figure, vaekit=vaekit, reference=reference, unit=unit, ratio=ratio,
                              goal=goal, note=note))
        self.print_row(self.rows[-1], flush=True)

    @staticmethod
    def format_stat(stat, unit):
        if stat is None:
            return "-"
        if unit == "samples/s":
            fmt = lambda v: f"{v:,.0f}"
        elif unit == "us":
            fmt = lambda v: f"{v:.1f}"
        elif unit == "MB":
            fmt = lambda v: f"{v:.0f}"
        else:
            fmt = lambda v: f"{v:.3f}" if v < 10 else f"{v:.1f}"
        return f"{fmt(stat.median)} [{fmt(stat.min)}-{fmt(stat.max)}]"

    def cells(self, row):
        ratio = row["ratio"]
        ratio_text = "-" if ratio is None else f"{ratio.median:.2f} [{ratio.min:.2f}-{ratio.max:.2f}]"
        if row["goal"] is None or ratio is None:
            goal_text, met = "", ""
        else:
            goal_text = f">= {row['goal']:g}"
            met = "yes" if ratio.median >= row["goal"] else "MISS"
        return [row["figure"], self.format_stat(row["vaekit"], row["unit"]),
                self.format_stat(row["reference"], row["unit"]), row["unit"], ratio_text, goal_text, met,
                row["note"]]

    def print_row(self, row, flush=False):
        print("  ROW | " + " | ".join(self.cells(row)), flush=flush)

    def print_markdown(self):
        header = ["figure", "vaekit median [min-max]", "reference median [min-max]", "unit",
                  "ratio (>1: vaekit better)", "goal", "met", "reference / note"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in self.rows:
            print("| " + " | ".join(self.cells(row)) + " |")


def throughput_stat(n, seconds):
    return Stat([n / s for s in seconds])


def ratio_of_medians_stat(numerator, denominator):
    """A ratio with its median from the medians and its range from the extremes."""
    return Stat([numerator.median / denominator.median, numerator.min / denominator.max,
                 numerator.max / denominator.min])


def epochs_text(warm_up, times, label="epochs"):
    return f"{label} " + ", ".join(f"{t:.2f}" for t in [warm_up, *times]) + " s"


# ----------------------------------------------------------------------------- rows

def row_training(table, X, label, batch_size, threads, hidden, epochs, flush_variants, kinds=("vae",)):
    """vaekit and PyTorch epochs alternate (warm-up of each, then one of each in
    turn), so that both see the same machine when it is shared."""
    TorchVAE, TorchAutoencoder = torch_models() if have_torch() else (None, None)
    n = X.shape[0]
    arch = "-".join(str(s) for s in (784, *hidden, 20))
    for kind in kinds:
        for n_threads in threads:
            for flush in flush_variants:
                estimator = (vaekit_vae if kind == "vae" else vaekit_autoencoder)(hidden, batch_size, n_threads)()
                trainer = None
                if TorchVAE is not None:
                    trainer = TorchTrainer(TorchVAE if kind == "vae" else TorchAutoencoder, hidden, X, batch_size,
                                           n_threads, flush)
                ours_all, ref_all = [], []
                for _ in range(1 + epochs):
                    start = time.perf_counter()
                    estimator.partial_fit(X)
                    ours_all.append(time.perf_counter() - start)
                    if trainer is not None:
                        ref_all.append(trainer.epoch())
                ours = throughput_stat(n, ours_all[1:])
                flat = max(ours_all) / min(ours_all)
                print(f"    vaekit {kind} {arch} b{batch_size} {n_threads}t: {epochs_text(ours_all[0], ours_all[1:])} "
                      f"(slowest/fastest epoch {flat:.2f})", flush=True)
                name = f"{kind} {arch} train b{batch_size} {n_threads}t" + ("" if flush else " (torch no flush)")
                if trainer is None:
                    table.add(name, ours, None, "samples/s", None, note="PyTorch not installed")
                    continue
                ref = throughput_stat(n, ref_all[1:])
                print(f"    torch  {kind} {arch} b{batch_size} {n_threads}t flush_denormal={flush}: "
                      f"{epochs_text(ref_all[0], ref_all[1:])}", flush=True)
                table.add(name, ours, ref, "samples/s", ratio_of_medians_stat(ours, ref),
                          GOALS.get((label, kind, batch_size, n_threads, flush)),
                          f"torch flush_denormal={flush}; vaekit {epochs_text(ours_all[0], ours_all[1:])} "
                          f"(slowest/fastest {flat:.2f}); torch {epochs_text(ref_all[0], ref_all[1:])}")


# Goals of issue 4, as minimum "above 1 = vaekit better" ratios.
# key: (row label, kind, batch size, threads, torch flush_denormal)
GOALS = {
    ("vae128", "vae", 128, 2, True): 1.5,
    ("vae128", "vae", 128, 1, True): 1.3,
    ("noflush", "vae", 128, 2, False): 1.5,
    ("vae32", "vae", 32, 1, True): 2.0,
    ("vae32", "vae", 32, 2, True): 2.0,
    ("deep", "vae", 128, 2, True): 1.3,
    ("deep", "autoencoder", 128, 2, True): 1.3,
}


def have_torch():
    from importlib.util import find_spec

    return find_spec("torch") is not None


def put_bench_on_path():
    """Lets this directory's modules (bench_ppca, numpy_ppca, jax_peer) be imported from any working directory."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)


def row_encode(table, X, repeats):
    import vaekit

    vae = vaekit.VAE(20, hidden_layer_sizes=(400,), likelihood="bernoulli", n_threads=2, random_state=0)
    vae.partial_fit(X[:8192])
    vae.transform(X[:1024])
    ours = repeat_time(lambda: vae.transform(X), repeats)
    ours_stat = throughput_stat(X.shape[0], ours)
    if not have_torch():
        table.add("encode 60,000 x 784 2t", ours_stat, None, "samples/s", None, note="PyTorch not installed")
        return
    import torch

    TorchVAE, _ = torch_models()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    encode = torch_encoder(TorchVAE((400,)), X)
    encode()
    ref = repeat_time(encode, repeats)
    ref_stat = throughput_stat(X.shape[0], ref)
    table.add(f"encode {X.shape[0]:,} x 784 (transform) 2t", ours_stat, ref_stat, "samples/s",
              ratio_of_medians_stat(ours_stat, ref_stat), 1.3, "torch batches of 1,024, inference_mode")


def per_call_us(function, calls):
    for _ in range(min(100, calls)):
        function()
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        function()
        times.append((time.perf_counter_ns() - start) / 1e3)
    return times


def row_latency(table, X, calls):
    import vaekit

    vae = vaekit.VAE(20, hidden_layer_sizes=(400,), likelihood="bernoulli", n_threads=2, random_state=0)
    vae.partial_fit(X[:4096])
    x1 = np.ascontiguousarray(X[:1])
    ours = per_call_us(lambda: vae.transform(x1), calls)
    # Spread over the run: median of many calls; min/max of 5 batches' medians.
    def batched_stat(times):
        size = len(times) // 5
        medians = [statistics.median(times[i * size:(i + 1) * size]) for i in range(5)]
        return Stat([statistics.median(times), min(medians), max(medians)])

    ours_stat = batched_stat(ours)
    if not have_torch():
        table.add("one-sample transform latency", ours_stat, None, "us", None, note="PyTorch not installed")
        return
    import torch

    TorchVAE, _ = torch_models()
    torch.manual_seed(0)
    model = TorchVAE((400,)).eval()
    x1t = torch.from_numpy(x1)
    best = None
    for n_threads in (1, 2):
        torch.set_num_threads(n_threads)

        def encode():
            with torch.inference_mode():
                return model.encode(x1t)[0]

        stat = batched_stat(per_call_us(encode, calls))
        if best is None or stat.median < best[1].median:
            best = (n_threads, stat)
    torch.set_num_threads(2)
    ratio = Stat([best[1].median / ours_stat.median, best[1].min / ours_stat.max, best[1].max / ours_stat.min])
    table.add("one-sample transform latency (Python)", ours_stat, best[1], "us", ratio, 2.0,
              f"torch encode at its faster thread count ({best[0]}), inference_mode; {calls} calls; "
              "min/max = range of 5 batch medians")


# ----------------------------------------------------------------------------- PPCA

# The spectra of the closed-form rows: bench_ppca.make_data's rank 50 plus
# noise; a smooth spectrum without a gap (eigenvalue i = 10 / 1.005^i, so
# eigenvalue d / eigenvalue d + 1 = 1.005); d strong directions over flat noise.
SPECTRA = ("rank 50 + noise", "smooth, no gap", "low rank")


def spectrum_data(n, D, d, spectrum, dtype, seed=0):
    """n x D rows with one of SPECTRA's covariance spectra, mean 3."""
    if spectrum == SPECTRA[0]:
        put_bench_on_path()
        from bench_ppca import make_data
        return make_data(n, D, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    if spectrum == SPECTRA[1]:
        variances = 10.0 * 1.005 ** -np.arange(D)
    else:
        variances = np.concatenate([np.linspace(50.0, 10.0, d), np.full(D - d, 0.5)])
    basis, _ = np.linalg.qr(rng.standard_normal((D, D)))
    X = (rng.standard_normal((n, D)) * np.sqrt(variances)) @ basis.T + 3.0
    return np.ascontiguousarray(X, dtype=dtype)


def row_ppca_closed_form(table, PPCA, PCA, X, spectrum, size, d, repeats):
    """vaekit's closed form against scikit-learn's PCA solvers in interleaved
    rounds (svd_solver="full", LAPACK's SVD of all of X, is left out: it is
    never the fastest for n >> D and takes ~10x longer)."""
    fits = {"vaekit": lambda: PPCA(d).fit(X)}
    for solver in ("covariance_eigh", "randomized", "arpack"):
        fits[solver] = lambda solver=solver: PCA(d, svd_solver=solver, random_state=0).fit(X)
    times = {label: [] for label in fits}
    for _ in range(repeats):
        for label, fit in fits.items():
            time.sleep(0.2)  # OpenBLAS's and OpenMP's threads spin after a run, taking the next one's cores
            times[label].extend(repeat_time(fit, 1))
    ours = Stat(times.pop("vaekit"))
    solvers = {label: Stat(values) for label, values in times.items()}
    fastest = min(solvers, key=lambda label: solvers[label].median)
    others = ", ".join(f"{label} {solvers[label].median:.3f} s" for label in solvers)
    table.add(f"PPCA closed form {size}, d={d}, spectrum {spectrum}", ours, solvers[fastest], "s",
              ratio_of_medians_stat(solvers[fastest], ours), 1.0,
              f"fastest sklearn PCA: {fastest}; all: {others}; interleaved rounds")


def row_ppca(table, quick, repeats):
    from vaekit import PPCA

    put_bench_on_path()
    from numpy_ppca import (MissingEMState, check_missing_em_reference, numpy_em_estep_complete,
                            numpy_em_estep_missing, numpy_em_iteration_complete, numpy_em_iteration_missing,
                            starting_point)

    try:
        from sklearn.decomposition import PCA
    except ImportError:
        PCA = None
    n, D, d = (5000, 200, 10) if quick else (60_000, 784, 20)
    check_note = check_missing_em_reference()
    print("    " + check_note, flush=True)
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        size = f"{n:,} x {D} {name}"
        if PCA is not None:
            for spectrum in SPECTRA:
                row_ppca_closed_form(table, PPCA, PCA, spectrum_data(n, D, d, spectrum, dtype), spectrum, size, d,
                                     repeats)
        X = spectrum_data(n, D, d, SPECTRA[0], dtype)
        if PCA is not None:
            pca = PCA(d, svd_solver="covariance_eigh").fit(X)
            model = PPCA(d).fit(X)
            ours_score = Stat(repeat_time(lambda: model.score_samples(X), repeats))
            ref_score = Stat(repeat_time(lambda: pca.score(X), repeats))
            table.add(f"PPCA score_samples {size}", ours_score, ref_score, "s",
                      ratio_of_medians_stat(ref_score, ours_score), 10.0, "sklearn PCA.score")

        # EM, complete data: (fit with 1 + k iterations - fit with 1) / k, per repeat.
        def em_fit(iterations, data):
            return lambda: PPCA(d, method="em", max_iter=iterations, tol=0.0, random_state=0).fit(data)

        extra = 40 if quick else 10  # small problems need more iterations to rise above the fit's overhead
        per_iteration = []
        for _ in range(repeats):
            t1 = repeat_time(em_fit(1, X), 1)[0]
            t_more = repeat_time(em_fit(1 + extra, X), 1)[0]
            per_iteration.append((t_more - t1) / extra)
        ours_em = Stat(per_iteration)
        mean, sum_sq, W0, s20 = starting_point(X, d)
        first_estep = numpy_em_estep_complete(X, mean, sum_sq, W0, s20)
        ref_em = Stat(repeat_time(lambda: numpy_em_iteration_complete(X, mean, sum_sq, first_estep),
                                  max(repeats, 3)))
        table.add(f"PPCA EM iteration {size}", ours_em, ref_em, "s", ratio_of_medians_stat(ref_em, ours_em), 2.0,
                  "numpy, same iteration (M-step + E-step with log-likelihood, X not centred)")

        # EM, 10% missing: (fit with 3 iterations - fit with 1) / 2, per repeat.
        X_missing = X.copy()
        X_missing[np.random.default_rng(1).random(X.shape) < 0.1] = np.nan
        per_iteration = []
        for _ in range(max(2, repeats // 2)):
            t1 = repeat_time(em_fit(1, X_missing), 1)[0]
            t3 = repeat_time(em_fit(3, X_missing), 1)[0]
            per_iteration.append((t3 - t1) / 2)
        ours_missing = Stat(per_iteration)
        state = MissingEMState(X_missing)
        mean_m = np.nanmean(X_missing, axis=0).astype(dtype)
        first_estep = numpy_em_estep_missing(state, mean_m, W0, s20)
        ref_missing = Stat(repeat_time(lambda: numpy_em_iteration_missing(state, first_estep),
                                       max(2, repeats // 2)))
        table.add(f"PPCA EM iteration, 10% missing, {size}", ours_missing, ref_missing, "s",
                  ratio_of_medians_stat(ref_missing, ours_missing), 2.0,
                  "numpy vectorised port of fit_em_missing (M-step + E-step + log-lik.); " + check_note)
        X = X_missing = state = None  # freed before the next dtype's data


# ----------------------------------------------------------------------------- subprocess rows

def child_training(n, epochs):
    """--child-train: vaekit's vae128 2-thread row only; prints JSON."""
    from vaekit._native import core

    X = binarized_images(n)
    warm_up, times, _ = vaekit_epochs(vaekit_vae((400,), 128, 2), X, epochs)
    print(json.dumps(dict(isa=core.active_isa(), module=core.__file__, warm_up=warm_up, times=times, n=n)))


def resident_mb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child_memory(n, epochs):
    """--child-memory: resident memory before and at peak of a VAE fit; prints JSON."""
    import gc

    import vaekit

    vaekit.VAE(20, hidden_layer_sizes=(8,), max_iter=1).fit(np.zeros((4, 784), np.float32) + 0.5)  # load everything
    gc.collect()
    rss_before_data = resident_mb("VmRSS")
    X = binarized_images(n)
    gc.collect()
    rss_before_fit = resident_mb("VmRSS")
    try:  # reset VmHWM to the current RSS (Linux >= 4.0), so the data generation's peak does not count
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        reset = True
    except OSError:
        reset = False
    vae = vaekit.VAE(20, hidden_layer_sizes=(400,), likelihood="bernoulli", batch_size=128, max_iter=epochs,
                     n_threads=2, random_state=0, tol=0.0)
    vae.fit(X)
    peak = resident_mb("VmHWM")
    print(json.dumps(dict(rss_before_data=rss_before_data, rss_before_fit=rss_before_fit, peak=peak,
                          input_mb=X.nbytes / MB, hwm_reset=reset)))


def run_child(arguments, env=None):
    environment = dict(os.environ)
    environment.update(env or {})
    output = subprocess.run([sys.executable, os.path.abspath(__file__), *arguments], env=environment,
                            capture_output=True, text=True)
    if output.returncode != 0:
        raise RuntimeError(f"child {arguments} failed:\n{output.stderr[-2000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def build_native_package(work_dir):
    """This checkout's extension module compiled with -march=native (the
    speed issue's "native build"), in a copy of the installed vaekit package
    where it replaces the module; with VAEKIT_ISA=baseline it runs its
    baseline kernels, which get no flags but -march=native. Returns the
    directory to put first on PYTHONPATH; RuntimeError if the build cannot be
    made."""
    import glob
    import importlib.machinery
    import shutil

    import vaekit

    try:
        import pybind11
    except ImportError as error:
        raise RuntimeError("pybind11 is not installed") from error
    tools = os.path.dirname(sys.executable)
    cmake = shutil.which("cmake", path=tools) or shutil.which("cmake")
    ninja = shutil.which("ninja", path=tools) or shutil.which("ninja")
    if not cmake or not ninja:
        raise RuntimeError("cmake or ninja not found")
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.join(work_dir, "build")
    steps = [
        [cmake, "-S", source, "-B", build, "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}",
         "-DCMAKE_BUILD_TYPE=Release", "-DVAEKIT_BUILD_PYTHON=ON", "-DVAEKIT_CPP_PACKAGE=OFF",
         "-DCMAKE_CXX_FLAGS=-march=native", f"-DPython_EXECUTABLE={sys.executable}",
         f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"],
        [cmake, "--build", build, "--target", "_core"],
    ]
    for step in steps:
        output = subprocess.run(step, capture_output=True, text=True)
        if output.returncode != 0:
            raise RuntimeError(f"{' '.join(step[:3])} failed:\n{(output.stdout + output.stderr)[-2000:]}")
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    built = [path for path in glob.glob(os.path.join(build, "**", "_core*"), recursive=True)
             if path.endswith(suffixes) and os.path.basename(path).split(".")[0] == "_core"]
    if len(built) != 1:
        raise RuntimeError(f"expected one _core module in {build}, found {built}")
    site = os.path.join(work_dir, "site")
    package = os.path.join(site, "vaekit")
    shutil.copytree(os.path.dirname(os.path.abspath(vaekit.__file__)), package)
    for path in glob.glob(os.path.join(package, "_core.*")):
        if path.endswith(suffixes):
            os.remove(path)
    shutil.copy2(built[0], package)
    return site


def row_isa(table, n, epochs, rounds=3):
    """Each instruction set's kernels (VAEKIT_ISA, one child process each)
    against this checkout's module built with -march=native, in interleaved
    rounds: every round runs each configuration once, `epochs` epochs after
    its warm-up."""
    import tempfile

    from vaekit._native import core  # the kernels this process picked at import

    level = core.x86_64_level()
    needed = {"baseline": 1, "avx2": 3, "avx512": 4}
    configurations = {}  # label -> extra environment
    for isa in core.compiled_isas()[::-1]:
        if level < needed.get(isa, 1):
            print(f"    {isa}: not supported by this CPU, skipped")
            continue
        configurations[f"VAEKIT_ISA={isa}"] = {"VAEKIT_ISA": isa}
    with tempfile.TemporaryDirectory(prefix="vaekit-native-") as work_dir:
        started = time.perf_counter()
        try:
            site = build_native_package(work_dir)
            print(f"    -march=native module built in {time.perf_counter() - started:.0f} s", flush=True)
            # Its baseline kernels carry no instruction-set flags of their own: -march=native alone.
            configurations["-march=native"] = {"VAEKIT_ISA": "baseline", "PYTHONPATH": site}
        except RuntimeError as error:
            print(f"    no -march=native build: {error}", flush=True)
        times = {label: [] for label in configurations}
        for round_ in range(rounds):
            for label, environment in configurations.items():
                try:
                    r = run_child(["--child-train", str(n), str(epochs)], environment)
                except RuntimeError as error:
                    print(f"    {label}: {error}")
                    continue
                times[label].extend(r["times"])
                print(f"    round {round_ + 1}, {label} (kernels {r['isa']}): "
                      f"{epochs_text(r['warm_up'], r['times'])}", flush=True)
    times = {label: values for label, values in times.items() if values}
    if not times:
        return
    if "-march=native" in times:
        reference_stat = throughput_stat(n, times.pop("-march=native"))
        note = "reference: this checkout's module built with -march=native"
    else:
        best = min(times, key=lambda label: statistics.median(times[label]))
        reference_stat = throughput_stat(n, times[best])
        note = f"reference: {best}, the fastest (no -march=native build made)"
    for label, values in times.items():
        stat = throughput_stat(n, values)
        picked = label == f"VAEKIT_ISA={core.active_isa()}"
        table.add(f"VAE 784-400-20 b128 2t, {label}", stat, reference_stat, "samples/s",
                  ratio_of_medians_stat(stat, reference_stat), 0.95 if picked else None,
                  note + ("; the kernels picked at import" if picked else ""))


def row_memory(table, n, epochs):
    r = run_child(["--child-memory", str(n), str(epochs)])
    growth = r["peak"] - r["rss_before_data"]
    during_fit = r["peak"] - r["rss_before_fit"]
    budget = r["input_mb"] + 50.0
    table.add(f"peak RSS growth, VAE fit {n:,} x 784 float32 ({epochs} ep.)", Stat([growth]),
              Stat([budget]), "MB", Stat([budget / growth]), 1.0,
              f"reference = input {r['input_mb']:.0f} MB + 50 MB; growth counted from before the data; "
              f"{during_fit:.0f} MB of it during fit; VmHWM reset {'yes' if r['hwm_reset'] else 'no'}")


# ----------------------------------------------------------------------------- peers: JAX, PyTorch, torch.compile

class PeerRow(NamedTuple):
    """One row of the peers comparison (the module docstring's peer-* rows)."""
    label: str  # the data, for the figure
    data: Callable  # n -> float32 array (n, D)
    D: int
    n: int  # rows of the data (3,000 with --quick)
    hidden: tuple
    n_components: int
    likelihood: str
    threads: tuple  # a child process each
    goal: float  # minimum ratio vaekit / best peer
    encode: bool = False  # transform instead of training


PEERS = {
    "peer-dense": PeerRow("dense", dense_unit_rows, 784, 60_000, (400,), 20, "bernoulli", (2, 1), 1.3),
    "peer-images": PeerRow("binarised images", binarized_images, 784, 60_000, (400,), 20, "bernoulli", (2,), 1.5),
    "peer-tabular": PeerRow("tabular", tabular_rows, 100, 60_000, (64,), 8, "gaussian", (2, 1), 1.5),
    "peer-encode": PeerRow("dense", dense_unit_rows, 784, 30_000, (400,), 20, "bernoulli", (2, 1), 1.5, True),
}
PEER_BATCH_SIZE = 128


def vae_flops_per_sample(D, hidden, n_components, training=True):
    """Floating-point operations per sample: 2 x the multiply-adds of the
    forward pass (encoder D-hidden-2d, decoder d-hidden-D), x 3 for
    training (the forward pass, and the backward pass's two products per
    layer); for encoding, 2 x the encoder's multiply-adds."""
    def multiply_adds(sizes):
        return sum(a * b for a, b in zip(sizes, sizes[1:]))

    encoder = multiply_adds([D, *hidden, 2 * n_components])
    if not training:
        return 2 * encoder
    return 3 * 2 * (encoder + multiply_adds([n_components, *hidden[::-1], D]))


def sgemm_gflops(size=2048, repeats=5):
    """The machine's SGEMM peak at this process's BLAS thread count: GFLOP/s
    of numpy's float32 size x size products, the best of ``repeats``."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    a @ b
    return 2.0 * size ** 3 / min(repeat_time(lambda: a @ b, repeats)) / 1e9


def initial_log_variance(X):
    """vaekit's start of a learned decoder variance: the log of the mean variance of X's features."""
    return float(np.log(X.var(axis=0, dtype=np.float64).mean()))


class Timed:
    """A call with the trainers' interface: ``epoch()`` runs it once and
    returns its seconds; ``samples`` per call; ``losses``: the mean loss per
    sample of each epoch so far, from ``loss_curve()`` (none without it)."""

    def __init__(self, function, samples, loss_curve=None):
        self.function = function
        self.samples = samples
        self.loss_curve = loss_curve

    @property
    def losses(self):
        return [] if self.loss_curve is None else [float(v) for v in self.loss_curve()]

    def epoch(self):
        start = time.perf_counter()
        self.function()
        return time.perf_counter() - start


def peer_runners(spec, X, n_threads):
    """vaekit and the installed peers on X for one row: name -> an object with
    ``epoch()`` (seconds of one timed call), ``samples`` (per call) and
    ``losses``; and name -> why a peer is missing."""
    runners, missing = {}, {}
    n = X.shape[0]
    estimator = vaekit_vae(spec.hidden, PEER_BATCH_SIZE, n_threads, spec.n_components, spec.likelihood)()
    if spec.encode:
        estimator.partial_fit(X[:8192])
        runners["vaekit"] = Timed(lambda: estimator.transform(X), n)
    else:
        runners["vaekit"] = Timed(lambda: estimator.partial_fit(X), n, lambda: estimator.loss_curve_)
    log_variance = initial_log_variance(X)  # for a Gaussian likelihood
    put_bench_on_path()
    try:
        from jax_peer import JaxVAE
    except ImportError as error:
        missing["jax"] = f"not installed ({error})"
    else:
        model = JaxVAE(X, spec.hidden, spec.n_components, spec.likelihood, PEER_BATCH_SIZE, log_variance)
        runners["jax"] = Timed(model.encoder(X), n) if spec.encode else model
    if not have_torch():
        missing["torch"] = "not installed"
        return runners, missing
    import torch

    torch.set_num_threads(n_threads)
    TorchVAE, _ = torch_models()
    options = dict(d=spec.n_components, likelihood=spec.likelihood, initial_log_variance=log_variance)
    for name, compiled in (("torch", False), ("torch.compile", True)):
        if spec.encode:
            torch.manual_seed(0)
            model = TorchVAE(spec.hidden, D=X.shape[1], **options)
            runners[name] = Timed(torch_encoder(model, X, compiled=compiled), n)
        else:
            runners[name] = TorchTrainer(TorchVAE, spec.hidden, X, PEER_BATCH_SIZE, n_threads, True, compiled,
                                         **options)
    return runners, missing


def interleaved_rounds(runners, rounds):
    """A warm-up call of each runner (JAX's and torch.compile's compile times
    fall in it), then ``rounds`` rounds of one call of each in turn, so that
    all see the same load on a shared machine. Returns name -> seconds of
    each call (warm-up first), and name -> the error of each peer whose
    warm-up failed (left out of the rounds)."""
    times, failed = {}, {}
    for name, runner in runners.items():
        try:
            times[name] = [runner.epoch()]
        except Exception as error:  # torch.compile without a working C++ compiler, for one
            if name == "vaekit":
                raise
            message = (str(error).strip().splitlines() or [""])[0][:160]
            failed[name] = f"failed, left out: {type(error).__name__}: {message}"
    for _ in range(rounds):
        for name, seconds in times.items():
            seconds.append(runners[name].epoch())
    return times, failed


def thread_environment(n_threads):
    """A child's environment for n_threads threads: OpenMP's and the BLAS
    libraries' thread counts, JAX on the CPU, and at one thread XLA's
    multi-threaded Eigen off (XLA_FLAGS are read when JAX is imported). XLA
    sizes its thread pools by the cores the process may run on, which the
    child pins (child_peers); "intra_op_parallelism_threads" is TensorFlow's
    option, not an XLA flag, and is not set."""
    env = {name: str(n_threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env["JAX_PLATFORMS"] = "cpu"
    if n_threads == 1:
        env["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_cpu_multi_thread_eigen=false"]))
    return env


def child_peers(row, n_threads, n, rounds):
    """--child-peers: one peers row at one thread count; prints JSON. The
    process is pinned to n_threads cores before vaekit, JAX or PyTorch is
    imported, so that their thread pools are sized and placed inside them."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n_threads])
    spec = PEERS[row]
    X = spec.data(n)
    peak = sgemm_gflops()
    runners, missing = peer_runners(spec, X, n_threads)
    times, failed = interleaved_rounds(runners, rounds)
    results = {name: dict(times=seconds, samples=runners[name].samples, losses=runners[name].losses,
                          traces=getattr(runners[name], "traces", None)) for name, seconds in times.items()}
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(json.dumps(dict(peak_gflops=peak, results=results, missing={**missing, **failed}, cpus=cpus)))


def row_peers(table, row, quick, rounds):
    """One peers row (PEERS[row]) at each of its thread counts, a child process
    each; the reference is the fastest peer."""
    spec = PEERS[row]
    n = 3000 if quick else spec.n
    flops = vae_flops_per_sample(spec.D, spec.hidden, spec.n_components, training=not spec.encode)
    arch = "-".join(str(s) for s in (spec.D, *spec.hidden, spec.n_components))
    task = "encode (transform)" if spec.encode else f"{spec.likelihood} train b{PEER_BATCH_SIZE}"
    for n_threads in spec.threads:
        figure = f"peers: VAE {arch} {task}, {spec.label} {n:,} x {spec.D}, {n_threads}t"
        try:
            r = run_child(["--child-peers", row, str(n_threads), str(n), str(rounds)], thread_environment(n_threads))
        except RuntimeError as error:
            print(f"    {figure}: {error}", flush=True)
            continue
        print(f"    child pinned to cores {r['cpus']}", flush=True)
        for name, why in r["missing"].items():
            print(f"    {name}: {why}", flush=True)
        stats = {}
        for name, result in r["results"].items():
            times = result["times"]
            stats[name] = throughput_stat(result["samples"], times[1:])
            details = [epochs_text(times[0], times[1:], "calls" if spec.encode else "epochs")]
            if result["losses"]:
                details.append(f"mean loss per sample: first epoch {result['losses'][0]:.2f}, "
                               f"last {result['losses'][-1]:.2f}")
            if result["traces"] is not None:
                details.append(f"epoch traced and compiled {result['traces']} time(s)")
            print(f"    {name} {n_threads}t: " + "; ".join(details), flush=True)

        def share(stat):
            return f"{stat.median * flops / (r['peak_gflops'] * 1e9):.0%}"

        ours = stats.pop("vaekit")
        peak = f"SGEMM peak {r['peak_gflops']:.0f} GFLOP/s at {n_threads}t, vaekit at {share(ours)} of it"
        missing = "; ".join(f"{name} {why}" for name, why in r["missing"].items())
        if not stats:
            table.add(figure, ours, None, "samples/s", None,
                      note="; ".join(filter(None, ["no peer ran", peak, missing])))
            continue
        best = max(stats, key=lambda name: stats[name].median)
        peers = ", ".join(f"{name} {stat.median:,.0f} ({share(stat)})" for name, stat in stats.items())
        table.add(figure, ours, stats[best], "samples/s", ratio_of_medians_stat(ours, stats[best]), spec.goal,
                  "; ".join(filter(None, [f"reference: {best}, the fastest of {peers}", peak, missing])))


# ----------------------------------------------------------------------------- main

def cpu_description():
    """The CPU's model name (Linux) and the logical core count."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown"
    return f"CPU {model}, {os.cpu_count()} logical cores"


def peer_versions():
    """JAX's and optax's versions, read without importing JAX (it runs in the peers' child processes only)."""
    from importlib import metadata

    try:
        return f"jax {metadata.version('jax')}, jaxlib {metadata.version('jaxlib')}, optax {metadata.version('optax')}"
    except metadata.PackageNotFoundError as error:
        return f"{error.name} not installed: the peer-* rows run without JAX"


def describe_environment():
    import vaekit
    from vaekit._native import core

    lines = [f"python {platform.python_version()}, numpy {np.__version__}, vaekit {vaekit.__version__} "
             f"(kernels {core.active_isa()}, OpenMP {core.openmp_enabled()}, {core.default_threads()} threads)"]
    try:
        import sklearn
        lines.append(f"scikit-learn {sklearn.__version__}")
    except ImportError:
        lines.append("scikit-learn not installed")
    if have_torch():
        import torch
        lines.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads by default)")
    else:
        lines.append("torch not installed: PyTorch rows show vaekit only")
    lines.append(peer_versions())
    lines.append(cpu_description())
    return "; ".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats: a smoke run")
    parser.add_argument("--rows", nargs="+", choices=(*ROWS, "peers"), default=list(ROWS), metavar="ROW",
                        help="rows to run: " + ", ".join(ROWS) + ", peers (all peer-* rows) (default: all)")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs after the warm-up (default 3; 1 quick)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of the non-training timings (default 5)")
    parser.add_argument("--child-train", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-memory", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-peers", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_train:
        return child_training(*args.child_train)
    if args.child_memory:
        return child_memory(*args.child_memory)
    if args.child_peers:
        row, *numbers = args.child_peers
        return child_peers(row, *map(int, numbers))
    rows = list(dict.fromkeys(name for row in args.rows for name in (PEER_ROWS if row == "peers" else (row,))))

    epochs = args.epochs or (1 if args.quick else 3)
    repeats = args.repeats or (2 if args.quick else 5)
    n = 3000 if args.quick else 60_000
    print(describe_environment())
    print("ratio: above 1 means vaekit is better (throughput ratio vaekit/reference, or time ratio "
          "reference/vaekit); goal: the issue's goal in that orientation")
    start = time.perf_counter()
    X = binarized_images(n)
    print(f"data: {X.shape} float32, {X.mean():.1%} ones, {(X.max(axis=0) == 0).sum()} pixels always 0 "
          f"({time.perf_counter() - start:.1f} s to make)", flush=True)
    table = Table()
    timings = {}
    for row in rows:
        started = time.perf_counter()
        print(f"== {row}", flush=True)
        if row == "vae128":
            row_training(table, X, "vae128", 128, (1, 2), (400,), epochs, (True,))
        elif row == "noflush":
            row_training(table, X, "noflush", 128, (2,), (400,), epochs, (False,))
        elif row == "vae32":
            # A third of the data per epoch: throughput does not depend on it, and it keeps the run short.
            row_training(table, X[: n // 3], "vae32", 32, (1, 2), (400,), epochs, (True,))
        elif row == "deep":
            row_training(table, X[: n // 2], "deep", 128, (2,), (512, 256), epochs, (True,),
                         kinds=("autoencoder", "vae"))
        elif row == "encode":
            row_encode(table, X, repeats)
        elif row == "latency":
            row_latency(table, X, 500 if args.quick else 5000)
        elif row == "ppca":
            row_ppca(table, args.quick, repeats)
        elif row == "isa":
            row_isa(table, n, epochs)
        elif row == "memory":
            row_memory(table, n, 1 if args.quick else 2)
        elif row in PEERS:
            row_peers(table, row, args.quick, repeats if PEERS[row].encode else epochs)
        timings[row] = time.perf_counter() - started
        # The machine may be shared: a load above the threads we use means the timings were disturbed.
        print("    load average after this row (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()),
              flush=True)
    print("\nrow times: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) +
          f"; total {sum(timings.values()):.0f} s")
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {describe_environment()}\n")
    table.print_markdown()


if __name__ == "__main__":
    main()
