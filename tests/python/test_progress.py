"""verbose=1: one progress line per epoch, printed through Python's sys.stdout
(so capsys, and Jupyter, see it), with the elapsed time and the time left."""

import re

import numpy as np
import pytest

from vaekit import VAE, Autoencoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X = np.random.default_rng(0).normal(size=(60, 4))
LINE = re.compile(r"Epoch (\d+)/(\d+), loss = \S+(, validation score = \S+)?, \S+ s, elapsed \S+ s, ETA \S+ s$")


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
