// Autoencoder: reconstruction loss, its gradient, training and inference.
#include "vaekit/autoencoder.hpp"

#include <algorithm>
#include <cmath>

#include "kernels.hpp"
#include "parallel.hpp"
#include "training.hpp"
#include "vaekit/random.hpp"

namespace vaekit {
namespace {

// Loss of one row, y the decoder output (reconstruction or logits); if
// d_out is given it receives scale * dloss/dy.
template <class T>
double row_loss(ReconstructionLoss loss, const T* x, const T* y, Index D, T* d_out, T scale) {
  const detail::Kernels<T>& kernels = detail::kernels<T>();
  if (loss == ReconstructionLoss::Mse) {
    // sum_j (y_j - x_j)^2 / 2: -log N(x; y, 1) without its log 2 pi terms.
    const T log_variance = 0;
    return -kernels.gaussian(x, y, &log_variance, 0, D, T(0), T(0), nullptr, d_out, nullptr, false, scale);
  }
  // BCE with logits: softplus(y) - x y per entry, the negated Bernoulli log-likelihood.
  return -kernels.bernoulli(x, y, D, d_out, scale, nullptr, nullptr, /*sum_in_double=*/true);
}

}  // namespace

template <class T>
Autoencoder<T>::Autoencoder(const AutoencoderConfig& config) : config_(config) {
  require(config_.n_features >= 1, "Autoencoder: n_features must be at least 1");
  validate_fields(config_, kKind);
  std::vector<Index> encoder_sizes{config_.n_features};
  for (Index size : config_.hidden_layer_sizes) encoder_sizes.push_back(size);
  encoder_sizes.push_back(config_.n_components);
  std::vector<Index> decoder_sizes{config_.n_components};
  for (auto it = config_.hidden_layer_sizes.rbegin(); it != config_.hidden_layer_sizes.rend(); ++it)
    decoder_sizes.push_back(*it);
  decoder_sizes.push_back(config_.n_features);
  MLP<T> encoder(encoder_sizes, config_.activation, Activation::Identity, 0);
  MLP<T> decoder(decoder_sizes, config_.activation, Activation::Identity, encoder.end_offset());
  this->build(std::move(encoder), std::move(decoder), 0);
}

template <class T>
Autoencoder<T>::Autoencoder(const AutoencoderConfig& config, TrainingState<T> state) : Autoencoder(config) {
  this->restore(std::move(state));
}

template <class T>
void Autoencoder<T>::reserve(Workspace& workspace, Index rows) const {
  encoder_.reserve(workspace.encoder, rows);
  decoder_.reserve(workspace.decoder, rows);
}

// eps is unused: the autoencoder draws no noise (noise_per_row() is 0).
template <class T>
detail::BatchLoss Autoencoder<T>::batch_loss_and_gradient(const T* params, const T* X, Index rows, const T*,
                                                          T* gradient, Workspace& workspace,
                                                          Index batch_rows) const {
  const Index D = n_features();
  encoder_.forward(params, X, rows, workspace.encoder, /*parallel=*/false);
  const T* latent = encoder_.output(workspace.encoder, rows).data();
  decoder_.forward(params, latent, rows, workspace.decoder, /*parallel=*/false);
  const auto Y = decoder_.output(workspace.decoder, rows);
  auto G = decoder_.output_gradient(workspace.decoder, rows);
  // The loss is a mean over the batch_rows rows of the whole batch (this call
  // may compute a slice of them).
  const T scale = T(1) / static_cast<T>(batch_rows);
  double total = 0;
  for (Index i = 0; i < rows; ++i) {
    total += row_loss(config_.loss, X + i * D, Y.row(i).data(), D, G.row(i).data(), scale);
  }
  decoder_.backward(params, latent, rows, workspace.decoder, gradient, /*want_input_gradient=*/true,
                    /*parallel=*/false);
  encoder_.output_gradient(workspace.encoder, rows) = decoder_.input_gradient(workspace.decoder, rows);
  encoder_.backward(params, X, rows, workspace.encoder, gradient, /*want_input_gradient=*/false,
                    /*parallel=*/false);
  const double loss = total / static_cast<double>(batch_rows);
  return {loss, loss, 0.0};
}

template <class T>
double Autoencoder<T>::loss_and_gradient(ConstVectorRef<T> parameters, ConstRowMatrixRef<T> X,
                                         Vector<T>& gradient) const {
  require(parameters.size() == this->n_parameters(), "Autoencoder.loss_and_gradient: wrong number of parameters");
  require(X.cols() == n_features() && X.rows() >= 1, "Autoencoder.loss_and_gradient: X must be n x n_features");
  const RowMatrix<T> X_copy = X;
  const Vector<T> params = parameters;
  Workspace workspace;
  reserve(workspace, X.rows());
  gradient = Vector<T>::Zero(this->n_parameters());
  return batch_loss_and_gradient(params.data(), X_copy.data(), X.rows(), nullptr, gradient.data(), workspace,
                                 X.rows())
      .loss;
}

template <class T>
double Autoencoder<T>::validation_score(ConstRowMatrixRef<T> X, const TrainingOptions& options) const {
  return score_samples(X, options.n_threads).template cast<double>().mean();
}

template <class T>
RowMatrix<T> Autoencoder<T>::transform(ConstRowMatrixRef<T> X, int n_threads) const {
  detail::check_input<T>(X, n_features(), "X", "n_features");
  const Index n = X.rows(), d = n_components();
  RowMatrix<T> Z(n, d);
  detail::predict_rows(encoder_, parameters_.data(), X, n_threads, [&](Index start, Index rows, const T* out) {
    std::copy(out, out + rows * d, Z.row(start).data());
  });
  require_finite_result(Z, "Autoencoder.transform");
  return Z;
}

template <class T>
RowMatrix<T> Autoencoder<T>::inverse_transform(ConstRowMatrixRef<T> Z, int n_threads) const {
  detail::check_input<T>(Z, n_components(), "Z", "n_components");
  const Index n = Z.rows(), D = n_features();
  RowMatrix<T> X(n, D);
  const bool bce = config_.loss == ReconstructionLoss::Bce;
  detail::predict_rows(decoder_, parameters_.data(), Z, n_threads, [&](Index start, Index rows, const T* out) {
    std::copy(out, out + rows * D, X.row(start).data());
    if (bce) detail::kernels<T>().activate(X.row(start).data(), rows, D, nullptr, Activation::Sigmoid);
  });
  return X;
}

template <class T>
Vector<T> Autoencoder<T>::score_samples(ConstRowMatrixRef<T> X, int n_threads) const {
  detail::check_input<T>(X, n_features(), "X", "n_features");
  const Index n = X.rows(), D = n_features();
  Vector<T> scores(n);
  detail::for_each_block(n, detail::kInferenceBlock, 2.0 * this->n_parameters(), n_threads, [&](Index start, Index rows) {
    MLPInferenceWorkspace<T> encoder_workspace, decoder_workspace;
    encoder_.reserve(encoder_workspace, rows);
    decoder_.reserve(decoder_workspace, rows);
    const T* latent = encoder_.predict(parameters_.data(), X.row(start).data(), rows, encoder_workspace, X.outerStride());
    const T* out = decoder_.predict(parameters_.data(), latent, rows, decoder_workspace);
    for (Index r = 0; r < rows; ++r)
      scores(start + r) = static_cast<T>(-row_loss(config_.loss, X.row(start + r).data(), out + r * D, D,
                                                   static_cast<T*>(nullptr), T(0)));
  });
  return scores;
}

template class NeuralModel<float, Autoencoder<float>>;
template class NeuralModel<double, Autoencoder<double>>;
template class Autoencoder<float>;
template class Autoencoder<double>;

}  // namespace vaekit
