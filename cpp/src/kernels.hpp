// The instruction-set specific kernels and the table that dispatches to them.
//
// isa_kernels.cpp is compiled once per instruction set (CMakeLists.txt:
// baseline, and on x86-64 also x86-64-v3 = AVX2/FMA and x86-64-v4 =
// AVX-512), each copy with its own flags, in its own namespace
// vaekit::detail::<isa>, and with Eigen renamed (-DEigen=...), so that no
// inline function or template compiled for one instruction set can stand in
// for another's at link time (tests/python/test_isa.py checks the symbols).
// dispatch.cpp picks one copy at first use from the CPU's features, or from
// the environment variable VAEKIT_ISA (baseline, avx2, avx512), and the rest
// of the library calls the kernels through kernels<T>(). Interfaces take raw
// pointers and integers only: no Eigen type crosses the table.
//
// This header is included by both sides: it holds no code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vaekit/activation.hpp"

namespace vaekit::detail {

using KernelIndex = std::ptrdiff_t;  // vaekit::Index (Eigen::Index)

// Rows of a matrix by their nonzero entries (compressed sparse rows): row r's
// are index[i], value[i] for i in [start[r], start[r + 1]), in ascending index.
template <class T>
struct SparseRows {
  const int* index = nullptr;
  const T* value = nullptr;
  const KernelIndex* start = nullptr;
};

// Inputs at most this dense (fraction of nonzero entries) go through the
// sparse products; denser ones through the dense kernel. The sparse product
// costs about twice as much per nonzero (its weights come from L2 rather
// than L1), so the two break even near 0.4-0.5 with AVX-512 and AVX2.
constexpr double kMaxSparseDensity = 0.3;

// Where a sparse product's sums start: the bias, the values already in Y
// (Y += X W), or zero (Y = X W).
enum class SumStart { Bias, Output, Zero };

template <class T>
struct Kernels {
  using Index = KernelIndex;
  const char* isa;  // "baseline", "avx2", "avx512"
  // Values per SIMD packet: a column range [begin, end) of the affine products
  // must start at a multiple of it and end at one or at n_out (affine_kernel.hpp).
  Index packet;
  Index half_packet;  // values per half packet (the narrowest vector the affine products use)
  // Columns [begin, end) of Y (rows x n_out, row-major) = X W + b: X's rows
  // x_stride apart, W row-major n_in x n_out; b == nullptr: Y += X W. Row-
  // invariant, bit for bit (AffineKernel::run_columns).
  void (*affine)(const T* X, Index rows, Index x_stride, const T* W, const T* b, Index n_in, Index n_out, T* Y,
                 Index begin, Index end);
  // The same for rows given by their nonzero entries (AffineKernel::run_columns_sparse).
  void (*affine_sparse)(const SparseRows<T>& X, Index rows, const T* W, SumStart start, const T* b, Index n_out,
                        T* Y, Index begin, Index end);
  // C = alpha op(A) op(B) + beta C, every matrix row-major with its leading
  // dimension (the distance between rows); op(A) is m x k, op(B) k x n, C
  // m x n; op(X) = X^T when trans_x. beta == 0 never reads C.
  void (*gemm)(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B,
               Index ldb, T beta, T* C, Index ldc);
  // One triangle of C (n x n, row-major, ldc) += alpha op(A)^T op(A),
  // op(A) k x n, row-major A with leading dimension lda (op(A) = A^T when
  // trans_a): the lower triangle (column <= row), or the upper one when
  // `upper`. The other triangle is not touched.
  void (*rank_update)(bool upper, bool trans_a, Index n, Index k, T alpha, const T* A, Index lda, T* C, Index ldc);
  // The `count` largest eigenvalues of the symmetric n x n matrix A (row-
  // major, lda; its lower triangle is read) in descending order into values,
  // and their orthonormal eigenvectors into vectors' columns (n x count,
  // row-major, ldv; vectors == nullptr: the eigenvalues alone), and with
  // smallest != nullptr the smallest eigenvalue:
  // Householder tridiagonalisation, the tridiagonal matrix's wanted
  // eigenvalues by bisection, and inverse iteration for their vectors
  // (LAPACK's syevx route: O(n^3) once, O(n^2 count) after). False, with
  // NaN outputs, when A is not finite.
  bool (*leading_eigen)(Index n, const T* A, Index lda, Index count, T* values, T* vectors, Index ldv, T* smallest);
  // Overwrites the m x n matrix A (row-major, lda; m >= n) with the first
  // n columns of Q of its Householder QR, A = Q R, and writes R's diagonal
  // (n) into r_diagonal: an orthonormal basis of A's columns when none of
  // them is (numerically) zero.
  void (*orthonormalise)(Index m, Index n, T* A, Index lda, T* r_diagonal);
  // out = x - mean (n values; out may be x); *squared_norm = ||out||^2
  // unless squared_norm == nullptr. Returns whether out is all finite.
  bool (*centre)(const T* x, const T* mean, Index n, T* out, T* squared_norm);
  // A row's PPCA posterior from its observed coordinates (the EM E-step
  // with missing values): M = base + sign G^T G (base d x d symmetric; G
  // g_rows x d, row-major), z = M^-1 a, Sigma = s2 M^-1 (d x d). Returns
  // log det M from M's Cholesky factor.
  double (*gram_posterior)(Index d, const T* base, T sign, const T* G, Index g_rows, const T* a, T s2, T* z,
                           T* Sigma);
  // log p(x | f) of D Bernoulli targets x under logits f, its derivatives
  // into d_out (scaled by scale), e into scratch, observed targets only
  // when observed != nullptr: bernoulli.hpp. Summed in double when
  // sum_in_double, else in T.
  double (*bernoulli)(const T* x, const T* f, Index D, T* d_out, T scale, T* scratch, const T* observed,
                      bool sum_in_double);
  // Y (rows x cols, row-major) = act(Y + b): b (cols values) added to every
  // row, or act(Y) when b == nullptr (the MLPs' forward passes).
  void (*activate)(T* Y, Index rows, Index cols, const T* b, Activation activation);
  // G *= act'(v) for n values, the derivative written through the outputs
  // Y = act(v) (the MLPs' backward passes): relu' = [y > 0], tanh' = 1 - y^2,
  // sigmoid' = y (1 - y), softplus' = sigmoid(v) = 1 - e^-y.
  void (*activation_gradient)(T* G, const T* Y, Index n, Activation activation);
  // out (cols values) = the column sums of G (rows x cols, row-major).
  void (*column_sums)(const T* G, Index rows, Index cols, T* out);
  // -1/2 sum_j m_j [l_j + (x_j - f_j)^2 e^-l_j], the log-density log N(x; f,
  // g^2) of D targets x under means f without its -n_observed log(2 pi) / 2
  // (gaussian.hpp): l_j = log g_j^2, the raw
  // log-variance log_variance[j * step] (step 0: one for all) clamped to
  // [min_lv, max_lv]; m_j = observed[j] (1, or 0 where x_j is missing and
  // holds 0), or 1 when observed == nullptr. With d_out, the derivatives of
  // -log p times scale: d/df_j into d_out and d/dl_j into d_log_variance
  // (unless nullptr), times the clamp's derivative when clamp_derivative.
  double (*gaussian)(const T* x, const T* f, const T* log_variance, Index step, Index D, T min_lv, T max_lv,
                     const T* observed, T* d_out, T* d_log_variance, bool clamp_derivative, T scale);
  // One Adam update of params[begin, end) with moments m and v (optim.cpp's
  // adam_step): the gradient is gradient + gradient2 (unless nullptr), and
  // decay * decay_mask * params is added to the update when decay_mask is
  // given. Returns false when an updated parameter is not finite.
  bool (*adam)(T* params, const T* gradient, const T* gradient2, const T* decay_mask, T* m, T* v, Index begin,
               Index end, T b1, T b2, T step_size, T eps_hat, T decay);
  // y += x (n values).
  void (*add)(const T* x, Index n, T* y);
  // Compresses rows x n rows of X (x_stride apart) into index, value (room
  // for sparse_capacity(rows, n) entries, sparse_rows.hpp) and start (rows +
  // 1). Gives up, returning false, as soon as the rows so far hold more than
  // kMaxSparseDensity of nonzeros: dense data costs one row's scan. NaN
  // counts as nonzero, -0 as zero.
  bool (*compress_rows)(const T* X, Index rows, Index x_stride, Index n, int* index, T* value, Index* start);
  // Whether none of the n values is NaN or infinite (vaekit::all_finite).
  bool (*all_finite)(const T* values, Index n);
  // Standard normal draws into out[0..n): the draws of Philox(seed,
  // stream).fill_normal (random.hpp) from its block first_block on (draws
  // 2 first_block on), up to the rounding of log, sin and cos, whose angle
  // is computed in T. One stream's draws, whatever n and the ISA.
  void (*normal)(std::uint64_t seed, std::uint64_t stream, std::uint64_t first_block, T* out, Index n);
};

// The kernels this process uses (chosen once, thread-safe).
template <class T>
const Kernels<T>& kernels();

// The kernels of one instruction set ("baseline", "avx2", "avx512"), or
// nullptr when this build lacks them or this CPU cannot run them (tests).
template <class T>
const Kernels<T>* kernels_for(const char* isa);

}  // namespace vaekit::detail
