// PPCA by EM with entries missing at random (NaN). The E-step of row n uses
// only its observed coordinates O_n, with M_n = sigma^2 I + W_O^T W_O
// (Tipping & Bishop 1999, eq. 25 on the observed coordinates); the M-step
// solves, for each feature i, the weighted least-squares problem for (w_i, mu_i)
// over the rows where i is observed. Each iteration maximises the expected
// complete-data log-likelihood exactly, so the observed-data log-likelihood
// never decreases.
#include <Eigen/Cholesky>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "numeric.hpp"
#include "parallel.hpp"
#include "ppca_detail.hpp"
#include "sparse.hpp"

namespace vaekit::detail::ppca {
namespace {

// Where X's entries are missing, and the per-feature sums of the observed
// ones: computed once, before the first iteration.
template <class T>
struct MissingPattern {
  RowMatrix<T> filled;  // X with zeros for the missing entries
  // Row r's missing columns: missing_columns[missing_start[r] .. missing_start[r + 1]).
  std::vector<Index> missing_start, missing_columns;
  std::vector<Index> observed_count;  // per feature
  Eigen::VectorXd sum_x, sum_xx;      // per feature, over its observed entries, in double
  double n_observed = 0;              // observed entries of X
  // Per feature, the E-step accumulates over whichever rows are fewer: those
  // where it is missing (subtract_mode: the sum over the observed rows is the
  // total minus that) or those where it is observed (direct_features).
  std::vector<char> subtract_mode;
  std::vector<Index> direct_features;
  // The E-step's work (for the parallel policy): (row, feature) pairs it
  // accumulates, and sum over rows of min(missing, observed) entries (the
  // rank-one corrections that build M_n).
  double accumulated_entries = 0, correction_entries = 0;

  Index row_missing_begin(Index r) const { return missing_start[r]; }
  Index row_missing_count(Index r) const { return missing_start[r + 1] - missing_start[r]; }
};

// Every feature needs an observed value: EM has nothing to estimate its
// mean from otherwise.
template <class Counts>
void require_all_observed(const Counts& observed_count) {
  for (Index i = 0; i < static_cast<Index>(observed_count.size()); ++i) {
    require(observed_count[i] > 0, "X: feature " + std::to_string(i) +
                                       " has no observed value (all its entries are NaN); remove that column");
  }
}

// require_observed: a feature with no observed value is an error (a whole
// data set's pattern; a block of rows may lack a feature). counts_only: the
// observed counts and sums alone (what EM starts from), without the filled
// copy and the rows' missing columns; the other fields are then meaningless.
template <class T>
MissingPattern<T> scan_missing(ConstRowMatrixRef<T> X, bool require_observed = true, bool counts_only = false) {
  const Index n = X.rows(), D = X.cols();
  MissingPattern<T> pattern;
  if (!counts_only) pattern.filled.resize(n, D);
  pattern.missing_start.assign(n + 1, 0);
  pattern.observed_count.assign(D, 0);
  pattern.sum_x = Eigen::VectorXd::Zero(D);
  pattern.sum_xx = Eigen::VectorXd::Zero(D);
  for (Index r = 0; r < n; ++r) {
    for (Index i = 0; i < D; ++i) {
      const T value = X(r, i);
      if (std::isnan(value)) {
        if (counts_only) continue;
        pattern.filled(r, i) = T(0);
        pattern.missing_columns.push_back(i);
      } else {
        if (!counts_only) pattern.filled(r, i) = value;
        ++pattern.observed_count[i];
        pattern.sum_x(i) += value;
        pattern.sum_xx(i) += static_cast<double>(value) * value;
      }
    }
    pattern.missing_start[r + 1] = static_cast<Index>(pattern.missing_columns.size());
    const Index n_missing = pattern.row_missing_count(r);
    pattern.correction_entries += static_cast<double>(std::min(n_missing, D - n_missing));
  }
  if (require_observed) require_all_observed(pattern.observed_count);
  pattern.n_observed = static_cast<double>(n) * D - static_cast<double>(pattern.missing_columns.size());
  pattern.subtract_mode.resize(D);
  for (Index i = 0; i < D; ++i) {
    const Index observed = pattern.observed_count[i];
    pattern.subtract_mode[i] = (n - observed) <= observed;
    if (!pattern.subtract_mode[i]) pattern.direct_features.push_back(i);
    pattern.accumulated_entries += static_cast<double>(std::min(n - observed, observed));
  }
  return pattern;
}

// What the E-step gathers for the M-step, per thread: sum <z z^T> and sum <z>
// over all rows, and per feature over the rows selected by subtract_mode;
// and the log-likelihood of the rows.
template <class T>
struct EStepSums {
  EStepSums(Index d, Index D)
      : total_zz(d, d), total_z(d), feature_zz(d * (d + 1) / 2, D), feature_z(d, D) {}
  void set_zero() {
    total_zz.setZero();
    total_z.setZero();
    feature_zz.setZero();
    feature_z.setZero();
    log_likelihood = 0;
  }
  void add(const EStepSums& other) {
    total_zz += other.total_zz;
    total_z += other.total_z;
    feature_zz += other.feature_zz;
    feature_z += other.feature_z;
    log_likelihood += other.log_likelihood;
  }

  Matrix<T> total_zz;  // d x d
  Vector<T> total_z;   // d
  // Per feature (column), the lower triangle of sum <z z^T> packed column by
  // column (d (d + 1) / 2 values): the scatter into it is the E-step's
  // hottest loop, and symmetry halves it.
  Matrix<T> feature_zz;
  Matrix<T> feature_z;  // d x D
  double log_likelihood = 0;
};

// The E-step's quantities of the current parameters that every row shares.
template <class T>
struct SharedPosterior {
  SharedPosterior(const Matrix<T>& W, const Vector<T>& mean, T noise_variance)
      : identity(Matrix<T>::Identity(W.cols(), W.cols())),
        M_full(W.transpose() * W),
        noise_variance(noise_variance),
        log_s2(std::log(static_cast<double>(noise_variance))) {
    M_full.diagonal().array() += noise_variance;
    llt_full.compute(M_full);
    log_det_full = cholesky_log_determinant(llt_full);
    Sigma_full = noise_variance * llt_full.solve(identity);
    scaled_identity = noise_variance * identity;
    mean_W = W.transpose() * mean;
  }

  Matrix<T> identity;
  Matrix<T> M_full;  // M = W^T W + s2 I of a complete row
  Eigen::LLT<Matrix<T>> llt_full;
  Matrix<T> Sigma_full;       // s2 M^-1, a complete row's posterior covariance
  Matrix<T> scaled_identity;  // s2 I
  double log_det_full = 0;
  Vector<T> mean_W;  // W^T mu
  T noise_variance;
  double log_s2;
};

// One thread's workspace for the rows' posteriors.
template <class T>
struct RowWorkspace {
  RowWorkspace(Index d, Index D)
      : Sigma(d, d), zz(d, d), zz_packed(d * (d + 1) / 2), a(d), z(d), mean_missing(D), W_missing(D, d),
        is_missing(D, 0) {}
  Matrix<T> Sigma, zz;     // s2 M_n^-1 (the posterior covariance), <z z^T>
  Vector<T> zz_packed;     // its lower triangle, packed as EStepSums::feature_zz
  Vector<T> a, z;          // W_O^T (x_O - mu_O), <z> = M_n^-1 a
  Vector<T> mean_missing;  // mu of the missing features
  RowMatrix<T> W_missing;  // W's rows of the missing features (of the observed ones when fewer)
  std::vector<char> is_missing;
};

// a_n = W_O^T (x_O - mu_O): the product over the filled row (projected_row =
// filled_n W), corrected for the missing entries' mean contributions. The
// rows of W and the means of the missing features are gathered (into
// work.W_missing) so that their corrections are two small products, not m
// rank-1 updates.
template <class T, class ProjectedRow>
void observed_projection(const ProjectedRow& projected_row, const SharedPosterior<T>& shared, const Matrix<T>& W,
                         const Vector<T>& mean, const Index* missing, Index n_missing, RowWorkspace<T>& work) {
  work.a = projected_row.transpose() - shared.mean_W;
  for (Index k = 0; k < n_missing; ++k) {
    work.W_missing.row(k) = W.row(missing[k]);
    work.mean_missing(k) = mean(missing[k]);
  }
  work.a.noalias() += work.W_missing.topRows(n_missing).transpose() * work.mean_missing.head(n_missing);
}

// The row's posterior from its observed coordinates (eq. 25):
// M_n = s2 I + W_O^T W_O, <z> = M_n^-1 a_n (into work.z), covariance
// s2 M_n^-1 (into work.Sigma). M_n is M minus the missing rows' outer
// products or built from the observed rows, whichever are fewer. Returns
// log det M_n.
template <class T>
double row_posterior(const SharedPosterior<T>& shared, const Matrix<T>& W, const Index* missing, Index n_missing,
                     RowWorkspace<T>& work) {
  const Index D = W.rows(), n_obs = D - n_missing;
  if (n_missing == 0) {
    work.z = shared.llt_full.solve(work.a);
    work.Sigma = shared.Sigma_full;
    return shared.log_det_full;
  }
  // M_n and its factor in one kernel (kernels.hpp): M - W_m^T W_m from the
  // gathered missing rows, or s2 I + W_O^T W_O from the observed rows,
  // gathered into the same buffer (the missing ones are not needed again).
  const T* base = shared.M_full.data();
  T sign = -1;
  Index g_rows = n_missing;
  if (n_missing > n_obs) {
    for (Index k = 0; k < n_missing; ++k) work.is_missing[missing[k]] = 1;
    g_rows = 0;
    for (Index i = 0; i < D; ++i)
      if (!work.is_missing[i]) work.W_missing.row(g_rows++) = W.row(i);
    for (Index k = 0; k < n_missing; ++k) work.is_missing[missing[k]] = 0;
    base = shared.scaled_identity.data();
    sign = 1;
  }
  // Sigma is symmetric: the kernel's row-major output is the same matrix.
  return kernels<T>().gram_posterior(W.cols(), base, sign, work.W_missing.data(), g_rows, work.a.data(),
                                     shared.noise_variance, work.z.data(), work.Sigma.data());
}

// Adds the row's <z z^T> = s2 M_n^-1 + <z><z>^T (eq. 26) and <z> to the
// totals and to the accumulators of the features it is selected for: its
// missing features in subtract mode and its observed direct features.
// work.is_missing marks the row's missing features.
template <class T>
void accumulate_row_moments(const MissingPattern<T>& pattern, const Index* missing, Index n_missing,
                            RowWorkspace<T>& work, EStepSums<T>& sums) {
  const Index d = work.z.size();
  work.zz = work.Sigma;
  work.zz.noalias() += work.z * work.z.transpose();
  for (Index j = 0, offset = 0; j < d; offset += d - j, ++j)
    work.zz_packed.segment(offset, d - j) = work.zz.col(j).tail(d - j);
  sums.total_zz += work.zz;
  sums.total_z += work.z;
  const auto add = kernels<T>().add;
  const Index packed = work.zz_packed.size();
  for (Index k = 0; k < n_missing; ++k) {
    const Index i = missing[k];
    if (pattern.subtract_mode[i]) {
      add(work.zz_packed.data(), packed, sums.feature_zz.col(i).data());
      add(work.z.data(), d, sums.feature_z.col(i).data());
    }
  }
  for (Index i : pattern.direct_features) {
    if (!work.is_missing[i]) {
      add(work.zz_packed.data(), packed, sums.feature_zz.col(i).data());
      add(work.z.data(), d, sums.feature_z.col(i).data());
    }
  }
}

// ||x_O - mu_O||^2 of row x (work.is_missing marks its missing features), in double.
template <class T, class Row>
double observed_squared_distance(const Row& x, const Vector<T>& mean, const RowWorkspace<T>& work) {
  double centred_sq = 0;
  for (Index i = 0; i < mean.size(); ++i) {
    if (!work.is_missing[i]) {
      const double c = static_cast<double>(x(i)) - mean(i);
      centred_sq += c * c;
    }
  }
  return centred_sq;
}

// log N(x_O; mu_O, W_O W_O^T + s2 I) by Woodbury and the determinant lemma:
// -1/2 [|O| log 2 pi + (|O| - d) log s2 + log|M_n| + (||x_O - mu_O||^2 - a_n^T <z>) / s2].
inline double row_log_likelihood(Index n_obs, Index d, double log_s2, double log_det_M, double centred_sq,
                                 double a_dot_z, double s2) {
  const double quadratic = (centred_sq - a_dot_z) / s2;
  return -0.5 * (n_obs * kLog2Pi + (n_obs - d) * log_s2 + log_det_M + quadratic);
}

// Buffers the E-step fills and the M-step reads, allocated once.
template <class T>
struct EStepState {
  EStepState(Index n, Index d, Index D, int n_threads)
      : projected(n, d), posterior(n, d), sums(n_threads, EStepSums<T>(d, D)) {}
  RowMatrix<T> projected;   // filled W, n x d
  RowMatrix<T> posterior;   // <z_n>, n x d
  std::vector<EStepSums<T>> sums;  // per thread; after the E-step, sums[0] holds the totals
};

// E-step: every row's posterior, and the sums the M-step needs (into
// state.sums[0] and state.posterior). Returns the mean log-likelihood of the
// parameters (W, mean, noise_variance). Polls options.keep_going on the
// calling thread every 64 rows; throws EMStopped when it says stop.
template <class T>
double e_step(ConstRowMatrixRef<T> X, const MissingPattern<T>& pattern, const Matrix<T>& W, const Vector<T>& mean,
              T noise_variance, const PPCAOptions& options, EStepState<T>& state) {
  const Index n = X.rows(), D = X.cols(), d = W.cols();
  const SharedPosterior<T> shared(W, mean, noise_variance);
  detail::parallel_product(state.projected, pattern.filled, W);
  poll(options);
  const double s2 = noise_variance;
  detail::ExceptionSlot errors;
  // Set by the calling thread (OpenMP's thread 0) when keep_going() says
  // stop; the other threads then skip their remaining rows.
  std::atomic<bool> stop(false);
  // Zeroed here, not in the region: a team may have fewer threads than max_threads().
  for (EStepSums<T>& sums : state.sums) sums.set_zero();
  // Work: per row, M_n's factor and inverse (about 8/3 d^3 flops) and its
  // rank-one corrections (2 d^2 flops each); the feature accumulators
  // (packed + d values per accumulated entry) and the row's scan.
  const double d3 = static_cast<double>(d) * d * d;
  const Work work{static_cast<double>(n) * d3 * 8.0 / 3.0 + 2.0 * d * d * pattern.correction_entries,
                  pattern.accumulated_entries * (d * (d + 1) / 2 + d) + static_cast<double>(n) * D};
#pragma omp parallel if(worth_parallel(work))
  {
    const int t = detail::thread_id();
    RowWorkspace<T> row_work(d, D);
    EStepSums<T>& sums = state.sums[t];
#pragma omp for schedule(dynamic, 64)
    for (int r = 0; r < static_cast<int>(n); ++r) {
      if (stop.load(std::memory_order_relaxed)) continue;
      if (t == 0 && r % 64 == 0 && options.keep_going) {
        errors.run([&] {
          if (!options.keep_going()) stop.store(true, std::memory_order_relaxed);
        });
      }
      errors.run([&] {
        const Index* missing = pattern.missing_columns.data() + pattern.row_missing_begin(r);
        const Index n_missing = pattern.row_missing_count(r), n_obs = D - n_missing;
        observed_projection<T>(state.projected.row(r), shared, W, mean, missing, n_missing, row_work);
        const double log_det_M = row_posterior<T>(shared, W, missing, n_missing, row_work);
        state.posterior.row(r) = row_work.z.transpose();
        for (Index k = 0; k < n_missing; ++k) row_work.is_missing[missing[k]] = 1;
        const double centred_sq = observed_squared_distance<T>(X.row(r), mean, row_work);
        accumulate_row_moments<T>(pattern, missing, n_missing, row_work, sums);
        for (Index k = 0; k < n_missing; ++k) row_work.is_missing[missing[k]] = 0;
        sums.log_likelihood += row_log_likelihood(n_obs, d, shared.log_s2, log_det_M, centred_sq,
                                                  static_cast<double>(row_work.a.dot(row_work.z)), s2);
      });
    }
  }
  errors.rethrow();
  if (stop.load()) throw EMStopped{};
  for (std::size_t t = 1; t < state.sums.size(); ++t) state.sums[0].add(state.sums[t]);
  return state.sums[0].log_likelihood / static_cast<double>(n);
}

// Unpacks a column of packed lower triangles (EStepSums::feature_zz,
// PPCAMissingStatistics::zz) into the symmetric d x d matrix A.
template <class T, class Packed>
void unpack_symmetric(const Packed& packed, Index d, Matrix<T>& A) {
  A.resize(d, d);
  for (Index j = 0, offset = 0; j < d; offset += d - j, ++j) {
    A.col(j).tail(d - j) = packed.segment(offset, d - j).template cast<T>();
    A.row(j).tail(d - j) = A.col(j).tail(d - j).transpose();
  }
}

// Feature i's new row w of W and mean mu: the normal equations of
// sum_{n in N_i} E[(x_ni - w^T z_n - mu)^2] in (w, mu), from
// A = sum_{N_i} <z_n z_n^T>, e = sum_{N_i} <z_n>, count = |N_i|,
// b = sum_{N_i} x_ni <z_n> and the sums of x_ni and x_ni^2 over N_i. Returns
// that expected squared residual at the solution.
template <class T, class WRow>
double solve_feature(const Matrix<T>& A, const Vector<T>& e, double count, const Vector<T>& b, double sum_x,
                     double sum_xx, Matrix<T>& system, Vector<T>& rhs, WRow&& w_row, T& mean_i) {
  const Index d = A.rows();
  system.topLeftCorner(d, d) = A;
  system.topRightCorner(d, 1) = e;
  system.bottomLeftCorner(1, d) = e.transpose();
  system(d, d) = static_cast<T>(count);
  rhs.head(d) = b;
  rhs(d) = static_cast<T>(sum_x);
  const Vector<T> solution = system.ldlt().solve(rhs);
  const Vector<T> w = solution.head(d);
  const double mu = solution(d);
  w_row = w.transpose();
  mean_i = static_cast<T>(mu);
  return sum_xx - 2 * mu * sum_x + count * mu * mu - 2.0 * static_cast<double>(w.dot(b - static_cast<T>(mu) * e)) +
         static_cast<double>(w.dot(A * w));
}

// The work of the M-step's D solves: per feature the LDL^T factorisation and
// solve of a (d + 1)-square system, about 2/3 (d + 1)^3 + 4 (d + 1)^2 flops,
// the residual's 2 d^2; unpacking A and filling the system, 2 d^2 + (d + 1)^2 values.
inline Work m_step_work(Index D, Index d) {
  const double d1 = static_cast<double>(d) + 1;
  return Work{D * (2.0 / 3.0 * d1 * d1 * d1 + 4.0 * d1 * d1 + 2.0 * d * d), D * (2.0 * d * d + d1 * d1)};
}

// M-step: each feature's (w_i, mu_i) by solve_feature, then
// s2 = (sum of the expected squared residuals) / (observed entries), at least `floor`.
template <class T>
void m_step(const MissingPattern<T>& pattern, const EStepState<T>& state, T floor, const PPCAOptions& options,
            Matrix<T>& W, Vector<T>& mean, T& noise_variance) {
  const Index D = W.rows(), d = W.cols();
  // b_i = sum_{n in N_i} x_ni <z_n>: missing entries are zero in `filled`.
  const Matrix<T> B = detail::parallel_transposed_product<T>(pattern.filled, state.posterior);  // D x d
  poll(options);
  const EStepSums<T>& sums = state.sums[0];
  double residual = 0;
  Vector<T> new_mean(D);
  Matrix<T> new_W(D, d);
#pragma omp parallel reduction(+ : residual) if(worth_parallel(m_step_work(D, d)))
  {
    Matrix<T> system(d + 1, d + 1), A;
    Vector<T> rhs(d + 1), e;
#pragma omp for schedule(static)
    for (int i = 0; i < static_cast<int>(D); ++i) {
      // sum_{n in N_i} <z_n z_n^T> and sum_{n in N_i} <z_n>: the totals minus
      // the sums over the rows where i is missing, in subtract mode.
      unpack_symmetric<T>(sums.feature_zz.col(i), d, A);
      e = sums.feature_z.col(i);
      if (pattern.subtract_mode[i]) {
        A = sums.total_zz - A;
        e = sums.total_z - e;
      }
      residual += solve_feature<T>(A, e, static_cast<double>(pattern.observed_count[i]), B.row(i).transpose(),
                                   pattern.sum_x(i), pattern.sum_xx(i), system, rhs, new_W.row(i), new_mean(i));
    }
  }
  W = new_W;
  mean = new_mean;
  noise_variance = std::max(static_cast<T>(residual / pattern.n_observed), floor);
}

// The same from statistics summed elsewhere (PPCAMissingStatistics).
template <class T>
void m_step(const PPCAMissingStatistics<T>& statistics, T floor, Matrix<T>& W, Vector<T>& mean, T& noise_variance) {
  const Index D = W.rows(), d = W.cols();
  double residual = 0;
  Vector<T> new_mean(D);
  Matrix<T> new_W(D, d);
#pragma omp parallel reduction(+ : residual) if(worth_parallel(m_step_work(D, d)))
  {
    Matrix<T> system(d + 1, d + 1), A;
    Vector<T> rhs(d + 1);
#pragma omp for schedule(static)
    for (int i = 0; i < static_cast<int>(D); ++i) {
      unpack_symmetric<T>(statistics.zz.col(i), d, A);
      residual += solve_feature<T>(A, statistics.z.col(i).template cast<T>(), statistics.observed(i),
                                   statistics.xz.row(i).transpose().template cast<T>(), statistics.sum_x(i),
                                   statistics.sum_xx(i), system, rhs, new_W.row(i), new_mean(i));
    }
  }
  W = new_W;
  mean = new_mean;
  noise_variance = std::max(static_cast<T>(residual / statistics.observed.sum()), floor);
}

// EM's start from the observed entries' counts and sums per feature: their
// means, an isotropic W of the average variance (random directions from the
// seed) and that variance as sigma^2; and the floor of sigma^2.
template <class T>
struct EMStart {
  template <class Counts>
  EMStart(const Counts& observed_count, const Eigen::VectorXd& sum_x, const Eigen::VectorXd& sum_xx, Index d,
          std::uint64_t seed) {
    const Index D = sum_x.size();
    mean.resize(D);
    double average_variance = 0, largest_variance = 0;
    for (Index i = 0; i < D; ++i) {
      const double count = static_cast<double>(observed_count[i]);
      const double mu = sum_x(i) / count;
      const double variance = std::max(sum_xx(i) / count - mu * mu, 0.0);
      mean(i) = static_cast<T>(mu);
      average_variance += variance / D;
      largest_variance = std::max(largest_variance, variance);
    }
    floor = noise_floor<T>(largest_variance * D);
    W = random_init<T>(D, d, std::sqrt(std::max(average_variance, 1e-300)), seed);
    noise_variance = std::max(static_cast<T>(average_variance), floor);
  }
  Vector<T> mean;
  Matrix<T> W;
  T noise_variance, floor;
};

}  // namespace

template <class T>
FittedParameters<T> fit_em_missing(ConstRowMatrixRef<T> X, const PPCAOptions& options) {
  const Index n = X.rows(), D = X.cols(), d = options.n_components;
  const MissingPattern<T> pattern = scan_missing<T>(X);

  EMStart<T> start(pattern.observed_count, pattern.sum_x, pattern.sum_xx, d, options.seed);
  FittedParameters<T> fit;
  fit.mean = std::move(start.mean);
  fit.noise_variance = start.noise_variance;
  Matrix<T> W = std::move(start.W);
  const T floor = start.floor;
  EStepState<T> state(n, d, D, detail::max_threads());
  run_em<T>(
      options, [&] { return e_step<T>(X, pattern, W, fit.mean, fit.noise_variance, options, state); },
      [&] { m_step<T>(pattern, state, floor, options, W, fit.mean, fit.noise_variance); }, W, fit.mean,
      fit.noise_variance, fit.n_iter, fit.log_likelihood_curve);
  fit.components = W.transpose();
  return fit;
}

template <class T>
FittedParameters<T> fit_em_missing(const MissingStatisticsOf<T>& statistics, const PPCAOptions& options) {
  const Index d = options.n_components;
  const PPCAMissingStatistics<T> counts = statistics(Matrix<T>(), Vector<T>(), T(0));
  const Index D = counts.observed.size();
  require(counts.rows >= 1 && D >= 1, "PPCA.fit_em: the statistics hold no rows or no features");
  require(d <= D && static_cast<double>(d) <= counts.rows,
          "PPCA.fit_em: n_components must be at most min(n_samples, n_features)");
  require_all_observed(counts.observed);
  EMStart<T> start(counts.observed, counts.sum_x, counts.sum_xx, d, options.seed);
  FittedParameters<T> fit;
  fit.mean = std::move(start.mean);
  fit.noise_variance = start.noise_variance;
  Matrix<T> W = std::move(start.W);
  PPCAMissingStatistics<T> current;
  const auto e_step = [&] {
    current = statistics(W, fit.mean, fit.noise_variance);
    require(current.observed.size() == D && current.zz.rows() == d * (d + 1) / 2 && current.zz.cols() == D &&
                current.z.rows() == d && current.z.cols() == D && current.xz.rows() == D && current.xz.cols() == d,
            "PPCA.fit_em: the statistics do not match the features and components");
    require(current.rows == counts.rows && current.observed == counts.observed,
            "PPCA.fit_em: the statistics are of other rows than the first call's");
    poll(options);
    return current.log_likelihood / current.rows;
  };
  run_em<T>(
      options, e_step, [&] { m_step<T>(current, start.floor, W, fit.mean, fit.noise_variance); }, W, fit.mean,
      fit.noise_variance, fit.n_iter, fit.log_likelihood_curve);
  fit.components = W.transpose();
  return fit;
}

template FittedParameters<float> fit_em_missing<float>(ConstRowMatrixRef<float>, const PPCAOptions&);
template FittedParameters<double> fit_em_missing<double>(ConstRowMatrixRef<double>, const PPCAOptions&);
template FittedParameters<float> fit_em_missing<float>(const MissingStatisticsOf<float>&, const PPCAOptions&);
template FittedParameters<double> fit_em_missing<double>(const MissingStatisticsOf<double>&, const PPCAOptions&);

}  // namespace vaekit::detail::ppca

namespace vaekit {

template <class T>
PPCAMissingStatistics<T> PPCAMissingStatistics<T>::of(ConstRowMatrixRef<T> X, const Matrix<T>& W,
                                                      const Vector<T>& mean, T noise_variance, int n_threads) {
  namespace ppca = detail::ppca;
  const bool with_parameters = W.size() > 0;
  const Index n = X.rows(), D = X.cols(), d = with_parameters ? W.cols() : 0;
  if (with_parameters) {
    require(W.rows() == D && mean.size() == D,
            "PPCAMissingStatistics.of: W and mean must have X's " + std::to_string(D) + " features");
    require(W.allFinite() && mean.allFinite() && std::isfinite(noise_variance) && noise_variance > 0,
            "PPCAMissingStatistics.of: W and mean must be finite and noise_variance positive");
  }
  detail::ThreadScope threads(n_threads);
  ppca::scan_values<T>(X, /*allow_nan=*/true, "X");  // infinity is an error
  const ppca::MissingPattern<T> pattern =
      ppca::scan_missing<T>(X, /*require_observed=*/false, /*counts_only=*/!with_parameters);
  PPCAMissingStatistics statistics;
  statistics.rows = static_cast<double>(n);
  statistics.observed = Eigen::Map<const Eigen::Matrix<Index, Eigen::Dynamic, 1>>(pattern.observed_count.data(), D)
                            .template cast<double>();
  statistics.sum_x = pattern.sum_x;
  statistics.sum_xx = pattern.sum_xx;
  const Index packed = d * (d + 1) / 2;
  statistics.zz = Eigen::MatrixXd::Zero(packed, D);
  statistics.z = Eigen::MatrixXd::Zero(d, D);
  statistics.xz = Eigen::MatrixXd::Zero(D, d);
  if (!with_parameters || n == 0) return statistics;
  ppca::EStepState<T> state(n, d, D, detail::max_threads());
  ppca::e_step<T>(X, pattern, W, mean, noise_variance, PPCAOptions{}, state);
  statistics.xz = detail::parallel_transposed_product<T>(pattern.filled, state.posterior).template cast<double>();
  const ppca::EStepSums<T>& sums = state.sums[0];
  // The E-step sums over whichever rows are fewer per feature (subtract
  // mode: those where it is missing); here always over N_i.
  Eigen::VectorXd total_packed(packed);
  for (Index j = 0, offset = 0; j < d; offset += d - j, ++j)
    total_packed.segment(offset, d - j) = sums.total_zz.col(j).tail(d - j).template cast<double>();
  for (Index i = 0; i < D; ++i) {
    statistics.zz.col(i) = sums.feature_zz.col(i).template cast<double>();
    statistics.z.col(i) = sums.feature_z.col(i).template cast<double>();
    if (pattern.subtract_mode[i]) {
      statistics.zz.col(i) = total_packed - statistics.zz.col(i);
      statistics.z.col(i) = sums.total_z.template cast<double>() - statistics.z.col(i);
    }
  }
  statistics.log_likelihood = sums.log_likelihood;
  return statistics;
}

template <class T>
PPCAMissingStatistics<T> PPCAMissingStatistics<T>::of(const CsrMatrixView<T>& X, const Matrix<T>& W,
                                                      const Vector<T>& mean, T noise_variance, int n_threads) {
  check_csr(X, "X");  // a stored infinity is an error; NaN is missing
  // Rows made dense kChunkRows at a time: O(kChunkRows D) memory.
  constexpr Index kChunkRows = 4096;
  PPCAMissingStatistics statistics = of(RowMatrix<T>(0, X.cols), W, mean, noise_variance, n_threads);
  RowMatrix<T> dense;
  for (Index start = 0; start < X.rows; start += kChunkRows) {
    const Index rows = std::min(kChunkRows, X.rows - start);
    dense.resize(rows, X.cols);
    detail::csr_dense_rows(X, start, rows, dense.data());
    statistics.merge(of(dense, W, mean, noise_variance, n_threads));
  }
  return statistics;
}

template <class T>
void PPCAMissingStatistics<T>::merge(const PPCAMissingStatistics& other) {
  require(observed.size() == other.observed.size() && zz.rows() == other.zz.rows() && z.rows() == other.z.rows() &&
              xz.cols() == other.xz.cols(),
          "PPCAMissingStatistics.merge: the statistics are of different numbers of features or components");
  rows += other.rows;
  observed += other.observed;
  sum_x += other.sum_x;
  sum_xx += other.sum_xx;
  zz += other.zz;
  z += other.z;
  xz += other.xz;
  log_likelihood += other.log_likelihood;
}

template struct PPCAMissingStatistics<float>;
template struct PPCAMissingStatistics<double>;

}  // namespace vaekit
