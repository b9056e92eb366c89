// Probabilistic PCA (Tipping & Bishop 1999), the model: construction from
// parameters, fit (which dispatches to the closed form or to one of the two
// EM variants, see ppca_detail.hpp), the canonical rotation of W, covariance
// and precision.
#include "vaekit/ppca.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <string>

#include "parallel.hpp"
#include "ppca_detail.hpp"

namespace vaekit {

template <class T>
PPCA<T>::PPCA(RowMatrix<T> components, Vector<T> mean, T noise_variance)
    : components_(std::move(components)), mean_(std::move(mean)), noise_variance_(noise_variance) {
  require(components_.rows() >= 1 && components_.cols() >= 1, "PPCA: components must be a non-empty d x D matrix");
  require(mean_.size() == components_.cols(), "PPCA: mean must have D entries, as components has columns");
  require(std::isfinite(noise_variance_) && noise_variance_ > 0, "PPCA: noise_variance must be positive and finite");
  require(components_.allFinite() && mean_.allFinite(), "PPCA: parameters must be finite");
  // No rotation here: a model built from given parameters keeps them as given.
  Eigen::SelfAdjointEigenSolver<Matrix<T>> eigen(components_ * components_.transpose(), Eigen::EigenvaluesOnly);
  explained_variance_ = (eigen.eigenvalues().reverse().array().max(T(0)) + noise_variance_).matrix();
}

template <class T>
PPCA<T> PPCA<T>::restore(RowMatrix<T> components, Vector<T> mean, T noise_variance, Vector<T> explained_variance,
                         int n_iter, std::vector<double> log_likelihood_curve) {
  PPCA model(std::move(components), std::move(mean), noise_variance);
  require(explained_variance.size() == model.n_components() && explained_variance.allFinite() &&
              (explained_variance.array() > T(0)).all(),
          "PPCA: explained_variance must hold n_components positive finite values");
  require(n_iter >= 0, "PPCA: n_iter must be non-negative");
  model.explained_variance_ = std::move(explained_variance);
  model.n_iter_ = n_iter;
  model.log_likelihood_curve_ = std::move(log_likelihood_curve);
  return model;
}

template <class T>
void PPCA<T>::finalize() {
  // Rotate W to orthogonal columns sorted by length: W = U S V^T  ->  W V = U S,
  // from the eigendecomposition of the d x d matrix W^T W. The column signs are
  // fixed so that each column's largest-magnitude entry is positive.
  const Matrix<T> W = components_.transpose();
  Eigen::SelfAdjointEigenSolver<Matrix<T>> eigen(W.transpose() * W);
  const Index d = W.cols();
  Matrix<T> rotated(W.rows(), d);
  explained_variance_.resize(d);
  for (Index k = 0; k < d; ++k) {
    const Index source = d - 1 - k;  // eigenvalues ascend
    rotated.col(k) = W * eigen.eigenvectors().col(source);
    Index largest;
    rotated.col(k).cwiseAbs().maxCoeff(&largest);
    if (rotated(largest, k) < 0) rotated.col(k) = -rotated.col(k);
    explained_variance_(k) = std::max(eigen.eigenvalues()(source), T(0)) + noise_variance_;
  }
  components_ = rotated.transpose();
}

template <class T>
PPCA<T> PPCA<T>::fit(ConstRowMatrixRef<T> X, const PPCAOptions& options) {
  namespace ppca = detail::ppca;
  const Index n = X.rows(), D = X.cols(), d = options.n_components;
  require(n >= 1 && D >= 1, "PPCA.fit: X must have at least one sample and one feature");
  require(d >= 1 && d <= std::min(n, D), "PPCA.fit: n_components must be between 1 and min(n_samples, n_features) = " +
                                             std::to_string(std::min(n, D)) + ", got " + std::to_string(d));
  require(options.max_iter >= 1, "PPCA.fit: max_iter must be at least 1");
  require(options.tol >= 0, "PPCA.fit: tol must be non-negative");
  detail::ThreadScope threads(options.n_threads);
  const bool em = options.method == PPCAMethod::EM;
  // One pass for the mean, which also tells whether every value is finite
  // (NaN and +-inf propagate into it); only then is X scanned again to say what is wrong.
  const Vector<T> column_mean = ppca::column_means<T>(X);
  const bool has_missing = !column_mean.allFinite() && ppca::scan_values<T>(X, /*allow_nan=*/true, "X");
  require(em || !has_missing,
          "X contains NaN: closed-form PPCA needs complete data; use method=\"em\" for missing values");

  ppca::FittedParameters<T> fitted = !em          ? ppca::fit_closed_form<T>(X, column_mean, d)
                                     : has_missing ? ppca::fit_em_missing<T>(X, options)
                                                   : ppca::fit_em_complete<T>(X, column_mean, options);
  // Squares of values near the top of the precision's range overflow in the
  // covariance: say so rather than return a model of infinities.
  require(fitted.components.allFinite() && fitted.mean.allFinite() && std::isfinite(fitted.noise_variance),
          "PPCA.fit: the model overflowed: X's values are too large for this floating-point precision; scale X "
          "(or use float64)");
  PPCA model;
  model.components_ = std::move(fitted.components);
  model.mean_ = std::move(fitted.mean);
  model.noise_variance_ = fitted.noise_variance;
  model.n_iter_ = fitted.n_iter;
  model.log_likelihood_curve_ = std::move(fitted.log_likelihood_curve);
  model.finalize();
  return model;
}

template <class T>
Matrix<T> PPCA<T>::covariance() const {
  Matrix<T> C = components_.transpose() * components_;
  C.diagonal().array() += noise_variance_;
  return C;
}

template <class T>
Matrix<T> PPCA<T>::precision() const {
  // C^-1 = (I - W M^-1 W^T) / s2 (Woodbury), M = W^T W + s2 I.
  Matrix<T> M = components_ * components_.transpose();
  M.diagonal().array() += noise_variance_;
  const Matrix<T> M_inv_Wt = M.llt().solve(Matrix<T>(components_));
  Matrix<T> P = -(components_.transpose() * M_inv_Wt);
  P.diagonal().array() += T(1);
  P /= noise_variance_;
  return P;
}

// The members defined here and inline; ppca_inference.cpp instantiates its own.
template class PPCA<float>;
template class PPCA<double>;

}  // namespace vaekit
