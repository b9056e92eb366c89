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
        """
        return float(np.mean(self.score_samples(X), dtype=np.float64))
