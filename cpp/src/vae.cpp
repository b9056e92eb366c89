// The VAE: the ELBO and its gradient (batch_loss_and_gradient), the estimates
// of log p(x) (evaluate), and the inference passes. Notation as in vae.hpp.
#include "vaekit/vae.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "bernoulli.hpp"
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

template <class T>
inline T clamp_log_variance(T v) {
  return std::min(std::max(v, static_cast<T>(kMinLogVariance)), static_cast<T>(kMaxLogVariance));
}
template <class T>
inline T inside_clamp(T v) {  // derivative of clamp_log_variance
  return (v >= static_cast<T>(kMinLogVariance) && v <= static_cast<T>(kMaxLogVariance)) ? T(1) : T(0);
}

// log p(x|z) of one latent row from the decoder's output row `out` (mean or
// logits, then for Network the raw log-variances). If `d_out` is given, it
// receives scale * d(-log p)/d(out); `d_log_variance` (Scalar, Diagonal)
// receives scale * d(-log p)/d(log g_j^2), before the clamp's derivative.
// `scratch` holds D values. The transcendental functions go through Eigen's
// vectorised exp/log1p (a scalar libm call per pixel cost as much as the
// decoder's GEMMs); the other loops are plain and vectorised by the compiler.
template <class T>
double log_likelihood_given_latent(const VAEConfig& config, const T* x, const T* out, const T* learned_log_variance,
                                   T* d_out, T* d_log_variance, T scale, T* scratch) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  const Index D = config.n_features;
  const Eigen::Map<const Array> f(out, D), xs(x, D);
  if (config.likelihood == Likelihood::Bernoulli) {
    return static_cast<double>(detail::bernoulli_log_likelihood<T>(x, out, D, d_out, scale, scratch));
  }
  // Gaussian: log N(x; f, g^2) = -1/2 sum_j [log 2 pi + log g_j^2 + (x_j - f_j)^2 / g_j^2].
  // raw[j]: the unclamped log-variance of pixel j, read with stride `step`.
  const T fixed_log_variance = static_cast<T>(std::log(config.noise_variance));
  const T* raw = &fixed_log_variance;
  Index step = 0;
  switch (config.decoder_variance) {
    case DecoderVariance::Scalar: raw = learned_log_variance; break;
    case DecoderVariance::Diagonal: raw = learned_log_variance; step = 1; break;
    case DecoderVariance::Network: raw = out + D; step = 1; break;
    default: break;
  }
  if (step == 0) {
    // One variance for every pixel: no transcendental function per pixel.
    const T log_variance = clamp_log_variance(raw[0]);
    const T precision = std::exp(-log_variance);
    const double squares = static_cast<double>((xs - f).square().sum());
    if (d_out)
      for (Index j = 0; j < D; ++j) d_out[j] = -scale * (x[j] - out[j]) * precision;
    if (d_log_variance)
      for (Index j = 0; j < D; ++j) {
        const T residual = x[j] - out[j];
        d_log_variance[j] = scale * T(0.5) * (T(1) - residual * residual * precision);
      }
    return -0.5 * (static_cast<double>(D) * (kLog2Pi + static_cast<double>(log_variance)) +
                   squares * static_cast<double>(precision));
  }
  // One variance per pixel: log g_j^2 clamped, its exp vectorised.
  Eigen::Map<Array> precision(scratch, D);
  const auto log_variance =
      Eigen::Map<const Array>(raw, D).max(static_cast<T>(kMinLogVariance)).min(static_cast<T>(kMaxLogVariance));
  precision = (-log_variance).exp();
  const double sum = static_cast<double>((log_variance + (xs - f).square() * precision).sum());
  if (d_out) {
    for (Index j = 0; j < D; ++j) {
      const T residual = x[j] - out[j];
      d_out[j] = -scale * residual * precision[j];
      const T d_lv = scale * T(0.5) * (T(1) - residual * residual * precision[j]);
      if (config.decoder_variance == DecoderVariance::Network) d_out[D + j] = d_lv * inside_clamp(raw[j]);
      else if (d_log_variance) d_log_variance[j] = d_lv;
    }
  }
  return -0.5 * (static_cast<double>(D) * kLog2Pi + sum);
}

}  // namespace

template <class T>
VAE<T>::VAE(const VAEConfig& config) : config_(config) {
  require(config_.n_features >= 1, "VAE: n_features must be at least 1");
  validate_fields(config_, kKind);
  if (config_.likelihood == Likelihood::Bernoulli) config_.decoder_variance = DecoderVariance::Fixed;
  const Index D = config_.n_features, d = config_.n_components;
  std::vector<Index> encoder_sizes{D};
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
  Vector<T> values = parameters_.segment(log_variance_offset(), n_log_variance());
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
  parameters_.segment(log_variance_offset(), n_log_variance()).setConstant(log_variance);
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
  workspace.row_log_likelihood.resize(latent_rows);
  if (n_log_variance() > 0) workspace.log_variance_gradient.resize(latent_rows * config_.n_features);
  workspace.scratch.resize(config_.n_features);
}

// ====================================================================== ELBO
// Mean over the batch of -ELBO_beta(x_i) = -(1/S) sum_j log p(x_i | z_ij) + beta KL_i
// with z_ij = h_i + k_i * eps_ij, and its gradient by backpropagation through
// the reparameterisation (Kingma & Welling 2014, sec. 2.4):
//   dz/dh = 1,  dz/d(log k^2) = eps * k / 2,
//   dKL/dh = h, dKL/d(log k^2) = (k^2 - 1) / 2.
template <class T>
detail::BatchLoss VAE<T>::batch_loss_and_gradient(const T* params, const T* X, Index rows, const T* eps,
                                                  T* gradient, VAEWorkspace<T>& workspace, Index batch_rows) const {
  const Index D = config_.n_features, d = config_.n_components, S = config_.n_mc_samples;
  const Index latent_rows = rows * S;
  const T beta = static_cast<T>(config_.beta);

  // Encoder: rows x 2d, means then raw log-variances.
  encoder_.forward(params, X, rows, workspace.encoder, /*parallel=*/false);
  const auto E = encoder_.output(workspace.encoder, rows);

  // Reparameterisation: z_ij = h_i + exp(log k_i^2 / 2) * eps_ij.
  Eigen::Map<RowMatrix<T>> Z(workspace.latent.data(), latent_rows, d);
  const Eigen::Map<const RowMatrix<T>> Eps(eps, latent_rows, d);
  for (Index i = 0; i < rows; ++i) {
    for (Index c = 0; c < d; ++c) {
      const T h = E(i, c), k = std::exp(T(0.5) * clamp_log_variance(E(i, d + c)));
      for (Index j = 0; j < S; ++j) Z(i * S + j, c) = h + k * Eps(i * S + j, c);
    }
  }

  // Decoder and the likelihood term; dL/d(decoder output) written in place.
  decoder_.forward(params, Z.data(), latent_rows, workspace.decoder, /*parallel=*/false);
  const auto F = decoder_.output(workspace.decoder, latent_rows);
  auto G = decoder_.output_gradient(workspace.decoder, latent_rows);
  // The loss is a mean over the batch_rows rows of the whole batch (this call
  // may compute a slice of them): d/d(term of row i, draw j) = 1 / (batch_rows S).
  const T scale = T(1) / static_cast<T>(batch_rows * S);
  const T* learned = params + log_variance_offset();
  T* lv_gradient = n_log_variance() > 0 ? workspace.log_variance_gradient.data() : nullptr;
  for (Index r = 0; r < latent_rows; ++r) {
    workspace.row_log_likelihood(r) = static_cast<T>(log_likelihood_given_latent(
        config_, X + (r / S) * D, F.row(r).data(), learned, G.row(r).data(),
        lv_gradient ? lv_gradient + r * D : nullptr, scale, workspace.scratch.data()));
  }
  decoder_.backward(params, Z.data(), latent_rows, workspace.decoder, gradient, /*want_input_gradient=*/true,
                    /*parallel=*/false);
  const auto GZ = decoder_.input_gradient(workspace.decoder, latent_rows);

  // Encoder output gradient: the reparameterisation path plus the KL term.
  auto GE = encoder_.output_gradient(workspace.encoder, rows);
  const T kl_scale = beta / static_cast<T>(batch_rows);
  double total = 0, total_reconstruction = 0, total_kl = 0;
  for (Index i = 0; i < rows; ++i) {
    double log_likelihood = 0, kl = 0;
    for (Index j = 0; j < S; ++j) log_likelihood += workspace.row_log_likelihood(i * S + j);
    for (Index c = 0; c < d; ++c) {
      const T h = E(i, c), raw = E(i, d + c);
      const T log_variance = clamp_log_variance(raw), variance = std::exp(log_variance);
      const T k = std::exp(T(0.5) * log_variance);
      kl += 0.5 * (static_cast<double>(h) * h + variance - log_variance - 1.0);
      T sum_gz = 0, sum_gz_eps = 0;
      for (Index j = 0; j < S; ++j) {
        sum_gz += GZ(i * S + j, c);
        sum_gz_eps += GZ(i * S + j, c) * Eps(i * S + j, c);
      }
      GE(i, c) = sum_gz + kl_scale * h;
      GE(i, d + c) = inside_clamp(raw) * (sum_gz_eps * k * T(0.5) + kl_scale * T(0.5) * (variance - T(1)));
    }
    total += -log_likelihood / static_cast<double>(S) + static_cast<double>(config_.beta) * kl;
    total_reconstruction += -log_likelihood / static_cast<double>(S);
    total_kl += kl;
  }
  encoder_.backward(params, X, rows, workspace.encoder, gradient, /*want_input_gradient=*/false,
                    /*parallel=*/false);

  // Learned Scalar / Diagonal log-variances: sum the per-row derivatives.
  if (lv_gradient) {
    const Eigen::Map<const RowMatrix<T>> per_row(lv_gradient, latent_rows, D);
    T* out = gradient + log_variance_offset();
    if (config_.decoder_variance == DecoderVariance::Scalar) {
      out[0] = per_row.sum() * inside_clamp(learned[0]);
    } else {
      Eigen::Map<Vector<T>>(out, D).noalias() = per_row.colwise().sum().transpose();
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
  require(X.cols() == n_features() && X.rows() >= 1, "VAE.loss_and_gradient: X must be n x n_features");
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
  // Mean ELBO_beta of the validation rows: the negated training objective.
  const Vector<T> scores = evaluate(X, config_.n_mc_samples, options.seed, Estimate::Elbo, config_.beta,
                                    options.n_threads);
  return scores.template cast<double>().mean();
}

// ================================================================ inference
template <class T>
void VAE<T>::encode(ConstRowMatrixRef<T> X, RowMatrix<T>& mean, RowMatrix<T>& stddev, int n_threads) const {
  detail::check_input<T>(X, n_features(), "X", "n_features");
  const Index n = X.rows(), d = n_components();
  mean.resize(n, d);
  stddev.resize(n, d);
  detail::predict_rows(encoder_, parameters_.data(), X, n_threads, [&](Index start, Index rows, const T* out) {
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
    for (Index r = 0; r < rows; ++r)
      for (Index j = 0; j < D; ++j) {
        const T f = out[r * width + j];
        X(start + r, j) = bernoulli ? sigmoid(f) : f;
      }
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
    for (Index r = 0; r < rows; ++r) {
      Philox& rng = streams[r];
      for (Index j = 0; j < D; ++j) {
        const T f = out[r * width + j];
        if (bernoulli) {
          const T p = sigmoid(f);
          X(start + r, j) = noise ? (rng.uniform() < static_cast<double>(p) ? T(1) : T(0)) : p;
        } else if (!noise) {
          X(start + r, j) = f;
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

// ELBO_beta, IWAE or prior-sampling estimate per row. Row i draws its eps from
// the Philox stream keyed by mix_seed(seed, hash of row i's bytes): a row's
// result does not depend on its position in X or on the other rows. Rows are
// processed in blocks, and each row's draws in chunks, so that a decoder pass
// has at most kLatentRowsPerPass rows (m = 10^4 samples need no more memory than 256).
template <class T>
Vector<T> VAE<T>::evaluate(ConstRowMatrixRef<T> X, int n_samples, std::uint64_t seed, Estimate estimate,
                           double beta, int n_threads) const {
  detail::check_input<T>(X, n_features(), "X", "n_features");
  require(n_samples >= 1, "the number of samples per row must be at least 1");
  const Index n = X.rows(), D = n_features(), d = n_components(), width = decoder_.n_outputs();
  const Index S = n_samples;
  const Index chunk = std::min<Index>(S, kLatentRowsPerPass);
  const Index block = std::max<Index>(1, kLatentRowsPerPass / S);
  const std::uint64_t evaluation_seed = mix_seed(seed, detail::kSeedEvaluationNoise);
  const T* learned = parameters_.data() + log_variance_offset();
  // The prior estimate draws z from N(0, I) itself: it needs no encoder pass.
  const bool from_prior = estimate == Estimate::Prior;
  Vector<T> result(n);
  const double flops_per_row = 2.0 * ((from_prior ? 0 : encoder_.n_parameters()) + S * decoder_.n_parameters());
  detail::for_each_block(n, block, flops_per_row, n_threads, [&](Index start, Index rows) {
    MLPInferenceWorkspace<T> encoder_workspace, decoder_workspace;
    if (!from_prior) encoder_.reserve(encoder_workspace, rows);
    decoder_.reserve(decoder_workspace, rows * chunk);
    const RowMatrix<T> x_block = X.middleRows(start, rows);
    const T* E = from_prior ? nullptr : encoder_.predict(parameters_.data(), x_block.data(), rows, encoder_workspace);
    std::vector<Philox> streams;
    std::vector<double> accumulated(rows, 0.0), running_max(rows, -INFINITY);
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
        for (Index j = 0; j < count; ++j) {
          const Index row = r * count + j;
          const double log_px = log_likelihood_given_latent<T>(config_, x_block.row(r).data(), F + row * width,
                                                               learned, nullptr, nullptr, T(0), scratch.data());
          if (estimate == Estimate::Elbo) {
            accumulated[r] += log_px;
            continue;
          }
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
          // Running log-sum-exp: accumulated = sum exp(w - running_max). A
          // weight of exp(-inf) adds nothing (and -inf - -inf would be NaN).
          if (log_weight == -INFINITY) continue;
          if (log_weight > running_max[r]) {
            accumulated[r] = accumulated[r] * std::exp(running_max[r] - log_weight) + 1.0;
            running_max[r] = log_weight;
          } else {
            accumulated[r] += std::exp(log_weight - running_max[r]);
          }
        }
      }
    }
    for (Index r = 0; r < rows; ++r) {
      if (estimate == Estimate::Elbo) {
        double kl = 0;
        for (Index c = 0; c < d; ++c) {
          const double h = E[r * 2 * d + c], lv = clamp_log_variance(E[r * 2 * d + d + c]);
          kl += 0.5 * (h * h + std::exp(lv) - lv - 1.0);
        }
        result(start + r) = static_cast<T>(accumulated[r] / static_cast<double>(S) - beta * kl);
      } else {
        // log (1/m) sum_j exp(w_j) = running_max + log(accumulated) - log m
        // (-inf when every weight is 0).
        result(start + r) =
            static_cast<T>(running_max[r] + std::log(accumulated[r]) - std::log(static_cast<double>(S)));
      }
    }
  });
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
