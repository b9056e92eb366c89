// End-to-end smoke of every model: fit small models, run every inference
// method, save and load them back. Its job is to drive the whole core through
// one run under the sanitized build (VAEKIT_SANITIZE=ON in .ci/run), where it
// stands in for a Python-level smoke run under AddressSanitizer.
#include <cmath>
#include <limits>
#include <variant>

#include "test_util.hpp"
#include "vaekit/autoencoder.hpp"
#include "vaekit/io.hpp"
#include "vaekit/ppca.hpp"
#include "vaekit/vae.hpp"

namespace vaekit::testing {
namespace {

constexpr Index kSamples = 40;
constexpr Index kFeatures = 6;
constexpr Index kComponents = 2;

template <class Matrix>
bool all_finite(const Matrix& values) {
  return values.allFinite();
}

// Saves the model, loads it back with `load` (typed) and with load_model (of
// any kind), and checks both give the model back.
template <class T, class Model, class Load>
void expect_round_trip(const std::filesystem::path& path, const Model& model, const RowMatrix<T>& X, Load load) {
  save(path, model);
  EXPECT_EQ(load(path).transform(X), model.transform(X));
  EXPECT_TRUE(std::holds_alternative<Model>(load_model(path).model));
}

TrainingOptions few_epochs() {
  TrainingOptions options;
  options.batch_size = 16;
  options.max_iter = 3;
  options.seed = 7;
  return options;
}

template <class T>
class SmokeTest : public ScratchDirectory {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(SmokeTest, Precisions);

TYPED_TEST(SmokeTest, PPCAClosedFormAndEMWithMissingValues) {
  using T = TypeParam;
  RowMatrix<T> X = random_normal<T>(kSamples, kFeatures, 1);
  for (const PPCAMethod method : {PPCAMethod::ClosedForm, PPCAMethod::EM}) {
    PPCAOptions options;
    options.n_components = kComponents;
    options.method = method;
    options.max_iter = 20;
    RowMatrix<T> data = X;
    if (method == PPCAMethod::EM) {
      data(0, 1) = std::numeric_limits<T>::quiet_NaN();
      data(3, 0) = std::numeric_limits<T>::quiet_NaN();
    }
    const PPCA<T> model = PPCA<T>::fit(data, options);
    const RowMatrix<T> Z = model.transform(X);
    EXPECT_TRUE(all_finite(Z));
    EXPECT_TRUE(all_finite(model.inverse_transform(Z)));
    EXPECT_TRUE(all_finite(model.score_samples(X)));
    EXPECT_TRUE(all_finite(model.sample(5, 3)));
    EXPECT_TRUE(all_finite(model.covariance()));
    EXPECT_TRUE(all_finite(model.precision()));
    expect_round_trip(this->file("ppca.safetensors"), model, X, [](const auto& path) { return load_ppca<T>(path); });
  }
}

TYPED_TEST(SmokeTest, VAEEveryLikelihoodAndDecoderVariance) {
  using T = TypeParam;
  const RowMatrix<T> gaussian_data = random_normal<T>(kSamples, kFeatures, 2);
  const RowMatrix<T> binary_data = (random_uniform<T>(kSamples, kFeatures, 3).array() > T(0.5)).template cast<T>();
  struct Case {
    Likelihood likelihood;
    DecoderVariance variance;
  };
  for (const Case c : {Case{Likelihood::Gaussian, DecoderVariance::Fixed},
                       Case{Likelihood::Gaussian, DecoderVariance::Scalar},
                       Case{Likelihood::Gaussian, DecoderVariance::Diagonal},
                       Case{Likelihood::Gaussian, DecoderVariance::Network},
                       Case{Likelihood::Bernoulli, DecoderVariance::Fixed}}) {
    VAEConfig config;
    config.n_features = kFeatures;
    config.n_components = kComponents;
    config.hidden_layer_sizes = {8, 5};
    config.activation = Activation::Tanh;
    config.likelihood = c.likelihood;
    config.decoder_variance = c.variance;
    config.n_mc_samples = 2;
    const RowMatrix<T>& X = c.likelihood == Likelihood::Bernoulli ? binary_data : gaussian_data;
    VAE<T> model(config);
    model.fit(X, few_epochs());
    model.partial_fit(X.topRows(10), few_epochs());

    const RowMatrix<T> Z = model.transform(X);
    RowMatrix<T> mean, stddev;
    model.encode(X, mean, stddev);
    EXPECT_TRUE(all_finite(Z));
    EXPECT_TRUE(all_finite(stddev));
    EXPECT_TRUE(all_finite(model.inverse_transform(Z)));
    EXPECT_TRUE(all_finite(model.sample(5, 3, true)));
    EXPECT_TRUE(all_finite(model.sample(0, 3, false)));
    EXPECT_TRUE(all_finite(model.score_samples(X, 2, 4)));
    EXPECT_TRUE(all_finite(model.log_likelihood(X, 4, 5)));
    EXPECT_TRUE(all_finite(model.noise_variance()));
    expect_round_trip(this->file("vae.safetensors"), model, X, [](const auto& path) { return load_vae<T>(path); });
  }
}

TYPED_TEST(SmokeTest, AutoencoderBothLosses) {
  using T = TypeParam;
  const RowMatrix<T> X = random_uniform<T>(kSamples, kFeatures, 4);
  for (const ReconstructionLoss loss : {ReconstructionLoss::Mse, ReconstructionLoss::Bce}) {
    AutoencoderConfig config;
    config.n_features = kFeatures;
    config.n_components = kComponents;
    config.hidden_layer_sizes = {8};
    config.activation = Activation::ReLU;
    config.loss = loss;
    Autoencoder<T> model(config);
    TrainingOptions options = few_epochs();
    options.early_stopping = true;
    options.validation_fraction = 0.25;
    model.fit(X, options);
    model.partial_fit(X, few_epochs());

    const RowMatrix<T> Z = model.transform(X);
    EXPECT_TRUE(all_finite(Z));
    EXPECT_TRUE(all_finite(model.inverse_transform(Z)));
    EXPECT_TRUE(all_finite(model.score_samples(X)));
    expect_round_trip(this->file("autoencoder.safetensors"), model, X, [](const auto& path) { return load_autoencoder<T>(path); });
  }
}

}  // namespace
}  // namespace vaekit::testing
