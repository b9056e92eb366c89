// The Bernoulli log-likelihood of targets under logits, behind the VAE's
// Bernoulli decoder and the Autoencoder's BCE loss: a kernel
// (kernels<T>().bernoulli). Instruction-set specific: only isa_kernels.cpp
// includes it, once per instruction set, with VAEKIT_ISA naming the namespace
// of that copy.
#pragma once

#include <Eigen/Core>
#include <algorithm>

#include "kernels.hpp"

namespace vaekit::detail::VAEKIT_ISA {

using Index = KernelIndex;

// log p(x | f) = sum_j x_j f_j - softplus(f_j) for D targets x and logits f:
// the log-sigmoid form, stable for any logit. softplus(f) = max(f, 0) +
// log1p(e) and sigmoid(f) = (f >= 0 ? 1 : e) / (1 + e) share e = exp(-|f|),
// computed through Eigen's vectorised exp and log1p (a libm call per pixel
// costs as much as a layer's products). The terms are summed in Sum. If
// d_out is given it receives scale * d(-log p)/df = scale * (sigmoid(f) - x),
// and e is kept there meanwhile; else e goes to `scratch` (D values), or,
// when scratch is null too, is never stored. With `observed` (D values, 1
// where x_j is observed, 0 where it is missing and x_j holds 0), the sum and
// the derivatives cover the observed targets only.
// e = exp(-|f|) for D values, the same bits wherever e and f sit: Eigen's
// assignment into an unaligned Map computes the entries before the
// destination's first aligned packet with the scalar exp, which differs from
// the vectorised one in the last bit, and the kernels' callers guarantee only
// 16-byte alignment (an AVX-512 packet wants 64). So each chunk is computed
// into an aligned local block, where the split between packets and the
// scalar tail depends on D alone, and copied.
template <class T>
void exp_minus_abs(const T* f, Index D, T* e) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  constexpr Index kChunk = 256;
  alignas(64) T block[kChunk];
  for (Index start = 0; start < D; start += kChunk) {
    const Index n = std::min(kChunk, D - start);
    Eigen::Map<Array, Eigen::Aligned64>(block, n) = (-Eigen::Map<const Array>(f + start, n).abs()).exp();
    std::copy(block, block + n, e + start);
  }
}

template <class Sum, class T>
Sum bernoulli_log_likelihood(const T* x, const T* f, Index D, T* d_out, T scale, T* scratch,
                             const T* observed = nullptr) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  const Eigen::Map<const Array> fs(f, D), xs(x, D);
  T* e = d_out ? d_out : scratch;
  if (!e && !observed) return (xs * fs - fs.max(T(0)) - (-fs.abs()).exp().log1p()).template cast<Sum>().sum();
  Eigen::Map<Array> es(e ? e : scratch, D);
  exp_minus_abs(f, D, es.data());
  const auto terms = xs * fs - fs.max(T(0)) - es.log1p();
  const Sum total = observed ? (terms * Eigen::Map<const Array>(observed, D)).template cast<Sum>().sum()
                             : terms.template cast<Sum>().sum();
  if (d_out) {
    for (Index j = 0; j < D; ++j) {
      const T ej = e[j];  // d_out[j] is e[j]: read before it is overwritten
      d_out[j] = scale * ((f[j] >= T(0) ? T(1) : ej) / (T(1) + ej) - x[j]);
    }
    if (observed)
      for (Index j = 0; j < D; ++j) d_out[j] *= observed[j];
  }
  return total;
}

}  // namespace vaekit::detail::VAEKIT_ISA
