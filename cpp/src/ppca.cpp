// Probabilistic PCA: closed-form maximum likelihood, EM (with missing values),
// posterior means and exact log-likelihoods. Equation numbers refer to
// Tipping & Bishop (1999), "Probabilistic principal component analysis".
#include "vaekit/ppca.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>

#include "affine_kernel.hpp"
#include "parallel.hpp"
#include "vaekit/random.hpp"

namespace vaekit {
namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;
// Rows per block in the blocked passes: a block of centred rows stays in cache
// between the two small GEMMs that use it.
constexpr Index kBlockRows = 256;

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

// Below about this many flops a parallel region costs more than it saves
// (thread wake-up, and much worse when the cores are busy with other work).
inline bool worth_parallel(Index flops) { return flops >= 200000; }

template <class T>
Index block_count(Index n) {
  return (n + kBlockRows - 1) / kBlockRows;
}

// Scans X once: throws on +-inf (and on NaN unless allowed); tells whether any NaN was seen.
template <class T>
bool scan_values(ConstRowMatrixRef<T> X, bool allow_nan, const char* what) {
  const Index n = X.rows();
  int saw_nan = 0, saw_inf = 0;
#pragma omp parallel for schedule(static) reduction(| : saw_nan, saw_inf) if(worth_parallel(n * X.cols()))
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

// Column means of X, accumulated in double.
template <class T>
Vector<T> column_means(ConstRowMatrixRef<T> X) {
  const Index n = X.rows(), D = X.cols();
  Eigen::VectorXd total = Eigen::VectorXd::Zero(D);
#pragma omp parallel if(worth_parallel(n * D))
  {
    Eigen::VectorXd local = Eigen::VectorXd::Zero(D);
#pragma omp for schedule(static)
    for (int i = 0; i < static_cast<int>(n); ++i) local += X.row(i).transpose().template cast<double>();
#pragma omp critical(vaekit_column_means)
    total += local;
  }
  return (total / static_cast<double>(n)).template cast<T>();
}

// Sample covariance S = 1/n sum (x - mu)(x - mu)^T (lower triangle filled),
// centred block by block so that no copy of X is made and no cancellation
// from a large mean creeps in; each thread accumulates a symmetric rank-k
// update (half the flops of a general product).
template <class T>
Matrix<T> covariance_of(ConstRowMatrixRef<T> X, const Vector<T>& mean) {
  const Index n = X.rows(), D = X.cols();
  Matrix<T> total = Matrix<T>::Zero(D, D);
  const int blocks = static_cast<int>(block_count<T>(n));
#pragma omp parallel if(worth_parallel(n * D * D / 64))
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

// ------------------------------------------------------------------ EM loop
// Thrown (outside parallel regions) by an E- or M-step that
// options.keep_going() asked to stop; run_em then restores the parameters of
// the last complete iteration.
struct EMStopped {};

inline void poll(const PPCAOptions& options) {
  if (options.keep_going && !options.keep_going()) throw EMStopped{};
}

// Shared by the complete-data and the missing-data EM: estep() returns the
// mean log-likelihood of the current parameters (W, mean, noise_variance) and
// stores what mstep() needs.
template <class T, class EStep, class MStep>
void run_em(const PPCAOptions& options, EStep&& estep, MStep&& mstep, Matrix<T>& W, Vector<T>& mean,
            T& noise_variance, int& n_iter, std::vector<double>& curve) {
  n_iter = 0;
  curve.clear();
  // The parameters whose log-likelihood is the last entry of the curve.
  Matrix<T> complete_W = W;
  Vector<T> complete_mean = mean;
  T complete_noise_variance = noise_variance;
  try {
    double previous = estep();
    for (int iteration = 1; iteration <= options.max_iter; ++iteration) {
      mstep();
      const double current = estep();
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

template <class T>
Matrix<T> random_init(Index D, Index d, double scale, std::uint64_t seed) {
  Philox rng(seed, /*stream=*/0);
  Matrix<T> W(D, d);
  for (Index j = 0; j < d; ++j)
    for (Index i = 0; i < D; ++i) W(i, j) = static_cast<T>(scale * rng.normal());
  return W;
}

// Products C W of row-major blocks C (rows x D) with a D x d matrix W through
// the register-blocked kernel of the inference pass (affine_kernel.hpp),
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
    constexpr Index kAlign = detail::AffineKernel<T>::kHalf;
    const Index padded = (W.cols() + kAlign - 1) / kAlign * kAlign;
    weights_ = RowMatrix<T>::Zero(W.rows(), padded);
    weights_.leftCols(W.cols()) = W;
    zero_ = Vector<T>::Zero(padded);
  }
  Index padded_cols() const { return weights_.cols(); }
  // out (rows x padded_cols(), row-major) = C W.
  void run(const T* C, Index rows, T* out) const {
    const Index D = weights_.rows();
    detail::AffineKernel<T>::run(C, rows, D, weights_.data(), zero_.data(), D, padded_cols(), out);
  }

 private:
  RowMatrix<T> weights_;
  Vector<T> zero_;
};

// EM on complete data, O(n D d) per iteration: two products with X, no
// centred copy of X, no D x D matrix. mu is the sample mean (its ML value).
template <class T>
void fit_em_complete(ConstRowMatrixRef<T> X, const PPCAOptions& options, Vector<T>& mean,
                     Matrix<T>& W, T& noise_variance, int& n_iter, std::vector<double>& curve) {
  const Index n = X.rows(), D = X.cols(), d = options.n_components;
  // mean: the sample mean (its ML value), computed by the caller.

  // sum_n ||x_n - mu||^2, in double.
  double sum_sq = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum_sq) if(worth_parallel(n * D))
  for (int i = 0; i < static_cast<int>(n); ++i)
    sum_sq += (X.row(i).transpose() - mean).template cast<double>().squaredNorm();
  const double average_variance = sum_sq / (static_cast<double>(n) * D);
  const T floor = noise_floor<T>(average_variance * D);

  W = random_init<T>(D, d, std::sqrt(std::max(average_variance, 1e-300)), options.seed);
  noise_variance = std::max(static_cast<T>(average_variance), floor);

  Matrix<T> M_inverse(d, d), sum_zz(d, d), AtA(d, d), B(D, d);
  const Matrix<T> identity = Matrix<T>::Identity(d, d);
  // Rows per block of the E-step: the centred block (128 x 784 doubles, 0.8 MB)
  // stays in L2 between its two products (measured: 256 rows, 12% slower).
  constexpr Index kEStepRows = 128;
  const int blocks = static_cast<int>((n + kEStepRows - 1) / kEStepRows);

  auto estep = [&]() -> double {
    Matrix<T> M = W.transpose() * W;
    M.diagonal().array() += noise_variance;
    Eigen::LLT<Matrix<T>> llt(M);
    M_inverse = llt.solve(identity);
    // One pass over X for the whole iteration: each block of centred rows C_b
    // stays in cache for A_b = C_b W, <z>_b = A_b M^-1 (eq. 25) and the
    // M-step's C_b^T <z>_b, where separate products would read X twice.
    AtA.setZero();
    B.setZero();
    const int threads = worth_parallel(n * D * d) ? detail::max_threads() : 1;
    // The two products with a block go through the register-blocked kernel
    // of the inference pass: A = C W (PaddedProduct), and B^T += <z>^T C
    // with C's rows as the kernel's "weights".
    const PaddedProduct<T> product(W);
    std::vector<Matrix<T>> partial_AtA(threads, Matrix<T>::Zero(d, d));
    std::vector<RowMatrix<T>> partial_Bt(threads, RowMatrix<T>::Zero(d, D));
#pragma omp parallel num_threads(threads)
    {
      const int t = detail::thread_id();
      RowMatrix<T> centred(kEStepRows, D), projected(kEStepRows, product.padded_cols()), posterior_t(d, kEStepRows);
#pragma omp for schedule(static)
      for (int b = 0; b < blocks; ++b) {
        const Index start = static_cast<Index>(b) * kEStepRows;
        const Index rows = std::min(kEStepRows, n - start);
        auto C = centred.topRows(rows);
        C = X.middleRows(start, rows).rowwise() - mean.transpose();
        product.run(C.data(), rows, projected.data());
        auto A = projected.topLeftCorner(rows, d);
        // <z>^T = M^-1 A^T (M^-1 is symmetric), d x rows, row-major.
        posterior_t.leftCols(rows).noalias() = M_inverse * A.transpose();
        partial_AtA[t].noalias() += A.transpose() * A;
        detail::AffineKernel<T>::run(posterior_t.data(), d, kEStepRows, C.data(), nullptr, rows, D,
                                     partial_Bt[t].data());
      }
    }
    for (int t = 0; t < threads; ++t) {  // in thread order: the same bits for a given thread count
      AtA += partial_AtA[t];
      B += partial_Bt[t].transpose();
    }
    poll(options);
    const double log_det_M = 2.0 * llt.matrixLLT().diagonal().array().template cast<double>().log().sum();
    // Mean log-likelihood (eq. 4) with C^-1 by Woodbury and |C| by the determinant lemma.
    const double trace_term = (M_inverse.cwiseProduct(AtA)).template cast<double>().sum();
    const double s2 = noise_variance;
    const double log_likelihood =
        -0.5 * (D * kLog2Pi + (D - d) * std::log(s2) + log_det_M) - 0.5 * (sum_sq - trace_term) / (s2 * n);
    // E-step (eq. 26): sum <z z^T> = n s2 M^-1 + sum <z><z>^T = n s2 M^-1 + M^-1 A^T A M^-1.
    sum_zz.noalias() = M_inverse * AtA * M_inverse;
    sum_zz += static_cast<T>(n) * noise_variance * M_inverse;
    return log_likelihood;
  };
  auto mstep = [&]() {
    // M-step (eqs. 27-28): W = [sum (x - mu) <z>^T][sum <z z^T>]^-1 = B [sum <z z^T>]^-1,
    // s2 = (sum ||x - mu||^2 - tr(W_new^T B)) / (n D).
    W = sum_zz.llt().solve(B.transpose()).transpose();
    const double explained = (W.cwiseProduct(B)).template cast<double>().sum();
    noise_variance = std::max(static_cast<T>((sum_sq - explained) / (static_cast<double>(n) * D)), floor);
  };
  run_em<T>(options, estep, mstep, W, mean, noise_variance, n_iter, curve);
}

// EM with entries missing at random (NaN). The E-step of row n uses only its
// observed coordinates O_n, with M_n = sigma^2 I + W_O^T W_O; the M-step
// solves, for each feature i, the weighted least-squares problem for (w_i, mu_i)
// over the rows where i is observed. Each iteration maximises the expected
// complete-data log-likelihood exactly, so the observed-data log-likelihood
// never decreases.
template <class T>
void fit_em_missing(ConstRowMatrixRef<T> X, const PPCAOptions& options, Vector<T>& mean,
                    Matrix<T>& W, T& noise_variance, int& n_iter, std::vector<double>& curve) {
  const Index n = X.rows(), D = X.cols(), d = options.n_components;

  // Observed values with zeros for the missing ones, and the missing columns of each row.
  RowMatrix<T> filled(n, D);
  std::vector<Index> missing_start(n + 1, 0);
  std::vector<Index> missing_columns;
  std::vector<Index> observed_count(D, 0);
  Eigen::VectorXd sum_x = Eigen::VectorXd::Zero(D), sum_xx = Eigen::VectorXd::Zero(D);
  for (Index r = 0; r < n; ++r) {
    for (Index i = 0; i < D; ++i) {
      const T value = X(r, i);
      if (std::isnan(value)) {
        filled(r, i) = T(0);
        missing_columns.push_back(i);
      } else {
        filled(r, i) = value;
        ++observed_count[i];
        sum_x(i) += value;
        sum_xx(i) += static_cast<double>(value) * value;
      }
    }
    missing_start[r + 1] = static_cast<Index>(missing_columns.size());
  }
  for (Index i = 0; i < D; ++i) {
    require(observed_count[i] > 0, "X: feature " + std::to_string(i) +
                                       " has no observed value (all its entries are NaN); remove that column");
  }
  const double n_observed = static_cast<double>(n) * D - static_cast<double>(missing_columns.size());
  // Per feature, accumulate over whichever is fewer: the rows where it is
  // missing (and subtract from the total) or the rows where it is observed.
  std::vector<char> subtract_mode(D);
  std::vector<Index> direct_features;
  for (Index i = 0; i < D; ++i) {
    subtract_mode[i] = (n - observed_count[i]) <= observed_count[i];
    if (!subtract_mode[i]) direct_features.push_back(i);
  }

  mean.resize(D);
  double average_variance = 0, largest_variance = 0;
  for (Index i = 0; i < D; ++i) {
    const double mu = sum_x(i) / observed_count[i];
    const double variance = std::max(sum_xx(i) / observed_count[i] - mu * mu, 0.0);
    mean(i) = static_cast<T>(mu);
    average_variance += variance / D;
    largest_variance = std::max(largest_variance, variance);
  }
  const T floor = noise_floor<T>(largest_variance * D);
  W = random_init<T>(D, d, std::sqrt(std::max(average_variance, 1e-300)), options.seed);
  noise_variance = std::max(static_cast<T>(average_variance), floor);

  const int n_threads = detail::max_threads();
  RowMatrix<T> projected(n, d), posterior(n, d);
  // Per-thread accumulators: sum <z z^T> and sum <z> over all rows, and per
  // feature over the selected rows (missing or observed, see subtract_mode).
  std::vector<Matrix<T>> total_zz(n_threads, Matrix<T>(d, d));
  std::vector<Vector<T>> total_z(n_threads, Vector<T>(d));
  // Per feature, the lower triangle of sum <z z^T> packed column by column
  // (d (d + 1) / 2 values): the scatter below is the E-step's hottest loop,
  // and symmetry halves it.
  const Index packed = d * (d + 1) / 2;
  std::vector<Matrix<T>> feature_zz(n_threads, Matrix<T>(packed, D));
  std::vector<Matrix<T>> feature_z(n_threads, Matrix<T>(d, D));
  std::vector<double> thread_loglik(n_threads);
  const Matrix<T> identity = Matrix<T>::Identity(d, d);

  auto estep = [&]() -> double {
    const Matrix<T> G = W.transpose() * W;
    Matrix<T> M_full = G;
    M_full.diagonal().array() += noise_variance;
    const Eigen::LLT<Matrix<T>> llt_full(M_full);
    const double log_det_full = 2.0 * llt_full.matrixLLT().diagonal().array().template cast<double>().log().sum();
    const Vector<T> mean_W = W.transpose() * mean;
    detail::parallel_product(projected, filled, W);
    poll(options);
    const double s2 = noise_variance;
    const double log_s2 = std::log(s2);
    detail::ExceptionSlot errors;
    // Set by the calling thread (OpenMP's thread 0) when keep_going() says
    // stop; the other threads then skip their remaining rows.
    std::atomic<bool> stop(false);
    // Zeroed here, not in the region: a team may have fewer threads than max_threads().
    for (int t = 0; t < n_threads; ++t) {
      total_zz[t].setZero();
      total_z[t].setZero();
      feature_zz[t].setZero();
      feature_z[t].setZero();
      thread_loglik[t] = 0;
    }
#pragma omp parallel if(worth_parallel(n * D * d))
    {
      const int t = detail::thread_id();
      Matrix<T> M(d, d), Sigma(d, d), zz(d, d);
      Vector<T> zz_packed(packed);
      Vector<T> a(d), z(d), mean_missing(D);
      RowMatrix<T> W_missing(D, d);
      std::vector<char> is_missing(D, 0);
#pragma omp for schedule(dynamic, 64)
      for (int r = 0; r < static_cast<int>(n); ++r) {
        if (stop.load(std::memory_order_relaxed)) continue;
        if (t == 0 && r % 64 == 0 && options.keep_going) {
          errors.run([&] {
            if (!options.keep_going()) stop.store(true, std::memory_order_relaxed);
          });
        }
        errors.run([&] {
          const Index begin = missing_start[r], end = missing_start[r + 1];
          const Index n_missing = end - begin, n_obs = D - n_missing;
          // a_n = W_O^T (x_O - mu_O): the product over filled rows, corrected
          // for the missing entries' mean contributions.
          a = projected.row(r).transpose() - mean_W;
          // The rows of W and the means of the missing features, gathered so
          // that their corrections are two small products, not m rank-1 updates.
          for (Index k = begin; k < end; ++k) {
            W_missing.row(k - begin) = W.row(missing_columns[k]);
            mean_missing(k - begin) = mean(missing_columns[k]);
          }
          a.noalias() += W_missing.topRows(n_missing).transpose() * mean_missing.head(n_missing);
          double log_det_M;
          if (n_missing == 0) {
            z = llt_full.solve(a);
            Sigma = noise_variance * llt_full.solve(identity);
            log_det_M = log_det_full;
          } else {
            if (n_missing <= n_obs) {
              M = M_full;
              M.noalias() -= W_missing.topRows(n_missing).transpose() * W_missing.topRows(n_missing);
            } else {
              M = noise_variance * identity;
              for (Index k = begin; k < end; ++k) is_missing[missing_columns[k]] = 1;
              for (Index i = 0; i < D; ++i)
                if (!is_missing[i]) M.noalias() += W.row(i).transpose() * W.row(i);
              for (Index k = begin; k < end; ++k) is_missing[missing_columns[k]] = 0;
            }
            const Eigen::LLT<Matrix<T>> llt(M);
            z = llt.solve(a);
            Sigma = noise_variance * llt.solve(identity);
            log_det_M = 2.0 * llt.matrixLLT().diagonal().array().template cast<double>().log().sum();
          }
          posterior.row(r) = z.transpose();
          zz = Sigma;
          zz.noalias() += z * z.transpose();
          for (Index j = 0, offset = 0; j < d; offset += d - j, ++j)
            zz_packed.segment(offset, d - j) = zz.col(j).tail(d - j);
          total_zz[t] += zz;
          total_z[t] += z;
          // ||x_O - mu_O||^2
          double centred_sq = 0;
          for (Index k = begin; k < end; ++k) is_missing[missing_columns[k]] = 1;
          for (Index i = 0; i < D; ++i) {
            if (!is_missing[i]) {
              const double c = static_cast<double>(X(r, i)) - mean(i);
              centred_sq += c * c;
            }
          }
          // Feature accumulators.
          for (Index k = begin; k < end; ++k) {
            const Index i = missing_columns[k];
            if (subtract_mode[i]) {
              feature_zz[t].col(i) += zz_packed;
              feature_z[t].col(i) += z;
            }
          }
          for (Index i : direct_features) {
            if (!is_missing[i]) {
              feature_zz[t].col(i) += zz_packed;
              feature_z[t].col(i) += z;
            }
          }
          for (Index k = begin; k < end; ++k) is_missing[missing_columns[k]] = 0;
          // log N(x_O; mu_O, W_O W_O^T + s2 I) by Woodbury and the determinant lemma.
          const double quadratic = (centred_sq - static_cast<double>(a.dot(z))) / s2;
          thread_loglik[t] += -0.5 * (n_obs * kLog2Pi + (n_obs - d) * log_s2 + log_det_M + quadratic);
        });
      }
    }
    errors.rethrow();
    if (stop.load()) throw EMStopped{};
    for (int t = 1; t < n_threads; ++t) {
      total_zz[0] += total_zz[t];
      total_z[0] += total_z[t];
      feature_zz[0] += feature_zz[t];
      feature_z[0] += feature_z[t];
      thread_loglik[0] += thread_loglik[t];
    }
    return thread_loglik[0] / static_cast<double>(n);
  };

  auto mstep = [&]() {
    // b_i = sum_{n in N_i} x_ni <z_n>: missing entries are zero in `filled`.
    const Matrix<T> B = detail::parallel_transposed_product<T>(filled, posterior);  // D x d
    poll(options);
    double residual = 0;
    Vector<T> new_mean(D);
    Matrix<T> new_W(D, d);
#pragma omp parallel reduction(+ : residual) if(worth_parallel(D * d * d * 8))
    {
      Matrix<T> system(d + 1, d + 1);
      Vector<T> rhs(d + 1);
#pragma omp for schedule(static)
      for (int i = 0; i < static_cast<int>(D); ++i) {
        Matrix<T> A_i(d, d);
        for (Index j = 0, offset = 0; j < d; offset += d - j, ++j) {
          A_i.col(j).tail(d - j) = feature_zz[0].col(i).segment(offset, d - j);
          A_i.row(j).tail(d - j) = A_i.col(j).tail(d - j).transpose();
        }
        Vector<T> e_i = feature_z[0].col(i);
        if (subtract_mode[i]) {
          A_i = total_zz[0] - A_i;
          e_i = total_z[0] - e_i;
        }
        const T count = static_cast<T>(observed_count[i]);
        // Normal equations of sum_{n in N_i} E[(x_ni - w_i^T z_n - mu_i)^2] in (w_i, mu_i).
        system.topLeftCorner(d, d) = A_i;
        system.topRightCorner(d, 1) = e_i;
        system.bottomLeftCorner(1, d) = e_i.transpose();
        system(d, d) = count;
        rhs.head(d) = B.row(i).transpose();
        rhs(d) = static_cast<T>(sum_x(i));
        const Vector<T> solution = system.ldlt().solve(rhs);
        const Vector<T> w = solution.head(d);
        const double mu = solution(d);
        new_W.row(i) = w.transpose();
        new_mean(i) = static_cast<T>(mu);
        // sum_{n in N_i} E[(x_ni - w^T z_n - mu)^2] at the new (w, mu).
        residual += sum_xx(i) - 2 * mu * sum_x(i) + count * mu * mu
                    - 2.0 * static_cast<double>(w.dot(B.row(i).transpose() - static_cast<T>(mu) * e_i))
                    + static_cast<double>(w.dot(A_i * w));
      }
    }
    W = new_W;
    mean = new_mean;
    noise_variance = std::max(static_cast<T>(residual / n_observed), floor);
  };
  run_em<T>(options, estep, mstep, W, mean, noise_variance, n_iter, curve);
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
  const Vector<T> column_mean = column_means<T>(X);
  const bool has_missing = !column_mean.allFinite() && scan_values<T>(X, /*allow_nan=*/true, "X");
  require(em || !has_missing,
          "X contains NaN: closed-form PPCA needs complete data; use method=\"em\" for missing values");

  PPCA model;
  if (!em) {
    model.mean_ = column_mean;
    Vector<T> top_values(d);
    Matrix<T> top_vectors(D, d);
    double trace = 0;
    if (n >= D) {
      // Eigendecomposition of the D x D covariance: O(n D^2 + D^3).
      Matrix<T> S = covariance_of<T>(X, model.mean_);
      trace = S.diagonal().template cast<double>().sum();
      leading_eigenpairs<T>(S, d, top_values, top_vectors);
      top_values = top_values.cwiseMax(T(0));
    } else {
      // n < D: the thin SVD Xc = U S V^T of the centred data through the
      // eigendecomposition of the n x n Gram matrix Xc Xc^T = U S^2 U^T, O(n^2 D);
      // the right singular vectors follow as V = Xc^T U S^-1. Only the d
      // leading pairs are used and the discarded eigenvalues enter through the
      // trace, so nothing is lost to the squared condition number. (Eigen's
      // own SVDs would also triple the compile time of this file.)
      const RowMatrix<T> centred = X.rowwise() - model.mean_.transpose();
      Matrix<T> gram = Matrix<T>::Zero(n, n);
      gram.template selfadjointView<Eigen::Lower>().rankUpdate(centred);
      gram.template triangularView<Eigen::Lower>() *= T(1) / static_cast<T>(n);
      trace = gram.diagonal().template cast<double>().sum();
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
    }
    // sigma^2 = mean of the D - d discarded eigenvalues (eq. 8).
    const double retained = top_values.template cast<double>().sum();
    const double discarded = D > d ? std::max(trace - retained, 0.0) / static_cast<double>(D - d) : 0.0;
    model.noise_variance_ = std::max(static_cast<T>(discarded), noise_floor<T>(top_values(0)));
    model.components_ = components_from_eigen<T>(top_vectors, top_values, model.noise_variance_);
    model.n_iter_ = 1;
  } else {
    Matrix<T> W;
    if (has_missing) {
      fit_em_missing<T>(X, options, model.mean_, W, model.noise_variance_, model.n_iter_,
                        model.log_likelihood_curve_);
    } else {
      model.mean_ = column_mean;
      fit_em_complete<T>(X, options, model.mean_, W, model.noise_variance_, model.n_iter_,
                         model.log_likelihood_curve_);
    }
    model.components_ = W.transpose();
  }
  // Squares of values near the top of the precision's range overflow in the
  // covariance: say so rather than return a model of infinities.
  require(model.components_.allFinite() && model.mean_.allFinite() && std::isfinite(model.noise_variance_),
          "PPCA.fit: the model overflowed: X's values are too large for this floating-point precision; scale X "
          "(or use float64)");
  model.finalize();
  return model;
}

namespace {

// Posterior means and/or exact log-likelihoods of the rows of X, block by
// block: one GEMM for the complete rows of a block, a per-row solve for rows
// with NaN. With c = x - mu, p = W^T c and z = E[z|x] = M^-1 p, Woodbury gives
// the quadratic form
//   c^T C^-1 c = (||c||^2 - p^T z) / s2                                  (a)
//              = ||c - W z||^2 / s2 + ||z||^2                            (b)
// (a) costs O(d) per row once p and z are known; (b) is a sum of
// non-negative terms, exact even when x lies almost in the span of W, but
// needs a second O(D d) product. A row takes (a) when its difference keeps
// at least kWoodburySafe of ||c||^2 (the relative rounding error of (a) is then
// below a few eps / kWoodburySafe), else it is redone with (b).
template <class T>
void posterior_pass(const PPCA<T>& model, ConstRowMatrixRef<T> X, RowMatrix<T>* means,
                    Vector<T>* log_likelihood, int n_threads, bool allow_missing) {
  const Index n = X.rows(), D = model.n_features(), d = model.n_components();
  require(X.cols() == D, "X has " + std::to_string(X.cols()) + " features, but the model was fitted with " +
                             std::to_string(D));
  detail::ThreadScope threads(n_threads);
  int saw_infinity = 0, saw_nan = 0;
  const RowMatrix<T>& Wt = model.components();  // d x D
  const T s2 = model.noise_variance();
  const Matrix<T> identity = Matrix<T>::Identity(d, d);
  Matrix<T> M = Wt * Wt.transpose();
  M.diagonal().array() += s2;
  const Eigen::LLT<Matrix<T>> llt(M);
  const Matrix<T> M_inverse = llt.solve(identity);
  const double log_det_M = 2.0 * llt.matrixLLT().diagonal().array().template cast<double>().log().sum();
  const double log_s2 = std::log(static_cast<double>(s2));
  if (means) means->resize(n, d);
  if (log_likelihood) log_likelihood->resize(n);
  const int blocks = static_cast<int>(block_count<T>(n));
  // float: p and z carry relative errors of ~sqrt(D) eps from the products.
  const double kWoodburySafe = sizeof(T) == 4 ? 0.1 : 1e-3;
  // p = W^T c, as in the EM E-step.
  const PaddedProduct<T> product(Wt.transpose());

#pragma omp parallel if(worth_parallel(n * D * d)) reduction(| : saw_infinity, saw_nan)
  {
    RowMatrix<T> centred(kBlockRows, D), projected_padded(kBlockRows, product.padded_cols()), z(kBlockRows, d);
    Vector<T> residual(D);
    std::vector<double> norms(kBlockRows);
    std::vector<Index> nan_rows;
    std::vector<Index> observed;
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const Index start = static_cast<Index>(b) * kBlockRows;
      const Index rows = std::min(kBlockRows, n - start);
      nan_rows.clear();
      for (Index r = 0; r < rows; ++r) {
        centred.row(r) = X.row(start + r) - model.mean().transpose();
        if (!all_finite(centred.row(r).data(), D)) {
          if ((centred.row(r).array().abs() == std::numeric_limits<T>::infinity()).any()) saw_infinity = 1;
          if (!allow_missing) saw_nan = 1;
          nan_rows.push_back(r);
          centred.row(r).setZero();  // keeps the block GEMM finite; redone below
        }
        if (log_likelihood) norms[r] = static_cast<double>(centred.row(r).squaredNorm());
      }
      auto C = centred.topRows(rows);
      auto Z = z.topRows(rows);
      product.run(C.data(), rows, projected_padded.data());
      const auto projected = projected_padded.leftCols(d);
      Z.noalias() = projected.topRows(rows) * M_inverse;
      if (log_likelihood) {
        for (Index r = 0; r < rows; ++r) {
          const double explained = static_cast<double>(projected.row(r).dot(Z.row(r)));
          double quadratic = (norms[r] - explained) / s2;
          if (!(norms[r] - explained >= kWoodburySafe * norms[r])) {  // (b), see above
            residual.noalias() = C.row(r).transpose() - Wt.transpose() * Z.row(r).transpose();
            quadratic = residual.template cast<double>().squaredNorm() / s2 +
                        Z.row(r).template cast<double>().squaredNorm();
          }
          (*log_likelihood)(start + r) =
              static_cast<T>(-0.5 * (D * kLog2Pi + (D - d) * log_s2 + log_det_M + quadratic));
        }
      }
      // Rows with missing entries: their own M_n = s2 I + W_O^T W_O.
      for (Index r : nan_rows) {
        observed.clear();
        for (Index i = 0; i < D; ++i)
          if (!std::isnan(X(start + r, i))) observed.push_back(i);
        const Index n_obs = static_cast<Index>(observed.size());
        Matrix<T> M_n = s2 * identity;
        Vector<T> a = Vector<T>::Zero(d);
        for (Index i : observed) {
          M_n.noalias() += Wt.col(i) * Wt.col(i).transpose();
          a += (X(start + r, i) - model.mean()(i)) * Wt.col(i);
        }
        const Eigen::LLT<Matrix<T>> llt_n(M_n);
        const Vector<T> z_n = llt_n.solve(a);
        Z.row(r) = z_n.transpose();
        if (log_likelihood) {
          double residual_sq = 0;
          for (Index i : observed) {
            const double e = static_cast<double>(X(start + r, i) - model.mean()(i)) - Wt.col(i).dot(z_n);
            residual_sq += e * e;
          }
          const double log_det_n = 2.0 * llt_n.matrixLLT().diagonal().array().template cast<double>().log().sum();
          const double quadratic = residual_sq / s2 + z_n.template cast<double>().squaredNorm();
          (*log_likelihood)(start + r) =
              static_cast<T>(-0.5 * (n_obs * kLog2Pi + (n_obs - d) * log_s2 + log_det_n + quadratic));
        }
      }
      if (means) means->middleRows(start, rows) = Z;
    }
  }
  require(!saw_infinity, "X contains infinity");
  require(!saw_nan, "X contains NaN (missing values are for a model fitted with method=\"em\")");
}

}  // namespace

template <class T>
RowMatrix<T> PPCA<T>::transform(ConstRowMatrixRef<T> X, int n_threads, bool allow_missing) const {
  RowMatrix<T> means;
  posterior_pass<T>(*this, X, &means, nullptr, n_threads, allow_missing);
  return means;
}

template <class T>
Vector<T> PPCA<T>::score_samples(ConstRowMatrixRef<T> X, int n_threads, bool allow_missing) const {
  Vector<T> log_likelihood;
  posterior_pass<T>(*this, X, nullptr, &log_likelihood, n_threads, allow_missing);
  return log_likelihood;
}

template <class T>
RowMatrix<T> PPCA<T>::inverse_transform(ConstRowMatrixRef<T> Z) const {
  require(Z.cols() == n_components(), "Z has " + std::to_string(Z.cols()) + " columns, but the model has " +
                                          std::to_string(n_components()) + " components");
  require(Z.allFinite(), "Z contains NaN or infinity");
  RowMatrix<T> X(Z.rows(), n_features());
  detail::parallel_product(X, Z, components_);
  X.rowwise() += mean_.transpose();
  return X;
}

template <class T>
RowMatrix<T> PPCA<T>::sample(Index n_samples, std::uint64_t seed, int n_threads) const {
  require(n_samples >= 0, "n_samples must be non-negative");
  const Index D = n_features(), d = n_components();
  detail::ThreadScope threads(n_threads);
  RowMatrix<T> latent(n_samples, d), X(n_samples, D);
  const T noise_std = std::sqrt(noise_variance_);
#pragma omp parallel for schedule(static) if(worth_parallel(n_samples * D))
  for (int i = 0; i < static_cast<int>(n_samples); ++i) {
    // Row i: d latent draws then D noise draws from stream i.
    Philox rng(seed, static_cast<std::uint64_t>(i));
    rng.fill_normal(latent.row(i).data(), d);
    rng.fill_normal(X.row(i).data(), D);
  }
  RowMatrix<T> signal(n_samples, D);
  detail::parallel_product(signal, latent, components_);
  X = noise_std * X + signal;
  X.rowwise() += mean_.transpose();
  return X;
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

template class PPCA<float>;
template class PPCA<double>;

}  // namespace vaekit
