"""vaekit.VAE: scikit-learn compatible; a linear VAE reaches PPCA's
log-likelihood, with its ELBO below the IWAE estimate that approaches the exact
one; the fitted coefficients reproduce transform, encode, inverse_transform and
a Monte Carlo ELBO; a seed gives bit-identical models and threads change only
rounding; training (early stopping, partial_fit, non-finite losses, Ctrl-C,
progress lines, convergence warnings), the Bernoulli likelihood, sampling and
pickling. Each test against an independent reference (PPCA's closed form, numpy
re-implementations, scikit-learn's checks)."""

import pickle
import warnings

from functools import partial

import _data
import numpy as np
import pytest
from _reference import mlp_numpy
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit import PPCA, VAE
from vaekit._native import core

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# This module's data: 2,000 samples near a plane in 10 dimensions, away from the origin.
low_rank_data = partial(_data.low_rank_data, n=2000, n_features=10, rank=2, noise=0.3, scale=2.0, offset=1.0)


def relu(v):
    return np.maximum(v, 0)


def gaussian_log_density(X, mean, variance):
    return -0.5 * np.sum(np.log(2 * np.pi * variance) + (X - mean) ** 2 / variance, axis=1)


@pytest.fixture(scope="module")
def linear_vae_and_data():
    X = low_rank_data()
    vae = VAE(n_components=2, hidden_layer_sizes=(), decoder_variance="scalar", learning_rate=1e-2,
              max_iter=400, n_iter_no_change=400, dtype=np.float64, random_state=0).fit(X)
    # A few epochs at a smaller step size settle the noise of the constant-step SGD.
    vae.set_params(learning_rate=1e-3)
    for _ in range(50):
        vae.partial_fit(X)
    return vae, X


def exact_linear_gaussian_log_likelihood(vae, X):
    """log N(x; b, W W^T + g^2 I) of the fitted linear decoder f(z) = W z + b."""
    W = vae.decoder_coefs_[0].T
    b = vae.decoder_intercepts_[0]
    covariance = W @ W.T + vae.noise_variance_ * np.eye(X.shape[1])
    _, log_det = np.linalg.slogdet(covariance)
    centred = X - b
    quadratic = np.einsum("ij,ij->i", centred @ np.linalg.inv(covariance), centred)
    return -0.5 * (X.shape[1] * np.log(2 * np.pi) + log_det + quadratic)


# ------------------------------------------------------------ scikit-learn
@parametrize_with_checks([
    VAE(random_state=0),
    VAE(hidden_layer_sizes=(8, 4), activation="tanh", decoder_variance="diagonal", n_mc_samples=2,
        dtype=np.float64, random_state=0),
    VAE(decoder_variance="network", early_stopping=True, random_state=0),
])
def test_scikit_learn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------------------------- PPCA
def test_linear_vae_reaches_ppca_log_likelihood(linear_vae_and_data):
    # Lucas et al. (2019): the linear VAE's optimum is PPCA's maximum likelihood.
    vae, X = linear_vae_and_data
    ppca = PPCA(n_components=2).fit(X)
    ppca_log_likelihood = ppca.score(X)
    exact = exact_linear_gaussian_log_likelihood(vae, X).mean()
    iwae = vae.log_likelihood(X, n_samples=1000, random_state=0).mean()
    elbo = vae.score(X)
    assert exact <= ppca_log_likelihood + 1e-9  # PPCA is the maximum
    assert abs(exact - ppca_log_likelihood) <= 0.01 * abs(ppca_log_likelihood)
    assert abs(iwae - ppca_log_likelihood) <= 0.01 * abs(ppca_log_likelihood)
    # The ELBO also needs the posterior's rotation to converge (W^T W diagonal), which SGD approaches slowly.
    assert abs(elbo - ppca_log_likelihood) <= 0.02 * abs(ppca_log_likelihood)
    assert vae.noise_variance_ == pytest.approx(ppca.noise_variance_, rel=0.05)


def test_linear_vae_elbo_below_iwae_close_to_exact_log_likelihood(linear_vae_and_data):
    vae, X = linear_vae_and_data
    exact = exact_linear_gaussian_log_likelihood(vae, X)
    elbo = vae.score_samples(X, n_mc_samples=100)
    iwae = vae.log_likelihood(X, n_samples=2000, random_state=1)
    assert elbo.mean() <= iwae.mean() <= exact.mean() + 0.01
    assert abs(iwae.mean() - exact.mean()) < 0.05


def test_iwae_estimate_increases_with_the_number_of_samples():
    # A linear VAE after 10 epochs, whose q(z|x) is still far enough from the exact
    # posterior for the bound's gaps (0.3 and 0.06 nats) to stand above the Monte
    # Carlo noise; the converged model's gaps are a few thousandths.
    X = low_rank_data()
    vae = VAE(n_components=2, hidden_layer_sizes=(), max_iter=10, learning_rate=1e-2, dtype=np.float64,
              random_state=0).fit(X)
    X = X[:300]
    estimates = [vae.log_likelihood(X, n_samples=m, random_state=0).mean() for m in (1, 10, 1000)]
    assert estimates[0] < estimates[1] - 0.1 and estimates[1] < estimates[2] - 0.02
    assert abs(estimates[2] - exact_linear_gaussian_log_likelihood(vae, X).mean()) < 0.01


# ----------------------------------------------------- numpy references
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_coefs_reproduce_transform_encode_and_inverse_transform(dtype, likelihood):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(300, 6))
    vae = VAE(n_components=3, hidden_layer_sizes=(16, 8), likelihood=likelihood, max_iter=5, dtype=dtype,
              random_state=0).fit(X)
    assert [W.shape for W in vae.encoder_coefs_] == [(6, 16), (16, 8), (8, 6)]
    assert [W.shape for W in vae.decoder_coefs_] == [(3, 8), (8, 16), (16, 6)]
    tolerance = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    encoder_output = mlp_numpy(X, vae.encoder_coefs_, vae.encoder_intercepts_, relu)
    mean, std = vae.encode(X)
    np.testing.assert_allclose(vae.transform(X), encoder_output[:, :3], **tolerance)
    np.testing.assert_allclose(mean, encoder_output[:, :3], **tolerance)
    np.testing.assert_allclose(std, np.exp(0.5 * encoder_output[:, 3:]), **tolerance)
    Z = rng.normal(size=(50, 3))
    decoded = mlp_numpy(Z, vae.decoder_coefs_, vae.decoder_intercepts_, relu)
    if likelihood == "bernoulli":
        decoded = 1 / (1 + np.exp(-decoded))
    np.testing.assert_allclose(vae.inverse_transform(Z), decoded, **tolerance)
    assert vae.transform(X).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mostly_zero_images_give_the_dense_results(dtype):
    # 100 features, about 85% zeros (as MNIST's pixels): the first layer then
    # works from the nonzero pixels alone. The results are those of the dense
    # computation: against numpy, and bit for bit against the same rows in a
    # block that the dense kernel computes (two dense rows in it).
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(300, 100)) * (rng.uniform(size=(300, 100)) < 0.15)
    vae = VAE(3, hidden_layer_sizes=(40,), likelihood="bernoulli", max_iter=3, dtype=dtype, random_state=0).fit(X)
    tolerance = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    encoder_output = mlp_numpy(X, vae.encoder_coefs_, vae.encoder_intercepts_, relu)
    np.testing.assert_allclose(vae.transform(X), encoder_output[:, :3], **tolerance)
    dense_rows = rng.uniform(size=(2, 100))
    mixed = vae.transform(np.vstack([dense_rows, X[:60]]))[2:]
    assert np.array_equal(mixed, vae.transform(X[:60]))
    single = np.vstack([vae.transform(X[i:i + 1]) for i in range(10)])
    assert np.array_equal(single, vae.transform(X[:10]))


@pytest.mark.parametrize("likelihood,variance", [("gaussian", "fixed"), ("gaussian", "diagonal"),
                                                 ("gaussian", "network"), ("bernoulli", "fixed")])
def test_score_samples_agrees_with_numpy_monte_carlo_elbo(likelihood, variance):
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(400, 5))
    vae = VAE(n_components=2, hidden_layer_sizes=(12,), activation="tanh", likelihood=likelihood,
              decoder_variance=variance, max_iter=20, dtype=np.float64, random_state=0).fit(X)
    rows, m = X[:4], 4000
    mean, std = vae.encode(rows)
    for i, x in enumerate(rows):
        z = mean[i] + std[i] * rng.normal(size=(m, 2))
        out = mlp_numpy(z, vae.decoder_coefs_, vae.decoder_intercepts_, np.tanh)
        if likelihood == "bernoulli":
            log_px = np.sum(x * out - np.logaddexp(0, out), axis=1)
        elif variance == "network":
            log_px = gaussian_log_density(x, out[:, :5], np.exp(out[:, 5:]))
        else:
            log_px = gaussian_log_density(x, out, vae.noise_variance_)
        kl = 0.5 * np.sum(mean[i] ** 2 + std[i] ** 2 - np.log(std[i] ** 2) - 1)
        reference = log_px.mean() - kl
        standard_error = log_px.std() / np.sqrt(m)
        score = vae.score_samples(x[None, :], n_mc_samples=m)[0]
        assert abs(score - reference) < 5 * np.sqrt(2) * standard_error + 1e-12


def test_noise_variance_attribute_per_mode():
    X = low_rank_data(n=300, n_features=4)
    fitted = {v: VAE(hidden_layer_sizes=(8,), decoder_variance=v, max_iter=3, random_state=0).fit(X)
              for v in ("fixed", "scalar", "diagonal", "network")}
    assert fitted["fixed"].noise_variance_ == 1.0
    assert isinstance(fitted["scalar"].noise_variance_, float) and fitted["scalar"].noise_variance_ != 1.0
    assert fitted["diagonal"].noise_variance_.shape == (4,)
    assert fitted["network"].noise_variance_ is None
    assert fitted["network"].decoder_coefs_[-1].shape == (8, 8)  # mean head, then log-variance head
    binary_like = np.random.default_rng(0).uniform(size=(50, 4))
    bernoulli = VAE(likelihood="bernoulli", max_iter=2, random_state=0).fit(binary_like)
    assert bernoulli.noise_variance_ is None


# --------------------------------------------------------- determinism
def test_same_seed_gives_bit_identical_models():
    X = low_rank_data(n=500, n_features=6)
    params = dict(hidden_layer_sizes=(32,), max_iter=5, n_mc_samples=2, random_state=7, n_threads=2)
    first, second = VAE(**params).fit(X), VAE(**params).fit(X)
    for a, b in zip(first.encoder_coefs_ + first.decoder_coefs_, second.encoder_coefs_ + second.decoder_coefs_):
        assert np.array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_
    assert np.array_equal(first.score_samples(X), second.score_samples(X))
    other = VAE(**{**params, "random_state": 8}).fit(X)
    assert not np.array_equal(first.encoder_coefs_[0], other.encoder_coefs_[0])


def test_same_seed_gives_bit_identical_models_with_two_threads():
    # Large enough for the threaded GEMMs and element-wise passes to be used.
    X = np.random.default_rng(0).normal(size=(1000, 60))
    params = dict(hidden_layer_sizes=(128,), likelihood="gaussian", decoder_variance="diagonal", max_iter=2,
                  random_state=1, n_threads=2)
    first, second = VAE(**params).fit(X), VAE(**params).fit(X)
    assert all(np.array_equal(a, b) for a, b in zip(first.decoder_coefs_, second.decoder_coefs_))
    assert np.array_equal(first.log_likelihood(X, 300, random_state=0), second.log_likelihood(X, 300, random_state=0))


def test_thread_count_changes_only_rounding():
    # Two threads split each batch in two slices whose gradients are summed:
    # the same mathematics as one thread, up to rounding.
    X = np.random.default_rng(0).normal(size=(1000, 60))
    params = dict(hidden_layer_sizes=(128,), max_iter=3, dtype=np.float64, random_state=1)
    one, two = VAE(n_threads=1, **params).fit(X), VAE(n_threads=2, **params).fit(X)
    np.testing.assert_allclose(one.loss_curve_, two.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(one.decoder_coefs_[-1], two.decoder_coefs_[-1], rtol=1e-7, atol=1e-9)


def test_scores_do_not_depend_on_row_position_or_other_rows():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(203, 7))
    vae = VAE(hidden_layer_sizes=(33, 17), activation="softplus", max_iter=2, random_state=0).fit(X)
    order = rng.permutation(len(X))
    for method in (vae.transform, vae.score_samples, lambda A: vae.log_likelihood(A, 50, random_state=3)):
        full = method(X)
        assert np.array_equal(full[order], method(X[order]))
        assert np.array_equal(full[5:6], method(X[5:6]))


def test_float32_and_float64_agree():
    X = low_rank_data(n=400, n_features=5)
    params = dict(hidden_layer_sizes=(16,), activation="tanh", max_iter=5, random_state=0)
    single = VAE(dtype=np.float32, **params).fit(X)
    double = VAE(dtype=np.float64, **params).fit(X)
    assert single.encoder_coefs_[0].dtype == np.float32 and double.encoder_coefs_[0].dtype == np.float64
    np.testing.assert_allclose(single.loss_curve_, double.loss_curve_, rtol=1e-3)
    np.testing.assert_allclose(single.transform(X), double.transform(X), rtol=1e-2, atol=1e-3)


def test_float32_c_contiguous_input_is_not_copied(monkeypatch):
    X = low_rank_data(n=100, n_features=4).astype(np.float32)
    vae = VAE(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X)
    seen = []
    model = vae._native_model()
    monkeypatch.setattr(type(vae), "_native_model", lambda self: _Spy(model, seen))
    vae.transform(X)
    assert seen and seen[0] is X


class _Spy:
    def __init__(self, model, seen):
        self.model, self.seen = model, seen

    def transform(self, X, n_threads):
        self.seen.append(X)
        return self.model.transform(X, n_threads)


# ------------------------------------------------------------- training
def test_early_stopping_keeps_the_best_validation_epoch():
    X = low_rank_data(n=600, n_features=6)
    params = dict(hidden_layer_sizes=(32,), learning_rate=3e-2, early_stopping=True, n_iter_no_change=3,
                  max_iter=300, random_state=0)
    stopped = VAE(**params).fit(X)
    assert stopped.n_iter_ < 300
    assert len(stopped.validation_scores_) == len(stopped.loss_curve_) == stopped.n_iter_
    best_epoch = int(np.argmax(stopped.validation_scores_)) + 1
    assert stopped.n_iter_ == best_epoch + 4  # n_iter_no_change + 1 epochs without improvement
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)
    # The same run cut at the best epoch ends with the weights that were kept.
    cut = VAE(**{**params, "max_iter": best_epoch}).fit(X)
    for a, b in zip(stopped.decoder_coefs_, cut.decoder_coefs_):
        assert np.array_equal(a, b)


def test_partial_fit_continues_like_fit():
    X = low_rank_data(n=300, n_features=5)
    params = dict(hidden_layer_sizes=(8,), max_iter=3, n_iter_no_change=100, random_state=4)
    fitted = VAE(**params).fit(X)
    partial = VAE(**params)
    partial.partial_fit(X)
    partial = pickle.loads(pickle.dumps(partial))  # the Adam state travels with the estimator
    partial.partial_fit(X).partial_fit(X)
    assert partial.n_iter_ == 3
    assert partial.loss_curve_ == fitted.loss_curve_
    for a, b in zip(fitted.encoder_coefs_, partial.encoder_coefs_):
        assert np.array_equal(a, b)


def test_partial_fit_rejects_a_different_number_of_features():
    vae = VAE(hidden_layer_sizes=(4,), random_state=0).partial_fit(np.ones((10, 3)))
    with pytest.raises(ValueError, match="features"):
        vae.partial_fit(np.ones((10, 4)))


@pytest.mark.parametrize("how", ["learning_rate", "huge_input"])
def test_non_finite_loss_raises_and_keeps_finite_weights(how):
    X = low_rank_data(n=300, n_features=5)
    if how == "learning_rate":
        vae = VAE(hidden_layer_sizes=(16,), learning_rate=1e6, max_iter=50, random_state=0)
        match = "learning_rate"
    else:
        X = X * 1e30
        vae = VAE(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
        match = "scale the input"
    with pytest.raises(ValueError, match=match):
        vae.fit(X)
    for array in vae.encoder_coefs_ + vae.decoder_coefs_ + vae.encoder_intercepts_ + vae.decoder_intercepts_:
        assert np.all(np.isfinite(array))
    assert np.all(np.isfinite(vae.transform(X[:10] / 1e30 if how == "huge_input" else X[:10])))


def test_verbose_prints_one_line_per_epoch(capsys):
    VAE(hidden_layer_sizes=(4,), max_iter=3, n_iter_no_change=100, verbose=1, random_state=0).fit(
        low_rank_data(n=50, n_features=3))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 3 and "loss" in lines[0] and " s" in lines[0]


def test_convergence_warning_when_max_iter_is_reached():
    with pytest.warns(ConvergenceWarning):
        VAE(hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=100, random_state=0).fit(
            low_rank_data(n=50, n_features=3))


@pytest.mark.parametrize("early_stopping", [False, True])
def test_convergence_warning_suggests_early_stopping_only_when_it_is_off(early_stopping):
    with pytest.warns(ConvergenceWarning) as record:
        VAE(hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=100, early_stopping=early_stopping,
            random_state=0).fit(low_rank_data(n=50, n_features=3))
    message = str(record[0].message)
    assert "increase max_iter" in message
    assert ("use early_stopping" in message) is not early_stopping
    assert ("validation score" in message) is early_stopping


# --------------------------------------------------------------- other
def test_bernoulli_vae_learns_binary_data_and_rejects_other_values():
    rng = np.random.default_rng(0)
    prototypes = rng.uniform(size=(3, 20)) > 0.5
    X = prototypes[rng.integers(0, 3, size=600)].astype(float)
    X = np.where(rng.uniform(size=X.shape) < 0.05, 1 - X, X)
    vae = VAE(likelihood="bernoulli", hidden_layer_sizes=(32,), learning_rate=1e-2, max_iter=60,
              random_state=0).fit(X)
    assert vae.loss_curve_[-1] < 0.7 * vae.loss_curve_[0]
    assert vae.score(X) > -20 * np.log(2)  # better than coin flips
    samples = vae.sample(100, random_state=0, noise=True)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    means = vae.sample(100, random_state=0)
    assert np.all((means > 0) & (means < 1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VAE(likelihood="bernoulli").fit(X * 2)


def test_sample_is_reproducible_and_has_the_decoder_noise():
    X = low_rank_data(n=500, n_features=4)
    vae = VAE(hidden_layer_sizes=(), decoder_variance="scalar", learning_rate=1e-2, max_iter=100,
              random_state=0).fit(X)
    a = vae.sample(4000, random_state=1, noise=True)
    assert np.array_equal(a, vae.sample(4000, random_state=1, noise=True))
    means = vae.sample(4000, random_state=1)
    residual_variance = np.var(a - means)
    assert residual_variance == pytest.approx(vae.noise_variance_, rel=0.1)


def test_pickle_and_clone():
    X = low_rank_data(n=200, n_features=5)
    vae = VAE(hidden_layer_sizes=(8,), decoder_variance="diagonal", max_iter=3, random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(vae))
    assert np.array_equal(restored.score_samples(X), vae.score_samples(X))
    assert np.array_equal(restored.inverse_transform(vae.transform(X)), vae.inverse_transform(vae.transform(X)))
    fresh = clone(vae)
    assert not hasattr(fresh, "encoder_coefs_") and fresh.get_params() == vae.get_params()


@pytest.mark.parametrize("n_threads", [1, 2])
def test_one_sample_transform_equals_the_batched_rows_bit_for_bit(n_threads):
    # A single row takes another path (MLP::predict_row: on two threads, each
    # layer's columns are shared); the values must not change.
    X = np.random.default_rng(3).random((9, 300)).astype(np.float32)
    model = VAE(n_components=5, hidden_layer_sizes=(257,), max_iter=1, n_threads=n_threads, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    Z = model.transform(X)
    for i in range(len(X)):
        np.testing.assert_array_equal(model.transform(X[i:i + 1]), Z[i:i + 1])
    back = model.inverse_transform(Z)
    for i in range(len(X)):
        np.testing.assert_array_equal(model.inverse_transform(Z[i:i + 1]), back[i:i + 1])


# ------------------------------------ the defaults, on [0, 1] and on standardised data
def default_vae(**params):
    """The default hyper-parameters (learned scalar decoder variance, 200 epochs of Adam at 1e-3,
    batches of 128), with 8 latent dimensions and a hidden layer of 64 rather than 256 to keep the
    test quick."""
    return VAE(n_components=8, hidden_layer_sizes=(64,), random_state=0, **params)


@pytest.mark.parametrize("scaler", ["MinMaxScaler", "StandardScaler"])
def test_default_vae_keeps_its_latent_dimensions_active_on_both_scalings(scaler, scaled_digits, features_accuracy):
    # The default decoder variance is learned ("scalar"), so the balance between
    # reconstruction and KL follows the data's scale. (With g^2 fixed at 1,
    # pixels in [0, 1] collapse: the next test.)
    X_train, y_train, X_test, y_test = scaled_digits(scaler)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # PosteriorCollapseWarning included
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        vae = default_vae().fit(X_train)
    assert vae.decoder_variance == "scalar" and vae.max_iter == 200
    assert vae.active_units(X_train) >= 6
    assert features_accuracy(vae, X_train, y_train, X_test, y_test) > 0.75  # chance: 0.1


def test_fixed_unit_variance_collapses_on_unit_interval_data_and_the_default_does_not(scaled_digits,
                                                                                     features_accuracy):
    # The reason for the default: with g^2 = 1 on pixels in [0, 1] the squared error
    # is tiny next to the KL term, q(z|x) = p(z) and the features carry little.
    from vaekit import PosteriorCollapseWarning

    X_train, y_train, X_test, y_test = scaled_digits("MinMaxScaler")
    with pytest.warns(PosteriorCollapseWarning, match='decoder_variance="scalar"'):
        fixed = default_vae(decoder_variance="fixed").fit(X_train)
    learned = default_vae().fit(X_train)
    assert fixed.active_units(X_train) <= 1 and learned.active_units(X_train) >= 6
    collapsed_accuracy = features_accuracy(fixed, X_train, y_train, X_test, y_test)
    assert features_accuracy(learned, X_train, y_train, X_test, y_test) > collapsed_accuracy + 0.15


@pytest.mark.parametrize("load", ["load_wine", "load_breast_cancer"])
def test_default_vae_keeps_its_latent_dimensions_on_small_unit_interval_data(load):
    # 178 (569) rows in [0, 1] give 2 (5) Adam steps per epoch. A learned g^2 that started at 1
    # would come down by about learning_rate per step in log space, with a reconstruction
    # term ~20 times too weak meanwhile: the KL term closed both dimensions first (0 of 2
    # active, chance accuracy). It starts at the data's mean feature variance instead.
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from vaekit import PosteriorCollapseWarning

    X, y = getattr(datasets, load)(return_X_y=True)
    X_scaled = MinMaxScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=PosteriorCollapseWarning)
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        assert VAE(random_state=0).fit(X_scaled).active_units(X_scaled) == 2
        pipeline = make_pipeline(MinMaxScaler(), VAE(random_state=0), LogisticRegression())
        assert cross_val_score(pipeline, X, y, cv=3).mean() > 0.8  # chance: 0.4 (wine), 0.63 (breast cancer)


@pytest.mark.parametrize("decoder_variance", ["scalar", "diagonal"])
def test_a_learned_decoder_variance_starts_at_the_mean_feature_variance_at_any_scale(decoder_variance):
    # With a learning rate of 1e-9 one epoch leaves g^2 where it started.
    X = np.random.default_rng(3).uniform(size=(300, 5)) * [1, 2, 3, 4, 5]
    for scale in (1e-3, 1.0, 1e3):
        vae = VAE(decoder_variance=decoder_variance, hidden_layer_sizes=(8,), learning_rate=1e-9, max_iter=1,
                  dtype=np.float64).partial_fit(X * scale)
        np.testing.assert_allclose(vae.noise_variance_, np.var(X * scale, axis=0).mean(), rtol=1e-6)


# ------------------------------------------------------------ the loss terms per epoch
@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_loss_curve_is_reconstruction_plus_beta_times_kl(beta):
    X = np.random.default_rng(0).normal(size=(200, 6))
    vae = VAE(hidden_layer_sizes=(8,), decoder_variance="diagonal", beta=beta, n_mc_samples=2, max_iter=4,
              batch_size=32, n_iter_no_change=100, random_state=0, dtype=np.float64).fit(X)
    vae.partial_fit(X)
    assert len(vae.reconstruction_curve_) == len(vae.kl_curve_) == len(vae.loss_curve_) == 5
    np.testing.assert_allclose(vae.loss_curve_, np.add(vae.reconstruction_curve_, beta * np.array(vae.kl_curve_)),
                               rtol=1e-12)
    assert all(kl > 0 for kl in vae.kl_curve_)


def test_first_epoch_terms_match_a_numpy_linear_vae():
    # One epoch of one batch: the recorded terms are those of the initial
    # parameters (the Adam step comes after the loss). Linear encoder and
    # decoder, g^2 = 1: the KL term is deterministic, and the reconstruction
    # term's expectation over eps has a closed form, which the one-draw-per-row
    # estimate of 4000 rows approaches to about a percent.
    rng = np.random.default_rng(1)
    n, D, d = 4000, 5, 2
    X = rng.normal(size=(n, D)) @ rng.normal(size=(D, D))
    hyper_parameters = dict(n_components=d, hidden_layer_sizes=[], activation="identity",
                            decoder_variance="fixed", noise_variance=1.0, beta=1.0, n_mc_samples=1)
    options = dict(batch_size=n, max_iter=1, learning_rate=1e-3, weight_decay=0.0, early_stopping=False,
                   validation_fraction=0.1, n_iter_no_change=5, tol=1e-4)
    trained = core.VAEFloat64(D, hyper_parameters)
    trained.fit(X, options, seed=7)
    initial = core.VAEFloat64(D, hyper_parameters)
    initial.initialize(7, X)
    (encoder_coef,), (encoder_bias,) = initial.get_layers("encoder")
    (decoder_coef,), (decoder_bias,) = initial.get_layers("decoder")
    E = X @ encoder_coef + encoder_bias
    h, log_k2 = E[:, :d], E[:, d:]
    kl = 0.5 * np.sum(h**2 + np.exp(log_k2) - log_k2 - 1, axis=1).mean()
    residual = X - h @ decoder_coef - decoder_bias
    # E_q ||x - (h + k eps) C - b||^2 = ||x - h C - b||^2 + sum_c k_c^2 ||C_c||^2
    expected_squares = np.sum(residual**2, axis=1) + np.exp(log_k2) @ np.sum(decoder_coef**2, axis=1)
    reconstruction = (0.5 * D * np.log(2 * np.pi) + 0.5 * expected_squares).mean()
    assert trained.kl_curve[0] == pytest.approx(kl, rel=1e-12)
    assert trained.reconstruction_curve[0] == pytest.approx(reconstruction, rel=0.01)
    assert trained.loss_curve[0] == pytest.approx(trained.reconstruction_curve[0] + trained.kl_curve[0], rel=1e-12)


def test_verbose_1_prints_the_reconstruction_and_kl_terms(capsys):
    X = np.random.default_rng(0).normal(size=(60, 4))
    vae = VAE(hidden_layer_sizes=(4,), max_iter=2, n_iter_no_change=100, verbose=1, random_state=0).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line, reconstruction, kl in zip(lines, vae.reconstruction_curve_, vae.kl_curve_):
        assert f", reconstruction = {reconstruction:.6g}, KL = {kl:.6g}," in line
