"""``Imputer``: scikit-learn's imputer interface on a generative model of the
data (a VAE trained on the incomplete data by default, or PPCA). The models'
``impute`` methods, in C++, do the mathematics; this module validates input
and orchestrates."""

from __future__ import annotations

import inspect
import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from .vae import VAE, PosteriorCollapseWarning


def _seed(rng):
    """An int seed for an estimator's random_state, drawn from rng."""
    return int(rng.randint(2**31))


# The default estimator trains for about this many Adam steps, whatever the
# number of samples: a small table needs many epochs, a large one few (at
# least _MIN_EPOCHS), and the loss of a small table is too noisy for a
# stopping rule, which ended training early on the measured tables. A tiny
# table (fewer than _DEFAULT_STEPS / _STEPS_PER_SAMPLE samples) gets fewer.
_DEFAULT_STEPS = 3000
_STEPS_PER_SAMPLE = 25
_MIN_EPOCHS = 5


def default_estimator(n_samples, n_features):
    """The VAE that ``Imputer`` fits when given no estimator, for tabular data
    (standardised features). MIWAE's recipe (Mattei & Frellsen, 2019: tanh
    layers, the importance-weighted bound), with two layers of 64 units, K =
    5 draws, one learned noise variance per feature, batches of 128,
    min(8, n_features - 1) latent dimensions, and the mask of observed entries
    given to the encoder: the best measured setting within the time budget
    (bench/imputation.py, median RMSE over 5 or 3 masks: the mask gained 23%
    on the nonlinear synthetic set and 0.1-1% on six of eleven real ones,
    lost 1-2% on three and under 1% on two; its time is not measurably more)."""
    batch_size = 128
    steps = min(_DEFAULT_STEPS, _STEPS_PER_SAMPLE * n_samples)
    epochs = max(_MIN_EPOCHS, math.ceil(steps / math.ceil(n_samples / min(batch_size, n_samples))))
    return VAE(n_components=max(1, min(8, n_features - 1)), hidden_layer_sizes=(64, 64), activation="tanh",
               decoder_variance="diagonal", objective="iwae", n_mc_samples=5, encoder_mask=True,
               batch_size=batch_size, max_iter=epochs, n_iter_no_change=epochs)


class Imputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fill in missing values with a generative model fitted to the incomplete data.

    ``fit`` trains ``estimator`` on X, NaN and all (the model's likelihood
    counts the observed entries only); ``transform`` replaces each missing
    entry by its conditional mean ``E[x_mis | x_obs]`` under the model, or,
    with ``sample_posterior=True``, by a draw from ``p(x_mis | x_obs)``
    (multiple imputation). Observed entries are returned unchanged.

    Parameters
    ----------
    estimator : VAE, PPCA or None, default=None
        The model of the data: an unfitted estimator with ``fit(X)`` on data
        with NaN and an ``impute`` method, cloned at ``fit``. None: a
        :class:`VAE` for tabular data (MIWAE: two tanh layers of 64 units,
        ``min(8, n_features - 1)`` latent dimensions, ``objective="iwae"``
        with 5 draws, a learned noise variance per feature, the mask of
        observed entries given to the encoder, about 3,000
        steps of Adam whatever the number of samples, fewer below 120
        samples), trained on the
        features standardised with their observed mean and standard
        deviation (the VAE's encoder reads a missing entry as 0, the mean
        after standardisation); a given estimator sees X as it is.
        ``PPCA(n_components, method="em")`` gives the exact
        conditional-Gaussian imputation of probabilistic PCA.
    missing_values : float or np.nan, default=np.nan
        The placeholder of a missing value in X.
    sample_posterior : bool, default=False
        Draw each missing value from ``p(x_mis | x_obs)`` (a new draw at each
        ``transform``) instead of imputing its conditional mean.
    n_samples : int, default=1000
        Importance samples per row for the VAE's imputation (its ``impute``);
        ignored by estimators whose ``impute`` takes no ``n_samples`` (PPCA:
        exact).
    random_state : int, RandomState instance or None, default=None
        Seeds the default estimator (when ``estimator`` is None) and the
        imputation's draws. An int gives the same imputations for the same
        calls.

    Attributes
    ----------
    estimator_ : estimator
        The fitted model.
    mean_ : ndarray of shape (n_features,) or None
        The observed mean of each feature, subtracted before the default
        estimator is fitted; None for a given estimator.
    scale_ : ndarray of shape (n_features,) or None
        The observed standard deviation of each feature (1 where it is 0),
        dividing the centred features for the default estimator; None for a
        given estimator.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when X has string feature names.

    See Also
    --------
    VAE.impute : The VAE's imputation (MIWAE).
    PPCA.impute : PPCA's exact conditional-Gaussian imputation.
    sklearn.impute.IterativeImputer : Round-robin regression imputation.

    Notes
    -----
    A feature with no observed value is an error: no model can learn it.

    References
    ----------
    P.-A. Mattei and J. Frellsen, "MIWAE: Deep generative modelling and
    imputation of incomplete data sets", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from vaekit import Imputer, PPCA
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 5))
    >>> X_missing = X.copy()
    >>> X_missing[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> imputer = Imputer(PPCA(n_components=2, method="em")).fit(X_missing)
    >>> X_imputed = imputer.transform(X_missing)
    >>> bool(np.isnan(X_imputed).any())
    False
    >>> bool(np.abs(X_imputed - X).max() < 1e-2)  # the data lie on a plane
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "impute"]), None],
        "missing_values": [Real],
        "sample_posterior": ["boolean"],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, missing_values=np.nan, sample_posterior=False, n_samples=1000,
                 random_state=None):
        self.estimator = estimator
        self.missing_values = missing_values
        self.sample_posterior = sample_posterior
        self.n_samples = n_samples
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _missing_as_nan(self, X, reset):
        """X validated (float, a copy) with its missing values as NaN."""
        nan_placeholder = np.isnan(self.missing_values)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan" if nan_placeholder else True,
                          copy=True, reset=reset)
        if not nan_placeholder:
            X[X == self.missing_values] = np.nan
        return X

    def fit(self, X, y=None):
        """Fit the model of the data to X, missing values and all.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing values (``missing_values``).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted imputer.

        Raises
        ------
        ValueError
            If a feature has no observed value, if X contains infinity, or
            as the estimator's ``fit``.
        """
        self._validate_params()
        X = self._missing_as_nan(X, reset=True)
        empty = np.flatnonzero(np.isnan(X).all(axis=0))
        if empty.size:
            raise ValueError(f"Imputer: feature(s) {empty.tolist()} have no observed value; drop them, no model can "
                             "learn them")
        rng = check_random_state(self.random_state)
        if self.estimator is None:
            self.mean_ = np.nanmean(X, axis=0)
            scale = np.nanstd(X, axis=0)
            self.scale_ = np.where(scale > 0, scale, 1.0)
            estimator = default_estimator(*X.shape).set_params(random_state=_seed(rng))
            X = (X - self.mean_) / self.scale_
            # A fixed budget of steps, by design; and latent dimensions that the
            # data do not need may collapse, which costs an imputation nothing.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", PosteriorCollapseWarning)
                self.estimator_ = estimator.fit(X)
        else:
            self.mean_ = self.scale_ = None
            self.estimator_ = clone(self.estimator).fit(X)
        # The mean imputation is a fixed function of X once fitted; the draws
        # of sample_posterior change at each transform (random_state_).
        self._seed = _seed(rng)
        self.random_state_ = rng
        return self

    def transform(self, X):
        """Impute the missing values of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing values.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            X with every missing value filled in; the observed entries are
            X's, unchanged.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the imputer is not fitted.
        ValueError
            If X has a different number of features than in ``fit``, or
            infinite values.
        """
        check_is_fitted(self)
        X = self._missing_as_nan(X, reset=False)
        missing = np.isnan(X)
        if not missing.any():
            return X
        rows = np.flatnonzero(missing.any(axis=1))  # only they need the model
        part = X[rows]
        if self.mean_ is not None:
            part = (part - self.mean_) / self.scale_
        seed = _seed(self.random_state_) if self.sample_posterior else self._seed
        kwargs = {"sample_posterior": self.sample_posterior, "random_state": seed}
        if "n_samples" in inspect.signature(self.estimator_.impute).parameters:
            kwargs["n_samples"] = self.n_samples
        imputed = np.asarray(self.estimator_.impute(part, **kwargs), dtype=X.dtype)
        if self.mean_ is not None:
            imputed = imputed * self.scale_ + self.mean_
        X[rows] = np.where(missing[rows], imputed, X[rows])
        return X
