// Probabilistic PCA (Tipping & Bishop, J. R. Statist. Soc. B 61(3), 1999).
//
//   z ~ N(0, I_d),  x | z ~ N(W z + mu, sigma^2 I_D),  so  x ~ N(mu, C),
//   C = W W^T + sigma^2 I.
//
// Fitted by the closed-form maximum-likelihood solution or by EM; EM also
// handles missing entries (NaN) exactly. Every per-sample quantity is computed
// in O(D d) with M = W^T W + sigma^2 I (d x d): the D x D matrix C is never
// inverted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "vaekit/common.hpp"
#include "vaekit/describe.hpp"

namespace vaekit {

namespace detail::ppca {
template <class T>
struct PosteriorCache;  // cpp/src/ppca_detail.hpp
}  // namespace detail::ppca

enum class PPCAMethod { ClosedForm, EM };
template <>
struct EnumNames<PPCAMethod> {
  static constexpr const char* what = "method";
  static constexpr std::array<const char*, 2> names{"closed_form", "em"};
};

struct PPCAOptions {
  Index n_components = 2;
  PPCAMethod method = PPCAMethod::ClosedForm;
  int max_iter = 1000;            // EM iterations at most
  double tol = 1e-6;              // EM stops when |L_k - L_{k-1}| <= tol * |L_k|
  std::uint64_t seed = 0;         // EM's random initialisation of W
  int n_threads = 0;              // <= 0: all cores
  // Called after each EM iteration with (iteration, mean log-likelihood);
  // returning false stops EM (the model keeps the last complete iteration).
  std::function<bool(int, double)> on_iteration;
  // Called on the calling thread between the passes of an EM iteration and
  // every 64 rows of the missing-value E-step (keep it cheap); returning false
  // abandons the iteration in progress: the model keeps the last complete one.
  std::function<bool()> keep_going;

  // The hyper-parameters (describe.hpp); the seed, the thread count and the
  // callbacks are arguments of a run.
  template <class Self, class Visit>
  static void fields(Self& self, Visit&& visit) {
    visit("n_components", self.n_components, Range::at_least(1));
    visit("method", self.method, Range::any());
    visit("max_iter", self.max_iter, Range::at_least(1));
    visit("tol", self.tol, Range::at_least(0));
  }
};

// What the closed-form fit needs of a set of samples: their count, mean,
// total squared deviation sum ||x - mean||^2 and (optionally) scatter
// sum (x - mean)(x - mean)^T. Computed block by block (a cluster's partitions,
// a file read in turn) and merged exactly by the pairwise update of Chan,
// Golub & LeVeque (1979), they give the model of the data in one array
// (PPCA::fit(moments, d)); without the scatter they are the first pass of
// PPCA::fit_em.
template <class T>
struct PPCAMoments {
  double count = 0;
  Eigen::VectorXd mean;         // D, in double
  double sum_of_squares = 0;    // sum_n ||x_n - mean||^2, the scatter's trace
  Matrix<T> scatter;            // D x D, lower triangle; empty when not computed

  // The moments of X's rows; an empty X gives count 0. Throws on NaN or infinity.
  static PPCAMoments of(ConstRowMatrixRef<T> X, bool with_scatter = true, int n_threads = 0);
  static PPCAMoments of(const CsrMatrixView<T>& X, bool with_scatter = true, int n_threads = 0);
  // The moments of both sets of samples (the scatter only when both have it).
  void merge(const PPCAMoments& other);
};

// What one EM iteration on data with missing values (NaN) needs of a set of
// rows under the current parameters (W, mean, noise variance): sums over the
// rows, so the statistics of blocks (a cluster's partitions, files read in
// turn) merge by addition. Per feature i the sums run over N_i, the rows
// where feature i is observed; <z_n> and <z_n z_n^T> are the moments of the
// posterior of row n given its observed entries (Tipping & Bishop 1999, eq.
// 25). They are O(D d^2) values whatever the number of rows. Without
// parameters (an empty W), only the counts and the sums of x and x^2, from
// which EM starts.
template <class T>
struct PPCAMissingStatistics {
  double rows = 0;               // rows summed over (those with nothing observed included)
  Eigen::VectorXd observed;      // D: |N_i|
  Eigen::VectorXd sum_x;         // D: sum over N_i of x_ni
  Eigen::VectorXd sum_xx;        // D: sum over N_i of x_ni^2
  Eigen::MatrixXd zz;            // d (d + 1) / 2 x D: the lower triangle of sum over N_i of <z_n z_n^T>, packed column by column
  Eigen::MatrixXd z;             // d x D: sum over N_i of <z_n>
  Eigen::MatrixXd xz;            // D x d: row i is sum over N_i of x_ni <z_n>
  double log_likelihood = 0;     // sum over the rows of log p(x_observed)

  // The statistics of X's rows, NaN entries missing (an infinity is an
  // error). W is D x d, or empty (D x 0 or 0 x 0) for the counts and sums only.
  static PPCAMissingStatistics of(ConstRowMatrixRef<T> X, const Matrix<T>& W, const Vector<T>& mean,
                                  T noise_variance, int n_threads = 0);
  // The same for sparse X: a stored NaN is missing, an implicit zero is an
  // observed zero. Rows are made dense a few thousand at a time.
  static PPCAMissingStatistics of(const CsrMatrixView<T>& X, const Matrix<T>& W, const Vector<T>& mean,
                                  T noise_variance, int n_threads = 0);
  // Adds other's sums (the same features and components).
  void merge(const PPCAMissingStatistics& other);
};

template <class T>
class PPCA {
 public:
  using Scalar = T;
  using Config = PPCAOptions;
  static constexpr const char* kKind = "PPCA";  // the model files' "kind"
  PPCA() = default;
  // A model from its parameters: components (d x D, the rows are the columns
  // of W), mean (D), noise variance sigma^2 > 0.
  PPCA(RowMatrix<T> components, Vector<T> mean, T noise_variance);

  // A fitted model as saved (model files): the constructor's checks, with the
  // fit's explained variance (d positive values), iteration count and
  // log-likelihood curve kept as given instead of recomputed.
  static PPCA restore(RowMatrix<T> components, Vector<T> mean, T noise_variance, Vector<T> explained_variance,
                      int n_iter, std::vector<double> log_likelihood_curve);

  // Maximum-likelihood fit. X is n x D, samples in rows; with method EM, NaN
  // entries are missing values. Throws InvalidArgument on bad input.
  static PPCA fit(ConstRowMatrixRef<T> X, const PPCAOptions& options);
  // The same for a sparse X: implicit zeros are observed values, and X is
  // never made dense. The closed form eigendecomposes the covariance formed
  // from the sparse Gram matrix X^T X, or, when a D x D matrix would cost more
  // than X itself, finds the leading eigenpairs from products with X
  // (block Krylov iteration); EM runs on sparse products. A stored NaN is a
  // missing value for method EM (whose E-step then makes a few thousand rows
  // dense at a time: O(n D d)) and an error for the closed form.
  static PPCA fit(const CsrMatrixView<T>& X, const PPCAOptions& options);
  // The closed-form fit of the samples whose moments (with their scatter)
  // are given: the model fit(X) gives for those samples.
  static PPCA fit(const PPCAMoments<T>& moments, Index n_components, int n_threads = 0);
  // EM on complete data held elsewhere (a cluster's blocks, files read in
  // turn). `moments` (no scatter needed) give n, mu and sum ||x - mu||^2;
  // each E-step asks scatter_product(W) for sum_n (x_n - mu)(x_n - mu)^T W
  // (D x d), e.g. the sum over the blocks of scatter_product(block, mu, W).
  // Options as for fit (method is ignored; on_iteration and keep_going run
  // on the calling thread between callbacks).
  static PPCA fit_em(const PPCAMoments<T>& moments,
                     const std::function<Matrix<T>(const Matrix<T>& W)>& scatter_product, const PPCAOptions& options);
  // EM on data with missing values held elsewhere. Each iteration asks
  // statistics(W, mean, noise_variance) for the statistics of all the rows
  // (e.g. PPCAMissingStatistics::of of each block, merged); the first call,
  // with an empty W and mean, gives the counts and sums EM starts from. The
  // same iterations as fit(X, options) with method EM on X's rows: equal up
  // to the order of summation. A feature observed nowhere is an error.
  static PPCA fit_em(const std::function<PPCAMissingStatistics<T>(const Matrix<T>& W, const Vector<T>& mean,
                                                                  T noise_variance)>& statistics,
                     const PPCAOptions& options);
  // sum over X's rows of (x - mean)(x - mean)^T W, D x d: one block's part
  // of fit_em's E-step.
  static Matrix<T> scatter_product(ConstRowMatrixRef<T> X, const Vector<T>& mean, const Matrix<T>& W,
                                   int n_threads = 0);
  static Matrix<T> scatter_product(const CsrMatrixView<T>& X, const Vector<T>& mean, const Matrix<T>& W,
                                   int n_threads = 0);

  Index n_components() const { return components_.rows(); }
  Index n_features() const { return components_.cols(); }
  const RowMatrix<T>& components() const { return components_; }
  const Vector<T>& mean() const { return mean_; }
  T noise_variance() const { return noise_variance_; }
  // Variances along the principal axes: the d largest eigenvalues of C.
  const Vector<T>& explained_variance() const { return explained_variance_; }
  int n_iter() const { return n_iter_; }
  // Mean log-likelihood per sample after each EM iteration (empty for closed form).
  const std::vector<double>& log_likelihood_curve() const { return log_likelihood_curve_; }

  // Internal: what every row's posterior shares (M^-1, log det M, W padded
  // for the kernels), computed once when the parameters are set.
  std::shared_ptr<const detail::ppca::PosteriorCache<T>> posterior_cache() const;
  // M^-1, M = W^T W + sigma^2 I (d x d): a complete row's posterior is
  // N(M^-1 W^T (x - mu), sigma^2 M^-1) (Tipping & Bishop 1999, eq. 25); the
  // value transform and encode use (e.g. to export transform as a graph).
  Matrix<T> m_inverse() const;
  // Posterior mean E[z | x] = M^-1 W^T (x - mu), n x d. A row with NaN
  // entries uses its observed coordinates only (its own M); with
  // allow_missing = false a NaN is an error instead (InvalidArgument), as is
  // an infinity always. The check rides on the computation's own pass.
  RowMatrix<T> transform(ConstRowMatrixRef<T> X, int n_threads = 0, bool allow_missing = true) const;
  // The same for sparse X, in O(nnz d + n d^2): no dense row is formed,
  // except for the rows with a stored NaN (a missing value; allow_missing as
  // for dense X).
  RowMatrix<T> transform(const CsrMatrixView<T>& X, int n_threads = 0, bool allow_missing = true) const;
  // The posterior p(z | x) = N(M^-1 W^T (x - mu), sigma^2 M^-1) of each row
  // (eq. 25): mean (n x d, transform's values bit for bit) and stddev (n x d),
  // the square roots of the diagonal of sigma^2 M^-1. A row with NaN entries
  // uses its own M_n = W_O^T W_O + sigma^2 I from its observed coordinates;
  // allow_missing and the errors as for transform. Same pass as transform.
  void encode(ConstRowMatrixRef<T> X, RowMatrix<T>& mean, RowMatrix<T>& stddev, int n_threads = 0,
              bool allow_missing = true) const;
  void encode(const CsrMatrixView<T>& X, RowMatrix<T>& mean, RowMatrix<T>& stddev, int n_threads = 0,
              bool allow_missing = true) const;
  // X with each NaN entry filled from p(x_m | x_O), the Gaussian of the
  // missing entries m of a row given its observed entries O (any fitted
  // model: x ~ N(mu, C) is complete whatever the fit saw). Through the
  // posterior z | x_O ~ N(z_n, s2 M_n^-1), M_n = W_O^T W_O + s2 I (eq. 25 on
  // O): sample = false gives the conditional mean E[x_m | x_O] = mu_m + W_m z_n;
  // sample = true an exact draw mu_m + W_m z + sigma eps', z from the
  // posterior. A row with nothing observed gets mu (mean) or a draw of x.
  // Observed entries are copied bit for bit; an infinity is an error. Row i's
  // draws come from the Philox stream keyed by (seed, hash of row i's bytes):
  // they depend neither on the row's position nor on the thread count (two
  // identical rows get the same draw).
  RowMatrix<T> impute(ConstRowMatrixRef<T> X, bool sample, std::uint64_t seed, int n_threads = 0) const;
  // Z W^T + mu, n x D.
  RowMatrix<T> inverse_transform(ConstRowMatrixRef<T> Z) const;
  // Exact log p(x) per sample; NaN entries are marginalised out (or an
  // error: allow_missing, as for transform).
  Vector<T> score_samples(ConstRowMatrixRef<T> X, int n_threads = 0, bool allow_missing = true) const;
  Vector<T> score_samples(const CsrMatrixView<T>& X, int n_threads = 0, bool allow_missing = true) const;
  // n draws of x; row i depends only on (seed, i).
  RowMatrix<T> sample(Index n_samples, std::uint64_t seed, int n_threads = 0) const;
  // C = W W^T + sigma^2 I and its inverse (Woodbury), D x D.
  Matrix<T> covariance() const;
  Matrix<T> precision() const;

 private:
  void finalize();  // canonical rotation of W, explained variance, then cache_posterior()
  void cache_posterior();  // posterior_ from the parameters
  template <class Fitted>
  static PPCA from_fitted(Fitted&& fitted);  // checks the parameters are finite, then finalize()

  RowMatrix<T> components_;  // d x D, W^T
  Vector<T> mean_;
  T noise_variance_ = T(1);
  Vector<T> explained_variance_;
  int n_iter_ = 0;
  std::vector<double> log_likelihood_curve_;
  std::shared_ptr<const detail::ppca::PosteriorCache<T>> posterior_;  // shared by copies: never changed
};

extern template struct PPCAMoments<float>;
extern template struct PPCAMoments<double>;
extern template struct PPCAMissingStatistics<float>;
extern template struct PPCAMissingStatistics<double>;
extern template class PPCA<float>;
extern template class PPCA<double>;

}  // namespace vaekit
