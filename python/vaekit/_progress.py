"""Progress output of the neural models' training (``verbose``).

The C++ training loop reports numbers (``cpp/include/vaekit/optim.hpp``:
EpochReport, BatchReport); the binding forwards them here, batch reports at
most every 50 ms and epoch reports collected and delivered at most every
200 ms and at the end. This module only renders them:

- ``verbose=1``: one line per epoch, printed through ``print`` (``sys.stdout``,
  so Jupyter shows it): epoch (of ``max_iter``), loss (and, for the VAE, its
  reconstruction and KL terms), validation score, seconds of the epoch,
  elapsed seconds and the estimated time left.
- ``verbose=2``: also, in an epoch that lasts over ``bar_delay`` seconds, a
  bar over its batches: tqdm's (``tqdm.auto``: Jupyter's widget in a
  notebook) when tqdm is installed, otherwise a text bar redrawn in place
  with ``'\\r'`` at most every 0.2 s and replaced by the epoch's line.
"""

from __future__ import annotations

import time

# Seconds between two redraws of the text bar.
_BAR_INTERVAL = 0.2
_BAR_WIDTH = 30


def _tqdm():
    """tqdm.auto.tqdm, or None when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def epoch_line(report, epochs_done, max_iter, single_epoch, loss_terms):
    """One epoch's line: "Epoch 3/200, loss = ..., [reconstruction = ..., KL = ...,]
    validation score = ...,
    0.012 s, elapsed 0.04 s, ETA 2.41 s". ``epochs_done`` counts this call's
    epochs; the ETA assumes the remaining epochs (up to ``max_iter``) take the
    mean time so far."""
    line = f"Epoch {report['epoch']}"
    if not single_epoch:
        line += f"/{report['epoch'] - epochs_done + max_iter}"
    line += f", loss = {report['loss']:.6g}"
    if loss_terms:
        line += f", reconstruction = {report['reconstruction']:.6g}, KL = {report['kl']:.6g}"
    if report["validation_score"] is not None:
        line += f", validation score = {report['validation_score']:.6g}"
    elapsed = report["elapsed"]
    line += f", {report['seconds']:.3f} s, elapsed {elapsed:.2f} s"
    if not single_epoch:
        line += f", ETA {elapsed / epochs_done * (max_iter - epochs_done):.2f} s"
    return line


def batch_bar(epoch, total_epochs, samples_done, n_samples, epoch_seconds):
    """The text bar of the epoch in progress: "Epoch 3/50 [#########.........]
    4,352/60,000 samples, 1.2 s, ETA 3.1 s". ``total_epochs`` is 0 for
    partial_fit (no "/50"); the ETA is the time left in this epoch at the rate so far."""
    fraction = samples_done / n_samples
    filled = min(_BAR_WIDTH, int(fraction * _BAR_WIDTH))
    head = f"Epoch {epoch}" + (f"/{total_epochs}" if total_epochs > 0 else "")
    return (f"{head} [{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {samples_done:,}/{n_samples:,} samples, "
            f"{epoch_seconds:.1f} s, ETA {epoch_seconds / fraction * (1 - fraction):.1f} s")


class TrainingProgress:
    """The callables of one fit or partial_fit (``on_batch``, ``on_epoch``),
    then ``close()`` once training has returned or raised."""

    def __init__(self, verbose, max_iter, single_epoch, bar_delay, loss_terms):
        self.verbose = verbose
        self.max_iter = max_iter
        self.single_epoch = single_epoch
        self.bar_delay = bar_delay
        self.loss_terms = loss_terms  # print the reconstruction and KL terms (VAE)
        self.epochs_done = 0  # in this call
        now = time.perf_counter()
        self.epoch_start = now
        self.last_bar = -float("inf")  # the first bar may come at once
        self.bar_width = 0  # characters of the text bar on screen; 0: none
        self.tqdm = _tqdm() if verbose >= 2 else None
        self.bar = None  # tqdm's bar of the epoch in progress
        self.bar_epoch = None

    # The callables the binding calls; None when they would do nothing.
    @property
    def on_batch(self):
        return self._on_batch if self.verbose >= 2 else None

    @property
    def on_epoch(self):
        return self._on_epoch if self.verbose >= 1 else None

    def _total_epochs(self, epoch):
        return 0 if self.single_epoch else epoch - self.epochs_done - 1 + self.max_iter

    def _on_batch(self, epoch, batch, n_batches, samples_done, n_samples):
        if samples_done >= n_samples:
            return
        now = time.perf_counter()
        if self.tqdm is not None:
            self._tqdm_update(epoch, samples_done, n_samples)
            return
        if now - self.epoch_start < self.bar_delay or now - self.last_bar < _BAR_INTERVAL:
            return
        self.last_bar = now
        bar = batch_bar(epoch, self._total_epochs(epoch), samples_done, n_samples, now - self.epoch_start)
        width = len(bar)
        bar += " " * max(0, self.bar_width - width)  # blank the rest of a longer bar
        self.bar_width = max(self.bar_width, width)
        print("\r" + bar, end="", flush=True)

    def _tqdm_update(self, epoch, samples_done, n_samples):
        if self.bar is None or self.bar_epoch != epoch:
            self._close_bar()
            total = self._total_epochs(epoch)
            # Starts at the samples done, so that its first display (at once when bar_delay is 0) shows them.
            self.bar = self.tqdm(total=n_samples, initial=samples_done, unit="samples", leave=False,
                                 delay=self.bar_delay, desc=f"Epoch {epoch}" + (f"/{total}" if total > 0 else ""))
            self.bar_epoch = epoch
        else:
            self.bar.update(samples_done - self.bar.n)

    def _close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _on_epoch(self, report):
        self.epochs_done += 1
        self.epoch_start = time.perf_counter()
        line = epoch_line(report, self.epochs_done, self.max_iter, self.single_epoch, self.loss_terms)
        if self.bar is not None:
            self._close_bar()
        if self.bar_width > 0:  # overwrite the text bar: blanks, then the line
            line = "\r" + " " * self.bar_width + "\r" + line
            self.bar_width = 0
        print(line + "\n", end="", flush=True)  # one write: Ctrl-C cannot split a line from its end

    def close(self):
        """Ends what is still on screen: tqdm's bar, or the line of a text bar."""
        self._close_bar()
        if self.bar_width > 0:
            self.bar_width = 0
            print(flush=True)
