// PPCA's closed-form maximum likelihood (Tipping & Bishop 1999, eqs. 7-8),
// and the scans of the input that every fit starts with.
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "parallel.hpp"
#include "ppca_detail.hpp"
#include "vaekit/random.hpp"

namespace vaekit::detail::ppca {

template <class T>
bool scan_values(ConstRowMatrixRef<T> X, bool allow_nan, const char* what) {
  const Index n = X.rows();
  int saw_nan = 0, saw_inf = 0;
#pragma omp parallel for schedule(static) reduction(| : saw_nan, saw_inf) \
    if(worth_parallel(Work::of_values(static_cast<double>(n) * X.cols())))
  for (int i = 0; i < static_cast<int>(n); ++i) {
    const T* row = X.row(i).data();  // rows are contiguous in a RowMatrix Ref
    for (Index j = 0; j < X.cols(); ++j) {
      if (std::isnan(row[j])) saw_nan = 1;
      else if (std::isinf(row[j])) saw_inf = 1;
    }
  }
  require(!saw_inf, std::string(what) + " contains infinity");
  require(allow_nan || !saw_nan, std::string(what) + " contains NaN");
  return saw_nan;
}

template <class T>
Vector<T> column_means(ConstRowMatrixRef<T> X) {
  const Index n = X.rows(), D = X.cols();
  Eigen::VectorXd total = Eigen::VectorXd::Zero(D);
#pragma omp parallel if(worth_parallel(Work::of_values(static_cast<double>(n) * D)))
  {
    Eigen::VectorXd local = Eigen::VectorXd::Zero(D);
#pragma omp for schedule(static)
    for (int i = 0; i < static_cast<int>(n); ++i) local += X.row(i).transpose().template cast<double>();
#pragma omp critical(vaekit_column_means)
    total += local;
  }
  return (total / static_cast<double>(n)).template cast<T>();
}

namespace {

// Sample covariance S = 1/n sum (x - mu)(x - mu)^T (lower triangle filled),
// centred block by block so that no copy of X is made and no cancellation
// from a large mean creeps in; each thread accumulates a symmetric rank-k
// update (half the flops of a general product).
template <class T>
Matrix<T> covariance_of(ConstRowMatrixRef<T> X, const Vector<T>& mean) {
  const Index n = X.rows(), D = X.cols();
  Matrix<T> total = Matrix<T>::Zero(D, D);
  const int blocks = static_cast<int>(block_count(n));
  // Work: the rank-k updates, n D (D + 1) flops (one triangle of 2 n D^2),
  // and the centring pass over X.
  const Work work{static_cast<double>(n) * D * (D + 1), static_cast<double>(n) * D};
#pragma omp parallel if(worth_parallel(work))
  {
    Matrix<T> local = Matrix<T>::Zero(D, D);
    RowMatrix<T> centred(kBlockRows, D);
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const Index start = static_cast<Index>(b) * kBlockRows;
      const Index rows = std::min(kBlockRows, n - start);
      centred.topRows(rows) = X.middleRows(start, rows).rowwise() - mean.transpose();
      local.template selfadjointView<Eigen::Lower>().rankUpdate(centred.topRows(rows).transpose());
    }
#pragma omp critical(vaekit_covariance)
    total.template triangularView<Eigen::Lower>() += local;
  }
  total.template triangularView<Eigen::Lower>() *= T(1) / static_cast<T>(n);
  return total;
}

// The d leading eigenpairs of a symmetric positive semi-definite matrix S
// (lower triangle given; the upper is filled here), eigenvalues descending.
// Subspace iteration with Rayleigh-Ritz on a block of k > d vectors: each step
// costs one D x D x k product, where a full eigendecomposition costs about
// 10 D^3 flops of mostly matrix-vector work (20 s at D = 3000). It stops when
// every wanted Ritz pair has a residual ||S q - theta q|| below tol * theta_1,
// which bounds the eigenvalue error by residual^2 / gap; a matrix whose
// spectrum gives no gap in time falls back to the full solver, so the result
// is always the exact decomposition to working precision.
template <class T>
void leading_eigenpairs(Matrix<T>& S, Index d, Vector<T>& values, Matrix<T>& vectors) {
  const Index D = S.rows();
  S.template triangularView<Eigen::StrictlyUpper>() = S.transpose();
  const Index k = std::min(D, std::max<Index>(2 * d, d + 20));
  values.resize(d);
  vectors.resize(D, d);
  auto full_solver = [&] {
    Eigen::SelfAdjointEigenSolver<Matrix<T>> eigen(S);
    for (Index i = 0; i < d; ++i) {
      values(i) = eigen.eigenvalues()(D - 1 - i);
      vectors.col(i) = eigen.eigenvectors().col(D - 1 - i);
    }
  };
  if (2 * k >= D || D <= 64) {
    full_solver();
    return;
  }
  const double tol = std::pow(static_cast<double>(std::numeric_limits<T>::epsilon()), 2.0 / 3.0);
  const int max_iter = static_cast<int>(std::max<Index>(50, 2 * D / k));
  Matrix<T> Q(D, k), Y(D, k), ritz(k, k);
  {
    Philox rng(0x5eed5eedull, 1);
    for (Index j = 0; j < k; ++j)
      for (Index i = 0; i < D; ++i) Q(i, j) = static_cast<T>(rng.normal());
  }
  Eigen::HouseholderQR<Matrix<T>> qr(D, k);
  qr.compute(Q);
  Q = qr.householderQ() * Matrix<T>::Identity(D, k);
  Eigen::SelfAdjointEigenSolver<Matrix<T>> small(k);
  Vector<T> theta(k);
  for (int iteration = 0; iteration < max_iter; ++iteration) {
    detail::parallel_product(Y, S, Q);
    ritz.noalias() = Q.transpose() * Y;
    small.compute(ritz);
    // Ritz vectors in descending order of Ritz value: Q <- Q V, Y <- Y V = S Q V.
    const Matrix<T> V = small.eigenvectors().rowwise().reverse();
    theta = small.eigenvalues().reverse();
    Q = Q * V;
    Y = Y * V;
    const double scale = std::max(static_cast<double>(std::abs(theta(0))), std::numeric_limits<double>::min());
    bool converged = true;
    for (Index i = 0; i < d && converged; ++i) {
      converged = (Y.col(i) - theta(i) * Q.col(i)).norm() <= tol * scale;
    }
    if (converged) {
      values = theta.head(d);
      vectors = Q.leftCols(d);
      return;
    }
    qr.compute(Y);
    Q = qr.householderQ() * Matrix<T>::Identity(D, k);
  }
  full_solver();
}

// The d leading eigenpairs of the sample covariance (n >= D): an
// eigendecomposition of the D x D covariance, O(n D^2 + D^3). Returns the
// covariance's trace (the sum of all its eigenvalues).
template <class T>
double covariance_eigenpairs(ConstRowMatrixRef<T> X, const Vector<T>& mean, Index d, Vector<T>& top_values,
                             Matrix<T>& top_vectors) {
  Matrix<T> S = covariance_of<T>(X, mean);
  const double trace = S.diagonal().template cast<double>().sum();
  leading_eigenpairs<T>(S, d, top_values, top_vectors);
  top_values = top_values.cwiseMax(T(0));
  return trace;
}

// The same for n < D: the thin SVD Xc = U S V^T of the centred data through
// the eigendecomposition of the n x n Gram matrix Xc Xc^T = U S^2 U^T,
// O(n^2 D); the right singular vectors follow as V = Xc^T U S^-1. Only the d
// leading pairs are used and the discarded eigenvalues enter through the
// trace, so nothing is lost to the squared condition number. (Eigen's own
// SVDs would also triple the compile time of this file.)
template <class T>
double gram_eigenpairs(ConstRowMatrixRef<T> X, const Vector<T>& mean, Index d, Vector<T>& top_values,
                       Matrix<T>& top_vectors) {
  const Index n = X.rows();
  const RowMatrix<T> centred = X.rowwise() - mean.transpose();
  Matrix<T> gram = Matrix<T>::Zero(n, n);
  gram.template selfadjointView<Eigen::Lower>().rankUpdate(centred);
  gram.template triangularView<Eigen::Lower>() *= T(1) / static_cast<T>(n);
  const double trace = gram.diagonal().template cast<double>().sum();
  Vector<T> gram_values;
  Matrix<T> gram_vectors;
  const Index d_gram = std::min(d, n);  // at most n non-zero eigenvalues
  leading_eigenpairs<T>(gram, d_gram, gram_values, gram_vectors);
  const T tiny = std::numeric_limits<T>::epsilon() * std::max(gram_values(0), T(0));
  for (Index k = 0; k < d; ++k) {
    const T value = k < d_gram ? std::max(gram_values(k), T(0)) : T(0);
    top_values(k) = value;
    if (value > tiny) {
      // v_k = Xc^T u_k / s_k with s_k = sqrt(n l_k).
      top_vectors.col(k) = centred.transpose() * gram_vectors.col(k);
      top_vectors.col(k) /= std::sqrt(value * static_cast<T>(n));
    } else {
      top_vectors.col(k).setZero();  // no variance left: W's column is zero
    }
  }
  return trace;
}

// W = U_d (L_d - sigma^2 I)^{1/2} (eq. 7 with R = I), stored transposed.
template <class T>
RowMatrix<T> components_from_eigen(const Matrix<T>& eigenvectors_d, const Vector<T>& eigenvalues_d,
                                   T noise_variance) {
  RowMatrix<T> components = eigenvectors_d.transpose();
  for (Index k = 0; k < components.rows(); ++k) {
    components.row(k) *= std::sqrt(std::max(eigenvalues_d(k) - noise_variance, T(0)));
  }
  return components;
}

}  // namespace

template <class T>
FittedParameters<T> fit_closed_form(ConstRowMatrixRef<T> X, const Vector<T>& mean, Index d) {
  const Index n = X.rows(), D = X.cols();
  Vector<T> top_values(d);
  Matrix<T> top_vectors(D, d);
  const double trace = n >= D ? covariance_eigenpairs<T>(X, mean, d, top_values, top_vectors)
                              : gram_eigenpairs<T>(X, mean, d, top_values, top_vectors);
  FittedParameters<T> fit;
  fit.mean = mean;
  // sigma^2 = mean of the D - d discarded eigenvalues (eq. 8).
  const double retained = top_values.template cast<double>().sum();
  const double discarded = D > d ? std::max(trace - retained, 0.0) / static_cast<double>(D - d) : 0.0;
  fit.noise_variance = std::max(static_cast<T>(discarded), noise_floor<T>(top_values(0)));
  fit.components = components_from_eigen<T>(top_vectors, top_values, fit.noise_variance);
  fit.n_iter = 1;
  return fit;
}

#define VAEKIT_PPCA_CLOSED_FORM(T)                                                    \
  template bool scan_values<T>(ConstRowMatrixRef<T>, bool, const char*);             \
  template Vector<T> column_means<T>(ConstRowMatrixRef<T>);                          \
  template FittedParameters<T> fit_closed_form<T>(ConstRowMatrixRef<T>, const Vector<T>&, Index);
VAEKIT_PPCA_CLOSED_FORM(float)
VAEKIT_PPCA_CLOSED_FORM(double)
#undef VAEKIT_PPCA_CLOSED_FORM

}  // namespace vaekit::detail::ppca
