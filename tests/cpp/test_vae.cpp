// The VAE's ELBO: its gradient against central finite differences (float64)
// for every likelihood and decoder variance, and its value for a one-feature,
// one-latent model against a hand computation. The two estimates of log p(x)
// (importance sampling, prior sampling) against the exact log-likelihood of a
// linear VAE, log N(x; b, W W^T + g^2 I).
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "numeric.hpp"
#include "test_util.hpp"
#include "vaekit/autoencoder.hpp"
#include "vaekit/vae.hpp"

namespace vaekit::testing {
namespace {

using detail::kLog2Pi;

struct ElboCase {
  const char* name;
  Likelihood likelihood;
  DecoderVariance variance;
  Objective objective = Objective::Elbo;
  bool missing = false;  // NaN entries: a partial row, a complete one, an empty one
  bool encoder_mask = false;
};

class ElboGradient : public ::testing::TestWithParam<ElboCase> {};

TEST_P(ElboGradient, MatchesCentralFiniteDifferences) {
  VAEConfig config;
  config.n_features = 4;
  config.n_components = 2;
  config.hidden_layer_sizes = {5};
  config.activation = Activation::Tanh;
  config.likelihood = GetParam().likelihood;
  config.decoder_variance = GetParam().variance;
  config.noise_variance = 0.7;
  config.beta = 0.8;
  config.n_mc_samples = GetParam().objective == Objective::Iwae ? 3 : 2;
  config.objective = GetParam().objective;
  config.encoder_mask = GetParam().encoder_mask;
  VAE<double> model(config);
  const Index rows = GetParam().missing ? 4 : 3;
  RowMatrix<double> X = config.likelihood == Likelihood::Bernoulli ? random_uniform<double>(rows, 4, 5)
                                                                  : random_normal<double>(rows, 4, 5);
  model.initialize(3, X);
  if (GetParam().missing) {
    X(0, 1) = X(0, 3) = X(2, 0) = NAN;
    X.row(3).setConstant(NAN);
  }
  // Perturb every parameter (the initial log-variances are constant).
  const Vector<double> params =
      model.parameters() + Vector<double>(random_normal<double>(model.n_parameters(), 1, 4, 0.1));
  const RowMatrix<double> eps = random_normal<double>(rows * config.n_mc_samples, 2, 6);

  Vector<double> gradient, ignored;
  model.loss_and_gradient(params, X, eps, gradient);
  ASSERT_EQ(gradient.size(), model.n_parameters());
  const double h = 1e-6;
  for (Index p = 0; p < model.n_parameters(); ++p) {
    Vector<double> plus = params, minus = params;
    plus(p) += h;
    minus(p) -= h;
    const double numeric =
        (model.loss_and_gradient(plus, X, eps, ignored) - model.loss_and_gradient(minus, X, eps, ignored)) / (2 * h);
    EXPECT_NEAR(gradient(p), numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << "parameter " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(Likelihoods, ElboGradient,
                         ::testing::Values(ElboCase{"gaussian_fixed", Likelihood::Gaussian, DecoderVariance::Fixed},
                                           ElboCase{"gaussian_scalar", Likelihood::Gaussian, DecoderVariance::Scalar},
                                           ElboCase{"gaussian_diagonal", Likelihood::Gaussian,
                                                    DecoderVariance::Diagonal},
                                           ElboCase{"gaussian_network", Likelihood::Gaussian,
                                                    DecoderVariance::Network},
                                           ElboCase{"bernoulli", Likelihood::Bernoulli, DecoderVariance::Fixed},
                                           ElboCase{"iwae_scalar", Likelihood::Gaussian, DecoderVariance::Scalar,
                                                    Objective::Iwae},
                                           ElboCase{"iwae_bernoulli", Likelihood::Bernoulli, DecoderVariance::Fixed,
                                                    Objective::Iwae},
                                           ElboCase{"missing_scalar", Likelihood::Gaussian, DecoderVariance::Scalar,
                                                    Objective::Elbo, true},
                                           ElboCase{"missing_network", Likelihood::Gaussian,
                                                    DecoderVariance::Network, Objective::Elbo, true},
                                           ElboCase{"missing_diagonal_iwae", Likelihood::Gaussian,
                                                    DecoderVariance::Diagonal, Objective::Iwae, true},
                                           ElboCase{"missing_bernoulli_iwae", Likelihood::Bernoulli,
                                                    DecoderVariance::Fixed, Objective::Iwae, true},
                                           ElboCase{"missing_diagonal_iwae_encoder_mask", Likelihood::Gaussian,
                                                    DecoderVariance::Diagonal, Objective::Iwae, true, true}),
                         [](const ::testing::TestParamInfo<ElboCase>& info) { return std::string(info.param.name); });

// A VAE with D = d = 1 and no hidden layers: h = a x + b, log k^2 = c x + e,
// f(z) = w z + m. Sets those six numbers and returns the parameter buffer.
Vector<double> scalar_vae_parameters(const VAE<double>& model, double a, double c, double b, double e, double w,
                                     double m) {
  Vector<double> params = model.parameters();
  model.encoder().weights(params.data(), 0) << a, c;  // 1 x 2: mean column, then log-variance column
  model.encoder().biases(params.data(), 0) << b, e;
  model.decoder().weights(params.data(), 0) << w;
  model.decoder().biases(params.data(), 0) << m;
  return params;
}

VAEConfig scalar_config(Likelihood likelihood, double beta) {
  VAEConfig config;
  config.n_features = 1;
  config.n_components = 1;
  config.hidden_layer_sizes = {};
  config.likelihood = likelihood;
  config.decoder_variance = DecoderVariance::Fixed;  // g^2 = noise_variance, as in the hand computations
  config.noise_variance = 0.5;
  config.beta = beta;
  return config;
}

TEST(ElboValue, GaussianMatchesAHandComputation) {
  for (const double beta : {1.0, 0.25}) {
    const VAE<double> model(scalar_config(Likelihood::Gaussian, beta));
    const Vector<double> params = scalar_vae_parameters(model, 0.9, -0.4, 0.1, -0.3, 1.7, 0.2);
    const double x = 0.7, eps = 0.3, g2 = 0.5;
    const double h = 0.9 * x + 0.1, log_k2 = -0.4 * x - 0.3, k = std::exp(0.5 * log_k2);
    const double z = h + k * eps, f = 1.7 * z + 0.2;
    const double log_p = -0.5 * (kLog2Pi + std::log(g2) + (x - f) * (x - f) / g2);
    const double kl = 0.5 * (h * h + k * k - log_k2 - 1.0);
    Vector<double> gradient;
    const double loss =
        model.loss_and_gradient(params, RowMatrix<double>::Constant(1, 1, x), RowMatrix<double>::Constant(1, 1, eps),
                                gradient);
    EXPECT_NEAR(loss, -(log_p - beta * kl), 1e-12) << "beta " << beta;
  }
}

TEST(ElboValue, BernoulliMatchesAHandComputation) {
  const VAE<double> model(scalar_config(Likelihood::Bernoulli, 1.0));
  const Vector<double> params = scalar_vae_parameters(model, -1.2, 0.5, 0.3, 0.1, 2.5, -0.6);
  const double x = 0.8, eps = -1.1;
  const double h = -1.2 * x + 0.3, log_k2 = 0.5 * x + 0.1, k = std::exp(0.5 * log_k2);
  const double f = 2.5 * (h + k * eps) - 0.6;  // the logit
  const double p = 1.0 / (1.0 + std::exp(-f));
  const double log_p = x * std::log(p) + (1 - x) * std::log(1 - p);
  const double kl = 0.5 * (h * h + k * k - log_k2 - 1.0);
  Vector<double> gradient;
  const double loss = model.loss_and_gradient(params, RowMatrix<double>::Constant(1, 1, x),
                                              RowMatrix<double>::Constant(1, 1, eps), gradient);
  EXPECT_NEAR(loss, -(log_p - kl), 1e-12);
}


// A linear VAE (no hidden layers, scalar variance g^2) with D = 3, d = 2 whose
// decoder W has orthogonal columns, so that M = W^T W + g^2 I is diagonal and
// the encoder can be the exact posterior N(M^-1 W^T (x - b), g^2 M^-1)
// (Tipping & Bishop 1999, eq. 6): then every importance weight p(x, z) / q(z|x)
// equals p(x).
struct LinearVAE {
  static constexpr double kNoiseVariance = 0.3;
  VAE<double> model;
  Eigen::MatrixXd W;  // D x d
  Eigen::VectorXd b;  // D

  LinearVAE() : model(config()), W(3, 2), b(3) {
    W.col(0) = Eigen::Vector3d(1, 1, 0) * (1.5 / std::sqrt(2.0));  // orthogonal columns
    W.col(1) = Eigen::Vector3d(1, -1, -1) * (0.4 / std::sqrt(3.0));
    b << 0.2, -0.1, 0.5;
    const double g2 = kNoiseVariance;
    const Eigen::VectorXd m = (W.transpose() * W).diagonal().array() + g2;  // diagonal of M
    Vector<double> params = Vector<double>::Zero(model.n_parameters());
    auto encoder_weights = model.encoder().weights(params.data(), 0);  // D x 2d: mean, then log-variance
    auto encoder_biases = model.encoder().biases(params.data(), 0);
    for (Index c = 0; c < 2; ++c) {
      encoder_weights.col(c) = W.col(c) / m(c);              // h = M^-1 W^T (x - b)
      encoder_biases(c) = -W.col(c).dot(b) / m(c);
      encoder_biases(2 + c) = std::log(g2 / m(c));           // log k^2 = log (g^2 / M_cc)
    }
    model.decoder().weights(params.data(), 0) = W.transpose();  // f(z) = W z + b
    model.decoder().biases(params.data(), 0) = b;
    params(model.log_variance_offset()) = std::log(g2);
    TrainingState<double> state;
    state.parameters = params;
    model = VAE<double>(config(), state);
  }

  static VAEConfig config() {
    VAEConfig config;
    config.n_features = 3;
    config.n_components = 2;
    config.hidden_layer_sizes = {};
    config.decoder_variance = DecoderVariance::Scalar;
    config.noise_variance = kNoiseVariance;
    return config;
  }

  // log N(x; b, W W^T + g^2 I), from a Cholesky factor of the 3 x 3 covariance.
  double exact_log_likelihood(const Eigen::VectorXd& x) const {
    const Eigen::MatrixXd C = W * W.transpose() + kNoiseVariance * Eigen::MatrixXd::Identity(3, 3);
    const Eigen::LLT<Eigen::MatrixXd> llt(C);
    const Eigen::VectorXd r = x - b;
    const double log_det = 2.0 * llt.matrixL().toDenseMatrix().diagonal().array().log().sum();
    return -0.5 * (3 * kLog2Pi + log_det + r.dot(llt.solve(r)));
  }
};

TEST(LogLikelihood, MethodNamesRoundTrip) {
  for (const LogLikelihoodMethod method : {LogLikelihoodMethod::Importance, LogLikelihoodMethod::Prior})
    EXPECT_EQ(parse_enum<LogLikelihoodMethod>(enum_name(method)), method);
  EXPECT_THROW(parse_enum<LogLikelihoodMethod>("posterior"), InvalidArgument);
}

TEST(LogLikelihood, ImportanceWithTheExactPosteriorIsExact) {
  const LinearVAE linear;
  const RowMatrix<double> X = random_normal<double>(20, 3, 11);
  const Vector<double> estimate = linear.model.log_likelihood(X, 3, /*seed=*/5);
  for (Index i = 0; i < X.rows(); ++i)
    EXPECT_NEAR(estimate(i), linear.exact_log_likelihood(X.row(i).transpose()), 1e-10) << "row " << i;
}

TEST(LogLikelihood, PriorSamplingConvergesToTheExactValue) {
  const LinearVAE linear;
  const RowMatrix<double> X = random_normal<double>(20, 3, 12);
  const int m = 200000;
  const Vector<double> estimate = linear.model.log_likelihood(X, m, /*seed=*/6, LogLikelihoodMethod::Prior);
  const Vector<double> few = linear.model.log_likelihood(X, 3, /*seed=*/6, LogLikelihoodMethod::Prior);
  double exact_sum = 0, few_sum = 0;
  for (Index i = 0; i < X.rows(); ++i) {
    const double exact = linear.exact_log_likelihood(X.row(i).transpose());
    EXPECT_NEAR(estimate(i), exact, 0.03) << "row " << i;
    exact_sum += exact;
    few_sum += few(i);
  }
  // With 3 draws from the prior the estimate is far below log p(x) on average (Jensen).
  EXPECT_LT(few_sum / X.rows(), exact_sum / X.rows() - 0.1);
}

TEST(LogLikelihood, DoesNotDependOnRowOrder) {
  const LinearVAE linear;
  const RowMatrix<double> X = random_normal<double>(7, 3, 13);
  const RowMatrix<double> reversed = X.colwise().reverse();
  for (const LogLikelihoodMethod method : {LogLikelihoodMethod::Importance, LogLikelihoodMethod::Prior}) {
    const Vector<double> forward = linear.model.log_likelihood(X, 50, 7, method);
    const Vector<double> backward = linear.model.log_likelihood(reversed, 50, 7, method);
    for (Index i = 0; i < X.rows(); ++i) EXPECT_EQ(forward(i), backward(X.rows() - 1 - i));
  }
}

// ------------------------------------------------- initial decoder variance
// A learned g^2 starts at the mean variance (divided by n) of the first
// training data's features, computed here with a plain loop; noise_variance
// when the data give none.
TEST(InitialDecoderVariance, IsTheDataMeanFeatureVarianceAtAnyScale) {
  for (const DecoderVariance variance : {DecoderVariance::Scalar, DecoderVariance::Diagonal, DecoderVariance::Network}) {
    VAEConfig config;
    config.n_features = 3;
    config.hidden_layer_sizes = {4};
    config.decoder_variance = variance;
    config.noise_variance = 0.7;
    const RowMatrix<double> X = random_uniform<double>(50, 3, 8);
    double expected = 0;
    for (Index j = 0; j < 3; ++j) {
      const double mean = X.col(j).mean();
      expected += (X.col(j).array() - mean).square().sum() / 50.0 / 3.0;
    }
    for (const double scale : {1.0, 1e-3, 1e3}) {
      VAE<double> model(config);
      model.initialize(5, X * scale);
      const double expected_log = std::log(expected * scale * scale);
      if (variance == DecoderVariance::Network) {
        const int last = model.decoder().n_layers() - 1;
        const Vector<double> biases = model.decoder().biases(model.parameters().data(), last).tail(3);
        for (Index j = 0; j < 3; ++j) EXPECT_NEAR(biases(j), expected_log, 1e-12);
      } else {
        const Vector<double> g2 = model.noise_variance();
        ASSERT_EQ(g2.size(), variance == DecoderVariance::Scalar ? 1 : 3);
        for (Index j = 0; j < g2.size(); ++j) EXPECT_NEAR(std::log(g2(j)), expected_log, 1e-12);
      }
    }
    VAE<double> one_row(config);  // one row has no variance: noise_variance
    one_row.initialize(5, X.topRows(1));
    if (variance != DecoderVariance::Network) {
      EXPECT_NEAR(one_row.noise_variance()(0), 0.7, 1e-12);
    }
  }
  VAEConfig fixed;
  fixed.n_features = 3;
  fixed.decoder_variance = DecoderVariance::Fixed;
  fixed.noise_variance = 0.7;
  VAE<double> model(fixed);
  model.initialize(5, random_uniform<double>(50, 3, 8));
  EXPECT_EQ(model.noise_variance()(0), 0.7);
  EXPECT_THROW(model.initialize(5, random_uniform<double>(50, 4, 8)), InvalidArgument);
}

// ------------------------------------------------- restoring a fitted model
VAEConfig small_config() {
  VAEConfig config;
  config.n_features = 3;
  config.n_components = 2;
  config.hidden_layer_sizes = {4};
  config.decoder_variance = DecoderVariance::Scalar;
  return config;
}

TEST(VAERestore, KeepsTheStateAndRecomputesTheBests) {
  VAE<double> trained(small_config());
  TrainingOptions options;
  options.batch_size = 8;
  options.max_iter = 3;
  options.seed = 1;
  options.n_threads = 1;
  trained.fit(random_uniform<double>(30, 3, 4), options);
  TrainingState<double> state{trained.parameters(), trained.optimizer_state(), trained.history()};
  state.history.best_loss = -1;  // recomputed from the curve
  const VAE<double> restored(small_config(), state);
  EXPECT_EQ(restored.parameters(), trained.parameters());
  EXPECT_EQ(restored.optimizer_state().first_moment, trained.optimizer_state().first_moment);
  EXPECT_EQ(restored.optimizer_state().step, trained.optimizer_state().step);
  EXPECT_EQ(restored.history().kl_curve, trained.history().kl_curve);
  EXPECT_EQ(restored.history().best_loss, trained.history().best_loss);
}

TEST(VAERestore, RejectsAnInconsistentState) {
  const VAE<double> shape(small_config());
  const Index n = shape.n_parameters();
  const auto rejects = [&](auto&& change) {
    TrainingState<double> state;
    state.parameters = Vector<double>::Zero(n);
    change(state);
    EXPECT_THROW(VAE<double>(small_config(), state), InvalidArgument);
  };
  rejects([&](TrainingState<double>& s) { s.parameters = Vector<double>::Zero(n - 1); });
  rejects([&](TrainingState<double>& s) { s.parameters(0) = NAN; });
  rejects([&](TrainingState<double>& s) { s.optimizer.first_moment = Vector<double>::Zero(n); });
  rejects([&](TrainingState<double>& s) {
    s.optimizer.first_moment = Vector<double>::Zero(n);
    s.optimizer.second_moment = Vector<double>::Constant(n, -1.0);
  });
  rejects([&](TrainingState<double>& s) { s.history.loss_curve = {1.0, INFINITY}; });
  rejects([&](TrainingState<double>& s) {
    s.history.loss_curve = {1.0, 2.0};
    s.history.kl_curve = {0.5};
  });
  // Curves without their terms (older model files): NaN terms.
  TrainingState<double> state;
  state.parameters = Vector<double>::Zero(n);
  state.history.loss_curve = {1.0, 2.0};
  const VAE<double> restored(small_config(), state);
  ASSERT_EQ(restored.history().reconstruction_curve.size(), 2u);
  EXPECT_TRUE(std::isnan(restored.history().reconstruction_curve[0]) && std::isnan(restored.history().kl_curve[1]));
}


// Training data in blocks (BlockSource): one block trains as the array does;
// a CSR block as its dense array (the Autoencoder: bit for bit); several
// blocks visit every row once per epoch, and a failing source leaves the
// parameters of the last complete epoch.
class CountingBlocks final : public BlockSource<double> {
 public:
  CountingBlocks(const RowMatrix<double>& X, Index rows_per_block) : X_(X), rows_(rows_per_block) {}
  Index n_blocks() const override { return (X_.rows() + rows_ - 1) / rows_; }
  Index block_rows(Index b) const override { return std::min(rows_, X_.rows() - b * rows_); }
  DataBlock<double> fetch(Index b, Index) override {
    ++fetches;
    if (fail_at >= 0 && fetches > fail_at) throw std::runtime_error("the source failed");
    return DataBlock<double>::dense(X_.middleRows(b * rows_, block_rows(b)));
  }
  int fetches = 0, fail_at = -1;

 private:
  const RowMatrix<double>& X_;
  Index rows_;
};

TEST(BlockTraining, OneBlockIsTheArraySparseIsDenseAndBlocksCoverEveryRow) {
  VAEConfig config;
  config.n_features = 6;
  config.n_components = 2;
  config.hidden_layer_sizes = {8};
  TrainingOptions options;
  options.max_iter = 3;
  options.batch_size = 16;
  options.seed = 11;
  RowMatrix<double> X = random_uniform<double>(100, 6, 9);
  X = (X.array() < 0.6).select(0.0, X);  // mostly zeros
  VAE<double> reference(config);
  reference.fit(X, options);
  VAE<double> one_block(config);
  CountingBlocks whole(X, 100);
  one_block.fit(whole, options);
  EXPECT_EQ(one_block.parameters(), reference.parameters());
  EXPECT_EQ(whole.fetches, 1);

  std::vector<std::int64_t> indptr{0}, indices;
  std::vector<double> values;
  for (Index i = 0; i < X.rows(); ++i) {
    for (Index j = 0; j < X.cols(); ++j) {
      if (X(i, j) != 0) {
        indices.push_back(j);
        values.push_back(X(i, j));
      }
    }
    indptr.push_back(static_cast<std::int64_t>(indices.size()));
  }
  AutoencoderConfig ae_config;
  ae_config.n_features = 6;
  ae_config.hidden_layer_sizes = {8};
  Autoencoder<double> dense(ae_config), sparse(ae_config);
  dense.fit(X, options);
  InMemoryBlock<double> csr(DataBlock<double>::sparse({100, 6, indptr.data(), indices.data(), values.data()}));
  sparse.fit(csr, options);
  EXPECT_EQ(sparse.parameters(), dense.parameters());

  VAE<double> blocked(config);
  CountingBlocks blocks(X, 30);  // 30, 30, 30, 10 rows
  std::vector<Index> samples_seen;
  options.on_batch = [&](const BatchReport& report) {
    samples_seen.push_back(report.samples_done);
    return true;
  };
  blocked.fit(blocks, options);
  EXPECT_EQ(blocked.history().n_iter, 3);
  EXPECT_EQ(samples_seen.back(), 100);
  EXPECT_LE(blocks.fetches, 12);  // at most once per block and epoch
  options.on_batch = nullptr;
  const Vector<double> before = blocked.parameters();
  blocks.fail_at = blocks.fetches + 2;
  EXPECT_THROW(blocked.partial_fit(blocks, options), std::runtime_error);
  EXPECT_EQ(blocked.parameters(), before);
}

// A batch too small to share between two threads goes whole to one slice:
// with batches of 32 rows, the last batch of 57 rows has 25, more than the
// 16 of each slice of a full batch. Its buffers must hold it (ASan checks).
// Missing values (and IWAE) use buffers of their own, sized the same way.
TEST(MissingValues, TrainOnPartialRowsInBatchesOfAnySize) {
  VAEConfig config;
  config.n_features = 5;
  config.n_components = 2;
  config.hidden_layer_sizes = {8};
  config.objective = Objective::Iwae;
  config.n_mc_samples = 3;
  TrainingOptions options;
  options.max_iter = 3;
  options.batch_size = 32;
  options.n_threads = 2;
  RowMatrix<double> X = random_normal<double>(57, 5, 4);
  for (Index i = 0; i < X.rows(); ++i) X(i, i % 5) = NAN;
  X.row(7).setConstant(NAN);  // nothing observed
  VAE<double> model(config);
  model.fit(X, options);
  EXPECT_TRUE(model.parameters().allFinite());
  EXPECT_EQ(model.history().n_iter, 3);
  const RowMatrix<double> imputed = model.impute(X, 20, 1, /*sample=*/false);
  EXPECT_TRUE(imputed.allFinite());
  for (Index i = 0; i < X.rows(); ++i)
    for (Index j = 0; j < X.cols(); ++j)
      if (!std::isnan(X(i, j))) {
        EXPECT_EQ(imputed(i, j), X(i, j));
      }
  const Vector<double> scores = model.score_samples(X, 2, 1);
  EXPECT_EQ(scores(7), 0.0);
  X.col(3).setConstant(NAN);  // a feature observed nowhere
  EXPECT_THROW(model.fit(X, options), InvalidArgument);
}
}  // namespace
}  // namespace vaekit::testing
