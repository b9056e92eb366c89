"""Behaviour shared by every vaekit estimator."""

from __future__ import annotations

import numpy as np


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
