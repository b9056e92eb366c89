#include "vaekit/optim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "denormals.hpp"
#include "parallel.hpp"

namespace vaekit {

namespace {

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

}  // namespace

template <class T>
bool adam_step(T* params, const T* gradient, const T* decay_mask, Index n, AdamState<T>& state,
               const AdamOptions& options) {
  return adam_step<T>(params, gradient, nullptr, decay_mask, n, state, options);
}

template <class T>
bool adam_step(T* params, const T* gradient, const T* gradient2, const T* decay_mask, Index n,
               AdamState<T>& state, const AdamOptions& options) {
  state.step += 1;
  const double t = static_cast<double>(state.step);
  // Bias corrections folded into the step size and epsilon (Kingma & Ba, sec. 2):
  // lr * m_hat / (sqrt(v_hat) + eps) = step_size * m / (sqrt(v) + eps_hat).
  const double correction1 = 1.0 - std::pow(options.beta1, t);
  const double correction2 = 1.0 - std::pow(options.beta2, t);
  const T step_size = static_cast<T>(options.learning_rate * std::sqrt(correction2) / correction1);
  const T eps_hat = static_cast<T>(options.epsilon * std::sqrt(correction2));
  const T b1 = static_cast<T>(options.beta1), b2 = static_cast<T>(options.beta2);
  const T decay = static_cast<T>(options.learning_rate * options.weight_decay);
  T* m = state.first_moment.data();
  T* v = state.second_moment.data();
  const bool use_decay = decay_mask != nullptr && options.weight_decay != 0.0;
  int not_finite = 0;
  // Blocks of whole cache lines per thread, when the pass is worth a team
  // (parallel.hpp's policy; per entry, the parameter and both moments are read
  // and written, each gradient and the mask read); the split does not change
  // any result.
  constexpr Index kBlock = 4096;
  const double values_per_entry = 7.0 + (gradient2 != nullptr ? 1.0 : 0.0) + (use_decay ? 1.0 : 0.0);
  const bool parallel = detail::worth_parallel(detail::Work::of_values(values_per_entry * static_cast<double>(n)));
  const int blocks = parallel ? static_cast<int>((n + kBlock - 1) / kBlock) : 1;
#pragma omp parallel if (blocks > 1) reduction(| : not_finite)
  {
    // Tiny gradients would make tiny moments (g^2 underflows first): flushed
    // to zero rather than computed slowly as denormals; see denormals.hpp.
    detail::FlushDenormals flush_denormals;
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const Index begin = static_cast<Index>(b) * kBlock;
      const Index end = blocks == 1 ? n : std::min<Index>(n, begin + kBlock);
      // The four variants: with or without decay, one or two gradient buffers.
      const auto range = [&](auto decay_tag, auto two_tag) {
        return adam_range<T, decltype(decay_tag)::value, decltype(two_tag)::value>(
            params, gradient, gradient2, decay_mask, m, v, begin, end, b1, b2, step_size, eps_hat, decay);
      };
      using Yes = std::true_type;
      using No = std::false_type;
      const bool finite = use_decay ? (gradient2 != nullptr ? range(Yes{}, Yes{}) : range(Yes{}, No{}))
                                    : (gradient2 != nullptr ? range(No{}, Yes{}) : range(No{}, No{}));
      if (!finite) not_finite = 1;
    }
  }
  return not_finite == 0;
}

template bool adam_step<float>(float*, const float*, const float*, Index, AdamState<float>&, const AdamOptions&);
template bool adam_step<double>(double*, const double*, const double*, Index, AdamState<double>&,
                                const AdamOptions&);
template bool adam_step<float>(float*, const float*, const float*, const float*, Index, AdamState<float>&,
                               const AdamOptions&);
template bool adam_step<double>(double*, const double*, const double*, const double*, Index, AdamState<double>&,
                                const AdamOptions&);

}  // namespace vaekit
