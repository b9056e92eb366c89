// Adam against the formula in long double, and the two-buffer step (the
// halves of a batch's gradient summed as the step reads them) against the
// one-buffer step on their sum.
#include <cmath>

#include "test_util.hpp"
#include "vaekit/optim.hpp"

namespace vaekit::testing {
namespace {

TEST(Adam, FollowsTheFormulaWithDecoupledWeightDecay) {
  const Index n = 7;
  AdamOptions options;
  options.learning_rate = 0.05;
  options.weight_decay = 0.3;
  Vector<double> params = random_normal<double>(n, 1, 41);
  Vector<double> mask = Vector<double>::Ones(n);
  mask(0) = 0;  // a bias: no decay
  AdamState<double> state;
  state.reset(n);
  Vector<long double> p = params.cast<long double>(), m = Vector<long double>::Zero(n), v = m;
  for (int t = 1; t <= 4; ++t) {
    const Vector<double> g = random_normal<double>(n, 1, 50 + t);
    ASSERT_TRUE(adam_step(params.data(), g.data(), mask.data(), n, state, options));
    for (Index i = 0; i < n; ++i) {
      m(i) = 0.9L * m(i) + 0.1L * g(i);
      v(i) = 0.999L * v(i) + 0.001L * g(i) * g(i);
      const long double m_hat = m(i) / (1 - std::pow(0.9L, t)), v_hat = v(i) / (1 - std::pow(0.999L, t));
      p(i) -= 0.05L * (m_hat / (std::sqrt(v_hat) + 1e-8L) + 0.3L * mask(i) * p(i));
      EXPECT_NEAR(params(i), static_cast<double>(p(i)), 1e-12) << "step " << t << ", parameter " << i;
    }
  }
}

template <class T>
void check_two_buffers(Index n) {
  const Vector<T> g1 = random_normal<T>(n, 1, 61), g2 = random_normal<T>(n, 1, 62);
  const Vector<T> sum = g1 + g2;
  const Vector<T> start = random_normal<T>(n, 1, 63);
  AdamOptions options;
  options.weight_decay = 0.01;
  const Vector<T> mask = Vector<T>::Ones(n);
  Vector<T> one = start, two = start;
  AdamState<T> state_one, state_two;
  state_one.reset(n);
  state_two.reset(n);
  for (int t = 0; t < 3; ++t) {
    ASSERT_TRUE(adam_step(one.data(), sum.data(), mask.data(), n, state_one, options));
    ASSERT_TRUE(adam_step(two.data(), g1.data(), g2.data(), mask.data(), n, state_two, options));
  }
  for (Index i = 0; i < n; ++i) {
    ASSERT_EQ(one(i), two(i)) << i;
    ASSERT_EQ(state_one.second_moment(i), state_two.second_moment(i)) << i;
  }
}

TEST(Adam, TwoGradientBuffersGiveTheStepOnTheirSum) {
  check_two_buffers<float>(100);
  check_two_buffers<float>(70001);  // parallel blocks
  check_two_buffers<double>(65537);
}

TEST(Adam, ReportsANonFiniteGradient) {
  Vector<float> params = Vector<float>::Zero(5), g1 = Vector<float>::Ones(5), g2 = Vector<float>::Ones(5);
  g2(3) = std::nanf("");
  AdamState<float> state;
  state.reset(5);
  EXPECT_FALSE(adam_step(params.data(), g1.data(), g2.data(), static_cast<const float*>(nullptr), 5, state,
                         AdamOptions{}));
}

}  // namespace
}  // namespace vaekit::testing
