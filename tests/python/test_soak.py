"""Soak: many small fits, model-file round trips and inference calls in a loop
must not grow the resident memory (a leak in the core or the bindings would).

Bounded by time, not by a count of rounds: ~30 s in the normal suite
(VAEKIT_SOAK_SECONDS sets another budget, e.g. 1200 for a 20-minute soak).
The first third of the budget is a warm-up (allocator pools, import-time
caches, OpenMP threads); the resident set at its end is the baseline.
"""

import gc
import os
import sys
import time

import numpy as np
import pytest

import vaekit

SOAK_SECONDS = float(os.environ.get("VAEKIT_SOAK_SECONDS", "30"))
# Growth allowed after the warm-up: far below what a leak of one small model
# (or of one input copy) per round adds up to over hundreds of rounds, far
# above the allocator's noise.
MAX_GROWTH_BYTES = 20 * 2**20

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the resident set size from /proc/self/statm")


def resident_bytes():
    gc.collect()
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def one_round(round_index, directory):
    """Fits every kind of model on fresh small data, saves, loads and uses it."""
    rng = np.random.default_rng(round_index)
    X = rng.normal(size=(60, 8))
    X_missing = X.copy()
    X_missing[rng.random(X.shape) < 0.05] = np.nan
    X_unit = rng.random((60, 8)).astype(np.float32)
    neural = dict(n_components=2, hidden_layer_sizes=(16,), batch_size=16, max_iter=3, random_state=round_index)
    estimators = [
        (vaekit.PPCA(n_components=3), X),
        (vaekit.PPCA(n_components=3, method="em", max_iter=20, random_state=round_index), X_missing),
        (vaekit.VAE(decoder_variance="diagonal", **neural), X),
        (vaekit.VAE(likelihood="bernoulli", **neural), X_unit),
        (vaekit.Autoencoder(early_stopping=True, validation_fraction=0.2, **neural), X),
    ]
    for index, (estimator, data) in enumerate(estimators):
        estimator.fit(data)
        path = directory / f"model-{index}.safetensors"
        estimator.save(path)
        loaded = vaekit.load(path)
        Z = loaded.transform(data)
        loaded.inverse_transform(Z)
        loaded.score_samples(data)
        if hasattr(loaded, "sample"):
            loaded.sample(4)


# Three epochs are too few to converge, on purpose; pytest would also keep
# every recorded warning, which is memory growth of its own.
@pytest.mark.filterwarnings("ignore:.*maximum number of epochs")
def test_resident_memory_does_not_grow_over_many_fits_and_loads(tmp_path):
    start = time.monotonic()
    warm_up_end = start + SOAK_SECONDS / 3
    end = start + SOAK_SECONDS
    rounds = 0
    while time.monotonic() < warm_up_end:
        one_round(rounds, tmp_path)
        rounds += 1
    baseline = resident_bytes()
    warm_up_rounds = rounds
    while time.monotonic() < end:
        one_round(rounds, tmp_path)
        rounds += 1
    growth = resident_bytes() - baseline
    measured_rounds = rounds - warm_up_rounds
    assert measured_rounds >= 2, f"only {measured_rounds} rounds after the warm-up; raise VAEKIT_SOAK_SECONDS"
    assert growth < MAX_GROWTH_BYTES, (
        f"resident memory grew by {growth / 2**20:.1f} MiB over {measured_rounds} rounds after the warm-up")
