// Rows compressed to their nonzero entries (detail::SparseRows, kernels.hpp):
// the compression of mostly-zero input rows for the sparse affine products,
// and the transpose the training pass uses. Private to the library's sources.
#pragma once

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif
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

// Inputs at most this dense (fraction of nonzero entries) go through the
// sparse products; denser ones through the dense kernel. The sparse product
// costs about twice as much per nonzero (its weights come from L2 rather
// than L1), so the two break even near 0.4-0.5 with AVX-512 and AVX2.
constexpr double kMaxSparseDensity = 0.3;

// Inputs narrower than this are never compressed (a latent code).
constexpr Index kMinSparseInputs = 64;

// Entries the buffers of compress_rows need for `rows` rows of n.
inline Index sparse_capacity(Index rows, Index n) {
  // Up to kMaxSparseDensity of the rows before the last, then a whole row.
  return static_cast<Index>(kMaxSparseDensity * static_cast<double>(rows * n)) + n;
}

// Compresses rows x n rows of X (x_stride apart) into index, value (room for
// sparse_capacity(rows, n) entries) and start (rows + 1). Gives up, returning
// false, as soon as the rows so far hold more than kMaxSparseDensity of
// nonzeros: dense data costs one row's scan.
// NaN counts as nonzero, -0 as zero.
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

}  // namespace vaekit::detail
