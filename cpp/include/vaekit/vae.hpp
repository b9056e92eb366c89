// Variational autoencoder (Kingma & Welling 2014): the ELBO, its gradient,
// training, and two Monte Carlo estimates of log p(x): importance sampling
// from q(z|x) (IWAE, Burda et al. 2016) and plain sampling from the prior.
//
//   prior       z ~ N(0, I_d)
//   encoder     q(z|x) = N(h(x), diag k(x)^2): an MLP whose last layer has 2d
//               outputs, the mean h first, then the log-variance log k^2
//   decoder     p(x|z) = N(f(z), diag g^2)    (likelihood "gaussian")
//               p(x|z) = Bernoulli(sigmoid(f(z))) (likelihood "bernoulli";
//                        soft targets x in [0, 1] are allowed)
//   ELBO_beta   E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)), z = h + k * eps,
//               KL = 1/2 sum(h^2 + k^2 - log k^2 - 1) in closed form;
//               E_q estimated with n_mc_samples draws of eps per sample.
//   IWAE_beta   log (1/K) sum_k w_k, log w_k = log p(x|z_k) + beta (log p(z_k)
//               - log q(z_k|x)), K = n_mc_samples draws z_k ~ q(z|x) (Burda et
//               al. 2016); beta = 1 gives the IWAE bound, which tightens as K
//               grows and for K = 1 is the ELBO in expectation.
//
// Missing values (Mattei & Frellsen 2019, MIWAE): a NaN in x is a missing
// entry. log p(x|z) is then log p(x_obs|z), the sum over the observed entries
// only; the encoder sees the row with its missing entries set to 0 (data
// centred, e.g. standardised, make 0 the feature's mean), and with
// encoder_mask also the row's mask m (1 where observed): its input is then
// [x with NaN set to 0, m] (a complete row's m is all ones). With IWAE and K > 1
// the objective is the MIWAE bound on log p(x_obs). A row with nothing
// observed contributes nothing: its loss, gradient and scores are 0
// (log p(nothing) = log 1). An infinite entry is always an error.
//
// Every constant is included (log N(x; f, g^2) = -1/2 sum_j [log(2 pi g_j^2)
// + (x_j - f_j)^2 / g_j^2]), so the ELBO is in nats per sample, a true lower
// bound on log p(x), comparable with PPCA's log-likelihood.
//
// Decoder variance g^2 (gaussian likelihood only):
//   Scalar    one learned log g^2 (the default: the calibrated decoder of
//             Rybkin, Daniilidis & Levine 2021; with no hidden layers the VAE is PPCA)
//             Learned variances start at the data's mean feature variance.
//   Fixed     g^2 = noise_variance (1.0: the plain "MSE + KL" objective)
//   Diagonal  one learned log g_j^2 per feature
//   Network   the decoder's last layer has 2D outputs: the mean f(z) first,
//             then log g^2(z) per feature (a second head sharing the hidden layers)
//
// Log-variances (the encoder's log k^2 and every log g^2) are clamped to
// [kMinLogVariance, kMaxLogVariance] = [-20, 20] (std between 4.5e-5 and 2.2e4):
// this keeps exp() finite in float32 whatever the weights. Inside the range the
// clamp is the identity (gradient 1); outside it is flat (gradient 0).
//
// Parameters live in one flat buffer: [encoder | decoder | learned decoder
// log-variance (1 for Scalar, D for Diagonal, none otherwise)].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vaekit/common.hpp"
#include "vaekit/describe.hpp"
#include "vaekit/mlp.hpp"
#include "vaekit/neural_model.hpp"
#include "vaekit/optim.hpp"

namespace vaekit {

enum class Likelihood { Gaussian, Bernoulli };
template <>
struct EnumNames<Likelihood> {
  static constexpr const char* what = "likelihood";
  static constexpr std::array<const char*, 2> names{"gaussian", "bernoulli"};
};
enum class DecoderVariance { Fixed, Scalar, Diagonal, Network };
template <>
struct EnumNames<DecoderVariance> {
  static constexpr const char* what = "decoder_variance";
  static constexpr std::array<const char*, 4> names{"fixed", "scalar", "diagonal", "network"};
};

// How VAE::log_likelihood estimates log p(x) from m draws z_j:
//   Importance  z_j ~ q(z|x): log (1/m) sum_j p(x|z_j) p(z_j) / q(z_j|x), the IWAE
//               bound (Burda et al. 2016); m = 1 is a one-sample ELBO.
//   Prior       z_j ~ p(z) = N(0, I): log (1/m) sum_j p(x|z_j), the naive Monte
//               Carlo estimate; unbiased for p(x), but most z_j explain x badly,
//               so it needs far more samples (grows with d and with how peaked
//               p(z|x) is).
// Both are lower bounds on log p(x) in expectation (Jensen) and converge to it.
enum class LogLikelihoodMethod { Importance, Prior };
template <>
struct EnumNames<LogLikelihoodMethod> {
  static constexpr const char* what = "method";
  static constexpr std::array<const char*, 2> names{"importance", "prior"};
};

// The training objective (see the top of this file): the ELBO, or the
// importance-weighted bound over n_mc_samples draws.
enum class Objective { Elbo, Iwae };
template <>
struct EnumNames<Objective> {
  static constexpr const char* what = "objective";
  static constexpr std::array<const char*, 2> names{"elbo", "iwae"};
};

constexpr double kMinLogVariance = -20.0;
constexpr double kMaxLogVariance = 20.0;

struct VAEConfig {
  Index n_features = 0;                        // D
  Index n_components = 2;                      // d
  std::vector<Index> hidden_layer_sizes{256};  // encoder D -> sizes -> 2d; decoder d -> reversed sizes -> D
  Activation activation = Activation::ReLU;    // hidden layers; output layers are linear
  Likelihood likelihood = Likelihood::Gaussian;
  DecoderVariance decoder_variance = DecoderVariance::Scalar;  // ignored (Fixed) for Bernoulli
  // g^2 for Fixed. A learned g^2 (Scalar, Diagonal, Network) starts instead at
  // the mean variance of the first training data's features: the maximum-
  // likelihood g^2 of a decoder that ignores z, so the start is the same at any
  // scale of the data; noise_variance only when X gives none (one row, or no
  // feature varies).
  double noise_variance = 1.0;
  double beta = 1.0;            // weight of the KL term (of log p(z) - log q(z|x) for IWAE)
  int n_mc_samples = 1;         // eps draws per sample in the training objective (IWAE's K)
  Objective objective = Objective::Elbo;
  // The encoder also reads each row's mask (1 where observed, 0 where
  // missing): its input is [x with NaN set to 0, mask], 2D wide.
  bool encoder_mask = false;

  // The encoder's input width.
  Index encoder_inputs() const { return encoder_mask ? 2 * n_features : n_features; }

  // The hyper-parameters (describe.hpp); n_features comes from the data.
  template <class Self, class Visit>
  static void fields(Self& self, Visit&& visit) {
    visit("n_components", self.n_components, Range::at_least(1));
    visit("hidden_layer_sizes", self.hidden_layer_sizes, Range::at_least(1));
    visit("activation", self.activation, Range::any());
    visit("likelihood", self.likelihood, Range::any());
    visit("decoder_variance", self.decoder_variance, Range::any());
    visit("noise_variance", self.noise_variance, Range::positive());
    visit("beta", self.beta, Range::at_least(0));
    visit("n_mc_samples", self.n_mc_samples, Range::at_least(1));
    visit("objective", self.objective, Range::any());
    visit("encoder_mask", self.encoder_mask, Range::any());
  }
};

// Buffers of one training batch, allocated once per fit.
template <class T>
struct VAEWorkspace {
  MLPWorkspace<T> encoder, decoder;
  Vector<T> latent;               // z, (rows * n_mc_samples) x d
  Vector<T> latent_std;           // k = exp(log k^2 / 2) (clamped), rows x d
  Vector<T> row_log_likelihood;   // log p(x|z) per latent row
  Vector<T> log_variance_gradient;  // (rows * n_mc_samples) x D, Scalar/Diagonal only
  Vector<T> scratch;                // D values for the likelihood's element-wise passes
  RowMatrix<T> filled, observed;    // rows x D: X with NaN set to 0, and 1 where X is observed
  RowMatrix<T> encoder_input;       // rows x 2D with encoder_mask: [filled, mask]
  std::vector<char> row_state;      // per row of the slice: complete, partial, nothing observed
  Vector<T> weights;                // (rows * n_mc_samples): IWAE's normalised weights
};

template <class T>
class VAE : public NeuralModel<T, VAE<T>> {
 public:
  using Scalar = T;
  using Config = VAEConfig;
  static constexpr const char* kKind = "VAE";  // the model files' "kind"
  static constexpr bool kAllowsMissing = true;  // NaN in X is a missing value (see the top of this file)

  // A model with zero parameters: initialize(seed, X), or fit, next.
  explicit VAE(const VAEConfig& config);
  // A fitted model (what the model files and the bindings restore), validated
  // as NeuralModel::restore says.
  VAE(const VAEConfig& config, TrainingState<T> state);

  using NeuralModel<T, VAE<T>>::n_parameters;
  using NeuralModel<T, VAE<T>>::parameters;
  const VAEConfig& config() const { return config_; }
  Index n_features() const { return config_.n_features; }
  Index n_components() const { return config_.n_components; }
  // Learned decoder log-variances: n_log_variance() entries from log_variance_offset().
  Index log_variance_offset() const { return this->decoder_.end_offset(); }
  Index n_log_variance() const;
  // g^2: one value (Fixed, Scalar), one per feature (Diagonal), none (Network, Bernoulli).
  Vector<T> noise_variance() const;

  // The training objective (-ELBO_beta or -IWAE_beta), averaged over the rows of X, and its
  // gradient with respect to `parameters`, for given standard normal draws
  // eps ((rows * n_mc_samples) x d; draw j of row i in row i * n_mc_samples + j).
  // For gradient checks and custom training loops.
  double loss_and_gradient(ConstVectorRef<T> parameters, ConstRowMatrixRef<T> X, ConstRowMatrixRef<T> eps,
                           Vector<T>& gradient) const;

  // Training (NeuralModel::fit, partial_fit): history().loss_curve is the mean
  // training objective per epoch, reconstruction_curve its mean
  // -E_q[log p(x|z)] and kl_curve its mean KL(q || p(z)) (for the ELBO, loss =
  // reconstruction + beta * kl; IWAE's loss is below that sum by its
  // tightening); with early stopping, validation_scores holds the mean
  // objective (ELBO_beta or IWAE_beta) of the validation split.
  //
  // Every method below takes rows with NaN (missing entries; see the top):
  // the encoder sees them set to 0, the likelihoods count the observed entries.

  // Inference. Each row's result depends only on that row (and on the seed for
  // the stochastic ones), never on its position or on the other rows.
  RowMatrix<T> transform(ConstRowMatrixRef<T> X, int n_threads = 0) const;  // h(x), n x d
  void encode(ConstRowMatrixRef<T> X, RowMatrix<T>& mean, RowMatrix<T>& stddev, int n_threads = 0) const;
  // Posterior-collapse diagnostics (Burda et al. 2016, section 5.2), length d, accumulated in double.
  // Mean over the rows of X of KL(q(z_j|x) || N(0, 1)) = 1/2 (h_j^2 + k_j^2 - log k_j^2 - 1),
  // per latent dimension j (their sum is the KL term of the ELBO).
  Vector<T> kl_per_dimension(ConstRowMatrixRef<T> X, int n_threads = 0) const;
  // Activity A_j = Cov_x(E_q[z_j|x]): the variance over the rows of X (divided by n)
  // of the posterior mean h_j(x). A dimension with A_j ~ 0 is inactive (collapsed).
  Vector<T> latent_activity(ConstRowMatrixRef<T> X, int n_threads = 0) const;
  // Decoder mean f(z) (probabilities sigmoid(f(z)) for Bernoulli), n x D.
  RowMatrix<T> inverse_transform(ConstRowMatrixRef<T> Z, int n_threads = 0) const;
  // z ~ N(0, I) then the decoder mean, or with `noise` a draw of x ~ p(x|z).
  RowMatrix<T> sample(Index n_samples, std::uint64_t seed, bool noise, int n_threads = 0) const;
  // ELBO (beta = 1) per row in nats, with n_mc_samples draws of eps per row;
  // the draws of a row come from a Philox stream keyed by (seed, hash of the row's bytes).
  Vector<T> score_samples(ConstRowMatrixRef<T> X, int n_mc_samples, std::uint64_t seed, int n_threads = 0) const;
  // Estimate of log p(x) per row in nats from m = n_samples draws (see
  // LogLikelihoodMethod), every constant included; same streams as score_samples.
  Vector<T> log_likelihood(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed,
                           LogLikelihoodMethod method = LogLikelihoodMethod::Importance, int n_threads = 0) const;
  // X with every NaN filled and the observed entries copied bit for bit, from
  // m = n_samples draws z_k ~ q(z|x) weighted by w_k = p(x_obs|z_k) p(z_k) /
  // q(z_k|x) (MIWAE, section 4; same streams as score_samples):
  //   sample = false  E[x_mis | x_obs] by self-normalised importance sampling,
  //                   sum_k w_k E[x_mis|z_k] / sum_k w_k (decoder means;
  //                   probabilities for Bernoulli);
  //   sample = true   a draw from p(x_mis | x_obs) by sampling importance
  //                   resampling: z_k picked with probability w_k / sum w,
  //                   then x_mis ~ p(x_mis | z_k) (Gaussian noise, or 0/1).
  // A row with nothing observed gets the same estimate under the prior (its
  // likelihood is 1: w_k = p(z_k) / q(z_k|x)).
  RowMatrix<T> impute(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed, bool sample,
                      int n_threads = 0) const;

 private:
  enum class Estimate { Elbo, Importance, Prior };
  // What NeuralModel's training loop asks of the model (neural_model.hpp).
  friend class NeuralModel<T, VAE<T>>;
  using Workspace = VAEWorkspace<T>;
  detail::BatchLoss batch_loss_and_gradient(const T* params, const T* X, Index rows, const T* eps, T* gradient,
                                            VAEWorkspace<T>& workspace, Index batch_rows) const;
  void reserve(VAEWorkspace<T>& workspace, Index rows) const;
  Index noise_per_row() const { return config_.n_mc_samples * config_.n_components; }
  double validation_score(ConstRowMatrixRef<T> X, const TrainingOptions& options) const;
  void initialize_heads(double data_variance);
  // The encoder's input for `rows` rows of X: X itself (`missing`: the rows
  // mark_missing filled), followed with encoder_mask by each row's mask
  // (state[i] as mark_missing sets it), written into `buffer` (room for rows
  // x 2D values: no allocation on the training path).
  const T* encoder_input(const T* X, Index rows, bool missing, const char* state, const T* observed,
                         T* buffer) const;
  Vector<T> evaluate(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed, Estimate estimate, double beta,
                     int n_threads) const;
  // The draws behind evaluate and impute (vae.cpp).
  template <class Accumulator>
  void for_each_draw(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed, bool from_prior, int n_threads,
                     Accumulator& accumulator) const;

  using NeuralModel<T, VAE<T>>::encoder_;
  using NeuralModel<T, VAE<T>>::decoder_;
  using NeuralModel<T, VAE<T>>::parameters_;
  VAEConfig config_;
};

extern template class NeuralModel<float, VAE<float>>;
extern template class NeuralModel<double, VAE<double>>;
extern template class VAE<float>;
extern template class VAE<double>;

}  // namespace vaekit
