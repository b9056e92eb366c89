// Adam over a model's flat parameter buffer, and the options, progress
// reports and history of the mini-batch training loop shared by the
// Autoencoder and the VAE.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "vaekit/common.hpp"
#include "vaekit/describe.hpp"

namespace vaekit {

// Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW, Loshchilov &
// Hutter 2019): each step
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
//   p -= lr * ( m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + weight_decay * mask * p ),
// where mask is 1 on the weights of the dense layers and 0 on biases and
// log-variances. The decay is not part of the gradient, so it is not rescaled
// by Adam's per-parameter step size (that is what "decoupled" means).
struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0.0;
};

template <class T>
struct AdamState {
  Vector<T> first_moment;   // m
  Vector<T> second_moment;  // v
  std::int64_t step = 0;    // t
  void reset(Index n_parameters) {
    first_moment = Vector<T>::Zero(n_parameters);
    second_moment = Vector<T>::Zero(n_parameters);
    step = 0;
  }
};

// One Adam step on params[0..n) in place; decay_mask may be null (no decay).
// Denormal values are flushed to zero during the step (the caller's
// floating-point mode is restored afterwards). Returns false when an updated
// parameter is NaN or infinite, which is also what a non-finite gradient
// entry leads to: the caller then restores its last good parameters.
template <class T>
bool adam_step(T* params, const T* gradient, const T* decay_mask, Index n, AdamState<T>& state,
               const AdamOptions& options);
// The same step for a gradient held as two buffers (the halves of a batch
// computed on two threads): the step uses gradient[i] + gradient2[i], added
// as it reads them, instead of a separate pass that sums them first.
template <class T>
bool adam_step(T* params, const T* gradient, const T* gradient2, const T* decay_mask, Index n,
               AdamState<T>& state, const AdamOptions& options);

// What the training loop reports after each complete epoch.
struct EpochReport {
  int epoch = 0;                  // 1-based, counted over all fit/partial_fit calls
  double loss = 0;                // mean training loss of the epoch
  double reconstruction = 0;      // its reconstruction term (VAE: mean -E_q[log p(x|z)])
  double kl = 0;                  // its KL term (VAE: mean KL(q || p(z)); loss = reconstruction + beta kl)
  double validation_score = 0;    // meaningful when has_validation
  bool has_validation = false;
  double seconds = 0;             // wall time of the epoch
  double elapsed = 0;             // wall time since this fit / partial_fit call began
};

// What the training loop reports after each batch (cheap to build: no
// allocation, so a callback may run after every batch).
struct BatchReport {
  int epoch = 0;            // 1-based epoch in progress, counted over all fit/partial_fit calls
  Index batch = 0;          // 1-based batch of this epoch
  Index n_batches = 0;      // batches per epoch
  Index samples_done = 0;   // training samples of this epoch seen so far
  Index n_samples = 0;      // training samples per epoch (without the validation split)
};

struct TrainingOptions {
  Index batch_size = 128;
  int max_iter = 200;              // epochs
  AdamOptions adam;
  bool early_stopping = false;     // stop on a validation split, keep the best weights
  double validation_fraction = 0.1;
  int n_iter_no_change = 10;
  double tol = 1e-4;
  std::uint64_t seed = 0;          // initialisation, shuffling, noise, the validation split
  int n_threads = 0;               // <= 0: all cores
  // Called on the calling thread after every batch; returning false
  // interrupts training: the parameters and the optimiser state of the end of
  // the last complete epoch are restored. Keep it cheap (the Python binding
  // looks at the clock and takes the GIL at most every ~50 ms).
  std::function<bool(const BatchReport&)> on_batch;
  // Called after every complete epoch; returning false stops training there.
  std::function<bool(const EpochReport&)> on_epoch;

  // The hyper-parameters of training (describe.hpp); the seed, the thread
  // count and the callbacks are arguments of a run, not hyper-parameters.
  template <class Self, class Visit>
  static void fields(Self& self, Visit&& visit) {
    visit("batch_size", self.batch_size, Range::at_least(1));
    visit("max_iter", self.max_iter, Range::at_least(1));
    visit("learning_rate", self.adam.learning_rate, Range::positive());
    visit("weight_decay", self.adam.weight_decay, Range::at_least(0));
    visit("early_stopping", self.early_stopping, Range::any());
    visit("validation_fraction", self.validation_fraction, Range::open(0, 1));
    visit("n_iter_no_change", self.n_iter_no_change, Range::at_least(1));
    visit("tol", self.tol, Range::at_least(0));
  }
};

struct TrainingHistory {
  std::vector<double> loss_curve;         // mean training loss per epoch
  // The terms of loss_curve per epoch (EpochReport); NaN for epochs of a
  // model restored without them (model files written before they existed).
  std::vector<double> reconstruction_curve;
  std::vector<double> kl_curve;
  std::vector<double> validation_scores;  // validation score per epoch (early stopping)
  double best_loss = 0;                   // smallest entry of loss_curve
  double best_validation_score = 0;       // largest entry of validation_scores
  int n_iter = 0;                         // epochs run over all calls
  bool converged = false;                 // stopped by the n_iter_no_change rule
  bool interrupted = false;               // stopped by on_batch / on_epoch
  void clear() { *this = TrainingHistory(); }
};

// Everything training changes in a neural model: what a fitted model is
// restored from (VAE(config, state), Autoencoder(config, state)).
template <class T>
struct TrainingState {
  Vector<T> parameters;     // the model's flat buffer (n_parameters())
  AdamState<T> optimizer;   // moments of n_parameters() entries, or both empty (no state)
  TrainingHistory history;  // best_loss and best_validation_score are recomputed from the curves
};

// Thrown when a batch gives a non-finite loss or gradient. The model keeps
// the parameters of the end of the last complete epoch (all finite).
class TrainingDiverged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

extern template bool adam_step<float>(float*, const float*, const float*, Index, AdamState<float>&,
                                      const AdamOptions&);
extern template bool adam_step<double>(double*, const double*, const double*, Index, AdamState<double>&,
                                       const AdamOptions&);
extern template bool adam_step<float>(float*, const float*, const float*, const float*, Index, AdamState<float>&,
                                      const AdamOptions&);
extern template bool adam_step<double>(double*, const double*, const double*, const double*, Index,
                                       AdamState<double>&, const AdamOptions&);

}  // namespace vaekit
