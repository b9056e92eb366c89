// Multi-layer perceptrons over row-major batches (samples in rows).
//
// An MLP does not own its parameters: they live in one contiguous buffer that
// belongs to the model (VAE, Autoencoder), so that Adam updates one flat array.
// Layer l reads its weights as an n_in x n_out row-major matrix at
// `weight_offset` (scikit-learn's coefs_[l] layout) followed by its n_out
// biases at `bias_offset`; offsets count from the start of the model's buffer.
//
// Two forward paths:
//  - forward/backward (training): batched GEMMs on Eigen maps plus fused
//    element-wise passes, into a workspace allocated once per fit. With
//    `parallel`, Eigen threads the products and the element-wise passes use
//    OpenMP; vaekit's own training loop instead calls them single-threaded
//    on slices of each batch, one slice per thread (see BatchSlicer in
//    cpp/src/training.hpp for why);
//  - predict (inference): a product in which every row is computed by the same
//    instruction sequence whatever the other rows of the call, so a sample's
//    transform/score does not depend on its position in X or on the other
//    samples (scikit-learn's subset and sample-order invariance), bit for bit.
//
// Mostly-zero inputs (images: MNIST's pixels are 81% zeros) take a sparse
// path in the first layer, whose cost follows the nonzero entries: in
// inference it gives the dense path's values bit for bit (the terms it skips
// are zeros); in training, the forward pass likewise, and the first layer's
// weight gradient X^T G sums the same nonzero terms in another order.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "vaekit/activation.hpp"
#include "vaekit/common.hpp"
#include "vaekit/describe.hpp"

namespace vaekit {

template <>
struct EnumNames<Activation> {
  static constexpr const char* what = "activation";
  static constexpr std::array<const char*, 5> names{"identity", "relu", "tanh", "sigmoid", "softplus"};
  // scikit-learn's MLP name for the sigmoid
  static constexpr std::array<std::pair<const char*, Activation>, 1> aliases{{{"logistic", Activation::Sigmoid}}};
};

struct DenseLayer {
  Index n_in = 0, n_out = 0;
  Index weight_offset = 0;  // n_in x n_out, row-major
  Index bias_offset = 0;    // n_out
  Activation activation = Activation::Identity;
};

// A batch of input rows by their nonzero entries (compressed sparse rows):
// row r's are index[i], value[i] for i in [start[r], start[r + 1]).
template <class T>
struct SparseBatch {
  std::vector<int> index;
  std::vector<T> value;
  std::vector<Index> start;
};

// Activations of one training batch of up to `max_rows` rows (MLP::reserve).
template <class T>
struct MLPWorkspace {
  Index max_rows = 0;
  std::vector<Vector<T>> outputs;  // per layer, rows x n_out (post-activation)
  Vector<T> delta[2];              // ping-pong buffers for dL/d(outputs), rows x max width
  int current = 0;                 // which delta buffer holds the latest gradient
  // A mostly-zero input batch, compressed by forward() (input_sparse) for
  // the first layer's products, and its transpose for backward().
  SparseBatch<T> input, input_transposed;
  bool input_sparse = false;
};

// Buffers of the inference path (MLP::predict), for up to `max_rows` rows.
template <class T>
struct MLPInferenceWorkspace {
  Index max_rows = 0;
  Vector<T> buffer[2];
  SparseBatch<T> input;  // a mostly-zero input, compressed
};

template <class T>
class MLP {
 public:
  using MatrixMap = Eigen::Map<RowMatrix<T>>;
  using ConstMatrixMap = Eigen::Map<const RowMatrix<T>>;
  using VectorMap = Eigen::Map<Vector<T>>;
  using ConstVectorMap = Eigen::Map<const Vector<T>>;

  MLP() = default;
  // sizes = {n_in, hidden..., n_out}: hidden layers use `hidden`, the last
  // layer `output`. `offset` is where the first layer's weights start in the
  // model's parameter buffer.
  MLP(const std::vector<Index>& sizes, Activation hidden, Activation output, Index offset = 0);

  Index n_inputs() const { return layers_.empty() ? 0 : layers_.front().n_in; }
  Index n_outputs() const { return layers_.empty() ? 0 : layers_.back().n_out; }
  int n_layers() const { return static_cast<int>(layers_.size()); }
  const DenseLayer& layer(int l) const { return layers_[l]; }
  Index offset() const { return offset_; }
  Index n_parameters() const { return n_parameters_; }
  Index end_offset() const { return offset_ + n_parameters_; }
  Index max_width() const;  // largest of n_in and all n_out

  ConstMatrixMap weights(const T* params, int l) const {
    return ConstMatrixMap(params + layers_[l].weight_offset, layers_[l].n_in, layers_[l].n_out);
  }
  MatrixMap weights(T* params, int l) const {
    return MatrixMap(params + layers_[l].weight_offset, layers_[l].n_in, layers_[l].n_out);
  }
  ConstVectorMap biases(const T* params, int l) const {
    return ConstVectorMap(params + layers_[l].bias_offset, layers_[l].n_out);
  }
  VectorMap biases(T* params, int l) const { return VectorMap(params + layers_[l].bias_offset, layers_[l].n_out); }

  // Glorot/Xavier uniform initialisation, U(-a, a) with a = sqrt(6 / (n_in + n_out))
  // (Glorot & Bengio 2010), for identity/tanh/sigmoid/softplus layers; He
  // normal, N(0, 2 / n_in) (He et al. 2015), for ReLU layers; zero biases.
  // Layer l draws from its own Philox stream of `seed`.
  void initialize(T* params, std::uint64_t seed) const;
  // Sets mask[i] = 1 for every weight (not bias) of this network.
  void mark_weights(T* mask) const;

  // ------------------------------------------------------------- training
  void reserve(MLPWorkspace<T>& workspace, Index max_rows) const;
  // Forward pass of `rows` rows: output of layer l = act(input W_l + b_l).
  void forward(const T* params, const T* input, Index rows, MLPWorkspace<T>& workspace, bool parallel = true) const;
  MatrixMap output(MLPWorkspace<T>& workspace, Index rows) const {
    return MatrixMap(workspace.outputs.back().data(), rows, n_outputs());
  }
  // Where the caller writes dL/d(output) before backward().
  MatrixMap output_gradient(MLPWorkspace<T>& workspace, Index rows) const {
    workspace.current = 0;
    return MatrixMap(workspace.delta[0].data(), rows, n_outputs());
  }
  // Backpropagates dL/d(output) (from output_gradient) through the forward
  // pass just made: writes dL/d(parameters) of this network into `gradient`
  // (a buffer laid out like params) and, if asked, dL/d(input) (input_gradient).
  void backward(const T* params, const T* input, Index rows, MLPWorkspace<T>& workspace, T* gradient,
                bool want_input_gradient, bool parallel = true) const;
  ConstMatrixMap input_gradient(const MLPWorkspace<T>& workspace, Index rows) const {
    return ConstMatrixMap(workspace.delta[workspace.current].data(), rows, n_inputs());
  }

  // ------------------------------------------------------------ inference
  void reserve(MLPInferenceWorkspace<T>& workspace, Index max_rows) const;
  // Output of `rows` rows (rows <= max_rows), row-invariant (see the header
  // comment); returns a pointer to rows x n_outputs() values in the workspace.
  // Row i of the input starts at input + i * input_stride (default n_inputs()).
  const T* predict(const T* params, const T* input, Index rows, MLPInferenceWorkspace<T>& workspace,
                   Index input_stride = 0) const;
  // predict for one contiguous row on up to n_threads threads (<= 0: the
  // OpenMP default), each computing a packet-aligned slice of every large
  // layer's outputs: the same values, bit for bit, as predict.
  const T* predict_row(const T* params, const T* input, MLPInferenceWorkspace<T>& workspace,
                       int n_threads) const;

 private:
  std::vector<DenseLayer> layers_;
  Index offset_ = 0;
  Index n_parameters_ = 0;
};

extern template class MLP<float>;
extern template class MLP<double>;

}  // namespace vaekit
