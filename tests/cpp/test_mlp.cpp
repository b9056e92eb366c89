// MLP backpropagation against central finite differences (float64), and the
// inference path against the training path.
#include <cmath>

#include "test_util.hpp"
#include "vaekit/mlp.hpp"

namespace vaekit::testing {
namespace {

// L = sum(output .* R): its gradient with respect to the output is R.
double weighted_output(const MLP<double>& net, const Vector<double>& params, const RowMatrix<double>& X,
                       const RowMatrix<double>& R) {
  MLPWorkspace<double> workspace;
  net.reserve(workspace, X.rows());
  net.forward(params.data(), X.data(), X.rows(), workspace, false);
  return (net.output(workspace, X.rows()).array() * R.array()).sum();
}

class MLPGradient : public ::testing::TestWithParam<Activation> {};

TEST_P(MLPGradient, MatchesCentralFiniteDifferences) {
  const Index rows = 5;
  const MLP<double> net({4, 6, 5, 3}, GetParam(), Activation::Identity);
  const Vector<double> params = random_normal<double>(net.n_parameters(), 1, 1, 0.5);
  const RowMatrix<double> X = random_normal<double>(rows, 4, 2);
  const RowMatrix<double> R = random_normal<double>(rows, 3, 3);

  MLPWorkspace<double> workspace;
  net.reserve(workspace, rows);
  net.forward(params.data(), X.data(), rows, workspace, false);
  net.output_gradient(workspace, rows) = R;
  Vector<double> gradient = Vector<double>::Zero(net.n_parameters());
  net.backward(params.data(), X.data(), rows, workspace, gradient.data(), true, false);
  const RowMatrix<double> input_gradient = net.input_gradient(workspace, rows);

  const double h = 1e-6;
  for (Index p = 0; p < net.n_parameters(); ++p) {
    Vector<double> plus = params, minus = params;
    plus(p) += h;
    minus(p) -= h;
    const double numeric = (weighted_output(net, plus, X, R) - weighted_output(net, minus, X, R)) / (2 * h);
    EXPECT_NEAR(gradient(p), numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << "parameter " << p;
  }
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < 4; ++j) {
      RowMatrix<double> plus = X, minus = X;
      plus(i, j) += h;
      minus(i, j) -= h;
      const double numeric = (weighted_output(net, params, plus, R) - weighted_output(net, params, minus, R)) / (2 * h);
      EXPECT_NEAR(input_gradient(i, j), numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << "input " << i << ", " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, MLPGradient,
                         ::testing::Values(Activation::Identity, Activation::ReLU, Activation::Tanh,
                                           Activation::Sigmoid, Activation::Softplus),
                         [](const ::testing::TestParamInfo<Activation>& info) {
                           return std::string(activation_name(info.param));
                         });

TEST(MLPPredict, AgreesWithTheTrainingForwardPass) {
  const Index rows = 37;
  const MLP<double> net({5, 8, 2}, Activation::Tanh, Activation::Identity);
  Vector<double> params(net.n_parameters());
  net.initialize(params.data(), 4);
  const RowMatrix<double> X = random_normal<double>(rows, 5, 5);
  MLPWorkspace<double> training;
  net.reserve(training, rows);
  net.forward(params.data(), X.data(), rows, training, false);
  MLPInferenceWorkspace<double> inference;
  net.reserve(inference, rows);
  const double* predicted = net.predict(params.data(), X.data(), rows, inference);
  const RowMatrix<double> expected = net.output(training, rows);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < 2; ++j) EXPECT_NEAR(predicted[i * 2 + j], expected(i, j), 1e-12);
}

// One row on several threads (MLP::predict_row shares each large layer's
// columns between them) gives the bits of the blocked, one-thread pass.
template <class T>
void check_predict_row(const std::vector<Index>& sizes) {
  const Index rows = 5;
  const MLP<T> net(sizes, Activation::Tanh, Activation::Identity);
  Vector<T> params(net.n_parameters());
  net.initialize(params.data(), 9);
  const RowMatrix<T> X = random_normal<T>(rows, sizes.front(), 6);
  MLPInferenceWorkspace<T> block, one;
  net.reserve(block, rows);
  net.reserve(one, 1);
  const T* expected = net.predict(params.data(), X.data(), rows, block);
  const Index width = sizes.back();
  for (int threads : {1, 2, 3}) {
    for (Index i = 0; i < rows; ++i) {
      const T* row = net.predict_row(params.data(), X.row(i).data(), one, threads);
      for (Index j = 0; j < width; ++j) ASSERT_EQ(row[j], expected[i * width + j]) << "threads " << threads;
    }
  }
}

TEST(MLPPredict, OneRowOnSeveralThreadsIsBitIdentical) {
  check_predict_row<float>({784, 400, 40});
  check_predict_row<float>({300, 257, 7});  // column counts that are no multiple of a packet
  check_predict_row<double>({301, 333, 3, 260});
  check_predict_row<double>({20, 8, 3});  // too small to share: one thread
}

}  // namespace
}  // namespace vaekit::testing
