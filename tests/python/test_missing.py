"""Missing values in the VAE (MIWAE) and the Imputer: the masked ELBO and IWAE
bounds against numpy references, the linear VAE against PPCA-EM's maximum
likelihood on the same incomplete data, the imputations, and the errors.
The gradients of the masked bounds are checked by finite differences in
tests/cpp/test_vae.cpp (ElboGradient's missing_* and iwae_* cases)."""

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.datasets import load_breast_cancer
from sklearn.utils.estimator_checks import check_estimator

import vaekit
from vaekit import PPCA, VAE, Autoencoder, Imputer
from vaekit._native import core

from _reference import mlp_numpy


def _with_holes(X, rate, seed):
    rng = np.random.default_rng(seed)
    X = X.copy()
    X[rng.uniform(size=X.shape) < rate] = np.nan
    return X


def _bound_reference(model, parameters, X, eps, likelihood, beta, n_mc, objective):
    """The mean training objective by numpy: -ELBO_beta or -IWAE_beta of each
    row over its observed entries, 0 for a row with nothing observed."""
    n, D = X.shape
    hp = dict(n_components=eps.shape[1], hidden_layer_sizes=[5], activation="tanh", likelihood=likelihood,
              decoder_variance="scalar", beta=beta, n_mc_samples=n_mc, objective=objective)
    fitted = core.VAEFloat64.restore(D, hp, parameters=parameters)
    enc_w, enc_b = fitted.get_layers("encoder")
    dec_w, dec_b = fitted.get_layers("decoder")
    observed = ~np.isnan(X)
    E = mlp_numpy(np.where(observed, X, 0.0), enc_w, enc_b, np.tanh)
    d = eps.shape[1]
    h, log_k2 = E[:, :d], np.clip(E[:, d:], -20, 20)
    rows = np.repeat(np.arange(n), n_mc)
    Z = h[rows] + np.exp(log_k2[rows] / 2) * eps
    F = mlp_numpy(Z, dec_w, dec_b, np.tanh)
    x = np.where(observed, X, 0.0)[rows]
    if likelihood == "gaussian":
        log_g2 = np.clip(fitted.log_variance[0], -20, 20)
        terms = -0.5 * (np.log(2 * np.pi) + log_g2 + (x - F) ** 2 / np.exp(log_g2))
    else:
        terms = x * F - np.logaddexp(0, F)
    log_px = (terms * observed[rows]).sum(axis=1).reshape(n, n_mc)
    kl = 0.5 * (h ** 2 + np.exp(log_k2) - log_k2 - 1).sum(axis=1)
    if objective == "elbo":
        loss = -log_px.mean(axis=1) + beta * kl
    else:
        prior_ratio = 0.5 * ((eps ** 2).sum(axis=1) - (Z ** 2).sum(axis=1) + log_k2[rows].sum(axis=1))
        log_w = log_px + beta * prior_ratio.reshape(n, n_mc)
        loss = -(logsumexp(log_w, axis=1) - np.log(n_mc))
    loss[~observed.any(axis=1)] = 0.0
    return loss.mean()


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_masked_bound_equals_numpy_reference(likelihood, objective):
    rng = np.random.default_rng(1)
    n, D, d, n_mc, beta = 6, 5, 2, 4, 0.7
    X = rng.normal(size=(n, D)) if likelihood == "gaussian" else rng.uniform(size=(n, D))
    X[0, 1] = X[2, [0, 3, 4]] = X[5, 2] = np.nan
    X[4] = np.nan  # nothing observed
    model = core.VAEFloat64(D, dict(n_components=d, hidden_layer_sizes=[5], activation="tanh",
                                    likelihood=likelihood, decoder_variance="scalar", beta=beta, n_mc_samples=n_mc,
                                    objective=objective))
    model.initialize(0, np.nan_to_num(X))
    parameters = model.parameters + 0.1 * rng.normal(size=model.n_parameters)
    eps = rng.normal(size=(n * n_mc, d))
    loss, gradient = model.loss_and_gradient(parameters, X, eps)
    assert loss == pytest.approx(_bound_reference(model, parameters, X, eps, likelihood, beta, n_mc, objective),
                                 rel=1e-12)
    # A row with nothing observed adds nothing: without it, the same loss and
    # gradient up to the mean's denominator.
    keep = np.arange(n) != 4
    loss_without, gradient_without = model.loss_and_gradient(parameters, X[keep], eps.reshape(n, n_mc, d)[keep]
                                                             .reshape(-1, d))
    assert loss * n == pytest.approx(loss_without * (n - 1), rel=1e-12)
    np.testing.assert_allclose(gradient * n, gradient_without * (n - 1), rtol=1e-10, atol=1e-14)


def test_iwae_bound_tightens_with_k_and_matches_elbo_for_one_sample():
    X = load_breast_cancer().data[:200]
    X = _with_holes((X - X.mean(0)) / X.std(0), 0.3, 0)
    vae = VAE(n_components=4, hidden_layer_sizes=(32,), max_iter=30, random_state=0).fit(X)
    bounds = [vae.log_likelihood(X, n_samples=m, random_state=0).mean() for m in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2]
    assert abs(bounds[0] - vae.score(X)) < 0.05 * abs(vae.score(X))  # one-sample IWAE = ELBO in expectation


def _ppca_log_likelihood_observed(X, W, mean, noise_variance):
    """Exact mean log p(x_obs) of PPCA (W: d x D) by numpy, row by row."""
    total = 0.0
    for x in X:
        o = ~np.isnan(x)
        C = W[:, o].T @ W[:, o] + noise_variance * np.eye(o.sum())
        r = x[o] - mean[o]
        _, log_det = np.linalg.slogdet(C)
        total += -0.5 * (o.sum() * np.log(2 * np.pi) + log_det + r @ np.linalg.solve(C, r))
    return total / len(X)


def test_linear_vae_on_incomplete_data_approaches_ppca_em():
    # The incomplete-data version of the linear-VAE test: a VAE without hidden
    # layers has a PPCA as decoder, so its exact log p(x_obs) is known; trained
    # on incomplete data (MIWAE bound) it approaches PPCA-EM's maximum.
    rng = np.random.default_rng(0)
    n, D, d = 2000, 6, 2
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, D)) + 0.3 * rng.normal(size=(n, D))
    X = _with_holes(X - X.mean(0), 0.2, 1)
    ppca = PPCA(n_components=d, method="em", tol=1e-8, max_iter=2000).fit(X)
    best = _ppca_log_likelihood_observed(X, ppca.components_, ppca.mean_, ppca.noise_variance_)
    assert ppca.score(X) == pytest.approx(best, rel=1e-6)  # the reference is PPCA's own likelihood
    # The encoder, linear in x with its missing entries set to 0, cannot give
    # the exact posterior of every pattern of missing entries; the IWAE bound
    # with many draws makes up for it (K = 10 stops 1.7% short, K = 50 0.15%).
    vae = VAE(n_components=d, hidden_layer_sizes=(), objective="iwae", n_mc_samples=50, learning_rate=3e-3,
              batch_size=100, max_iter=300, dtype=np.float64, random_state=0).fit(X)
    W = vae.decoder_coefs_[0]
    achieved = _ppca_log_likelihood_observed(X, W, vae.decoder_intercepts_[0], vae.noise_variance_)
    assert achieved <= best + 1e-3
    assert achieved > best - 0.005 * abs(best)
    # Its bound is below its exact likelihood, and close to it.
    bound = vae.log_likelihood(X, n_samples=200, random_state=0).mean()
    assert achieved - 0.05 * abs(achieved) < bound < achieved + 1e-2


@pytest.fixture(scope="module")
def incomplete_fit():
    X = load_breast_cancer().data
    X = (X - X.mean(0)) / X.std(0)
    X_missing = _with_holes(X, 0.3, 2)
    vae = VAE(n_components=6, hidden_layer_sizes=(64,), activation="tanh", max_iter=60, random_state=0,
              dtype=np.float64).fit(X_missing)
    return X, X_missing, vae


def test_imputation_keeps_observed_entries_and_draws_average_to_the_mean(incomplete_fit):
    X, X_missing, vae = incomplete_fit
    rows = X_missing[:40]
    mean = vae.impute(rows, n_samples=2000, random_state=0)
    observed = ~np.isnan(rows)
    assert not np.isnan(mean).any()
    assert np.array_equal(mean[observed], rows[observed])  # bit for bit
    n_draws = 100
    draws = np.stack([vae.impute(rows, n_samples=1000, sample_posterior=True) for _ in range(n_draws)])
    assert np.array_equal(draws[:, observed], np.broadcast_to(rows[observed], (n_draws, observed.sum())))
    assert not np.array_equal(draws[0], draws[1])  # a new draw at each call
    spread = draws.std(axis=0)[~observed]
    error = np.abs(draws.mean(axis=0) - mean)[~observed]
    assert np.all(error < 5 * spread / np.sqrt(n_draws) + 1e-3)
    fixed = vae.impute(rows, n_samples=100, sample_posterior=True, random_state=3)
    assert np.array_equal(fixed, vae.impute(rows, n_samples=100, sample_posterior=True, random_state=3))
    # The imputation is better than the mean of the feature (0 here).
    assert np.sqrt(np.mean((mean - X[:40])[~observed] ** 2)) < 0.8


def test_inference_takes_missing_values(incomplete_fit):
    X, X_missing, vae = incomplete_fit
    Z = vae.transform(X_missing)
    assert np.isfinite(Z).all()
    zeroed = np.nan_to_num(X_missing)
    np.testing.assert_array_equal(Z, vae.transform(zeroed))  # the encoder reads a missing entry as 0
    scores = vae.score_samples(X_missing)
    assert np.isfinite(scores).all()
    empty = np.full((1, X.shape[1]), np.nan)
    assert vae.score_samples(empty)[0] == 0.0
    assert vae.log_likelihood(empty, n_samples=10)[0] == 0.0
    # Fewer observed entries, higher log p(x_obs) (fewer densities multiplied).
    assert vae.log_likelihood(X_missing, n_samples=50, random_state=0).mean() > \
        vae.log_likelihood(X, n_samples=50, random_state=0).mean()


def test_missing_value_errors():
    X = _with_holes(np.random.default_rng(0).normal(size=(50, 4)), 0.2, 0)
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match="feature 2 is missing"):
        VAE(max_iter=2).fit(X)
    with pytest.raises(ValueError, match="no observed value"):
        Imputer().fit(X)
    X[:, 2] = 1.0
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        VAE(max_iter=2).fit(X)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="vaekit.VAE trains on incomplete data.*vaekit.Imputer"):
        Autoencoder(max_iter=2).fit(X)
    autoencoder = Autoencoder(max_iter=2).fit(np.nan_to_num(X))
    with pytest.raises(ValueError, match="vaekit.Imputer"):
        autoencoder.transform(X[:, :].astype(np.float64))


def test_bernoulli_vae_trains_on_incomplete_images():
    rng = np.random.default_rng(0)
    X = (rng.uniform(size=(300, 16)) < 0.3).astype(float)
    X_missing = _with_holes(X, 0.5, 1)
    vae = VAE(likelihood="bernoulli", hidden_layer_sizes=(16,), objective="iwae", n_mc_samples=5, max_iter=5,
              random_state=0).fit(X_missing)
    imputed = vae.impute(X_missing, n_samples=50, random_state=0)
    missing = np.isnan(X_missing)
    assert ((imputed[missing] > 0) & (imputed[missing] < 1)).all()  # probabilities
    draws = vae.impute(X_missing, n_samples=50, sample_posterior=True, random_state=0)
    assert set(np.unique(draws[missing])) <= {0.0, 1.0}


def test_incomplete_dask_blocks_train():
    da = pytest.importorskip("dask.array")
    X = _with_holes(np.random.default_rng(0).normal(size=(400, 5)), 0.3, 0)
    X[:200, 1] = np.nan  # missing in the first blocks only: observed overall
    vae = VAE(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    vae.fit(da.from_array(X, chunks=(100, 5)))
    assert np.isfinite(vae.loss_curve_).all()
    X[200:, 1] = np.nan
    with pytest.raises(ValueError, match="feature 1 is missing"):
        VAE(hidden_layer_sizes=(8,), max_iter=3).fit(da.from_array(X, chunks=(100, 5)))
    # The Autoencoder's message names the estimators that take NaN, from dask blocks too.
    with pytest.raises(ValueError, match="vaekit.VAE trains on incomplete data.*vaekit.Imputer"):
        Autoencoder(hidden_layer_sizes=(8,), max_iter=3).fit(da.from_array(X, chunks=(100, 5)))


def test_imputer_follows_scikit_learn_conventions():
    X = load_breast_cancer().data[:60, :8]  # the default VAE trains 25 steps per sample below 120
    X_missing = _with_holes(X, 0.25, 3)
    imputer = Imputer(random_state=0).fit(X_missing)
    out = imputer.transform(X_missing)
    observed = ~np.isnan(X_missing)
    assert np.array_equal(out[observed], X_missing[observed]) and not np.isnan(out).any()
    np.testing.assert_array_equal(out, imputer.transform(X_missing))  # the mean imputation is fixed once fitted
    names = imputer.get_feature_names_out()
    assert list(names) == [f"x{i}" for i in range(8)]
    # A placeholder other than NaN.
    placeholder = np.where(observed, X, -1.0)
    np.testing.assert_allclose(Imputer(missing_values=-1.0, random_state=0).fit_transform(placeholder), out)
    # Multiple imputation: a new draw at each transform.
    sampler = Imputer(PPCA(n_components=3, method="em"), sample_posterior=True, random_state=0).fit(X_missing)
    first, second = sampler.transform(X_missing), sampler.transform(X_missing)
    assert not np.array_equal(first, second)
    assert np.array_equal(first[observed], X_missing[observed])
    exact = Imputer(PPCA(n_components=3, method="em", random_state=0)).fit(X_missing).transform(X_missing)
    ppca = PPCA(n_components=3, method="em", random_state=0).fit(X_missing)
    np.testing.assert_allclose(exact, ppca.impute(X_missing))


@pytest.mark.parametrize("estimator", [None, PPCA(n_components=1, method="em")], ids=["vae", "ppca"])
def test_imputer_passes_check_estimator(estimator, monkeypatch):
    # The checks are about conventions, not about how well the default VAE
    # trains: 100 Adam steps instead of its 3000 keep them quick (33 s -> 3 s).
    monkeypatch.setattr(vaekit.impute, "_DEFAULT_STEPS", 100)
    check_estimator(Imputer(estimator, n_samples=50, random_state=0))


def test_imputer_is_exported():
    assert vaekit.Imputer is Imputer and "Imputer" in vaekit.__all__


def test_model_files_keep_the_objective(tmp_path, incomplete_fit):
    X, X_missing, _ = incomplete_fit
    vae = VAE(n_components=2, hidden_layer_sizes=(8,), objective="iwae", n_mc_samples=3, encoder_mask=True,
              max_iter=2, random_state=0).fit(X_missing)
    vae.save(tmp_path / "vae.safetensors")
    loaded = vaekit.load(tmp_path / "vae.safetensors")
    assert (loaded.objective, loaded.n_mc_samples, loaded.encoder_mask) == ("iwae", 3, True)
    np.testing.assert_array_equal(loaded.impute(X_missing[:5], n_samples=10, random_state=0),
                                  vae.impute(X_missing[:5], n_samples=10, random_state=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encoder_mask_gives_the_encoder_the_mask(dtype):
    # With encoder_mask the encoder's input is [x with NaN set to 0, mask]: a
    # numpy forward pass of the fitted weights gives transform's posterior means.
    X = _with_holes(np.random.default_rng(1).normal(size=(120, 5)), 0.3, 1)
    X[7] = np.nan  # a row with nothing observed
    vae = VAE(n_components=3, hidden_layer_sizes=(8,), activation="tanh", objective="iwae", n_mc_samples=2,
              encoder_mask=True, max_iter=3, random_state=0, dtype=dtype).fit(X)
    assert vae.encoder_coefs_[0].shape == (10, 8)
    observed = ~np.isnan(X)
    rows = np.vstack([X, np.nan_to_num(X[:1])])  # last: a complete row (its mask all ones)
    inputs = np.hstack([np.nan_to_num(rows), np.vstack([observed, np.ones((1, 5), bool)])])
    W, b = vae.encoder_coefs_, vae.encoder_intercepts_
    expected = np.tanh(inputs @ W[0] + b[0]) @ W[1] + b[1]
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(vae.transform(rows), expected[:, :3], rtol=tolerance, atol=tolerance)
    # The mask matters: the same values with the missing ones given as 0 encode differently.
    assert not np.allclose(vae.transform(np.nan_to_num(X[:1])), vae.transform(X[:1]))
    imputed = vae.impute(X, n_samples=20, random_state=0)
    assert np.array_equal(imputed[observed], X.astype(dtype)[observed]) and np.isfinite(imputed).all()
