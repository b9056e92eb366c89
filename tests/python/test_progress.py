"""verbose=1: one progress line per epoch, printed through Python's sys.stdout
(so capsys, and Jupyter, see it), with the elapsed time and the time left (for
the VAE also the loss's reconstruction and KL terms).
verbose=2: also a bar over the batches of long epochs: tqdm's when tqdm is
installed, otherwise a text bar redrawn in place with '\\r' at most every
0.2 s, which the epoch's line then replaces."""

import re
import sys
import threading
import time

import numpy as np
import pytest

from vaekit import VAE, Autoencoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X = np.random.default_rng(0).normal(size=(60, 4))
LINE = re.compile(r"Epoch (\d+)/(\d+), loss = \S+(?:, reconstruction = \S+, KL = \S+)?(, validation score = \S+)?, "
                  r"\S+ s, elapsed \S+ s, ETA \S+ s$")


@pytest.mark.parametrize("estimator_class", [VAE, Autoencoder])
def test_fit_prints_every_epoch_with_elapsed_time_and_eta(estimator_class, capsys):
    estimator_class(hidden_layer_sizes=(4,), max_iter=5, n_iter_no_change=100, verbose=1, random_state=0).fit(X)
    lines = capsys.readouterr().out.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert len(lines) == 5 and all(matches), lines
    assert [int(m.group(1)) for m in matches] == [1, 2, 3, 4, 5]
    assert {m.group(2) for m in matches} == {"5"}
    assert lines[-1].endswith("ETA 0.00 s")


def test_early_stopping_lines_show_the_validation_score(capsys):
    VAE(hidden_layer_sizes=(4,), max_iter=3, early_stopping=True, verbose=1, random_state=0).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(LINE.match(line).group(3) for line in lines), lines


def test_partial_fit_prints_one_line_without_eta(capsys):
    vae = VAE(hidden_layer_sizes=(4,), max_iter=2, verbose=1, random_state=0).fit(X)
    capsys.readouterr()
    vae.partial_fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Epoch 3, loss = ") and "ETA" not in lines[0]


def test_verbose_0_prints_nothing(capsys):
    VAE(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------ verbose=2: a bar over the batches of long epochs
BAR = re.compile(r"Epoch (\d+)(/\d+)? \[([#.]{30})\] ([\d,]+)/([\d,]+) samples, \S+ s, ETA \S+ s *$")


def split_output(out):
    """(bars, lines): the bars drawn (in order) and the text left on each line
    once every '\\r' has returned to its start, as a terminal or Jupyter shows it."""
    bars, lines = [], []
    assert out.endswith("\n"), repr(out[-200:])
    for line in out[:-1].split("\n"):
        segments = line.split("\r")
        bars += [segment for segment in segments if BAR.match(segment)]
        lines.append(segments[-1])
    return bars, lines


@pytest.fixture
def no_tqdm(monkeypatch):
    """tqdm made unimportable: the text bar, as without tqdm installed."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.fixture
def bar_at_once(monkeypatch, no_tqdm):
    """Text bars from the first batch of every epoch on (instead of after 0.5 s)."""
    from vaekit._neural import _NeuralEstimator
    monkeypatch.setattr(_NeuralEstimator, "_progress_bar_delay", 0.0)


def test_without_tqdm_the_text_bar_is_used(no_tqdm):
    from vaekit import _progress
    assert _progress._tqdm() is None


@pytest.mark.parametrize("estimator_class", [VAE, Autoencoder])
def test_verbose_2_draws_a_bar_with_carriage_returns_then_the_epoch_lines(estimator_class, bar_at_once, capsys):
    estimator_class(hidden_layer_sizes=(4,), batch_size=16, max_iter=3, n_iter_no_change=100, verbose=2,
                    random_state=0).fit(X)
    out = capsys.readouterr().out
    bars, lines = split_output(out)
    assert "\r" in out and bars, out
    # The first bar: after the first batch of 16 of the 60 samples; never after the last one.
    first = BAR.match(bars[0])
    assert first.group(1, 2, 4, 5) == ("1", "/3", "16", "60") and first.group(3) == "#" * 8 + "." * 22
    assert all(BAR.match(bar).group(4) != "60" for bar in bars)
    # Each epoch's line replaces its bar (blanked first, so no bar text is left over).
    assert [int(LINE.match(line).group(1)) for line in lines] == [1, 2, 3], lines
    assert out.startswith("\r" + bars[0]) and ("\r" + " " * len(bars[0]) + "\rEpoch 1/3, loss = ") in out


def test_verbose_2_with_fast_epochs_prints_only_the_epoch_lines(no_tqdm, capsys):
    # Epochs of 60 samples take milliseconds, far below the 0.5 s that earns a bar.
    VAE(hidden_layer_sizes=(4,), batch_size=8, max_iter=4, n_iter_no_change=100, verbose=2, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "\r" not in out and "[" not in out
    assert len(out.splitlines()) == 4 and all(LINE.match(line) for line in out.splitlines())


def test_bar_is_redrawn_at_most_five_times_a_second(bar_at_once, capsys):
    rng = np.random.default_rng(1)
    X_large = rng.normal(size=(6000, 32)).astype(np.float32)
    start = time.perf_counter()
    Autoencoder(hidden_layer_sizes=(64,), batch_size=4, max_iter=3, n_iter_no_change=100, verbose=2,
                random_state=0).fit(X_large)
    elapsed = time.perf_counter() - start
    bars, lines = split_output(capsys.readouterr().out)
    assert [int(LINE.match(line).group(1)) for line in lines] == [1, 2, 3]
    # One bar per 0.2 s at most (the first at once), out of 4,500 batches.
    assert 1 <= len(bars) <= elapsed / 0.2 + 1, (len(bars), elapsed)
    # Within an epoch the samples done only grow, and the bar fills up with them.
    progress = [(int(m.group(1)), int(m.group(4).replace(",", "")), m.group(3).count("#"))
                for m in map(BAR.match, bars)]
    assert progress == sorted(progress)
    assert all(filled == samples * 30 // 6000 for _, samples, filled in progress)


def test_partial_fit_bar_has_no_epoch_total(bar_at_once, capsys):
    vae = VAE(hidden_layer_sizes=(4,), batch_size=16, max_iter=1, verbose=2, random_state=0).fit(X)
    capsys.readouterr()
    vae.partial_fit(X)
    bars, lines = split_output(capsys.readouterr().out)
    assert bars and all(BAR.match(bar).group(1, 2) == ("2", None) for bar in bars), bars
    assert len(lines) == 1 and lines[0].startswith("Epoch 2, loss = ")


def test_verbose_0_prints_nothing_even_for_long_epochs(bar_at_once, capsys):
    VAE(hidden_layer_sizes=(4,), batch_size=4, max_iter=2, random_state=0).fit(X)
    assert capsys.readouterr().out == ""


def test_verbose_2_works_from_a_thread(bar_at_once, capsys):
    estimator = VAE(hidden_layer_sizes=(4,), batch_size=16, max_iter=2, n_iter_no_change=100, verbose=2,
                    random_state=0)
    errors = []

    def fit():
        try:
            estimator.fit(X)
        except BaseException as error:  # noqa: BLE001  (reported below, on the main thread)
            errors.append(error)

    thread = threading.Thread(target=fit)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors, errors
    bars, lines = split_output(capsys.readouterr().out)
    assert bars and [int(LINE.match(line).group(1)) for line in lines] == [1, 2]


# ------------------------------------------------------------ verbose=2 with tqdm installed
@pytest.mark.parametrize("estimator_class", [VAE, Autoencoder])
def test_verbose_2_draws_tqdm_bars_when_tqdm_is_installed(estimator_class, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    from vaekit._neural import _NeuralEstimator
    monkeypatch.setattr(_NeuralEstimator, "_progress_bar_delay", 0.0)
    estimator_class(hidden_layer_sizes=(4,), batch_size=16, max_iter=3, n_iter_no_change=100, verbose=2,
                    random_state=0).fit(X)
    captured = capsys.readouterr()
    # tqdm's bar on stderr (the first batch's report comes at once; an epoch's
    # bar is cleared when it ends), the epoch lines alone on stdout.
    assert "Epoch 1/3:" in captured.err and "16/60" in captured.err and "samples" in captured.err, captured.err
    lines = captured.out.splitlines()
    assert "\r" not in captured.out and [int(LINE.match(line).group(1)) for line in lines] == [1, 2, 3]
