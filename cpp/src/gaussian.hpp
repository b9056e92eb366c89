// The Gaussian log-likelihood of targets under the decoder's means, behind
// the VAE's Gaussian decoder and the Autoencoder's squared error: a kernel
// (kernels<T>().gaussian, whose comment in kernels.hpp says what it gives).
// Instruction-set specific: only isa_kernels.cpp includes it, once per
// instruction set, with VAEKIT_ISA naming the namespace of that copy.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "kernels.hpp"

namespace vaekit::detail::VAEKIT_ISA {

using Index = KernelIndex;

// The sums go through Eigen's vectorised reductions (the compiler does not
// reorder a floating-point sum); the derivative loops are plain and
// vectorised by the compiler. kObserved: observed != nullptr.
template <class T, bool kObserved>
double gaussian_log_likelihood(const T* x, const T* f, const T* raw, Index step, Index D, T lo, T hi,
                               const T* observed, T* d_out, T* d_log_variance, bool clamp_derivative, T scale) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  const auto clamp = [&](T v) { return std::min(std::max(v, lo), hi); };
  const auto inside = [&](T v) { return (v >= lo && v <= hi) || !clamp_derivative ? T(1) : T(0); };
  const auto mask = [&](Index j) { return kObserved ? observed[j] : T(1); };
  const auto derivatives = [&](Index j, T precision, T lv_factor) {
    const T r = mask(j) * (x[j] - f[j]);
    d_out[j] = -scale * r * precision;
    if (d_log_variance) d_log_variance[j] = lv_factor * scale * T(0.5) * (mask(j) - r * r * precision);
  };
  double sum = 0;
  if (step == 0) {
    // One variance for every target: no transcendental function per target.
    const T log_variance = clamp(raw[0]), precision = std::exp(-log_variance);
    const Eigen::Map<const Array> xs(x, D), fs(f, D);
    double n_observed = static_cast<double>(D);
    T squares;
    if constexpr (kObserved) {
      const Eigen::Map<const Array> m(observed, D);
      n_observed = static_cast<double>(m.sum());
      squares = (m * (xs - fs)).square().sum();
    } else {
      squares = (xs - fs).square().sum();
    }
    sum = n_observed * static_cast<double>(log_variance) + static_cast<double>(squares) * precision;
    if (d_out) {
      const T lv_factor = inside(raw[0]);
      for (Index j = 0; j < D; ++j) derivatives(j, precision, lv_factor);
    }
    return -0.5 * sum;
  }
  // One variance per target: the clamped log-variances and their exp in
  // aligned local blocks (Eigen computes the entries of an unaligned
  // destination before its first aligned packet with the scalar exp, whose
  // last bit differs: a row's value would depend on where the buffers sit).
  constexpr Index kChunk = 256;
  alignas(64) T lv_block[kChunk];
  alignas(64) T precision_block[kChunk];
  for (Index start = 0; start < D; start += kChunk) {
    const Index n = std::min(kChunk, D - start);
    Eigen::Map<Array, Eigen::Aligned64> lv(lv_block, n), precision(precision_block, n);
    lv = Eigen::Map<const Array>(raw + start, n).max(lo).min(hi);
    precision = (-lv).exp();
    const auto residual = Eigen::Map<const Array>(x + start, n) - Eigen::Map<const Array>(f + start, n);
    if constexpr (kObserved) {
      const Eigen::Map<const Array> m(observed + start, n);
      sum += static_cast<double>((m * lv + (m * residual).square() * precision).sum());
    } else {
      sum += static_cast<double>((lv + residual.square() * precision).sum());
    }
    if (d_out)
      for (Index j = start; j < start + n; ++j)
        derivatives(j, precision_block[j - start], inside(raw[j]));
  }
  return -0.5 * sum;
}

}  // namespace vaekit::detail::VAEKIT_ISA
