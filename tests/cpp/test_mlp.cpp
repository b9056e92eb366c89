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

// gradient against central differences of weighted_output, parameter by parameter.
void expect_parameter_gradient(const MLP<double>& net, const Vector<double>& params, const RowMatrix<double>& X,
                               const RowMatrix<double>& R, const Vector<double>& gradient, double tolerance) {
  const double h = 1e-6;
  for (Index p = 0; p < net.n_parameters(); ++p) {
    Vector<double> plus = params, minus = params;
    plus(p) += h;
    minus(p) -= h;
    const double numeric = (weighted_output(net, plus, X, R) - weighted_output(net, minus, X, R)) / (2 * h);
    EXPECT_NEAR(gradient(p), numeric, tolerance * std::max(1.0, std::abs(numeric))) << "parameter " << p;
  }
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

  expect_parameter_gradient(net, params, X, R, gradient, 1e-6);
  const double h = 1e-6;
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
                           return std::string(enum_name(info.param));
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


// Sparse inputs (at least 64 wide, mostly zeros) take the compressed first
// layer in training: its gradient against finite differences.
TEST(MLPSparseInput, GradientMatchesCentralFiniteDifferences) {
  const Index rows = 6, inputs = 70;
  const MLP<double> net({inputs, 9, 3}, Activation::Tanh, Activation::Identity);
  const Vector<double> params = random_normal<double>(net.n_parameters(), 1, 11, 0.3);
  const RowMatrix<double> X = random_sparse<double>(rows, inputs, 0.15, 12);
  const RowMatrix<double> R = random_normal<double>(rows, 3, 13);
  MLPWorkspace<double> workspace;
  net.reserve(workspace, rows);
  net.forward(params.data(), X.data(), rows, workspace, false);
  ASSERT_TRUE(workspace.input_sparse);
  net.output_gradient(workspace, rows) = R;
  Vector<double> gradient = Vector<double>::Zero(net.n_parameters());
  net.backward(params.data(), X.data(), rows, workspace, gradient.data(), false, false);
  expect_parameter_gradient(net, params, X, R, gradient, 1e-7);
}

// The compressed first layer against the dense products (forward with
// parallel = true never compresses): the same pass, to rounding.
template <class T>
void check_sparse_training_pass(const std::vector<Index>& sizes, double density, double tolerance) {
  const Index rows = 45;
  const MLP<T> net(sizes, Activation::ReLU, Activation::Identity);
  Vector<T> params(net.n_parameters());
  net.initialize(params.data(), 21);
  const RowMatrix<T> X = random_sparse<T>(rows, sizes.front(), density, 22);
  const RowMatrix<T> R = random_normal<T>(rows, sizes.back(), 23);
  MLPWorkspace<T> sparse, dense;
  net.reserve(sparse, rows);
  net.reserve(dense, rows);
  net.forward(params.data(), X.data(), rows, sparse, false);
  net.forward(params.data(), X.data(), rows, dense, true);
  ASSERT_TRUE(sparse.input_sparse);
  ASSERT_FALSE(dense.input_sparse);
  const RowMatrix<T> out_sparse = net.output(sparse, rows), out_dense = net.output(dense, rows);
  EXPECT_LE((out_sparse - out_dense).cwiseAbs().maxCoeff(), tolerance * out_dense.cwiseAbs().maxCoeff());
  net.output_gradient(sparse, rows) = R;
  net.output_gradient(dense, rows) = R;
  Vector<T> g_sparse = Vector<T>::Zero(net.n_parameters()), g_dense = Vector<T>::Zero(net.n_parameters());
  net.backward(params.data(), X.data(), rows, sparse, g_sparse.data(), false, false);
  net.backward(params.data(), X.data(), rows, dense, g_dense.data(), false, true);
  EXPECT_LE((g_sparse - g_dense).cwiseAbs().maxCoeff(), tolerance * g_dense.cwiseAbs().maxCoeff());
  // Inputs that are never nonzero get an exactly zero weight gradient.
  for (Index k = 0; k < sizes.front(); ++k) {
    if ((X.col(k).array() != T(0)).any()) continue;
    for (Index j = 0; j < sizes[1]; ++j) ASSERT_EQ(net.weights(g_sparse.data(), 0)(k, j), T(0));
  }
}

TEST(MLPSparseInput, TrainingPassAgreesWithTheDenseProducts) {
  check_sparse_training_pass<double>({784, 400, 20}, 0.19, 1e-12);
  check_sparse_training_pass<float>({784, 400, 20}, 0.19, 1e-5);
  check_sparse_training_pass<float>({300, 257, 7}, 0.05, 1e-5);  // column counts that are no multiple of a packet
  check_sparse_training_pass<double>({65, 3, 2}, 0.25, 1e-12);
}

// In inference the compressed first layer gives the dense kernel's values
// bit for bit: a block that stays dense (one dense row in it) and a block
// of the same sparse rows alone agree on every entry, as do single rows on
// several threads.
template <class T>
void check_sparse_inference(const std::vector<Index>& sizes, double density) {
  const Index rows = 9;
  const MLP<T> net(sizes, Activation::Tanh, Activation::Identity);
  Vector<T> params(net.n_parameters());
  net.initialize(params.data(), 31);
  // Two dense rows first: a block holding them stays dense.
  RowMatrix<T> X = random_sparse<T>(rows + 2, sizes.front(), density, 32);
  X.topRows(2) = random_normal<T>(2, sizes.front(), 33);
  MLPInferenceWorkspace<T> workspace, one;
  net.reserve(workspace, rows + 2);
  net.reserve(one, 1);
  const Index width = sizes.back();
  const T* mixed = net.predict(params.data(), X.data(), rows + 2, workspace);
  const RowMatrix<T> dense = Eigen::Map<const RowMatrix<T>>(mixed + 2 * width, rows, width);
  const T* sparse = net.predict(params.data(), X.row(2).data(), rows, workspace);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < width; ++j) ASSERT_EQ(sparse[i * width + j], dense(i, j)) << i << ", " << j;
  for (int threads : {1, 2}) {
    for (Index i = 0; i < rows; ++i) {
      const T* row = net.predict_row(params.data(), X.row(i + 2).data(), one, threads);
      for (Index j = 0; j < width; ++j) ASSERT_EQ(row[j], dense(i, j)) << "threads " << threads;
    }
  }
}

TEST(MLPSparseInput, InferenceIsBitIdenticalToTheDenseKernel) {
  check_sparse_inference<float>({784, 400, 40}, 0.19);
  check_sparse_inference<float>({300, 257, 7}, 0.02);
  check_sparse_inference<double>({301, 333, 3, 260}, 0.1);
  check_sparse_inference<double>({64, 5, 2}, 0.3);
  check_sparse_inference<float>({100, 70, 3}, 0.0);  // all zeros: the biases
}

}  // namespace
}  // namespace vaekit::testing
