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
//   void initialize_heads(double data_variance)
//                                               after the networks' random initialisation, with
//                                               the mean feature variance of the first training
//                                               data (0 when it has one row)
//   static constexpr bool kAllowsMissing        whether NaN in the data is a missing value (else
//                                               an error); a column observed nowhere in the
//                                               data of a fit or partial_fit is an error
// The training loop itself is in cpp/src/training.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

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

// Rows of training data as the training loop reads them: a dense row-major
// view or a CSR view (common.hpp) of caller-owned arrays.
template <class T>
struct DataBlock {
  static DataBlock dense(ConstRowMatrixRef<T> X) {
    DataBlock block;
    block.values = X.data();
    block.rows = X.rows();
    block.cols = X.cols();
    block.stride = X.outerStride();
    return block;
  }
  static DataBlock sparse(const CsrMatrixView<T>& X) {
    DataBlock block;
    block.csr = X;
    block.is_sparse = true;
    block.rows = X.rows;
    block.cols = X.cols;
    return block;
  }
  // Writes row i (cols values, zeros included) to out.
  void copy_row(Index i, T* out) const {
    if (!is_sparse) {
      std::memcpy(out, values + i * stride, sizeof(T) * static_cast<std::size_t>(cols));
      return;
    }
    std::fill(out, out + cols, T(0));
    for (std::int64_t e = csr.indptr[i]; e < csr.indptr[i + 1]; ++e) out[csr.indices[e]] += csr.values[e];
  }
  // Throws InvalidArgument naming `what` when a value is infinite (or the
  // CSR arrays are malformed), or NaN unless allow_missing: NaN is then a
  // missing value, and `observed`, if given (cols entries), grows at j by the
  // number of rows where column j is not NaN (a value not stored in a CSR row is 0).
  void check(const char* what, bool allow_missing = false, std::vector<Index>* observed = nullptr) const {
    const std::string name(what);
    if (is_sparse) {
      const bool saw_nan = check_csr(csr, what);
      require(!saw_nan || allow_missing, name + " contains NaN or infinity");
      if (!observed) return;
      for (Index j = 0; j < cols; ++j) (*observed)[j] += rows;
      if (!saw_nan) return;
      for (std::int64_t e = csr.indptr[0]; e < csr.indptr[rows]; ++e)
        if (std::isnan(csr.values[e])) (*observed)[csr.indices[e]] -= 1;
      return;
    }
    const Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>> view(values, rows, cols, Eigen::OuterStride<>(stride));
    if (!allow_missing) {
      require(all_finite<T>(ConstRowMatrixRef<T>(view)), name + " contains NaN or infinity");
      return;
    }
    // All finite (the common case): one pass, no per-row work.
    if (all_finite<T>(ConstRowMatrixRef<T>(view))) {
      if (observed)
        for (Index j = 0; j < cols; ++j) (*observed)[j] += rows;
      return;
    }
    bool saw_infinity = false;
    for (Index i = 0; i < rows; ++i) {
      const T* row = values + i * stride;
      if (all_finite(row, cols)) {
        if (observed)
          for (Index j = 0; j < cols; ++j) (*observed)[j] += 1;
        continue;
      }
      for (Index j = 0; j < cols; ++j) {
        if (observed) (*observed)[j] += !std::isnan(row[j]);
        saw_infinity |= std::isinf(row[j]);
      }
    }
    require(!saw_infinity, name + " contains infinity");
  }

  const T* values = nullptr;  // dense
  Index rows = 0, cols = 0, stride = 0;
  CsrMatrixView<T> csr;  // sparse
  bool is_sparse = false;
};

// Training data as a sequence of blocks that need not be in memory together
// (a dask array's chunks, a file read in turn). An epoch visits the blocks in
// a seeded random order and the rows of each in a seeded random order; a
// source of one block trains as that array would.
template <class T>
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual Index n_blocks() const = 0;
  virtual Index block_rows(Index b) const = 0;
  // Block b, valid until the next call; `next` is the block that will be
  // asked for after it (-1: none yet known), for the source to prefetch.
  virtual DataBlock<T> fetch(Index b, Index next) = 0;
};

// One block in memory.
template <class T>
class InMemoryBlock final : public BlockSource<T> {
 public:
  explicit InMemoryBlock(DataBlock<T> block) : block_(block) {}
  Index n_blocks() const override { return 1; }
  Index block_rows(Index) const override { return block_.rows; }
  DataBlock<T> fetch(Index, Index) override { return block_; }

 private:
  DataBlock<T> block_;
};

template <class T, class Model>
class NeuralModel {
 public:
  using Scalar = T;

  const MLP<T>& encoder() const { return encoder_; }
  const MLP<T>& decoder() const { return decoder_; }
  Index n_parameters() const { return static_cast<Index>(parameters_.size()); }
  // The flat parameter buffer (a view; 64-byte aligned, AlignedVector).
  Eigen::Map<const Vector<T>> parameters() const { return parameters_.map(); }
  const TrainingHistory& history() const { return history_; }
  const AdamState<T>& optimizer_state() const { return adam_; }

  // Random initial parameters (MLP::initialize), then the model's heads, which
  // may start from statistics of the first training data X (the VAE's learned
  // decoder variance: see VAEConfig::noise_variance); fit(X, options) starts
  // from initialize(options.seed, X), and partial_fit continues from it.
  void initialize(std::uint64_t seed, ConstRowMatrixRef<T> X);
  void initialize(std::uint64_t seed, const DataBlock<T>& X);

  // Initialises the parameters (seed from options), resets the optimiser and
  // the history, and trains (see TrainingOptions). history().loss_curve holds
  // the mean training loss per epoch; with early stopping, validation_scores
  // the model's validation score per epoch.
  void fit(ConstRowMatrixRef<T> X, const TrainingOptions& options);
  // One epoch over X, continuing from the current parameters and Adam state.
  void partial_fit(ConstRowMatrixRef<T> X, const TrainingOptions& options);
  // The same for data in blocks (sparse, or streamed: BlockSource). With
  // early stopping, each block holds out its own seeded validation_fraction of
  // rows, which are kept in memory (in the block's form) after the first
  // epoch; fit initialises from the first block it trains on.
  void fit(BlockSource<T>& data, const TrainingOptions& options);
  void partial_fit(BlockSource<T>& data, const TrainingOptions& options);

 protected:
  NeuralModel() = default;
  // The networks (the decoder's parameters follow the encoder's) and
  // `extra_parameters` more entries after them; parameters start at zero.
  void build(MLP<T> encoder, MLP<T> decoder, Index extra_parameters);
  // A fitted state, validated: sizes, finite parameters and moments, v >= 0,
  // curves of one length (reconstruction_curve and kl_curve may be empty: NaN).
  void restore(TrainingState<T> state);

  MLP<T> encoder_, decoder_;
  AlignedVector<T> parameters_;

 private:
  void train(BlockSource<T>& data, const TrainingOptions& options, bool single_epoch, bool initialize_first);
  const Model& model() const { return static_cast<const Model&>(*this); }

  Vector<T> decay_mask_;  // 1 on the dense layers' weights (weight decay), 0 elsewhere
  AdamState<T> adam_;
  TrainingHistory history_;
};

}  // namespace vaekit
