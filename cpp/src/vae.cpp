// The VAE: the ELBO and its gradient (batch_loss_and_gradient), the estimates
// of log p(x) (evaluate), and the inference passes. Notation as in vae.hpp.
#include "vaekit/vae.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.hpp"
#include "numeric.hpp"
#include "parallel.hpp"
#include "training.hpp"
#include "vaekit/random.hpp"

namespace vaekit {
namespace {

using detail::kLog2Pi;
// Latent rows per decoder pass in the evaluation paths: n_mc_samples (or
// IWAE's m) draws are decoded in chunks of this many rows, so thousands of
// samples need no more memory than a few hundred.
constexpr Index kLatentRowsPerPass = 256;
constexpr const char* kNeedsSamples = "the number of samples per row must be at least 1";

template <class T>
inline T clamp_log_variance(T v) {
  return std::min(std::max(v, static_cast<T>(kMinLogVariance)), static_cast<T>(kMaxLogVariance));
}
template <class T>
inline T inside_clamp(T v) {  // derivative of clamp_log_variance
  return (v >= static_cast<T>(kMinLogVariance) && v <= static_cast<T>(kMaxLogVariance)) ? T(1) : T(0);
}

// log p(x|z) of one latent row from the decoder's output row `out` (mean or
// logits, then for Network the raw log-variances), in the kernels. If `d_out`
// is given, it receives scale * d(-log p)/d(out); `d_log_variance` (Scalar,
// Diagonal) receives scale * d(-log p)/d(log g_j^2), before the clamp's
// derivative. `scratch` holds D values. With `observed` (D values: 1 where
// x_j is observed, 0 where it is missing and x_j holds 0) it is
// log p(x_obs|z): the missing entries add nothing, to the value or to the
// derivatives.
template <class T>
double log_likelihood_given_latent(const VAEConfig& config, const T* x, const T* out, const T* learned_log_variance,
                                   T* d_out, T* d_log_variance, T scale, T* scratch, const T* observed = nullptr) {
  const Index D = config.n_features;
  const detail::Kernels<T>& kernels = detail::kernels<T>();
  if (config.likelihood == Likelihood::Bernoulli) {
    return kernels.bernoulli(x, out, D, d_out, scale, scratch, observed, /*sum_in_double=*/false);
  }
  // Gaussian: log N(x; f, g^2); raw: the unclamped log-variances, read with stride `step`.
  const T fixed_log_variance = static_cast<T>(std::log(config.noise_variance));
  const T* raw = &fixed_log_variance;
  Index step = 0;
  switch (config.decoder_variance) {
    case DecoderVariance::Scalar: raw = learned_log_variance; break;
    case DecoderVariance::Diagonal: raw = learned_log_variance; step = 1; break;
    case DecoderVariance::Network: raw = out + D; step = 1; break;
    default: break;
  }
  const bool network = config.decoder_variance == DecoderVariance::Network;
  const double n_observed =
      observed ? static_cast<double>(Eigen::Map<const Vector<T>>(observed, D).sum()) : static_cast<double>(D);
  return kernels.gaussian(x, out, raw, step, D, static_cast<T>(kMinLogVariance), static_cast<T>(kMaxLogVariance),
                          observed, d_out, network && d_out ? d_out + D : d_log_variance, network, scale) -
         0.5 * n_observed * detail::kLog2Pi;
}

// What a row of X holds (mark_missing).
enum RowState : char { kComplete = 0, kPartial = 1, kNothingObserved = 2 };

// Missing values of `rows` rows of X (stride D): rows with a NaN are copied
// into `filled` with the NaN set to 0 and their mask into `observed` (1 where
// observed); state[i] says which rows (a complete row is not copied, unless
// `copy_complete`). Returns whether any row has a NaN; then `filled` holds
// every row when copy_complete.
template <class T>
bool mark_missing(const T* X, Index rows, Index D, T* filled, T* observed, char* state, bool copy_complete) {
  bool any = false;
  for (Index i = 0; i < rows; ++i) {
    const T* row = X + i * D;
    state[i] = all_finite(row, D) ? kComplete : kPartial;
    any |= state[i] != kComplete;
  }
  if (!any) return false;
  for (Index i = 0; i < rows; ++i) {
    const T* row = X + i * D;
    T* target = filled + i * D;
    if (state[i] == kComplete) {
      if (copy_complete) std::copy(row, row + D, target);
      continue;
    }
    T* mask = observed + i * D;
    Index count = 0;
    for (Index j = 0; j < D; ++j) {
      const bool seen = !std::isnan(row[j]);
      target[j] = seen ? row[j] : T(0);
      mask[j] = seen ? T(1) : T(0);
      count += seen;
    }
    if (count == 0) state[i] = kNothingObserved;
  }
  return true;
}

}  // namespace

template <class T>
const T* VAE<T>::encoder_input(const T* X, Index rows, bool missing, const char* state, const T* observed,
                               T* buffer) const {
  if (!config_.encoder_mask) return X;
  const Index D = config_.n_features;
  for (Index i = 0; i < rows; ++i) {
    T* target = buffer + i * 2 * D;
    std::copy(X + i * D, X + (i + 1) * D, target);
    if (missing && state[i] != kComplete) std::copy(observed + i * D, observed + (i + 1) * D, target + D);
    else std::fill(target + D, target + 2 * D, T(1));
  }
  return buffer;
}

template <class T>
VAE<T>::VAE(const VAEConfig& config) : config_(config) {
  require(config_.n_features >= 1, "VAE: n_features must be at least 1");
  validate_fields(config_, kKind);
  if (config_.likelihood == Likelihood::Bernoulli) config_.decoder_variance = DecoderVariance::Fixed;
  const Index D = config_.n_features, d = config_.n_components;
  std::vector<Index> encoder_sizes{config_.encoder_inputs()};
  for (Index size : config_.hidden_layer_sizes) encoder_sizes.push_back(size);
  encoder_sizes.push_back(2 * d);
  std::vector<Index> decoder_sizes{d};
  for (auto it = config_.hidden_layer_sizes.rbegin(); it != config_.hidden_layer_sizes.rend(); ++it)
    decoder_sizes.push_back(*it);
  decoder_sizes.push_back(config_.decoder_variance == DecoderVariance::Network ? 2 * D : D);
  MLP<T> encoder(encoder_sizes, config_.activation, Activation::Identity, 0);
  MLP<T> decoder(decoder_sizes, config_.activation, Activation::Identity, encoder.end_offset());
  this->build(std::move(encoder), std::move(decoder), n_log_variance());
}

template <class T>
VAE<T>::VAE(const VAEConfig& config, TrainingState<T> state) : VAE(config) {
  this->restore(std::move(state));
}

template <class T>
Index VAE<T>::n_log_variance() const {
  if (config_.decoder_variance == DecoderVariance::Scalar) return 1;
  if (config_.decoder_variance == DecoderVariance::Diagonal) return config_.n_features;
  return 0;
}

template <class T>
Vector<T> VAE<T>::noise_variance() const {
  if (config_.likelihood == Likelihood::Bernoulli || config_.decoder_variance == DecoderVariance::Network)
    return Vector<T>();
  if (config_.decoder_variance == DecoderVariance::Fixed)
    return Vector<T>::Constant(1, static_cast<T>(config_.noise_variance));
  Vector<T> values = parameters_.map().segment(log_variance_offset(), n_log_variance());
  for (Index j = 0; j < values.size(); ++j) values(j) = std::exp(clamp_log_variance(values(j)));
  return values;
}

template <class T>
void VAE<T>::initialize_heads(double data_variance) {
  // After the networks' random initialisation (NeuralModel::initialize). The
  // log-variance heads start constant: the encoder's at log k^2 = 0 (q has the
  // prior's unit variance whatever the scale of x: random weights there would
  // give k^2 = e^{+-|x|} and a huge initial KL on unscaled data), a learned
  // decoder's at log g^2 = log of the data's mean feature variance (VAEConfig::
  // noise_variance). Starting at 1 instead, on a few hundred rows in [0, 1]
  // (variance ~0.05), the reconstruction term is ~20x too weak and the KL term
  // collapses every latent dimension before g^2 has come down.
  const Index d = config_.n_components;
  const int encoder_last = encoder_.n_layers() - 1;
  encoder_.weights(parameters_.data(), encoder_last).rightCols(d).setZero();
  const double initial_variance =
      std::isfinite(data_variance) && data_variance > 0 ? data_variance : config_.noise_variance;
  const T log_variance = clamp_log_variance(static_cast<T>(std::log(initial_variance)));
  parameters_.map().segment(log_variance_offset(), n_log_variance()).setConstant(log_variance);
  if (config_.decoder_variance == DecoderVariance::Network) {
    const int last = decoder_.n_layers() - 1;
    decoder_.weights(parameters_.data(), last).rightCols(config_.n_features).setZero();
    decoder_.biases(parameters_.data(), last).tail(config_.n_features).setConstant(log_variance);
  }
}

template <class T>
void VAE<T>::reserve(VAEWorkspace<T>& workspace, Index rows) const {
  const Index latent_rows = rows * config_.n_mc_samples;
  encoder_.reserve(workspace.encoder, rows);
  decoder_.reserve(workspace.decoder, latent_rows);
  workspace.latent.resize(latent_rows * config_.n_components);
  workspace.latent_std.resize(rows * config_.n_components);
  workspace.row_log_likelihood.resize(latent_rows);
  if (n_log_variance() > 0) workspace.log_variance_gradient.resize(latent_rows * config_.n_features);
  workspace.scratch.resize(config_.n_features);
  workspace.filled.resize(rows, config_.n_features);
  workspace.observed.resize(rows, config_.n_features);
  workspace.row_state.resize(rows);
  if (config_.encoder_mask) workspace.encoder_input.resize(rows, config_.encoder_inputs());
  if (config_.objective == Objective::Iwae) workspace.weights.resize(latent_rows);
}

// ====================================================================== ELBO
// Mean over the batch of -ELBO_beta(x_i) = -(1/S) sum_j log p(x_i | z_ij) + beta KL_i
// with z_ij = h_i + k_i * eps_ij, and its gradient by backpropagation through
// the reparameterisation (Kingma & Welling 2014, sec. 2.4):
//   dz/dh = 1,  dz/d(log k^2) = eps * k / 2,
//   dKL/dh = h, dKL/d(log k^2) = (k^2 - 1) / 2.
// IWAE: -log (1/S) sum_j w_ij with log w_ij = log p(x_i|z_ij) + beta (log p(z_ij)
// - log q(z_ij|x_i)) = log p(x_i|z_ij) + beta/2 (||eps_ij||^2 - ||z_ij||^2 +
// sum_c log k_ic^2) (the log 2 pi terms cancel). With the normalised weights
// v_ij = w_ij / sum_j w_ij its gradient is sum_j v_ij d(-log w_ij) (Burda et
// al. 2016, eq. 13): the decoder's gradient of draw j is weighted by v_ij,
// d(-log w_ij)/dz_ij gains beta z_ij, and d(-log w_ij)/d(log k_ic^2) gains -beta/2.
// Missing values: mark_missing gives the encoder its rows with NaN set to 0
// and the likelihood their mask; a row with nothing observed adds nothing.
template <class T>
detail::BatchLoss VAE<T>::batch_loss_and_gradient(const T* params, const T* X_in, Index rows, const T* eps,
                                                  T* gradient, VAEWorkspace<T>& workspace, Index batch_rows) const {
  const Index D = config_.n_features, d = config_.n_components, S = config_.n_mc_samples;
  const Index latent_rows = rows * S;
  const T beta = static_cast<T>(config_.beta);
  const bool iwae = config_.objective == Objective::Iwae;

  char* state = workspace.row_state.data();
  const bool missing = mark_missing(X_in, rows, D, workspace.filled.data(), workspace.observed.data(), state,
                                    /*copy_complete=*/true);
  const T* X = missing ? workspace.filled.data() : X_in;
  const auto observed = [&](Index i) {
    return missing && state[i] != kComplete ? workspace.observed.row(i).data() : nullptr;
  };

  // Encoder: rows x 2d, means then raw log-variances.
  const T* input = encoder_input(X, rows, missing, state, workspace.observed.data(), workspace.encoder_input.data());
  encoder_.forward(params, input, rows, workspace.encoder, /*parallel=*/false);
  const auto E = encoder_.output(workspace.encoder, rows);

  // Reparameterisation: z_ij = h_i + k_i * eps_ij, k_i = exp(log k_i^2 / 2)
  // (one vectorised exp per latent value, kept for the gradient below).
  Eigen::Map<RowMatrix<T>> Z(workspace.latent.data(), latent_rows, d);
  const Eigen::Map<const RowMatrix<T>> Eps(eps, latent_rows, d);
  Eigen::Map<RowMatrix<T>> K(workspace.latent_std.data(), rows, d);
  for (Index i = 0; i < rows; ++i)
    for (Index c = 0; c < d; ++c) K(i, c) = T(0.5) * clamp_log_variance(E(i, d + c));  // (a NaN stays NaN)
  K = K.array().exp();
  for (Index i = 0; i < rows; ++i) {
    for (Index c = 0; c < d; ++c) {
      const T h = E(i, c), k = K(i, c);
      for (Index j = 0; j < S; ++j) Z(i * S + j, c) = h + k * Eps(i * S + j, c);
    }
  }

  // Decoder and the likelihood term; dL/d(decoder output) written in place.
  decoder_.forward(params, Z.data(), latent_rows, workspace.decoder, /*parallel=*/false);
  const auto F = decoder_.output(workspace.decoder, latent_rows);
  auto G = decoder_.output_gradient(workspace.decoder, latent_rows);
  // The loss is a mean over the batch_rows rows of the whole batch (this call
  // may compute a slice of them): d/d(term of row i, draw j) = 1 / (batch_rows S)
  // for the ELBO; IWAE's draws are weighted by v_ij below instead of 1 / S.
  const T scale = T(1) / static_cast<T>(iwae ? batch_rows : batch_rows * S);
  const T* learned = params + log_variance_offset();
  T* lv_gradient = n_log_variance() > 0 ? workspace.log_variance_gradient.data() : nullptr;
  for (Index r = 0; r < latent_rows; ++r) {
    workspace.row_log_likelihood(r) = static_cast<T>(log_likelihood_given_latent(
        config_, X + (r / S) * D, F.row(r).data(), learned, G.row(r).data(),
        lv_gradient ? lv_gradient + r * D : nullptr, scale, workspace.scratch.data(), observed(r / S)));
  }
  // IWAE: each row's normalised weights v_ij, its loss, and the decoder's
  // gradients weighted by them.
  std::vector<double> iwae_loss(iwae ? rows : 0), log_w(iwae ? S : 0);
  if (iwae) {
    for (Index i = 0; i < rows; ++i) {
      T* v = workspace.weights.data() + i * S;
      if (missing && state[i] == kNothingObserved) {
        std::fill(v, v + S, T(0));
        continue;
      }
      double log_k2 = 0;
      for (Index c = 0; c < d; ++c) log_k2 += clamp_log_variance(E(i, d + c));
      double largest = -INFINITY;
      for (Index j = 0; j < S; ++j) {
        const Index r = i * S + j;
        const double prior_ratio = 0.5 * (static_cast<double>(Eps.row(r).squaredNorm()) -
                                          static_cast<double>(Z.row(r).squaredNorm()) + log_k2);
        log_w[j] = static_cast<double>(workspace.row_log_likelihood(r)) + config_.beta * prior_ratio;
        largest = std::max(largest, log_w[j]);
      }
      double sum = 0;
      for (Index j = 0; j < S; ++j) sum += std::exp(log_w[j] - largest);
      iwae_loss[i] = -(largest + std::log(sum) - std::log(static_cast<double>(S)));
      for (Index j = 0; j < S; ++j) {
        const Index r = i * S + j;
        v[j] = static_cast<T>(std::exp(log_w[j] - largest) / sum);
        G.row(r) *= v[j];
        if (lv_gradient) Eigen::Map<Vector<T>>(lv_gradient + r * D, D) *= v[j];
      }
    }
  }
  decoder_.backward(params, Z.data(), latent_rows, workspace.decoder, gradient, /*want_input_gradient=*/true,
                    /*parallel=*/false);
  const auto GZ = decoder_.input_gradient(workspace.decoder, latent_rows);

  // Encoder output gradient: the reparameterisation path plus the KL term
  // (ELBO), or plus the weighted log p(z) - log q(z|x) terms (IWAE).
  auto GE = encoder_.output_gradient(workspace.encoder, rows);
  const T kl_scale = beta / static_cast<T>(batch_rows);
  double total = 0, total_reconstruction = 0, total_kl = 0;
  for (Index i = 0; i < rows; ++i) {
    if (missing && state[i] == kNothingObserved) {  // nothing observed: no loss, no gradient
      GE.row(i).setZero();
      continue;
    }
    const T* v = iwae ? workspace.weights.data() + i * S : nullptr;
    double log_likelihood = 0, kl = 0;
    for (Index j = 0; j < S; ++j) log_likelihood += workspace.row_log_likelihood(i * S + j);
    for (Index c = 0; c < d; ++c) {
      const T h = E(i, c), raw = E(i, d + c);
      const T log_variance = clamp_log_variance(raw), k = K(i, c), variance = k * k;
      kl += 0.5 * (static_cast<double>(h) * h + variance - log_variance - 1.0);
      T sum_gz = 0, sum_gz_eps = 0;
      for (Index j = 0; j < S; ++j) {
        const Index r = i * S + j;
        const T g = iwae ? GZ(r, c) + kl_scale * v[j] * Z(r, c) : GZ(r, c);
        sum_gz += g;
        sum_gz_eps += g * Eps(r, c);
      }
      if (iwae) {
        GE(i, c) = sum_gz;
        GE(i, d + c) = inside_clamp(raw) * (sum_gz_eps * k * T(0.5) - kl_scale * T(0.5));
      } else {
        GE(i, c) = sum_gz + kl_scale * h;
        GE(i, d + c) = inside_clamp(raw) * (sum_gz_eps * k * T(0.5) + kl_scale * T(0.5) * (variance - T(1)));
      }
    }
    const double reconstruction = -log_likelihood / static_cast<double>(S);
    total += iwae ? iwae_loss[i] : reconstruction + static_cast<double>(config_.beta) * kl;
    total_reconstruction += reconstruction;
    total_kl += kl;
  }
  encoder_.backward(params, input, rows, workspace.encoder, gradient, /*want_input_gradient=*/false,
                    /*parallel=*/false);

  // Learned Scalar / Diagonal log-variances: sum the per-row derivatives.
  if (lv_gradient) {
    const Eigen::Map<const RowMatrix<T>> per_row(lv_gradient, latent_rows, D);
    T* out = gradient + log_variance_offset();
    if (config_.decoder_variance == DecoderVariance::Scalar) {
      out[0] = per_row.sum() * inside_clamp(learned[0]);
    } else {
      detail::kernels<T>().column_sums(lv_gradient, latent_rows, D, out);
      for (Index j = 0; j < D; ++j) out[j] *= inside_clamp(learned[j]);
    }
  }
  const double rows_in_batch = static_cast<double>(batch_rows);
  return {total / rows_in_batch, total_reconstruction / rows_in_batch, total_kl / rows_in_batch};
}

template <class T>
double VAE<T>::loss_and_gradient(ConstVectorRef<T> parameters, ConstRowMatrixRef<T> X, ConstRowMatrixRef<T> eps,
                                 Vector<T>& gradient) const {
  require(parameters.size() == n_parameters(), "VAE.loss_and_gradient: wrong number of parameters");
  require(X.rows() >= 1, "VAE.loss_and_gradient: X must have at least one row");
  detail::check_input<T>(X, n_features(), "X", "n_features", /*allow_missing=*/true);
  require(eps.rows() == X.rows() * config_.n_mc_samples && eps.cols() == n_components(),
          "VAE.loss_and_gradient: eps must be (n * n_mc_samples) x n_components");
  const RowMatrix<T> X_copy = X, eps_copy = eps;
  const Vector<T> params = parameters;
  VAEWorkspace<T> workspace;
  reserve(workspace, X.rows());
  gradient = Vector<T>::Zero(n_parameters());
  return batch_loss_and_gradient(params.data(), X_copy.data(), X.rows(), eps_copy.data(), gradient.data(),
                                 workspace, X.rows())
      .loss;
}

// ================================================================= training
template <class T>
double VAE<T>::validation_score(ConstRowMatrixRef<T> X, const TrainingOptions& options) const {
  // The mean objective (ELBO_beta or IWAE_beta) of the validation rows: the
  // negated training loss.
  const Estimate estimate = config_.objective == Objective::Iwae ? Estimate::Importance : Estimate::Elbo;
  const Vector<T> scores = evaluate(X, config_.n_mc_samples, options.seed, estimate, config_.beta, options.n_threads);
  return scores.template cast<double>().mean();
}

// ================================================================ inference
template <class T>
void VAE<T>::encode(ConstRowMatrixRef<T> X, RowMatrix<T>& mean, RowMatrix<T>& stddev, int n_threads) const {
  const bool missing = detail::check_input<T>(X, n_features(), "X", "n_features", /*allow_missing=*/true);
  const Index n = X.rows(), d = n_components();
  mean.resize(n, d);
  stddev.resize(n, d);
  // The encoder sees missing entries as 0, and with encoder_mask the mask (vae.hpp).
  RowMatrix<T> filled;
  if (config_.encoder_mask) {
    filled.resize(n, 2 * n_features());
    filled.leftCols(n_features()) = X.array().isNaN().select(T(0), X);
    filled.rightCols(n_features()) = (X.array() == X.array()).template cast<T>();
  } else if (missing) {
    filled = X.array().isNaN().select(T(0), X);
  }
  const ConstRowMatrixRef<T> input = missing || config_.encoder_mask ? ConstRowMatrixRef<T>(filled) : X;
  detail::predict_rows(encoder_, parameters_.data(), input, n_threads, [&](Index start, Index rows, const T* out) {
    for (Index r = 0; r < rows; ++r) {
      for (Index c = 0; c < d; ++c) {
        mean(start + r, c) = out[r * 2 * d + c];
        stddev(start + r, c) = std::exp(T(0.5) * clamp_log_variance(out[r * 2 * d + d + c]));
      }
    }
  });
}

template <class T>
RowMatrix<T> VAE<T>::transform(ConstRowMatrixRef<T> X, int n_threads) const {
  RowMatrix<T> mean, stddev;
  encode(X, mean, stddev, n_threads);
  require_finite_result(mean, "VAE.transform");
  return mean;
}

template <class T>
Vector<T> VAE<T>::kl_per_dimension(ConstRowMatrixRef<T> X, int n_threads) const {
  require(X.rows() > 0, "X must have at least one row");
  RowMatrix<T> mean, stddev;
  encode(X, mean, stddev, n_threads);
  const Index n = X.rows(), d = n_components();
  Eigen::VectorXd kl = Eigen::VectorXd::Zero(d);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < d; ++j) {
      const double h = mean(i, j), k = stddev(i, j);
      // Closed-form Gaussian KL, one coordinate (Kingma & Welling 2014, appendix B).
      kl(j) += 0.5 * (h * h + k * k - 2.0 * std::log(k) - 1.0);
    }
  return (kl / static_cast<double>(n)).cast<T>();
}

template <class T>
Vector<T> VAE<T>::latent_activity(ConstRowMatrixRef<T> X, int n_threads) const {
  require(X.rows() > 0, "X must have at least one row");
  const RowMatrix<T> mean = transform(X, n_threads);
  // Two passes (mean, then squared deviations) in double: no cancellation when |h| >> its spread.
  const Eigen::MatrixXd h = mean.template cast<double>();
  const Eigen::RowVectorXd centre = h.colwise().mean();
  const Eigen::VectorXd activity = (h.rowwise() - centre).colwise().squaredNorm().transpose() / static_cast<double>(h.rows());
  return activity.cast<T>();
}

template <class T>
RowMatrix<T> VAE<T>::inverse_transform(ConstRowMatrixRef<T> Z, int n_threads) const {
  detail::check_input<T>(Z, n_components(), "Z", "n_components");
  const Index n = Z.rows(), D = n_features(), width = decoder_.n_outputs();
  RowMatrix<T> X(n, D);
  const bool bernoulli = config_.likelihood == Likelihood::Bernoulli;
  detail::predict_rows(decoder_, parameters_.data(), Z, n_threads, [&](Index start, Index rows, const T* out) {
    for (Index r = 0; r < rows; ++r) std::copy(out + r * width, out + r * width + D, X.row(start + r).data());
    if (bernoulli) detail::kernels<T>().activate(X.row(start).data(), rows, D, nullptr, Activation::Sigmoid);
  });
  return X;
}

template <class T>
RowMatrix<T> VAE<T>::sample(Index n_samples, std::uint64_t seed, bool noise, int n_threads) const {
  require(n_samples >= 0, "n_samples must be non-negative");
  const Index D = n_features(), d = n_components(), width = decoder_.n_outputs();
  RowMatrix<T> X(n_samples, D);
  const std::uint64_t sample_seed = mix_seed(seed, detail::kSeedSampling);
  const Vector<T> g2 = noise_variance();
  const bool bernoulli = config_.likelihood == Likelihood::Bernoulli;
  const double flops_per_sample = 2.0 * decoder_.n_parameters();
  detail::for_each_block(n_samples, detail::kInferenceBlock, flops_per_sample, n_threads, [&](Index start, Index rows) {
    MLPInferenceWorkspace<T> workspace;
    decoder_.reserve(workspace, rows);
    RowMatrix<T> latent(rows, d);
    std::vector<Philox> streams;
    for (Index r = 0; r < rows; ++r) {
      // Sample i: d latent draws, then D noise draws, from stream i.
      streams.emplace_back(sample_seed, static_cast<std::uint64_t>(start + r));
      streams.back().fill_normal(latent.row(r).data(), d);
    }
    const T* out = decoder_.predict(parameters_.data(), latent.data(), rows, workspace);
    // The decoder's means (probabilities for Bernoulli), then the draws.
    for (Index r = 0; r < rows; ++r) std::copy(out + r * width, out + r * width + D, X.row(start + r).data());
    if (bernoulli) detail::kernels<T>().activate(X.row(start).data(), rows, D, nullptr, Activation::Sigmoid);
    if (!noise) return;
    for (Index r = 0; r < rows; ++r) {
      Philox& rng = streams[r];
      for (Index j = 0; j < D; ++j) {
        const T f = X(start + r, j);
        if (bernoulli) {
          X(start + r, j) = rng.uniform() < static_cast<double>(f) ? T(1) : T(0);
        } else {
          T variance;
          if (config_.decoder_variance == DecoderVariance::Network)
            variance = std::exp(clamp_log_variance(out[r * width + D + j]));
          else
            variance = g2.size() == 1 ? g2(0) : g2(j);
          X(start + r, j) = f + std::sqrt(variance) * static_cast<T>(rng.normal());
        }
      }
    }
  });
  return X;
}

// The draws behind the estimates and the imputations. Row i draws its eps from
// the Philox stream keyed by mix_seed(seed, hash of row i's bytes): a row's
// result does not depend on its position in X or on the other rows. Rows are
// processed in blocks, and each row's draws in chunks, so that a decoder pass
// has at most kLatentRowsPerPass rows (m = 10^4 samples need no more memory
// than 256). For each draw, accumulator.draw(i, log_px, log_weight, out, rng)
// receives log p(x_obs|z), the log-weight (log p(x_obs|z) + log p(z) -
// log q(z|x); for draws from the prior, log p(x_obs|z)) and the decoder's
// output row; after the last draw of row i,
// accumulator.finish(i, encoder output row (null for the prior), state, rng),
// state a RowState. Calls for different rows may run in parallel.
template <class T>
template <class Accumulator>
void VAE<T>::for_each_draw(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed, bool from_prior, int n_threads,
                           Accumulator& accumulator) const {
  detail::check_input<T>(X, n_features(), "X", "n_features", /*allow_missing=*/true);
  require(n_samples >= 1, kNeedsSamples);
  const Index n = X.rows(), D = n_features(), d = n_components(), width = decoder_.n_outputs();
  const Index S = n_samples;
  const Index chunk = std::min<Index>(S, kLatentRowsPerPass);
  const Index block = std::max<Index>(1, kLatentRowsPerPass / S);
  const std::uint64_t evaluation_seed = mix_seed(seed, detail::kSeedEvaluationNoise);
  const T* learned = parameters_.data() + log_variance_offset();
  const double flops_per_row = 2.0 * ((from_prior ? 0 : encoder_.n_parameters()) + S * decoder_.n_parameters());
  detail::for_each_block(n, block, flops_per_row, n_threads, [&](Index start, Index rows) {
    MLPInferenceWorkspace<T> encoder_workspace, decoder_workspace;
    if (!from_prior) encoder_.reserve(encoder_workspace, rows);
    decoder_.reserve(decoder_workspace, rows * chunk);
    const RowMatrix<T> x_block = X.middleRows(start, rows);
    RowMatrix<T> filled(rows, D), observed(rows, D);
    std::vector<char> state(rows);
    const bool missing = mark_missing(x_block.data(), rows, D, filled.data(), observed.data(), state.data(),
                                      /*copy_complete=*/true);
    const T* input = missing ? filled.data() : x_block.data();
    RowMatrix<T> mask_buffer(config_.encoder_mask ? rows : 0, config_.encoder_inputs());
    // The prior estimate draws z from N(0, I) itself: it needs no encoder pass.
    const T* E = from_prior ? nullptr
                            : encoder_.predict(parameters_.data(),
                                               encoder_input(input, rows, missing, state.data(), observed.data(),
                                                             mask_buffer.data()),
                                               rows, encoder_workspace);
    std::vector<Philox> streams;
    for (Index r = 0; r < rows; ++r)
      streams.emplace_back(mix_seed(evaluation_seed, detail::hash_row(x_block.row(r).data(), D)));
    RowMatrix<T> eps(rows * chunk, d), latent(rows * chunk, d);
    Vector<T> scratch(D);
    for (Index done = 0; done < S; done += chunk) {
      const Index count = std::min(chunk, S - done);
      for (Index r = 0; r < rows; ++r) {
        for (Index j = 0; j < count; ++j) {
          const Index row = r * count + j;
          if (from_prior) {  // z = eps ~ p(z)
            streams[r].fill_normal(latent.row(row).data(), d);
            continue;
          }
          streams[r].fill_normal(eps.row(row).data(), d);
          for (Index c = 0; c < d; ++c) {
            const T k = std::exp(T(0.5) * clamp_log_variance(E[r * 2 * d + d + c]));
            latent(row, c) = E[r * 2 * d + c] + k * eps(row, c);
          }
        }
      }
      const T* F = decoder_.predict(parameters_.data(), latent.data(), rows * count, decoder_workspace);
      for (Index r = 0; r < rows; ++r) {
        const T* mask = missing && state[r] != kComplete ? observed.row(r).data() : nullptr;
        for (Index j = 0; j < count; ++j) {
          const Index row = r * count + j;
          const double log_px = log_likelihood_given_latent<T>(config_, input + r * D, F + row * width, learned,
                                                               nullptr, nullptr, T(0), scratch.data(), mask);
          // Prior: the weight is p(x|z) (z ~ p(z) is its own proposal).
          // Importance: log p(x|z) + log p(z) - log q(z|x); the log 2 pi
          // terms of p(z) and q(z|x) cancel.
          double log_weight = log_px;
          if (!from_prior) {
            for (Index c = 0; c < d; ++c) {
              const double lv = clamp_log_variance(E[r * 2 * d + d + c]);
              const double e = eps(row, c), z = latent(row, c);
              log_weight += 0.5 * (lv + e * e - z * z);
            }
          }
          accumulator.draw(start + r, log_px, log_weight, F + row * width, streams[r]);
        }
      }
    }
    for (Index r = 0; r < rows; ++r)
      accumulator.finish(start + r, from_prior ? nullptr : E + r * 2 * d, missing ? state[r] : char(kComplete),
                         streams[r]);
  });
}

namespace {
// A running log-sum-exp: total = sum exp(w - largest). A weight of exp(-inf)
// adds nothing (and -inf - -inf would be NaN). add returns the factor by
// which earlier terms were rescaled (1 when `largest` did not change) and
// sets `share` to the new term's exp(w - largest).
struct LogSumExp {
  double largest = -INFINITY, total = 0;
  double add(double w, double& share) {
    share = 0;
    if (w == -INFINITY) return 1.0;
    if (w > largest) {
      const double rescale = std::exp(largest - w);
      total = total * rescale + 1.0;
      largest = w;
      share = 1.0;
      return rescale;
    }
    share = std::exp(w - largest);
    total += share;
    return 1.0;
  }
  // log (1/m) sum exp(w) (-inf when every weight is 0).
  double log_mean(Index m) const { return largest + std::log(total) - std::log(static_cast<double>(m)); }
};
}  // namespace

// ELBO_beta, IWAE or prior-sampling estimate per row (see for_each_draw); 0
// for a row with nothing observed (log p of no observation = log 1).
template <class T>
Vector<T> VAE<T>::evaluate(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed, Estimate estimate,
                           double beta, int n_threads) const {
  const Index d = n_components();
  struct Accumulator {
    Estimate estimate;
    double beta;
    Index d;
    Index n_samples;
    std::vector<double> sum;         // ELBO: sum of log p(x|z)
    std::vector<LogSumExp> weights;  // IWAE, prior
    Vector<T> result;
    void draw(Index i, double log_px, double log_weight, const T*, Philox&) {
      double share;
      if (estimate == Estimate::Elbo) sum[i] += log_px;
      else weights[i].add(estimate == Estimate::Importance && beta != 1.0 ? log_px + beta * (log_weight - log_px)
                                                                            : log_weight,
                          share);
    }
    void finish(Index i, const T* E, char state, Philox&) {
      if (state == kNothingObserved) {
        result(i) = T(0);
        return;
      }
      if (estimate != Estimate::Elbo) {
        result(i) = static_cast<T>(weights[i].log_mean(n_samples));
        return;
      }
      double kl = 0;
      for (Index c = 0; c < d; ++c) {
        const double h = E[c], lv = clamp_log_variance(E[d + c]);
        kl += 0.5 * (h * h + std::exp(lv) - lv - 1.0);
      }
      result(i) = static_cast<T>(sum[i] / static_cast<double>(n_samples) - beta * kl);
    }
  };
  const Index n = X.rows();
  Accumulator accumulator{estimate, beta, d, n_samples, std::vector<double>(n, 0.0), std::vector<LogSumExp>(n),
                          Vector<T>(n)};
  for_each_draw(X, n_samples, seed, estimate == Estimate::Prior, n_threads, accumulator);
  return accumulator.result;
}

template <class T>
RowMatrix<T> VAE<T>::impute(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed, bool sample,
                            int n_threads) const {
  const Index D = n_features();
  const bool bernoulli = config_.likelihood == Likelihood::Bernoulli;
  const Vector<T> g2 = noise_variance();
  // The decoder's prediction of entry j from output row `out`: its mean
  // (a probability for Bernoulli), or with `rng` a draw of x_j ~ p(x_j|z).
  const auto predict = [&](const T* out, Index j, Philox* rng) -> T {
    const T f = out[j];
    if (bernoulli) {
      T p = f;
      detail::kernels<T>().activate(&p, 1, 1, nullptr, Activation::Sigmoid);
      return rng ? (rng->uniform() < static_cast<double>(p) ? T(1) : T(0)) : p;
    }
    if (!rng) return f;
    const T variance = config_.decoder_variance == DecoderVariance::Network
                           ? std::exp(clamp_log_variance(out[D + j]))
                           : (g2.size() == 1 ? g2(0) : g2(j));
    return f + std::sqrt(variance) * static_cast<T>(rng->normal());
  };
  struct Accumulator {
    ConstRowMatrixRef<T> X;
    RowMatrix<T> result;
    std::vector<LogSumExp> weights;
    bool sample;
    const decltype(predict)& entry;  // predict
    // sample = false: result's missing entries hold sum exp(w - largest) E[x_j|z];
    // sample = true: the draw picked so far (a running weighted reservoir of one).
    void draw(Index i, double, double log_weight, const T* out, Philox& rng) {
      double share;
      const double rescale = weights[i].add(log_weight, share);
      if (share == 0) return;
      const Index D = X.cols();
      if (sample) {
        // Keep the new draw with probability share / total: after all draws,
        // draw k is kept with probability w_k / sum w (sampling importance resampling).
        if (rng.uniform() * weights[i].total < share)
          for (Index j = 0; j < D; ++j)
            if (std::isnan(X(i, j))) result(i, j) = entry(out, j, &rng);
        return;
      }
      for (Index j = 0; j < D; ++j)
        if (std::isnan(X(i, j)))
          result(i, j) = result(i, j) * static_cast<T>(rescale) + static_cast<T>(share) * entry(out, j, nullptr);
    }
    void finish(Index i, const T*, char, Philox&) {
      if (sample) return;
      const T total = static_cast<T>(weights[i].total);
      for (Index j = 0; j < X.cols(); ++j)
        if (std::isnan(X(i, j))) result(i, j) /= total;
    }
  };
  detail::check_input<T>(X, D, "X", "n_features", /*allow_missing=*/true);
  require(n_samples >= 1, kNeedsSamples);
  // Only the rows with a NaN need draws.
  std::vector<Index> incomplete;
  for (Index i = 0; i < X.rows(); ++i)
    if (X.row(i).array().isNaN().any()) incomplete.push_back(i);
  RowMatrix<T> result = X;
  if (incomplete.empty()) return result;
  RowMatrix<T> rows(static_cast<Index>(incomplete.size()), D);
  for (std::size_t r = 0; r < incomplete.size(); ++r) rows.row(r) = X.row(incomplete[r]);
  // Missing entries start at 0 (NaN * 0 would stay NaN).
  Accumulator accumulator{rows, rows.array().isNaN().select(T(0), rows), std::vector<LogSumExp>(rows.rows()), sample,
                          predict};
  for_each_draw(rows, n_samples, seed, /*from_prior=*/false, n_threads, accumulator);
  require_finite_result(accumulator.result, "VAE.impute");
  for (std::size_t r = 0; r < incomplete.size(); ++r) result.row(incomplete[r]) = accumulator.result.row(r);
  return result;
}

template <class T>
Vector<T> VAE<T>::score_samples(ConstRowMatrixRef<T> X, int n_mc_samples, std::uint64_t seed, int n_threads) const {
  return evaluate(X, n_mc_samples, seed, Estimate::Elbo, 1.0, n_threads);
}

template <class T>
Vector<T> VAE<T>::log_likelihood(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed,
                                 LogLikelihoodMethod method, int n_threads) const {
  const Estimate estimate = method == LogLikelihoodMethod::Prior ? Estimate::Prior : Estimate::Importance;
  return evaluate(X, n_samples, seed, estimate, 1.0, n_threads);
}

template class NeuralModel<float, VAE<float>>;
template class NeuralModel<double, VAE<double>>;
template class VAE<float>;
template class VAE<double>;

}  // namespace vaekit
