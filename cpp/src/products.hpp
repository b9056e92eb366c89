// Eigen matrix products through the dispatched kernels (kernels.hpp), for
// the library's code compiled for the baseline instruction set: Eigen's own
// products there would run at the baseline's speed (SSE2 on x86-64).
//
// The operands are plain matrices, maps, blocks and their transposes whose
// entries are contiguous along their storage order (unit inner stride), of
// either storage order; the kernels see them as row-major, a column-major
// matrix being its transpose stored row-major.
#pragma once

#include <algorithm>
#include <type_traits>

#include "kernels.hpp"
#include "vaekit/common.hpp"

namespace vaekit::detail {

// A dense operand as the kernels see it: row-major data with a leading
// dimension, transposed when the matrix is stored column-major.
template <class T>
struct Operand {
  const T* data;
  Index ld;
  bool transposed;
};

template <class Derived>
Operand<typename Derived::Scalar> operand_of(const Eigen::MatrixBase<Derived>& m) {
  const Derived& x = m.derived();
  require(x.innerStride() == 1 || x.size() <= 1, "products: an operand with strided entries");
  const bool row_major = static_cast<bool>(Derived::IsRowMajor);
  // A vector's outer stride can be anything; the kernels only read it as
  // the distance between rows, which a single row or column never uses.
  const Index ld = row_major ? (x.rows() > 1 ? x.outerStride() : x.cols())
                             : (x.cols() > 1 ? x.outerStride() : x.rows());
  return {x.data(), std::max<Index>(ld, 1), !row_major};
}

// c = alpha a b + beta c (beta == 0 never reads c), by kernels<T>().gemm.
template <class A, class B, class C>
void gemm(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b, C&& c, typename A::Scalar alpha = 1,
          typename A::Scalar beta = 0) {
  using T = typename A::Scalar;
  using Out = std::remove_reference_t<C>;
  const Index m = a.rows(), n = b.cols(), k = a.cols();
  require(b.rows() == k && c.rows() == m && c.cols() == n, "products: sizes do not match");
  require(c.innerStride() == 1 || c.size() <= 1, "products: a result with strided entries");
  if (m == 0 || n == 0) return;
  const Operand<T> A_ = operand_of(a), B_ = operand_of(b);
  T* out = c.data();
  if constexpr (static_cast<bool>(Out::IsRowMajor)) {
    const Index ldc = m > 1 ? c.outerStride() : n;
    kernels<T>().gemm(A_.transposed, B_.transposed, m, n, k, alpha, A_.data, A_.ld, B_.data, B_.ld, beta, out,
                      std::max<Index>(ldc, 1));
  } else {  // c^T = b^T a^T, c^T row-major
    const Index ldc = n > 1 ? c.outerStride() : m;
    kernels<T>().gemm(!B_.transposed, !A_.transposed, n, m, k, alpha, B_.data, B_.ld, A_.data, A_.ld, beta, out,
                      std::max<Index>(ldc, 1));
  }
}

// The lower triangle of c (n x n) += alpha a^T a (a k x n), by
// kernels<T>().rank_update; c's upper triangle is not touched.
template <class A, class C>
void rank_update_lower(const Eigen::MatrixBase<A>& a, C&& c, typename A::Scalar alpha = 1) {
  using T = typename A::Scalar;
  using Out = std::remove_reference_t<C>;
  const Index n = a.cols(), k = a.rows();
  require(c.rows() == n && c.cols() == n, "products: sizes do not match");
  if (n == 0 || k == 0) return;
  const Operand<T> A_ = operand_of(a);
  // The lower triangle of a column-major c is the upper one of its row-major view.
  const bool upper = !static_cast<bool>(Out::IsRowMajor);
  kernels<T>().rank_update(upper, A_.transposed, n, k, alpha, A_.data, A_.ld, c.data(), n > 1 ? c.outerStride() : 1);
}

// The `count` largest eigenvalues of the symmetric matrix a (both triangles
// filled), descending; with vectors != nullptr their orthonormal
// eigenvectors as its columns, and with smallest != nullptr the smallest
// eigenvalue, by kernels<T>().leading_eigen. False (and NaN) when a is not
// finite.
template <class A>
bool leading_symmetric_eigen(const Eigen::MatrixBase<A>& a, Index count, Vector<typename A::Scalar>& values,
                             Matrix<typename A::Scalar>* vectors, typename A::Scalar* smallest = nullptr) {
  using T = typename A::Scalar;
  const Index n = a.rows();
  require(a.cols() == n, "leading_symmetric_eigen: the matrix is not square");
  require(count >= 0 && count <= n, "leading_symmetric_eigen: count must be in [0, n]");
  values.resize(count);
  RowMatrix<T> rows(vectors != nullptr ? n : 0, count);
  const Operand<T> A_ = operand_of(a);  // symmetric: a or its transpose alike
  if (n == 0 && smallest != nullptr) *smallest = T(0);
  const bool finite = n == 0 || kernels<T>().leading_eigen(n, A_.data, A_.ld, count, values.data(),
                                                           vectors != nullptr ? rows.data() : nullptr, count, smallest);
  if (vectors != nullptr) *vectors = rows;
  return finite;
}

// Replaces the columns of the m x n matrix q (m >= n, column-major, unit
// inner stride) by the first n columns of Q of its Householder QR,
// q = Q R, and returns R's diagonal, by kernels<T>().orthonormalise.
template <class T>
Vector<T> orthonormalise_columns(Matrix<T>& q) {
  const Index m = q.rows(), n = q.cols();
  require(m >= n, "orthonormalise_columns: more columns than rows");
  Vector<T> diagonal(n);
  if (n == 0) return diagonal;
  RowMatrix<T> rows = q;  // the kernel's layout
  kernels<T>().orthonormalise(m, n, rows.data(), n, diagonal.data());
  q = rows;
  return diagonal;
}

}  // namespace vaekit::detail
