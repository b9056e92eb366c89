// What the neural models (Autoencoder, VAE) share: an encoder and a decoder
// over one flat parameter buffer, Adam's state, the training history, and
// mini-batch training (fit / partial_fit), written once here for both.
//
// NeuralModel<T, Model> is a base class (CRTP): Model supplies, privately
// (NeuralModel is its friend),
//   using Workspace = ...;                      buffers of one slice of a batch
//   void reserve(Workspace&, Index rows) const  sizes them for `rows` rows
//   Index noise_per_row() const                 standard normal draws per training row (0: none)
//   detail::BatchLoss batch_loss_and_gradient(const T* params, const T* X, Index rows, const T* eps,
//                                             T* gradient, Workspace&, Index batch_rows) const
//                                               loss terms and gradient of `rows` rows of a batch of
//                                               `batch_rows` rows, divided by batch_rows; single-threaded
//   double validation_score(ConstRowMatrixRef<T> X, const TrainingOptions&) const
//                                               mean score (higher is better) at the current parameters
//   void initialize_heads(ConstRowMatrixRef<T> X)
//                                               after the networks' random initialisation; X is
//                                               the first training data (any number of rows)
// The training loop itself is in cpp/src/training.hpp.
#pragma once

#include <cstdint>

#include "vaekit/common.hpp"
#include "vaekit/mlp.hpp"
#include "vaekit/optim.hpp"

namespace vaekit {

namespace detail {
// A batch's (or a slice's) mean loss and its two terms: loss = reconstruction
// + beta * kl for the VAE; the Autoencoder's loss is all reconstruction.
struct BatchLoss {
  double loss = 0, reconstruction = 0, kl = 0;
  BatchLoss& operator+=(const BatchLoss& other) {
    loss += other.loss;
    reconstruction += other.reconstruction;
    kl += other.kl;
    return *this;
  }
};
}  // namespace detail

template <class T, class Model>
class NeuralModel {
 public:
  using Scalar = T;

  const MLP<T>& encoder() const { return encoder_; }
  const MLP<T>& decoder() const { return decoder_; }
  Index n_parameters() const { return static_cast<Index>(parameters_.size()); }
  const Vector<T>& parameters() const { return parameters_; }
  const TrainingHistory& history() const { return history_; }
  const AdamState<T>& optimizer_state() const { return adam_; }

  // Random initial parameters (MLP::initialize), then the model's heads, which
  // may start from statistics of the first training data X (the VAE's learned
  // decoder variance: see VAEConfig::noise_variance); fit(X, options) starts
  // from initialize(options.seed, X), and partial_fit continues from it.
  void initialize(std::uint64_t seed, ConstRowMatrixRef<T> X);

  // Initialises the parameters (seed from options), resets the optimiser and
  // the history, and trains (see TrainingOptions). history().loss_curve holds
  // the mean training loss per epoch; with early stopping, validation_scores
  // the model's validation score per epoch.
  void fit(ConstRowMatrixRef<T> X, const TrainingOptions& options);
  // One epoch over X, continuing from the current parameters and Adam state.
  void partial_fit(ConstRowMatrixRef<T> X, const TrainingOptions& options);

 protected:
  NeuralModel() = default;
  // The networks (the decoder's parameters follow the encoder's) and
  // `extra_parameters` more entries after them; parameters start at zero.
  void build(MLP<T> encoder, MLP<T> decoder, Index extra_parameters);
  // A fitted state, validated: sizes, finite parameters and moments, v >= 0,
  // curves of one length (reconstruction_curve and kl_curve may be empty: NaN).
  void restore(TrainingState<T> state);

  MLP<T> encoder_, decoder_;
  Vector<T> parameters_;

 private:
  void train(ConstRowMatrixRef<T> X, const TrainingOptions& options, bool single_epoch);
  const Model& model() const { return static_cast<const Model&>(*this); }

  Vector<T> decay_mask_;  // 1 on the dense layers' weights (weight decay), 0 elsewhere
  AdamState<T> adam_;
  TrainingHistory history_;
};

}  // namespace vaekit
