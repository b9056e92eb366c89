// Deterministic autoencoder: encoder e(x) (D -> hidden -> d, linear output),
// decoder d(z) (d -> reversed hidden -> D, linear output), trained with Adam
// on the mean over samples of
//   Mse:  ||x - d(e(x))||^2 / 2
//   Bce:  sum_j softplus(y_j) - x_j y_j, y = d(e(x)) the logits: the binary
//         cross-entropy -[x log p + (1 - x) log(1 - p)], p = sigmoid(y), in its
//         stable form; soft targets x in [0, 1] are allowed.
// Parameters live in one flat buffer: [encoder | decoder].
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

enum class ReconstructionLoss { Mse, Bce };
template <>
struct EnumNames<ReconstructionLoss> {
  static constexpr const char* what = "loss";
  static constexpr std::array<const char*, 2> names{"mse", "bce"};
};

struct AutoencoderConfig {
  Index n_features = 0;
  Index n_components = 2;
  std::vector<Index> hidden_layer_sizes{256};
  Activation activation = Activation::ReLU;
  ReconstructionLoss loss = ReconstructionLoss::Mse;

  // The hyper-parameters (describe.hpp); n_features comes from the data.
  template <class Self, class Visit>
  static void fields(Self& self, Visit&& visit) {
    visit("n_components", self.n_components, Range::at_least(1));
    visit("hidden_layer_sizes", self.hidden_layer_sizes, Range::at_least(1));
    visit("activation", self.activation, Range::any());
    visit("loss", self.loss, Range::any());
  }
};

template <class T>
class Autoencoder : public NeuralModel<T, Autoencoder<T>> {
 public:
  using Scalar = T;
  using Config = AutoencoderConfig;
  static constexpr const char* kKind = "Autoencoder";  // the model files' "kind"
  static constexpr bool kAllowsMissing = false;  // NaN is an error: the VAE trains on incomplete data

  // A model with zero parameters: initialize(seed, X), or fit, next.
  explicit Autoencoder(const AutoencoderConfig& config);
  // A fitted model, validated as NeuralModel::restore says.
  Autoencoder(const AutoencoderConfig& config, TrainingState<T> state);

  const AutoencoderConfig& config() const { return config_; }
  Index n_features() const { return config_.n_features; }
  Index n_components() const { return config_.n_components; }

  // Mean loss over the rows of X and its gradient at `parameters`.
  double loss_and_gradient(ConstVectorRef<T> parameters, ConstRowMatrixRef<T> X, Vector<T>& gradient) const;

  // Training (NeuralModel::fit, partial_fit): loss_curve is the mean loss per
  // epoch (reconstruction_curve the same, kl_curve 0), validation_scores the
  // mean of -loss on the validation split.

  // Row-invariant inference (see mlp.hpp).
  RowMatrix<T> transform(ConstRowMatrixRef<T> X, int n_threads = 0) const;          // e(x)
  RowMatrix<T> inverse_transform(ConstRowMatrixRef<T> Z, int n_threads = 0) const;  // d(z); sigmoid(d(z)) for Bce
  // Minus the loss of each row.
  Vector<T> score_samples(ConstRowMatrixRef<T> X, int n_threads = 0) const;

 private:
  // What NeuralModel's training loop asks of the model (neural_model.hpp).
  friend class NeuralModel<T, Autoencoder<T>>;
  struct Workspace {
    MLPWorkspace<T> encoder, decoder;
  };
  detail::BatchLoss batch_loss_and_gradient(const T* params, const T* X, Index rows, const T* eps, T* gradient,
                                            Workspace& workspace, Index batch_rows) const;
  void reserve(Workspace& workspace, Index rows) const;
  Index noise_per_row() const { return 0; }
  double validation_score(ConstRowMatrixRef<T> X, const TrainingOptions& options) const;
  void initialize_heads(double) {}

  using NeuralModel<T, Autoencoder<T>>::encoder_;
  using NeuralModel<T, Autoencoder<T>>::decoder_;
  using NeuralModel<T, Autoencoder<T>>::parameters_;
  AutoencoderConfig config_;
};

extern template class NeuralModel<float, Autoencoder<float>>;
extern template class NeuralModel<double, Autoencoder<double>>;
extern template class Autoencoder<float>;
extern template class Autoencoder<double>;

}  // namespace vaekit
