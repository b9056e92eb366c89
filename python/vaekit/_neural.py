"""What the neural estimators (Autoencoder, VAE) share: the training
hyper-parameters, their validation, and the fit / partial_fit / restore cycle.

The mathematics and the training loop live in C++ (``cpp/src/training.hpp``,
``cpp/src/vae.cpp``, ``cpp/src/autoencoder.cpp``); this module validates input
and holds the fitted state as numpy arrays, from which the C++ model is rebuilt
for each call, so that pickling and ``sklearn.base.clone`` work.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_scalar
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import MeanScoreMixin
from ._io import ModelFileMixin
from ._native import core
from ._validation import seed_from_random_state

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

TRAINING_PARAMETERS_DOC = """\
    batch_size : int, default=128
        Samples per mini-batch (at most the number of training samples).
    max_iter : int, default=200
        Maximum number of epochs (passes over the training data).
    learning_rate : float, default=1e-3
        Adam's step size.
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW): each step shrinks the weights of the
        dense layers (not the biases or log-variances) by
        ``learning_rate * weight_decay`` times their value.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data and stop when its
        score has not improved by ``tol`` for ``n_iter_no_change`` epochs; the
        weights of the best validation epoch are kept. Without it, training
        stops when the training loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs (scikit-learn's MLP rule).
    validation_fraction : float, default=0.1
        Fraction of the training data held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without improvement tolerated before stopping.
    tol : float, default=1e-4
        Minimum improvement of the loss (or validation score) that counts.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling, the validation split and the
        reparameterisation noise. The same seed and ``n_threads`` give
        bit-identical models.
    verbose : int, default=0
        Print one line per epoch (epoch, loss, validation score, seconds).
    n_threads : int or None, default=None
        Threads for training and inference; None uses all cores.
    dtype : {np.float32, np.float64}, default=np.float32
        Precision of the parameters and of every computation. Inputs are
        converted to it (float32 C-contiguous input is used without a copy)
        and outputs are returned in it."""


def _check_hidden_layer_sizes(hidden_layer_sizes):
    sizes = (hidden_layer_sizes,) if isinstance(hidden_layer_sizes, Integral) else hidden_layer_sizes
    try:
        sizes = list(sizes)
    except TypeError:
        raise ValueError(f"hidden_layer_sizes must be an int or a sequence of ints, got {hidden_layer_sizes!r}")
    for size in sizes:
        if not isinstance(size, Integral) or isinstance(size, bool) or size < 1:
            raise ValueError(f"hidden_layer_sizes must contain positive ints, got {hidden_layer_sizes!r}")
    return [int(size) for size in sizes]


class _NeuralEstimator(ModelFileMixin, MeanScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                       BaseEstimator):
    """Base of Autoencoder and VAE: training parameters and the fit cycle.

    Subclasses define ``_native_class(dtype)``, ``_native_arguments()`` (the
    C++ constructor's arguments after n_features, kept as ``_architecture``),
    ``_check_model_params()``, ``_store_extra(native)``,
    ``_restore_extra(native)`` and ``_check_training_data(X)``.
    """

    _ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid", "logistic", "softplus")

    # ---------------------------------------------------------- parameters
    def _fit_dtype(self):
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be np.float32 or np.float64, got {self.dtype!r}")
        return dtype

    def _n_threads(self):
        if self.n_threads is None:
            return 0
        check_scalar(self.n_threads, "n_threads", Integral, min_val=1)
        return int(self.n_threads)

    def _check_training_params(self):
        check_scalar(self.n_components, "n_components", Integral, min_val=1)
        self._hidden_sizes = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        if self.activation not in self._ACTIVATIONS:
            raise ValueError(f"activation must be one of {self._ACTIVATIONS}, got {self.activation!r}")
        check_scalar(self.batch_size, "batch_size", Integral, min_val=1)
        check_scalar(self.max_iter, "max_iter", Integral, min_val=1)
        check_scalar(self.learning_rate, "learning_rate", Real, min_val=0.0, include_boundaries="neither")
        check_scalar(self.weight_decay, "weight_decay", Real, min_val=0.0)
        check_scalar(self.early_stopping, "early_stopping", (bool, np.bool_))
        check_scalar(self.validation_fraction, "validation_fraction", Real, min_val=0.0, max_val=1.0,
                     include_boundaries="neither")
        check_scalar(self.n_iter_no_change, "n_iter_no_change", Integral, min_val=1)
        check_scalar(self.tol, "tol", Real, min_val=0.0)
        check_scalar(self.verbose, "verbose", (Integral, bool), min_val=0)
        self._n_threads()
        self._fit_dtype()
        self._check_model_params()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            tags.transformer_tags.preserves_dtype = [self._fit_dtype().name]
        except ValueError:
            tags.transformer_tags.preserves_dtype = []
        return tags

    @property
    def _n_features_out(self):
        return self.n_components

    # ----------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Train the model on X from a fresh random initialisation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._check_training_params()
        X = validate_data(self, X, dtype=self._fit_dtype(), order="C", reset=True)
        self._check_training_data(X)
        if self.early_stopping and X.shape[0] < 2:
            raise ValueError("early_stopping holds out a validation split and needs at least 2 samples, got "
                             f"n_samples={X.shape[0]}")
        self._seed = seed_from_random_state(self.random_state)
        self._architecture = self._native_arguments()
        native = self._native_class(X.dtype)(X.shape[1], *self._architecture)
        self._train(native, X, partial=False)
        if not native.converged and self.n_iter_ >= self.max_iter:
            warnings.warn(f"{type(self).__name__}: maximum number of epochs ({self.max_iter}) reached before "
                          "the loss converged; increase max_iter or use early_stopping.", ConvergenceWarning)
        return self

    def partial_fit(self, X, y=None):
        """One epoch of training on X, continuing from the current state.

        The first call initialises the model (from ``random_state``); later
        calls continue with the same parameters and Adam state.
        ``early_stopping`` does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        first_call = not hasattr(self, "encoder_coefs_")
        if first_call:
            self._check_training_params()
            X = validate_data(self, X, dtype=self._fit_dtype(), order="C", reset=True)
            self._check_training_data(X)
            self._seed = seed_from_random_state(self.random_state)
            self._architecture = self._native_arguments()
            native = self._native_class(X.dtype)(X.shape[1], *self._architecture)
            native.initialize(self._seed)
        else:
            self._check_training_params()
            X = validate_data(self, X, dtype=self._model_dtype(), order="C", reset=False)
            self._check_training_data(X)
            native = self._native_model()
        self._train(native, X, partial=True)
        return self

    def _train(self, native, X, partial):
        arguments = dict(
            batch_size=int(self.batch_size), max_iter=int(self.max_iter), learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay), early_stopping=bool(self.early_stopping),
            validation_fraction=float(self.validation_fraction), n_iter_no_change=int(self.n_iter_no_change),
            tol=float(self.tol), seed=self._seed, n_threads=self._n_threads(), verbose=int(self.verbose),
            partial=partial)
        try:
            native.fit(X, **arguments)
        except (KeyboardInterrupt, core.TrainingDiverged):
            # The C++ loop restored the last complete epoch: keep it, so that the
            # estimator stays usable, then let the exception through.
            self._store(native)
            raise
        self._store(native)

    def _store(self, native):
        self.encoder_coefs_, self.encoder_intercepts_ = (list(part) for part in native.get_layers("encoder"))
        self.decoder_coefs_, self.decoder_intercepts_ = (list(part) for part in native.get_layers("decoder"))
        self.loss_curve_ = list(native.loss_curve)
        self.validation_scores_ = list(native.validation_scores)
        self.best_loss_ = float(min(self.loss_curve_)) if self.loss_curve_ else np.inf
        if self.validation_scores_:
            self.best_validation_score_ = float(max(self.validation_scores_))
        self.n_iter_ = int(native.n_iter)
        self._optimizer_state = native.get_optimizer_state()
        self._store_extra(native)

    # ------------------------------------------------------- fitted model
    def _model_dtype(self):
        return self.encoder_coefs_[0].dtype

    def _native_model(self):
        """The C++ model rebuilt from the fitted attributes."""
        dtype = self._model_dtype()
        native = self._native_class(dtype)(self.n_features_in_, *self._architecture)
        cast = lambda arrays: [np.ascontiguousarray(a, dtype=dtype) for a in arrays]  # noqa: E731
        native.set_layers("encoder", cast(self.encoder_coefs_), cast(self.encoder_intercepts_))
        native.set_layers("decoder", cast(self.decoder_coefs_), cast(self.decoder_intercepts_))
        self._restore_extra(native)
        first, second, step = self._optimizer_state
        if len(first) == native.n_parameters:
            native.set_optimizer_state(first, second, step)
        native.set_history(self.loss_curve_, self.validation_scores_, self.n_iter_)
        return native

    def _validate_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=self._model_dtype(), order="C", reset=False)

    def _validate_Z(self, Z):
        check_is_fitted(self)
        Z = check_array(Z, dtype=self._model_dtype(), order="C", input_name="Z")
        n_components = self.decoder_coefs_[0].shape[0]
        if Z.shape[1] != n_components:
            raise ValueError(f"Z has {Z.shape[1]} columns, but this {type(self).__name__} has {n_components} "
                             "components")
        return Z

    def transform(self, X):
        """Encode X: the encoder's output (for the VAE, the posterior mean h(x)).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_X(X)
        return self._native_model().transform(X, self._n_threads())


def check_unit_interval(X, what):
    """Raises ValueError unless every entry of X is in [0, 1]."""
    if X.size and (X.min() < 0 or X.max() > 1):
        raise ValueError(f"{what} needs X with values in [0, 1] (soft targets are allowed); got values in "
                         f"[{X.min():g}, {X.max():g}]")
