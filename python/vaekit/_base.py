"""Behaviour shared by every vaekit estimator."""

from __future__ import annotations

import numpy as np


def passes_unchecked(estimator, X, dtypes):
    """Whether X is exactly what the fitted estimator's C++ model takes, so
    that scikit-learn's validation (about 30 us, several times a one-sample
    transform) can be skipped: a non-empty 2-D C-ordered numpy array of one of
    ``dtypes`` and the fitted width, with no feature names to compare (the
    estimator was fitted on an array). The C++ side still rejects NaN and
    infinity."""
    return (type(X) is np.ndarray and X.ndim == 2 and X.flags.c_contiguous and X.shape[0] > 0
            and "feature_names_in_" not in estimator.__dict__
            and X.dtype in dtypes and X.shape[1] == estimator.n_features_in_)


class NativeModelCacheMixin:
    """Keeps the C++ model built from the fitted attributes.

    Building one copies (and for PPCA factors) the parameters, which costs
    more than a one-sample ``transform``. The cache is keyed on the identity
    of the fitted arrays the model was built from (``_fitted_arrays()``,
    read-only once fitted or unpickled, by ``_freeze_fitted_arrays``): it is
    rebuilt when an attribute is replaced, and never pickled.
    """

    def _fitted_arrays(self):
        raise NotImplementedError

    def _cached_native_model(self, build, *extra_key):
        """The cached model, or build()'s, kept for the current fitted
        arrays and extra_key (compared by identity too)."""
        key = [*self._fitted_arrays(), *extra_key]
        cached = getattr(self, "_native_cache", None)
        if cached is not None and len(cached[0]) == len(key) and all(a is b for a, b in zip(cached[0], key)):
            return cached[1]
        return self._keep_native_model(build(), *extra_key)

    def _keep_native_model(self, native, *extra_key):
        """Caches native (e.g. the model a fit just trained) as the model of
        the current fitted arrays, which it freezes; returns it."""
        self._freeze_fitted_arrays()
        self._native_cache = ([*self._fitted_arrays(), *extra_key], native)
        return native

    def _freeze_fitted_arrays(self):
        # Read-only, so that an in-place change cannot leave the cached C++
        # model (keyed on the arrays' identity) out of date.
        for array in self._fitted_arrays():
            if isinstance(array, np.ndarray):
                array.flags.writeable = False

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_native_cache", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        try:
            self._freeze_fitted_arrays()
        except AttributeError:  # not fitted: no arrays yet
            pass


class MeanScoreMixin:
    """``score(X)`` as the mean of ``score_samples(X)``, accumulated in float64."""

    def score(self, X, y=None):
        """Mean of ``score_samples(X)`` over the samples.

        PPCA: the exact log-likelihood; VAE: the ELBO (both in nats per
        sample); Autoencoder: minus the reconstruction loss.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
            Higher is better, as scikit-learn's model selection expects.

        Examples
        --------
        >>> import numpy as np
        >>> from vaekit import PPCA
        >>> X = np.random.default_rng(0).normal(size=(100, 5))
        >>> ppca = PPCA(n_components=2).fit(X)
        >>> bool(np.isclose(ppca.score(X), ppca.score_samples(X).mean()))
        True
        """
        return float(np.mean(self.score_samples(X), dtype=np.float64))
