"""Probabilistic PCA estimator (the mathematics lives in ``cpp/src/ppca.cpp``)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import MeanScoreMixin
from ._native import core
from ._validation import INT_MAX, check_memory, check_n_samples, finite_output, seed_from_random_state


class PPCA(MeanScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
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
        missing at random and re-estimates the mean. A row with every entry
        missing carries no information: it does not change the fit, its
        transform is 0 (the prior mean) and its log-likelihood 0. A feature
        with every entry missing is an error.
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
        Mean log-likelihood per sample after each EM iteration (``method="em"``
        only), as ``score`` of the training data would give.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    Notes
    -----
    Ctrl-C during EM raises KeyboardInterrupt within a fraction of a second
    and keeps the model of the last complete iteration.

    Examples
    --------
    >>> import numpy as np
    >>> from vaekit import PPCA
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> ppca = PPCA(n_components=2).fit(X)
    >>> ppca.transform(X).shape
    (100, 2)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"closed_form", "em"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

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
    def _check_n_components(self, n_samples, n_features):
        limit = min(n_samples, n_features)
        if self.n_components > limit:
            raise ValueError(
                f"n_components={self.n_components} must be at most min(n_samples, n_features)={limit} "
                f"for X with {n_samples} samples and {n_features} features"
            )

    def _check_memory(self, X):
        """Fails fast when the fit's working memory exceeds the machine's."""
        (n, D), d = X.shape, int(self.n_components)
        if self.method == "closed_form":
            # The covariance (or, for n < D, Gram) matrix, its eigenvectors and the solver's workspace.
            n_values, advice = 3 * min(n, D) ** 2, 'method="em" needs O((n_samples + n_features) n_components).'
        elif np.isnan(X).any():
            # A filled copy of X and, per thread, the per-feature sums of E[z z^T] (see cpp/src/ppca.cpp).
            n_values = n * D + 2 * n * d + core.default_threads() * (d * (d + 1) // 2 + d) * D
            advice = "Use a smaller n_components."
        else:
            n_values, advice = 3 * n * d + 2 * D * d, "Use a smaller n_components."
        check_memory(n_values * X.dtype.itemsize, f"PPCA(n_components={d}, method={self.method!r}) of {n} x {D} "
                     "data", advice)

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
        self._validate_params()  # before X is converted or copied
        # NaN passes this check so that the C++ core can say which method handles it.
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", ensure_all_finite="allow-nan",
                          ensure_min_samples=2, reset=True)
        self._check_n_components(*X.shape)
        self._check_memory(X)
        native = _native_class(X.dtype)
        model, interruption = native.fit(X, int(self.n_components), self.method, min(int(self.max_iter), INT_MAX),
                                         float(self.tol), seed_from_random_state(self.random_state), 0,
                                         int(self.verbose > 0))
        # After Ctrl-C, EM's last complete iteration is kept before the interrupt
        # goes on (with none complete, the estimator is left as it was).
        if interruption is not None and model.n_iter == 0:
            raise interruption
        self._set_fitted(model)
        if self.method == "em":
            self.log_likelihood_curve_ = np.asarray(model.log_likelihood_curve, dtype=np.float64)
        if interruption is not None:
            raise interruption
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

    @finite_output
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

    @finite_output
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

    @finite_output
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

    @finite_output
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
        n_samples = check_n_samples(n_samples, self.components_.shape[1], self.components_.dtype)
        seed = seed_from_random_state(random_state)
        return self._model(self.components_.dtype).sample(n_samples, seed)

    @finite_output
    def get_covariance(self):
        """Model covariance ``C = W W^T + sigma^2 I``, shape (n_features, n_features)."""
        check_is_fitted(self)
        return self._model(self.components_.dtype).covariance()

    @finite_output
    def get_precision(self):
        """Model precision ``C^-1`` (by the Woodbury identity), shape (n_features, n_features)."""
        check_is_fitted(self)
        return self._model(self.components_.dtype).precision()


def _native_class(dtype):
    return core.PPCAFloat32 if np.dtype(dtype) == np.float32 else core.PPCAFloat64
