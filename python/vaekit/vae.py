"""Variational autoencoder estimator (the ELBO lives in ``cpp/src/vae.cpp``)."""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from . import _registry
from ._description import defaults
from ._inputs import is_dask_array
from ._neural import TRAINING_PARAMETERS_DOC, _NeuralEstimator, check_unit_interval, neural_constraints
from ._rowwise import n_components_of, n_features_of, rowwise
from ._validation import check_count, check_n_samples, finite_output, seed_from_random_state

_DEFAULTS = defaults("VAE")  # the C++ core's, for the described hyper-parameters


_ACTIVITY_THRESHOLD = 1e-2  # Burda et al. (2016), section 5.2


class PosteriorCollapseWarning(UserWarning):
    """Most latent dimensions of a fitted :class:`VAE` are inactive.

    Raised by :meth:`VAE.fit` when fewer than half of the ``n_components``
    latent dimensions are active on the training data (see
    :meth:`VAE.active_units`): their posterior ``q(z_j|x)`` ignores ``x`` and
    equals the prior, so they carry no information.
    """


class VAE(_NeuralEstimator):
    __doc__ = """Variational autoencoder (Kingma & Welling, 2014).

    Prior ``z ~ N(0, I_d)``; encoder ``q(z|x) = N(h(x), diag k(x)^2)``; decoder
    ``p(x|z) = N(f(z), g^2)`` (``likelihood="gaussian"``) or
    ``Bernoulli(sigmoid(f(z)))`` (``likelihood="bernoulli"``, data in [0, 1],
    soft targets allowed). Trained with Adam on mini-batches to maximise the
    reparameterised ELBO ``E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))``, with
    every constant included: it is in nats per sample and bounds ``log p(x)``
    from below. With no hidden layers, ``likelihood="gaussian"`` and
    ``decoder_variance="scalar"`` it is a linear VAE, whose optimum is PPCA's
    maximum likelihood.

    Parameters
    ----------
    n_components : int, default=2
        Latent dimension ``d``.
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden layers of the encoder; the decoder uses them in reverse order.
        ``()`` gives linear maps.
    activation : {"relu", "tanh", "sigmoid", "softplus", "identity"}, default="relu"
        Activation of the hidden layers (output layers are linear).
    likelihood : {"gaussian", "bernoulli"}, default="gaussian"
        Decoder distribution ``p(x|z)``: Gaussian with mean ``f(z)``, or
        Bernoulli with logits ``f(z)`` for data in [0, 1].
    decoder_variance : {"scalar", "fixed", "diagonal", "network"}, default="scalar"
        Gaussian decoder variance ``g^2``: one learned value (the calibrated
        decoder of Rybkin et al., 2021: the model learns the data's noise
        level, whatever its scale), ``noise_variance`` held fixed, one learned
        value per feature, or a second output head of the decoder giving
        ``log g^2(z)`` per feature. Ignored for Bernoulli.
    noise_variance : float, default=1.0
        ``g^2`` for ``decoder_variance="fixed"`` (1.0 gives the plain
        "squared error / 2 + KL" objective). A learned variance starts at
        the mean variance of the first training data's features (the
        maximum-likelihood ``g^2`` of a decoder that ignores ``z``, so the
        start suits any scaling of the data), or at ``noise_variance`` when
        those data have one row or no varying feature.
    beta : float, default=1.0
        Weight of the KL term in the training objective (beta-VAE).
    n_mc_samples : int, default=1
        Draws of ``z`` per sample in the training objective (IWAE's ``K``)
        and in ``score_samples``.
    objective : {"elbo", "iwae"}, default="elbo"
        Training objective: the ELBO, or the importance-weighted bound
        ``log (1/K) sum_k p(x|z_k) p(z_k)^beta / q(z_k|x)^beta`` over
        ``K = n_mc_samples`` draws ``z_k ~ q(z|x)`` (Burda et al., 2016),
        which is tighter than the ELBO for ``K > 1``. On data with missing
        values it is the MIWAE bound on ``log p(x_obs)`` (Mattei & Frellsen, 2019).
    encoder_mask : bool, default=False
        Whether the encoder also sees each row's mask of observed entries: its
        input is then ``[x with NaN set to 0, mask]``, ``2 * n_features`` wide.
{training}

    Attributes
    ----------
    encoder_coefs_ : list of ndarray
        Weights of the encoder's layers, ``encoder_coefs_[l]`` of shape
        (n_in, n_out) (scikit-learn's MLP layout: a layer computes
        ``act(X @ coef + intercept)``). The last layer has ``2 * n_components``
        outputs: the posterior mean ``h(x)`` first, then ``log k(x)^2``.
    encoder_intercepts_ : list of ndarray
    decoder_coefs_ : list of ndarray
        Weights of the decoder. The last layer outputs the mean ``f(z)`` (the
        logits for Bernoulli); with ``decoder_variance="network"`` it has
        ``2 * n_features`` outputs: ``f(z)`` first, then ``log g^2(z)``.
    decoder_intercepts_ : list of ndarray
    noise_variance_ : float, ndarray of shape (n_features,) or None
        ``g^2``: a float for "fixed" and "scalar", one value per feature for
        "diagonal", None for "network" (it depends on z) and for Bernoulli.
    loss_curve_ : list of float
        Mean training objective ``-(E_q[log p(x|z)] - beta * KL)`` per epoch
        (the negative ELBO when ``beta=1``), estimated with the training noise.
        Equal to ``reconstruction_curve_ + beta * kl_curve_`` (to floating-point
        rounding).
    reconstruction_curve_ : list of float
        The reconstruction term of ``loss_curve_`` per epoch: the mean of
        ``-E_q[log p(x|z)]`` (nats per sample, every constant included).
        NaN for epochs of a model loaded from a file written before the
        terms were recorded.
    kl_curve_ : list of float
        The KL term of ``loss_curve_`` per epoch: the mean of
        ``KL(q(z|x) || p(z))`` (nats per sample, before the weight ``beta``).
    validation_scores_ : list of float
        With ``early_stopping``: the mean ``E_q[log p(x|z)] - beta * KL`` of
        the validation split after each epoch; empty otherwise.
    best_loss_ : float
        Smallest entry of ``loss_curve_``.
    best_validation_score_ : float
        Largest entry of ``validation_scores_`` (only with early stopping).
    n_iter_ : int
        Epochs run (``partial_fit`` adds one per call).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when X has string feature names.

    See Also
    --------
    PPCA : The linear-Gaussian model in closed form, with an exact likelihood.
    Autoencoder : The deterministic counterpart, trained on the reconstruction
        error alone.

    Notes
    -----
    Missing values: NaN in X is a missing entry (missing completely at
    random, or at random). The likelihood of a sample counts its observed
    entries only, and the encoder sees the sample with its missing entries
    set to 0, so standardise the features first (0 is then each feature's
    mean). ``fit``, ``score_samples``, ``log_likelihood``, ``transform`` and
    ``encode`` take such samples: their scores bound ``log p(x_obs)``, and
    their codes are the posterior given the observed entries. A sample with
    nothing observed contributes nothing to training and scores 0; a feature
    observed in no sample is an error. :meth:`impute` fills the missing
    entries; :class:`Imputer` is the scikit-learn imputer built on it.

    Log-variances (``log k^2`` and ``log g^2``) are clamped to [-20, 20].
    ``score_samples`` draws the noise of each row from a stream keyed by the
    fitted model's seed and a hash of the row's values, so a row's score does
    not depend on its position or on the other rows, and repeated calls agree.

    With ``decoder_variance="fixed"`` and a ``noise_variance`` much larger
    than the data's noise (1.0 for data in [0, 1]), the KL term dominates and
    latent dimensions collapse onto the prior (they carry no information
    about x); the default ``decoder_variance="scalar"`` learns the noise
    level and keeps them.

    References
    ----------
    D. P. Kingma and M. Welling, "Auto-encoding variational Bayes", ICLR 2014.

    Y. Burda, R. Grosse and R. Salakhutdinov, "Importance weighted
    autoencoders", ICLR 2016.

    J. Lucas, G. Tucker, R. Grosse and M. Norouzi, "Don't blame the ELBO! A
    linear VAE perspective on posterior collapse", NeurIPS 2019.

    O. Rybkin, K. Daniilidis and S. Levine, "Simple and effective VAE
    training with calibrated decoders", ICML 2021.

    P.-A. Mattei and J. Frellsen, "MIWAE: Deep generative modelling and
    imputation of incomplete data sets", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from vaekit import VAE
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
    >>> vae.transform(X).shape
    (200, 2)

    The ELBO is a lower bound on ``log p(x)``; the importance-weighted
    estimate tightens it:

    >>> elbo = vae.score(X)
    >>> iwae = vae.log_likelihood(X, n_samples=100, random_state=0).mean()
    >>> bool(iwae > elbo)
    True
    """.replace("{training}", TRAINING_PARAMETERS_DOC)

    _kind = "VAE"
    _parameter_constraints = neural_constraints(_kind)
    _loss_terms = True

    # The defaults of the described hyper-parameters are the C++ configuration's
    # (cpp/include/vaekit/vae.hpp, VAEConfig; optim.hpp, TrainingOptions).
    def __init__(self, n_components=_DEFAULTS["n_components"], *,
                 hidden_layer_sizes=_DEFAULTS["hidden_layer_sizes"], activation=_DEFAULTS["activation"],
                 likelihood=_DEFAULTS["likelihood"], decoder_variance=_DEFAULTS["decoder_variance"],
                 noise_variance=_DEFAULTS["noise_variance"], beta=_DEFAULTS["beta"],
                 n_mc_samples=_DEFAULTS["n_mc_samples"], objective=_DEFAULTS["objective"],
                 encoder_mask=_DEFAULTS["encoder_mask"], batch_size=_DEFAULTS["batch_size"],
                 max_iter=_DEFAULTS["max_iter"], learning_rate=_DEFAULTS["learning_rate"],
                 weight_decay=_DEFAULTS["weight_decay"], early_stopping=_DEFAULTS["early_stopping"],
                 validation_fraction=_DEFAULTS["validation_fraction"], n_iter_no_change=_DEFAULTS["n_iter_no_change"],
                 tol=_DEFAULTS["tol"], random_state=None, verbose=0, n_threads=None, dtype=np.float32):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.decoder_variance = decoder_variance
        self.noise_variance = noise_variance
        self.beta = beta
        self.n_mc_samples = n_mc_samples
        self.objective = objective
        self.encoder_mask = encoder_mask
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads
        self.dtype = dtype

    # --------------------------------------------------- _NeuralEstimator
    def _layer_sizes(self, n_features):
        # Encoder: mean and log-variance heads; decoder: the mean, plus the
        # log-variance head ("network") or the learned log-variances.
        gaussian = self.likelihood == "gaussian"
        network = gaussian and self.decoder_variance == "network"
        n_extra = {"scalar": 1, "diagonal": n_features}.get(self.decoder_variance, 0) if gaussian else 0
        return ([(2 if self.encoder_mask else 1) * n_features, *self._hidden_sizes, 2 * self.n_components],
                [self.n_components, *self._hidden_sizes[::-1], (2 if network else 1) * n_features], n_extra)

    def _check_training_data(self, X):
        if self.likelihood == "bernoulli":
            check_unit_interval(X, 'likelihood="bernoulli"')

    def _store_extra(self, native):
        self._decoder_log_variance = native.log_variance
        self.reconstruction_curve_ = list(native.reconstruction_curve)
        self.kl_curve_ = list(native.kl_curve)
        variance = native.noise_variance
        if variance.size == 0:
            self.noise_variance_ = None
        elif self.decoder_variance == "diagonal":
            self.noise_variance_ = variance
        else:
            self.noise_variance_ = float(variance[0])

    def _restore_extra(self):
        return {"log_variance": np.asarray(self._decoder_log_variance, dtype=self._model_dtype()),
                "history": {"reconstruction_curve": self.reconstruction_curve_, "kl_curve": self.kl_curve_}}

    # ------------------------------------------------------------ methods
    def fit(self, X, y=None):
        super().fit(X, y)
        self._warn_if_collapsed(X)
        return self

    fit.__doc__ = _NeuralEstimator.fit.__doc__.replace(
        """            If ``max_iter`` epochs ran before the stopping rule was met.
""",
        """            If ``max_iter`` epochs ran before the stopping rule was met.
        PosteriorCollapseWarning
            If fewer than half of the latent dimensions are active on the
            training data (:meth:`active_units`).
""")

    def _warn_if_collapsed(self, X):
        if is_dask_array(X) or sp.issparse(X):  # active_units needs the whole X in memory
            return
        X = self._validate_X(X)
        if X.shape[0] < 2:  # one sample has no variance: activity says nothing
            return
        n_active = self.active_units(X)
        if n_active < self.n_components / 2:
            if self.likelihood == "gaussian" and self.decoder_variance == "fixed":
                # The usual cause: a fixed g^2 far above the data's noise lets the KL term win.
                remedy = ('decoder_variance="scalar" (a learned noise level instead of the fixed '
                          f"noise_variance={self.noise_variance:g}) or a smaller beta")
            else:
                remedy = "a smaller beta, or fewer n_components if the data need fewer dimensions"
            warnings.warn(
                f"VAE: posterior collapse, only {n_active} of {self.n_components} latent dimensions are active "
                f"(variance of the posterior mean > {_ACTIVITY_THRESHOLD:g} on the training data); try {remedy} "
                "(see VAE.active_units and VAE.kl_per_dimension).",
                PosteriorCollapseWarning, stacklevel=3)

    def kl_per_dimension(self, X):
        """Mean KL divergence from the prior of each latent dimension.

        ``KL_j = mean over x of KL(q(z_j|x) || N(0, 1))
        = mean of (h_j(x)^2 + k_j(x)^2 - log k_j(x)^2 - 1) / 2``.
        Their sum is the KL term of the ELBO (in nats); a dimension whose KL is
        close to 0 has collapsed to the prior and encodes nothing.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a lazy dask array with X's row chunks.

        Returns
        -------
        kl : ndarray of shape (n_components,)
            Nats per latent dimension, averaged over the samples.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has a different number of features than the training data,
            or NaN or infinite values.

        See Also
        --------
        active_units : Number of latent dimensions in use.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> X = np.random.default_rng(0).normal(size=(200, 5))
        >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> kl = vae.kl_per_dimension(X)
        >>> kl.shape, bool((kl >= 0).all())
        ((2,), True)
        """
        X = self._validate_X(X)
        return self._native_model().kl_per_dimension(X, self._n_threads())

    def active_units(self, X, threshold=_ACTIVITY_THRESHOLD, *, return_activity=False):
        """Number of active latent dimensions (Burda et al., 2016).

        The activity of dimension ``j`` is ``A_j = Var_x(E_q[z_j|x])``, the
        variance over the samples of X of the posterior mean ``h_j(x)``
        (divided by n_samples). A dimension is active when ``A_j > threshold``;
        an inactive one gives the same posterior mean whatever ``x`` (posterior
        collapse).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        threshold : float, default=1e-2
            Activity above which a dimension counts as active (Burda et al. use
            1e-2; the prior's variance is 1).
        return_activity : bool, default=False
            Also return the activity of each dimension.

        Returns
        -------
        n_active : int
            Number of dimensions with ``A_j > threshold``.
        activity : ndarray of shape (n_components,)
            ``A_j`` per dimension; only when ``return_activity`` is True.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has a different number of features than the training data,
            or NaN or infinite values, or if threshold is negative.

        See Also
        --------
        kl_per_dimension : Information each dimension carries, in nats.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> X = np.random.default_rng(0).normal(size=(200, 5))
        >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> n_active, activity = vae.active_units(X, return_activity=True)
        >>> n_active == int((activity > 1e-2).sum()), activity.shape
        (True, (2,))
        """
        if not isinstance(threshold, Real) or isinstance(threshold, bool) or not threshold >= 0:
            raise ValueError(f"threshold must be a non-negative number, got {threshold!r}")
        X = self._validate_X(X)
        activity = self._native_model().latent_activity(X, self._n_threads())
        n_active = int(np.count_nonzero(activity > threshold))
        return (n_active, activity) if return_activity else n_active

    @finite_output
    @rowwise(n_components_of, pair=True)
    def encode(self, X):
        """Posterior ``q(z|x) = N(h(x), diag k(x)^2)`` of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a lazy dask array with X's row chunks.

        Returns
        -------
        mean : ndarray of shape (n_samples, n_components)
            ``h(x)``, the same as :meth:`transform`.
        std : ndarray of shape (n_samples, n_components)
            ``k(x)``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has a different number of features than the training data,
            or NaN or infinite values.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> X = np.random.default_rng(0).normal(size=(200, 5))
        >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> mean, std = vae.encode(X)
        >>> mean.shape, bool((std > 0).all())
        ((200, 2), True)
        """
        X = self._validate_X(X)
        return self._native_model().encode(X, self._n_threads())

    @finite_output
    @rowwise(n_features_of, latent=True)
    def inverse_transform(self, Z):
        """Decoder mean ``f(z)`` (probabilities ``sigmoid(f(z))`` for Bernoulli).

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_components)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The decoder mean of each row of Z.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If Z does not have ``n_components`` columns.

        See Also
        --------
        sample : Decode draws from the prior.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> X = np.random.default_rng(0).uniform(size=(200, 5))
        >>> vae = VAE(likelihood="bernoulli", hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> probabilities = vae.inverse_transform(np.zeros((1, 2)))
        >>> bool(((probabilities > 0) & (probabilities < 1)).all())
        True
        """
        Z = self._validate_Z(Z)
        return self._native_model().inverse_transform(Z, self._n_threads())

    @finite_output
    def sample(self, n_samples=1, random_state=None, noise=False):
        """Generate samples: ``z ~ N(0, I)``, then the decoder mean, or with
        ``noise=True`` a draw of ``x ~ p(x|z)`` (Gaussian noise, or 0/1 values
        for Bernoulli).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; an int gives the same samples on every call.
        noise : bool, default=False
            Add the decoder's noise (draw ``x ~ p(x|z)``) instead of
            returning the decoder mean.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``n_samples`` is negative.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> X = np.random.default_rng(0).normal(size=(200, 5))
        >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> vae.sample(4, random_state=0).shape
        (4, 5)
        >>> bool(np.array_equal(vae.sample(4, random_state=0), vae.sample(4, random_state=0)))
        True
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples, self.n_features_in_, self._model_dtype())
        seed = seed_from_random_state(random_state)
        return self._native_model().sample(n_samples, seed, bool(noise), self._n_threads())

    @rowwise(n_features_of)
    def impute(self, X, *, n_samples=1000, sample_posterior=False, random_state=None):
        """Fill in the missing values (NaN) of X.

        Draws ``z_k ~ q(z|x)`` (``k = 1..n_samples``) and weighs them by
        ``w_k = p(x_obs|z_k) p(z_k) / q(z_k|x)`` (Mattei & Frellsen, 2019,
        section 4). With ``sample_posterior=False`` a missing entry becomes
        its conditional mean ``E[x_mis|x_obs]``, estimated by self-normalised
        importance sampling: ``sum_k w_k E[x_mis|z_k] / sum_k w_k``. With
        ``sample_posterior=True`` it becomes a draw from ``p(x_mis|x_obs)``
        (sampling importance resampling: ``z_k`` picked with probability
        ``w_k / sum w``, then ``x_mis ~ p(x_mis|z_k)``), for multiple
        imputation. Observed entries are returned bit for bit.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Data with NaN for the missing values.
        n_samples : int, default=1000
            Draws ``z_k`` per row of X.
        sample_posterior : bool, default=False
            Return a draw from ``p(x_mis|x_obs)`` instead of its mean.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (per row, keyed also by the row's values); None
            gives new draws at each call.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            X with every NaN filled, in the estimator's ``dtype``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has a different number of features than the training data
            or infinite values, or if ``n_samples`` is not a positive int.

        See Also
        --------
        Imputer : A scikit-learn imputer on this method.
        PPCA.impute : The same for the linear-Gaussian model, in closed form.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> rng = np.random.default_rng(0)
        >>> X = (rng.normal(size=(300, 2)) @ rng.normal(size=(2, 6))).astype(np.float32)  # the VAE's dtype
        >>> X[rng.uniform(size=X.shape) < 0.2] = np.nan
        >>> vae = VAE(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(X)
        >>> X_imputed = vae.impute(X, n_samples=100, random_state=0)
        >>> bool(np.isnan(X_imputed).any()), bool(np.array_equal(X_imputed[~np.isnan(X)], X[~np.isnan(X)]))
        (False, True)
        """
        X = self._validate_X(X)
        n_samples = check_count(n_samples, "n_samples")
        seed = seed_from_random_state(random_state)
        return self._native_model().impute(X, n_samples, seed, bool(sample_posterior), self._n_threads())

    @finite_output
    @rowwise(None)
    def score_samples(self, X, n_mc_samples=None):
        """ELBO of each sample in nats (``beta`` = 1): a lower bound on ``log p(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_mc_samples : int, default=None
            Draws of ``z`` per sample for ``E_q[log p(x|z)]`` (the KL is in
            closed form); None uses the estimator's ``n_mc_samples``.

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` of each sample, every
            constant included: comparable with :meth:`PPCA.score_samples`.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            As for :meth:`transform`, or if ``n_mc_samples`` is not a
            positive int.

        See Also
        --------
        score : The mean ELBO.
        log_likelihood : A tighter estimate of ``log p(x)``.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> X = np.random.default_rng(0).normal(size=(200, 5))
        >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> elbo = vae.score_samples(X, n_mc_samples=10)
        >>> elbo.shape
        (200,)
        >>> bool(np.array_equal(vae.score_samples(X[:3]), vae.score_samples(X)[:3]))  # row by row
        True
        """
        X = self._validate_X(X)
        n_mc_samples = self.n_mc_samples if n_mc_samples is None else n_mc_samples
        n_mc_samples = check_count(n_mc_samples, "n_mc_samples")
        return self._native_model().score_samples(X, n_mc_samples, self._seed, self._n_threads())

    @finite_output
    @rowwise(None)
    def log_likelihood(self, X, n_samples=1000, *, method="importance", random_state=None):
        """Monte Carlo estimate of ``log p(x)`` per sample, in nats.

        ``method="importance"`` (the IWAE bound, Burda et al., 2016) draws
        ``z_j ~ q(z|x)`` and returns ``log (1/m) sum_j p(x|z_j) p(z_j) /
        q(z_j|x)``; ``m = 1`` is a one-sample ELBO. ``method="prior"`` draws
        ``z_j ~ p(z) = N(0, I)`` and returns ``log (1/m) sum_j p(x|z_j)``, the
        naive estimate: few prior draws land where ``p(z|x)`` has its mass, so
        it needs far more samples (see the user guide). Both are computed with
        log-sum-exp, every constant included, with ``m = n_samples``; both
        are lower bounds on ``log p(x)`` in expectation and converge to it as
        ``m`` grows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_samples : int, default=1000
            Draws ``m`` per row; the cost grows linearly with it.
        method : {"importance", "prior"}, default="importance"
            Where the draws come from: the encoder's posterior ``q(z|x)``
            (importance sampling) or the prior ``N(0, I)``.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (per row, keyed also by the row's values, so a
            row's estimate does not depend on the other rows).

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            In nats. Its expectation is a lower bound on ``log p(x)``; for
            "importance" it does not decrease as ``n_samples`` grows.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            As for :meth:`transform`, if ``n_samples`` is not a positive int,
            or if ``method`` is not "importance" or "prior".

        See Also
        --------
        score_samples : The ELBO (``m = 1`` in expectation).
        PPCA.score_samples : The exact log-likelihood of the linear model.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> X = np.random.default_rng(0).normal(size=(200, 5))
        >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> estimates = [vae.log_likelihood(X, n_samples=m, random_state=0).mean() for m in (1, 10, 100)]
        >>> bool(estimates[0] < estimates[1] < estimates[2])
        True
        >>> prior = vae.log_likelihood(X, n_samples=100, method="prior", random_state=0)
        >>> prior.shape
        (200,)
        """
        X = self._validate_X(X)
        n_samples = check_count(n_samples, "n_samples")
        if not isinstance(method, str):
            raise ValueError(f'method must be "importance" or "prior", got {method!r}')
        seed = seed_from_random_state(random_state)
        # The C++ core parses `method` (its one enum <-> string table) and
        # raises ValueError naming the choices for any other string.
        return self._native_model().log_likelihood(X, n_samples, seed, method, self._n_threads())


_registry.register(VAE._kind, VAE, VAE._restore_from_file)
