"""PPCA on dask arrays: fits by reduction on a real dask.distributed cluster
of worker processes and out of core from zarr; lazy inference."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from vaekit import PPCA  # noqa: E402


def low_rank(n, D, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ (3 * rng.normal(size=(d, D))) + rng.normal(size=(n, D)) + 5


@pytest.fixture(scope="module")
def client():
    # A failed task is not retried: a dying worker fails the fit at once.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                      silence_logs=40) as cluster, distributed.Client(cluster) as client:
            yield client


X_NUMPY = low_rank(2000, 30, 3)
# Uneven row chunks, and column chunks that the fit merges.
X_DASK_CHUNKS = (300, 10)


def test_closed_form_on_a_cluster_equals_in_memory(client):
    X = da.from_array(X_NUMPY, chunks=X_DASK_CHUNKS)
    reference = PPCA(n_components=3).fit(X_NUMPY)
    model = PPCA(n_components=3).fit(X)
    for attribute in ("components_", "mean_", "explained_variance_"):
        got, expected = getattr(model, attribute), getattr(reference, attribute)
        assert np.abs(got - expected).max() <= 1e-8 * np.abs(expected).max()
    assert model.noise_variance_ == pytest.approx(reference.noise_variance_, rel=1e-8)
    assert model.n_features_in_ == 30
    # The same chunks give the same bits on the threaded scheduler: the
    # reduction's order is the graph's, not the workers'.
    with dask.config.set(scheduler="threads"):
        local = PPCA(n_components=3).fit(X)
    np.testing.assert_array_equal(local.components_, model.components_)


def test_em_on_a_cluster_equals_in_memory(client):
    X = da.from_array(X_NUMPY, chunks=(500, 30)).persist()
    # 30 iterations (a cluster round trip each), from the same random start.
    reference = PPCA(n_components=3, method="em", max_iter=30, tol=0, random_state=0).fit(X_NUMPY)
    model = PPCA(n_components=3, method="em", max_iter=30, tol=0, random_state=0).fit(X)
    assert model.n_iter_ == reference.n_iter_ == 30
    np.testing.assert_allclose(model.log_likelihood_curve_, reference.log_likelihood_curve_, rtol=1e-10)
    assert np.abs(model.components_ - reference.components_).max() <= 1e-7 * np.abs(reference.components_).max()


def test_em_with_missing_values_on_a_cluster_equals_in_memory(client):
    # NaN are missing: each iteration sums the blocks' missing-value
    # statistics, O(D d^2) values per block; dense and sparse blocks.
    X_missing = X_NUMPY.copy()
    X_missing[np.random.default_rng(1).random(X_missing.shape) < 0.15] = np.nan
    X_missing[:, 7][:1500] = np.nan  # a feature missing from whole blocks
    reference = PPCA(n_components=3, method="em", max_iter=15, tol=0, random_state=0).fit(X_missing)
    X = da.from_array(X_missing, chunks=(500, 30)).persist()
    for chunks in (X, X.map_blocks(sp.csr_matrix, meta=sp.csr_matrix((0, 0)))):
        model = PPCA(n_components=3, method="em", max_iter=15, tol=0, random_state=0).fit(chunks)
        np.testing.assert_allclose(model.log_likelihood_curve_, reference.log_likelihood_curve_, rtol=1e-10)
        assert np.abs(model.components_ - reference.components_).max() <= 1e-8 * np.abs(reference.components_).max()
    Z = model.transform(X)
    np.testing.assert_allclose(Z.compute(), reference.transform(X_missing), rtol=0, atol=1e-8)
    with pytest.raises(ValueError, match="closed-form PPCA needs complete data"):
        PPCA(n_components=3).fit(X)


def test_inference_is_lazy_and_equals_numpy(client):
    model = PPCA(n_components=3).fit(X_NUMPY)
    X = da.from_array(X_NUMPY, chunks=(300, 30))
    Z = model.transform(X)
    assert isinstance(Z, da.Array) and Z.chunks == (X.chunks[0], (3,)) and Z.dtype == np.float64
    np.testing.assert_allclose(Z.compute(), model.transform(X_NUMPY), rtol=0, atol=1e-12)
    mean, std = model.encode(X)
    np.testing.assert_array_equal(mean.compute(), Z.compute())
    np.testing.assert_allclose(std.compute(), model.encode(X_NUMPY)[1])
    scores = model.score_samples(X)
    assert isinstance(scores, da.Array) and scores.chunks == (X.chunks[0],)
    np.testing.assert_allclose(scores.compute(), model.score_samples(X_NUMPY), rtol=1e-12)
    assert model.score(X) == pytest.approx(model.score(X_NUMPY), rel=1e-12)
    back = model.inverse_transform(Z)
    assert isinstance(back, da.Array)
    np.testing.assert_allclose(back.compute(), model.inverse_transform(model.transform(X_NUMPY)), atol=1e-10)
    # float32 stays float32
    Z32 = model.transform(X.astype(np.float32))
    assert Z32.dtype == np.float32 and Z32.compute().dtype == np.float32


def test_bad_dask_input():
    X = da.from_array(X_NUMPY, chunks=(300, 30))
    unknown = X[X[:, 0] > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        PPCA(n_components=2).fit(unknown)
    with pytest.raises(ValueError, match="Complex"):
        PPCA(n_components=2).fit(X.astype(np.complex128))
    with pytest.raises(ValueError, match="2-D"):
        PPCA(n_components=2).fit(X[:, 0])
    bad = da.from_array(np.where(np.arange(30) == 4, np.inf, X_NUMPY), chunks=(300, 30))
    with dask.config.set(scheduler="threads"), pytest.raises(ValueError, match="infinity"):
        PPCA(n_components=2).fit(bad)


def _die(block):
    import os

    if block.shape[0] == 77:  # the one odd-sized block
        os._exit(1)
    return block


def test_a_worker_dying_mid_fit_leaves_the_previous_model(client):
    model = PPCA(n_components=3).fit(X_NUMPY[:500])
    before = model.components_.copy()
    X = da.from_array(X_NUMPY[:377], chunks=(100, 30)).map_blocks(_die)
    with pytest.raises(distributed.scheduler.KilledWorker):
        model.fit(X)
    np.testing.assert_array_equal(model.components_, before)
    assert model.n_features_in_ == 30
    client.wait_for_workers(2, timeout=60)


def test_out_of_core_from_zarr_with_bounded_memory(tmp_path):
    # 200,000 x 50 float64 (80 MB) in 10,000-row chunks, fitted with the
    # threaded scheduler in a fresh process: the peak memory grows by a few
    # blocks, not by the array.
    pytest.importorskip("zarr")
    script = textwrap.dedent(f"""
        import resource
        import numpy as np, dask, dask.array as da
        from vaekit import PPCA
        path = {str(tmp_path / "x.zarr")!r}
        X = da.random.RandomState(0).normal(size=(200_000, 50), chunks=(10_000, 50)) + 3
        X.to_zarr(path)
        X = da.from_zarr(path)
        with dask.config.set(scheduler="threads", num_workers=2):
            PPCA(n_components=3).fit(X[:20_000])  # imports and pools warmed up
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            model = PPCA(n_components=3).fit(X)
            score = model.score(X)
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        expected = float(X[:, :].std(axis=0).mean().compute())
        print(after - before, X.nbytes, model.noise_variance_, score)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    grown, nbytes, noise, score = map(float, out.stdout.split())
    assert grown < 0.25 * nbytes
    assert noise == pytest.approx(1.0, rel=0.05) and np.isfinite(score)
