// What PPCA's translation units share (private to the library):
//   ppca_model.cpp       the model: constructor, restore, fit (a dispatcher),
//                        canonical rotation, covariance and precision
//   ppca_closed_form.cpp input scans, the covariance, subspace iteration, the
//                        closed-form maximum likelihood
//   ppca_em.cpp          EM on complete data
//   ppca_em_missing.cpp  EM with missing values (NaN)
//   ppca_inference.cpp   the posterior pass (transform, encode, score_samples),
//                        inverse_transform and sample
// Equation numbers refer to Tipping & Bishop (1999), "Probabilistic principal
// component analysis".
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include <Eigen/Cholesky>

#include "kernels.hpp"
#include "numeric.hpp"
#include "parallel.hpp"
#include "vaekit/ppca.hpp"
#include "vaekit/random.hpp"

namespace vaekit::detail::ppca {

// Rows per block in the blocked passes: a block of centred rows stays in cache
// between the two small GEMMs that use it.
constexpr Index kBlockRows = 256;

// What a NaN in the input of a complete-data computation (the closed form,
// the moments, the complete-data E-step) says.
constexpr const char* kNeedsCompleteData =
    "X contains NaN: closed-form PPCA needs complete data; use method=\"em\" for missing values";

inline Index block_count(Index n) { return (n + kBlockRows - 1) / kBlockRows; }

// Rows per block in the passes that sum Eigen products over blocks of
// centred rows (the scatter of the moments, PPCA::scatter_product): at most
// about 4 MB of rows, at least kBlockRows, and as many blocks for each
// thread, so that a static schedule ends together (45 blocks of 60,000 rows
// kept one thread waiting a block's time). Each product allocates Eigen's
// packing buffers; where glibc's dynamic mmap threshold is off
// (MALLOC_TRIM_THRESHOLD_ set, as a dask worker's nanny does) each such
// allocation is a fresh mmap whose pages fault in again, which doubled
// these passes with 256-row blocks (a rank-k update of 25,000 x 200:
// 0.053 s against 0.029 s; 0.035 s with 2,048-row blocks).
template <class T>
Index reduction_block_rows(Index n, Index D) {
  constexpr double kBytes = 4.0 * (1 << 20);
  const Index by_size =
      std::max<Index>(1, static_cast<Index>(kBytes / (static_cast<double>(std::max<Index>(D, 1)) * sizeof(T))));
  const Index threads = detail::max_threads();
  const Index per_thread = std::max<Index>(1, (n + threads * by_size - 1) / (threads * by_size));
  return std::max(kBlockRows, (n + threads * per_thread - 1) / (threads * per_thread));
}

// Smallest noise variance we allow: a tiny fraction of the largest variance in
// the data (or a tiny absolute value for constant data), so that constant,
// rank-deficient or n < D data still give a finite model.
template <class T>
T noise_floor(double largest_variance) {
  const double eps = std::numeric_limits<T>::epsilon();
  if (largest_variance > 0 && std::isfinite(largest_variance)) {
    return static_cast<T>(std::max(eps * largest_variance,
                                   static_cast<double>(std::numeric_limits<T>::min()) / eps));
  }
  return std::sqrt(std::numeric_limits<T>::min());
}

// The parameters a fit finds, before PPCA::finalize rotates W to its
// canonical form.
template <class T>
struct FittedParameters {
  RowMatrix<T> components;  // d x D, W^T
  Vector<T> mean;
  T noise_variance = T(1);
  int n_iter = 0;
  std::vector<double> log_likelihood_curve;  // EM only
};

// ------------------------------------------------ ppca_closed_form.cpp
// Scans X once: throws on +-inf (and on NaN unless allowed); tells whether any NaN was seen.
template <class T>
bool scan_values(ConstRowMatrixRef<T> X, bool allow_nan, const char* what);
// Column means of X, accumulated in double.
template <class T>
Vector<T> column_means(ConstRowMatrixRef<T> X);
// X's column means and its sample covariance S (D x D, lower triangle)
// from one pass over X (two when its rows' mean is far from that of the
// rows it samples first). Not finite when X is not (nor is S, then).
template <class T>
Vector<T> mean_and_covariance(ConstRowMatrixRef<T> X, Matrix<T>& S);
// Closed-form maximum likelihood (eqs. 7-8) of complete data X with its
// column means `mean`, for d components, when n < D (through the Gram
// matrix; n >= D: mean_and_covariance, then fit_closed_form_covariance).
template <class T>
FittedParameters<T> fit_closed_form(ConstRowMatrixRef<T> X, const Vector<T>& mean, Index d);
// The same from the covariance S (D x D, lower triangle; overwritten).
template <class T>
FittedParameters<T> fit_closed_form_covariance(Matrix<T>& S, const Vector<T>& mean, Index d);
// The same for sparse X with its column means and sum_n ||x_n - mean||^2.
template <class T>
FittedParameters<T> fit_closed_form_sparse(const CsrMatrixView<T>& X, const Vector<T>& mean, double sum_of_squares,
                                           Index d);

// ------------------------------------------------ ppca_em.cpp
// EM on complete data X with its column means `mean` (mu's ML value).
template <class T>
FittedParameters<T> fit_em_complete(ConstRowMatrixRef<T> X, const Vector<T>& mean, const PPCAOptions& options);

// EM whose E-step gets sum_n (x_n - mean)(x_n - mean)^T W from a callback
// (PPCA::fit_em): n samples, their mean and sum_n ||x_n - mean||^2.
template <class T>
FittedParameters<T> fit_em_scatter(double n, const Vector<T>& mean, double sum_of_squares,
                                   const std::function<Matrix<T>(const Matrix<T>&)>& scatter_product,
                                   const PPCAOptions& options);

// ------------------------------------------------ ppca_em_missing.cpp
// EM on X with NaN entries missing at random; mu is re-estimated.
template <class T>
FittedParameters<T> fit_em_missing(ConstRowMatrixRef<T> X, const PPCAOptions& options);
// The same with the statistics of the rows from a callback (PPCA::fit_em):
// statistics(W, mean, noise_variance); first called with an empty W.
template <class T>
using MissingStatisticsOf = std::function<PPCAMissingStatistics<T>(const Matrix<T>&, const Vector<T>&, T)>;
template <class T>
FittedParameters<T> fit_em_missing(const MissingStatisticsOf<T>& statistics, const PPCAOptions& options);

// ------------------------------------------------ both EM variants
// Thrown (outside parallel regions) by an E- or M-step that
// options.keep_going() asked to stop; run_em then restores the parameters of
// the last complete iteration.
struct EMStopped {};

inline void poll(const PPCAOptions& options) {
  if (options.keep_going && !options.keep_going()) throw EMStopped{};
}

// The EM loop shared by the complete-data and the missing-data EM:
// e_step() returns the mean log-likelihood of the current parameters (W,
// mean, noise_variance) and stores what m_step() needs; m_step() updates the
// parameters. Stops after max_iter iterations, at convergence (relative
// change of the log-likelihood at most tol), when on_iteration says so, or
// when keep_going says so (then with the last complete iteration's parameters).
template <class T, class EStep, class MStep>
void run_em(const PPCAOptions& options, EStep&& e_step, MStep&& m_step, Matrix<T>& W, Vector<T>& mean,
            T& noise_variance, int& n_iter, std::vector<double>& curve) {
  n_iter = 0;
  curve.clear();
  // The parameters whose log-likelihood is the last entry of the curve.
  Matrix<T> complete_W = W;
  Vector<T> complete_mean = mean;
  T complete_noise_variance = noise_variance;
  try {
    double previous = e_step();
    for (int iteration = 1; iteration <= options.max_iter; ++iteration) {
      m_step();
      const double current = e_step();
      curve.push_back(current);
      n_iter = iteration;
      // Only an overflow gets here (the E-step is exact): values whose squares
      // exceed the working precision's range.
      require(std::isfinite(current), "PPCA EM: the log-likelihood overflowed: X's values are too large for this "
                                      "floating-point precision; scale X (or use float64)");
      complete_W = W;  // O(D d): nothing next to the iteration's O(n D d)
      complete_mean = mean;
      complete_noise_variance = noise_variance;
      if (options.on_iteration && !options.on_iteration(iteration, current)) break;
      if (std::abs(current - previous) <= options.tol * std::abs(current)) break;
      previous = current;
    }
  } catch (const EMStopped&) {
    W = complete_W;
    mean = complete_mean;
    noise_variance = complete_noise_variance;
  }
}

// EM's initial W (D x d): independent N(0, scale^2) entries from the seed.
template <class T>
Matrix<T> random_init(Index D, Index d, double scale, std::uint64_t seed) {
  Philox rng(seed, /*stream=*/0);
  Matrix<T> W(D, d);
  for (Index j = 0; j < d; ++j)
    for (Index i = 0; i < D; ++i) W(i, j) = static_cast<T>(scale * rng.normal());
  return W;
}

// ------------------------------------------------ EM and the posterior pass
// Products C W of row-major blocks C (rows x D) with a D x d matrix W through
// the register-blocked kernel of the inference pass (kernels.hpp: affine),
// which reads C in place where Eigen's GEMM packs it first (costly for
// products d = 20 columns wide: 15-20% slower in float64, 25% in float32),
// and computes each row the same way whatever block it is in. W's columns
// are zero-padded to a multiple of the kernel's narrowest packet, so that no
// column takes its scalar path: results have padded_cols() columns, the
// first d of them C W.
template <class T>
class PaddedProduct {
 public:
  template <class Derived>
  explicit PaddedProduct(const Eigen::MatrixBase<Derived>& W) {
    const Index align = detail::kernels<T>().half_packet;
    const Index padded = (W.cols() + align - 1) / align * align;
    weights_ = RowMatrix<T>::Zero(W.rows(), padded);
    weights_.leftCols(W.cols()) = W;
    zero_ = Vector<T>::Zero(padded);
  }
  Index padded_cols() const { return weights_.cols(); }
  // out (rows x padded_cols(), row-major) = C W.
  void run(const T* C, Index rows, T* out) const {
    const Index D = weights_.rows();
    detail::kernels<T>().affine(C, rows, D, weights_.data(), zero_.data(), D, padded_cols(), out, 0, padded_cols());
  }

 private:
  RowMatrix<T> weights_;
  Vector<T> zero_;
};

// What every complete row's posterior shares (eq. 25), computed once per
// model (PPCA::posterior_cache): M = W^T W + s2 I, its inverse and log
// determinant, the posterior standard deviations sqrt(diag(s2 M^-1)), and W
// padded for the affine kernel. A one-sample transform then costs its own
// O(D d) product only.
template <class T>
struct PosteriorCache {
  PosteriorCache(const RowMatrix<T>& Wt, T s2) : product(Wt.transpose()) {
    const Index d = Wt.rows();
    Matrix<T> M(d, d);
    gemm(Wt, Wt.transpose(), M);
    M.diagonal().array() += s2;
    const Eigen::LLT<Matrix<T>> llt(M);
    M_inverse = llt.solve(Matrix<T>::Identity(d, d));
    log_det_M = cholesky_log_determinant(llt);
    complete_stddev = (s2 * M_inverse.diagonal()).cwiseSqrt();
  }
  Matrix<T> M_inverse;
  double log_det_M = 0;
  Vector<T> complete_stddev;
  PaddedProduct<T> product;  // p = W^T c for rows c
};

}  // namespace vaekit::detail::ppca
