"""vaekit.Autoencoder: scikit-learn compatible; a linear autoencoder reaches
PCA's reconstruction error; the fitted coefficients reproduce transform,
inverse_transform and score_samples; a seed gives bit-identical models;
partial_fit, early stopping, weight decay, non-finite losses, and the BCE loss's
domain [0, 1]. Each test against an independent reference (PCA, numpy
re-implementations, scikit-learn's checks)."""

import pickle

from functools import partial

import _data
import numpy as np
import pytest
from _reference import mlp_numpy
from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit import Autoencoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# This module's data: 1,000 samples near a plane in 8 dimensions.
low_rank_data = partial(_data.low_rank_data, n=1000, n_features=8, rank=2, noise=0.2)


@parametrize_with_checks([
    Autoencoder(random_state=0),
    Autoencoder(hidden_layer_sizes=(8, 4), activation="sigmoid", dtype=np.float64, early_stopping=True,
                random_state=0),
])
def test_scikit_learn_compatible(estimator, check):
    check(estimator)


def test_linear_autoencoder_reaches_the_pca_reconstruction_error():
    # A linear autoencoder's optimum spans the leading principal subspace:
    # its loss is half the mean discarded variance per sample.
    X = low_rank_data()
    centred = X - X.mean(axis=0)
    eigenvalues = np.linalg.eigvalsh(centred.T @ centred / len(X))[::-1]
    pca_loss = 0.5 * eigenvalues[2:].sum()
    autoencoder = Autoencoder(n_components=2, hidden_layer_sizes=(), activation="identity", learning_rate=1e-2,
                              max_iter=300, n_iter_no_change=300, dtype=np.float64, random_state=0).fit(X)
    assert -autoencoder.score(X) == pytest.approx(pca_loss, rel=0.02)


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_coefs_reproduce_transform_inverse_transform_and_score_samples(loss):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(200, 6))
    autoencoder = Autoencoder(n_components=3, hidden_layer_sizes=(10,), activation="tanh", loss=loss, max_iter=5,
                              dtype=np.float64, random_state=0).fit(X)
    Z = mlp_numpy(X, autoencoder.encoder_coefs_, autoencoder.encoder_intercepts_, np.tanh)
    np.testing.assert_allclose(autoencoder.transform(X), Z, rtol=1e-10, atol=1e-12)
    output = mlp_numpy(Z, autoencoder.decoder_coefs_, autoencoder.decoder_intercepts_, np.tanh)
    if loss == "mse":
        reconstruction = output
        reference = -0.5 * np.sum((X - output) ** 2, axis=1)
    else:
        reconstruction = 1 / (1 + np.exp(-output))
        reference = np.sum(X * np.log(reconstruction) + (1 - X) * np.log(1 - reconstruction), axis=1)
    np.testing.assert_allclose(autoencoder.inverse_transform(Z), reconstruction, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(autoencoder.score_samples(X), reference, rtol=1e-9)


def test_same_seed_gives_bit_identical_models():
    X = low_rank_data(n=300)
    params = dict(hidden_layer_sizes=(16,), max_iter=4, random_state=3)
    a, b = Autoencoder(**params).fit(X), Autoencoder(**params).fit(X)
    assert all(np.array_equal(u, v) for u, v in zip(a.decoder_coefs_, b.decoder_coefs_))
    assert a.loss_curve_ == b.loss_curve_


def test_partial_fit_continues_like_fit():
    X = low_rank_data(n=300)
    params = dict(hidden_layer_sizes=(8,), max_iter=3, n_iter_no_change=100, random_state=4)
    fitted = Autoencoder(**params).fit(X)
    partial = Autoencoder(**params)
    for _ in range(3):
        partial = pickle.loads(pickle.dumps(partial.partial_fit(X)))
    assert partial.loss_curve_ == fitted.loss_curve_
    assert all(np.array_equal(u, v) for u, v in zip(fitted.encoder_coefs_, partial.encoder_coefs_))


def test_early_stopping_stops_and_records_validation_scores():
    X = low_rank_data(n=500)
    autoencoder = Autoencoder(hidden_layer_sizes=(16,), learning_rate=1e-2, early_stopping=True,
                              n_iter_no_change=2, max_iter=500, random_state=0).fit(X)
    assert autoencoder.n_iter_ < 500
    assert len(autoencoder.validation_scores_) == autoencoder.n_iter_
    assert autoencoder.best_validation_score_ == max(autoencoder.validation_scores_)


def test_weight_decay_shrinks_the_weights():
    X = low_rank_data(n=300)
    params = dict(hidden_layer_sizes=(16,), max_iter=30, n_iter_no_change=100, random_state=0)
    plain = Autoencoder(**params).fit(X)
    decayed = Autoencoder(weight_decay=1.0, **params).fit(X)
    norm = lambda model: sum(np.sum(W**2) for W in model.encoder_coefs_ + model.decoder_coefs_)  # noqa: E731
    assert norm(decayed) < norm(plain)


def test_non_finite_loss_raises_and_keeps_finite_weights():
    X = low_rank_data(n=300)
    autoencoder = Autoencoder(hidden_layer_sizes=(16,), learning_rate=1e6, max_iter=50, random_state=0)
    with pytest.raises(ValueError, match="learning_rate"):
        autoencoder.fit(X)
    assert all(np.all(np.isfinite(W)) for W in autoencoder.encoder_coefs_ + autoencoder.decoder_coefs_)


def test_bce_requires_data_in_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Autoencoder(loss="bce").fit(low_rank_data(n=20))


@pytest.mark.parametrize("scaler", ["MinMaxScaler", "StandardScaler"])
def test_default_autoencoder_gives_useful_features_on_both_scalings(scaler, scaled_digits, features_accuracy):
    # The default hyper-parameters (200 epochs of Adam at 1e-3, batches of 128, squared
    # error), with 8 latent dimensions and a hidden layer of 64 rather than 256 to keep the
    # test quick, on scikit-learn's digits scaled to [0, 1] or standardised.
    from sklearn.decomposition import PCA

    X_train, y_train, X_test, y_test = scaled_digits(scaler)
    autoencoder = Autoencoder(n_components=8, hidden_layer_sizes=(64,), random_state=0).fit(X_train)
    assert features_accuracy(autoencoder, X_train, y_train, X_test, y_test) > 0.75  # chance: 0.1
    # It reconstructs unseen digits about as well as PCA with as many components, or better.
    error = np.mean((autoencoder.inverse_transform(autoencoder.transform(X_test)) - X_test) ** 2)
    pca = PCA(n_components=8).fit(X_train)
    assert error < 1.2 * np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)
