"""scipy.sparse input for PPCA: the same model as the dense array, without a
dense copy (the sparse kernels are in cpp/src/sparse.hpp)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from vaekit import PPCA

FORMATS = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array]


def sparse_low_rank(n, D, d, keep, seed=0):
    """Low-rank data plus noise with most entries zeroed: a covariance with a gap."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ (3 * rng.normal(size=(d, D))) + rng.normal(size=(n, D)) + 1
    X[rng.random((n, D)) > keep] = 0
    return X


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", [(600, 40), (150, 400)], ids=["gram", "krylov"])
def test_closed_form_equals_dense(fmt, shape):
    # (600, 40): the covariance formed from the sparse Gram matrix; (150, 400) at 2%
    # density: D x D costs more than X, so the eigenpairs come from products with X.
    n, D = shape
    X = sparse_low_rank(n, D, 3, keep=0.3 if D == 40 else 0.05)
    dense = PPCA(n_components=3).fit(X)
    sparse = PPCA(n_components=3).fit(fmt(X))
    assert relative(sparse.components_, dense.components_) < 1e-9
    assert relative(sparse.mean_, dense.mean_) < 1e-12
    assert sparse.noise_variance_ == pytest.approx(dense.noise_variance_, rel=1e-9)
    assert relative(sparse.explained_variance_, dense.explained_variance_) < 1e-9
    Xs = fmt(X)
    np.testing.assert_allclose(dense.transform(Xs), dense.transform(X), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dense.score_samples(Xs), dense.score_samples(X), rtol=1e-12)
    mean, std = dense.encode(Xs)
    np.testing.assert_array_equal(mean, dense.transform(Xs))
    np.testing.assert_allclose(std, dense.encode(X)[1], rtol=1e-12)


def test_em_equals_dense():
    X = sparse_low_rank(400, 30, 2, keep=0.3)
    dense = PPCA(n_components=2, method="em", tol=1e-10, random_state=0).fit(X)
    sparse = PPCA(n_components=2, method="em", tol=1e-10, random_state=0).fit(sp.csr_matrix(X))
    assert sparse.n_iter_ == dense.n_iter_
    assert relative(sparse.components_, dense.components_) < 1e-8
    np.testing.assert_allclose(sparse.log_likelihood_curve_, dense.log_likelihood_curve_, rtol=1e-10)


def test_a_stored_nan_is_missing_for_em():
    # Stored NaN are missing values, implicit zeros observed zeros: the fit
    # and the posteriors of the dense array with those NaN.
    X = sparse_low_rank(700, 25, 2, keep=0.4, seed=2)
    rng = np.random.default_rng(3)
    stored = np.flatnonzero(X)
    X.flat[rng.choice(stored, size=len(stored) // 5, replace=False)] = np.nan
    X[5, :] = np.nan  # a row with nothing observed
    Xs = sp.csr_matrix(X)  # NaN are stored entries
    assert np.isnan(Xs.data).sum() == np.isnan(X).sum()
    dense = PPCA(n_components=2, method="em", tol=0, max_iter=40, random_state=0).fit(X)
    sparse = PPCA(n_components=2, method="em", tol=0, max_iter=40, random_state=0).fit(Xs)
    np.testing.assert_allclose(sparse.log_likelihood_curve_, dense.log_likelihood_curve_, rtol=1e-11)
    assert relative(sparse.components_, dense.components_) < 1e-9
    np.testing.assert_allclose(dense.transform(Xs), dense.transform(X), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dense.score_samples(Xs), dense.score_samples(X), rtol=1e-12)
    mean, std = dense.encode(Xs)
    np.testing.assert_array_equal(mean, dense.transform(Xs))
    np.testing.assert_allclose(std, dense.encode(X)[1], rtol=1e-12)
    assert dense.score_samples(Xs)[5] == 0  # log p of nothing observed
    with pytest.raises(ValueError, match="NaN"):
        PPCA(n_components=2).fit(np.nan_to_num(X)).transform(Xs)  # a closed-form model
    all_missing = sp.csr_matrix(np.where(np.arange(25) == 3, np.nan, X))  # a feature observed nowhere
    with pytest.raises(ValueError, match="feature 3 has no observed value"):
        PPCA(n_components=2, method="em").fit(all_missing)


def test_float32_and_the_score_of_a_point_on_the_subspace():
    X = sparse_low_rank(300, 20, 2, keep=0.4).astype(np.float32)
    dense = PPCA(n_components=2).fit(X)
    sparse = PPCA(n_components=2).fit(sp.csr_matrix(X))
    assert sparse.components_.dtype == np.float32
    assert relative(sparse.get_covariance(), dense.get_covariance()) < 1e-4
    # A row at the mean: ||c||^2 = 0 takes the exact formula (b) for the quadratic form.
    at_mean = sp.csr_matrix(dense.mean_[None, :].astype(np.float64))
    model = PPCA(n_components=2).fit(X.astype(np.float64))
    np.testing.assert_allclose(model.score_samples(at_mean), model.score_samples(at_mean.toarray()), rtol=1e-12)


def test_duplicate_and_unsorted_entries_add_up():
    # scipy keeps duplicates of a COO matrix until they are summed; CSR with
    # unsorted column indices is valid too.
    X = sparse_low_rank(200, 30, 2, keep=0.3, seed=1)
    coo = sp.coo_matrix(X)
    half = coo.data / 2
    doubled = sp.csr_matrix((np.r_[half, half], (np.r_[coo.row, coo.row], np.r_[coo.col, coo.col])), shape=X.shape)
    doubled.has_canonical_format = False
    csr = sp.csr_matrix(X)
    for r in range(csr.shape[0]):  # reverse each row's column order
        start, end = csr.indptr[r], csr.indptr[r + 1]
        csr.indices[start:end] = csr.indices[start:end][::-1].copy()
        csr.data[start:end] = csr.data[start:end][::-1].copy()
    csr.has_sorted_indices = False
    dense = PPCA(n_components=2).fit(X)
    for matrix in (doubled, csr):
        assert relative(PPCA(n_components=2).fit(matrix).get_covariance(), dense.get_covariance()) < 1e-10


def test_bad_sparse_input():
    X = sp.csr_matrix(sparse_low_rank(50, 10, 2, keep=0.5))
    bad = X.copy()
    bad.data[3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        PPCA(n_components=2).fit(bad)
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PPCA(n_components=2).fit(bad)  # a stored NaN is missing for EM only
    model = PPCA(n_components=2).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        model.transform(bad)
    with pytest.raises(ValueError, match="features"):
        model.transform(sp.csr_matrix(np.ones((3, 11))))
    with pytest.raises((TypeError, ValueError)):
        PPCA(n_components=2).fit(X.astype(np.complex128))


def test_a_large_sparse_fit_never_allocates_the_dense_size():
    # 200,000 x 20,000 at 0.1% density: 32 GB dense; peak memory must stay
    # below a tenth of that (it is about the size of X's arrays).
    script = textwrap.dedent("""
        import resource
        import numpy as np, scipy.sparse as sp
        from vaekit import PPCA
        n, D, per_row = 200_000, 20_000, 20
        rng = np.random.default_rng(0)
        # Rows with a shared low-rank part, so that the leading eigenpairs are separated.
        indices = rng.integers(0, D, size=n * per_row)
        indices[::per_row] = rng.integers(0, 5, size=n)
        X = sp.csr_matrix((rng.random(n * per_row) + 1, indices, np.arange(n + 1) * per_row), shape=(n, D))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        model = PPCA(n_components=5).fit(X)
        Z = model.transform(X[:1000])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(after - before, n * D * 8, model.explained_variance_[0])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    grown, dense_size, top = out.stdout.split()
    assert float(grown) < 0.1 * float(dense_size)
    assert float(top) > 0
