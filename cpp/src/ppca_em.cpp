// PPCA by EM on complete data (Tipping & Bishop 1999, section 4.2 and
// appendix B), O(n D d) per iteration: one pass over X per iteration with two
// products per block of rows, no centred copy of X, no D x D matrix. mu is the
// sample mean (its ML value) throughout.
#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <vector>

#include "numeric.hpp"
#include "parallel.hpp"
#include "ppca_detail.hpp"

namespace vaekit::detail::ppca {
namespace {

// Rows per block of the E-step: the centred block (128 x 784 doubles, 0.8 MB)
// stays in L2 between its two products (measured: 256 rows, 12% slower).
constexpr Index kEStepRows = 128;

// sum_n ||x_n - mu||^2, in double.
template <class T>
double centred_sum_of_squares(ConstRowMatrixRef<T> X, const Vector<T>& mean) {
  const Index n = X.rows(), D = X.cols();
  double sum_sq = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum_sq) \
    if(worth_parallel(Work::of_values(static_cast<double>(n) * D)))
  for (int i = 0; i < static_cast<int>(n); ++i)
    sum_sq += (X.row(i).transpose() - mean).template cast<double>().squaredNorm();
  return sum_sq;
}

// The posterior covariance's factor shared by every row (eq. 25):
// M = W^T W + sigma^2 I, its inverse and log det M.
template <class T>
struct PosteriorFactor {
  Matrix<T> M_inverse;
  double log_det_M = 0;
};

template <class T>
void factor_posterior(const Matrix<T>& W, T noise_variance, PosteriorFactor<T>& factor) {
  const Index d = W.cols();
  Matrix<T> M = W.transpose() * W;
  M.diagonal().array() += noise_variance;
  Eigen::LLT<Matrix<T>> llt(M);
  factor.M_inverse = llt.solve(Matrix<T>::Identity(d, d));
  factor.log_det_M = cholesky_log_determinant(llt);
}

// What the E-step gathers from X (eqs. 25-26), with A_n = W^T (x_n - mu) and
// <z_n> = M^-1 A_n:
template <class T>
struct EStepSums {
  Matrix<T> AtA;     // sum_n A_n A_n^T, d x d
  Matrix<T> B;       // sum_n (x_n - mu) <z_n>^T, D x d
  Matrix<T> sum_zz;  // sum_n <z_n z_n^T>, d x d (eq. 26)
};

// One pass over X: AtA and B. Each block of centred rows C_b stays in cache
// for A_b = C_b W, <z>_b = A_b M^-1 (eq. 25) and the M-step's C_b^T <z>_b,
// where separate products would read X twice.
template <class T>
void accumulate_posterior_products(ConstRowMatrixRef<T> X, const Vector<T>& mean, const Matrix<T>& W,
                                   const Matrix<T>& M_inverse, Matrix<T>& AtA, Matrix<T>& B) {
  const Index n = X.rows(), D = X.cols(), d = W.cols();
  const int blocks = static_cast<int>((n + kEStepRows - 1) / kEStepRows);
  AtA.setZero();
  B.setZero();
  // Work: the products A = C W and B^T += <z>^T C (2 n D d flops each),
  // <z> = M^-1 A^T and A^T A (2 n d^2 each), and the centring pass over X.
  const double nd = static_cast<double>(n) * d;
  const Work work{4.0 * nd * D + 4.0 * nd * d, static_cast<double>(n) * D};
  const int threads = worth_parallel(work) ? detail::max_threads() : 1;
  // The two products with a block go through the register-blocked kernel
  // of the inference pass: A = C W (PaddedProduct), and B^T += <z>^T C
  // with C's rows as the kernel's "weights".
  const PaddedProduct<T> product(W);
  std::vector<Matrix<T>> partial_AtA(threads, Matrix<T>::Zero(d, d));
  std::vector<RowMatrix<T>> partial_Bt(threads, RowMatrix<T>::Zero(d, D));
#pragma omp parallel num_threads(threads)
  {
    const int t = detail::thread_id();
    const auto centre = detail::kernels<T>().centre;
    RowMatrix<T> centred(kEStepRows, D), projected(kEStepRows, product.padded_cols()), posterior_t(d, kEStepRows);
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const Index start = static_cast<Index>(b) * kEStepRows;
      const Index rows = std::min(kEStepRows, n - start);
      auto C = centred.topRows(rows);
      for (Index r = 0; r < rows; ++r) centre(X.row(start + r).data(), mean.data(), D, C.row(r).data(), nullptr);
      product.run(C.data(), rows, projected.data());
      auto A = projected.topLeftCorner(rows, d);
      // <z>^T = M^-1 A^T (M^-1 is symmetric), d x rows, row-major.
      gemm(M_inverse, A.transpose(), posterior_t.leftCols(rows));
      gemm(A.transpose(), A, partial_AtA[t], T(1), T(1));
      detail::kernels<T>().affine(posterior_t.data(), d, kEStepRows, C.data(), nullptr, rows, D,
                                  partial_Bt[t].data(), 0, D);
    }
  }
  for (int t = 0; t < threads; ++t) {  // in thread order: the same bits for a given thread count
    AtA += partial_AtA[t];
    B += partial_Bt[t].transpose();
  }
}

// Mean log-likelihood per sample (eq. 4) of the parameters the E-step used,
// with C^-1 by Woodbury and |C| by the determinant lemma:
//   -1/2 [D log 2 pi + (D - d) log s2 + log|M| + (sum ||x - mu||^2 - tr(M^-1 A^T A)) / (n s2)].
template <class T>
double mean_log_likelihood(Index n, Index D, double sum_sq, T noise_variance, const PosteriorFactor<T>& factor,
                           const Matrix<T>& AtA) {
  const Index d = AtA.rows();
  const double trace_term = (factor.M_inverse.cwiseProduct(AtA)).template cast<double>().sum();
  const double s2 = noise_variance;
  return -0.5 * (D * kLog2Pi + (D - d) * std::log(s2) + factor.log_det_M) - 0.5 * (sum_sq - trace_term) / (s2 * n);
}

// E-step (eqs. 25-26): AtA, B and
//   sum <z z^T> = n s2 M^-1 + sum <z><z>^T = n s2 M^-1 + M^-1 A^T A M^-1.
// Returns the mean log-likelihood of the parameters (W, mean, noise_variance).
template <class T>
double e_step(ConstRowMatrixRef<T> X, const Vector<T>& mean, const Matrix<T>& W, T noise_variance, double sum_sq,
              const PPCAOptions& options, PosteriorFactor<T>& factor, EStepSums<T>& sums) {
  const Index n = X.rows();
  factor_posterior<T>(W, noise_variance, factor);
  accumulate_posterior_products<T>(X, mean, W, factor.M_inverse, sums.AtA, sums.B);
  poll(options);
  const double log_likelihood = mean_log_likelihood<T>(n, X.cols(), sum_sq, noise_variance, factor, sums.AtA);
  sums.sum_zz.noalias() = factor.M_inverse * sums.AtA * factor.M_inverse;
  sums.sum_zz += static_cast<T>(n) * noise_variance * factor.M_inverse;
  return log_likelihood;
}

// M-step (eqs. 27-28): W = [sum (x - mu) <z>^T][sum <z z^T>]^-1 = B [sum <z z^T>]^-1,
// s2 = (sum ||x - mu||^2 - tr(W_new^T B)) / (n D), at least `floor`.
template <class T>
void m_step(const EStepSums<T>& sums, double sum_sq, Index n, T floor, Matrix<T>& W, T& noise_variance) {
  const Index D = W.rows();
  W = sums.sum_zz.llt().solve(sums.B.transpose()).transpose();
  const double explained = (W.cwiseProduct(sums.B)).template cast<double>().sum();
  noise_variance = std::max(static_cast<T>((sum_sq - explained) / (static_cast<double>(n) * D)), floor);
}

}  // namespace

template <class T>
FittedParameters<T> fit_em_complete(ConstRowMatrixRef<T> X, const Vector<T>& mean, const PPCAOptions& options) {
  const Index n = X.rows(), D = X.cols(), d = options.n_components;
  FittedParameters<T> fit;
  fit.mean = mean;
  const double sum_sq = centred_sum_of_squares<T>(X, fit.mean);
  const double average_variance = sum_sq / (static_cast<double>(n) * D);
  const T floor = noise_floor<T>(average_variance * D);

  Matrix<T> W = random_init<T>(D, d, std::sqrt(std::max(average_variance, 1e-300)), options.seed);
  fit.noise_variance = std::max(static_cast<T>(average_variance), floor);

  PosteriorFactor<T> factor;
  factor.M_inverse.resize(d, d);
  EStepSums<T> sums{Matrix<T>(d, d), Matrix<T>(D, d), Matrix<T>(d, d)};
  run_em<T>(
      options,
      [&] { return e_step<T>(X, fit.mean, W, fit.noise_variance, sum_sq, options, factor, sums); },
      [&] { m_step<T>(sums, sum_sq, n, floor, W, fit.noise_variance); },
      W, fit.mean, fit.noise_variance, fit.n_iter, fit.log_likelihood_curve);
  fit.components = W.transpose();
  return fit;
}

// The same EM with the E-step's data pass behind a callback: Y = sum_n c_n
// c_n^T W (c_n = x_n - mu) gives A^T A = W^T Y and B = sum_n c_n <z_n>^T = Y M^-1.
template <class T>
FittedParameters<T> fit_em_scatter(double n, const Vector<T>& mean, double sum_of_squares,
                                   const std::function<Matrix<T>(const Matrix<T>&)>& scatter_product,
                                   const PPCAOptions& options) {
  const Index D = mean.size(), d = options.n_components;
  FittedParameters<T> fit;
  fit.mean = mean;
  const double average_variance = sum_of_squares / (n * D);
  const T floor = noise_floor<T>(average_variance * D);
  Matrix<T> W = random_init<T>(D, d, std::sqrt(std::max(average_variance, 1e-300)), options.seed);
  fit.noise_variance = std::max(static_cast<T>(average_variance), floor);
  PosteriorFactor<T> factor;
  EStepSums<T> sums{Matrix<T>(d, d), Matrix<T>(D, d), Matrix<T>(d, d)};
  const auto e_step = [&] {
    factor_posterior<T>(W, fit.noise_variance, factor);
    const Matrix<T> Y = scatter_product(W);
    require(Y.rows() == D && Y.cols() == d, "PPCA.fit_em: scatter_product must return a D x d matrix");
    poll(options);
    sums.AtA.noalias() = W.transpose() * Y;
    sums.B.noalias() = Y * factor.M_inverse;
    const Index rows = static_cast<Index>(std::llround(n));
    const double log_likelihood =
        mean_log_likelihood<T>(rows, D, sum_of_squares, fit.noise_variance, factor, sums.AtA);
    sums.sum_zz.noalias() = factor.M_inverse * sums.AtA * factor.M_inverse;
    sums.sum_zz += static_cast<T>(n) * fit.noise_variance * factor.M_inverse;
    return log_likelihood;
  };
  run_em<T>(
      options, e_step,
      [&] { m_step<T>(sums, sum_of_squares, static_cast<Index>(std::llround(n)), floor, W, fit.noise_variance); },
      W, fit.mean, fit.noise_variance, fit.n_iter, fit.log_likelihood_curve);
  fit.components = W.transpose();
  return fit;
}

#define VAEKIT_PPCA_EM(T)                                                                                       \
  template FittedParameters<T> fit_em_complete<T>(ConstRowMatrixRef<T>, const Vector<T>&, const PPCAOptions&); \
  template FittedParameters<T> fit_em_scatter<T>(double, const Vector<T>&, double,                            \
                                                 const std::function<Matrix<T>(const Matrix<T>&)>&,          \
                                                 const PPCAOptions&);
VAEKIT_PPCA_EM(float)
VAEKIT_PPCA_EM(double)
#undef VAEKIT_PPCA_EM

}  // namespace vaekit::detail::ppca
