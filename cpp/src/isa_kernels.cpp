// The kernels of one instruction set (kernels.hpp): compiled once per
// instruction set with VAEKIT_ISA naming it (CMakeLists.txt). Includes only
// Eigen, the standard library and kernel headers (kernels.hpp's public
// include holds an enum, no code): an inline function of vaekit's public
// headers compiled here could replace the baseline copy.

// Every matrix product through Eigen's GEMM, however small: below its
// default threshold (m + n + k < 20) Eigen evaluates coefficient by
// coefficient, vectorised from the first aligned destination entry on, so
// that a product's last bit depended on where the result sat (FMA in the
// vector part, not in the peeled entries): a loaded model's sample()
// differed from the original's. GEMM's packing makes it independent.
#define EIGEN_GEMM_TO_COEFFBASED_THRESHOLD 0
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "affine_kernel.hpp"
#include "bernoulli.hpp"
#include "gaussian.hpp"
#include "kernels.hpp"

namespace vaekit::detail::VAEKIT_ISA {
namespace {

template <class T>
void affine(const T* X, Index rows, Index x_stride, const T* W, const T* b, Index n_in, Index n_out, T* Y,
            Index begin, Index end) {
  AffineKernel<T>::run_columns(X, rows, x_stride, W, b, n_in, n_out, Y, begin, end);
}

template <class T>
void affine_sparse(const SparseRows<T>& X, Index rows, const T* W, SumStart start, const T* b, Index n_out, T* Y,
                   Index begin, Index end) {
  AffineKernel<T>::run_columns_sparse(X, rows, W, start, b, n_out, Y, begin, end);
}

template <class T>
using RowMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned,
                          Eigen::OuterStride<>>;

template <class T, class A, class B>
void product(const A& a, const B& b, T alpha, T beta, T* C, Index m, Index n, Index ldc) {
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned, Eigen::OuterStride<>>
      c(C, m, n, Eigen::OuterStride<>(ldc));
  // One product expression per layout of the operands (Eigen's
  // `c.noalias() = a * b` also zeroes c, then accumulates with alpha = 1).
  if (beta == T(0)) c.setZero();
  else if (beta != T(1)) c *= beta;
  c.noalias() += alpha * (a * b);
}

// Whether C = op(A) op(B) goes through the register-blocked kernel rather
// than Eigen's GEMM: for the products of small layers (the training pass's
// X W, X^T G and G W^T of a batch's slice), where Eigen's packing of both
// operands costs as much as the product. AffineKernel keeps a k-chunk of two
// packets of B's columns in L1 and reads A in place. The bounds on m n k,
// from float32 timings on AVX-512 (1 core) against Eigen: A B and A^T B run
// 1.2-2x faster up to 2e6 (100-64-8 and 784-400-20 layers' slices), about
// level from 4e6 to 2e7, and 0.85-0.95x beyond; A B^T pays its transposed
// copy of B, so only up to 2.5e5 (1.2-1.6x there, 0.8-0.9x from 4e5).
inline bool affine_product_pays(bool trans_b, Index m, Index n, Index k) {
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  return work <= (trans_b ? 2.5e5 : 4e6);
}

// C (m x n, row-major, leading dimension n) = op(A) op(B) through
// AffineKernel; op(B) = B^T is copied transposed first (n x k, a small
// fraction of the product's work).
template <class T>
void affine_product(bool trans_a, bool trans_b, Index m, Index n, Index k, const T* A, Index lda, const T* B,
                    Index ldb, T* C) {
  const T* W = B;
  if (trans_b) {
    // An Eigen buffer: a std::vector<T> would put code compiled for this
    // instruction set outside its namespace (tests/python/test_isa.py).
    thread_local Eigen::Matrix<T, Eigen::Dynamic, 1> transposed;
    if (transposed.size() < k * n) transposed.resize(k * n);
    // In strips of 8 rows of the copy: each row of B gives 8 consecutive
    // values, written down 8 rows that are each filled in order.
    T* out = transposed.data();
    for (Index i0 = 0; i0 < k; i0 += 8) {
      const Index i1 = std::min<Index>(k, i0 + 8);
      for (Index j = 0; j < n; ++j)
        for (Index i = i0; i < i1; ++i) out[i * n + j] = B[j * ldb + i];
    }
    W = transposed.data();
  }
  if (trans_a) AffineKernel<T>::template run_columns<true>(A, m, lda, W, SumStart::Zero, nullptr, k, n, C, 0, n);
  else AffineKernel<T>::template run_columns<false>(A, m, lda, W, SumStart::Zero, nullptr, k, n, C, 0, n);
}

template <class T>
void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
          T beta, T* C, Index ldc) {
  // float only (the training type): the double copies of the tiles for
  // X^T G would not fit the wheel's size budget (.ci/run).
  if constexpr (std::is_same_v<T, float>) {
    if (alpha == T(1) && beta == T(0) && ldc == n && (trans_b || ldb == n) && k > 0 &&
        affine_product_pays(trans_b, m, n, k)) {
      affine_product(trans_a, trans_b, m, n, k, A, lda, B, ldb, C);
      return;
    }
  }
  // op(A) is m x k: A is m x k, or k x m when transposed (row-major both ways).
  const RowMap<T> a(A, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  const RowMap<T> b(B, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  if (trans_a && trans_b) product(a.transpose(), b.transpose(), alpha, beta, C, m, n, ldc);
  else if (trans_a) product(a.transpose(), b, alpha, beta, C, m, n, ldc);
  else if (trans_b) product(a, b.transpose(), alpha, beta, C, m, n, ldc);
  else product(a, b, alpha, beta, C, m, n, ldc);
}

template <class T>
void rank_update(bool upper, bool trans_a, Index n, Index k, T alpha, const T* A, Index lda, T* C, Index ldc) {
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned, Eigen::OuterStride<>>
      c(C, n, n, Eigen::OuterStride<>(ldc));
  // rankUpdate(u) adds u u^T, u = op(A)^T (n x k).
  auto update = [&](const auto& u) {
    if (upper) c.template selfadjointView<Eigen::Upper>().rankUpdate(u, alpha);
    else c.template selfadjointView<Eigen::Lower>().rankUpdate(u, alpha);
  };
  // Eigen's triangular product runs 1.2-1.7x slower once its depth k spans
  // more than one of its cache blocks (n = 784 doubles, k = 669: 38-44 GF/s
  // on one core, against 65-68 in slices of 96-192; 110 against 135 for
  // floats, k = 1338). So k goes in slices whose packed panel (slice x n)
  // Eigen can place on the stack (no allocation per call: where glibc's
  // dynamic mmap threshold is off, as in a dask worker, each allocation
  // faults its pages in again, and 200 x 2,621 fell from 43 to 27 GF/s in
  // heap-allocated slices of 96-192), or else fits in half the L2 cache.
  const double row_bytes = static_cast<double>(std::max<Index>(n, 1)) * sizeof(T);
  Index slice = static_cast<Index>(EIGEN_STACK_ALLOCATION_LIMIT / row_bytes);
  if (slice < 64) slice = static_cast<Index>(0.5 * static_cast<double>(Eigen::l2CacheSize()) / row_bytes);
  slice = std::clamp<Index>(slice, 48, 384) / 8 * 8;
  for (Index start = 0; start < k; start += slice) {
    const Index width = std::min(slice, k - start);
    if (trans_a) update(RowMap<T>(A + start, n, width, Eigen::OuterStride<>(lda)));
    else update(RowMap<T>(A + start * lda, width, n, Eigen::OuterStride<>(lda)).transpose());
  }
}

template <class T>
using Mutable = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned,
                           Eigen::OuterStride<>>;

// The tridiagonal matrix T - shift I (diagonal d, both off-diagonals e)
// factored as P L U with partial pivoting, and solves with it (LAPACK's
// gttrf and gttrs): U has two superdiagonals, L one subdiagonal (its
// multipliers). Pivots below `tiny` in magnitude become +-tiny, so that an
// exact eigenvalue as the shift still gives a (large) solution.
template <class T>
class ShiftedTridiagonal {
 public:
  ShiftedTridiagonal(const T* d, const T* e, Index n, T shift, T tiny)
      : n_(n), d_(Vec::Map(d, n).array() - shift), l_(Vec::Map(e, std::max<Index>(n - 1, 0))), u_(l_),
        u2_(Vec::Zero(std::max<Index>(n - 2, 0))), swap_(Flags::Zero(std::max<Index>(n - 1, 0))) {
    for (Index i = 0; i + 1 < n; ++i) {
      if (std::abs(d_[i]) >= std::abs(l_[i])) {
        if (d_[i] != T(0)) {
          const T factor = l_[i] / d_[i];
          l_[i] = factor;
          d_[i + 1] -= factor * u_[i];
        } else {
          l_[i] = T(0);
        }
      } else {  // rows i and i + 1 swap
        const T factor = d_[i] / l_[i];
        d_[i] = l_[i];
        l_[i] = factor;
        const T upper = u_[i];
        u_[i] = d_[i + 1];
        d_[i + 1] = upper - factor * d_[i + 1];
        if (i + 2 < n) {
          u2_[i] = u_[i + 1];
          u_[i + 1] = -factor * u_[i + 1];
        }
        swap_[i] = 1;
      }
    }
    for (Index i = 0; i < n; ++i)
      if (std::abs(d_[i]) < tiny) d_[i] = d_[i] < T(0) ? -tiny : tiny;
  }
  // b = (T - shift I)^-1 b.
  void solve(T* b) const {
    for (Index i = 0; i + 1 < n_; ++i) {
      if (swap_[i]) {
        const T next = b[i] - l_[i] * b[i + 1];
        b[i] = b[i + 1];
        b[i + 1] = next;
      } else {
        b[i + 1] -= l_[i] * b[i];
      }
    }
    b[n_ - 1] /= d_[n_ - 1];
    if (n_ > 1) b[n_ - 2] = (b[n_ - 2] - u_[n_ - 2] * b[n_ - 1]) / d_[n_ - 2];
    for (Index i = n_ - 3; i >= 0; --i) b[i] = (b[i] - u_[i] * b[i + 1] - u2_[i] * b[i + 2]) / d_[i];
  }

 private:
  // Eigen's vectors, not std::vector: Eigen is renamed per instruction set,
  // the standard library's out-of-line code is not (tests/python/test_isa.py).
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using Flags = Eigen::Matrix<unsigned char, Eigen::Dynamic, 1>;
  Index n_;
  Vec d_, l_, u_, u2_;
  Flags swap_;
};

// The `count` largest eigenvalues (descending) of the symmetric tridiagonal
// matrix with diagonal a (n) and sub-diagonal b (n - 1), and with
// smallest != nullptr its smallest, to within 2 eps(T) ||T||: bisection on
// Sturm counts (LAPACK's stebz), in double, every interval in lockstep so
// that the independent divisions overlap (one eigenvalue at a time is bound
// by the division's latency). O(n count) per halving; the implicit QR of all
// n eigenvalues took 12 ms at n = 784, bisection for 20 well under 1 ms.
template <class T>
void tridiagonal_top_eigenvalues(const T* a, const T* b, Index n, Index count, double* top, double* smallest) {
  using Array = Eigen::ArrayXd;
  const Index lanes = count + (smallest != nullptr ? 1 : 0);
  if (lanes == 0) return;
  Array squares(std::max<Index>(n - 1, 1));
  double lo = std::numeric_limits<double>::max(), hi = -lo, largest_square = 0;
  for (Index i = 0; i < n; ++i) {
    const double left = i > 0 ? std::abs(static_cast<double>(b[i - 1])) : 0.0;
    const double right = i + 1 < n ? std::abs(static_cast<double>(b[i])) : 0.0;
    lo = std::min(lo, static_cast<double>(a[i]) - left - right);
    hi = std::max(hi, static_cast<double>(a[i]) + left + right);
    if (i + 1 < n) {
      squares(i) = static_cast<double>(b[i]) * static_cast<double>(b[i]);
      largest_square = std::max(largest_square, squares(i));
    }
  }
  const double pivmin = std::numeric_limits<double>::min() * std::max(1.0, largest_square);
  const double tol = 2.0 * std::numeric_limits<T>::epsilon() * std::max(std::abs(lo), std::abs(hi)) + pivmin;
  // Lane k holds the eigenvalue with ascending index target(k) in [lower, upper].
  Array lower = Array::Constant(lanes, lo), upper = Array::Constant(lanes, hi), mid(lanes), q(lanes), below(lanes),
        target(lanes);
  for (Index k = 0; k < count; ++k) target(k) = static_cast<double>(n - 1 - k);
  if (smallest != nullptr) target(count) = 0;
  for (int halving = 0; halving < 256 && (upper - lower).maxCoeff() > tol; ++halving) {
    mid = 0.5 * (lower + upper);
    double* m = mid.data();
    double* qs = q.data();
    double* counts = below.data();
    for (Index k = 0; k < lanes; ++k) {
      double value = static_cast<double>(a[0]) - m[k];
      if (std::abs(value) < pivmin) value = -pivmin;
      qs[k] = value;
      counts[k] = value < 0 ? 1.0 : 0.0;
    }
    for (Index i = 1; i < n; ++i) {
      const double diagonal = static_cast<double>(a[i]), square = squares(i - 1);
      for (Index k = 0; k < lanes; ++k) {
        double value = diagonal - m[k] - square / qs[k];
        if (std::abs(value) < pivmin) value = -pivmin;
        qs[k] = value;
        counts[k] += value < 0 ? 1.0 : 0.0;
      }
    }
    // below: the number of eigenvalues below mid.
    upper = (below > target).select(mid, upper);
    lower = (below > target).select(lower, mid);
  }
  for (Index k = 0; k < count; ++k) top[k] = 0.5 * (lower(k) + upper(k));
  if (smallest != nullptr) *smallest = 0.5 * (lower(count) + upper(count));
}

template <class T>
bool leading_eigen(Index n, const T* A, Index lda, Index count, T* values, T* vectors, Index ldv, T* smallest) {
  using Square = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  if (n == 0 || (count == 0 && smallest == nullptr)) return true;
  // A / max |A_ij|, so that the reflections of very small or very large
  // values neither underflow nor overflow.
  Square a = RowMap<T>(A, n, n, Eigen::OuterStride<>(lda));
  const T scale = a.cwiseAbs().maxCoeff();
  if (!std::isfinite(scale)) {  // the outputs say so too
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (Index k = 0; k < count; ++k) values[k] = nan;
    if (vectors != nullptr) Mutable<T>(vectors, n, count, Eigen::OuterStride<>(ldv)).setConstant(nan);
    if (smallest != nullptr) *smallest = nan;
    return false;
  }
  if (scale > T(0)) a /= scale;
  const Eigen::Tridiagonalization<Square> tridiagonal(a);
  const Vec diagonal = tridiagonal.diagonal(), off = tridiagonal.subDiagonal();
  // Bisection and inverse iteration run on T / ||T||_inf, whose eigenvalues
  // lie in [-1, 1]: a solution grows by at most 1 / eps.
  T norm = 0;
  for (Index i = 0; i < n; ++i)
    norm = std::max(norm, std::abs(diagonal(i)) + (i > 0 ? std::abs(off(i - 1)) : T(0)) +
                              (i + 1 < n ? std::abs(off(i)) : T(0)));
  const T eps = std::numeric_limits<T>::epsilon();
  const Vec scaled_diagonal = diagonal / norm, scaled_off = off / norm;
  Eigen::ArrayXd top = Eigen::ArrayXd::Zero(count);  // of T / ||T||_inf
  double lowest = 0;
  if (norm > T(0))
    tridiagonal_top_eigenvalues<T>(scaled_diagonal.data(), scaled_off.data(), n, count, top.data(),
                                   smallest != nullptr ? &lowest : nullptr);
  const double unscale = static_cast<double>(norm) * static_cast<double>(scale);
  for (Index k = 0; k < count; ++k) values[k] = static_cast<T>(top(k) * unscale);
  if (smallest != nullptr) *smallest = static_cast<T>(lowest * unscale);
  if (vectors == nullptr) return true;
  // Inverse iteration: shifts closer than 10 eps apart are moved apart
  // (LAPACK's stein), and every vector is made orthogonal to those before
  // it, so that a repeated eigenvalue gets an orthonormal basis of its
  // eigenspace.
  Square Y = Square::Identity(n, count);  // A = 0: any orthonormal basis
  T previous_shift = 0;
  for (Index k = 0; k < count && norm > T(0); ++k) {
    T shift = static_cast<T>(top(k));
    if (k > 0) shift = std::min(shift, previous_shift - T(10) * eps * std::abs(previous_shift));
    previous_shift = shift;
    const ShiftedTridiagonal<T> factors(scaled_diagonal.data(), scaled_off.data(), n, shift, eps);
    auto y = Y.col(k);
    // A start with components along every eigenvector (deterministic).
    std::uint32_t state = 0x9e3779b9u ^ (static_cast<std::uint32_t>(k) * 2654435761u);
    for (Index i = 0; i < n; ++i) {
      state = state * 1664525u + 1013904223u;
      y(i) = T(0.5) + static_cast<T>(state >> 8) * T(1.0 / 16777216.0);
    }
    for (int iteration = 0; iteration < 3; ++iteration) {
      y /= y.norm();
      factors.solve(y.data());
      for (int pass = 0; pass < 2 && k > 0; ++pass) y -= Y.leftCols(k) * (Y.leftCols(k).transpose() * y);
    }
    y /= y.norm();
  }
  // The tridiagonal matrix's eigenvectors back to A's: Q Y.
  Y.applyOnTheLeft(tridiagonal.matrixQ());
  Mutable<T>(vectors, n, count, Eigen::OuterStride<>(ldv)) = Y;
  return true;
}

template <class T>
void orthonormalise(Index m, Index n, T* A, Index lda, T* r_diagonal) {
  Mutable<T> a(A, m, n, Eigen::OuterStride<>(lda));
  Eigen::HouseholderQR<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> qr(a);
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(r_diagonal, n) = qr.matrixQR().diagonal();
  a = qr.householderQ() * Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>::Identity(m, n);
}

// Position of the lowest set bit of mask != 0.
inline int lowest_set_bit(std::uint32_t mask) {
#if defined(_MSC_VER) && !defined(__clang__)
  unsigned long position;
  _BitScanForward(&position, mask);
  return static_cast<int>(position);
#else
  return __builtin_ctz(mask);
#endif
}

template <class T>
bool compress_rows(const T* X, Index rows, Index x_stride, Index n, int* index, T* value, Index* start) {
  Index count = 0;
  start[0] = 0;
  for (Index r = 0; r < rows; ++r) {
    const T* x = X + r * x_stride;
    // Blocks of 32 entries: a bit mask of the nonzeros (a vectorised
    // comparison), then one store per set bit.
    constexpr Index kBlock = 32;
    Index k = 0;
    for (; k + kBlock <= n; k += kBlock) {
      std::uint32_t mask = 0;
      for (Index i = 0; i < kBlock; ++i) mask |= static_cast<std::uint32_t>(x[k + i] != T(0)) << i;
      for (; mask != 0; mask &= mask - 1) {
        const Index i = k + lowest_set_bit(mask);
        index[count] = static_cast<int>(i);
        value[count] = x[i];
        ++count;
      }
    }
    for (; k < n; ++k) {
      index[count] = static_cast<int>(k);
      value[count] = x[k];
      count += x[k] != T(0) ? 1 : 0;
    }
    start[r + 1] = count;
    if (count > static_cast<Index>(kMaxSparseDensity * static_cast<double>((r + 1) * n))) return false;
  }
  return true;
}

// vaekit::all_finite (common.hpp): tests the exponent bits without
// branches, so that the loop vectorises.
template <class T>
bool all_finite(const T* values, Index n) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr Bits exponent = sizeof(T) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
  unsigned not_finite = 0;
  for (Index i = 0; i < n; ++i) {
    Bits bits;
    std::memcpy(&bits, values + i, sizeof(T));
    not_finite |= static_cast<unsigned>((bits & exponent) == exponent);
  }
  return not_finite == 0;
}

template <class T>
bool centre(const T* x, const T* mean, Index n, T* out, T* squared_norm) {
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  Eigen::Map<Vec> c(out, n);
  c = Eigen::Map<const Vec>(x, n) - Eigen::Map<const Vec>(mean, n);
  if (squared_norm != nullptr) *squared_norm = c.squaredNorm();
  return all_finite(out, n);
}

template <class T>
double gram_posterior(Index d, const T* base, T sign, const T* G, Index g_rows, const T* a, T s2, T* z, T* Sigma) {
  using Square = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  Square M = RowMap<T>(base, d, d, Eigen::OuterStride<>(d));
  if (g_rows > 0) {
    const RowMap<T> g(G, g_rows, d, Eigen::OuterStride<>(d));
    M.noalias() += sign * (g.transpose() * g);
  }
  const Eigen::LLT<Square> llt(M);
  Eigen::Map<Vec>(z, d) = llt.solve(Eigen::Map<const Vec>(a, d));
  Mutable<T>(Sigma, d, d, Eigen::OuterStride<>(d)) = s2 * llt.solve(Square::Identity(d, d));
  return 2.0 * llt.matrixLLT().diagonal().array().template cast<double>().log().sum();
}

template <class T>
void add(const T* x, Index n, T* y) {
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  Eigen::Map<Vec>(y, n) += Eigen::Map<const Vec>(x, n);
}

template <class T>
double bernoulli(const T* x, const T* f, Index D, T* d_out, T scale, T* scratch, const T* observed,
                 bool sum_in_double) {
  return sum_in_double ? bernoulli_log_likelihood<double>(x, f, D, d_out, scale, scratch, observed)
                       : static_cast<double>(bernoulli_log_likelihood<T>(x, f, D, d_out, scale, scratch, observed));
}

// The activations of the MLPs' layers, element by element, in the
// numerically stable forms; max(v, 0) keeps a NaN.
template <class T>
inline T sigmoid(T v) {
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}
template <class T>
inline T softplus(T v) {  // log(1 + e^v)
  return std::max(v, T(0)) + static_cast<T>(std::log1p(std::exp(-std::abs(v))));
}

// y = act(y + b) (kBias) or act(y) for cols values; restrict pointers and
// one loop per activation let the compiler vectorise ReLU and the bias.
template <class T, bool kBias>
void activate_row(T* __restrict y, const T* __restrict b, Index cols, Activation activation) {
  const auto input = [&](Index j) { return kBias ? y[j] + b[j] : y[j]; };
  switch (activation) {
    case Activation::Identity:
      if (kBias)
        for (Index j = 0; j < cols; ++j) y[j] = input(j);
      return;
    case Activation::ReLU:
      for (Index j = 0; j < cols; ++j) y[j] = std::max(input(j), T(0));
      return;
    case Activation::Tanh:
      for (Index j = 0; j < cols; ++j) y[j] = std::tanh(input(j));
      return;
    case Activation::Sigmoid:
      for (Index j = 0; j < cols; ++j) y[j] = sigmoid(input(j));
      return;
    case Activation::Softplus:
      for (Index j = 0; j < cols; ++j) y[j] = softplus(input(j));
      return;
  }
}

template <class T>
void activate(T* Y, Index rows, Index cols, const T* b, Activation activation) {
  for (Index i = 0; i < rows; ++i) {
    if (b != nullptr) activate_row<T, true>(Y + i * cols, b, cols, activation);
    else activate_row<T, false>(Y + i * cols, nullptr, cols, activation);
  }
}

template <class T>
void activation_gradient(T* __restrict G, const T* __restrict Y, Index n, Activation activation) {
  switch (activation) {
    case Activation::Identity: return;
    case Activation::ReLU:
      for (Index i = 0; i < n; ++i) G[i] = Y[i] > T(0) ? G[i] : T(0);
      return;
    case Activation::Tanh:
      for (Index i = 0; i < n; ++i) G[i] *= T(1) - Y[i] * Y[i];
      return;
    case Activation::Sigmoid:
      for (Index i = 0; i < n; ++i) G[i] *= Y[i] * (T(1) - Y[i]);
      return;
    case Activation::Softplus:  // sigmoid(v) = 1 - e^-y, as -expm1(-y) for small y
      for (Index i = 0; i < n; ++i) G[i] *= -std::expm1(-Y[i]);
      return;
  }
}

template <class T>
void column_sums(const T* __restrict G, Index rows, Index cols, T* __restrict out) {
  std::fill(out, out + cols, T(0));
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) out[j] += G[i * cols + j];
}

template <class T>
double gaussian(const T* x, const T* f, const T* log_variance, Index step, Index D, T min_lv, T max_lv,
                const T* observed, T* d_out, T* d_log_variance, bool clamp_derivative, T scale) {
  return observed != nullptr
             ? gaussian_log_likelihood<T, true>(x, f, log_variance, step, D, min_lv, max_lv, observed, d_out,
                                                d_log_variance, clamp_derivative, scale)
             : gaussian_log_likelihood<T, false>(x, f, log_variance, step, D, min_lv, max_lv, observed, d_out,
                                                 d_log_variance, clamp_derivative, scale);
}

// One Adam update of params[begin, end); returns false when an updated
// parameter is not finite. Restrict pointers and a branch-free body let the
// compiler vectorise it (sqrt and division included: built with
// -fno-math-errno); the finiteness test rides along on values already in
// registers instead of a separate pass over the gradient. kTwo: the gradient
// is gradient + gradient2.
template <class T, bool kDecay, bool kTwo>
bool adam_range(T* __restrict params, const T* __restrict gradient, const T* __restrict gradient2,
                const T* __restrict decay_mask, T* __restrict m, T* __restrict v, Index begin, Index end, T b1,
                T b2, T step_size, T eps_hat, T decay) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr Bits exponent = sizeof(T) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
  unsigned not_finite = 0;
  for (Index i = begin; i < end; ++i) {
    const T g = kTwo ? gradient[i] + gradient2[i] : gradient[i];
    const T m_i = b1 * m[i] + (T(1) - b1) * g;
    const T v_i = b2 * v[i] + (T(1) - b2) * g * g;
    m[i] = m_i;
    v[i] = v_i;
    T update = step_size * m_i / (std::sqrt(v_i) + eps_hat);
    if (kDecay) update += decay * decay_mask[i] * params[i];
    const T p = params[i] - update;
    params[i] = p;
    Bits bits;
    std::memcpy(&bits, &p, sizeof(T));
    not_finite |= static_cast<unsigned>((bits & exponent) == exponent);
  }
  return not_finite == 0;
}

template <class T>
bool adam(T* params, const T* gradient, const T* gradient2, const T* decay_mask, T* m, T* v, Index begin, Index end,
          T b1, T b2, T step_size, T eps_hat, T decay) {
  // The four variants: with or without decay, one or two gradient buffers.
  if (decay_mask != nullptr) {
    return gradient2 != nullptr ? adam_range<T, true, true>(params, gradient, gradient2, decay_mask, m, v, begin, end,
                                                            b1, b2, step_size, eps_hat, decay)
                                : adam_range<T, true, false>(params, gradient, gradient2, decay_mask, m, v, begin,
                                                             end, b1, b2, step_size, eps_hat, decay);
  }
  return gradient2 != nullptr ? adam_range<T, false, true>(params, gradient, gradient2, decay_mask, m, v, begin, end,
                                                           b1, b2, step_size, eps_hat, decay)
                              : adam_range<T, false, false>(params, gradient, gradient2, decay_mask, m, v, begin, end,
                                                            b1, b2, step_size, eps_hat, decay);
}

// Standard normal draws for kernels.hpp's `normal`: Philox4x32-10 (random.hpp)
// on a chunk of counters at once, so that the rounds' 32 x 32 -> 64-bit
// products vectorise, then Box-Muller on the chunk: the radius
// sqrt(-2 log u1) in double (u1 from 53 bits, as Philox::uniform; Eigen's
// vectorised log), the angle 2 pi u2 in T (Eigen's vectorised sin and cos
// for float). Block p of the stream gives draws 2p (r cos) and 2p + 1
// (r sin): Philox::normal's order.
template <class T>
void normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t first_block, T* out, Index n) {
  constexpr Index kBlocks = 64;  // Philox blocks (two draws each) per chunk
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  alignas(64) std::uint32_t c0[kBlocks], c1[kBlocks], c2[kBlocks], c3[kBlocks];
  alignas(64) double u_radius[kBlocks];
  alignas(64) T u_angle[kBlocks];
  using DoubleArray = Eigen::Array<double, kBlocks, 1>;
  using Array = Eigen::Array<T, kBlocks, 1>;
  alignas(64) double radius[kBlocks];
  alignas(64) T sine[kBlocks], cosine[kBlocks];
  for (Index done = 0; done < n; done += 2 * kBlocks) {
    const std::uint64_t position = first_block + static_cast<std::uint64_t>(done / 2);
    for (Index i = 0; i < kBlocks; ++i) {
      const std::uint64_t counter = position + static_cast<std::uint64_t>(i);
      c0[i] = static_cast<std::uint32_t>(counter);
      c1[i] = static_cast<std::uint32_t>(counter >> 32);
      c2[i] = static_cast<std::uint32_t>(stream);
      c3[i] = static_cast<std::uint32_t>(stream >> 32);
    }
    std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      for (Index i = 0; i < kBlocks; ++i) {
        const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * c0[i];
        const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * c2[i];
        const std::uint32_t next0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1[i] ^ k0;
        const std::uint32_t next2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3[i] ^ k1;
        c1[i] = static_cast<std::uint32_t>(p1);
        c3[i] = static_cast<std::uint32_t>(p0);
        c0[i] = next0;
        c2[i] = next2;
      }
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    for (Index i = 0; i < kBlocks; ++i) {
      const std::uint64_t bits1 = (static_cast<std::uint64_t>(c0[i] >> 5) << 26) | (c1[i] >> 6);
      const std::uint64_t bits2 = (static_cast<std::uint64_t>(c2[i] >> 5) << 26) | (c3[i] >> 6);
      u_radius[i] = (static_cast<double>(bits1) + 0.5) * (1.0 / 9007199254740992.0);
      u_angle[i] = static_cast<T>(6.283185307179586476925286766559 *
                                  ((static_cast<double>(bits2) + 0.5) * (1.0 / 9007199254740992.0)));
    }
    const Eigen::Map<const Array, Eigen::Aligned64> angle(u_angle);
    Eigen::Map<DoubleArray, Eigen::Aligned64> radius_map(radius);
    Eigen::Map<Array, Eigen::Aligned64> sine_map(sine), cosine_map(cosine);
    radius_map = (-2.0 * Eigen::Map<const DoubleArray, Eigen::Aligned64>(u_radius).log()).sqrt();
    sine_map = angle.sin();
    cosine_map = angle.cos();
    const Index count = std::min<Index>(2 * kBlocks, n - done);
    T* target = out + done;
    for (Index j = 0; j < count; ++j) {
      const Index i = j / 2;
      target[j] = static_cast<T>(radius[i]) * (j % 2 == 0 ? cosine[i] : sine[i]);
    }
  }
}

#define VAEKIT_STRINGIFY_(x) #x
#define VAEKIT_STRINGIFY(x) VAEKIT_STRINGIFY_(x)

template <class T>
constexpr Kernels<T> kTable{VAEKIT_STRINGIFY(VAEKIT_ISA),
                            AffineKernel<T>::P,
                            AffineKernel<T>::kHalf,
                            &affine<T>,
                            &affine_sparse<T>,
                            &gemm<T>,
                            &rank_update<T>,
                            &leading_eigen<T>,
                            &orthonormalise<T>,
                            &centre<T>,
                            &gram_posterior<T>,
                            &bernoulli<T>,
                            &activate<T>,
                            &activation_gradient<T>,
                            &column_sums<T>,
                            &gaussian<T>,
                            &adam<T>,
                            &add<T>,
                            &compress_rows<T>,
                            &all_finite<T>,
                            &normal<T>};

}  // namespace

// The entry points dispatch.cpp declares.
const Kernels<float>* kernels_float() { return &kTable<float>; }
const Kernels<double>* kernels_double() { return &kTable<double>; }

}  // namespace vaekit::detail::VAEKIT_ISA
