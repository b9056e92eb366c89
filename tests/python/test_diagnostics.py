"""Posterior-collapse diagnostics of vaekit.VAE: kl_per_dimension, active_units
(Burda et al. 2016's activity) and the warning after fit, against numpy
computations from encode / transform."""

import warnings
from functools import partial

import _data
import numpy as np
import pytest

from vaekit import VAE, PosteriorCollapseWarning

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# This module's data: 600 samples near a plane in 8 dimensions.
low_rank_data = partial(_data.low_rank_data, n=600, n_features=8, rank=2, noise=0.3, scale=2.0)


def fit_quietly(**params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PosteriorCollapseWarning)
        return VAE(**params).fit(low_rank_data())


@pytest.fixture(scope="module", params=[np.float32, np.float64])
def healthy_vae(request):
    return fit_quietly(n_components=3, hidden_layer_sizes=(16,), decoder_variance="scalar", max_iter=20,
                       random_state=0, dtype=request.param)


def test_kl_per_dimension_is_the_mean_closed_form_kl_of_encode(healthy_vae):
    X = low_rank_data(seed=1)
    mean, std = (a.astype(np.float64) for a in healthy_vae.encode(X))
    expected = (0.5 * (mean**2 + std**2 - 1 - np.log(std**2))).mean(axis=0)
    kl = healthy_vae.kl_per_dimension(X)
    assert kl.shape == (3,) and kl.dtype == healthy_vae.encoder_coefs_[0].dtype
    np.testing.assert_allclose(kl, expected, rtol=1e-4, atol=1e-5)


def test_activity_is_the_variance_of_the_posterior_mean(healthy_vae):
    X = low_rank_data(seed=1)
    expected = healthy_vae.transform(X).astype(np.float64).var(axis=0)
    n_active, activity = healthy_vae.active_units(X, return_activity=True)
    np.testing.assert_allclose(activity, expected, rtol=1e-4, atol=1e-7)
    assert n_active == int((expected > 1e-2).sum())
    assert healthy_vae.active_units(X) == n_active
    assert healthy_vae.active_units(X, threshold=np.inf) == 0
    assert healthy_vae.active_units(X, threshold=0.0) == int((expected > 0).sum())


def test_active_units_rejects_a_negative_threshold(healthy_vae):
    with pytest.raises(ValueError, match="threshold"):
        healthy_vae.active_units(low_rank_data(n=10), threshold=-1.0)


def test_diagnostics_check_the_width_of_X(healthy_vae):
    with pytest.raises(ValueError):
        healthy_vae.kl_per_dimension(np.zeros((5, 3)))
    with pytest.raises(ValueError):
        healthy_vae.active_units(np.zeros((5, 3)))


def test_a_collapsed_vae_warns_after_fit():
    # beta this large makes the KL term dominate: q(z|x) = p(z) for every x.
    with pytest.warns(PosteriorCollapseWarning, match="try a smaller beta"):
        vae = VAE(n_components=4, hidden_layer_sizes=(16,), beta=100.0, learning_rate=1e-2, batch_size=16,
                  max_iter=20, random_state=0).fit(low_rank_data())
    assert vae.active_units(low_rank_data()) < 2
    assert issubclass(PosteriorCollapseWarning, UserWarning)


def test_a_collapse_with_a_fixed_variance_suggests_the_learned_one():
    # A fixed g^2 = 100 far above the data's noise (0.3^2): the KL term wins.
    with pytest.warns(PosteriorCollapseWarning, match='try decoder_variance="scalar".*noise_variance=100'):
        vae = VAE(n_components=4, hidden_layer_sizes=(16,), decoder_variance="fixed", noise_variance=100.0,
                  learning_rate=1e-2, batch_size=16, max_iter=20, random_state=0).fit(low_rank_data())
    assert vae.active_units(low_rank_data()) < 2


def test_a_healthy_vae_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PosteriorCollapseWarning)
        vae = VAE(n_components=2, hidden_layer_sizes=(16,), decoder_variance="scalar", max_iter=20,
                  random_state=0).fit(low_rank_data())
    assert vae.active_units(low_rank_data()) == 2


def test_one_sample_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PosteriorCollapseWarning)
        VAE(n_components=2, hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(low_rank_data(n=1))
