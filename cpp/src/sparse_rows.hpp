// Rows compressed to their nonzero entries (detail::SparseRows, kernels.hpp;
// the compression itself is a kernel, Kernels::compress_rows): the buffer
// sizes, and the transpose the training pass uses. Private to the library's
// sources.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels.hpp"
#include "vaekit/common.hpp"

namespace vaekit::detail {

// The columns of a compressed matrix (rows x n) as the rows of its transpose:
// column k's entries, in ascending row, at [start[k], start[k + 1]) of index
// (the rows) and value. start needs n + 1 entries, index and value as many as
// X has nonzeros.
template <class T>
void transpose_sparse(const SparseRows<T>& X, Index rows, Index n, int* index, T* value, Index* start) {
  std::fill(start, start + n + 1, Index(0));
  for (Index i = 0; i < X.start[rows]; ++i) ++start[X.index[i] + 1];
  for (Index k = 0; k < n; ++k) start[k + 1] += start[k];
  // start[k] now marks where column k begins; it advances as entries land,
  // and ends where column k + 1 begins, so one shift restores it.
  for (Index r = 0; r < rows; ++r) {
    for (Index i = X.start[r]; i < X.start[r + 1]; ++i) {
      const Index position = start[X.index[i]]++;
      index[position] = static_cast<int>(r);
      value[position] = X.value[i];
    }
  }
  for (Index k = n; k > 0; --k) start[k] = start[k - 1];
  start[0] = 0;
}

// Inputs narrower than this are never compressed (a latent code).
constexpr Index kMinSparseInputs = 64;

// Entries the buffers of compress_rows need for `rows` rows of n.
inline Index sparse_capacity(Index rows, Index n) {
  // Up to kMaxSparseDensity of the rows before the last, then a whole row.
  return static_cast<Index>(kMaxSparseDensity * static_cast<double>(rows * n)) + n;
}

}  // namespace vaekit::detail
