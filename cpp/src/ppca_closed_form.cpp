// PPCA's closed-form maximum likelihood (Tipping & Bishop 1999, eqs. 7-8),
// and the scans of the input that every fit starts with.
#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "parallel.hpp"
#include "ppca_detail.hpp"
#include "sparse.hpp"
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

// mean_and_covariance's largest correction n delta^T delta, relative to the
// scatter's trace, before it centres again.
constexpr double kMaxShiftCorrection = 1e-2;

// The scatter sum (x - c)(x - c)^T of X's rows about c (lower triangle
// filled), centred block by block so that no copy of X is made and no
// cancellation from a large mean creeps in; each thread accumulates a
// symmetric rank-k update (half the flops of a general product). With
// `sums`, also the column sums of x - c, in double, from the same pass.
template <class T>
Matrix<T> scatter_of(ConstRowMatrixRef<T> X, const Vector<T>& c, Eigen::VectorXd* sums = nullptr) {
  const Index n = X.rows(), D = X.cols();
  Matrix<T> total = Matrix<T>::Zero(D, D);
  if (sums) *sums = Eigen::VectorXd::Zero(D);
  const Index block_rows = reduction_block_rows<T>(n, D);
  const int blocks = static_cast<int>((n + block_rows - 1) / block_rows);
  // Work: the rank-k updates, n D (D + 1) flops (one triangle of 2 n D^2),
  // and the centring pass over X.
  const Work work{static_cast<double>(n) * D * (D + 1), static_cast<double>(n) * D};
#pragma omp parallel if(worth_parallel(work))
  {
    Matrix<T> local = Matrix<T>::Zero(D, D);
    Eigen::VectorXd local_sums = Eigen::VectorXd::Zero(sums ? D : 0);
    RowMatrix<T> centred(std::min(block_rows, n), D);
    const auto centre = kernels<T>().centre;
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const Index start = static_cast<Index>(b) * block_rows;
      const Index rows = std::min(block_rows, n - start);
      for (Index r = 0; r < rows; ++r) centre(X.row(start + r).data(), c.data(), D, centred.row(r).data(), nullptr);
      // Row by row (a column-wise sum of the row-major block strides through
      // it: 18% of the pass at D = 300).
      if (sums)
        for (Index r = 0; r < rows; ++r) local_sums += centred.row(r).transpose().template cast<double>();
      rank_update_lower(centred.topRows(rows), local);
    }
#pragma omp critical(vaekit_covariance)
    {
      total.template triangularView<Eigen::Lower>() += local;
      if (sums) *sums += local_sums;
    }
  }
  return total;
}

}  // namespace

template <class T>
Vector<T> mean_and_covariance(ConstRowMatrixRef<T> X, Matrix<T>& S) {
  const Index n = X.rows(), D = X.cols();
  // c: the mean of rows spread evenly through X (sorted data included). The
  // mean mu = c + delta then follows from the column sums of x - c, and
  // sum (x - mu)(x - mu)^T = sum (x - c)(x - c)^T - n delta delta^T. While
  // the correction is a small part of the scatter (delta: about the standard
  // deviation / sqrt(sampled rows)) it cancels no digits; otherwise X is
  // centred again on mu, as a second pass would.
  const Index sampled = std::min(n, reduction_block_rows<T>(n, D));
  Eigen::VectorXd c_sum = Eigen::VectorXd::Zero(D);
  for (Index i = 0; i < sampled; ++i) c_sum += X.row(i * n / sampled).transpose().template cast<double>();
  const Vector<T> c = (c_sum / static_cast<double>(sampled)).template cast<T>();
  Eigen::VectorXd sums;
  S = scatter_of<T>(X, c, &sums);
  const Eigen::VectorXd delta = sums / static_cast<double>(n);
  const Vector<T> mean = (c.template cast<double>() + delta).template cast<T>();
  const double correction = static_cast<double>(n) * delta.squaredNorm();
  const double trace = S.diagonal().template cast<double>().sum();
  if (!(correction <= kMaxShiftCorrection * trace)) {
    if (mean.allFinite()) S = scatter_of<T>(X, mean);  // (not finite: the caller says what is wrong with X)
  } else {
    S.template triangularView<Eigen::Lower>() -=
        (static_cast<double>(n) * delta * delta.transpose()).template cast<T>();
  }
  S.template triangularView<Eigen::Lower>() *= T(1) / static_cast<T>(n);
  return mean;
}

namespace {

// The d leading eigenpairs (eigenvalues descending) of a symmetric positive
// semi-definite D x D operator given by its products, apply(Q, Y): Y = S Q
// for D x b blocks Q. Thick-restart block Lanczos (Krylov-Schur style): the
// orthonormal basis V grows by blocks R = orth(S V_newest) (orthogonalised
// twice against all of V) up to `capacity` columns, S V is kept beside it,
// and the Ritz pairs of V^T S V are taken; the basis then restarts from the
// leading half of the Ritz vectors (with their products by S, known without
// a product) plus the last R, which holds every Ritz residual. Convergence is
// that of an unrestarted Krylov space (a Chebyshev polynomial of S), far
// fewer products than subspace iteration when the spectrum has no large gap.
// Each product is with `block` columns; the basis holds at least
// min_capacity and 8 max(block, d) columns (at most D). A product by an
// explicit matrix is about as fast for 20 columns as for one (the matrix is
// read once), so wide blocks suit it. A sparse product (csr_gram_times) also
// reads X once per block, but its arithmetic grows with the columns, and so
// does the iteration's count of vector products: on the 200,000 x 20,000 CSR
// at 0.1%, blocks of 20 took 4-6x more vector products than blocks of 3
// (52 s against 10-13 s), and blocks of 4 need 210 block products against
// 240 for blocks of 3 (13% less time). At least 2 so that a repeated
// eigenvalue is found twice.
// Stops when every wanted Ritz pair has a residual ||S u - theta u|| below
// tol * theta_1 (eigenvalue errors below residual^2 / gap); returns false if
// that did not happen within max_products block products, or, when
// may_give_up, as soon as the residuals' decline projects it will not (the
// pairs are then the best found).
template <class T, class Apply>
bool krylov_eigenpairs(Index D, Index d, Index block, Index min_capacity, Apply&& apply, Index max_products,
                       bool may_give_up, Vector<T>& values, Matrix<T>& vectors) {
  const Index b = std::min(D, block);
  const Index capacity = std::min(D, std::max(min_capacity, 8 * std::max(b, d)));
  const double tol = std::pow(static_cast<double>(std::numeric_limits<T>::epsilon()), 2.0 / 3.0);
  // H = V^T S V, filled block by block: the first orthogonalisation pass of
  // S V_j against V computes V^T S V_j anyway.
  Matrix<T> V(D, capacity), SV(D, capacity), H = Matrix<T>::Zero(capacity, capacity), R(D, b), projection(D, b),
      coefficients;
  Philox rng(0x5eed5eedull, 1);
  Matrix<T> Q(D, b);
  // R <- an orthonormal basis of R's part orthogonal to V's first `width`
  // columns; random directions where that part is (numerically) empty. The
  // first pass's coefficients V^T R go to H's columns [column, column + b).
  auto orthonormalise = [&](Index width, Index column) {
    for (int attempt = 0;; ++attempt) {
      for (int pass = 0; pass < 2 && width > 0; ++pass) {
        // Both products read all of V (D x width) for b columns, threaded
        // by rows: a quarter of a sparse iteration's time (measured on the
        // 200,000 x 20,000 CSR at 0.1%), 1.4x less than Eigen's one thread.
        coefficients = detail::parallel_transposed_product<T>(V.leftCols(width), R);
        if (attempt == 0 && pass == 0 && column >= 0) {
          H.block(0, column, width, b) = coefficients;
          H.block(column, 0, b, width) = coefficients.transpose();
        }
        detail::parallel_product(projection, V.leftCols(width), coefficients);
        R -= projection;
      }
      Q = R;
      const Vector<T> diagonal = detail::orthonormalise_columns(Q).cwiseAbs();
      const double largest = static_cast<double>(diagonal.maxCoeff());
      const double threshold = 1e3 * std::numeric_limits<T>::epsilon() * std::max(largest, 1e-300);
      if (static_cast<double>(diagonal.minCoeff()) > threshold || attempt == 2) break;
      // Random directions in place of the columns that added none (the
      // Krylov space is exhausted in them: S of low rank plus a multiple of
      // I, or of exact rank); the others are kept, and with them every
      // direction the space had gained (new noise in every column lost them,
      // and the iteration crawled: 17 block products instead of 2).
      for (Index j = 0; j < b; ++j)
        if (static_cast<double>(diagonal(j)) <= threshold)
          for (Index i = 0; i < D; ++i) R(i, j) += static_cast<T>(rng.normal());
    }
    R = Q;
  };
  for (Index j = 0; j < b; ++j)
    for (Index i = 0; i < D; ++i) R(i, j) = static_cast<T>(rng.normal());
  orthonormalise(0, -1);
  V.leftCols(b) = R;
  Index width = b, newest = 0, products = 0;
  Matrix<T> U, SU, Y;
  Vector<T> theta, ritz_values;
  T lowest_ritz_value = 0;
  // theta_{max(b, d) + 1}, 0-based from the top: the first eigenvalue beyond
  // the block's reach, which sets the convergence rate (`hopeless`).
  const Index next_index = std::max(b, d);
  // The `count` (>= d) leading Ritz pairs of the first w basis columns, in
  // descending order of Ritz value: theta, U = V Y and SU = S U; values and
  // vectors get the d leading ones. Returns the largest of their residuals
  // ||S u - theta u|| over its tolerance: converged when at most 1. Only the
  // pairs used are computed (leading_eigen), not all of H's eigenvectors by
  // QR (a smooth spectrum, D = 784, float: 12 block products took 52 ms
  // with them, 41 ms without).
  auto ritz_pairs = [&](Index w, Index count) {
    const Index wanted = std::min(w, std::max(count, next_index + 1));
    detail::leading_symmetric_eigen(H.topLeftCorner(w, w), wanted, ritz_values, &Y, &lowest_ritz_value);
    theta = ritz_values.head(count);
    Y.conservativeResize(w, count);
    U.resize(D, count);
    SU.resize(D, count);
    detail::parallel_product(U, V.leftCols(w), Y);
    detail::parallel_product(SU, SV.leftCols(w), Y);
    values = theta.head(d);
    vectors = U.leftCols(d);
    const double scale = std::max(static_cast<double>(std::abs(theta(0))), std::numeric_limits<double>::min());
    double worst = 0;  // the largest residual over its tolerance
    for (Index i = 0; i < d; ++i)
      worst = std::max(worst, static_cast<double>((SU.col(i) - theta(i) * U.col(i)).norm()) / (tol * scale));
    return worst;
  };
  // Whether the iteration should give up (when may_give_up): the products
  // it still needs project past max_products. Their count is projected from
  // the Ritz values of the last ritz_pairs(w, .) call, as for a Chebyshev
  // polynomial: the residuals shrink by about exp(-2 sqrt(gamma)) per block
  // product, gamma = (theta_d - theta_{b+1}) / (theta_{b+1} - theta_min)
  // (a block of b >= d columns: the gap that matters is the d-th eigenvalue's
  // to the (b+1)-th), and from the residuals' own decline since the previous
  // check, whichever is faster; a decline slower than e^-0.1 per product
  // means it stalled (float32's rounding can hold the residuals just above
  // the tolerance). Without a gap after the d-th eigenvalue both are slow from
  // the start, and the caller's direct solver then beats finishing (a smooth
  // spectrum, eigenvalue 20 / 21 = 1.005, D = 784, double: the iteration
  // gives up after 5 block products, 13 ms, against 45 ms direct).
  double last_worst = -1;
  Index last_products = 0;
  auto hopeless = [&](Index w, double worst) {
    double rate = 0;  // log of the residuals' shrinking per block product
    if (w > next_index + 1) {
      const double theta_d = ritz_values(d - 1), next = ritz_values(next_index), lowest = lowest_ritz_value;
      if (next > lowest) rate = 2.0 * std::sqrt(std::max((theta_d - next) / (next - lowest), 0.0));
    }
    bool stalled = false;  // at the precision's floor, or making no progress
    if (last_worst > 0 && products > last_products) {
      const double observed = std::log(last_worst / worst) / static_cast<double>(products - last_products);
      stalled = observed < 0.1;
      rate = std::max(rate, observed);
    }
    last_worst = worst;
    last_products = products;
    return may_give_up && (stalled || rate <= 0 ||
                           static_cast<double>(products) + std::log(worst) / rate > static_cast<double>(max_products));
  };
  while (true) {
    // Convergence is checked at a third and two thirds of each cycle as well
    // as at its end, so that a spectrum with a gap stops as soon as it can
    // (a CSR of rank-5 values: 55 block products instead of 60, 1.0 s instead of 1.6 s).
    const Index start = width, span = capacity - start;
    while (true) {
      apply(V.middleCols(newest, b), R);
      SV.middleCols(newest, b) = R;
      ++products;
      orthonormalise(width, newest);
      if (width + b > capacity) break;  // R starts the next cycle
      const bool checkpoint = width >= d && ((width - start) * 3 / span != (width + b - start) * 3 / span);
      if (checkpoint) {
        const double worst = ritz_pairs(width, d);
        if (worst <= 1) return true;
        if (hopeless(width, worst)) return false;
      }
      V.middleCols(width, b) = R;
      newest = width;
      width += b;
    }
    // The leading half of the Ritz pairs restarts the basis.
    const Index keep = std::max(d, std::min(width - b, capacity / 2));
    const double worst = ritz_pairs(width, keep);
    if (worst <= 1) return true;
    if (products >= max_products || keep + b > capacity || hopeless(width, worst)) return false;
    V.leftCols(keep) = U;
    SV.leftCols(keep) = SU;
    H.topLeftCorner(keep, keep) = theta.asDiagonal();  // U^T S U
    V.middleCols(keep, b) = R;  // orthogonal to the old V, so to U
    newest = keep;
    width = keep + b;
  }
}

// The d leading eigenpairs of a symmetric positive semi-definite matrix S
// (lower triangle given; the upper is filled here), eigenvalues descending:
// krylov_eigenpairs with products by S, where the direct solver's
// tridiagonalisation costs 4/3 D^3 flops of matrix-vector work (0.04 s at
// D = 784 in double, several seconds at D = 3000; the eigenvectors of all
// of S would cost 4x more, which the direct solver avoids: kernels'
// leading_eigen).
// Matrices up to 40 block widths, and a spectrum that gives the iteration no
// gap in time, go to the direct solver, so the result is always the exact
// decomposition to working precision.
template <class T>
void leading_eigenpairs(Matrix<T>& S, Index d, Vector<T>& values, Matrix<T>& vectors) {
  const Index D = S.rows();
  S.template triangularView<Eigen::StrictlyUpper>() = S.transpose();
  auto full_solver = [&] { detail::leading_symmetric_eigen(S, d, values, &vectors); };
  const Index k = std::max<Index>(2 * d, d + 10);
  if (4 * k >= D || D <= 64) {
    full_solver();
    return;
  }
  // The iteration's budget: about what the direct solver costs, whose
  // 4/3 D^3 flops run at matrix-vector speed, against 2 D^2 k flops at
  // matrix-matrix speed per block product (D = 784, d = 20: the direct
  // solver takes 45 ms in double and 24 ms in float, an iteration that
  // converges with a clear gap 13-21 ms and 8 ms).
  auto apply = [&](const auto& Q, Matrix<T>& Y) { detail::parallel_product(Y, S, Q); };
  if (!krylov_eigenpairs<T>(D, d, k, 0, apply, std::max<Index>(12, D / k), /*may_give_up=*/true, values, vectors))
    full_solver();
}

// The d leading eigenpairs of the sample covariance for n < D (n >= D:
// mean_and_covariance, then fit_closed_form_covariance): the thin SVD Xc = U S V^T of the centred data through
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
  detail::rank_update_lower(centred.transpose(), gram);
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

// The closed form (eqs. 7-8) from the covariance's d leading eigenpairs and its trace.
template <class T>
FittedParameters<T> closed_form_from_eigenpairs(Vector<T> mean, const Vector<T>& top_values,
                                                const Matrix<T>& top_vectors, double trace) {
  const Index D = mean.size(), d = top_values.size();
  FittedParameters<T> fit;
  fit.mean = std::move(mean);
  // sigma^2 = mean of the D - d discarded eigenvalues (eq. 8).
  const double retained = top_values.template cast<double>().sum();
  const double discarded = D > d ? std::max(trace - retained, 0.0) / static_cast<double>(D - d) : 0.0;
  fit.noise_variance = std::max(static_cast<T>(discarded), noise_floor<T>(top_values(0)));
  fit.components = components_from_eigen<T>(top_vectors, top_values, fit.noise_variance);
  fit.n_iter = 1;
  return fit;
}

}  // namespace

template <class T>
FittedParameters<T> fit_closed_form(ConstRowMatrixRef<T> X, const Vector<T>& mean, Index d) {
  const Index n = X.rows(), D = X.cols();
  require(n < D, "fit_closed_form: n >= D goes through mean_and_covariance and fit_closed_form_covariance");
  Vector<T> top_values(d);
  Matrix<T> top_vectors(D, d);
  const double trace = gram_eigenpairs<T>(X, mean, d, top_values, top_vectors);
  return closed_form_from_eigenpairs<T>(mean, top_values, top_vectors, trace);
}

template <class T>
FittedParameters<T> fit_closed_form_covariance(Matrix<T>& S, const Vector<T>& mean, Index d) {
  const double trace = S.diagonal().template cast<double>().sum();
  Vector<T> top_values;
  Matrix<T> top_vectors;
  leading_eigenpairs<T>(S, d, top_values, top_vectors);
  top_values = top_values.cwiseMax(T(0));
  return closed_form_from_eigenpairs<T>(mean, top_values, top_vectors, trace);
}

template <class T>
FittedParameters<T> fit_closed_form_sparse(const CsrMatrixView<T>& X, const Vector<T>& mean, double sum_of_squares,
                                           Index d) {
  const Index n = X.rows, D = X.cols;
  // The covariance S = X^T X / n - mu mu^T. Formed (D x D) when that costs
  // less than X's stored entries (one product with S against two with X);
  // otherwise the eigensolver works on products with X itself:
  // S Q = X^T (X Q) / n - mu (mu^T Q).
  if (static_cast<double>(D) * D <= 2.0 * static_cast<double>(X.nnz()) || 4 * std::max<Index>(2 * d, d + 10) >= D) {
    Matrix<T> S = detail::csr_gram(X);
    S /= static_cast<T>(n);
    S.template triangularView<Eigen::Lower>() -= (mean * mean.transpose()).eval();
    return fit_closed_form_covariance<T>(S, mean, d);
  }
  const T inverse_n = T(1) / static_cast<T>(n);
  auto apply = [&](const auto& Q, Matrix<T>& Y) {
    const RowMatrix<T> Q_rows = Q;
    Y = inverse_n * detail::csr_gram_times(X, Q_rows.data(), Q.cols());
    Y.noalias() -= mean * (mean.transpose() * Q);
  };
  Vector<T> top_values;
  Matrix<T> top_vectors;
  // No full solver to fall back on at this size: the iteration runs until the
  // Ritz pairs converge (the cap only guards against a non-converging input).
  krylov_eigenpairs<T>(D, d, /*block=*/4, /*min_capacity=*/120, apply, std::max<Index>(10000, 4 * D),
                       /*may_give_up=*/false, top_values, top_vectors);
  top_values = top_values.cwiseMax(T(0));
  return closed_form_from_eigenpairs<T>(mean, top_values, top_vectors, sum_of_squares / static_cast<double>(n));
}

}  // namespace vaekit::detail::ppca

namespace vaekit {

template <class T>
PPCAMoments<T> PPCAMoments<T>::of(ConstRowMatrixRef<T> X, bool with_scatter, int n_threads) {
  detail::ThreadScope threads(n_threads);
  const Index n = X.rows(), D = X.cols();
  PPCAMoments moments;
  moments.count = static_cast<double>(n);
  moments.mean = Eigen::VectorXd::Zero(D);
  if (with_scatter) moments.scatter = Matrix<T>::Zero(D, D);
  if (n == 0) return moments;
  require(!detail::ppca::scan_values<T>(X, /*allow_nan=*/true, "X"), detail::ppca::kNeedsCompleteData);
  const Vector<T> mean = detail::ppca::column_means<T>(X);
  moments.mean = mean.template cast<double>();
  if (with_scatter) {
    moments.scatter = detail::ppca::scatter_of<T>(X, mean);
    moments.sum_of_squares = moments.scatter.diagonal().template cast<double>().sum();
  } else {
    double sum_sq = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum_sq) \
    if(detail::worth_parallel(detail::Work::of_values(static_cast<double>(n) * D)))
    for (int i = 0; i < static_cast<int>(n); ++i)
      sum_sq += (X.row(i).transpose() - mean).template cast<double>().squaredNorm();
    moments.sum_of_squares = sum_sq;
  }
  // Rounding of the mean in T: the deviations were taken from `mean`, not
  // from moments.mean (the same values, converted).
  return moments;
}

template <class T>
PPCAMoments<T> PPCAMoments<T>::of(const CsrMatrixView<T>& X, bool with_scatter, int n_threads) {
  detail::ThreadScope threads(n_threads);
  require(!check_csr(X, "X"), detail::ppca::kNeedsCompleteData);
  const Index n = X.rows, D = X.cols;
  PPCAMoments moments;
  moments.count = static_cast<double>(n);
  moments.mean = Eigen::VectorXd::Zero(D);
  if (with_scatter) moments.scatter = Matrix<T>::Zero(D, D);
  if (n == 0) return moments;
  Eigen::VectorXd sum, sum_sq;
  detail::csr_column_sums(X, sum, sum_sq);
  moments.mean = sum / static_cast<double>(n);
  // sum ||x - mu||^2 = sum ||x||^2 - n ||mu||^2, per feature never below 0.
  moments.sum_of_squares = (sum_sq - static_cast<double>(n) * moments.mean.cwiseAbs2()).cwiseMax(0.0).sum();
  if (with_scatter) {
    // sum (x - mu)(x - mu)^T = X^T X - n mu mu^T.
    moments.scatter = detail::csr_gram(X);
    const Vector<T> mean = moments.mean.template cast<T>();
    moments.scatter.template triangularView<Eigen::Lower>() -= (static_cast<T>(n) * mean * mean.transpose()).eval();
  }
  return moments;
}

template <class T>
void PPCAMoments<T>::merge(const PPCAMoments& other) {
  require(mean.size() == other.mean.size(), "PPCAMoments.merge: the moments are of different numbers of features");
  if (other.count == 0) return;
  const bool both_scatter = scatter.size() > 0 && other.scatter.size() > 0;
  if (count == 0) {
    const bool keep_scatter = scatter.size() > 0;
    *this = other;
    if (!keep_scatter) scatter.resize(0, 0);
    return;
  }
  // Chan, Golub & LeVeque: with delta = mean_b - mean_a,
  //   mean = mean_a + delta n_b / n,  M = M_a + M_b + delta delta^T n_a n_b / n.
  const double total = count + other.count;
  const double weight = count * other.count / total;
  const Eigen::VectorXd delta = other.mean - mean;
  mean += delta * (other.count / total);
  sum_of_squares += other.sum_of_squares + weight * delta.squaredNorm();
  if (both_scatter) {
    const Vector<T> d = delta.template cast<T>();
    scatter.template triangularView<Eigen::Lower>() += other.scatter;
    scatter.template triangularView<Eigen::Lower>() += (static_cast<T>(weight) * d * d.transpose()).eval();
  } else {
    scatter.resize(0, 0);
  }
  count = total;
}

template struct PPCAMoments<float>;
template struct PPCAMoments<double>;

}  // namespace vaekit

namespace vaekit::detail::ppca {

#define VAEKIT_PPCA_CLOSED_FORM(T)                                                    \
  template bool scan_values<T>(ConstRowMatrixRef<T>, bool, const char*);             \
  template Vector<T> column_means<T>(ConstRowMatrixRef<T>);                          \
  template FittedParameters<T> fit_closed_form<T>(ConstRowMatrixRef<T>, const Vector<T>&, Index);  \
  template Vector<T> mean_and_covariance<T>(ConstRowMatrixRef<T>, Matrix<T>&);                       \
  template FittedParameters<T> fit_closed_form_covariance<T>(Matrix<T>&, const Vector<T>&, Index);   \
  template FittedParameters<T> fit_closed_form_sparse<T>(const CsrMatrixView<T>&, const Vector<T>&, double, Index);
VAEKIT_PPCA_CLOSED_FORM(float)
VAEKIT_PPCA_CLOSED_FORM(double)
#undef VAEKIT_PPCA_CLOSED_FORM

}  // namespace vaekit::detail::ppca
