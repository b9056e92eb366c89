// PPCA's inference: the posterior pass behind transform, encode and
// score_samples (Tipping & Bishop 1999, eqs. 4 and 25), impute,
// inverse_transform and sample.
#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "numeric.hpp"
#include "parallel.hpp"
#include "ppca_detail.hpp"
#include "sparse.hpp"
#include "vaekit/random.hpp"

namespace vaekit {
namespace {

using detail::ppca::kBlockRows;

// What a posterior pass computes, each optional: the posterior means
// E[z|x] = M^-1 W^T (x - mu) (n x d), the posterior standard deviations
// sqrt(diag(s2 M^-1)) (n x d) and the exact log-likelihoods log p(x) (n).
template <class T>
struct PosteriorOutputs {
  RowMatrix<T>* means = nullptr;
  RowMatrix<T>* stddevs = nullptr;
  Vector<T>* log_likelihood = nullptr;
};

// What every row's posterior shares: the model's PosteriorCache (M = W^T W +
// s2 I, its inverse and log determinant, the posterior standard deviations of
// a complete row, W padded for the kernels) and the parameters.
template <class T>
struct SharedPosterior {
  explicit SharedPosterior(const PPCA<T>& model)
      : cache(model.posterior_cache()),
        Wt(model.components()),
        s2(model.noise_variance()),
        identity(Matrix<T>::Identity(Wt.rows(), Wt.rows())),
        M_inverse(cache->M_inverse),
        log_det_M(cache->log_det_M),
        log_s2(std::log(static_cast<double>(s2))),
        complete_stddev(cache->complete_stddev) {}
  std::shared_ptr<const detail::ppca::PosteriorCache<T>> cache;  // the model's (PPCA::posterior_cache)
  const RowMatrix<T>& Wt;  // d x D
  T s2;
  const Matrix<T> identity;
  const Matrix<T>& M_inverse;
  double log_det_M = 0, log_s2 = 0;
  const Vector<T>& complete_stddev;
};

// Sizes the requested outputs for n rows.
template <class T>
void resize_outputs(const PosteriorOutputs<T>& out, Index n, Index d) {
  if (out.means) out.means->resize(n, d);
  if (out.stddevs) out.stddevs->resize(n, d);
  if (out.log_likelihood) out.log_likelihood->resize(n);
}

void require_n_features(Index cols, Index n_features) {
  require(cols == n_features, "X has " + std::to_string(cols) + " features, but the model was fitted with " +
                                  std::to_string(n_features));
}

// The posterior of a row from its observed coordinates O alone (eq. 25 on O):
// M_n = s2 I + W_O^T W_O, its Cholesky factor, and the mean
// z_n = M_n^-1 W_O^T (x_O - mu_O). Reused from row to row (its buffers stay).
template <class T>
struct ObservedPosterior {
  std::vector<Index> observed;  // O
  Eigen::LLT<Matrix<T>> llt;    // M_n = L L^T
  Vector<T> mean;               // z_n

  // x: the row's D values, NaN where missing.
  void compute(const PPCA<T>& model, const T* x) {
    const RowMatrix<T>& Wt = model.components();
    const Index D = Wt.cols(), d = Wt.rows();
    const T s2 = model.noise_variance();
    observed.clear();
    for (Index i = 0; i < D; ++i)
      if (!std::isnan(x[i])) observed.push_back(i);
    Matrix<T> M_n = s2 * Matrix<T>::Identity(d, d);
    Vector<T> a = Vector<T>::Zero(d);
    for (Index i : observed) {
      M_n.noalias() += Wt.col(i) * Wt.col(i).transpose();
      a += (x[i] - model.mean()(i)) * Wt.col(i);
    }
    llt.compute(M_n);
    mean = llt.solve(a);
  }
};

constexpr const char* kNaNNotAllowed = "X contains NaN (missing values are for a model fitted with method=\"em\")";

// float: p and z carry relative errors of ~sqrt(D) eps from the products.
template <class T>
constexpr double kWoodburySafe = sizeof(T) == 4 ? 0.1 : 1e-3;

// The posteriors of rows [start, start + rows) of complete data from their
// projections p = W^T c (`projected`, row r at projected + r * stride) and
// squared norms ||c||^2 (norms, needed for the log-likelihood): z = M^-1 p
// into Z, the log-likelihoods and the standard deviations into `out`.
// centred_row(r, c) writes row r's c = x - mu (D values) for the rows whose
// log-likelihood takes formula (b).
template <class T, class CentredRow>
void complete_rows(const SharedPosterior<T>& shared, const PosteriorOutputs<T>& out, Index start, Index rows,
                   const T* projected, Index stride, const double* norms, RowMatrix<T>& Z, Vector<T>& residual,
                   CentredRow&& centred_row) {
  const Index d = shared.Wt.rows(), D = shared.Wt.cols();
  const Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>> P(projected, rows, d, Eigen::OuterStride<>(stride));
  detail::gemm(P, shared.M_inverse, Z.topRows(rows));
  if (out.log_likelihood) {
    for (Index r = 0; r < rows; ++r) {
      const double explained = static_cast<double>(P.row(r).dot(Z.row(r)));
      double quadratic = (norms[r] - explained) / shared.s2;
      if (!(norms[r] - explained >= kWoodburySafe<T> * norms[r])) {  // (b), see above
        centred_row(r, residual);
        residual.noalias() -= shared.Wt.transpose() * Z.row(r).transpose();
        quadratic = residual.template cast<double>().squaredNorm() / shared.s2 +
                    Z.row(r).template cast<double>().squaredNorm();
      }
      (*out.log_likelihood)(start + r) =
          static_cast<T>(-0.5 * (D * detail::kLog2Pi + (D - d) * shared.log_s2 + shared.log_det_M + quadratic));
    }
  }
  if (out.stddevs) out.stddevs->middleRows(start, rows).rowwise() = shared.complete_stddev.transpose();
}

// The posterior and/or exact log-likelihood of the rows of X, block by block:
// one GEMM for the complete rows of a block, a per-row solve for rows with
// NaN, whose M_n = s2 I + W_O^T W_O comes from their observed coordinates O.
// With c = x - mu, p = W^T c and z = E[z|x] = M^-1 p, Woodbury gives the
// quadratic form
//   c^T C^-1 c = (||c||^2 - p^T z) / s2                                  (a)
//              = ||c - W z||^2 / s2 + ||z||^2                            (b)
// (a) costs O(d) per row once p and z are known; (b) is a sum of
// non-negative terms, exact even when x lies almost in the span of W, but
// needs a second O(D d) product. A row takes (a) when its difference keeps
// at least kWoodburySafe of ||c||^2 (the relative rounding error of (a) is then
// below a few eps / kWoodburySafe), else it is redone with (b).
// Each row is computed the same way whatever is asked for and whatever the
// thread count: the means of encode are those of transform, bit for bit.
template <class T>
void posterior_pass(const PPCA<T>& model, ConstRowMatrixRef<T> X, const PosteriorOutputs<T>& out, int n_threads,
                    bool allow_missing) {
  const Index n = X.rows(), D = model.n_features(), d = model.n_components();
  require_n_features(X.cols(), D);
  detail::ThreadScope threads(n_threads);
  int saw_infinity = 0, saw_nan = 0;
  const SharedPosterior<T> shared(model);
  const RowMatrix<T>& Wt = shared.Wt;
  const T s2 = shared.s2;
  resize_outputs(out, n, d);
  const int blocks = static_cast<int>(detail::ppca::block_count(n));
  // p = W^T c, as in the EM E-step.
  const detail::ppca::PaddedProduct<T>& product = shared.cache->product;
  // Work: the products p = W^T c (2 n D d flops) and z = M^-1 p (2 n d^2),
  // and the centring pass over X.
  const double nd = static_cast<double>(n) * d;
  const detail::Work work{2.0 * nd * D + 2.0 * nd * d, static_cast<double>(n) * D};

#pragma omp parallel if(detail::worth_parallel(work)) reduction(| : saw_infinity, saw_nan)
  {
    const auto centre = detail::kernels<T>().centre;
    RowMatrix<T> centred(kBlockRows, D), projected_padded(kBlockRows, product.padded_cols()), z(kBlockRows, d);
    Vector<T> residual(D);
    std::vector<double> norms(kBlockRows);
    std::vector<Index> nan_rows;
    ObservedPosterior<T> posterior;
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const Index start = static_cast<Index>(b) * kBlockRows;
      const Index rows = std::min(kBlockRows, n - start);
      nan_rows.clear();
      for (Index r = 0; r < rows; ++r) {
        T norm = 0;
        if (!centre(X.row(start + r).data(), model.mean().data(), D, centred.row(r).data(), &norm)) {
          if ((centred.row(r).array().abs() == std::numeric_limits<T>::infinity()).any()) saw_infinity = 1;
          if (!allow_missing) saw_nan = 1;
          nan_rows.push_back(r);
          centred.row(r).setZero();  // keeps the block GEMM finite; redone below
          norm = 0;
        }
        norms[r] = static_cast<double>(norm);
      }
      auto C = centred.topRows(rows);
      auto Z = z.topRows(rows);
      product.run(C.data(), rows, projected_padded.data());
      complete_rows<T>(shared, out, start, rows, projected_padded.data(), projected_padded.cols(), norms.data(), z,
                       residual, [&](Index r, Vector<T>& c) { c = C.row(r).transpose(); });
      // Rows with missing entries: their own M_n = s2 I + W_O^T W_O.
      for (Index r : nan_rows) {
        posterior.compute(model, X.row(start + r).data());
        const Index n_obs = static_cast<Index>(posterior.observed.size());
        const Eigen::LLT<Matrix<T>>& llt_n = posterior.llt;
        const Vector<T>& z_n = posterior.mean;
        Z.row(r) = z_n.transpose();
        if (out.stddevs) {
          out.stddevs->row(start + r) = (s2 * llt_n.solve(shared.identity).diagonal()).cwiseSqrt().transpose();
        }
        if (out.log_likelihood) {
          double residual_sq = 0;
          for (Index i : posterior.observed) {
            const double e = static_cast<double>(X(start + r, i) - model.mean()(i)) - Wt.col(i).dot(z_n);
            residual_sq += e * e;
          }
          const double log_det_n = detail::cholesky_log_determinant(llt_n);
          const double quadratic = residual_sq / s2 + z_n.template cast<double>().squaredNorm();
          // A row with nothing observed has log p(x_O) = log 1 = 0 exactly; the
          // formula's (0 - d) log s2 + log det(s2 I) would cancel only to rounding.
          (*out.log_likelihood)(start + r) =
              n_obs == 0 ? T(0)
                         : static_cast<T>(-0.5 * (n_obs * detail::kLog2Pi + (n_obs - d) * shared.log_s2 + log_det_n +
                                                  quadratic));
        }
      }
      if (out.means) out.means->middleRows(start, rows) = Z;
    }
  }
  require(!saw_infinity, "X contains infinity");
  require(!saw_nan, kNaNNotAllowed);
}

// The rows of sparse X with a stored NaN, through the dense pass (which uses
// each row's observed coordinates): their outputs replace the sparse pass's.
template <class T>
void redo_missing_rows(const PPCA<T>& model, const CsrMatrixView<T>& X, const PosteriorOutputs<T>& out,
                       int n_threads) {
  std::vector<Index> rows;
  for (Index r = 0; r < X.rows; ++r) {
    for (std::int64_t e = X.indptr[r]; e < X.indptr[r + 1]; ++e) {
      if (std::isnan(X.values[e])) {
        rows.push_back(r);
        break;
      }
    }
  }
  RowMatrix<T> dense(static_cast<Index>(rows.size()), X.cols);
  for (Index k = 0; k < dense.rows(); ++k) detail::csr_dense_rows(X, rows[k], 1, dense.row(k).data());
  RowMatrix<T> means, stddevs;
  Vector<T> log_likelihood;
  const PosteriorOutputs<T> missing{out.means ? &means : nullptr, out.stddevs ? &stddevs : nullptr,
                                    out.log_likelihood ? &log_likelihood : nullptr};
  posterior_pass<T>(model, dense, missing, n_threads, /*allow_missing=*/true);
  for (Index k = 0; k < dense.rows(); ++k) {
    if (out.means) out.means->row(rows[k]) = means.row(k);
    if (out.stddevs) out.stddevs->row(rows[k]) = stddevs.row(k);
    if (out.log_likelihood) (*out.log_likelihood)(rows[k]) = log_likelihood(k);
  }
}

// The same for sparse X: p = W^T x - W^T mu from the stored entries,
// ||c||^2 = ||x||^2 - 2 mu^T x + ||mu||^2. Rows with a stored NaN (missing
// values, allow_missing) are redone by the dense pass, made dense one by one.
template <class T>
void posterior_pass(const PPCA<T>& model, const CsrMatrixView<T>& X, const PosteriorOutputs<T>& out, int n_threads,
                    bool allow_missing) {
  const Index n = X.rows, D = model.n_features(), d = model.n_components();
  require_n_features(X.cols, D);
  const bool has_missing = check_csr(X, "X");
  require(allow_missing || !has_missing, kNaNNotAllowed);
  detail::ThreadScope threads(n_threads);
  const SharedPosterior<T> shared(model);
  resize_outputs(out, n, d);
  const Vector<T>& mu = model.mean();
  const RowMatrix<T> W = shared.Wt.transpose();  // D x d, row-major: the sparse product's layout
  RowMatrix<T> projected(n, d);
  detail::csr_times(X, W.data(), d, projected.data());
  projected.rowwise() -= (shared.Wt * mu).transpose();
  const double mu_sq = mu.template cast<double>().squaredNorm();
  const int blocks = static_cast<int>(detail::ppca::block_count(n));
  const double nd = static_cast<double>(n) * d;
  const detail::Work work{2.0 * nd * d, 2.0 * static_cast<double>(X.nnz())};
#pragma omp parallel if(detail::worth_parallel(work))
  {
    RowMatrix<T> z(kBlockRows, d);
    Vector<T> residual(D);
    std::vector<double> norms(kBlockRows);
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const Index start = static_cast<Index>(b) * kBlockRows;
      const Index rows = std::min(kBlockRows, n - start);
      if (out.log_likelihood) {
        for (Index r = 0; r < rows; ++r) {
          double x_sq = 0, x_mu = 0;
          for (std::int64_t e = X.indptr[start + r]; e < X.indptr[start + r + 1]; ++e) {
            const double value = X.values[e];
            x_sq += value * value;
            x_mu += value * static_cast<double>(mu(X.indices[e]));
          }
          norms[r] = std::max(x_sq - 2 * x_mu + mu_sq, 0.0);
        }
      }
      complete_rows<T>(shared, out, start, rows, projected.row(start).data(), d, norms.data(), z, residual,
                       [&](Index r, Vector<T>& c) {
                         c = -mu;
                         for (std::int64_t e = X.indptr[start + r]; e < X.indptr[start + r + 1]; ++e)
                           c(X.indices[e]) += X.values[e];
                       });
      if (out.means) out.means->middleRows(start, rows) = z.topRows(rows);
    }
  }
  if (has_missing) redo_missing_rows<T>(model, X, out, n_threads);
}

// A normal draw (a Philox block shared by two draws, and Box-Muller's log,
// sqrt, sin and cos) takes about as long as 100 values of an element-wise
// pass (measured: 100 ns against 0.5-0.7 ns per value).
constexpr double kValuesPerNormalDraw = 100;

// Salt of impute's draws: mix_seed(seed, kSeedImputation) keys the rows' streams.
constexpr std::uint64_t kSeedImputation = 0x1397;

}  // namespace

template <class T>
Matrix<T> PPCA<T>::m_inverse() const {
  return posterior_cache()->M_inverse;
}

template <class T>
RowMatrix<T> PPCA<T>::transform(ConstRowMatrixRef<T> X, int n_threads, bool allow_missing) const {
  RowMatrix<T> means;
  posterior_pass<T>(*this, X, {&means, nullptr, nullptr}, n_threads, allow_missing);
  return means;
}

template <class T>
void PPCA<T>::encode(ConstRowMatrixRef<T> X, RowMatrix<T>& mean, RowMatrix<T>& stddev, int n_threads,
                     bool allow_missing) const {
  posterior_pass<T>(*this, X, {&mean, &stddev, nullptr}, n_threads, allow_missing);
}

template <class T>
Vector<T> PPCA<T>::score_samples(ConstRowMatrixRef<T> X, int n_threads, bool allow_missing) const {
  Vector<T> log_likelihood;
  posterior_pass<T>(*this, X, {nullptr, nullptr, &log_likelihood}, n_threads, allow_missing);
  return log_likelihood;
}

template <class T>
RowMatrix<T> PPCA<T>::transform(const CsrMatrixView<T>& X, int n_threads, bool allow_missing) const {
  RowMatrix<T> means;
  posterior_pass<T>(*this, X, {&means, nullptr, nullptr}, n_threads, allow_missing);
  return means;
}

template <class T>
void PPCA<T>::encode(const CsrMatrixView<T>& X, RowMatrix<T>& mean, RowMatrix<T>& stddev, int n_threads,
                     bool allow_missing) const {
  posterior_pass<T>(*this, X, {&mean, &stddev, nullptr}, n_threads, allow_missing);
}

template <class T>
Vector<T> PPCA<T>::score_samples(const CsrMatrixView<T>& X, int n_threads, bool allow_missing) const {
  Vector<T> log_likelihood;
  posterior_pass<T>(*this, X, {nullptr, nullptr, &log_likelihood}, n_threads, allow_missing);
  return log_likelihood;
}

// Rows with NaN only: each takes its posterior z | x_O ~ N(z_n, s2 M_n^-1)
// from ObservedPosterior (the pass's own code), and its missing coordinates
// m get mu_m + W_m z_n, the Gaussian conditional mean
// E[x_m | x_O] = mu_m + C_mO C_OO^-1 (x_O - mu_O) (the Woodbury identity
// turns C_OO^-1 into M_n^-1). A draw takes z = z_n + sigma L^-T eps
// (M_n = L L^T, so L^-T eps has covariance M_n^-1) and adds the noise
// sigma eps' of x | z: z then x_m | z are exact draws, so x_m is one of
// p(x_m | x_O).
template <class T>
RowMatrix<T> PPCA<T>::impute(ConstRowMatrixRef<T> X, bool sample, std::uint64_t seed, int n_threads) const {
  const Index D = n_features(), d = n_components();
  require_n_features(X.cols(), D);
  detail::ThreadScope threads(n_threads);
  RowMatrix<T> imputed = X;  // observed entries bit for bit
  std::vector<Index> incomplete;
  for (Index i = 0; i < X.rows(); ++i) {
    if (all_finite(imputed.row(i).data(), D)) continue;
    require(!(imputed.row(i).array().abs() == std::numeric_limits<T>::infinity()).any(), "X contains infinity");
    incomplete.push_back(i);
  }
  const int n_incomplete = static_cast<int>(incomplete.size());
  const std::uint64_t imputation_seed = mix_seed(seed, kSeedImputation);
  const T noise_std = std::sqrt(noise_variance_);
  // Work per incomplete row: M_n (2 D d^2 flops), the d + D draws of a sample.
  const double per_row = 2.0 * D * d * d;
  const detail::Work work{n_incomplete * per_row,
                          sample ? n_incomplete * (d + D) * kValuesPerNormalDraw : 0.0};
#pragma omp parallel if(detail::worth_parallel(work))
  {
    ObservedPosterior<T> posterior;
    Vector<T> z(d), eps(d);
#pragma omp for schedule(dynamic, 16)
    for (int k = 0; k < n_incomplete; ++k) {
      T* x = imputed.row(incomplete[k]).data();
      posterior.compute(*this, x);
      z = posterior.mean;
      // x still holds X's row (nothing is filled yet): its bytes key the stream.
      Philox rng(sample ? mix_seed(imputation_seed, detail::hash_row(x, D)) : 0);
      if (sample) {
        rng.fill_normal(eps.data(), d);
        z.noalias() += noise_std * posterior.llt.matrixU().solve(eps);
      }
      for (Index i = 0; i < D; ++i) {
        if (!std::isnan(x[i])) continue;
        x[i] = mean_(i) + components_.col(i).dot(z);
        if (sample) x[i] += noise_std * static_cast<T>(rng.normal());
      }
    }
  }
  return imputed;
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
  // Work: d + D normal draws per row.
  const detail::Work work = detail::Work::of_values(static_cast<double>(n_samples) * (d + D) * kValuesPerNormalDraw);
#pragma omp parallel for schedule(static) if(detail::worth_parallel(work))
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

// The members defined here (the class itself is instantiated in ppca_model.cpp,
// which defines the others).
#define VAEKIT_PPCA_INFERENCE(T)                                                                              \
  template Matrix<T> PPCA<T>::m_inverse() const;                                                               \
  template RowMatrix<T> PPCA<T>::transform(ConstRowMatrixRef<T>, int, bool) const;                            \
  template void PPCA<T>::encode(ConstRowMatrixRef<T>, RowMatrix<T>&, RowMatrix<T>&, int, bool) const;         \
  template Vector<T> PPCA<T>::score_samples(ConstRowMatrixRef<T>, int, bool) const;                           \
  template RowMatrix<T> PPCA<T>::transform(const CsrMatrixView<T>&, int, bool) const;                         \
  template void PPCA<T>::encode(const CsrMatrixView<T>&, RowMatrix<T>&, RowMatrix<T>&, int, bool) const;      \
  template Vector<T> PPCA<T>::score_samples(const CsrMatrixView<T>&, int, bool) const;                        \
  template RowMatrix<T> PPCA<T>::impute(ConstRowMatrixRef<T>, bool, std::uint64_t, int) const;                \
  template RowMatrix<T> PPCA<T>::inverse_transform(ConstRowMatrixRef<T>) const;                               \
  template RowMatrix<T> PPCA<T>::sample(Index, std::uint64_t, int) const;
VAEKIT_PPCA_INFERENCE(float)
VAEKIT_PPCA_INFERENCE(double)
#undef VAEKIT_PPCA_INFERENCE

}  // namespace vaekit
