"""Central finite differences against the C++ gradients of the VAE objective
(-ELBO_beta) and the autoencoder loss, in float64, for every activation,
likelihood, decoder-variance mode and a non-unit beta."""

import numpy as np
import pytest

from vaekit._native import core

ACTIVATIONS = ["identity", "relu", "tanh", "sigmoid", "softplus"]
VAE_MODES = [("gaussian", "fixed"), ("gaussian", "scalar"), ("gaussian", "diagonal"),
             ("gaussian", "network"), ("bernoulli", "fixed")]


def relative_gradient_error(loss_and_gradient, parameters, step=1e-6):
    """max |numerical - analytic| / max |analytic| over all parameters."""
    _, analytic = loss_and_gradient(parameters)
    numerical = np.empty_like(parameters)
    for i in range(parameters.size):
        shift = np.zeros_like(parameters)
        shift[i] = step
        numerical[i] = (loss_and_gradient(parameters + shift)[0]
                        - loss_and_gradient(parameters - shift)[0]) / (2 * step)
    return np.max(np.abs(numerical - analytic)) / np.max(np.abs(analytic))


def vae_problem(activation, likelihood, variance, beta=1.3, hidden=(5, 3), n_mc_samples=2, seed=0):
    rng = np.random.default_rng(seed)
    n, n_features, n_components = 3, 4, 2
    model = core.VAEFloat64(n_features, dict(n_components=n_components, hidden_layer_sizes=list(hidden),
                                             activation=activation, likelihood=likelihood, decoder_variance=variance,
                                             noise_variance=0.7, beta=beta, n_mc_samples=n_mc_samples))
    if likelihood == "gaussian":
        X = rng.normal(size=(n, n_features))
    else:
        X = rng.uniform(size=(n, n_features))  # soft targets
    model.initialize(seed, X)
    # Perturbed so that the zero-initialised log-variance heads take part too.
    parameters = model.parameters + 0.1 * rng.normal(size=model.n_parameters)
    eps = rng.normal(size=(n * n_mc_samples, n_components))
    return model, parameters, X, eps


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("likelihood,variance", VAE_MODES)
def test_vae_gradient_matches_finite_differences(activation, likelihood, variance):
    model, parameters, X, eps = vae_problem(activation, likelihood, variance)
    error = relative_gradient_error(lambda p: model.loss_and_gradient(p, X, eps), parameters)
    assert error < 1e-6


@pytest.mark.parametrize("beta", [0.0, 0.25, 4.0])
def test_vae_gradient_for_beta_and_kl(beta):
    # beta = 0: the likelihood term alone; a large beta: the KL dominates.
    model, parameters, X, eps = vae_problem("tanh", "gaussian", "diagonal", beta=beta)
    error = relative_gradient_error(lambda p: model.loss_and_gradient(p, X, eps), parameters)
    assert error < 1e-6


def test_vae_gradient_without_hidden_layers():
    model, parameters, X, eps = vae_problem("identity", "gaussian", "scalar", hidden=(), n_mc_samples=3)
    error = relative_gradient_error(lambda p: model.loss_and_gradient(p, X, eps), parameters)
    assert error < 1e-6


def test_kl_term_is_closed_form():
    # Same parameters and eps, beta = 1 and beta = 2: the loss difference is
    # exactly the mean closed-form KL 1/2 sum(h^2 + k^2 - log k^2 - 1).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 4))
    eps = rng.normal(size=(5, 2))
    configs = [dict(n_components=2, hidden_layer_sizes=[], activation="identity", decoder_variance="fixed",
                    beta=beta) for beta in (1.0, 2.0)]
    models = [core.VAEFloat64(4, config) for config in configs]
    models[0].initialize(1, X)
    parameters = models[0].parameters + 0.3 * rng.normal(size=models[0].n_parameters)
    losses = [model.loss_and_gradient(parameters, X, eps)[0] for model in models]
    mean, std = core.VAEFloat64.restore(4, configs[0], parameters).encode(X)
    assert np.all(std != 1.0)
    kl = 0.5 * np.sum(mean**2 + std**2 - np.log(std**2) - 1.0, axis=1).mean()
    assert losses[1] - losses[0] == pytest.approx(kl, rel=1e-10)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_autoencoder_gradient_matches_finite_differences(activation, loss):
    rng = np.random.default_rng(1)
    model = core.AutoencoderFloat64(4, dict(n_components=2, hidden_layer_sizes=[5, 3], activation=activation,
                                            loss=loss))
    X = rng.normal(size=(3, 4)) if loss == "mse" else rng.uniform(size=(3, 4))
    model.initialize(1, X)
    parameters = model.parameters + 0.1 * rng.normal(size=model.n_parameters)
    error = relative_gradient_error(lambda p: model.loss_and_gradient(p, X), parameters)
    assert error < 1e-6


def test_log_variance_clamp_has_zero_gradient_outside_its_range():
    # The learned scalar log g^2 set far below -20: clamped, so its derivative is 0.
    model, parameters, X, eps = vae_problem("tanh", "gaussian", "scalar")
    parameters[-1] = -25.0
    _, gradient = model.loss_and_gradient(parameters, X, eps)
    assert gradient[-1] == 0.0
    parameters[-1] = -19.0
    _, gradient = model.loss_and_gradient(parameters, X, eps)
    assert gradient[-1] != 0.0


@pytest.mark.parametrize("model_kind", ["vae", "autoencoder"])
def test_gradient_on_mostly_zero_inputs(model_kind):
    # 70 inputs, about 85% zeros (and one row all zero): the first layer's
    # products then work from the nonzero entries (a compressed batch).
    rng = np.random.default_rng(4)
    n, n_features = 4, 70
    X = rng.uniform(size=(n, n_features)) * (rng.uniform(size=(n, n_features)) < 0.15)
    X[2] = 0.0
    if model_kind == "vae":
        model = core.VAEFloat64(n_features, dict(n_components=2, hidden_layer_sizes=[3], activation="tanh",
                                                 likelihood="bernoulli"))
        eps = rng.normal(size=(n, 2))
        call = lambda p: model.loss_and_gradient(p, X, eps)  # noqa: E731
    else:
        model = core.AutoencoderFloat64(n_features, dict(n_components=2, hidden_layer_sizes=[3], activation="tanh",
                                                         loss="bce"))
        call = lambda p: model.loss_and_gradient(p, X)  # noqa: E731
    model.initialize(2, X)
    parameters = model.parameters + 0.1 * rng.normal(size=model.n_parameters)
    assert relative_gradient_error(call, parameters) < 1e-6
    # Inputs that are 0 in every row: their first-layer weights get exactly 0.
    _, gradient = call(parameters)
    unused = np.flatnonzero(~X.any(axis=0))
    assert unused.size > 0
    first_layer = gradient[:n_features * 3].reshape(n_features, 3)
    assert np.all(first_layer[unused] == 0.0)
