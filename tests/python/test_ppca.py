"""vaekit.PPCA: the closed form is Tipping & Bishop's maximum-likelihood
solution and scores samples with the Gaussian density of its covariance;
transform is the posterior mean and sample follows the model; EM climbs
monotonically to the closed form's likelihood and, with missing values, scores
the observed marginal and recovers a planted subspace; impute is the Gaussian
conditional of the missing entries given the observed ones; bad input and API
behaviour (pickle, pipelines, memory layout). The references are scipy's
Gaussian density, a numpy eigendecomposition of the sample covariance, and
planted low-rank data."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from _data import low_rank_data
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vaekit import PPCA


def planted_data(n=600, D=12, d=3, noise=0.3, seed=0, offset=4.0):
    """x = W z + mu + noise * eps with a known W (D x d), its columns scaled from 3 down to 1."""
    return low_rank_data(n, D, d, noise=noise, scale=np.linspace(3, 1, d), offset=offset, seed=seed,
                         return_components=True)


def reference_ppca(X, d):
    """Tipping & Bishop's closed form, from numpy's eigh of S (divide by n)."""
    mean = X.mean(axis=0)
    S = np.cov(X, rowvar=False, bias=True)
    eigenvalues, eigenvectors = np.linalg.eigh(S)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    noise_variance = eigenvalues[d:].mean()
    W = eigenvectors[:, :d] * np.sqrt(eigenvalues[:d] - noise_variance)
    C = W @ W.T + noise_variance * np.eye(X.shape[1])
    return mean, W, noise_variance, C, eigenvalues


def principal_angles_sin(A, B):
    """Largest sine of the principal angles between span(A) and span(B)."""
    Qa, _ = np.linalg.qr(A)
    Qb, _ = np.linalg.qr(B)
    cosines = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    return np.sqrt(max(0.0, 1 - cosines.min() ** 2))


# ------------------------------------------------------------ closed form
def test_score_samples_equals_scipy_density_of_model_covariance():
    X, _ = planted_data()
    model = PPCA(3).fit(X)
    reference = multivariate_normal(model.mean_, model.get_covariance()).logpdf(X)
    assert_allclose(model.score_samples(X), reference, rtol=1e-6)
    assert model.score(X) == pytest.approx(reference.mean(), rel=1e-6)


def test_score_samples_on_new_data_equals_scipy_density():
    X, _ = planted_data(seed=0)
    X_new, _ = planted_data(n=50, seed=1)
    model = PPCA(2).fit(X)
    reference = multivariate_normal(model.mean_, model.get_covariance()).logpdf(X_new)
    assert_allclose(model.score_samples(X_new), reference, rtol=1e-6)


def test_closed_form_equals_numpy_eigendecomposition():
    X, _ = planted_data()
    mean, W, noise_variance, C, eigenvalues = reference_ppca(X, 3)
    model = PPCA(3).fit(X)
    assert_allclose(model.mean_, mean, rtol=1e-10)
    assert model.noise_variance_ == pytest.approx(noise_variance, rel=1e-10)
    assert_allclose(model.explained_variance_, eigenvalues[:3], rtol=1e-10)
    assert_allclose(model.get_covariance(), C, rtol=1e-9, atol=1e-12)
    # Columns of W agree up to sign (the eigenvalues are distinct here).
    signs = np.sign(np.sum(model.components_ * W.T, axis=1))
    assert_allclose(model.components_, signs[:, None] * W.T, atol=1e-8)
    assert model.n_iter_ == 1


def test_log_likelihood_is_the_closed_form_maximum():
    X, _ = planted_data()
    mean, _, noise_variance, C, eigenvalues = reference_ppca(X, 3)
    n, D = X.shape
    # Tipping & Bishop eq. 4 at the ML: L/n = -1/2 (D log 2pi + log|C| + tr(C^-1 S)).
    S = np.cov(X, rowvar=False, bias=True)
    expected = -0.5 * (D * np.log(2 * np.pi) + np.linalg.slogdet(C)[1] + np.trace(np.linalg.solve(C, S)))
    assert PPCA(3).fit(X).score(X) == pytest.approx(expected, rel=1e-9)


def test_fewer_samples_than_features():
    X, _ = planted_data(n=8, D=30, d=2)
    mean, W, noise_variance, C, eigenvalues = reference_ppca(X, 2)
    model = PPCA(2).fit(X)
    assert model.noise_variance_ == pytest.approx(noise_variance, rel=1e-8)
    assert_allclose(model.explained_variance_, eigenvalues[:2], rtol=1e-8)
    assert_allclose(model.get_covariance(), C, rtol=1e-8, atol=1e-10)
    reference = multivariate_normal(model.mean_, model.get_covariance()).logpdf(X)
    assert_allclose(model.score_samples(X), reference, rtol=1e-6)


def test_float32_is_kept_and_agrees_with_float64():
    X, _ = planted_data()
    model64 = PPCA(3).fit(X)
    model32 = PPCA(3).fit(X.astype(np.float32))
    assert model32.components_.dtype == np.float32
    assert model32.transform(X.astype(np.float32)).dtype == np.float32
    assert model32.score_samples(X.astype(np.float32)).dtype == np.float32
    assert model32.inverse_transform(np.zeros((1, 3), np.float32)).dtype == np.float32
    assert model32.noise_variance_ == pytest.approx(model64.noise_variance_, rel=1e-4)
    assert_allclose(model32.get_covariance(), model64.get_covariance(), rtol=1e-3, atol=1e-3)
    assert_allclose(model32.score_samples(X.astype(np.float32)), model64.score_samples(X), rtol=1e-4)


# ------------------------------------------------------------ posterior and sampling
def test_transform_is_the_posterior_mean():
    X, _ = planted_data()
    model = PPCA(3).fit(X)
    W = model.components_.T
    M = W.T @ W + model.noise_variance_ * np.eye(3)
    expected = np.linalg.solve(M, W.T @ (X - model.mean_).T).T  # Tipping & Bishop eq. 6
    assert_allclose(model.transform(X), expected, rtol=1e-9, atol=1e-10)


def test_inverse_transform_maps_latents_through_w_and_mean():
    X, _ = planted_data()
    model = PPCA(3).fit(X)
    Z = np.random.default_rng(3).normal(size=(7, 3))
    assert_allclose(model.inverse_transform(Z), Z @ model.components_ + model.mean_, rtol=1e-12)


def test_precision_is_the_inverse_covariance():
    X, _ = planted_data()
    model = PPCA(3).fit(X)
    assert_allclose(model.get_precision() @ model.get_covariance(), np.eye(X.shape[1]), atol=1e-10)


def test_samples_follow_the_model_distribution():
    X, _ = planted_data()
    model = PPCA(3).fit(X)
    draws = model.sample(200_000, random_state=0)
    assert draws.shape == (200_000, X.shape[1])
    assert_allclose(draws.mean(axis=0), model.mean_, atol=0.05)
    assert_allclose(np.cov(draws, rowvar=False), model.get_covariance(), atol=0.15)


def test_sample_is_reproducible_and_zero_samples_is_empty():
    X, _ = planted_data()
    model = PPCA(3).fit(X)
    assert_allclose(model.sample(5, random_state=1), model.sample(5, random_state=1))
    assert not np.allclose(model.sample(5, random_state=1), model.sample(5, random_state=2))
    assert model.sample(0).shape == (0, X.shape[1])
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(-1)


# ------------------------------------------------------------ EM
def test_em_reaches_closed_form_log_likelihood_monotonically():
    X, _ = planted_data()
    closed = PPCA(3).fit(X)
    em = PPCA(3, method="em", tol=1e-10, max_iter=5000, random_state=0).fit(X)
    assert em.score(X) == pytest.approx(closed.score(X), rel=1e-3)
    assert em.score(X) <= closed.score(X) + 1e-9  # the closed form is the maximum
    curve = em.log_likelihood_curve_
    assert len(curve) == em.n_iter_
    assert np.all(np.diff(curve) >= -1e-10 * np.abs(curve[1:]))
    assert curve[-1] == pytest.approx(em.score(X), rel=1e-10)
    assert_allclose(em.get_covariance(), closed.get_covariance(), rtol=1e-2, atol=1e-2)


def test_em_is_reproducible_for_a_seed():
    X, _ = planted_data()
    a = PPCA(3, method="em", random_state=5, max_iter=50).fit(X)
    b = PPCA(3, method="em", random_state=5, max_iter=50).fit(X)
    assert_allclose(a.components_, b.components_, rtol=0, atol=0)
    assert_allclose(a.log_likelihood_curve_, b.log_likelihood_curve_, rtol=0, atol=0)


def test_em_stops_at_max_iter():
    X, _ = planted_data()
    model = PPCA(3, method="em", max_iter=7, tol=0.0, random_state=0).fit(X)
    assert model.n_iter_ == 7
    assert model.log_likelihood_curve_.shape == (7,)


def remove_entries(X, fraction, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random(X.shape) < fraction
    X_missing = X.copy()
    X_missing[mask] = np.nan
    return X_missing, mask


def observed_log_likelihood(model, X_missing):
    """log N(x_O; mu_O, C_OO) per row, with scipy."""
    C = model.get_covariance()
    result = []
    for row in X_missing:
        observed = ~np.isnan(row)
        if not observed.any():  # nothing observed: log p = log 1
            result.append(0.0)
            continue
        result.append(multivariate_normal(model.mean_[observed], C[np.ix_(observed, observed)]).logpdf(row[observed]))
    return np.array(result)


def test_em_with_missing_values_scores_the_observed_marginal():
    X, _ = planted_data(n=300)
    X_missing, _ = remove_entries(X, 0.25)
    model = PPCA(3, method="em", random_state=0).fit(X_missing)
    reference = observed_log_likelihood(model, X_missing)
    assert_allclose(model.score_samples(X_missing), reference, rtol=1e-6)
    assert model.log_likelihood_curve_[-1] == pytest.approx(reference.mean(), rel=1e-8)


def test_em_with_missing_values_never_decreases_the_likelihood():
    X, _ = planted_data(n=300)
    X_missing, _ = remove_entries(X, 0.3, seed=1)
    curve = PPCA(3, method="em", random_state=0, tol=1e-9).fit(X_missing).log_likelihood_curve_
    assert len(curve) > 5
    assert np.all(np.diff(curve) >= -1e-10 * np.abs(curve[1:]))


def test_em_with_missing_values_recovers_the_planted_subspace_and_beats_mean_imputation():
    X, W = planted_data(n=1000, D=20, d=3, noise=0.2)
    X_missing, mask = remove_entries(X, 0.3, seed=2)
    model = PPCA(3, method="em", random_state=0).fit(X_missing)
    assert principal_angles_sin(model.components_.T, W) < 0.05
    assert_allclose(model.mean_, X.mean(axis=0), atol=0.1)
    imputed = model.inverse_transform(model.transform(X_missing))
    error_ppca = np.sqrt(np.mean((imputed[mask] - X[mask]) ** 2))
    column_means = np.nanmean(X_missing, axis=0)
    error_mean = np.sqrt(np.mean((np.broadcast_to(column_means, X.shape)[mask] - X[mask]) ** 2))
    assert error_ppca < 0.3 * error_mean


def test_em_missing_with_many_missing_rows_and_columns_matches_reference_likelihood():
    # Some columns mostly missing (the per-feature "observed rows" path), some rows empty.
    X, _ = planted_data(n=200, D=8, d=2)
    X_missing, _ = remove_entries(X, 0.1, seed=3)
    X_missing[:150, 0] = np.nan
    X_missing[5] = np.nan
    model = PPCA(2, method="em", random_state=0, tol=1e-9).fit(X_missing)
    curve = model.log_likelihood_curve_
    assert np.all(np.diff(curve) >= -1e-10 * np.abs(curve[1:]))
    reference = observed_log_likelihood(model, X_missing)
    assert_allclose(model.score_samples(X_missing), reference, rtol=1e-6, atol=1e-12)
    assert np.all(np.isfinite(model.transform(X_missing)))


def test_missing_values_without_em_raise_a_helpful_error():
    X, _ = planted_data()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match='method="em"'):
        PPCA(2).fit(X)


def test_a_column_without_any_observed_value_is_an_error():
    X, _ = planted_data()
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match="feature 2 has no observed value"):
        PPCA(2, method="em").fit(X)


# ------------------------------------------------------------ edge cases and API
def test_constant_and_rank_deficient_data_give_finite_models():
    constant = PPCA(2).fit(np.full((20, 5), 3.0))
    assert constant.noise_variance_ > 0
    assert np.all(np.isfinite(constant.score_samples(np.full((3, 5), 3.0))))
    X, _ = planted_data(n=100, D=6, d=2, noise=0.0)
    model = PPCA(3).fit(X)
    assert model.noise_variance_ > 0
    assert np.all(np.isfinite(model.transform(X)))
    assert np.all(np.isfinite(model.score_samples(X)))


def test_too_many_components_is_an_error():
    X, _ = planted_data(n=10, D=5)
    with pytest.raises(ValueError, match="n_components"):
        PPCA(6).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        PPCA(0).fit(X)


def test_unknown_method_is_an_error():
    X, _ = planted_data()
    with pytest.raises(ValueError, match="method"):
        PPCA(2, method="svd").fit(X)


def test_pickle_round_trip_keeps_the_model():
    X, _ = planted_data()
    model = PPCA(3, method="em", random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(model))
    assert_allclose(restored.transform(X), model.transform(X))
    assert_allclose(restored.score_samples(X), model.score_samples(X))


def test_pipeline_with_scaler_and_classifier():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), PPCA(20), LogisticRegression(max_iter=2000))
    pipeline.fit(X[:1200], y[:1200])
    assert pipeline.score(X[1200:], y[1200:]) > 0.85


def test_fortran_ordered_input_gives_the_same_results():
    X, _ = planted_data()
    model = PPCA(3).fit(X)
    assert_allclose(PPCA(3).fit(np.asfortranarray(X)).components_, model.components_)
    assert_allclose(model.transform(np.asfortranarray(X)), model.transform(X))


@pytest.mark.parametrize("spectrum", ["decaying", "flat"])
def test_closed_form_with_many_features_equals_numpy_eigendecomposition(spectrum):
    # D large enough for the iterative leading-eigenpair solver (not the small-D path).
    rng = np.random.default_rng(7)
    n, D, d = 3000, 200, 5
    if spectrum == "decaying":
        X = (rng.normal(size=(n, D)) * np.geomspace(10, 0.1, D)) @ np.linalg.qr(rng.normal(size=(D, D)))[0]
    else:  # white noise: eigenvalues close together, the hardest case for subspace iteration
        X = rng.normal(size=(n, D))
    mean, W, noise_variance, C, eigenvalues = reference_ppca(X, d)
    model = PPCA(d).fit(X)
    assert model.noise_variance_ == pytest.approx(noise_variance, rel=1e-9)
    assert_allclose(model.explained_variance_, eigenvalues[:d], rtol=1e-9)
    assert model.score(X) == pytest.approx(
        multivariate_normal(mean, C).logpdf(X).mean(), rel=1e-9)
    if spectrum == "decaying":
        assert_allclose(model.get_covariance(), C, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------ encode: the posterior p(z | x)
def posterior_reference(model, X):
    """(mean, std) of N(M_n^-1 W_O^T (x_O - mu_O), s2 M_n^-1) per row, M_n = W_O^T W_O + s2 I
    over the row's observed coordinates O, with numpy's inverse of M_n, in float64."""
    W = model.components_.T.astype(np.float64)
    mu, s2 = model.mean_.astype(np.float64), float(model.noise_variance_)
    means, stds = [], []
    for row in np.asarray(X, dtype=np.float64):
        observed = ~np.isnan(row)
        W_o = W[observed]
        M_inverse = np.linalg.inv(W_o.T @ W_o + s2 * np.eye(W.shape[1]))
        means.append(M_inverse @ W_o.T @ (row[observed] - mu[observed]))
        stds.append(np.sqrt(s2 * np.diag(M_inverse)))
    return np.array(means), np.array(stds)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_encode_is_the_posterior_with_numpys_inverse_of_m(dtype):
    X, _ = planted_data(n=300)
    X = X.astype(dtype)
    model = PPCA(3).fit(X)
    mean, std = model.encode(X)
    assert mean.dtype == dtype and std.dtype == dtype
    assert mean.shape == std.shape == (300, 3)
    expected_mean, expected_std = posterior_reference(model, X)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    assert_allclose(mean, expected_mean, rtol=rtol, atol=rtol * np.abs(expected_mean).max())
    assert_allclose(std, expected_std, rtol=rtol)
    # Every complete row shares M: one posterior covariance for all.
    assert np.all(std == std[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_encode_rows_with_nan_use_their_own_m(dtype):
    X, _ = planted_data(n=300)
    X_missing, _ = remove_entries(X, 0.3, seed=4)
    X_missing[7] = np.nan  # nothing observed: the posterior is the prior N(0, I)
    X_missing = X_missing.astype(dtype)
    model = PPCA(3, method="em", random_state=0).fit(X_missing)
    mean, std = model.encode(X_missing)
    expected_mean, expected_std = posterior_reference(model, X_missing)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    assert_allclose(mean, expected_mean, rtol=rtol, atol=rtol * np.abs(expected_mean).max())
    assert_allclose(std, expected_std, rtol=rtol)
    assert_allclose(mean[7], 0.0, atol=0)
    assert_allclose(std[7], 1.0, rtol=rtol)
    # Fewer observed coordinates, wider posterior (M_n <= M in the Loewner order).
    complete_std = posterior_reference(model, X[:1])[1][0]
    assert np.all(std >= complete_std * (1 - rtol))


@pytest.mark.parametrize("method", ["closed_form", "em"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_encode_mean_equals_transform_bit_for_bit(method, dtype):
    X, _ = planted_data(n=700)  # more rows than one block of the posterior pass
    X = X.astype(dtype)
    model = PPCA(3, method=method, random_state=0, max_iter=20).fit(X)
    if method == "em":
        X, _ = remove_entries(X, 0.2, seed=5)
    mean, _ = model.encode(X)
    transformed = model.transform(X)
    assert mean.dtype == transformed.dtype == dtype
    assert np.array_equal(mean, transformed)


def test_encode_rejects_what_transform_rejects():
    from sklearn.exceptions import NotFittedError

    X, _ = planted_data()
    with pytest.raises(NotFittedError):
        PPCA(2).encode(X)
    model = PPCA(2).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.encode(X[:, :5])
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.encode(X_nan)  # closed form: NaN is not a missing value
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        PPCA(2, method="em", random_state=0).fit(X).encode(X_inf)


def test_a_row_with_nothing_observed_has_log_likelihood_exactly_zero():
    """p(x_O) over an empty set of coordinates is 1: its log is 0, not a rounding residue."""
    for seed in range(4):
        ppca = PPCA(2, method="em", random_state=0).fit(low_rank_data(200, 6, seed=seed))
        assert ppca.score_samples(np.full((1, 6), np.nan))[0] == 0.0


# ------------------------------------------------------------ impute: p(x_missing | x_observed)
def conditional_gaussian(model, row):
    """Mean and covariance of x_m | x_O for x ~ N(mu, C), from numpy's solve with C_OO."""
    C, mu = model.get_covariance(), model.mean_
    m, o = np.isnan(row), ~np.isnan(row)
    gain = np.linalg.solve(C[np.ix_(o, o)], C[np.ix_(o, m)]).T  # C_mO C_OO^-1
    return mu[m] + gain @ (row[o] - mu[o]), C[np.ix_(m, m)] - gain @ C[np.ix_(o, m)]


@pytest.mark.parametrize("method", ["closed_form", "em"])
def test_impute_is_the_gaussian_conditional_mean(method):
    X, _ = planted_data(n=300, D=8)
    model = PPCA(3, method=method, random_state=0).fit(X)
    X_missing, _ = remove_entries(X[:40], 0.3, seed=4)
    X_missing[7] = np.nan  # nothing observed: mu
    imputed = model.impute(X_missing)
    for row, filled in zip(X_missing, imputed):
        if np.isnan(row).any():
            assert_allclose(filled[np.isnan(row)], conditional_gaussian(model, row)[0], rtol=1e-9)
    assert_allclose(imputed[7], model.mean_, rtol=1e-15)
    assert_allclose(model.impute(sp.csr_matrix(X_missing)), imputed, rtol=1e-12)  # stored NaN are missing


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_impute_keeps_observed_entries_bit_for_bit(dtype):
    X, _ = planted_data(n=200, D=6)
    X = X.astype(dtype)
    model = PPCA(2).fit(X)
    X_missing, mask = remove_entries(X[:50], 0.3, seed=5)
    X_missing[3, 0], mask[3, 0] = -0.0, False  # copied with its sign
    imputed = model.impute(X_missing, sample_posterior=True, random_state=0)
    assert imputed.dtype == dtype
    observed_bits = X_missing.view(f"u{X.itemsize}")[~mask]
    assert np.array_equal(imputed.view(f"u{X.itemsize}")[~mask], observed_bits)
    assert np.isfinite(imputed).all()
    with pytest.raises(ValueError, match="infinity"):
        model.impute(np.where(np.isnan(X_missing), np.inf, X_missing))


def test_impute_draws_are_seeded_and_average_to_the_conditional_mean():
    X, _ = planted_data(n=300, D=6, d=2)
    model = PPCA(2).fit(X)
    X_missing = X[:2].copy()
    X_missing[0, [1, 4]] = np.nan
    X_missing[1, :5] = np.nan
    draw = model.impute(X_missing, sample_posterior=True, random_state=3)
    assert np.array_equal(draw, model.impute(X_missing, sample_posterior=True, random_state=3))
    assert not np.array_equal(model.impute(X_missing, sample_posterior=True),
                              model.impute(X_missing, sample_posterior=True))
    rng = np.random.RandomState(0)
    draws = np.stack([model.impute(X_missing, sample_posterior=True, random_state=rng) for _ in range(2000)])
    mean_imputation = model.impute(X_missing)
    for i, row in enumerate(X_missing):
        missing = np.isnan(row)
        _, covariance = conditional_gaussian(model, row)
        standard_error = np.sqrt(np.diag(covariance) / len(draws))
        assert np.all(np.abs(draws[:, i, missing].mean(axis=0) - mean_imputation[i, missing]) < 5 * standard_error)


def test_transform_follows_parameters_changed_after_fit():
    # The C++ model behind transform is kept between calls (its factor of M
    # costs more than a one-sample transform); it must follow the fitted
    # attributes when they are replaced, and they cannot change in place.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    model = PPCA(2).fit(X)

    def expected():
        W = model.components_.T
        M = W.T @ W + model.noise_variance_ * np.eye(2)
        return np.linalg.solve(M, W.T @ (X - model.mean_).T).T

    np.testing.assert_allclose(model.transform(X), expected(), rtol=1e-9, atol=1e-12)
    model.components_ = model.components_ * 2.0
    np.testing.assert_allclose(model.transform(X), expected(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="read-only"):
        model.components_ *= 0.5  # frozen by the transform that cached its model
    model.mean_ = model.mean_ + 1.0
    np.testing.assert_allclose(model.transform(X), expected(), rtol=1e-9, atol=1e-12)
    model.noise_variance_ *= 3.0
    np.testing.assert_allclose(model.transform(X), expected(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.transform(X.astype(np.float32)), expected(), rtol=1e-4, atol=1e-4)
    restored = pickle.loads(pickle.dumps(model))
    assert "_native_cache" not in restored.__dict__
    np.testing.assert_allclose(restored.transform(X), expected(), rtol=1e-9, atol=1e-12)
