"""Probabilistic PCA estimator (the mathematics lives in ``cpp/src/ppca_*.cpp``)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _registry
from ._base import MeanScoreMixin, NativeModelCacheMixin, passes_unchecked
from ._description import defaults, native_class, native_values, parameter_constraints
from ._inputs import is_dask_array, to_native
from ._io import ModelFileMixin
from ._native import core
from ._rowwise import n_components_of, n_features_of, rowwise
from ._validation import (check_finite_output, check_memory, check_n_samples, finite_output,
                          seed_from_random_state)

_DEFAULTS = defaults("PPCA")  # the C++ core's, for the described hyper-parameters


# The dtypes PPCA computes in; the first is what other input is converted to.
_DTYPES = (np.float64, np.float32)


class PPCA(NativeModelCacheMixin, ModelFileMixin, MeanScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
           BaseEstimator):
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
    log_likelihood_curve_ : ndarray of shape (`n_iter_`,)
        Mean log-likelihood per sample after each EM iteration (``method="em"``
        only), as ``score`` of the training data would give.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    VAE : A non-linear generalisation; with ``hidden_layer_sizes=()`` and
        ``decoder_variance="scalar"`` its optimum is this model.
    Autoencoder : A deterministic non-linear encoder and decoder.
    sklearn.decomposition.PCA : The non-probabilistic limit ``sigma^2 -> 0``.

    Notes
    -----
    The closed form sets ``mu`` to the sample mean, ``sigma^2`` to the mean of
    the ``D - d`` smallest eigenvalues of the sample covariance (divided by n)
    and ``W = U_d (L_d - sigma^2 I)^{1/2}`` (Tipping & Bishop, 1999, eqs. 7-8).
    EM alternates the posterior ``z | x ~ N(M^-1 W^T (x - mu), sigma^2 M^-1)``,
    ``M = W^T W + sigma^2 I``, with closed-form updates of ``W``, ``mu`` and
    ``sigma^2``; no iteration decreases the log-likelihood. With missing
    values each sample uses its own ``M`` built from its observed coordinates.
    Log-likelihoods take O(n D d) operations (Woodbury identity and the
    matrix determinant lemma); the D x D covariance is never inverted.
    Ctrl-C during EM raises KeyboardInterrupt within a fraction of a second
    and keeps the model of the last complete iteration.

    References
    ----------
    M. E. Tipping and C. M. Bishop, "Probabilistic principal component
    analysis", Journal of the Royal Statistical Society B 61(3), 1999.

    Examples
    --------
    >>> import numpy as np
    >>> from vaekit import PPCA
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> ppca = PPCA(n_components=2).fit(X)
    >>> ppca.transform(X).shape
    (100, 2)

    Missing values: fit by EM, then fill them with their conditional mean.

    >>> X_missing = X.copy()
    >>> X_missing[::4, 0] = np.nan
    >>> em = PPCA(n_components=2, method="em", random_state=0).fit(X_missing)
    >>> X_imputed = em.impute(X_missing)
    >>> bool(np.isnan(X_imputed).any())
    False
    """

    _kind = "PPCA"
    # The described hyper-parameters (cpp/include/vaekit/ppca.hpp, PPCAOptions::fields)
    # and the estimator's own.
    _parameter_constraints = {
        **parameter_constraints(_kind),
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # The defaults of the described hyper-parameters are the C++ configuration's
    # (cpp/include/vaekit/ppca.hpp, PPCAOptions).
    def __init__(self, n_components=_DEFAULTS["n_components"], *, method=_DEFAULTS["method"],
                 max_iter=_DEFAULTS["max_iter"], tol=_DEFAULTS["tol"], random_state=None, verbose=0):
        self.n_components = n_components
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.method == "em"
        tags.input_tags.sparse = True
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
        if sp.issparse(X) and self.method == "em" and np.isnan(X.data).any():
            # 4,096 rows made dense at a time, with their filled copy and E-step sums (missing_statistics).
            rows = min(n, 4096)
            n_values = 2 * rows * D + 2 * rows * d + (core.default_threads() + 3) * (d * (d + 1) // 2 + 2 * d) * D
            advice = "Use a smaller n_components."
        elif sp.issparse(X):
            # The Krylov basis and its products (or a D x D covariance, when smaller) and n x k products.
            k = max(2 * d, d + 10)
            n_values, advice = min(3 * D * D, 16 * D * k) + 2 * n * k, "Use a smaller n_components."
        elif self.method == "closed_form":
            # The covariance (or, for n < D, Gram) matrix, its eigenvectors and the solver's workspace.
            n_values, advice = 3 * min(n, D) ** 2, 'method="em" needs O((n_samples + n_features) n_components).'
        elif np.isnan(X).any():
            # A filled copy of X and, per thread, the per-feature sums of E[z z^T] (see cpp/src/ppca_em_missing.cpp).
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
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data. NaN marks a missing entry (``method="em"`` only;
            in a sparse matrix, a stored NaN). A sparse matrix is never made
            dense whole (implicit zeros are observed values); a dask array is
            fitted by a reduction over its row blocks (see the user guide's
            "Large and sparse data").
        y : None
            Ignored.

        Returns
        -------
        self : PPCA
            The fitted estimator.

        Raises
        ------
        ValueError
            If a hyper-parameter is invalid, if ``n_components`` exceeds
            ``min(n_samples, n_features)``, if X has fewer than 2 samples,
            infinite values, or NaN with ``method="closed_form"``.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from vaekit import PPCA
        >>> X = load_digits().data
        >>> ppca = PPCA(n_components=10).fit(X)
        >>> ppca.components_.shape, ppca.n_iter_
        ((10, 64), 1)
        >>> em = PPCA(n_components=10, method="em", random_state=0).fit(X)
        >>> bool(abs(em.score(X) - ppca.score(X)) < 0.1)  # EM reaches the closed form's maximum
        True
        """
        self._validate_params()  # before X is converted or copied
        hyper_parameters = native_values(self, self._kind, "hyper_parameters")
        seed = seed_from_random_state(self.random_state)
        if is_dask_array(X):
            from . import _dask

            X = _dask.check_array(X, list(_DTYPES))
            if X.shape[0] < 2:
                raise ValueError(f"Found array with {X.shape[0]} sample(s) while a minimum of 2 is required.")
            self._check_n_components(*X.shape)
            model, interruption = _dask.fit_ppca(self, X, hyper_parameters, seed, int(self.verbose > 0))
            _dask.input_features(self, X, reset=True)
        else:
            # NaN passes this check so that the C++ core can say which method handles it.
            X = validate_data(self, X, accept_sparse="csr", dtype=list(_DTYPES), order="C",
                              ensure_all_finite="allow-nan", ensure_min_samples=2, reset=True)
            self._check_n_components(*X.shape)
            self._check_memory(X)
            model, interruption = native_class(self._kind, X.dtype).fit(to_native(X), hyper_parameters, seed, 0,
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
        self._keep_native_model(model, np.dtype(self.components_.dtype))  # the model the attributes describe

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    # ------------------------------------------------------- model files
    def _native_for_file(self):
        dtype = self.components_.dtype
        curve = np.asarray(getattr(self, "log_likelihood_curve_", ()), dtype=np.float64)
        return native_class(self._kind, dtype).restore(
            np.ascontiguousarray(self.components_), np.ascontiguousarray(self.mean_), self.noise_variance_,
            np.ascontiguousarray(self.explained_variance_, dtype=dtype), int(self.n_iter_), curve.tolist())

    def _restore_from_file(self, native, metadata):
        """Sets the fitted state from a native model read from a file."""
        self._validate_params()
        if self.n_components != native.components.shape[0]:
            raise ValueError(f"n_components={self.n_components} but the file holds "
                             f"{native.components.shape[0]} components")
        self._set_fitted(native)
        self.n_features_in_ = native.components.shape[1]
        if self.method == "em":
            self.log_likelihood_curve_ = np.asarray(native.log_likelihood_curve, dtype=np.float64)

    # ------------------------------------------------------- fitted model
    def _fitted_arrays(self):
        """The fitted attributes the C++ model is built from (NativeModelCacheMixin's key)."""
        return [self.components_, self.mean_, self.noise_variance_]

    def _model(self, dtype):
        """The C++ model for computations in ``dtype``, built from the fitted
        attributes, and kept (NativeModelCacheMixin): building one factors
        M = W^T W + sigma^2 I, which costs more than a one-sample transform."""
        dtype = np.dtype(dtype)
        return self._cached_native_model(
            lambda: native_class(self._kind, dtype)(np.ascontiguousarray(self.components_, dtype=dtype),
                                                    np.ascontiguousarray(self.mean_, dtype=dtype),
                                                    self.noise_variance_), dtype)

    def _validate_X(self, X):
        # NaN and infinity are left to the C++ pass, which meets every entry
        # anyway (scikit-learn's check is a pass of its own over X): NaN is a
        # missing value for method="em" and an error otherwise (allow_missing).
        if "components_" in self.__dict__ and passes_unchecked(self, X, _DTYPES):
            return X
        check_is_fitted(self)
        return validate_data(self, X, accept_sparse="csr", dtype=list(_DTYPES), order="C",
                             ensure_all_finite=False, reset=False)

    # rowwise: the core takes a sparse X as it is (CSR); dask blocks keep
    # X's dtype when it is float32 or float64.
    _sparse_inference = True

    def _inference_dtypes(self):
        return list(_DTYPES)

    def _posterior(self, method, X):
        """The C++ model's posterior method (transform, encode, score_samples)
        on a numpy or scipy.sparse X (no dense copy; rowwise adds dask arrays)."""
        X = self._validate_X(X)
        result = getattr(self._model(X.dtype), method)(to_native(X), allow_missing=self.method == "em")
        for array in result if isinstance(result, tuple) else (result,):
            check_finite_output(array, f"{type(self).__name__}.{method}")
        return result

    @rowwise(n_components_of)
    def transform(self, X):
        """Posterior mean ``E[z | x] = M^-1 W^T (x - mu)`` of each sample.

        Rows with NaN entries (``method="em"``) use their observed coordinates only.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a lazy dask array with X's row chunks.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            Posterior means, in the dtype of X (float32 stays float32).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has a different number of features than the training data,
            or NaN when the model was fitted with ``method="closed_form"``.

        See Also
        --------
        inverse_transform : Back to data space.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import PPCA
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> PPCA(n_components=2).fit(X).transform(X[:3]).shape
        (3, 2)
        """
        return self._posterior("transform", X)

    @rowwise(n_components_of, pair=True)
    def encode(self, X):
        """Posterior ``p(z | x) = N(M^-1 W^T (x - mu), sigma^2 M^-1)`` of each sample.

        ``M = W^T W + sigma^2 I``. Rows with NaN entries (``method="em"``) use
        their own ``M_n = W_O^T W_O + sigma^2 I`` from their observed
        coordinates ``O``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a lazy dask array with X's row chunks.

        Returns
        -------
        mean : ndarray of shape (n_samples, n_components)
            Posterior means, equal to :meth:`transform` (bit for bit).
        std : ndarray of shape (n_samples, n_components)
            Posterior standard deviations: the square roots of the diagonal of
            ``sigma^2 M^-1``, the same for every complete row. Both arrays are
            in the dtype of X.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has a different number of features than the training data,
            infinite values, or NaN when the model was fitted with
            ``method="closed_form"``.

        See Also
        --------
        transform : The posterior means only.
        VAE.encode : The VAE's approximate posterior ``q(z | x)``.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import PPCA
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> ppca = PPCA(n_components=2).fit(X)
        >>> mean, std = ppca.encode(X[:3])
        >>> mean.shape, std.shape, bool((std > 0).all())
        ((3, 2), (3, 2), True)
        >>> bool(np.array_equal(mean, ppca.transform(X[:3])))
        True
        """
        return self._posterior("encode", X)

    @finite_output
    @rowwise(n_features_of, latent=True)
    def inverse_transform(self, Z):
        """Map latent points back to data space: ``Z W^T + mu``.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_components)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The mean of ``p(x | z)`` for each row of Z. For posterior means of
            samples with missing entries, it holds the conditional means
            ``E[x_missing | x_observed]`` (what :meth:`impute` puts in the
            missing entries).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If Z does not have ``n_components`` columns.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import PPCA
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> ppca = PPCA(n_components=2).fit(X)
        >>> bool(np.allclose(ppca.inverse_transform(np.zeros((1, 2))), ppca.mean_))  # z = 0 maps to mu
        True
        """
        check_is_fitted(self)
        Z = check_array(Z, dtype=list(_DTYPES), order="C", input_name="Z")
        if Z.shape[1] != self.components_.shape[0]:
            raise ValueError(f"Z has {Z.shape[1]} columns, but this PPCA has {self.components_.shape[0]} components")
        return self._model(Z.dtype).inverse_transform(Z)

    @rowwise(None)
    def score_samples(self, X):
        """Exact log-likelihood ``log p(x)`` of each sample, in nats.

        NaN entries (``method="em"``) are marginalised out.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a lazy dask array with X's row chunks.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            ``log N(x; mu, W W^T + sigma^2 I)`` of each sample, computed in
            O(D d) per sample (Woodbury identity, matrix determinant lemma).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            As for :meth:`transform`.

        See Also
        --------
        score : The mean over the samples.
        VAE.log_likelihood : The VAE's (estimated) counterpart.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy.stats import multivariate_normal
        >>> from vaekit import PPCA
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> ppca = PPCA(n_components=2).fit(X)
        >>> reference = multivariate_normal(ppca.mean_, ppca.get_covariance()).logpdf(X)
        >>> bool(np.allclose(ppca.score_samples(X), reference))
        True
        """
        return self._posterior("score_samples", X)

    @rowwise(n_features_of, dense=True)
    def impute(self, X, *, sample_posterior=False, random_state=None):
        """Fill the missing entries (NaN) of each sample from the model.

        The model is Gaussian, ``x ~ N(mu, W W^T + sigma^2 I)``, so the
        missing entries ``x_m`` of a sample given its observed entries ``x_O``
        follow a Gaussian ``p(x_m | x_O)``; each NaN gets its mean, or a draw
        from it. Any fitted model imputes, whatever its ``method``: NaN is
        what this method is for.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            NaN marks a missing entry (in a sparse matrix, a stored NaN;
            implicit zeros are observed). A sparse matrix is made dense a
            chunk of rows at a time; a dask array gives a lazy dask array
            with X's row chunks.
        sample_posterior : bool, default=False
            False: the conditional mean ``E[x_m | x_O]``. True: an exact draw
            from ``p(x_m | x_O)``.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws of ``sample_posterior=True`` (ignored otherwise).
            An int gives the same imputation on every call; None a new one.
            A sample's draw depends on its values and the seed only: two
            equal rows get the same draw.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            X with each NaN filled, in the dtype of X (float32 stays float32);
            the observed entries are X's, bit for bit. A sample with nothing
            observed gets ``mu`` (or a draw from the model).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has infinite values or a different number of features than
            the training data.

        See Also
        --------
        transform : The posterior mean of ``z`` given the observed entries.
        sample : Draws of complete samples from the model.

        Notes
        -----
        With ``M_n = W_O^T W_O + sigma^2 I`` from the observed coordinates,
        ``z | x_O ~ N(z_n, sigma^2 M_n^-1)``, ``z_n = M_n^-1 W_O^T (x_O - mu_O)``;
        the mean is ``mu_m + W_m z_n``, which equals
        ``mu_m + C_mO C_OO^-1 (x_O - mu_O)``, and a draw is
        ``mu_m + W_m z + sigma eps`` with ``z`` drawn from that posterior. Each
        sample costs O(D d^2); the D x D covariance is never formed.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import PPCA
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> ppca = PPCA(n_components=2).fit(X)
        >>> X_missing = X[:3].copy()
        >>> X_missing[0, 1] = np.nan
        >>> X_imputed = ppca.impute(X_missing)
        >>> bool(np.isnan(X_imputed).any()), bool(np.array_equal(X_imputed[1:], X[1:3]))
        (False, True)
        >>> draw = ppca.impute(X_missing, sample_posterior=True, random_state=0)
        >>> bool(np.array_equal(draw, ppca.impute(X_missing, sample_posterior=True, random_state=0)))
        True
        """
        X = self._validate_X(X)
        seed = seed_from_random_state(random_state) if sample_posterior else 0
        imputed = self._model(X.dtype).impute(X, sample=bool(sample_posterior), seed=seed)
        check_finite_output(imputed, f"{type(self).__name__}.impute")
        return imputed

    @finite_output
    def sample(self, n_samples=1, random_state=None):
        """Draw samples ``x = W z + mu + sigma * eps`` from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; an int gives the same samples on every call.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Draws of ``x ~ N(mu, W W^T + sigma^2 I)``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``n_samples`` is negative.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import PPCA
        >>> ppca = PPCA(n_components=2).fit(np.random.default_rng(0).normal(size=(50, 4)))
        >>> ppca.sample(3, random_state=0).shape
        (3, 4)
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples, self.components_.shape[1], self.components_.dtype)
        seed = seed_from_random_state(random_state)
        return self._model(self.components_.dtype).sample(n_samples, seed)

    @finite_output
    def get_covariance(self):
        """Model covariance ``C = W W^T + sigma^2 I``, shape (n_features, n_features).

        Returns
        -------
        covariance : ndarray of shape (n_features, n_features)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.

        See Also
        --------
        get_precision : Its inverse.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import PPCA
        >>> ppca = PPCA(n_components=2).fit(np.random.default_rng(0).normal(size=(50, 4)))
        >>> ppca.get_covariance().shape
        (4, 4)
        """
        check_is_fitted(self)
        return self._model(self.components_.dtype).covariance()

    @finite_output
    def get_precision(self):
        """Model precision ``C^-1`` (by the Woodbury identity), shape (n_features, n_features).

        Returns
        -------
        precision : ndarray of shape (n_features, n_features)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.

        See Also
        --------
        get_covariance : Its inverse.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import PPCA
        >>> ppca = PPCA(n_components=2).fit(np.random.default_rng(0).normal(size=(50, 4)))
        >>> bool(np.allclose(ppca.get_precision() @ ppca.get_covariance(), np.eye(4)))
        True
        """
        check_is_fitted(self)
        return self._model(self.components_.dtype).precision()


_registry.register(PPCA._kind, PPCA, PPCA._restore_from_file)
