#include "vaekit/optim.hpp"

#include <cmath>

#include "denormals.hpp"
#include "parallel.hpp"

namespace vaekit {

template <class T>
void adam_step(T* params, const T* gradient, const T* decay_mask, Index n, AdamState<T>& state,
               const AdamOptions& options) {
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
#pragma omp parallel if (n >= 65536)
  {
    // Tiny gradients would make tiny moments (g^2 underflows first): flushed
    // to zero rather than computed slowly as denormals; see denormals.hpp.
    detail::FlushDenormals flush_denormals;
#pragma omp for schedule(static)
    for (int i = 0; i < static_cast<int>(n); ++i) {
      const T g = gradient[i];
      m[i] = b1 * m[i] + (T(1) - b1) * g;
      v[i] = b2 * v[i] + (T(1) - b2) * g * g;
      T update = step_size * m[i] / (std::sqrt(v[i]) + eps_hat);
      if (use_decay) update += decay * decay_mask[i] * params[i];
      params[i] -= update;
    }
  }
}

template void adam_step<float>(float*, const float*, const float*, Index, AdamState<float>&, const AdamOptions&);
template void adam_step<double>(double*, const double*, const double*, Index, AdamState<double>&,
                                const AdamOptions&);

}  // namespace vaekit
