// The activation functions of the MLPs' layers: the enum alone, so that the
// instruction-set specific kernels (cpp/src/kernels.hpp), which must not
// compile vaekit's inline code, can name them. Their names for the API and
// the model files are in mlp.hpp (EnumNames<Activation>).
#pragma once

namespace vaekit {

enum class Activation { Identity, ReLU, Tanh, Sigmoid, Softplus };

}  // namespace vaekit
