#include "vaekit/optim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "denormals.hpp"
#include "kernels.hpp"
#include "parallel.hpp"

namespace vaekit {


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
      if (!detail::kernels<T>().adam(params, gradient, gradient2, use_decay ? decay_mask : nullptr, m, v, begin, end,
                                     b1, b2, step_size, eps_hat, decay))
        not_finite = 1;
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
