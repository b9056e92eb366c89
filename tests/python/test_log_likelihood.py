"""VAE.log_likelihood's two estimators of log p(x), "importance" (IWAE) and
"prior" (naive Monte Carlo over z ~ N(0, I)), against the exact log-likelihood
of a linear VAE, log N(x; b, W W^T + g^2 I) computed with scipy; and the
free-energy identity log p(x) = ELBO(q) + KL(q || p(z|x)) on PPCA-EM, against
numpy's closed forms."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from vaekit import PPCA, VAE

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def low_dimensional_data(n=300, seed=0):
    """D = 3 features from a d = 2 linear-Gaussian model (plus noise)."""
    rng = np.random.default_rng(seed)
    W = np.array([[1.5, 0.3], [-0.8, 1.0], [0.4, -0.6]])
    return rng.normal(size=(n, 2)) @ W.T + 0.4 * rng.normal(size=(n, 3)) + np.array([1.0, -0.5, 0.2])


def fit_linear_vae(X, epochs):
    return VAE(n_components=2, hidden_layer_sizes=(), decoder_variance="scalar", learning_rate=1e-2,
               batch_size=32, max_iter=epochs, dtype=np.float64, random_state=0).fit(X)


@pytest.fixture(scope="module")
def linear_vae():
    """A linear VAE trained until its encoder is close to the exact posterior, and 40 rows."""
    X = low_dimensional_data()
    return fit_linear_vae(X, epochs=60), X[:40]


@pytest.fixture(scope="module")
def untrained_linear_vae():
    """After 2 epochs: q(z|x) is still far from p(z|x), so few samples give visibly low estimates."""
    X = low_dimensional_data()
    return fit_linear_vae(X, epochs=2), X[:40]


def exact_log_likelihood(vae, X):
    """log N(x; b, W W^T + g^2 I) of the linear decoder f(z) = W z + b, with scipy."""
    W = vae.decoder_coefs_[0].T
    b = vae.decoder_intercepts_[0]
    covariance = W @ W.T + vae.noise_variance_ * np.eye(X.shape[1])
    return multivariate_normal(b, covariance).logpdf(X)


@pytest.mark.parametrize("method,n_samples,n_rows,tolerance", [("importance", 1000, 40, 0.03),
                                                                ("prior", 100_000, 10, 0.03)])
def test_both_estimators_converge_to_the_exact_log_likelihood(linear_vae, method, n_samples, n_rows, tolerance):
    vae, X = linear_vae
    X = X[:n_rows]
    estimate = vae.log_likelihood(X, n_samples=n_samples, method=method, random_state=0)
    exact = exact_log_likelihood(vae, X)
    np.testing.assert_allclose(estimate, exact, atol=tolerance)
    assert abs(estimate.mean() - exact.mean()) < tolerance / 3


@pytest.mark.parametrize("method,n_samples", [("importance", 1), ("importance", 3), ("prior", 3), ("prior", 10)])
def test_estimates_are_lower_bounds_in_expectation(untrained_linear_vae, method, n_samples):
    # E[log p_hat] <= log E[p_hat] = log p(x) (Jensen): averaged over 40 rows and 20
    # seeds, the estimate lies below the exact value by more than twice its standard error.
    vae, X = untrained_linear_vae
    exact = exact_log_likelihood(vae, X)
    errors = np.stack([vae.log_likelihood(X, n_samples=n_samples, method=method, random_state=seed) - exact
                       for seed in range(20)])
    standard_error = errors.mean(axis=0).std() / np.sqrt(X.shape[0])
    assert errors.mean() < -2 * standard_error


def test_prior_sampling_needs_more_samples_than_importance_sampling(linear_vae):
    # With a trained encoder, q(z|x) is close to p(z|x): 10 importance samples are
    # nearly exact while 10 prior draws are far below.
    vae, X = linear_vae
    exact = exact_log_likelihood(vae, X).mean()
    gap = {method: exact - vae.log_likelihood(X, n_samples=10, method=method, random_state=0).mean()
           for method in ("importance", "prior")}
    assert abs(gap["importance"]) < 0.02 and gap["prior"] > 0.1


@pytest.mark.parametrize("method", ["importance", "prior"])
def test_estimates_do_not_depend_on_row_order(linear_vae, method):
    vae, X = linear_vae
    order = np.random.default_rng(1).permutation(X.shape[0])
    estimate = vae.log_likelihood(X, n_samples=50, method=method, random_state=3)
    np.testing.assert_array_equal(vae.log_likelihood(X[order], n_samples=50, method=method, random_state=3),
                                  estimate[order])
    np.testing.assert_array_equal(vae.log_likelihood(X[:1], n_samples=50, method=method, random_state=3),
                                  estimate[:1])


def test_importance_is_the_default_method(linear_vae):
    vae, X = linear_vae
    np.testing.assert_array_equal(vae.log_likelihood(X, n_samples=20, random_state=0),
                                  vae.log_likelihood(X, n_samples=20, method="importance", random_state=0))


@pytest.mark.parametrize("method", ["Prior", "posterior", "", None, 1])
def test_an_unknown_method_raises_value_error(linear_vae, method):
    vae, X = linear_vae
    with pytest.raises(ValueError, match='method must be "importance" or "prior"'):
        vae.log_likelihood(X, n_samples=5, method=method)


def test_method_is_keyword_only(linear_vae):
    vae, X = linear_vae
    with pytest.raises(TypeError):
        vae.log_likelihood(X, 5, "prior")


def ppca_elbo(X, W, mean, noise_variance, posterior_mean, posterior_covariance):
    """ELBO per row of PPCA's model (W, mean, noise_variance) with q(z|x) = N(posterior_mean,
    posterior_covariance), in closed form: E_q[log N(x; W z + mean, s^2 I)] - KL(q || N(0, I))."""
    D, d = W.shape
    residual = X - posterior_mean @ W.T - mean
    expected_log_likelihood = -0.5 * (D * np.log(2 * np.pi * noise_variance)
                                      + ((residual**2).sum(axis=1) + np.trace(W @ posterior_covariance @ W.T))
                                      / noise_variance)
    kl = 0.5 * ((posterior_mean**2).sum(axis=1) + np.trace(posterior_covariance) - d
                - np.linalg.slogdet(posterior_covariance)[1])
    return expected_log_likelihood - kl


def ppca_posterior(X, W, mean, noise_variance):
    """E-step: N(M^-1 W^T (x - mu), s^2 M^-1), M = W^T W + s^2 I (Tipping & Bishop 1999, eq. 6)."""
    M_inverse = np.linalg.inv(W.T @ W + noise_variance * np.eye(W.shape[1]))
    return (X - mean) @ W @ M_inverse, noise_variance * M_inverse


def ppca_m_step(X, posterior_mean, posterior_covariance):
    """The maximiser of the mean ELBO over (W, mu, s^2) with q held (Tipping & Bishop 1999, eqs. 27-28)."""
    mean = X.mean(axis=0)
    centred = X - mean
    W = centred.T @ posterior_mean @ np.linalg.inv(X.shape[0] * posterior_covariance
                                                   + posterior_mean.T @ posterior_mean)
    noise_variance = (((centred - posterior_mean @ W.T) ** 2).sum(axis=1).mean()
                      + np.trace(W @ posterior_covariance @ W.T)) / X.shape[1]
    return W, mean, noise_variance


def gaussian_kl(mean_q, covariance_q, mean_p, covariance_p):
    """KL(N(mean_q, covariance_q) || N(mean_p, covariance_p)) per row of the means."""
    d = covariance_q.shape[0]
    precision_p = np.linalg.inv(covariance_p)
    difference = mean_p - mean_q
    return 0.5 * (np.trace(precision_p @ covariance_q) - d
                  + np.einsum("ij,jk,ik->i", difference, precision_p, difference)
                  + np.linalg.slogdet(covariance_p)[1] - np.linalg.slogdet(covariance_q)[1])


def test_free_energy_identity_on_ppca_em():
    # log p(x) = ELBO(q) + KL(q || p(z|x)) for any q. EM's E-step sets q to the exact
    # posterior (KL = 0: the bound is tight); the M-step raises the ELBO with q held,
    # and log p(x) rises by at least as much. Checked on EM's iterates 3 and 4, with
    # the E-step and M-step re-implemented in numpy.
    X = low_dimensional_data(n=200, seed=2)
    previous, current = (PPCA(n_components=2, method="em", max_iter=k, tol=0.0, random_state=0).fit(X)
                         for k in (3, 4))
    np.testing.assert_allclose(current.log_likelihood_curve_[:3], previous.log_likelihood_curve_, rtol=1e-12)

    old = previous.components_.T, previous.mean_, previous.noise_variance_
    q_old = ppca_posterior(X, *old)
    tight = ppca_elbo(X, *old, *q_old)
    np.testing.assert_allclose(tight, previous.score_samples(X), rtol=1e-10)
    assert tight.mean() == pytest.approx(previous.log_likelihood_curve_[-1], rel=1e-10)

    new = ppca_m_step(X, *q_old)
    raised = ppca_elbo(X, *new, *q_old)
    assert raised.mean() > tight.mean()

    q_new = ppca_posterior(X, *new)
    log_likelihood = ppca_elbo(X, *new, *q_new)  # tight again: log p(x) under the new parameters
    np.testing.assert_allclose(log_likelihood, current.score_samples(X), rtol=1e-8)
    assert log_likelihood.mean() == pytest.approx(current.log_likelihood_curve_[-1], rel=1e-8)

    # The gap between the raised ELBO and the new log p(x) is KL(q_old || p(z|x; new)) > 0.
    kl = gaussian_kl(*q_old, *q_new)
    np.testing.assert_allclose(raised + kl, log_likelihood, rtol=1e-10)
    assert (kl > 0).all()
