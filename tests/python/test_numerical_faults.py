"""Numerical faults give finite models or clear errors, never a silent NaN or
infinity: missing rows and columns in EM, constant and rank-deficient data,
extreme feature scales, float32 overflow, divergent training, and the stable
forms of softplus, log-sigmoid and log-sum-exp at +-1e4."""

from functools import partial

import _data
import numpy as np
import pytest

from vaekit import PPCA, VAE, Autoencoder

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # scikit-learn's finiteness check sums X, which overflows for values near the float32 limit.
    pytest.mark.filterwarnings("ignore:invalid value encountered in reduce:RuntimeWarning"),
]

METHODS = ["closed_form", "em"]


# This module's data: 200 samples near a plane in 6 dimensions.
low_rank_data = partial(_data.low_rank_data, n=200, n_features=6, rank=2, noise=0.3, latent_first=True)


def assert_finite_ppca(model):
    for value in (model.components_, model.mean_, model.noise_variance_, model.explained_variance_,
                  model.explained_variance_ratio_):
        assert np.all(np.isfinite(value))
    assert model.noise_variance_ > 0


def assert_finite_neural(model):
    for array in model.encoder_coefs_ + model.encoder_intercepts_ + model.decoder_coefs_ + model.decoder_intercepts_:
        assert np.all(np.isfinite(array))


# ------------------------------------------------------------ PPCA's EM: NaN
def test_all_missing_rows_are_ignored_by_em():
    X = low_rank_data()
    X_with_empty_rows = np.insert(X, [0, 50, 50, 200], np.nan, axis=0)  # four rows with nothing observed
    complete = PPCA(2, method="em", tol=1e-12, max_iter=5000, random_state=0).fit(X)
    with_empty = PPCA(2, method="em", tol=1e-12, max_iter=5000, random_state=0).fit(X_with_empty_rows)
    assert_finite_ppca(with_empty)
    # The same maximum likelihood: an empty row carries no information.
    np.testing.assert_allclose(with_empty.mean_, complete.mean_, atol=1e-8)
    np.testing.assert_allclose(with_empty.noise_variance_, complete.noise_variance_, rtol=1e-6)
    np.testing.assert_allclose(with_empty.get_covariance(), complete.get_covariance(), rtol=1e-5, atol=1e-8)
    # An empty row's posterior is the prior (mean 0) and log p(nothing) = 0.
    empty = np.full((2, 6), np.nan)
    assert np.array_equal(with_empty.transform(empty), np.zeros((2, 2)))
    assert np.array_equal(with_empty.score_samples(empty), np.zeros(2))
    # The log-likelihood curve averages over all rows, empty ones included, like score().
    assert with_empty.log_likelihood_curve_[-1] == pytest.approx(with_empty.score(X_with_empty_rows), rel=1e-6)


def test_all_missing_column_is_a_clear_error():
    X = low_rank_data()
    X[:, 3] = np.nan
    with pytest.raises(ValueError, match="feature 3 has no observed value"):
        PPCA(2, method="em").fit(X)
    with pytest.raises(ValueError, match="feature 0 has no observed value"):
        PPCA(2, method="em").fit(np.full((10, 4), np.nan))


def test_nan_in_closed_form_says_to_use_em():
    X = low_rank_data()
    X[5] = np.nan
    with pytest.raises(ValueError, match='method="em"'):
        PPCA(2).fit(X)


# ------------------------------------------------- degenerate data for PPCA
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_columns_get_no_component_weight(method, dtype):
    X = low_rank_data().astype(dtype)
    X[:, [1, 4]] = dtype(7.5)
    model = PPCA(2, method=method, random_state=0).fit(X)
    assert_finite_ppca(model)
    assert np.array_equal(model.mean_[[1, 4]], np.full(2, 7.5, dtype=dtype))
    scale = np.abs(model.components_).max()
    assert np.all(np.abs(model.components_[:, [1, 4]]) <= 1e-3 * scale)
    assert np.all(np.isfinite(model.score_samples(X))) and np.all(np.isfinite(model.transform(X)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", [0.0, 3.0, -1e6])
def test_constant_data_gives_a_finite_degenerate_model(method, value):
    X = np.full((30, 5), value)
    model = PPCA(2, method=method, random_state=0).fit(X)
    assert_finite_ppca(model)
    assert np.array_equal(model.mean_, X[0])
    assert np.all(model.transform(X) == 0)
    scores = model.score_samples(X)
    assert np.all(np.isfinite(scores)) and np.ptp(scores) == 0  # every sample is the mean


@pytest.mark.parametrize("method", METHODS)
def test_fewer_samples_than_features(method):
    X = low_rank_data(n=8, n_features=40)
    model = PPCA(3, method=method, tol=1e-12, max_iter=20000, random_state=0).fit(X)
    assert_finite_ppca(model)
    reference = PPCA(3).fit(X)
    assert model.score(X) == pytest.approx(reference.score(X), rel=1e-4)
    assert np.all(np.isfinite(model.transform(X)))


@pytest.mark.parametrize("method", METHODS)
def test_rank_deficient_data_with_as_many_components_as_samples(method):
    X = low_rank_data(n=4, n_features=10)
    model = PPCA(4, method=method, random_state=0).fit(X)
    assert_finite_ppca(model)
    assert np.all(np.isfinite(model.score_samples(X)))


# ------------------------------------------------------- feature scales
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_ppca_is_scale_equivariant_at_extreme_scales(method, dtype, scale):
    X = low_rank_data()
    # A fixed number of EM iterations (tol=0): the stopping test, relative to a
    # log-likelihood that shifts with the scale, could stop the fits apart.
    reference = PPCA(2, method=method, random_state=0, tol=0.0, max_iter=50).fit(X.astype(dtype))
    scaled = PPCA(2, method=method, random_state=0, tol=0.0, max_iter=50).fit((X * scale).astype(dtype))
    assert_finite_ppca(scaled)
    rtol = 1e-3 if dtype == np.float32 else 1e-7
    np.testing.assert_allclose(scaled.noise_variance_, reference.noise_variance_ * scale**2, rtol=rtol)
    np.testing.assert_allclose(np.abs(scaled.components_), np.abs(reference.components_) * scale, rtol=rtol,
                               atol=rtol * scale)
    # Posterior means do not depend on the units; log-likelihoods shift by D log(scale).
    np.testing.assert_allclose(np.abs(scaled.transform((X * scale).astype(dtype))),
                               np.abs(reference.transform(X.astype(dtype))), rtol=10 * rtol, atol=10 * rtol)
    np.testing.assert_allclose(scaled.score_samples((X * scale).astype(dtype)),
                               reference.score_samples(X.astype(dtype)) - 6 * np.log(scale), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("method", METHODS)
def test_features_of_very_different_scales(method):
    X = low_rank_data() * np.array([1e-8, 1.0, 1e8, 1.0, 1e-4, 1e4])
    model = PPCA(2, method=method, random_state=0).fit(X)
    assert_finite_ppca(model)
    assert np.all(np.isfinite(model.score_samples(X))) and np.all(np.isfinite(model.transform(X)))


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_neural_models_stay_finite_at_extreme_scales(cls, dtype, scale):
    X = low_rank_data() * scale
    model = cls(hidden_layer_sizes=(8,), max_iter=5, dtype=dtype, random_state=0)
    try:
        model.fit(X)
    except ValueError as error:  # a diverging fit on unscaled data is a clear error
        assert "scale the input" in str(error)
    assert_finite_neural(model)
    for method in ("transform", "score_samples"):
        assert np.all(np.isfinite(getattr(model, method)(X)))


# ------------------------------------------------------------- overflow
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype, value", [(np.float32, 1e30), (np.float32, 1e20), (np.float64, 1e200)])
def test_ppca_overflow_is_a_clear_error(method, dtype, value):
    X = (low_rank_data() * value).astype(dtype)
    assert np.all(np.isfinite(X))
    with pytest.raises(ValueError, match="too large for this floating-point precision"):
        PPCA(2, method=method, random_state=0).fit(X)


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_float32_training_overflow_is_a_clear_error(cls):
    X = low_rank_data() * 1e30
    model = cls(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with pytest.raises(ValueError, match="diverged.*scale the input"):
        model.fit(X)
    assert_finite_neural(model)
    assert model.n_iter_ == 0 and model.loss_curve_ == []


OVERFLOW_CASES = [(name, method) for name in ["PPCA-float32", "VAE", "Autoencoder"]
                  for method in ["transform", "score_samples", "log_likelihood", "inverse_transform"]
                  if method != "log_likelihood" or name == "VAE"]


@pytest.mark.parametrize("name, method", OVERFLOW_CASES)
def test_outputs_that_overflow_float32_are_errors_not_infinities(name, method):
    X = low_rank_data()
    if name == "PPCA-float32":
        model = PPCA(2).fit(X.astype(np.float32))
    else:
        model = (VAE if name == "VAE" else Autoencoder)(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X)
    huge = np.full((5, 2 if method == "inverse_transform" else 6), 3e38, dtype=np.float32)
    huge[:, ::2] = -3e38
    try:
        result = getattr(model, method)(huge)
    except ValueError as error:
        assert "too large for float32" in str(error)
    else:
        assert np.all(np.isfinite(result))


def test_iwae_of_the_cpp_core_is_minus_infinity_not_nan_when_every_weight_is_zero():
    # float32: (1e20 - f)^2 overflows, so every log p(x|z) is -inf. The core's
    # log-sum-exp must give -inf (the rounding of a huge negative number), not
    # -inf - (-inf) = NaN; the estimator then turns it into a clear error.
    vae = VAE(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(low_rank_data())
    huge = np.full((3, 6), 1e20, dtype=np.float32)
    assert np.all(vae._native_model().log_likelihood(huge, 10, 0) == -np.inf)
    with pytest.raises(ValueError, match="VAE.log_likelihood: the result is not finite"):
        vae.log_likelihood(huge)


def test_float64_outputs_that_overflow_are_errors():
    model = VAE(hidden_layer_sizes=(8,), max_iter=3, dtype=np.float64, random_state=0).fit(low_rank_data())
    with pytest.raises(ValueError, match="VAE.score_samples: the result is not finite for 1 of 3 rows "
                                         r"\(first: row 1\).*scale the data"):
        model.score_samples(np.array([[0.0] * 6, [1e300] * 6, [1.0] * 6]))


# ----------------------------------------------------------- divergence
@pytest.mark.parametrize("cls", [VAE, Autoencoder])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_divergent_training_stops_with_a_clear_error(cls, dtype):
    X = low_rank_data()
    model = cls(hidden_layer_sizes=(16,), learning_rate=1e6, max_iter=100, dtype=dtype, random_state=0)
    with pytest.raises(ValueError, match=r"training diverged.*learning_rate=1e\+06"):
        model.fit(X)
    assert_finite_neural(model)
    assert model.n_iter_ < 100 and len(model.loss_curve_) == model.n_iter_
    assert np.all(np.isfinite(model.transform(X)))  # still usable
    model.set_params(learning_rate=1e-3).partial_fit(X)
    assert_finite_neural(model)


def test_divergence_test_ignores_changes_between_partial_fit_calls():
    # A loss that jumps because the data changed scale between calls is not divergence.
    X = low_rank_data()
    model = VAE(hidden_layer_sizes=(8,), dtype=np.float64, random_state=0).partial_fit(X / 1e3)
    model.partial_fit(X * 1e4)
    assert model.loss_curve_[1] > 1e6 * abs(model.loss_curve_[0])


# ----------------------------------------- stable softplus, log-sigmoid, LSE
def set_layer(model, network, layer, coef, intercept):
    """Replaces one layer's fitted parameters (new lists: the model is rebuilt from them)."""
    coefs, intercepts = list(getattr(model, f"{network}_coefs_")), list(getattr(model, f"{network}_intercepts_"))
    coefs[layer] = np.full_like(coefs[layer], coef)
    intercepts[layer] = np.asarray(np.broadcast_to(intercept, intercepts[layer].shape), dtype=intercepts[layer].dtype)
    setattr(model, f"{network}_coefs_", coefs)
    setattr(model, f"{network}_intercepts_", intercepts)
    return model


def constant_decoder(model, value):
    """The decoder outputs `value` whatever z."""
    return set_layer(model, "decoder", -1, 0.0, value)


@pytest.mark.parametrize("logit", [1e4, -1e4])
def test_bernoulli_elbo_and_iwae_at_extreme_logits(logit):
    X = (np.random.default_rng(0).uniform(size=(40, 6)) > 0.5).astype(float)
    vae = VAE(likelihood="bernoulli", hidden_layer_sizes=(8,), max_iter=2, dtype=np.float64, random_state=0).fit(X)
    constant_decoder(vae, logit)
    # log p(x|z) = sum_j x_j f - softplus(f): exactly -(number of mismatched bits) * 1e4.
    mismatches = (X == 0).sum(axis=1) if logit > 0 else (X == 1).sum(axis=1)
    log_px = -1e4 * mismatches
    mean, std = vae.encode(X)
    kl = 0.5 * np.sum(mean**2 + std**2 - np.log(std**2) - 1, axis=1)
    np.testing.assert_allclose(vae.score_samples(X), log_px - kl, rtol=1e-12, atol=1e-8)
    # IWAE: p(x|z) does not depend on z, so log-sum-exp of weights near -6e4 must give
    # log p(x|z) + log mean(p(z)/q(z|x)) -> log p(x|z), not log(0) = -inf.
    iwae = vae.log_likelihood(X, n_samples=2000, random_state=0)
    assert np.all(np.isfinite(iwae))
    np.testing.assert_allclose(iwae, log_px, atol=0.5)
    # The decoder mean is sigmoid(f): exactly 1 or 0, never NaN.
    assert np.array_equal(vae.inverse_transform(vae.transform(X[:3])), np.full((3, 6), float(logit > 0)))


@pytest.mark.parametrize("offset", [1e4, -1e4])
def test_gaussian_iwae_when_every_weight_underflows(offset):
    X = np.random.default_rng(0).normal(size=(20, 4))
    vae = VAE(hidden_layer_sizes=(8,), max_iter=2, dtype=np.float64, random_state=0).fit(X)
    constant_decoder(vae, offset)
    # log p(x|z) ~ -2e8 per sample: exp() of every importance weight is 0 in float64.
    # The estimate is log p(x|z) + log mean_j p(z_j)/q(z_j|x), the last term O(1).
    g2 = vae.noise_variance_  # the learned decoder variance (the default, "scalar")
    log_px = -0.5 * np.sum(np.log(2 * np.pi * g2) + (X - offset) ** 2 / g2, axis=1)
    np.testing.assert_allclose(vae.log_likelihood(X, n_samples=500, random_state=0), log_px, rtol=0, atol=3.0)
    # Sampling the prior: every weight p(x|z_j) is the same constant, so the estimate is log p(x|z).
    np.testing.assert_allclose(vae.log_likelihood(X, n_samples=50, method="prior", random_state=0), log_px,
                               rtol=1e-12)


@pytest.mark.parametrize("logit", [1e4, -1e4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_autoencoder_loss_at_extreme_logits(logit, dtype):
    X = (np.random.default_rng(0).uniform(size=(30, 5)) > 0.5).astype(dtype)
    model = Autoencoder(loss="bce", hidden_layer_sizes=(4,), max_iter=2, dtype=dtype, random_state=0).fit(X)
    constant_decoder(model, logit)
    mismatches = (X == 0).sum(axis=1) if logit > 0 else (X == 1).sum(axis=1)
    np.testing.assert_allclose(model.score_samples(X), -1e4 * mismatches, rtol=1e-6)


@pytest.mark.parametrize("activation, expected", [
    ("softplus", {1e4: 1e4, -1e4: 0.0}), ("sigmoid", {1e4: 1.0, -1e4: 0.0}), ("tanh", {1e4: 1.0, -1e4: -1.0}),
    ("relu", {1e4: 1e4, -1e4: 0.0}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_at_plus_minus_1e4(activation, expected, dtype):
    X = np.random.default_rng(0).normal(size=(10, 3))
    model = Autoencoder(n_components=1, hidden_layer_sizes=(2,), activation=activation, max_iter=1, dtype=dtype,
                        random_state=0).fit(X)
    # Hidden pre-activations (+1e4, -1e4) whatever x; the code is their sum.
    set_layer(model, "encoder", 0, 0.0, [1e4, -1e4])
    set_layer(model, "encoder", 1, 1.0, 0.0)
    np.testing.assert_allclose(model.transform(X), expected[1e4] + expected[-1e4], rtol=1e-6)


def test_bernoulli_gradient_at_extreme_logits():
    # d(-log p)/df = sigmoid(f) - x: exactly 0 or +-1 per entry at |f| = 1e4, never NaN.
    vae = VAE(likelihood="bernoulli", hidden_layer_sizes=(), max_iter=1, dtype=np.float64, random_state=0).fit(
        np.zeros((4, 3)))
    X = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    eps = np.zeros((2, 2))
    for logit in (1e4, -1e4):
        native = constant_decoder(vae, logit)._native_model()
        loss, gradient = native.loss_and_gradient(native.parameters, X, eps)
        assert np.isfinite(loss) and np.all(np.isfinite(gradient))
        bias_gradient = gradient[-3:]  # the decoder's output biases are the last parameters
        np.testing.assert_allclose(bias_gradient, ((logit > 0) - X).mean(axis=0), atol=1e-12)
