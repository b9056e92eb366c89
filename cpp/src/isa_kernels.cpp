// The kernels of one instruction set (kernels.hpp): compiled once per
// instruction set with VAEKIT_ISA naming it (CMakeLists.txt). Includes only
// Eigen, the standard library and kernel headers: an inline function of
// vaekit's public headers compiled here could replace the baseline copy.
#include <Eigen/Core>

#include "affine_kernel.hpp"
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
  if (beta == T(0)) {
    if (alpha == T(1)) c.noalias() = a * b;
    else c.noalias() = alpha * (a * b);
    return;
  }
  if (beta != T(1)) c *= beta;
  if (alpha == T(1)) c.noalias() += a * b;
  else c.noalias() += alpha * (a * b);
}

template <class T>
void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
          T beta, T* C, Index ldc) {
  // op(A) is m x k: A is m x k, or k x m when transposed (row-major both ways).
  const RowMap<T> a(A, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  const RowMap<T> b(B, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  if (trans_a && trans_b) product(a.transpose(), b.transpose(), alpha, beta, C, m, n, ldc);
  else if (trans_a) product(a.transpose(), b, alpha, beta, C, m, n, ldc);
  else if (trans_b) product(a, b.transpose(), alpha, beta, C, m, n, ldc);
  else product(a, b, alpha, beta, C, m, n, ldc);
}

#define VAEKIT_STRINGIFY_(x) #x
#define VAEKIT_STRINGIFY(x) VAEKIT_STRINGIFY_(x)

template <class T>
constexpr Kernels<T> kTable{VAEKIT_STRINGIFY(VAEKIT_ISA), AffineKernel<T>::P, AffineKernel<T>::kHalf, &affine<T>,
                            &affine_sparse<T>, &gemm<T>};

}  // namespace

// The entry points dispatch.cpp declares.
const Kernels<float>* kernels_float() { return &kTable<float>; }
const Kernels<double>* kernels_double() { return &kTable<double>; }

}  // namespace vaekit::detail::VAEKIT_ISA
