// The register-blocked product Y = X W + b behind the models' inference pass
// and training forward pass (mlp.cpp) and PPCA's EM and posterior pass
// (ppca_detail.hpp), and its sparse counterpart for mostly-zero inputs.
//
// Instruction-set specific: only isa_kernels.cpp includes it, once per
// instruction set, with VAEKIT_ISA naming the namespace of that copy; the
// rest of the library reaches it through the dispatch table (kernels.hpp).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <utility>

#include "kernels.hpp"

#ifndef VAEKIT_ISA
#error "affine_kernel.hpp is compiled once per instruction set: define VAEKIT_ISA (isa_kernels.cpp)"
#endif

// Eigen's packet types (__m128 and the like) as template arguments: GCC warns
// that their alignment attributes are ignored there, as Eigen's own headers
// silence it. They are only used to name types, never stored in containers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

// The register tiles' loops over rows and packets (constant trip counts)
// unrolled whatever the optimisation level, so that the accumulators stay in
// registers (x86-64's baseline kernels compile at -O2: CMakeLists.txt).
#if defined(__clang__)
#define VAEKIT_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define VAEKIT_UNROLL _Pragma("GCC unroll 16")
#else
#define VAEKIT_UNROLL
#endif

namespace vaekit::detail::VAEKIT_ISA {

using Index = KernelIndex;

// Inference product Y = X W + b, row-invariant and register-blocked.
//
// Every output entry y[r][j] is computed by the same sequence of operations
// whatever the rows around it: it starts at b[j] and accumulates
// x[r][k] * w[k][j] for k = 0, 1, ..., n_in - 1 in that order, with a
// multiply-add on packets for the columns covered by packet tiles (a choice
// that depends on j and n_out only) and a scalar multiply and add for the
// last few columns. Partial sums may be parked in Y between k-chunks: storing
// and reloading a float is exact. So how rows are grouped (kRows at a time,
// or fewer at the end of a block) never changes a result, bit for bit.
//
// The blocking: a k-chunk of a two-packet column panel of W (kChunk x 2P
// values, 32 KB for AVX-512 floats) stays in L1 while every row group of the
// block streams past it, and each row group keeps 2 x kRows accumulators in
// registers.
template <class T>
struct AffineKernel {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  using HalfPacket = typename Eigen::internal::unpacket_traits<Packet>::half;
  static constexpr int P = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr int kHalf = Eigen::internal::unpacket_traits<HalfPacket>::size;
  // AVX-512's quarter packet (4 floats, 2 doubles), so that a tail such as
  // 100 = 96 + 4 columns takes no scalar path; elsewhere the half packet again.
  using QuarterPacket = typename Eigen::internal::unpacket_traits<HalfPacket>::half;
  static constexpr int kQuarter = Eigen::internal::unpacket_traits<QuarterPacket>::size;
  // Rows per group: 2 x kRows accumulators plus three registers must fit the
  // register file (32 vector registers with AVX-512 or NEON, else 16).
#if defined(EIGEN_VECTORIZE_AVX512) || defined(EIGEN_VECTORIZE_NEON)
  static constexpr int kRows = 8;
  static constexpr int kWide = 8;
#else
  static constexpr int kRows = 6;
  static constexpr int kWide = 4;
#endif
  static constexpr Index kChunk = 256;

  // Where a dense product's sums start (the sparse one's SumStart): the
  // bias, Y (the product is added to it) or zero; and whether X is given
  // transposed (kTransX: x[r][k] at X[k * x_stride + r], for the training
  // pass's X^T G).
  using Start = SumStart;

  // x[r][k] of a row group starting at x.
  template <bool kTransX>
  static T x_at(const T* x, Index x_stride, Index r, Index k) {
    return kTransX ? x[k * x_stride + r] : x[r * x_stride + k];
  }
  // The first row of the row group starting at row r.
  template <bool kTransX>
  static const T* group(const T* X, Index x_stride, Index r) {
    return kTransX ? X + r : X + r * x_stride;
  }

  // Rows [0, R) of a group, columns [j, j + N * size(Pk)), k in [k0, k1);
  // the accumulators start at k0 == 0 from `start`, after it from Y.
  template <int R, class Pk, int N, bool kTransX>
  static void tile(const T* x, Index x_stride, const T* W, Index n_out, Start start, const T* b, T* Y, Index j,
                   Index k0, Index k1) {
    using namespace Eigen::internal;
    constexpr int S = unpacket_traits<Pk>::size;
    const Start from = k0 == 0 ? start : Start::Output;
    Pk acc[R][N];
    VAEKIT_UNROLL for (int r = 0; r < R; ++r)
      VAEKIT_UNROLL for (int c = 0; c < N; ++c)
        acc[r][c] = from == Start::Bias   ? ploadu<Pk>(b + j + c * S)
                    : from == Start::Zero ? pset1<Pk>(T(0))
                                          : ploadu<Pk>(Y + r * n_out + j + c * S);
    for (Index k = k0; k < k1; ++k) {
      const T* w = W + k * n_out + j;
      Pk wk[N];
      VAEKIT_UNROLL for (int c = 0; c < N; ++c) wk[c] = ploadu<Pk>(w + c * S);
      VAEKIT_UNROLL for (int r = 0; r < R; ++r) {
        const Pk a = pset1<Pk>(x_at<kTransX>(x, x_stride, r, k));
        VAEKIT_UNROLL for (int c = 0; c < N; ++c) acc[r][c] = pmadd(a, wk[c], acc[r][c]);
      }
    }
    VAEKIT_UNROLL for (int r = 0; r < R; ++r)
      VAEKIT_UNROLL for (int c = 0; c < N; ++c) pstoreu(Y + r * n_out + j + c * S, acc[r][c]);
  }

  // One column panel for rows [0, rows): kRows rows at a time, then the rest.
  template <class Pk, int N, bool kTransX, int R = kRows>
  static void panel(const T* X, Index rows, Index x_stride, const T* W, Index n_out, Start start, const T* b, T* Y,
                    Index j, Index k0, Index k1) {
    Index r = 0;
    for (; r + R <= rows; r += R)
      tile<R, Pk, N, kTransX>(group<kTransX>(X, x_stride, r), x_stride, W, n_out, start, b, Y + r * n_out, j, k0, k1);
    if constexpr (R > 1) {
      if (r < rows)
        panel<Pk, N, kTransX, R / 2>(group<kTransX>(X, x_stride, r), rows - r, x_stride, W, n_out, start, b,
                                     Y + r * n_out, j, k0, k1);
    }
  }

  // Columns [begin, end) of Y = op(X) W (+ b or + Y, see Start); begin must
  // be a multiple of P and end either a multiple of P or n_out, so that each
  // column is covered by a packet tile exactly when it is in the whole
  // product (run() below).
  // Not inlined: the inference pass (affine) and gemm share one copy of the
  // tiles per instruction set (each inlined copy costs the wheel ~20 KB).
  template <bool kTransX>
  EIGEN_DONT_INLINE static void run_columns(const T* X, Index rows, Index x_stride, const T* W, Start start,
                                            const T* b, Index n_in, Index n_out, T* Y, Index begin, Index end) {
    for (Index k0 = 0; k0 < n_in; k0 += kChunk) {
      const Index k1 = std::min(n_in, k0 + kChunk);
      // Column panels: two packets wide, then one packet, then half and
      // quarter packets, then single columns; which one covers column j
      // depends on n_out only.
      Index j = begin;
      if (rows == 1) {
        // One row (a one-sample transform): kWide packets per tile, so that
        // kWide multiply-add chains run at once instead of two waiting on
        // their own latency. Each entry's operations are unchanged.
        for (; j + kWide * P <= end; j += kWide * P)
          tile<1, Packet, kWide, kTransX>(X, x_stride, W, n_out, start, b, Y, j, k0, k1);
      }
      for (; j + 2 * P <= end; j += 2 * P)
        panel<Packet, 2, kTransX>(X, rows, x_stride, W, n_out, start, b, Y, j, k0, k1);
      if (j + P <= end) {
        panel<Packet, 1, kTransX>(X, rows, x_stride, W, n_out, start, b, Y, j, k0, k1);
        j += P;
      }
      if constexpr (kHalf < P) {
        for (; j + kHalf <= end; j += kHalf)
          panel<HalfPacket, 1, kTransX>(X, rows, x_stride, W, n_out, start, b, Y, j, k0, k1);
      }
      if constexpr (kQuarter < kHalf) {
        for (; j + kQuarter <= end; j += kQuarter)
          panel<QuarterPacket, 1, kTransX>(X, rows, x_stride, W, n_out, start, b, Y, j, k0, k1);
      }
      const Start from = k0 == 0 ? start : Start::Output;
      for (; j < end; ++j) {
        for (Index r = 0; r < rows; ++r) {
          T acc = from == Start::Bias ? b[j] : from == Start::Zero ? T(0) : Y[r * n_out + j];
          for (Index k = k0; k < k1; ++k) acc = acc + x_at<kTransX>(X, x_stride, r, k) * W[k * n_out + j];
          Y[r * n_out + j] = acc;
        }
      }
    }
  }

  // The inference product: columns [begin, end) of Y = X W + b (b ==
  // nullptr: Y += X W).
  static void run_columns(const T* X, Index rows, Index x_stride, const T* W, const T* b, Index n_in, Index n_out,
                          T* Y, Index begin, Index end) {
    run_columns<false>(X, rows, x_stride, W, b != nullptr ? Start::Bias : Start::Output, b, n_in, n_out, Y, begin,
                       end);
  }

  // Y (rows x n_out, row-major) = X W + b, with X's rows x_stride apart and W
  // row-major n_in x n_out; b == nullptr: Y += X W.
  static void run(const T* X, Index rows, Index x_stride, const T* W, const T* b, Index n_in, Index n_out, T* Y) {
    run_columns(X, rows, x_stride, W, b, n_in, n_out, Y, 0, n_out);
  }

  // ------------------------------------------------------------------ sparse
  // The same product for rows given by their nonzero entries (SparseRows),
  // for inputs such as images, most of whose pixels are 0. Each entry
  // accumulates x[r][k] * w[k][j] over the nonzero x[r][k] in ascending k,
  // with the same operation per column as run_columns: the terms it skips
  // are (+-0) * w, and adding +-0 leaves a sum unchanged (W finite). So the
  // values equal run()'s, bit for bit (0 and -0 aside), at a cost
  // proportional to the nonzeros.
  //
  // Tiles of up to kSparseWide packets of columns (as many independent
  // multiply-add chains hide the instruction's latency); every row of the
  // block walks its nonzeros through one tile before the next tile starts,
  // so that a tile of W read by many rows stays in cache.
#if defined(EIGEN_VECTORIZE_AVX512) || defined(EIGEN_VECTORIZE_NEON)
  static constexpr int kSparseWide = 12;
#else
  static constexpr int kSparseWide = 8;
#endif

  template <class Pk, int N>
  static void sparse_tile(const int* index, const T* value, Index count, const T* W, Index n_out, Start start,
                          const T* b, T* y, Index j) {
    using namespace Eigen::internal;
    constexpr int S = unpacket_traits<Pk>::size;
    Pk acc[N];
    for (int c = 0; c < N; ++c) {
      acc[c] = start == Start::Bias     ? ploadu<Pk>(b + j + c * S)
               : start == Start::Output ? ploadu<Pk>(y + j + c * S)
                                        : pset1<Pk>(T(0));
    }
    for (Index i = 0; i < count; ++i) {
      const T* w = W + static_cast<Index>(index[i]) * n_out + j;
      const Pk a = pset1<Pk>(value[i]);
      for (int c = 0; c < N; ++c) acc[c] = pmadd(a, ploadu<Pk>(w + c * S), acc[c]);
    }
    for (int c = 0; c < N; ++c) pstoreu(y + j + c * S, acc[c]);
  }

  // sparse_tile<Packet, n> for a run-time n in [1, kSparseWide].
  template <int... Ns>
  static void sparse_tile_n(std::integer_sequence<int, Ns...>, int n, const int* index, const T* value, Index count,
                            const T* W, Index n_out, Start start, const T* b, T* y, Index j) {
    ((n == Ns + 1 ? (sparse_tile<Packet, Ns + 1>(index, value, count, W, n_out, start, b, y, j), 0) : 0), ...);
  }

  // Columns [begin, end) of Y (rows x n_out) = X W (+ b or + Y, see Start),
  // under run_columns' rules for begin and end.
  static void run_columns_sparse(const SparseRows<T>& X, Index rows, const T* W, Start start, const T* b,
                                 Index n_out, T* Y, Index begin, Index end) {
    const Index packets = (end - begin) / P;
    // The whole packets in tiles of at most kSparseWide, evened out (25
    // packets: 9 + 8 + 8) so that no tile is left with a short chain.
    const Index tiles = (packets + kSparseWide - 1) / kSparseWide;
    Index j = begin;
    for (Index t = 0; t < tiles; ++t) {
      const int n = static_cast<int>(packets * (t + 1) / tiles - packets * t / tiles);
      for (Index r = 0; r < rows; ++r) {
        const Index first = X.start[r];
        sparse_tile_n(std::make_integer_sequence<int, kSparseWide>{}, n, X.index + first, X.value + first,
                      X.start[r + 1] - first, W, n_out, start, b, Y + r * n_out, j);
      }
      j += n * P;
    }
    const Index tail = j;
    for (Index r = 0; r < rows; ++r) {
      const Index first = X.start[r], count = X.start[r + 1] - first;
      const int* index = X.index + first;
      const T* value = X.value + first;
      T* y = Y + r * n_out;
      j = tail;
      if constexpr (kHalf < P) {
        for (; j + kHalf <= end; j += kHalf)
          sparse_tile<HalfPacket, 1>(index, value, count, W, n_out, start, b, y, j);
      }
      if constexpr (kQuarter < kHalf) {
        for (; j + kQuarter <= end; j += kQuarter)
          sparse_tile<QuarterPacket, 1>(index, value, count, W, n_out, start, b, y, j);
      }
      for (; j < end; ++j) {
        T acc = start == Start::Bias ? b[j] : start == Start::Output ? y[j] : T(0);
        for (Index i = 0; i < count; ++i) acc = acc + value[i] * W[static_cast<Index>(index[i]) * n_out + j];
        y[j] = acc;
      }
    }
  }
};

}  // namespace vaekit::detail::VAEKIT_ISA

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
