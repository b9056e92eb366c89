"""The numpy PPCA reference of the benchmarks: a vectorised numpy port of the
EM iterations of cpp/src/ppca_em.cpp and ppca_em_missing.cpp, step
for step (the M-step from the last E-step's sums, then the E-step with the
log-likelihood), so that bench/compare.py and bench/bench_ppca.py time vaekit's
iteration against the same iteration in numpy. check_missing_em_reference
checks the missing-data port against vaekit.

Not the test suite's reference: the tests check PPCA against closed forms
(numpy's eigendecomposition, scipy's Gaussian density), and they run from an
installed wheel outside the source tree, where bench/ is not there.
"""

from __future__ import annotations

import numpy as np


def starting_point(X, d, seed=0):
    """The mean, the sum of squared deviations, and a random W (D x d, entries of
    variance s2) with s2 = the mean variance per feature, in X's dtype: where the
    benchmarks start the numpy iterations."""
    n, D = X.shape
    dtype = X.dtype.type
    mean = X.mean(axis=0)
    sum_sq = float(np.einsum("ij,ij->", X - mean, X - mean, dtype=np.float64))
    W = (np.random.default_rng(seed).standard_normal((D, d)) * np.sqrt(sum_sq / (n * D))).astype(dtype)
    return mean, sum_sq, W, dtype(sum_sq / (n * D))


def numpy_em_estep_complete(X, mean, sum_sq, W, noise_variance):
    """The E-step of cpp/src/ppca_em.cpp's e_step: one product with X
    (not centred), the posterior means, sum <z z^T> and the mean log-likelihood
    (Woodbury and the determinant lemma), Tipping & Bishop eqs. 25-26."""
    n, D = X.shape
    d = W.shape[1]
    projected = X @ W - mean @ W
    M = W.T @ W + noise_variance * np.eye(d, dtype=W.dtype)
    M_inverse = np.linalg.inv(M)
    AtA = projected.T @ projected
    _, log_det_M = np.linalg.slogdet(M.astype(np.float64))
    trace_term = float(np.sum(M_inverse * AtA))
    s2 = float(noise_variance)
    log_likelihood = (-0.5 * (D * np.log(2 * np.pi) + (D - d) * np.log(s2) + log_det_M)
                      - 0.5 * (sum_sq - trace_term) / (s2 * n))
    posterior = projected @ M_inverse
    sum_zz = M_inverse @ AtA @ M_inverse + n * noise_variance * M_inverse
    return posterior, sum_zz, log_likelihood


def numpy_em_mstep_complete(X, mean, sum_sq, posterior, sum_zz):
    """The M-step of fit_em_complete (eqs. 27-28): one product with X."""
    n, D = X.shape
    B = X.T @ posterior - np.outer(mean, posterior.sum(axis=0))
    W = np.linalg.solve(sum_zz, B.T).T
    noise_variance = (sum_sq - float(np.sum(W * B))) / (n * D)
    return W, X.dtype.type(noise_variance)


def numpy_em_iteration_complete(X, mean, sum_sq, estep_result):
    """One iteration as fit_em_complete runs it: the M-step from the last
    E-step, then the E-step (with the log-likelihood) of the new parameters."""
    posterior, sum_zz, _ = estep_result
    W, noise_variance = numpy_em_mstep_complete(X, mean, sum_sq, posterior, sum_zz)
    return numpy_em_estep_complete(X, mean, sum_sq, W, noise_variance)


class MissingEMState:
    """What cpp/src/ppca_em_missing.cpp precomputes once: the observed
    mask, X with zeros for NaN, per-feature counts, sums and sums of squares."""

    def __init__(self, X):
        self.observed = ~np.isnan(X)
        self.observed_f = self.observed.astype(X.dtype)
        self.missing_f = (~self.observed).astype(X.dtype)
        self.filled = np.where(self.observed, X, X.dtype.type(0))
        self.count = self.observed.sum(axis=0).astype(np.float64)
        self.sum_x = self.filled.sum(axis=0, dtype=np.float64)
        self.sum_xx = np.einsum("ij,ij->j", self.filled, self.filled, dtype=np.float64)
        self.n_obs_rows = self.observed.sum(axis=1).astype(np.float64)
        self.n_observed = float(self.count.sum())


def numpy_em_estep_missing(state, mean, W, s2):
    """The E-step of fit_em_missing, vectorised: per row M_n = s2 I + W_O^T W_O,
    <z_n> = M_n^-1 W_O^T (x_O - mu_O), <z z^T>_n = s2 M_n^-1 + <z><z>^T, the
    per-feature sums of <z z^T> and <z> over the rows where the feature is
    observed, and the observed-data log-likelihood (Woodbury, determinant lemma)."""
    n, D = state.filled.shape
    d = W.shape[1]
    dtype = W.dtype
    WW = (W[:, :, None] * W[:, None, :]).reshape(D, d * d)        # w_i w_i^T per feature
    M_full = W.T @ W + s2 * np.eye(d, dtype=dtype)
    # M_n = M_full - sum over missing i of w_i w_i^T: a product with the missing mask.
    M = M_full[None] - (state.missing_f @ WW).reshape(n, d, d)
    # a_n = W_O^T (x_O - mu_O) = filled W - observed (mu * W).
    a = state.filled @ W - state.observed_f @ (mean[:, None] * W)
    L = np.linalg.cholesky(M)
    M_inverse = np.linalg.inv(M)
    z = np.einsum("nij,nj->ni", M_inverse, a)
    zz = s2 * M_inverse
    zz += z[:, :, None] * z[:, None, :]
    zz_flat = zz.reshape(n, d * d)
    feature_zz = state.observed_f.T @ zz_flat                     # D x d*d
    feature_z = state.observed_f.T @ z                            # D x d
    total_zz = zz_flat.sum(axis=0)
    # ||x_O - mu_O||^2 per row.
    centred = state.filled - state.observed_f * mean
    centred_sq = np.einsum("ij,ij->i", centred, centred, dtype=np.float64)
    log_det_M = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2).astype(np.float64)).sum(axis=1)
    quadratic = (centred_sq - np.einsum("ij,ij->i", a, z, dtype=np.float64)) / s2
    n_obs = state.n_obs_rows
    log_likelihood = float(np.mean(-0.5 * (n_obs * np.log(2 * np.pi) + (n_obs - d) * np.log(s2) + log_det_M
                                          + quadratic)))
    return z, feature_zz, feature_z, total_zz, log_likelihood


def numpy_em_mstep_missing(state, z, feature_zz, feature_z, floor=0.0):
    """The M-step of fit_em_missing: per feature i, the (d+1) x (d+1) normal
    equations in (w_i, mu_i) over the rows where i is observed, batched."""
    D = state.filled.shape[1]
    d = z.shape[1]
    dtype = z.dtype
    B = state.filled.T @ z                                        # sum_n x_ni <z_n>
    system = np.empty((D, d + 1, d + 1), dtype=dtype)
    system[:, :d, :d] = feature_zz.reshape(D, d, d)
    system[:, :d, d] = feature_z
    system[:, d, :d] = feature_z
    system[:, d, d] = state.count
    rhs = np.empty((D, d + 1), dtype=dtype)
    rhs[:, :d] = B
    rhs[:, d] = state.sum_x
    solution = np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
    W = np.ascontiguousarray(solution[:, :d])
    mean = np.ascontiguousarray(solution[:, d])
    mu = mean.astype(np.float64)
    A_w = np.einsum("ijk,ik->ij", system[:, :d, :d], W)
    residual = (state.sum_xx - 2 * mu * state.sum_x + state.count * mu * mu
                - 2.0 * np.einsum("ij,ij->i", W, B - mean[:, None] * feature_z, dtype=np.float64)
                + np.einsum("ij,ij->i", W, A_w, dtype=np.float64)).sum()
    s2 = max(residual / state.n_observed, floor)
    return mean, W, dtype.type(s2)


def numpy_em_iteration_missing(state, estep_result):
    """One iteration as fit_em_missing runs it: the M-step from the last
    E-step's sums, then the E-step (with the log-likelihood) of the new parameters."""
    z, feature_zz, feature_z, _, _ = estep_result
    mean, W, s2 = numpy_em_mstep_missing(state, z, feature_zz, feature_z)
    return numpy_em_estep_missing(state, mean, W, s2)


def check_missing_em_reference():
    """The numpy missing-data iteration against vaekit on a small problem: its
    log-likelihood equals PPCA.score at a vaekit EM fit, and vaekit's converged
    fit is a fixed point of it. Returns a note for the table."""
    from vaekit import PPCA

    rng = np.random.default_rng(3)
    n, D, d = 2000, 30, 4
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, D)) + 0.3 * rng.standard_normal((n, D)) + 1.0
    X[rng.random(X.shape) < 0.1] = np.nan
    model = PPCA(d, method="em", max_iter=5000, tol=1e-13, random_state=0).fit(X)
    state = MissingEMState(X)
    W = model.components_.T.copy()
    mean = model.mean_.copy()
    s2 = float(model.noise_variance_)
    z, fzz, fz, _, loglik = numpy_em_estep_missing(state, mean, W, s2)
    new_mean, new_W, new_s2 = numpy_em_mstep_missing(state, z, fzz, fz)
    loglik_error = abs(loglik - model.score(X))
    fixed_point_error = max(np.abs(new_W @ new_W.T - W @ W.T).max(), np.abs(new_mean - mean).max(),
                            abs(new_s2 - s2))
    ok = loglik_error < 1e-6 * abs(loglik) and fixed_point_error < 1e-4
    return (f"numpy missing-EM check {'ok' if ok else 'FAILED'} (loglik diff {loglik_error:.1e}, "
            f"fixed point {fixed_point_error:.1e})")
