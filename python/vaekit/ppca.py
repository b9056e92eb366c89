"""Probabilistic PCA estimator (the mathematics lives in ``cpp/src/ppca.cpp``)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array, check_scalar
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import MeanScoreMixin
from ._io import ModelFileMixin
from ._native import core
from ._validation import check_n_samples, seed_from_random_state

_METHODS = ("closed_form", "em")


class PPCA(ModelFileMixin, MeanScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Probabilistic principal component analysis (Tipping & Bishop, 1999).

    The generative model is ``z ~ N(0, I_d)``, ``x | z ~ N(W z + mu, sigma^2 I)``,
    so that ``x ~ N(mu, W W^T + sigma^2 I)``. It is fitted by maximum likelihood,
    either in closed form from the eigendecomposition of the sample covariance
    or by EM, which also handles missing values (NaN) exactly.

    Parameters
    ----------
    n_components : int, default=2
        Dimension ``d`` of the latent space, at most ``min(n_samples, n_features)``.
    method : {"closed_form", "em"}, default="closed_form"
        ``"closed_form"`` needs complete data. ``"em"`` treats NaN entries as
        missing at random and re-estimates the mean.
    max_iter : int, default=1000
        Maximum number of EM iterations.
    tol : float, default=1e-6
        EM stops when the mean log-likelihood changes by at most ``tol`` times
        its magnitude.
    random_state : int, RandomState instance or None, default=None
        Seeds EM's random initialisation and nothing else.
    verbose : int, default=0
        With ``method="em"``, print the log-likelihood after each iteration.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        ``W^T``: orthogonal rows sorted by decreasing norm.
    mean_ : ndarray of shape (n_features,)
    noise_variance_ : float
        ``sigma^2``.
    explained_variance_ : ndarray of shape (n_components,)
        Variance of the model along each principal axis (the ``d`` largest
        eigenvalues of ``W W^T + sigma^2 I``).
    explained_variance_ratio_ : ndarray of shape (n_components,)
        ``explained_variance_`` divided by the model's total variance.
    n_iter_ : int
        EM iterations run (1 for the closed form).
    log_likelihood_curve_ : ndarray of shape (n_iter_,)
        Mean log-likelihood per sample after each EM iteration (``method="em"`` only).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    Examples
    --------
    >>> import numpy as np
    >>> from vaekit import PPCA
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> ppca = PPCA(n_components=2).fit(X)
    >>> ppca.transform(X).shape
    (100, 2)
    """

    def __init__(self, n_components=2, *, method="closed_form", max_iter=1000, tol=1e-6, random_state=None,
                 verbose=0):
        self.n_components = n_components
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.method == "em"
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        """Checks that do not need the data: run before X is converted or copied."""
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        check_scalar(self.n_components, "n_components", Integral, min_val=1)
        check_scalar(self.max_iter, "max_iter", Integral, min_val=1)
        check_scalar(self.tol, "tol", Real, min_val=0.0)
        check_scalar(self.verbose, "verbose", (Integral, bool), min_val=0)

    def _check_n_components(self, n_samples, n_features):
        limit = min(n_samples, n_features)
        if self.n_components > limit:
            raise ValueError(
                f"n_components={self.n_components} must be at most min(n_samples, n_features)={limit} "
                f"for X with {n_samples} samples and {n_features} features"
            )

    def fit(self, X, y=None):
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. NaN marks a missing entry (``method="em"`` only).
        y : None
            Ignored.

        Returns
        -------
        self : PPCA
        """
        self._check_params()
        # NaN passes this check so that the C++ core can say which method handles it.
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", ensure_all_finite="allow-nan",
                          ensure_min_samples=2, reset=True)
        self._check_n_components(*X.shape)
        native = _native_class(X.dtype)
        model = native.fit(X, int(self.n_components), self.method, int(self.max_iter), float(self.tol),
                           seed_from_random_state(self.random_state), 0, int(self.verbose))
        self._set_fitted(model)
        if self.method == "em":
            self.log_likelihood_curve_ = np.asarray(model.log_likelihood_curve, dtype=np.float64)
        return self

    def _set_fitted(self, model):
        self.components_ = model.components
        self.mean_ = model.mean
        self.noise_variance_ = float(model.noise_variance)
        self.explained_variance_ = model.explained_variance
        total_variance = self.explained_variance_.sum() + (
            self.components_.shape[1] - self.components_.shape[0]) * self.noise_variance_
        self.explained_variance_ratio_ = self.explained_variance_ / total_variance
        self.n_iter_ = int(model.n_iter)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    # ------------------------------------------------------- fitted model
    def _model(self, dtype):
        """The C++ model for computations in ``dtype``, built from the fitted attributes."""
        native = _native_class(dtype)
        return native(np.ascontiguousarray(self.components_, dtype=dtype),
                      np.ascontiguousarray(self.mean_, dtype=dtype), self.noise_variance_)

    def _validate_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], order="C",
                             ensure_all_finite="allow-nan" if self.method == "em" else True, reset=False)

    def transform(self, X):
        """Posterior mean ``E[z | x] = M^-1 W^T (x - mu)`` of each sample.

        Rows with NaN entries (``method="em"``) use their observed coordinates only.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_X(X)
        return self._model(X.dtype).transform(X)

    def inverse_transform(self, Z):
        """Map latent points back to data space: ``Z W^T + mu``.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_components)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        Z = check_array(Z, dtype=[np.float64, np.float32], order="C", input_name="Z")
        if Z.shape[1] != self.components_.shape[0]:
            raise ValueError(f"Z has {Z.shape[1]} columns, but this PPCA has {self.components_.shape[0]} components")
        return self._model(Z.dtype).inverse_transform(Z)

    def score_samples(self, X):
        """Exact log-likelihood ``log p(x)`` of each sample, in nats.

        NaN entries (``method="em"``) are marginalised out.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        X = self._validate_X(X)
        return self._model(X.dtype).score_samples(X)

    def sample(self, n_samples=1, random_state=None):
        """Draw samples ``x = W z + mu + sigma * eps`` from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        seed = seed_from_random_state(random_state)
        return self._model(self.components_.dtype).sample(n_samples, seed)

    def get_covariance(self):
        """Model covariance ``C = W W^T + sigma^2 I``, shape (n_features, n_features)."""
        check_is_fitted(self)
        return self._model(self.components_.dtype).covariance()

    def get_precision(self):
        """Model precision ``C^-1`` (by the Woodbury identity), shape (n_features, n_features)."""
        check_is_fitted(self)
        return self._model(self.components_.dtype).precision()


def _native_class(dtype):
    return core.PPCAFloat32 if np.dtype(dtype) == np.float32 else core.PPCAFloat64
