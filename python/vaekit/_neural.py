"""What the neural estimators (Autoencoder, VAE) share: the training
hyper-parameters, their validation, and the fit / partial_fit / restore cycle.

The mathematics and the training loop live in C++ (``cpp/src/training.hpp``,
``cpp/src/vae.cpp``, ``cpp/src/autoencoder.cpp``); this module validates input
and holds the fitted state as numpy arrays, from which the C++ model is rebuilt
for each call, so that pickling and ``sklearn.base.clone`` work.
"""

from __future__ import annotations

import json
import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import MeanScoreMixin, NativeModelCacheMixin, passes_unchecked
from ._description import DESCRIPTIONS, native_class, native_values, parameter_constraints
from ._inputs import is_dask_array, to_native
from ._io import ModelFileMixin
from ._native import core
from ._progress import TrainingProgress
from ._rowwise import n_components_of, rowwise
from ._validation import INT_MAX, MAX_THREADS, FloatDtype, check_memory, seed_from_random_state

# The model file's entry for the seed of score_samples' noise.
_SEED_KEY = "fitted.seed"

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
        Progress output, printed through Python's ``print`` (``sys.stdout``, so
        Jupyter shows it). 0: none. 1: one line per epoch: epoch (of
        ``max_iter``), loss (for the VAE also its reconstruction and KL
        terms), validation score, seconds of the epoch, elapsed seconds and
        the estimated time left; lines reach Python at most every 0.2 s (and
        at the end), so fast epochs do not wait for the GIL. 2 (or more):
        also, in an epoch that lasts over 0.5 s, a bar over its batches: tqdm's
        (``tqdm.auto``, a widget in Jupyter) when tqdm is installed, otherwise
        a text bar (samples done, seconds, time left in the epoch) redrawn in
        place with ``'\\r'`` at most every 0.2 s and replaced by the epoch's
        line when the epoch ends.
    n_threads : int or None, default=None
        Threads for training and inference (at most 1024); None uses all cores.
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


# The parameters of the Python estimators only: the described ones come from
# the C++ core (see neural_constraints).
_RUNTIME_CONSTRAINTS = {
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "n_threads": [Interval(Integral, 1, MAX_THREADS, closed="both"), None],
    "dtype": [FloatDtype()],
}


def neural_constraints(kind):
    """``_parameter_constraints`` of the neural estimator of a C++ kind."""
    return {**parameter_constraints(kind), **_RUNTIME_CONSTRAINTS}


class _NeuralEstimator(NativeModelCacheMixin, ModelFileMixin, MeanScoreMixin, ClassNamePrefixFeaturesOutMixin,
                       TransformerMixin, BaseEstimator):
    """Base of Autoencoder and VAE: training parameters and the fit cycle.

    Subclasses set ``_kind`` (the C++ model's kind: its hyper-parameters
    and training parameters, their constraints and the native class follow
    from it), define ``_layer_sizes(n_features)``, ``_store_extra(native)``,
    ``_restore_extra()`` (more arguments of the native ``restore``: a dict) and
    ``_check_training_data(X)``, and register
    the kind (``_registry.register``).
    """

    _kind = None

    # verbose >= 2: seconds an epoch runs before its progress bar is drawn.
    _progress_bar_delay = 0.5

    # ---------------------------------------------------------- parameters
    def _fit_dtype(self):
        if not FloatDtype().is_satisfied_by(self.dtype):
            raise ValueError(f"dtype must be np.float32 or np.float64, got {self.dtype!r}")
        return np.dtype(self.dtype)

    def _n_threads(self):
        return 0 if self.n_threads is None else int(self.n_threads)

    def _check_training_params(self):
        """Checks that do not need the data: run before X is converted or copied."""
        self._validate_params()
        self._hidden_sizes = _check_hidden_layer_sizes(self.hidden_layer_sizes)

    def _check_model_size(self, n_samples, n_features):
        """Fails fast, before the C++ model allocates anything, when the
        architecture cannot be trained: more parameters than the core indexes,
        or more memory than the machine has."""
        encoder_sizes, decoder_sizes, n_extra = self._layer_sizes(n_features)
        sizes = list(encoder_sizes) + list(decoder_sizes)
        n_parameters = n_extra + sum(n_in * n_out + n_out for layers in (encoder_sizes, decoder_sizes)
                                     for n_in, n_out in zip(layers[:-1], layers[1:]))
        architecture = (f"{type(self).__name__} with hidden_layer_sizes={self.hidden_layer_sizes!r}, "
                        f"n_components={self.n_components} and {n_features} features")
        advice = "Use smaller hidden_layer_sizes or n_components."
        if n_parameters > INT_MAX:
            raise ValueError(f"{architecture} has {n_parameters:.3g} parameters, more than the {INT_MAX} the core "
                             f"supports. {advice}")
        # Training keeps about a dozen vectors of the parameters' size (the
        # parameters, gradients, Adam's moments, the copies an interrupt or
        # early stopping restores) and each batch's activations, forward and backward.
        batch_rows = min(self.batch_size, n_samples) * getattr(self, "n_mc_samples", 1)
        itemsize = self._fit_dtype().itemsize
        check_memory(itemsize * (12 * n_parameters + 4 * batch_rows * sum(sizes)), f"Training a {architecture}",
                     advice)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = self._allows_missing()
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

        Mini-batch Adam for at most ``max_iter`` epochs, stopping earlier by
        the ``tol`` / ``n_iter_no_change`` rule (see ``early_stopping``).
        Training runs in C++ with the GIL released; Ctrl-C stops it within a
        batch and the estimator keeps the last complete epoch.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data, converted to ``dtype`` (no copy when it already is
            C-contiguous in that dtype). A sparse matrix is never made dense
            whole; a dask array is streamed block by block (see the user
            guide's "Large and sparse data").
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            If a hyper-parameter is invalid, if X contains NaN or infinite
            values, or if the likelihood or loss needs data in [0, 1] and X is
            not. Also when training diverges (a non-finite loss): the error
            names the learning rate and the input scale, and the estimator
            keeps the parameters of the last complete epoch.

        Warns
        -----
        sklearn.exceptions.ConvergenceWarning
            If ``max_iter`` epochs ran before the stopping rule was met.

        See Also
        --------
        partial_fit : One more epoch, continuing from the current state.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from vaekit import VAE
        >>> X = load_digits().data / 16
        >>> vae = VAE(n_components=2, hidden_layer_sizes=(32,), learning_rate=1e-2, early_stopping=True,
        ...           n_iter_no_change=5, random_state=0).fit(X)
        >>> vae.n_iter_ < vae.max_iter  # stopped when the validation ELBO stopped improving
        True
        >>> len(vae.loss_curve_) == len(vae.validation_scores_) == vae.n_iter_
        True
        """
        self._check_training_params()
        X = self._training_input(X, reset=True)
        self._check_model_size(*X.shape)
        if self.early_stopping and X.shape[0] < 2:
            raise ValueError("early_stopping holds out a validation split and needs at least 2 samples, got "
                             f"n_samples={X.shape[0]}")
        self._seed = seed_from_random_state(self.random_state)
        self._architecture = native_values(self, self._kind, "hyper_parameters")
        native = native_class(self._kind, X.dtype)(X.shape[1], self._architecture)
        self._train(native, X, partial=False)
        if not native.converged and self.n_iter_ >= self.max_iter:
            if self.early_stopping:
                advice = "the validation score stopped improving; increase max_iter"
            else:
                advice = "the loss converged; increase max_iter or use early_stopping"
            warnings.warn(f"{type(self).__name__}: maximum number of epochs ({self.max_iter}) reached before "
                          f"{advice}.", ConvergenceWarning)
        return self

    def partial_fit(self, X, y=None):
        """One epoch of training on X, continuing from the current state.

        The first call initialises the model (from ``random_state``); later
        calls continue with the same parameters and Adam state.
        ``early_stopping`` does not apply.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data; after the first call, it must have the same number
            of features. A dask array is streamed: one epoch over its blocks.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The estimator, trained for one more epoch.

        Raises
        ------
        ValueError
            As for :meth:`fit`, and if X does not have the number of features
            of the first call.

        See Also
        --------
        fit : Train from scratch until convergence.

        Examples
        --------
        Train epoch by epoch, e.g. to change the learning rate on the way or
        to evaluate after each epoch:

        >>> import numpy as np
        >>> from vaekit import Autoencoder
        >>> X = np.random.default_rng(0).normal(size=(256, 8))
        >>> model = Autoencoder(n_components=2, hidden_layer_sizes=(16,), random_state=0)
        >>> for epoch in range(3):
        ...     model = model.partial_fit(X)
        >>> model.n_iter_
        3
        """
        first_call = not hasattr(self, "encoder_coefs_")
        self._check_training_params()
        if first_call:
            X = self._training_input(X, reset=True)
            self._check_model_size(*X.shape)
            self._seed = seed_from_random_state(self.random_state)
            self._architecture = native_values(self, self._kind, "hyper_parameters")
            native = native_class(self._kind, X.dtype)(X.shape[1], self._architecture)
            first = self._training_block(X.blocks[0].compute()) if is_dask_array(X) else to_native(X)
            native.initialize(self._seed, first)
        else:
            X = self._training_input(X, reset=False)
            native = self._native_model()
        self._train(native, X, partial=True)
        return self

    # Whether verbose output shows the reconstruction and KL terms of the loss.
    _loss_terms = False

    def _allows_missing(self):
        """Whether the C++ model takes NaN as a missing value (its kAllowsMissing)."""
        return DESCRIPTIONS[self._kind]["allows_missing"]

    def _check_finite(self, X, **kwargs):
        """validate_data with NaN accepted when the model takes missing values;
        otherwise a NaN raises a ValueError that says which estimators do."""
        if self._allows_missing():
            return validate_data(self, X, ensure_all_finite="allow-nan", **kwargs)
        try:
            return validate_data(self, X, **kwargs)
        except ValueError as error:
            if "NaN" not in str(error):
                raise
            raise self._nan_error() from error

    def _nan_error(self):
        return ValueError(f"{type(self).__name__}: X contains NaN. It needs complete data: vaekit.VAE trains on "
                          "incomplete data (NaN is a missing value), and vaekit.Imputer fills in missing values.")

    def _training_input(self, X, reset):
        """Training data checked: a numpy array or a scipy.sparse matrix
        (CSR) of the training dtype, or a dask array whose blocks are checked
        as they are streamed (_training_block)."""
        dtype = self._fit_dtype() if reset else self._model_dtype()
        if not is_dask_array(X):
            X = self._check_finite(X, accept_sparse="csr", dtype=dtype, order="C", reset=reset)
            self._check_training_data(X)
            return X
        from . import _dask

        X = _dask.check_array(X, dtype)
        _dask.input_features(self, X, reset)
        return X

    def _training_block(self, block):
        """A block of a dask array as the core trains on it."""
        if not sp.issparse(block):
            block = np.ascontiguousarray(block)  # its dtype is the training dtype (_dask.check_array)
        self._check_training_data(block)
        return to_native(block)

    def _train(self, native, X, partial):
        options = native_values(self, self._kind, "training")
        progress = TrainingProgress(int(self.verbose), self.max_iter, partial, self._progress_bar_delay,
                                    self._loss_terms)
        streamed = None
        try:
            if is_dask_array(X):
                from . import _dask

                streamed = _dask.BlockStream(X, self._training_block)
                native.fit_blocks(streamed.block_rows, streamed.fetch, options, seed=self._seed,
                                  n_threads=self._n_threads(), partial=partial, on_batch=progress.on_batch,
                                  on_epoch=progress.on_epoch)
            else:
                native.fit(to_native(X), options, seed=self._seed, n_threads=self._n_threads(), partial=partial,
                           on_batch=progress.on_batch, on_epoch=progress.on_epoch)
        except core.InvalidArgument as error:
            # A dask block with NaN reaches the core's check (numpy and sparse
            # input are checked by _check_finite).
            if "contains NaN" in str(error) and not self._allows_missing():
                raise self._nan_error() from error
            raise
        except (KeyboardInterrupt, core.TrainingDiverged):
            # The C++ loop restored the last complete epoch: keep it, so that the
            # estimator stays usable, then let the exception through.
            self._store(native)
            raise
        finally:
            progress.close()
            if streamed is not None:
                streamed.close()
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
        # The trained C++ model is the one the fitted attributes describe.
        self._keep_native_model(native)

    # ------------------------------------------------------- model files
    def _native_for_file(self):
        return self._native_model()

    def _fitted_metadata(self):
        return {_SEED_KEY: str(int(self._seed))}

    def _restore_from_file(self, native, metadata):
        """Sets the fitted state from a native model read from a file (the
        estimator holds the file's hyper-parameters); ValueError when they
        do not describe the same model."""
        self._check_training_params()
        dtype = native.parameters.dtype
        if np.dtype(self.dtype) != dtype:
            raise ValueError(f"dtype={np.dtype(self.dtype).name} but the parameters are {dtype.name}")
        loaded = core.model_metadata(native)
        # Sizes first, so that the comparison model below is no larger than the loaded one.
        if (self.n_components != int(loaded["n_components"])
                or self._hidden_sizes != json.loads(loaded["hidden_layer_sizes"])):
            raise ValueError(f"n_components={self.n_components} and hidden_layer_sizes="
                             f"{self.hidden_layer_sizes!r} do not match the architecture in the file")
        self._architecture = native_values(self, self._kind, "hyper_parameters")
        self.n_features_in_ = int(loaded["n_features"])
        expected = core.model_metadata(native_class(self._kind, dtype)(self.n_features_in_, self._architecture))
        mismatched = sorted(key for key in expected if key != "n_iter" and expected[key] != loaded.get(key))
        if mismatched:
            details = ", ".join(f"{key}: {expected[key]!r} vs {loaded.get(key)!r}" for key in mismatched)
            raise ValueError(f"the hyper-parameters do not match the model in the file ({details})")
        seed = int(metadata.get(_SEED_KEY, "0"))
        if not 0 <= seed < 2**64:
            raise ValueError(f"{_SEED_KEY} must be a 64-bit unsigned integer, got {seed}")
        self._seed = seed
        self._store(native)

    # ------------------------------------------------------- fitted model
    def _model_dtype(self):
        return self.encoder_coefs_[0].dtype

    # rowwise: inference densifies a sparse X a chunk of rows at a time, in the model's dtype.
    _sparse_inference = False

    def _inference_dtypes(self):
        return self._model_dtype()

    def _fitted_arrays(self):
        """The fitted arrays the C++ model is built from (the cache's key)."""
        return [*self.encoder_coefs_, *self.encoder_intercepts_, *self.decoder_coefs_, *self.decoder_intercepts_,
                self._decoder_log_variance if hasattr(self, "_decoder_log_variance") else None]

    def _native_model(self):
        """The C++ model of the fitted attributes, built once and then reused
        (NativeModelCacheMixin): building it copies every weight and the
        optimiser state into C++."""
        return self._cached_native_model(self._build_native_model)

    def _build_native_model(self):
        """The C++ model restored from the fitted attributes."""
        dtype = self._model_dtype()
        cast = lambda arrays: [np.ascontiguousarray(a, dtype=dtype) for a in arrays]  # noqa: E731
        first, second, step = self._optimizer_state
        history = {"loss_curve": self.loss_curve_, "validation_scores": self.validation_scores_,
                   "n_iter": self.n_iter_}
        extra = self._restore_extra()
        history.update(extra.pop("history", {}))
        return native_class(self._kind, dtype).restore(
            self.n_features_in_, self._architecture,
            encoder=(cast(self.encoder_coefs_), cast(self.encoder_intercepts_)),
            decoder=(cast(self.decoder_coefs_), cast(self.decoder_intercepts_)),
            optimizer_state=(first, second, step) if len(first) else None, history=history, **extra)

    def _validate_X(self, X):
        if "encoder_coefs_" in self.__dict__ and passes_unchecked(self, X, (self._model_dtype(),)):
            return X
        check_is_fitted(self)
        return self._check_finite(X, dtype=self._model_dtype(), order="C", reset=False)

    def _validate_Z(self, Z):
        check_is_fitted(self)
        Z = check_array(Z, dtype=self._model_dtype(), order="C", input_name="Z")
        n_components = self.decoder_coefs_[0].shape[0]
        if Z.shape[1] != n_components:
            raise ValueError(f"Z has {Z.shape[1]} columns, but this {type(self).__name__} has {n_components} "
                             "components")
        return Z

    # No @finite_output: the C++ transform checks its result (one fused pass
    # instead of two numpy calls, a tenth of a one-sample transform).
    @rowwise(n_components_of)
    def transform(self, X):
        """Encode X: the encoder's output (for the VAE, the posterior mean h(x)).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a lazy dask array with X's row chunks.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            The codes, in the estimator's ``dtype``. Each row depends only on
            the corresponding row of X, bit for bit.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X has a different number of features than the training data,
            or NaN or infinite values.

        See Also
        --------
        inverse_transform : Decode latent points.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import Autoencoder
        >>> X = np.random.default_rng(0).normal(size=(256, 8))
        >>> model = Autoencoder(n_components=3, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> Z = model.transform(X)
        >>> Z.shape, Z.dtype
        ((256, 3), dtype('float32'))
        """
        X = self._validate_X(X)
        return self._native_model().transform(X, self._n_threads())

    def to_onnx(self, part="encoder", dtype=None):
        """One network of the fitted model as an ONNX model (``pip install "vaekit[onnx]"``).

        Parameters
        ----------
        part : {"encoder", "decoder"}, default="encoder"
            ``"encoder"``: input ``X``; output ``Z`` (``transform``) for the
            Autoencoder, ``mean`` and ``log_variance`` (``encode``'s mean and
            ``2 log stddev``) for the VAE. ``"decoder"``: input ``Z``, output
            ``X`` (``inverse_transform``).
        dtype : {numpy.float32, numpy.float64} or None, default=None
            The graph's dtype; None: the estimator's ``dtype``.

        Returns
        -------
        onnx.ModelProto
            A model of standard operators, with a dynamic batch dimension.

        See Also
        --------
        vaekit.onnx : skl2onnx converters, for pipelines.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import VAE
        >>> X = np.random.default_rng(0).normal(size=(256, 8))
        >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X)
        >>> encoder = vae.to_onnx("encoder")
        >>> [output.name for output in encoder.graph.output]
        ['mean', 'log_variance']
        """
        from ._onnx_graph import network_to_onnx

        return network_to_onnx(self, part, dtype)


def check_unit_interval(X, what):
    """Raises ValueError unless every entry of X is in [0, 1] (NaN, a missing
    value, aside)."""
    if not X.size:
        return
    values = X.data if sp.issparse(X) else X
    if not values.size or np.isnan(values).all():
        return
    low, high = np.nanmin(values), np.nanmax(values)
    if sp.issparse(X) and X.nnz < X.shape[0] * X.shape[1]:
        low, high = min(low, 0), max(high, 0)
    if low < 0 or high > 1:
        raise ValueError(f"{what} needs X with values in [0, 1] (soft targets are allowed); got values in "
                         f"[{low:g}, {high:g}]")
