"""Autoencoder estimator (the loss lives in ``cpp/src/autoencoder.cpp``)."""

from __future__ import annotations

import numpy as np

from . import _registry
from ._description import defaults
from ._neural import TRAINING_PARAMETERS_DOC, _NeuralEstimator, check_unit_interval, neural_constraints
from ._rowwise import n_features_of, rowwise
from ._validation import finite_output

_DEFAULTS = defaults("Autoencoder")  # the C++ core's, for the described hyper-parameters


class Autoencoder(_NeuralEstimator):
    __doc__ = """Deterministic autoencoder trained with Adam on mini-batches.

    Encoder ``e(x)`` and decoder ``d(z)`` are MLPs; the loss is the mean over
    samples of ``||x - d(e(x))||^2 / 2`` (``loss="mse"``) or the binary
    cross-entropy of the data with ``sigmoid(d(e(x)))`` (``loss="bce"``, data
    in [0, 1], soft targets allowed).

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the code ``e(x)``.
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden layers of the encoder; the decoder uses them in reverse order.
    activation : {"relu", "tanh", "sigmoid", "softplus", "identity"}, default="relu"
        Activation of the hidden layers (output layers are linear).
    loss : {"mse", "bce"}, default="mse"
        Reconstruction loss: half the squared error, or the binary
        cross-entropy of data in [0, 1] with the decoder's logits.
{training}

    Attributes
    ----------
    encoder_coefs_ : list of ndarray
        ``encoder_coefs_[l]`` of shape (n_in, n_out), scikit-learn's MLP layout
        (a layer computes ``act(X @ coef + intercept)``).
    encoder_intercepts_ : list of ndarray
    decoder_coefs_ : list of ndarray
        The last layer outputs the reconstruction (``mse``) or its logits (``bce``).
    decoder_intercepts_ : list of ndarray
    loss_curve_ : list of float
        Mean training loss per epoch.
    validation_scores_ : list of float
        With ``early_stopping``: minus the mean loss of the validation split per epoch.
    best_loss_ : float
    best_validation_score_ : float
        Only with early stopping.
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    VAE : Adds a prior and a probabilistic encoder: it can sample and
        estimate ``log p(x)``.
    PPCA : The linear, probabilistic model, fitted in closed form.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from vaekit import Autoencoder
    >>> X = load_digits().data / 16
    >>> model = Autoencoder(n_components=8, hidden_layer_sizes=(64,), max_iter=20, random_state=0).fit(X)
    >>> reconstruction = model.inverse_transform(model.transform(X))
    >>> reconstruction.shape
    (1797, 64)
    """.replace("{training}", TRAINING_PARAMETERS_DOC)

    _kind = "Autoencoder"
    _parameter_constraints = neural_constraints(_kind)

    # The defaults of the described hyper-parameters are the C++ configuration's
    # (cpp/include/vaekit/autoencoder.hpp, AutoencoderConfig; optim.hpp, TrainingOptions).
    def __init__(self, n_components=_DEFAULTS["n_components"], *,
                 hidden_layer_sizes=_DEFAULTS["hidden_layer_sizes"], activation=_DEFAULTS["activation"],
                 loss=_DEFAULTS["loss"], batch_size=_DEFAULTS["batch_size"], max_iter=_DEFAULTS["max_iter"],
                 learning_rate=_DEFAULTS["learning_rate"], weight_decay=_DEFAULTS["weight_decay"],
                 early_stopping=_DEFAULTS["early_stopping"], validation_fraction=_DEFAULTS["validation_fraction"],
                 n_iter_no_change=_DEFAULTS["n_iter_no_change"], tol=_DEFAULTS["tol"], random_state=None, verbose=0,
                 n_threads=None, dtype=np.float32):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
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

    def _layer_sizes(self, n_features):
        return ([n_features, *self._hidden_sizes, self.n_components],
                [self.n_components, *self._hidden_sizes[::-1], n_features], 0)

    def _check_training_data(self, X):
        if self.loss == "bce":
            check_unit_interval(X, 'loss="bce"')

    def _store_extra(self, native):
        pass

    def _restore_extra(self):
        return {}

    @finite_output
    @rowwise(n_features_of, latent=True)
    def inverse_transform(self, Z):
        """Decode: ``d(z)``, or the probabilities ``sigmoid(d(z))`` for ``loss="bce"``.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_components)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If Z does not have ``n_components`` columns.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import Autoencoder
        >>> X = np.random.default_rng(0).uniform(size=(100, 6))
        >>> model = Autoencoder(loss="bce", hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X)
        >>> probabilities = model.inverse_transform(np.zeros((2, 2)))
        >>> probabilities.shape, bool(((probabilities > 0) & (probabilities < 1)).all())
        ((2, 6), True)
        """
        Z = self._validate_Z(Z)
        return self._native_model().inverse_transform(Z, self._n_threads())

    @finite_output
    @rowwise(None)
    def score_samples(self, X):
        """Minus the reconstruction loss of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a lazy dask array with X's row chunks.

        Returns
        -------
        score : ndarray of shape (n_samples,)
            ``-||x - d(e(x))||^2 / 2`` (``loss="mse"``) or minus the binary
            cross-entropy (``loss="bce"``): higher is better.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has a different number of features than the training data,
            or NaN or infinite values.

        See Also
        --------
        score : The mean over the samples.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import Autoencoder
        >>> X = np.random.default_rng(0).normal(size=(100, 6)).astype(np.float32)
        >>> model = Autoencoder(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X)
        >>> error = X - model.inverse_transform(model.transform(X))
        >>> bool(np.allclose(model.score_samples(X), -0.5 * (error ** 2).sum(axis=1), rtol=1e-4))
        True
        """
        X = self._validate_X(X)
        return self._native_model().score_samples(X, self._n_threads())


_registry.register(Autoencoder._kind, Autoencoder, Autoencoder._restore_from_file)
