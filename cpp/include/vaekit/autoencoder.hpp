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
class Autoencoder {
 public:
  using Scalar = T;
  using Config = AutoencoderConfig;
  static constexpr const char* kKind = "Autoencoder";  // the model files' "kind"

  explicit Autoencoder(const AutoencoderConfig& config);

  const AutoencoderConfig& config() const { return config_; }
  Index n_features() const { return config_.n_features; }
  Index n_components() const { return config_.n_components; }
  const MLP<T>& encoder() const { return encoder_; }
  const MLP<T>& decoder() const { return decoder_; }
  Index n_parameters() const { return static_cast<Index>(parameters_.size()); }
  const Vector<T>& parameters() const { return parameters_; }
  void set_parameters(ConstVectorRef<T> parameters);
  // Random initial parameters (MLP::initialize); fit(X, options) starts from initialize(options.seed).
  void initialize(std::uint64_t seed);

  // Mean loss over the rows of X and its gradient at `parameters`.
  double loss_and_gradient(ConstVectorRef<T> parameters, ConstRowMatrixRef<T> X, Vector<T>& gradient) const;

  // As VAE::fit / VAE::partial_fit; loss_curve is the mean loss per epoch,
  // validation_scores the mean of -loss on the validation split.
  void fit(ConstRowMatrixRef<T> X, const TrainingOptions& options);
  void partial_fit(ConstRowMatrixRef<T> X, const TrainingOptions& options);
  const TrainingHistory& history() const { return history_; }
  TrainingHistory& history() { return history_; }
  const AdamState<T>& optimizer_state() const { return adam_; }
  AdamState<T>& optimizer_state() { return adam_; }

  // Row-invariant inference (see mlp.hpp).
  RowMatrix<T> transform(ConstRowMatrixRef<T> X, int n_threads = 0) const;          // e(x)
  RowMatrix<T> inverse_transform(ConstRowMatrixRef<T> Z, int n_threads = 0) const;  // d(z); sigmoid(d(z)) for Bce
  // Minus the loss of each row.
  Vector<T> score_samples(ConstRowMatrixRef<T> X, int n_threads = 0) const;

 private:
  struct Workspace {
    MLPWorkspace<T> encoder, decoder;
  };
  // Loss and gradient of `rows` rows of a batch of `batch_rows` rows, both
  // divided by batch_rows (a slice's share of the batch mean); single-threaded.
  double batch_loss_and_gradient(const T* params, const T* X, Index rows, T* gradient, Workspace& workspace,
                                 Index batch_rows) const;
  void train(ConstRowMatrixRef<T> X, const TrainingOptions& options, bool single_epoch);

  AutoencoderConfig config_;
  MLP<T> encoder_, decoder_;
  Vector<T> parameters_;
  Vector<T> decay_mask_;
  AdamState<T> adam_;
  TrainingHistory history_;
};

extern template class Autoencoder<float>;
extern template class Autoencoder<double>;

}  // namespace vaekit
