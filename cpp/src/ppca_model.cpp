// Probabilistic PCA (Tipping & Bishop 1999), the model: construction from
// parameters, fit (which dispatches to the closed form or to one of the two
// EM variants, see ppca_detail.hpp), the canonical rotation of W, covariance
// and precision.
#include "vaekit/ppca.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "parallel.hpp"
#include "ppca_detail.hpp"
#include "sparse.hpp"

namespace vaekit {

namespace {
// The explained variances of components_ (which holds W^T): the eigenvalues of
// the d x d matrix W^T W, descending, clamped at zero, plus sigma^2; with
// vectors != nullptr, the matching eigenvectors as well.
template <class T>
Vector<T> explained_spectrum(const RowMatrix<T>& components, T noise_variance, Matrix<T>* vectors = nullptr) {
  Vector<T> values;
  require(detail::leading_symmetric_eigen(Matrix<T>(components * components.transpose()), components.rows(), values,
                                          vectors),
          "PPCA: components are too large (W^T W overflows)");
  return (values.array().max(T(0)) + noise_variance).matrix();
}
}  // namespace

template <class T>
PPCA<T>::PPCA(RowMatrix<T> components, Vector<T> mean, T noise_variance)
    : components_(std::move(components)), mean_(std::move(mean)), noise_variance_(noise_variance) {
  require(components_.rows() >= 1 && components_.cols() >= 1, "PPCA: components must be a non-empty d x D matrix");
  require(mean_.size() == components_.cols(), "PPCA: mean must have D entries, as components has columns");
  require(std::isfinite(noise_variance_) && noise_variance_ > 0, "PPCA: noise_variance must be positive and finite");
  require(components_.allFinite() && mean_.allFinite(), "PPCA: parameters must be finite");
  // No rotation here: a model built from given parameters keeps them as given.
  explained_variance_ = explained_spectrum(components_, noise_variance_);
  cache_posterior();
}

template <class T>
void PPCA<T>::cache_posterior() {
  posterior_ = std::make_shared<const detail::ppca::PosteriorCache<T>>(components_, noise_variance_);
}

template <class T>
std::shared_ptr<const detail::ppca::PosteriorCache<T>> PPCA<T>::posterior_cache() const {
  require(posterior_ != nullptr, "PPCA: the model has no parameters (fit it or construct it from them)");
  return posterior_;
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
  Matrix<T> vectors;
  explained_variance_ = explained_spectrum(components_, noise_variance_, &vectors);
  Matrix<T> rotated = components_.transpose() * vectors;
  for (Index k = 0; k < rotated.cols(); ++k) {
    Index largest;
    rotated.col(k).cwiseAbs().maxCoeff(&largest);
    if (rotated(largest, k) < 0) rotated.col(k) = -rotated.col(k);
  }
  components_ = rotated.transpose();
  cache_posterior();
}

namespace {
void check_iterations(const PPCAOptions& options) {
  require(options.n_components >= 1, "PPCA.fit: n_components must be at least 1");
  require(options.max_iter >= 1, "PPCA.fit: max_iter must be at least 1");
  require(options.tol >= 0, "PPCA.fit: tol must be non-negative");
}

void check_fit_sizes(double n, Index D, const PPCAOptions& options) {
  require(n >= 1 && D >= 1, "PPCA.fit: X must have at least one sample and one feature");
  const double largest = std::min(n, static_cast<double>(D));
  require(options.n_components >= 1 && static_cast<double>(options.n_components) <= largest,
          "PPCA.fit: n_components must be between 1 and min(n_samples, n_features) = " +
              std::to_string(static_cast<long long>(largest)) + ", got " + std::to_string(options.n_components));
  check_iterations(options);
}
}  // namespace

template <class T>
PPCA<T> PPCA<T>::fit(ConstRowMatrixRef<T> X, const PPCAOptions& options) {
  namespace ppca = detail::ppca;
  const Index d = options.n_components;
  check_fit_sizes(static_cast<double>(X.rows()), X.cols(), options);
  detail::ThreadScope threads(options.n_threads);
  const bool em = options.method == PPCAMethod::EM;
  if (!em && X.rows() >= X.cols()) {
    // The closed form from the covariance: mean and covariance from one
    // pass, then (not finite) a scan says what is wrong with X.
    Matrix<T> S;
    const Vector<T> mean = ppca::mean_and_covariance<T>(X, S);
    require(mean.allFinite() || !ppca::scan_values<T>(X, /*allow_nan=*/true, "X"), ppca::kNeedsCompleteData);
    return from_fitted(ppca::fit_closed_form_covariance<T>(S, mean, d));
  }
  // One pass for the mean, which also tells whether every value is finite
  // (NaN and +-inf propagate into it); only then is X scanned again to say what is wrong.
  const Vector<T> column_mean = ppca::column_means<T>(X);
  const bool has_missing = !column_mean.allFinite() && ppca::scan_values<T>(X, /*allow_nan=*/true, "X");
  require(em || !has_missing,
          ppca::kNeedsCompleteData);

  return from_fitted(!em          ? ppca::fit_closed_form<T>(X, column_mean, d)
                     : has_missing ? ppca::fit_em_missing<T>(X, options)
                                   : ppca::fit_em_complete<T>(X, column_mean, options));
}

template <class T>
template <class Fitted>
PPCA<T> PPCA<T>::from_fitted(Fitted&& fitted) {
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
PPCA<T> PPCA<T>::fit(const CsrMatrixView<T>& X, const PPCAOptions& options) {
  namespace ppca = detail::ppca;
  check_fit_sizes(static_cast<double>(X.rows), X.cols, options);
  detail::ThreadScope threads(options.n_threads);
  const bool has_missing = check_csr(X, "X");
  require(options.method == PPCAMethod::EM || !has_missing,
          ppca::kNeedsCompleteData);
  if (has_missing) {
    return from_fitted(ppca::fit_em_missing<T>(
        ppca::MissingStatisticsOf<T>([&](const Matrix<T>& W, const Vector<T>& mean, T noise_variance) {
          return PPCAMissingStatistics<T>::of(X, W, mean, noise_variance, options.n_threads);
        }),
        options));
  }
  const PPCAMoments<T> moments = PPCAMoments<T>::of(X, /*with_scatter=*/false, options.n_threads);
  const Vector<T> mean = moments.mean.template cast<T>();
  if (options.method == PPCAMethod::ClosedForm) {
    return from_fitted(ppca::fit_closed_form_sparse<T>(X, mean, moments.sum_of_squares, options.n_components));
  }
  return from_fitted(ppca::fit_em_scatter<T>(
      moments.count, mean, moments.sum_of_squares,
      [&](const Matrix<T>& W) { return scatter_product(X, mean, W, options.n_threads); }, options));
}

template <class T>
PPCA<T> PPCA<T>::fit(const PPCAMoments<T>& moments, Index n_components, int n_threads) {
  const Index D = moments.mean.size();
  PPCAOptions options;
  options.n_components = n_components;
  check_fit_sizes(moments.count, D, options);
  require(moments.scatter.rows() == D && moments.scatter.cols() == D,
          "PPCA.fit: the moments must include the D x D scatter matrix");
  require(moments.mean.allFinite() && std::isfinite(moments.sum_of_squares),
          "PPCA.fit: the moments must be finite");
  detail::ThreadScope threads(n_threads);
  Matrix<T> S = moments.scatter;
  S.template triangularView<Eigen::Lower>() *= T(1) / static_cast<T>(moments.count);
  return from_fitted(detail::ppca::fit_closed_form_covariance<T>(S, moments.mean.template cast<T>(), n_components));
}

template <class T>
PPCA<T> PPCA<T>::fit_em(const PPCAMoments<T>& moments,
                        const std::function<Matrix<T>(const Matrix<T>& W)>& scatter_product,
                        const PPCAOptions& options) {
  check_fit_sizes(moments.count, moments.mean.size(), options);
  require(moments.mean.allFinite() && std::isfinite(moments.sum_of_squares) && moments.sum_of_squares >= 0,
          "PPCA.fit_em: the moments must be finite");
  require(static_cast<bool>(scatter_product), "PPCA.fit_em: scatter_product is empty");
  detail::ThreadScope threads(options.n_threads);
  return from_fitted(detail::ppca::fit_em_scatter<T>(moments.count, moments.mean.template cast<T>(),
                                                     moments.sum_of_squares, scatter_product, options));
}

template <class T>
PPCA<T> PPCA<T>::fit_em(const std::function<PPCAMissingStatistics<T>(const Matrix<T>& W, const Vector<T>& mean,
                                                                     T noise_variance)>& statistics,
                        const PPCAOptions& options) {
  require(static_cast<bool>(statistics), "PPCA.fit_em: statistics is empty");
  check_iterations(options);  // the sizes come with the first statistics
  detail::ThreadScope threads(options.n_threads);
  return from_fitted(detail::ppca::fit_em_missing<T>(statistics, options));
}

template <class T>
Matrix<T> PPCA<T>::scatter_product(ConstRowMatrixRef<T> X, const Vector<T>& mean, const Matrix<T>& W,
                                   int n_threads) {
  require(mean.size() == X.cols() && W.rows() == X.cols(),
          "PPCA.scatter_product: mean and W must have X's " + std::to_string(X.cols()) + " features");
  require(all_finite<T>(X), "X contains NaN or infinity");
  detail::ThreadScope threads(n_threads);
  // sum_b C_b^T (C_b W) over blocks of centred rows C_b.
  const Index n = X.rows(), D = X.cols(), d = W.cols();
  const Index block_rows = detail::ppca::reduction_block_rows<T>(n, D);
  const int blocks = static_cast<int>((n + block_rows - 1) / block_rows);
  const int team = detail::worth_parallel(detail::Work::of_flops(4.0 * n * D * d)) ? detail::max_threads() : 1;
  std::vector<Matrix<T>> partial(team, Matrix<T>::Zero(D, d));
#pragma omp parallel num_threads(team) if(team > 1)
  {
    RowMatrix<T> centred(std::min(block_rows, n), D);
    Matrix<T> projected(std::min(block_rows, n), d);
    Matrix<T>& sum = partial[detail::thread_id()];
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const Index start = static_cast<Index>(b) * block_rows;
      const Index rows = std::min(block_rows, n - start);
      centred.topRows(rows) = X.middleRows(start, rows).rowwise() - mean.transpose();
      projected.topRows(rows).noalias() = centred.topRows(rows) * W;
      sum.noalias() += centred.topRows(rows).transpose() * projected.topRows(rows);
    }
  }
  for (int t = 1; t < team; ++t) partial[0] += partial[t];
  return partial[0];
}

template <class T>
Matrix<T> PPCA<T>::scatter_product(const CsrMatrixView<T>& X, const Vector<T>& mean, const Matrix<T>& W,
                                   int n_threads) {
  require(mean.size() == X.cols && W.rows() == X.cols,
          "PPCA.scatter_product: mean and W must have X's " + std::to_string(X.cols) + " features");
  require(!check_csr(X, "X"), detail::ppca::kNeedsCompleteData);
  detail::ThreadScope threads(n_threads);
  // sum (x - mu)(x - mu)^T W = X^T (X W) - s (mu^T W) - mu (s^T W) + n mu (mu^T W), s = X^T 1.
  const Index n = X.rows;
  const RowMatrix<T> W_rows = W;
  Matrix<T> Y = detail::csr_gram_times(X, W_rows.data(), W.cols());
  const Vector<T> ones = Vector<T>::Ones(n);
  const RowMatrix<T> column_sums = detail::csr_transpose_times(X, ones.data(), 1);  // D x 1
  const Eigen::Matrix<T, 1, Eigen::Dynamic> mean_W = mean.transpose() * W;
  const Eigen::Matrix<T, 1, Eigen::Dynamic> sum_W = column_sums.col(0).transpose() * W;  // s^T W
  Y.noalias() -= column_sums.col(0) * mean_W;
  Y.noalias() -= mean * sum_W;
  Y.noalias() += static_cast<T>(n) * mean * mean_W;
  return Y;
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
