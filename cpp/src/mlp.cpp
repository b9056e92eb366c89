// Dense layers: initialisation, batched forward/backward for training, and a
// row-invariant forward pass for inference.
#include "vaekit/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.hpp"
#include "parallel.hpp"
#include "sparse_rows.hpp"
#include "vaekit/random.hpp"

namespace vaekit {
namespace {

// Whether an element-wise pass over rows x cols entries (each read and
// written) is worth a thread team: parallel.hpp's policy.
inline bool pass_worth_parallel(Index rows, Index cols) {
  return detail::worth_parallel(detail::Work::of_values(2.0 * static_cast<double>(rows) * static_cast<double>(cols)));
}

// Y = act(Y + b) (b == nullptr: act(Y)) for rows x cols values, in the
// kernels; split by rows between threads when worth it.
template <class T>
void add_bias_and_activate(T* Y, Index rows, Index cols, const T* b, Activation activation, bool parallel) {
  const detail::Kernels<T>& kernels = detail::kernels<T>();
#pragma omp parallel if (parallel && pass_worth_parallel(rows, cols))
  {
    const detail::RowSlice slice = detail::this_thread_rows(rows);
    kernels.activate(Y + slice.begin * cols, slice.size(), cols, b, activation);
  }
}

// G *= act'(Y), the backward counterpart of add_bias_and_activate.
template <class T>
void multiply_by_derivative(T* G, const T* Y, Index rows, Index cols, Activation activation, bool parallel) {
  if (activation == Activation::Identity) return;
  const detail::Kernels<T>& kernels = detail::kernels<T>();
#pragma omp parallel if (parallel && pass_worth_parallel(rows, cols))
  {
    const detail::RowSlice slice = detail::this_thread_rows(rows);
    kernels.activation_gradient(G + slice.begin * cols, Y + slice.begin * cols, slice.size() * cols, activation);
  }
}

// Sizes `batch` for compressing up to max_rows rows of n inputs (nothing for
// inputs narrower than kMinSparseInputs, which are never compressed).
template <class T>
void reserve_sparse(SparseBatch<T>& batch, Index max_rows, Index n) {
  if (n < detail::kMinSparseInputs) return;
  const Index capacity = detail::sparse_capacity(max_rows, n);
  batch.index.resize(capacity);
  batch.value.resize(capacity);
  batch.start.resize(max_rows + 1);
}

// Compresses `rows` rows of n inputs into `batch` if they are sparse enough
// (and `batch` was reserved for them).
template <class T>
bool compress_input(const T* X, Index rows, Index x_stride, Index n, SparseBatch<T>& batch) {
  if (n < detail::kMinSparseInputs || batch.start.size() < static_cast<std::size_t>(rows + 1)) return false;
  return detail::kernels<T>().compress_rows(X, rows, x_stride, n, batch.index.data(), batch.value.data(),
                                            batch.start.data());
}

template <class T>
detail::SparseRows<T> view(const SparseBatch<T>& batch) {
  return {batch.index.data(), batch.value.data(), batch.start.data()};
}

}  // namespace

template <class T>
MLP<T>::MLP(const std::vector<Index>& sizes, Activation hidden, Activation output, Index offset) : offset_(offset) {
  require(sizes.size() >= 2, "an MLP needs at least an input and an output size");
  for (Index size : sizes) require(size >= 1, "MLP layer sizes must be positive");
  // The training loops index parameters with int: the whole model's buffer
  // (from offset) must stay below 2^31 entries. Checked in double first, so
  // that absurd sizes cannot overflow the products below.
  double total = static_cast<double>(offset);
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l)
    total += (static_cast<double>(sizes[l]) + 1.0) * static_cast<double>(sizes[l + 1]);
  require(total <= static_cast<double>(std::numeric_limits<int>::max()),
          "layer sizes too large: the model would have more than 2^31 - 1 parameters");
  Index position = offset;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    DenseLayer layer;
    layer.n_in = sizes[l];
    layer.n_out = sizes[l + 1];
    layer.weight_offset = position;
    layer.bias_offset = position + layer.n_in * layer.n_out;
    layer.activation = l + 2 == sizes.size() ? output : hidden;
    position = layer.bias_offset + layer.n_out;
    layers_.push_back(layer);
  }
  n_parameters_ = position - offset;
}

template <class T>
Index MLP<T>::max_width() const {
  Index width = n_inputs();
  for (const DenseLayer& layer : layers_) width = std::max(width, layer.n_out);
  return width;
}

template <class T>
void MLP<T>::initialize(T* params, std::uint64_t seed) const {
  for (int l = 0; l < n_layers(); ++l) {
    const DenseLayer& layer = layers_[l];
    Philox rng(seed, static_cast<std::uint64_t>(l));
    MatrixMap W = weights(params, l);
    if (layer.activation == Activation::ReLU) {
      const double scale = std::sqrt(2.0 / static_cast<double>(layer.n_in));
      for (Index i = 0; i < W.size(); ++i) W.data()[i] = static_cast<T>(scale * rng.normal());
    } else {
      const double bound = std::sqrt(6.0 / static_cast<double>(layer.n_in + layer.n_out));
      for (Index i = 0; i < W.size(); ++i) W.data()[i] = static_cast<T>(bound * (2.0 * rng.uniform() - 1.0));
    }
    biases(params, l).setZero();
  }
}

template <class T>
void MLP<T>::mark_weights(T* mask) const {
  for (const DenseLayer& layer : layers_) std::fill_n(mask + layer.weight_offset, layer.n_in * layer.n_out, T(1));
}

template <class T>
void MLP<T>::reserve(MLPWorkspace<T>& workspace, Index max_rows) const {
  if (workspace.max_rows >= max_rows && workspace.outputs.size() == layers_.size()) return;
  workspace.max_rows = max_rows;
  workspace.outputs.resize(layers_.size());
  for (std::size_t l = 0; l < layers_.size(); ++l) workspace.outputs[l].resize(max_rows * layers_[l].n_out);
  for (Vector<T>& delta : workspace.delta) delta.resize(max_rows * max_width());
  reserve_sparse(workspace.input, max_rows, n_inputs());
  if (n_inputs() >= detail::kMinSparseInputs) {
    // The transpose: n_inputs() rows holding as many entries.
    workspace.input_transposed.index.resize(workspace.input.index.size());
    workspace.input_transposed.value.resize(workspace.input.value.size());
    workspace.input_transposed.start.resize(n_inputs() + 1);
  }
}

template <class T>
void MLP<T>::forward(const T* params, const T* input, Index rows, MLPWorkspace<T>& workspace, bool parallel) const {
  const T* x = input;
  // A mostly-zero input (single-threaded calls only: the sparse product is
  // not threaded) goes through the first layer compressed.
  workspace.input_sparse = !parallel && compress_input(input, rows, n_inputs(), n_inputs(), workspace.input);
  for (int l = 0; l < n_layers(); ++l) {
    const DenseLayer& layer = layers_[l];
    MatrixMap Y(workspace.outputs[l].data(), rows, layer.n_out);
    const detail::Kernels<T>& kernels = detail::kernels<T>();
    if (l == 0 && workspace.input_sparse) {
      kernels.affine_sparse(view(workspace.input), rows, params + layer.weight_offset, detail::SumStart::Bias,
                            params + layer.bias_offset, layer.n_out, Y.data(), 0, layer.n_out);
      kernels.activate(Y.data(), rows, layer.n_out, nullptr, layer.activation);
    } else {
      // One GEMM per layer, then bias + activation in one pass.
      kernels.gemm(false, false, rows, layer.n_out, layer.n_in, T(1), x, layer.n_in, params + layer.weight_offset,
                   layer.n_out, T(0), Y.data(), layer.n_out);
      add_bias_and_activate(Y.data(), rows, layer.n_out, params + layer.bias_offset, layer.activation, parallel);
    }
    x = Y.data();
  }
}

template <class T>
void MLP<T>::backward(const T* params, const T* input, Index rows, MLPWorkspace<T>& workspace, T* gradient,
                      bool want_input_gradient, bool parallel) const {
  int current = workspace.current;
  for (int l = n_layers() - 1; l >= 0; --l) {
    const DenseLayer& layer = layers_[l];
    MatrixMap G(workspace.delta[current].data(), rows, layer.n_out);
    const T* layer_input = l > 0 ? workspace.outputs[l - 1].data() : input;
    // dL/d(pre-activation) = dL/d(output) * act'(output), in place.
    multiply_by_derivative(G.data(), workspace.outputs[l].data(), rows, layer.n_out, layer.activation, parallel);
    const detail::Kernels<T>& kernels = detail::kernels<T>();
    if (l == 0 && workspace.input_sparse) {
      // dL/dW = X^T G from the compressed input: row k of dL/dW sums the
      // rows of G where input k is nonzero, so X^T is built compressed.
      SparseBatch<T>& transposed = workspace.input_transposed;
      detail::transpose_sparse(view(workspace.input), rows, layer.n_in, transposed.index.data(),
                               transposed.value.data(), transposed.start.data());
      kernels.affine_sparse(view(transposed), layer.n_in, G.data(), detail::SumStart::Zero, nullptr, layer.n_out,
                            gradient + layer.weight_offset, 0, layer.n_out);
    } else {
      // dL/dW = X^T G (no transposed copy of X).
      kernels.gemm(true, false, layer.n_in, layer.n_out, rows, T(1), layer_input, layer.n_in, G.data(), layer.n_out,
                   T(0), gradient + layer.weight_offset, layer.n_out);
    }
    // dL/db = column sums of G.
    kernels.column_sums(G.data(), rows, layer.n_out, gradient + layer.bias_offset);
    if (l > 0 || want_input_gradient) {
      // dL/dX = G W^T; the first layer's is skipped unless asked for (the
      // encoder's input is the data: it would be a wasted GEMM per batch).
      kernels.gemm(false, true, rows, layer.n_in, layer.n_out, T(1), G.data(), layer.n_out,
                   params + layer.weight_offset, layer.n_out, T(0), workspace.delta[1 - current].data(), layer.n_in);
      current = 1 - current;
    }
  }
  workspace.current = current;
}

template <class T>
void MLP<T>::reserve(MLPInferenceWorkspace<T>& workspace, Index max_rows) const {
  if (workspace.max_rows >= max_rows) return;
  workspace.max_rows = max_rows;
  for (Vector<T>& buffer : workspace.buffer) buffer.resize(max_rows * max_width());
  reserve_sparse(workspace.input, max_rows, n_inputs());
}

template <class T>
const T* MLP<T>::predict(const T* params, const T* input, Index rows, MLPInferenceWorkspace<T>& workspace,
                         Index input_stride) const {
  if (input_stride <= 0) input_stride = n_inputs();
  const T* x = input;
  int target = 0;
  for (int l = 0; l < n_layers(); ++l) {
    const DenseLayer& layer = layers_[l];
    T* Y = workspace.buffer[target].data();
    const detail::Kernels<T>& kernels = detail::kernels<T>();
    if (l == 0 && compress_input(input, rows, input_stride, layer.n_in, workspace.input)) {
      // Mostly zeros: the same values from the nonzero entries alone.
      kernels.affine_sparse(view(workspace.input), rows, params + layer.weight_offset, detail::SumStart::Bias,
                            params + layer.bias_offset, layer.n_out, Y, 0, layer.n_out);
    } else {
      kernels.affine(x, rows, l == 0 ? input_stride : layer.n_in, params + layer.weight_offset,
                     params + layer.bias_offset, layer.n_in, layer.n_out, Y, 0, layer.n_out);
    }
    kernels.activate(Y, rows, layer.n_out, nullptr, layer.activation);
    x = Y;
    target = 1 - target;
  }
  return x;
}

template <class T>
const T* MLP<T>::predict_row(const T* params, const T* input, MLPInferenceWorkspace<T>& workspace,
                             int n_threads) const {
  // A row's weights are read once, so the product runs at the speed the
  // cache delivers them (784 x 400 floats, 1.25 MB, come from L2): two cores
  // with half the columns each read half the bytes, each from its own L2.
  // Worth a team only for large layers (parallel.hpp's policy, each weight a
  // value read: from 2e5 weights; a 784-128 layer's one-sample transform from
  // Python took 27 us on one thread or two). Inside the region, a layer is
  // split when each thread gets at least kMinSplitWeights of it.
  constexpr Index kMinSplitWeights = 1 << 13;
  const int threads = std::min(resolve_threads(n_threads), 4);
  Index largest = 0;
  for (const DenseLayer& layer : layers_) largest = std::max(largest, layer.n_in * layer.n_out);
  if (threads <= 1 || !detail::worth_parallel(detail::Work::of_values(static_cast<double>(largest))))
    return predict(params, input, 1, workspace);
  require(workspace.max_rows >= 1, "MLP::predict_row: the workspace holds no row (call reserve)");
  const detail::Kernels<T>& kernels = detail::kernels<T>();
  const Index P = kernels.packet;
  const bool sparse = compress_input(input, 1, n_inputs(), n_inputs(), workspace.input);
#pragma omp parallel num_threads(threads)
  {
    const int t = detail::thread_id(), team = detail::team_size();
    const T* x = input;
    int target = 0;
    for (int l = 0; l < n_layers(); ++l) {
      const DenseLayer& layer = layers_[l];
      T* Y = workspace.buffer[target].data();
      // Packet-aligned column ranges; a small layer goes to one thread.
      const bool split = layer.n_in * layer.n_out >= kMinSplitWeights * team;
      const Index packets = (layer.n_out + P - 1) / P;
      const int parts = split ? team : 1;
      if (t < parts) {
        const Index begin = std::min(layer.n_out, packets * t / parts * P);
        const Index end = t + 1 == parts ? layer.n_out : std::min(layer.n_out, packets * (t + 1) / parts * P);
        if (l == 0 && sparse) {
          kernels.affine_sparse(view(workspace.input), 1, params + layer.weight_offset, detail::SumStart::Bias,
                                params + layer.bias_offset, layer.n_out, Y, begin, end);
        } else {
          kernels.affine(x, 1, layer.n_in, params + layer.weight_offset, params + layer.bias_offset, layer.n_in,
                         layer.n_out, Y, begin, end);
        }
        kernels.activate(Y + begin, 1, end - begin, nullptr, layer.activation);
      }
#pragma omp barrier
      x = Y;
      target = 1 - target;
    }
  }
  return workspace.buffer[(n_layers() - 1) % 2].data();
}

template class MLP<float>;
template class MLP<double>;

}  // namespace vaekit
