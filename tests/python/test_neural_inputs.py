"""The Autoencoder and the VAE on scipy.sparse matrices (never made dense
whole) and on dask arrays (streamed block by block into one training process)."""

import numpy as np
import pytest
import scipy.sparse as sp

from vaekit import VAE, Autoencoder

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")


def sparse_counts(n=300, D=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.3, size=(n, D)).astype(np.float64)
    return X / max(X.max(), 1)


def small(cls, **kwargs):
    return cls(**{"n_components": 3, "hidden_layer_sizes": (16,), "max_iter": 4, "random_state": 0, **kwargs})


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
@pytest.mark.parametrize("fmt", [sp.csr_matrix, sp.csc_matrix, sp.csr_array])
def test_a_sparse_fit_is_the_dense_fit(cls, fmt):
    X = sparse_counts()
    dense = small(cls).fit(X)
    sparse = small(cls).fit(fmt(X))
    # The same rows in the same batches: the same bits for the Autoencoder; the
    # VAE's learned variance starts at the data's variance, summed over the
    # stored entries for sparse X (the last bits of the start differ).
    for got, expected in zip(sparse.encoder_coefs_ + sparse.decoder_coefs_, dense.encoder_coefs_ + dense.decoder_coefs_):
        if cls is Autoencoder:
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-6)
    Xs = fmt(X)
    np.testing.assert_array_equal(dense.transform(Xs), dense.transform(X))
    np.testing.assert_array_equal(dense.score_samples(Xs), dense.score_samples(X))


def test_sparse_inference_and_early_stopping_for_the_vae():
    X = sparse_counts(seed=1)
    Xs = sp.csr_matrix(X)
    dense = small(VAE, early_stopping=True).fit(X)
    sparse = small(VAE, early_stopping=True).fit(Xs)
    np.testing.assert_allclose(sparse.validation_scores_, dense.validation_scores_, rtol=1e-6)
    for got, expected in zip(dense.encode(Xs), dense.encode(X)):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(dense.log_likelihood(Xs, n_samples=5, random_state=3),
                                  dense.log_likelihood(X, n_samples=5, random_state=3))
    model = small(VAE).partial_fit(Xs)
    assert model.n_iter_ == 1


def test_a_one_block_dask_fit_is_the_numpy_fit():
    X = sparse_counts(seed=2).astype(np.float32)
    expected = small(VAE).fit(X)
    got = small(VAE).fit(da.from_array(X, chunks=(X.shape[0], 20)))
    np.testing.assert_array_equal(got.encoder_coefs_[0], expected.encoder_coefs_[0])
    assert got.loss_curve_ == expected.loss_curve_


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      silence_logs=40) as cluster, distributed.Client(cluster) as client:
            yield client


def test_streamed_training_on_a_cluster(client):
    X = np.random.default_rng(3).normal(size=(1200, 12)).astype(np.float32)
    Xd = da.from_array(X, chunks=(250, 12)).persist()
    model = small(VAE, early_stopping=True, n_iter_no_change=2, max_iter=30).fit(Xd)
    assert len(model.validation_scores_) == len(model.loss_curve_) == model.n_iter_
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    # The same chunks and seed give the same model on the threaded scheduler.
    with dask.config.set(scheduler="threads"):
        local = small(VAE, early_stopping=True, n_iter_no_change=2, max_iter=30).fit(
            da.from_array(X, chunks=(250, 12)))
    np.testing.assert_array_equal(local.encoder_coefs_[0], model.encoder_coefs_[0])
    Z = model.transform(Xd)
    assert isinstance(Z, da.Array) and Z.chunks == (Xd.chunks[0], (3,))
    np.testing.assert_array_equal(Z.compute(), model.transform(X))
    mean, std = model.encode(Xd)
    np.testing.assert_array_equal(std.compute(), model.encode(X)[1])
    np.testing.assert_array_equal(model.score_samples(Xd).compute(), model.score_samples(X))
    np.testing.assert_array_equal(model.inverse_transform(Z).compute(), model.inverse_transform(model.transform(X)))
    # partial_fit streams one epoch.
    assert small(Autoencoder).partial_fit(Xd).partial_fit(Xd).n_iter_ == 2


def _die(block):
    import os

    if block.shape[0] == 77:
        os._exit(1)
    return block


def test_a_worker_dying_mid_training_keeps_the_model(client):
    X = np.random.default_rng(4).normal(size=(377, 6))
    model = small(Autoencoder).fit(X)
    before = [coef.copy() for coef in model.encoder_coefs_]
    Xd = da.from_array(X, chunks=(100, 6)).map_blocks(_die)
    with pytest.raises(distributed.scheduler.KilledWorker):
        model.partial_fit(Xd)
    for coef, saved in zip(model.encoder_coefs_, before):
        np.testing.assert_array_equal(coef, saved)
    assert model.n_iter_ == 4
    np.testing.assert_array_equal(model._native_model().get_layers("encoder")[0][0], before[0])
    client.wait_for_workers(2, timeout=60)


def test_bad_blocks_are_errors():
    X = np.random.default_rng(5).uniform(size=(200, 5))
    X[150, 2] = 2.0  # outside [0, 1]: a Bernoulli likelihood's error, found in the block that holds it
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        small(VAE, likelihood="bernoulli").fit(da.from_array(X, chunks=(50, 5)))
    X[150, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        small(Autoencoder).fit(da.from_array(X, chunks=(50, 5)))


def test_dask_ml_incremental_feeds_partial_fit_block_by_block():
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X = da.from_array(np.random.default_rng(6).normal(size=(400, 6)), chunks=(100, 6))
    with dask.config.set(scheduler="threads"):
        incremental = wrappers.Incremental(small(VAE)).fit(X)
        Z = incremental.transform(X)
    assert incremental.estimator_.n_iter_ == 4  # one epoch per block
    # dask-ml's map_blocks declares the input's shape; the blocks have the output's.
    Z = Z.compute()
    assert Z.shape == (400, 3) and np.isfinite(Z).all()
