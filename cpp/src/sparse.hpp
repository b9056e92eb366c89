// Products of a CSR matrix (common.hpp's CsrMatrixView) with dense matrices,
// private to the library. Each costs O(nnz k) and never forms a dense copy
// of the sparse matrix; the parallel ones sum their per-thread parts in
// thread order, so a given thread count gives the same bits.
#pragma once

#include <algorithm>
#include <vector>

#include "parallel.hpp"
#include "vaekit/common.hpp"

namespace vaekit::detail {

// Work of a sparse product with k dense columns: 2 nnz k flops, which run at
// memory speed rather than a blocked kernel's, so they count as values.
template <class T>
Work sparse_work(const CsrMatrixView<T>& X, Index k) {
  return Work::of_values(2.0 * static_cast<double>(X.nnz()) * static_cast<double>(k));
}

// out (X.rows x k, row-major) = X B, with B (X.cols x k) row-major.
template <class T>
void csr_times(const CsrMatrixView<T>& X, const T* B, Index k, T* out) {
#pragma omp parallel for schedule(static) if(worth_parallel(sparse_work(X, k)))
  for (int r = 0; r < static_cast<int>(X.rows); ++r) {
    T* __restrict target = out + static_cast<Index>(r) * k;
    std::fill(target, target + k, T(0));
    for (std::int64_t e = X.indptr[r]; e < X.indptr[r + 1]; ++e) {
      const T value = X.values[e];
      const T* __restrict source = B + X.indices[e] * k;
      for (Index j = 0; j < k; ++j) target[j] += value * source[j];
    }
  }
}

// X^T Y (X.cols x k, row-major), with Y (X.rows x k) row-major.
template <class T>
RowMatrix<T> csr_transpose_times(const CsrMatrixView<T>& X, const T* Y, Index k) {
  const int threads = worth_parallel(sparse_work(X, k)) ? max_threads() : 1;
  // Zeroed here: the team may have fewer threads than asked for.
  std::vector<RowMatrix<T>> partial(threads, RowMatrix<T>::Zero(X.cols, k));
#pragma omp parallel num_threads(threads) if(threads > 1)
  {
    const RowSlice rows = this_thread_rows(X.rows);
    RowMatrix<T>& sum = partial[thread_id()];
    for (Index r = rows.begin; r < rows.end; ++r) {
      const T* __restrict source = Y + r * k;
      for (std::int64_t e = X.indptr[r]; e < X.indptr[r + 1]; ++e) {
        const T value = X.values[e];
        T* __restrict target = sum.data() + X.indices[e] * k;
        for (Index j = 0; j < k; ++j) target[j] += value * source[j];
      }
    }
  }
  for (int t = 1; t < threads; ++t) partial[0] += partial[t];
  return partial[0];
}

namespace sparse_detail {
// X^T (X B) over rows [rows.begin, rows.end), K = k known at compile time (0:
// k at run time). `table` holds, per column c of X, B's row c (k values)
// followed by the sums of row c of the result (k values): one cache line
// serves both the gather of a row's x B and the scatter of x^T (x B), which
// touches the lines the gather has just read.
template <int K, class T>
void gram_times_rows(const CsrMatrixView<T>& X, Index k, RowSlice rows, T* table) {
  const Index width = K > 0 ? K : k, stride = 2 * width;
  std::vector<T> projected(width);
  T* __restrict t = projected.data();
  for (Index r = rows.begin; r < rows.end; ++r) {
    const std::int64_t begin = X.indptr[r], end = X.indptr[r + 1];
    for (Index j = 0; j < width; ++j) t[j] = T(0);
    for (std::int64_t e = begin; e < end; ++e) {
      const T value = X.values[e];
      const T* __restrict source = table + X.indices[e] * stride;
      for (Index j = 0; j < width; ++j) t[j] += value * source[j];
    }
    for (std::int64_t e = begin; e < end; ++e) {
      const T value = X.values[e];
      T* __restrict target = table + X.indices[e] * stride + width;
      for (Index j = 0; j < width; ++j) target[j] += value * t[j];
    }
  }
}
}  // namespace sparse_detail

// X^T (X B) (X.cols x k, row-major), with B (X.cols x k) row-major, in one
// pass over X: each row's t = x B (k values) is formed and x^T t added at
// once, while the row's entries are in cache. Half the memory traffic of
// csr_times followed by csr_transpose_times, and no n x k intermediate.
template <class T>
RowMatrix<T> csr_gram_times(const CsrMatrixView<T>& X, const T* B, Index k) {
  const int threads = worth_parallel(sparse_work(X, 2 * k)) ? max_threads() : 1;
  const Index D = X.cols;
  // Zeroed here: the team may have fewer threads than asked for.
  std::vector<RowMatrix<T>> partial(threads, RowMatrix<T>::Zero(D, k));
#pragma omp parallel num_threads(threads) if(threads > 1)
  {
    const RowSlice rows = this_thread_rows(X.rows);
    std::vector<T> table(static_cast<std::size_t>(2 * D * k), T(0));
    for (Index c = 0; c < D; ++c) std::copy(B + c * k, B + (c + 1) * k, table.data() + 2 * c * k);
    switch (k) {  // the common block widths, unrolled
      case 1: sparse_detail::gram_times_rows<1>(X, k, rows, table.data()); break;
      case 2: sparse_detail::gram_times_rows<2>(X, k, rows, table.data()); break;
      case 3: sparse_detail::gram_times_rows<3>(X, k, rows, table.data()); break;
      case 4: sparse_detail::gram_times_rows<4>(X, k, rows, table.data()); break;
      case 5: sparse_detail::gram_times_rows<5>(X, k, rows, table.data()); break;
      case 6: sparse_detail::gram_times_rows<6>(X, k, rows, table.data()); break;
      case 8: sparse_detail::gram_times_rows<8>(X, k, rows, table.data()); break;
      default: sparse_detail::gram_times_rows<0>(X, k, rows, table.data()); break;
    }
    RowMatrix<T>& sum = partial[thread_id()];
    for (Index c = 0; c < D; ++c) {
      const T* result = table.data() + (2 * c + 1) * k;
      std::copy(result, result + k, sum.row(c).data());
    }
  }
  for (int t = 1; t < threads; ++t) partial[0] += partial[t];
  return partial[0];
}

// Rows [start, start + rows) of X made dense into out (rows x X.cols,
// row-major): implicit entries are zeros, stored ones (NaN included) kept;
// duplicate entries add up, as in scipy.
template <class T>
void csr_dense_rows(const CsrMatrixView<T>& X, Index start, Index rows, T* out) {
  std::fill(out, out + rows * X.cols, T(0));
  for (Index r = 0; r < rows; ++r) {
    T* target = out + r * X.cols;
    for (std::int64_t e = X.indptr[start + r]; e < X.indptr[start + r + 1]; ++e) target[X.indices[e]] += X.values[e];
  }
}

// Column sums and sums of squares of X (D each), in double.
template <class T>
void csr_column_sums(const CsrMatrixView<T>& X, Eigen::VectorXd& sum, Eigen::VectorXd& sum_sq) {
  sum = Eigen::VectorXd::Zero(X.cols);
  sum_sq = Eigen::VectorXd::Zero(X.cols);
  for (Index r = 0; r < X.rows; ++r) {
    for (std::int64_t e = X.indptr[r]; e < X.indptr[r + 1]; ++e) {
      const double value = X.values[e];
      sum(X.indices[e]) += value;
      sum_sq(X.indices[e]) += value * value;
    }
  }
}

// The lower triangle of X^T X (D x D), in T: per row, the outer product of
// its stored entries, O(sum over rows of nnz_r^2).
template <class T>
Matrix<T> csr_gram(const CsrMatrixView<T>& X) {
  const Index D = X.cols;
  double pairs = 0;
  for (Index r = 0; r < X.rows; ++r) {
    const double count = static_cast<double>(X.indptr[r + 1] - X.indptr[r]);
    pairs += count * count;
  }
  const int threads = worth_parallel(Work::of_values(2.0 * pairs)) ? max_threads() : 1;
  std::vector<Matrix<T>> partial(threads, Matrix<T>::Zero(D, D));
#pragma omp parallel num_threads(threads) if(threads > 1)
  {
    const RowSlice rows = this_thread_rows(X.rows);
    Matrix<T>& gram = partial[thread_id()];
    for (Index r = rows.begin; r < rows.end; ++r) {
      for (std::int64_t a = X.indptr[r]; a < X.indptr[r + 1]; ++a) {
        const Index i = X.indices[a];
        const T value = X.values[a];
        // Every ordered pair of the row's entries whose first column is not
        // before the second: each unordered pair of columns once, a column
        // with itself once per pair of its (possibly duplicate) entries.
        for (std::int64_t b = X.indptr[r]; b < X.indptr[r + 1]; ++b) {
          const Index j = X.indices[b];
          if (i >= j) gram(i, j) += value * X.values[b];
        }
      }
    }
  }
  for (int t = 1; t < threads; ++t) partial[0] += partial[t];
  return partial[0];
}

}  // namespace vaekit::detail
