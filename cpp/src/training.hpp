// The mini-batch training loop of the neural models (NeuralModel::fit and
// partial_fit, neural_model.hpp), its data-parallel batches (BatchSlicer) and
// the inference helpers the models share. Private to the library's sources;
// vae.cpp and autoencoder.cpp include it and instantiate NeuralModel.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "denormals.hpp"
#include "kernels.hpp"
#include "numeric.hpp"
#include "parallel.hpp"
#include "vaekit/mlp.hpp"
#include "vaekit/neural_model.hpp"
#include "vaekit/optim.hpp"
#include "vaekit/random.hpp"

namespace vaekit::detail {


// Salts of the purposes a training seed is used for (mix_seed(seed, salt)).
enum SeedPurpose : std::uint64_t {
  kSeedInitialisation = 1,
  kSeedShuffle = 2,
  kSeedValidationSplit = 3,
  kSeedTrainingNoise = 4,
  kSeedEvaluationNoise = 5,
  kSeedSampling = 6,
  kSeedBlockOrder = 7,
};

// An epoch whose mean loss exceeds the best loss seen in this call (its first
// batch, or a complete epoch) by this many times that loss's magnitude (at
// least 1) has diverged: noisy training and outliers stay orders of
// magnitude below, a step size far too large goes far above (1e50 and more),
// even in float64 where nothing overflows.
constexpr double kDivergenceFactor = 1e8;

// Calls body(start, rows) for consecutive blocks of `block` rows out of n, in
// parallel when there is more than one block and enough work (`flops_per_row`).
// The first exception thrown by a block is rethrown after the parallel region.
template <class Body>
void for_each_block(Index n, Index block, double flops_per_row, int n_threads, Body&& body) {
  check_n_threads(n_threads);
  const int blocks = static_cast<int>((n + block - 1) / block);
  const bool parallel = blocks > 1 && worth_parallel(Work::of_flops(flops_per_row * static_cast<double>(n)));
  ThreadScope threads(parallel ? n_threads : 1);
  ExceptionSlot errors;
#pragma omp parallel for schedule(dynamic) if (parallel)
  for (int b = 0; b < blocks; ++b) {
    errors.run([&] {
      const Index start = static_cast<Index>(b) * block;
      body(start, std::min(block, n - start));
    });
  }
  errors.rethrow();
}

// Rows per block of the models' inference passes.
constexpr Index kInferenceBlock = 64;

// The inference loop of the models: the rows of X through `mlp`, block by
// block on up to n_threads threads; body(start, rows, out) receives the
// outputs of rows [start, start + rows). A single row is too little work to
// share by rows: each layer's output columns are shared instead
// (MLP::predict_row), which gives the same values.
template <class T, class Body>
void predict_rows(const MLP<T>& mlp, const T* params, ConstRowMatrixRef<T> X, int n_threads, Body&& body) {
  if (X.rows() == 1) {  // predict_row checks n_threads (resolve_threads)
    MLPInferenceWorkspace<T> workspace;
    mlp.reserve(workspace, 1);
    body(Index(0), Index(1), mlp.predict_row(params, X.data(), workspace, n_threads));
    return;
  }
  for_each_block(X.rows(), kInferenceBlock, 2.0 * mlp.n_parameters(), n_threads, [&](Index start, Index rows) {
    MLPInferenceWorkspace<T> workspace;
    mlp.reserve(workspace, rows);
    body(start, rows, mlp.predict(params, X.row(start).data(), rows, workspace, X.outerStride()));
  });
}

// Data parallelism inside a mini-batch. The batch's rows are cut into
// contiguous slices, one per thread; each thread runs the whole forward and
// backward pass of its slice (Eigen runs single-threaded products inside a
// parallel region) into its own gradient buffer, and the buffers are then
// summed in slice order. The cut depends only on the batch size and the thread
// count, never on which thread runs which slice, so a given thread count gives
// bit-identical results.
//
// Why not let Eigen thread each product: a batch makes some twenty products
// and element-wise passes, and Eigen's threaded GEMM hands work between its
// threads by spin-waiting several times per product. When the cores are shared
// with other work (another build, a joblib grid search), a spinning thread
// waits a whole scheduler time slice for a descheduled partner, and we measured
// training slowing down 10-30x. Here a batch has one parallel region and one
// barrier (plus Adam's loop).
template <class T>
class BatchSlicer {
 public:
  static constexpr Index kMinRowsPerSlice = 16;

  // Sizes everything for batches of up to `max_rows` rows and `n_parameters`
  // gradient entries, for the thread count in effect (detail::max_threads()).
  void reserve(Index max_rows, Index n_parameters) {
    max_slices_ = static_cast<int>(std::max<Index>(1, std::min<Index>(max_threads(), max_rows / kMinRowsPerSlice)));
    slice_gradients_.assign(max_slices_ - 1, Vector<T>(n_parameters));
    slice_losses_.assign(max_slices_, BatchLoss());
  }
  int max_slices() const { return max_slices_; }
  // The second half of the last batch's gradient, or null (see run()).
  const T* pending() const { return pending_; }
  // Slices of a batch of `rows` rows: at least kMinRowsPerSlice rows each.
  int slices_for(Index rows) const {
    return static_cast<int>(std::max<Index>(1, std::min<Index>(max_slices_, rows / kMinRowsPerSlice)));
  }
  // The most rows a slice gets in a batch of up to max_rows rows (a batch too
  // small to share goes whole to one slice: 31 rows with 2 slices of 16).
  Index max_rows_per_slice(Index max_rows) const {
    Index most = 0;
    for (Index rows = 1; rows <= max_rows; ++rows) {
      const Index slices = slices_for(rows);
      most = std::max<Index>(most, (rows + slices - 1) / slices);
    }
    return most;
  }

  // slice_loss(slice, begin, count, gradient) computes the rows [begin,
  // begin + count) of the batch into `gradient` and returns their loss terms;
  // both already divided by the batch size. Returns the batch's; the batch
  // gradient is `gradient` plus, when pending() is not null, that buffer:
  // with two slices the sum is left to the optimiser's pass (adam_step with
  // two buffers), which reads both anyway.
  template <class SliceLoss>
  BatchLoss run(Index rows, T* gradient, Index n_parameters, SliceLoss&& slice_loss) {
    const int slices = slices_for(rows);
    pending_ = slices == 2 ? slice_gradients_[0].data() : nullptr;
    if (slices == 1) {
      ThreadScope single(1);  // a small batch: no team, and no threaded products either
      return slice_loss(0, Index(0), rows, gradient);
    }
    ExceptionSlot errors;
#pragma omp parallel num_threads(slices)
    {
      FlushDenormals flush_denormals;  // per thread: see denormals.hpp
#ifdef _OPENMP
      const int team = omp_get_num_threads();
#else
      const int team = 1;
#endif
      // Any team size computes the same slices: a slice is the unit of work.
      for (int s = thread_id(); s < slices; s += team) {
        errors.run([&] {
          const Index begin = rows * s / slices, end = rows * (s + 1) / slices;
          T* target = s == 0 ? gradient : slice_gradients_[s - 1].data();
          slice_losses_[s] = slice_loss(s, begin, end - begin, target);
        });
      }
      if (slices > 2) {
#pragma omp barrier
        // gradient = slice 0 + slice 1 + ..., in slice order for every entry,
        // in blocks of 4096 entries.
        const int blocks = static_cast<int>((n_parameters + 4095) / 4096);
#pragma omp for schedule(static)
        for (int b = 0; b < blocks; ++b) {
          const Index begin = static_cast<Index>(b) * 4096, end = std::min<Index>(n_parameters, begin + 4096);
          for (int s = 1; s < slices; ++s)
            kernels<T>().add(slice_gradients_[s - 1].data() + begin, end - begin, gradient + begin);
        }
      }
    }
    errors.rethrow();
    BatchLoss loss;
    for (int s = 0; s < slices; ++s) loss += slice_losses_[s];
    return loss;
  }

 private:
  int max_slices_ = 1;
  const T* pending_ = nullptr;
  std::vector<Vector<T>> slice_gradients_;
  std::vector<BatchLoss> slice_losses_;
};

// Fisher-Yates shuffle of 0..n-1 from a Philox stream.
inline void shuffled_indices(std::vector<Index>& order, Index n, Philox& rng) {
  order.resize(n);
  for (Index i = 0; i < n; ++i) order[i] = i;
  for (Index i = n - 1; i > 0; --i) {
    const Index j = static_cast<Index>(rng.uniform() * static_cast<double>(i + 1));
    std::swap(order[i], order[std::min(j, i)]);
  }
}

// Rows copied out of data blocks (the validation rows of blocks that may not
// stay in memory), kept in the first block's form: dense rows, or CSR.
template <class T>
class RowStore {
 public:
  explicit RowStore(Index cols) : cols_(cols), scratch_(cols) { indptr_.push_back(0); }
  Index rows() const { return rows_; }
  void append(const DataBlock<T>& block, Index i) {
    if (rows_ == 0) sparse_ = block.is_sparse;
    if (!sparse_) {
      dense_.resize(dense_.size() + static_cast<std::size_t>(cols_));
      block.copy_row(i, dense_.data() + dense_.size() - cols_);
    } else if (block.is_sparse) {  // the row's stored entries, as they are
      const CsrMatrixView<T>& csr = block.csr;
      indices_.insert(indices_.end(), csr.indices + csr.indptr[i], csr.indices + csr.indptr[i + 1]);
      values_.insert(values_.end(), csr.values + csr.indptr[i], csr.values + csr.indptr[i + 1]);
      indptr_.push_back(static_cast<std::int64_t>(indices_.size()));
    } else {
      block.copy_row(i, scratch_.data());
      for (Index j = 0; j < cols_; ++j) {
        if (scratch_[j] != T(0)) {
          indices_.push_back(j);
          values_.push_back(scratch_[j]);
        }
      }
      indptr_.push_back(static_cast<std::int64_t>(indices_.size()));
    }
    ++rows_;
  }
  DataBlock<T> view() const {
    if (sparse_) return DataBlock<T>::sparse({rows_, cols_, indptr_.data(), indices_.data(), values_.data()});
    DataBlock<T> block;
    block.values = dense_.data();
    block.rows = rows_;
    block.cols = block.stride = cols_;
    return block;
  }

 private:
  Index cols_, rows_ = 0;
  bool sparse_ = false;
  std::vector<T> dense_, scratch_;
  std::vector<std::int64_t> indptr_, indices_;
  std::vector<T> values_;
};

// Calls body(rows) with consecutive chunks of `block`'s rows as dense
// row-major matrices: the block itself when it is dense, chunks of up to
// `chunk` densified rows when it is sparse (never the whole block).
template <class T, class Body>
void for_dense_chunks(const DataBlock<T>& block, Index chunk, Body&& body) {
  if (!block.is_sparse) {
    const Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>> view(block.values, block.rows, block.cols,
                                                                       Eigen::OuterStride<>(block.stride));
    body(ConstRowMatrixRef<T>(view));
    return;
  }
  RowMatrix<T> dense(std::min(chunk, block.rows), block.cols);
  for (Index start = 0; start < block.rows; start += chunk) {
    const Index rows = std::min(chunk, block.rows - start);
    for (Index r = 0; r < rows; ++r) block.copy_row(start + r, dense.row(r).data());
    body(ConstRowMatrixRef<T>(dense.topRows(rows)));
  }
}

// The mean over the features of a block's variances (divided by n), in
// double: the maximum-likelihood g^2 of a Gaussian decoder that ignores z.
// NaN values (missing) are left out: each feature's variance is over the rows
// where it is observed. 0 for one row.
template <class T>
double mean_feature_variance(const DataBlock<T>& X) {
  const Index n = X.rows, D = X.cols;
  if (n < 2 || D < 1) return 0;
  // Per feature: observed count, sum and (second pass) squared deviations.
  Eigen::VectorXd count = Eigen::VectorXd::Constant(D, static_cast<double>(n));
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(D), squares = Eigen::VectorXd::Zero(D);
  if (X.is_sparse) {  // O(nnz): sum x_j^2 - count_j mean_j^2, never below 0 per feature
    for (Index i = 0; i < n; ++i) {
      for (std::int64_t e = X.csr.indptr[i]; e < X.csr.indptr[i + 1]; ++e) {
        const double value = X.csr.values[e];
        if (std::isnan(value)) {
          count(X.csr.indices[e]) -= 1;
          continue;
        }
        sum(X.csr.indices[e]) += value;
        squares(X.csr.indices[e]) += value * value;
      }
    }
    const Eigen::VectorXd mean = sum.cwiseQuotient(count.cwiseMax(1.0));
    squares = (squares - count.cwiseProduct(mean.cwiseAbs2())).cwiseMax(0.0);
  } else {
    Vector<T> row(D);
    for (Index i = 0; i < n; ++i) {
      X.copy_row(i, row.data());
      for (Index j = 0; j < D; ++j) {
        if (std::isnan(row[j])) count(j) -= 1;
        else sum(j) += row[j];
      }
    }
    const Eigen::VectorXd mean = sum.cwiseQuotient(count.cwiseMax(1.0));
    for (Index i = 0; i < n; ++i) {
      X.copy_row(i, row.data());
      for (Index j = 0; j < D; ++j) {
        const double deviation = static_cast<double>(row[j]) - mean(j);
        if (!std::isnan(deviation)) squares(j) += deviation * deviation;
      }
    }
  }
  return squares.cwiseQuotient(count.cwiseMax(1.0)).sum() / static_cast<double>(D);
}

}  // namespace vaekit::detail

namespace vaekit {

template <class T, class Model>
void NeuralModel<T, Model>::build(MLP<T> encoder, MLP<T> decoder, Index extra_parameters) {
  encoder_ = std::move(encoder);
  decoder_ = std::move(decoder);
  require(decoder_.end_offset() + extra_parameters <= std::numeric_limits<int>::max(),
          std::string(Model::kKind) + ": the model would have more than 2^31 - 1 parameters");
  parameters_ = AlignedVector<T>(decoder_.end_offset() + extra_parameters);
  decay_mask_ = Vector<T>::Zero(parameters_.size());
  encoder_.mark_weights(decay_mask_.data());
  decoder_.mark_weights(decay_mask_.data());
}

template <class T, class Model>
void NeuralModel<T, Model>::restore(TrainingState<T> state) {
  const std::string kind = Model::kKind;
  require(state.parameters.size() == n_parameters(), kind + ": expected " + std::to_string(n_parameters()) +
                                                         " parameters, got " +
                                                         std::to_string(state.parameters.size()));
  require(state.parameters.allFinite(), kind + ": the parameters contain NaN or infinity");
  AdamState<T>& adam = state.optimizer;
  const bool has_moments = adam.first_moment.size() > 0 || adam.second_moment.size() > 0;
  if (has_moments) {
    require(adam.first_moment.size() == n_parameters() && adam.second_moment.size() == n_parameters(),
            kind + ": the optimizer's moments must have " + std::to_string(n_parameters()) + " entries each");
    require(adam.first_moment.allFinite() && adam.second_moment.allFinite(),
            kind + ": the optimizer's moments contain NaN or infinity");
    require((adam.second_moment.array() >= T(0)).all(), kind + ": the optimizer's second moment is negative");
  }
  require(adam.step >= 0, kind + ": the optimizer's step must be non-negative");
  TrainingHistory& history = state.history;
  const std::size_t epochs = history.loss_curve.size();
  const auto finite = [](const std::vector<double>& curve) {
    return std::all_of(curve.begin(), curve.end(), [](double v) { return std::isfinite(v); });
  };
  require(finite(history.loss_curve) && finite(history.validation_scores),
          kind + ": the loss curve and the validation scores must be finite");
  for (std::vector<double>* curve : {&history.reconstruction_curve, &history.kl_curve}) {
    if (curve->empty()) curve->assign(epochs, NAN);  // not recorded
    require(curve->size() == epochs, kind + ": reconstruction_curve and kl_curve must have the loss curve's length");
  }
  require(history.n_iter >= 0, kind + ": n_iter must be non-negative");
  history.best_loss = history.loss_curve.empty()
                          ? 0.0
                          : *std::min_element(history.loss_curve.begin(), history.loss_curve.end());
  history.best_validation_score =
      history.validation_scores.empty()
          ? 0.0
          : *std::max_element(history.validation_scores.begin(), history.validation_scores.end());
  history.converged = history.interrupted = false;
  parameters_ = AlignedVector<T>(state.parameters);
  adam_ = std::move(adam);
  history_ = std::move(history);
}

template <class T, class Model>
void NeuralModel<T, Model>::initialize(std::uint64_t seed, ConstRowMatrixRef<T> X) {
  initialize(seed, DataBlock<T>::dense(X));
}

template <class T, class Model>
void NeuralModel<T, Model>::initialize(std::uint64_t seed, const DataBlock<T>& X) {
  require(X.cols == model().n_features(), std::string(Model::kKind) + ": X has " + std::to_string(X.cols) +
                                              " features, the model " + std::to_string(model().n_features()));
  X.check("X", Model::kAllowsMissing);
  parameters_.map().setZero();
  const std::uint64_t init_seed = mix_seed(seed, detail::kSeedInitialisation);
  encoder_.initialize(parameters_.data(), mix_seed(init_seed, 0));
  decoder_.initialize(parameters_.data(), mix_seed(init_seed, 1));
  static_cast<Model&>(*this).initialize_heads(detail::mean_feature_variance(X));
}

template <class T, class Model>
void NeuralModel<T, Model>::fit(ConstRowMatrixRef<T> X, const TrainingOptions& options) {
  InMemoryBlock<T> data(DataBlock<T>::dense(X));
  fit(data, options);
}

template <class T, class Model>
void NeuralModel<T, Model>::partial_fit(ConstRowMatrixRef<T> X, const TrainingOptions& options) {
  InMemoryBlock<T> data(DataBlock<T>::dense(X));
  partial_fit(data, options);
}

template <class T, class Model>
void NeuralModel<T, Model>::fit(BlockSource<T>& data, const TrainingOptions& options) {
  adam_.reset(n_parameters());
  history_.clear();
  train(data, options, /*single_epoch=*/false, /*initialize_first=*/true);
}

template <class T, class Model>
void NeuralModel<T, Model>::partial_fit(BlockSource<T>& data, const TrainingOptions& options) {
  train(data, options, /*single_epoch=*/true, /*initialize_first=*/false);
}

template <class T, class Model>
void NeuralModel<T, Model>::train(BlockSource<T>& data, const TrainingOptions& options, bool single_epoch,
                                  bool initialize_first) {
  using namespace detail;
  using Clock = std::chrono::steady_clock;
  const auto call_start = Clock::now();
  const std::string model_name = Model::kKind;
  const Index D = model().n_features();
  const Index n_blocks = data.n_blocks();
  require(n_blocks >= 1, model_name + ": the data must have at least one block");
  Index n = 0;
  for (Index b = 0; b < n_blocks; ++b) {
    require(data.block_rows(b) >= 0, model_name + ": a block has a negative number of rows");
    n += data.block_rows(b);
  }
  require(n >= 1, model_name + ": X must contain at least one sample");
  require(options.batch_size >= 1, model_name + ": batch_size must be at least 1");
  require(options.max_iter >= 1, model_name + ": max_iter must be at least 1");
  require(options.adam.learning_rate > 0 && std::isfinite(options.adam.learning_rate),
          model_name + ": learning_rate must be positive and finite");
  require(options.adam.weight_decay >= 0 && std::isfinite(options.adam.weight_decay),
          model_name + ": weight_decay must be non-negative and finite");
  require(options.tol >= 0 && std::isfinite(options.tol), model_name + ": tol must be non-negative and finite");
  require(options.n_iter_no_change >= 1, model_name + ": n_iter_no_change must be at least 1");
  check_n_threads(options.n_threads);

  // The validation split (fit with early stopping only): a seeded permutation
  // of each block's rows, whose first rows are held out. train_rows[b] lists
  // the training rows of block b.
  const bool use_validation = options.early_stopping && !single_epoch;
  std::vector<std::vector<Index>> train_rows(n_blocks), validation_rows(n_blocks);
  Index n_train = 0, n_validation = 0;
  if (use_validation) {
    require(options.validation_fraction > 0 && options.validation_fraction < 1,
            model_name + ": validation_fraction must be in (0, 1)");
  }
  for (Index b = 0; b < n_blocks; ++b) {
    const Index rows = data.block_rows(b);
    std::vector<Index> order;
    Index held_out = 0;
    if (use_validation) {
      const Index wanted = static_cast<Index>(std::llround(options.validation_fraction * static_cast<double>(rows)));
      // One block (an array in memory): at least one validation row.
      held_out = n_blocks == 1 ? std::max<Index>(1, wanted) : wanted;
      Philox split_rng(mix_seed(options.seed, kSeedValidationSplit), n_blocks == 1 ? 0 : static_cast<std::uint64_t>(b) + 1);
      shuffled_indices(order, rows, split_rng);
    } else {
      order.resize(rows);
      for (Index i = 0; i < rows; ++i) order[i] = i;
    }
    held_out = std::min(held_out, rows);
    validation_rows[b].assign(order.begin(), order.begin() + held_out);
    train_rows[b].assign(order.begin() + held_out, order.end());
    n_train += rows - held_out;
    n_validation += held_out;
  }
  require(n_train >= 1, model_name + (use_validation ? ": early_stopping needs at least 2 samples"
                                                     : ": X must contain at least one sample"));
  require(!use_validation || n_validation >= 1,
          model_name + ": early_stopping holds out no sample: the blocks are too small for validation_fraction");

  // The blocks of an epoch, in a seeded random order (one block: just it).
  const auto block_order = [&](std::uint64_t epoch_id) {
    std::vector<Index> order;
    if (n_blocks == 1) return std::vector<Index>{0};
    Philox rng(mix_seed(options.seed, kSeedBlockOrder), epoch_id);
    shuffled_indices(order, n_blocks, rng);
    return order;
  };
  // Fetches block b, checked (the next block is the source's prefetch hint).
  // A model that takes missing values counts each feature's observed entries
  // over the first epoch: a feature observed nowhere is an error.
  std::vector<Index> observed(Model::kAllowsMissing ? D : 0);
  std::vector<char> counted(Model::kAllowsMissing ? n_blocks : 0);
  const auto fetch = [&](Index b, Index next) {
    const DataBlock<T> block = data.fetch(b, next);
    require(block.cols == D, model_name + ": X has " + std::to_string(block.cols) + " features, the model " +
                                 std::to_string(D));
    require(block.rows == data.block_rows(b), model_name + ": block " + std::to_string(b) + " has " +
                                                  std::to_string(block.rows) + " rows, " +
                                                  std::to_string(data.block_rows(b)) + " were announced");
    const bool count = Model::kAllowsMissing && !counted[b];
    block.check("X", Model::kAllowsMissing, count ? &observed : nullptr);
    if (count) counted[b] = 1;
    return block;
  };
  const auto require_observed_features = [&] {
    if (!Model::kAllowsMissing) return;
    for (Index j = 0; j < D; ++j)
      require(observed[j] > 0, model_name + ": feature " + std::to_string(j) +
                                   " is missing (NaN) in every sample: drop it, no model can learn it");
  };
  std::vector<Index> order_of_epoch = block_order(static_cast<std::uint64_t>(history_.n_iter));
  // fit starts from the first block it trains on.
  Index fetched_index = -1;
  DataBlock<T> fetched;
  if (initialize_first) {
    fetched_index = order_of_epoch[0];
    fetched = fetch(fetched_index, n_blocks > 1 ? order_of_epoch[1] : -1);
    if (n_blocks == 1) require_observed_features();
    initialize(options.seed, fetched);
  }

  Eigen::Map<Vector<T>> params = parameters_.map();
  AdamState<T>& adam = adam_;
  TrainingHistory& history = history_;
  if (adam.first_moment.size() != params.size()) adam.reset(params.size());
  // A batch costs about 6 flops per parameter and row (forward and backward);
  // a batch of a tiny network runs on the calling thread alone (parallel.hpp's
  // policy). Measured on 2 cores: from 2e6 flops per batch (a 13-64-2 VAE,
  // batches of 128), two threads train 1.3x faster than one, and 1.1-1.4x from
  // 4e5 to 1e7 flops (the old crossover).
  const double flops_per_batch =
      6.0 * static_cast<double>(std::min<Index>(options.batch_size, n)) * static_cast<double>(params.size());
  ThreadScope threads(worth_parallel(Work::of_flops(flops_per_batch)) ? options.n_threads : 1);
  FlushDenormals flush_denormals;

  // Everything a batch needs is allocated here, once: per slice of a batch
  // (BatchSlicer) a workspace, and the batch's standard normal draws.
  const Index batch_rows = std::min<Index>(options.batch_size, n_train);
  Index n_batches = 0;
  for (Index b = 0; b < n_blocks; ++b) {
    n_batches += (static_cast<Index>(train_rows[b].size()) + batch_rows - 1) / batch_rows;
  }
  BatchSlicer<T> slicer;
  slicer.reserve(batch_rows, n_parameters());
  std::vector<typename Model::Workspace> workspaces(slicer.max_slices());
  for (auto& workspace : workspaces) model().reserve(workspace, slicer.max_rows_per_slice(batch_rows));
  const Index noise_per_row = model().noise_per_row();
  Vector<T> eps(batch_rows * noise_per_row);
  const std::uint64_t noise_seed = mix_seed(options.seed, kSeedTrainingNoise);
  RowMatrix<T> batch(batch_rows, D);
  Vector<T> gradient = Vector<T>::Zero(params.size());
  std::vector<Index> order;
  // Parameters and optimiser state at the end of the last complete epoch: what
  // an interrupt or a divergence restores.
  Vector<T> saved_params = params;
  AdamState<T> saved_adam = adam;
  Vector<T> best_params;
  const T* mask = options.adam.weight_decay != 0.0 ? decay_mask_.data() : nullptr;
  RowStore<T> validation(D);
  // The mean validation score of the held-out rows (dense chunks of sparse rows).
  const auto validation_score = [&] {
    const DataBlock<T> rows = validation.view();
    double total = 0;
    for_dense_chunks<T>(rows, 1024, [&](ConstRowMatrixRef<T> chunk) {
      total += model().validation_score(chunk, options) * static_cast<double>(chunk.rows());
    });
    return total / static_cast<double>(rows.rows);
  };

  double best_loss = history.loss_curve.empty()
                         ? INFINITY
                         : *std::min_element(history.loss_curve.begin(), history.loss_curve.end());
  double best_score = -INFINITY;
  int no_improvement = 0;
  // The divergence test compares with this call only: partial_fit may see data of another scale.
  double best_loss_of_call = INFINITY;
  history.converged = false;
  history.interrupted = false;
  const int epochs = single_epoch ? 1 : options.max_iter;

  for (int e = 0; e < epochs; ++e) {
    const auto epoch_start = Clock::now();
    const std::uint64_t epoch_id = static_cast<std::uint64_t>(history.n_iter);
    const std::vector<Index> blocks = e == 0 ? order_of_epoch : block_order(epoch_id);
    const std::vector<Index> next_blocks = e + 1 < epochs ? block_order(epoch_id + 1) : std::vector<Index>{};
    double total = 0, total_reconstruction = 0, total_kl = 0;
    Index batch_index = 0, samples_done = 0;
    for (Index position = 0; position < n_blocks; ++position) {
      const Index b = blocks[position];
      // The block to read after this one: the next of this epoch or, after the
      // last, the first of the next epoch that is not this one (kept as is).
      Index next = -1;
      if (position + 1 < n_blocks) next = blocks[position + 1];
      else if (!next_blocks.empty()) next = next_blocks[0] != b || n_blocks == 1 ? next_blocks[0] : next_blocks[1];
      if (next == b) next = -1;
      if (b != fetched_index) {  // a block in hand (one block in memory: always) is not fetched again
        try {
          fetched = fetch(b, next);
          fetched_index = b;
          if (n_blocks == 1) require_observed_features();
        } catch (...) {  // a source that failed (a lost worker, bad values): back to the last complete epoch
          params = saved_params;
          adam = saved_adam;
          throw;
        }
      }
      const DataBlock<T>& block = fetched;
      if (use_validation && e == 0) {
        for (Index i : validation_rows[b]) validation.append(block, i);
      }
      const std::vector<Index>& rows_of_block = train_rows[b];
      const Index n_block = static_cast<Index>(rows_of_block.size());
      // One block: the stream of the epoch, as for an array in memory.
      Philox shuffle_rng(mix_seed(options.seed, kSeedShuffle),
                         n_blocks == 1 ? epoch_id : (epoch_id << 24) ^ (static_cast<std::uint64_t>(b) + 1));
      shuffled_indices(order, n_block, shuffle_rng);
      for (Index start = 0; start < n_block; start += batch_rows, ++batch_index) {
        const Index rows = std::min(batch_rows, n_block - start);
        for (Index r = 0; r < rows; ++r) block.copy_row(rows_of_block[order[start + r]], batch.row(r).data());
        const std::uint64_t stream = (epoch_id << 32) | static_cast<std::uint64_t>(batch_index);
        if (noise_per_row > 0) {
          // The draws of the whole batch come from one stream: the same noise
          // whatever the thread count (the kernel: Philox's, vectorised).
          detail::kernels<T>().normal(noise_seed, stream, 0, eps.data(), rows * noise_per_row);
        }
        const BatchLoss terms =
            slicer.run(rows, gradient.data(), n_parameters(), [&](int slice, Index begin, Index count, T* target) {
              return model().batch_loss_and_gradient(params.data(), batch.data() + begin * D, count,
                                                     eps.data() + begin * noise_per_row, target, workspaces[slice],
                                                     rows);
            });
        const double loss = terms.loss;
        // A non-finite gradient entry makes its parameter non-finite, so one
        // test of the updated parameters inside the Adam pass covers both.
        const bool finite_step =
            adam_step(params.data(), gradient.data(), slicer.pending(), mask, params.size(), adam, options.adam);
        if (!std::isfinite(loss) || !finite_step) {
          params = saved_params;
          adam = saved_adam;
          std::ostringstream message;
          message << model_name << " training diverged: the loss or the parameters became non-finite in epoch "
                  << epoch_id + 1 << " (batch " << batch_index + 1 << " of " << n_batches
                  << "). Lower the learning rate (learning_rate=" << options.adam.learning_rate
                  << ") or scale the input (e.g. with StandardScaler or MinMaxScaler); the model keeps the "
                     "parameters of the last complete epoch.";
          throw TrainingDiverged(message.str());
        }
        if (e == 0 && batch_index == 0) best_loss_of_call = loss;  // the starting point's loss
        total += loss * static_cast<double>(rows);
        total_reconstruction += terms.reconstruction * static_cast<double>(rows);
        total_kl += terms.kl * static_cast<double>(rows);
        samples_done += rows;
        if (options.on_batch &&
            !options.on_batch(BatchReport{history.n_iter + 1, batch_index + 1, n_batches, samples_done, n_train})) {
          params = saved_params;
          adam = saved_adam;
          history.interrupted = true;
          return;
        }
      }
    }
    if (e == 0 && n_blocks > 1) {  // every block has been counted
      try {
        require_observed_features();
      } catch (...) {
        params = saved_params;
        adam = saved_adam;
        throw;
      }
    }
    const double epoch_loss = total / static_cast<double>(n_train);
    if (epoch_loss > best_loss_of_call + kDivergenceFactor * std::max(1.0, std::abs(best_loss_of_call))) {
      params = saved_params;
      adam = saved_adam;
      std::ostringstream message;
      message << model_name << " training diverged: the loss grew from " << best_loss_of_call << " to " << epoch_loss
              << " in epoch " << epoch_id + 1 << ". Lower the learning rate (learning_rate="
              << options.adam.learning_rate << ") or scale the input; the model keeps the parameters of the last "
              << "complete epoch.";
      throw TrainingDiverged(message.str());
    }
    best_loss_of_call = std::min(best_loss_of_call, epoch_loss);
    history.n_iter += 1;
    history.loss_curve.push_back(epoch_loss);
    EpochReport report;
    report.epoch = history.n_iter;
    report.loss = epoch_loss;
    report.reconstruction = total_reconstruction / static_cast<double>(n_train);
    report.kl = total_kl / static_cast<double>(n_train);
    history.reconstruction_curve.push_back(report.reconstruction);
    history.kl_curve.push_back(report.kl);
    bool improved = false;
    if (use_validation) {
      const double score = validation_score();
      history.validation_scores.push_back(score);
      report.validation_score = score;
      report.has_validation = true;
      // scikit-learn's MLP rule: an epoch counts as an improvement when it
      // beats the best score by more than tol.
      improved = score >= best_score + options.tol;
      if (score > best_score) {
        best_score = score;
        best_params = params;
      }
    } else {
      improved = epoch_loss <= best_loss - options.tol;
    }
    best_loss = std::min(best_loss, epoch_loss);
    no_improvement = improved ? 0 : no_improvement + 1;
    saved_params = params;
    saved_adam = adam;
    const auto epoch_end = Clock::now();
    report.seconds = std::chrono::duration<double>(epoch_end - epoch_start).count();
    report.elapsed = std::chrono::duration<double>(epoch_end - call_start).count();
    if (options.on_epoch && !options.on_epoch(report)) {
      history.interrupted = true;
      break;
    }
    if (!single_epoch && no_improvement > options.n_iter_no_change) {
      history.converged = true;
      break;
    }
  }
  if (use_validation && best_params.size() == params.size()) {
    params = best_params;
    history.best_validation_score = best_score;
  }
  history.best_loss = best_loss;
}

}  // namespace vaekit

namespace vaekit::detail {

// Inference-time input check shared by the models: the column count and
// finiteness; with allow_missing, NaN (a missing value) passes and only an
// infinity is an error. Returns whether X has a NaN.
template <class T>
bool check_input(ConstRowMatrixRef<T> X, Index columns, const char* what, const char* expected,
                 bool allow_missing = false) {
  require(X.cols() == columns, std::string(what) + " has " + std::to_string(X.cols()) +
                                   " columns, but the model expects " + std::to_string(columns) + " (" + expected +
                                   ")");
  if (all_finite<T>(X)) return false;
  require(allow_missing, std::string(what) + " contains NaN or infinity");
  for (Index i = 0; i < X.rows(); ++i)
    for (Index j = 0; j < X.cols(); ++j)
      require(!std::isinf(X(i, j)), std::string(what) + " contains infinity");
  return true;
}

}  // namespace vaekit::detail
