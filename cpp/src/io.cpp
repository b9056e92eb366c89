// Model files (io.hpp): what each model writes into a safetensors file and
// how it is rebuilt, with every tensor checked against the metadata before
// the model, and its parameter buffer, is allocated.
#include "vaekit/io.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <locale>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "json.hpp"

#ifndef VAEKIT_VERSION
#error "VAEKIT_VERSION must be defined by the build (CMakeLists.txt)"
#endif

namespace vaekit {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::int64_t>;

// Largest n_features, n_components or hidden width a file may declare: any
// product of two stays far inside 64 bits.
constexpr std::int64_t kMaxDimension = std::numeric_limits<std::int32_t>::max();

// ------------------------------------------------------------ metadata values

// Numbers as text, independent of the C++ locale; 17 digits round-trip a double.
std::string format_double(double value) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out.precision(17);
  out << value;
  return out.str();
}

const std::string& entry(const Metadata& metadata, const std::string& key) {
  const auto it = metadata.find(key);
  require(it != metadata.end(), "missing metadata entry \"" + key + "\"");
  return it->second;
}

double parse_double(const Metadata& metadata, const std::string& key) {
  const std::string& text = entry(metadata, key);
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  double value = 0;
  in >> value;
  require(!text.empty() && !in.fail() && in.eof() && std::isfinite(value),
          "metadata entry \"" + key + "\" must be a finite number, got \"" + text + "\"");
  return value;
}

std::int64_t parse_integer(const std::string& text, const std::string& key, std::int64_t min_value,
                           std::int64_t max_value) {
  const std::string problem = "metadata entry \"" + key + "\" must be an integer in [" + std::to_string(min_value) +
                              ", " + std::to_string(max_value) + "], got \"" + text + "\"";
  require(!text.empty() && text.size() <= 19, problem);
  std::int64_t value = 0;
  for (const char c : text) {
    require(c >= '0' && c <= '9', problem);
    value = value * 10 + (c - '0');  // at most 19 digits: below 2^63
  }
  require(value >= min_value && value <= max_value, problem);
  return value;
}

std::int64_t parse_integer(const Metadata& metadata, const std::string& key, std::int64_t min_value,
                           std::int64_t max_value) {
  return parse_integer(entry(metadata, key), key, min_value, max_value);
}

std::string format_sizes(const std::vector<Index>& sizes) {
  std::string text = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) text += (i ? "," : "") + std::to_string(sizes[i]);
  return text + "]";
}

std::vector<Index> parse_sizes(const Metadata& metadata, const std::string& key) {
  const std::string& text = entry(metadata, key);
  const std::string problem = "metadata entry \"" + key + "\" must be a JSON list of positive integers, got \"" +
                              text + "\"";
  detail::JsonValue list;
  try {
    list = detail::parse_json(text);
  } catch (const InvalidArgument&) {
    throw InvalidArgument(problem);
  }
  require(list.type == detail::JsonValue::Type::Array && list.items.size() <= 1000, problem);
  std::vector<Index> sizes;
  for (const detail::JsonValue& item : list.items) {
    require(item.type == detail::JsonValue::Type::Integer && item.integer >= 1 && item.integer <= kMaxDimension,
            problem);
    sizes.push_back(static_cast<Index>(item.integer));
  }
  return sizes;
}

// A configuration's hyper-parameters (describe.hpp) as metadata entries, one
// per field, under the field's name.
struct FieldWriter {
  Metadata& metadata;
  void operator()(const char* name, bool value, const Range&) const { metadata[name] = value ? "true" : "false"; }
  void operator()(const char* name, double value, const Range&) const { metadata[name] = format_double(value); }
  template <class Integer, std::enable_if_t<std::is_integral<Integer>::value, int> = 0>
  void operator()(const char* name, Integer value, const Range&) const {
    metadata[name] = std::to_string(value);
  }
  void operator()(const char* name, const std::vector<Index>& values, const Range&) const {
    metadata[name] = format_sizes(values);
  }
  template <class E, std::enable_if_t<is_described_enum<E>::value, int> = 0>
  void operator()(const char* name, E value, const Range&) const {
    metadata[name] = enum_name(value);
  }
};

// The same entries read back, then checked against the fields' ranges by
// validate_fields. A field the file does not have keeps its default: files
// written before the field existed hold models that behave as its default
// does (a new hyper-parameter must default to the old behaviour).
struct FieldReader {
  const Metadata& metadata;
  template <class Field>
  void operator()(const char* name, Field& value, const Range& range) const {
    if (metadata.count(name)) read(name, value, range);
  }
  void read(const char* name, bool& value, const Range&) const {
    const std::string& text = entry(metadata, name);
    require(text == "true" || text == "false",
            std::string("metadata entry \"") + name + "\" must be true or false, got \"" + text + "\"");
    value = text == "true";
  }
  void read(const char* name, double& value, const Range&) const { value = parse_double(metadata, name); }
  template <class Integer, std::enable_if_t<std::is_integral<Integer>::value, int> = 0>
  void read(const char* name, Integer& value, const Range& range) const {
    const std::int64_t lowest = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::max(range.min, -1.0)));
    const std::int64_t highest = std::min<std::int64_t>(std::numeric_limits<Integer>::max(), kMaxDimension);
    value = static_cast<Integer>(parse_integer(metadata, name, lowest, highest));
  }
  void read(const char* name, std::vector<Index>& values, const Range&) const {
    values = parse_sizes(metadata, name);
  }
  template <class E, std::enable_if_t<is_described_enum<E>::value, int> = 0>
  void read(const char* name, E& value, const Range&) const {
    value = parse_enum<E>(entry(metadata, name));
  }
};

template <class Config>
void write_fields(const Config& config, Metadata& metadata) {
  const FieldWriter writer{metadata};
  Config::fields(config, [&](const char* name, const auto& value, const Range& range) { writer(name, value, range); });
}

template <class Config>
Config read_fields(const Metadata& metadata, const std::string& owner) {
  Config config;
  const FieldReader reader{metadata};
  Config::fields(config, [&](const char* name, auto& value, const Range& range) { reader(name, value, range); });
  validate_fields(config, owner);
  return config;
}

template <class T>
const char* dtype_label() {
  return sizeof(T) == 4 ? "float32" : "float64";
}
template <class T>
DType dtype_of() {
  return sizeof(T) == 4 ? DType::F32 : DType::F64;
}

std::string quoted(const fs::path& path) { return "'" + path.u8string() + "'"; }

// Runs `body`, prefixing the message of an InvalidArgument with the file's name.
template <class Body>
auto about_file(const fs::path& path, Body&& body) {
  try {
    return body();
  } catch (const InvalidArgument& error) {
    const std::string message = error.what();
    const std::string prefix = quoted(path) + ": ";
    if (message.compare(0, prefix.size(), prefix) == 0) throw;
    throw InvalidArgument(prefix + message);
  }
}

Metadata base_metadata(const char* kind, const char* dtype) {
  return {{"kind", kind},
          {"format_version", std::to_string(kModelFormatVersion)},
          {"vaekit_version", VAEKIT_VERSION},
          {"dtype", dtype}};
}

// The kinds of model file: one per model in AnyModel (its kKind).
template <std::size_t... I>
std::vector<std::string> kinds_of(std::index_sequence<I...>) {
  std::vector<std::string> kinds;
  for (const char* kind : {std::variant_alternative_t<I, AnyModel>::kKind...})
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.emplace_back(kind);
  return kinds;
}

ModelInfo model_info(const SafetensorsReader& reader) {
  const Metadata& metadata = reader.metadata();
  require(metadata.count("kind") && metadata.count("format_version"),
          "not a vaekit model file (its metadata has no \"kind\" and \"format_version\")");
  ModelInfo info;
  info.metadata = metadata;
  info.format_version = static_cast<int>(
      parse_integer(metadata, "format_version", 1, std::numeric_limits<int>::max()));
  require(info.format_version <= kModelFormatVersion,
          "format version " + std::to_string(info.format_version) + " is newer than this vaekit reads (" +
              std::to_string(kModelFormatVersion) + "); upgrade vaekit");
  info.kind = metadata.at("kind");
  const std::vector<std::string> kinds = model_kinds();
  if (std::find(kinds.begin(), kinds.end(), info.kind) == kinds.end()) {
    std::string expected;
    for (std::size_t i = 0; i < kinds.size(); ++i) expected += (i ? i + 1 == kinds.size() ? " or " : ", " : "") + kinds[i];
    throw InvalidArgument("unknown model kind \"" + info.kind + "\" (expected " + expected + ")");
  }
  info.dtype = entry(metadata, "dtype");
  require(info.dtype == "float32" || info.dtype == "float64",
          "metadata entry \"dtype\" must be float32 or float64, got \"" + info.dtype + "\"");
  info.vaekit_version = entry(metadata, "vaekit_version");
  return info;
}

void require_kind(const ModelInfo& info, const char* kind) {
  require(info.kind == kind, std::string("expected a ") + kind + " model file, but the file holds a model of kind \"" +
                                 info.kind + "\"");
}

// ------------------------------------------------------------ tensor checks

std::string shape_text(const Shape& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

// The tensors a model file must (or may) hold, checked all at once against
// the file before anything is allocated for them.
class TensorPlan {
 public:
  TensorPlan(SafetensorsReader& reader, DType parameter_dtype) : reader_(reader), parameter_dtype_(parameter_dtype) {}

  // A parameter tensor (the model's dtype) of exactly this shape.
  const TensorInfo& parameter(const std::string& name, const Shape& shape) {
    const TensorInfo* tensor = reader_.find(name);
    require(tensor != nullptr, "missing tensor \"" + name + "\"");
    check(*tensor, parameter_dtype_, shape);
    return *tensor;
  }
  // An optional tensor of this dtype and shape (shape {-1}: any 1-D length).
  const TensorInfo* optional(const std::string& name, DType dtype, const Shape& shape) {
    const TensorInfo* tensor = reader_.find(name);
    if (tensor != nullptr) check(*tensor, dtype, shape);
    return tensor;
  }
  // Every tensor of the file must have been asked for.
  void reject_others(const char* kind) const {
    for (const TensorInfo& tensor : reader_.tensors())
      require(claimed_.count(tensor.name), "unexpected tensor \"" + tensor.name + "\" in a " + kind + " file");
  }

  // Reads a checked tensor as T, requiring finite values.
  template <class T>
  void read(const TensorInfo& tensor, T* out) {
    reader_.read(tensor, out);
    for (std::int64_t i = 0; i < tensor.n_elements(); ++i)
      require(std::isfinite(out[i]), "tensor \"" + tensor.name + "\" contains NaN or infinity");
  }
  template <class T>
  RowMatrix<T> read_matrix(const TensorInfo& tensor) {
    RowMatrix<T> values(tensor.shape.at(0), tensor.shape.at(1));
    read(tensor, values.data());
    return values;
  }
  template <class T>
  Vector<T> read_vector(const TensorInfo& tensor) {
    Vector<T> values(tensor.n_elements());
    read(tensor, values.data());
    return values;
  }
  std::vector<double> read_curve(const TensorInfo* tensor) {
    std::vector<double> values;
    if (tensor != nullptr) {
      values.resize(static_cast<std::size_t>(tensor->n_elements()));
      read(*tensor, values.data());
    }
    return values;
  }

 private:
  void check(const TensorInfo& tensor, DType dtype, const Shape& shape) {
    claimed_.insert(tensor.name);
    require(tensor.dtype == dtype, "tensor \"" + tensor.name + "\" has dtype " + dtype_name(tensor.dtype) +
                                       ", expected " + dtype_name(dtype));
    const bool any_length = shape.size() == 1 && shape[0] < 0;
    require(any_length ? tensor.shape.size() == 1 : tensor.shape == shape,
            "tensor \"" + tensor.name + "\" has shape " + shape_text(tensor.shape) + ", expected " +
                (any_length ? std::string("a 1-D shape") : shape_text(shape)));
  }

  SafetensorsReader& reader_;
  DType parameter_dtype_;
  std::set<std::string> claimed_;
};

DType parameter_dtype(const ModelInfo& info) { return info.dtype == "float32" ? DType::F32 : DType::F64; }

// ------------------------------------------------------------ neural models

// The layer widths of the encoder (D -> hidden -> encoder_outputs) and the
// decoder (d -> reversed hidden -> decoder_outputs), as VAE and Autoencoder
// build them.
struct NetworkShapes {
  std::vector<Index> encoder, decoder;
};
NetworkShapes network_shapes(Index encoder_inputs, Index n_components, const std::vector<Index>& hidden,
                             Index encoder_outputs, Index decoder_outputs) {
  NetworkShapes shapes;
  shapes.encoder.push_back(encoder_inputs);
  shapes.encoder.insert(shapes.encoder.end(), hidden.begin(), hidden.end());
  shapes.encoder.push_back(encoder_outputs);
  shapes.decoder.push_back(n_components);
  shapes.decoder.insert(shapes.decoder.end(), hidden.rbegin(), hidden.rend());
  shapes.decoder.push_back(decoder_outputs);
  return shapes;
}

// The dense layers of one network: planned (shapes checked), then read into a
// model's parameter buffer once the model exists.
struct PlannedNetwork {
  std::vector<const TensorInfo*> weights, biases;
  Index n_parameters = 0;
};

PlannedNetwork plan_network(TensorPlan& plan, const std::string& prefix, const std::vector<Index>& sizes) {
  PlannedNetwork network;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    const std::string name = prefix + "." + std::to_string(l);
    network.weights.push_back(&plan.parameter(name + ".weight", {sizes[l + 1], sizes[l]}));
    network.biases.push_back(&plan.parameter(name + ".bias", {sizes[l + 1]}));
    network.n_parameters += (sizes[l] + 1) * sizes[l + 1];
  }
  return network;
}

template <class T>
void read_network(TensorPlan& plan, const PlannedNetwork& planned, const MLP<T>& net, T* params) {
  require(net.n_layers() == static_cast<int>(planned.weights.size()), "internal error: layer count mismatch");
  for (int l = 0; l < net.n_layers(); ++l) {
    const RowMatrix<T> weight = plan.read_matrix<T>(*planned.weights[l]);  // (out, in)
    require(weight.rows() == net.layer(l).n_out && weight.cols() == net.layer(l).n_in,
            "internal error: layer shape mismatch");
    net.weights(params, l) = weight.transpose();
    net.biases(params, l) = plan.read_vector<T>(*planned.biases[l]);
  }
}

template <class T>
void add_network(SafetensorsWriter& writer, const std::string& prefix, const MLP<T>& net, const T* params) {
  for (int l = 0; l < net.n_layers(); ++l) {
    const DenseLayer& layer = net.layer(l);
    const std::string name = prefix + "." + std::to_string(l);
    const RowMatrix<T> weight = net.weights(params, l).transpose();  // (out, in), PyTorch's layout
    writer.add(name + ".weight", {layer.n_out, layer.n_in}, weight.data());
    writer.add(name + ".bias", {layer.n_out}, params + layer.bias_offset);
  }
}

template <class T>
bool has_optimizer_state(const AdamState<T>& state, Index n_parameters) {
  return state.first_moment.size() == n_parameters && state.second_moment.size() == n_parameters;
}

// Metadata and tensors both neural models share: architecture, networks,
// training history and Adam's state.
template <class Model>
Metadata neural_metadata(const Model& model, const char* kind) {
  using T = typename Model::Scalar;
  Metadata metadata = base_metadata(kind, dtype_label<T>());
  metadata["n_features"] = std::to_string(model.n_features());
  write_fields(model.config(), metadata);
  metadata["n_iter"] = std::to_string(model.history().n_iter);
  if (has_optimizer_state(model.optimizer_state(), model.n_parameters()))
    metadata["optimizer_step"] = std::to_string(model.optimizer_state().step);
  return metadata;
}

template <class Model>
void add_neural_tensors(SafetensorsWriter& writer, const Model& model) {
  const auto* params = model.parameters().data();
  add_network(writer, "encoder", model.encoder(), params);
  add_network(writer, "decoder", model.decoder(), params);
  const auto& state = model.optimizer_state();
  if (has_optimizer_state(state, model.n_parameters())) {
    writer.add("optimizer.exp_avg", {model.n_parameters()}, state.first_moment.data());
    writer.add("optimizer.exp_avg_sq", {model.n_parameters()}, state.second_moment.data());
  }
  const TrainingHistory& history = model.history();
  writer.add("history.loss_curve", {static_cast<std::int64_t>(history.loss_curve.size())},
             history.loss_curve.data());
  writer.add("history.validation_scores", {static_cast<std::int64_t>(history.validation_scores.size())},
             history.validation_scores.data());
  writer.add("history.reconstruction_curve", {static_cast<std::int64_t>(history.reconstruction_curve.size())},
             history.reconstruction_curve.data());
  writer.add("history.kl_curve", {static_cast<std::int64_t>(history.kl_curve.size())}, history.kl_curve.data());
}

template <class T>
void require_finite_parameters(ConstVectorRef<T> parameters, const char* kind) {
  require(parameters.allFinite(), std::string(kind) + ": cannot save a model with NaN or infinite parameters");
}

// A VAEConfig or AutoencoderConfig as the metadata gives it (n_features and
// every described field), once the kind is checked.
template <class Model>
typename Model::Config neural_configuration(const ModelInfo& info) {
  require_kind(info, Model::kKind);
  auto config = read_fields<typename Model::Config>(info.metadata, Model::kKind);
  config.n_features = parse_integer(info.metadata, "n_features", 1, kMaxDimension);
  return config;
}

// Everything of a neural model besides its configuration: networks (planned
// first, so that the model is built only once every shape has been checked),
// optional Adam state and history.
struct PlannedNeural {
  PlannedNetwork encoder, decoder;
  const TensorInfo* exp_avg = nullptr;
  const TensorInfo* exp_avg_sq = nullptr;
  const TensorInfo* loss_curve = nullptr;
  const TensorInfo* validation_scores = nullptr;
  const TensorInfo* reconstruction_curve = nullptr;
  const TensorInfo* kl_curve = nullptr;
};

PlannedNeural plan_neural(TensorPlan& plan, const NetworkShapes& shapes, Index extra_parameters, DType dtype) {
  PlannedNeural planned;
  planned.encoder = plan_network(plan, "encoder", shapes.encoder);
  planned.decoder = plan_network(plan, "decoder", shapes.decoder);
  const Index n_parameters = planned.encoder.n_parameters + planned.decoder.n_parameters + extra_parameters;
  planned.exp_avg = plan.optional("optimizer.exp_avg", dtype, {n_parameters});
  planned.exp_avg_sq = plan.optional("optimizer.exp_avg_sq", dtype, {n_parameters});
  require((planned.exp_avg == nullptr) == (planned.exp_avg_sq == nullptr),
          "optimizer.exp_avg and optimizer.exp_avg_sq must both be present or both absent");
  planned.loss_curve = plan.optional("history.loss_curve", DType::F64, {-1});
  planned.validation_scores = plan.optional("history.validation_scores", DType::F64, {-1});
  planned.reconstruction_curve = plan.optional("history.reconstruction_curve", DType::F64, {-1});
  planned.kl_curve = plan.optional("history.kl_curve", DType::F64, {-1});
  return planned;
}

// The fitted state of a neural model: the networks read into `parameters`
// (a buffer of the model's size, other entries kept), the optional Adam state
// and the history. The model's constructor validates it.
template <class T>
TrainingState<T> read_neural(TensorPlan& plan, const PlannedNeural& planned, const Metadata& metadata,
                             const MLP<T>& encoder, const MLP<T>& decoder, Vector<T> parameters) {
  TrainingState<T> state;
  read_network(plan, planned.encoder, encoder, parameters.data());
  read_network(plan, planned.decoder, decoder, parameters.data());
  state.parameters = std::move(parameters);
  if (planned.exp_avg != nullptr) {
    state.optimizer.first_moment = plan.read_vector<T>(*planned.exp_avg);
    state.optimizer.second_moment = plan.read_vector<T>(*planned.exp_avg_sq);
    state.optimizer.step = parse_integer(metadata, "optimizer_step", 0, std::numeric_limits<std::int64_t>::max());
  }
  TrainingHistory& history = state.history;
  history.loss_curve = plan.read_curve(planned.loss_curve);
  history.validation_scores = plan.read_curve(planned.validation_scores);
  // Absent from files written before they were recorded: NaN (the model's constructor).
  history.reconstruction_curve = plan.read_curve(planned.reconstruction_curve);
  history.kl_curve = plan.read_curve(planned.kl_curve);
  history.n_iter = static_cast<int>(parse_integer(metadata, "n_iter", 0, std::numeric_limits<int>::max()));
  return state;
}

// ------------------------------------------------------------ per model

template <class T>
PPCA<T> read_ppca(SafetensorsReader& reader, const ModelInfo& info) {
  require_kind(info, PPCA<T>::kKind);
  const Metadata& metadata = info.metadata;
  const Index D = parse_integer(metadata, "n_features", 1, kMaxDimension);
  const Index d = parse_integer(metadata, "n_components", 1, kMaxDimension);
  const int n_iter = static_cast<int>(parse_integer(metadata, "n_iter", 0, std::numeric_limits<int>::max()));
  TensorPlan plan(reader, parameter_dtype(info));
  const TensorInfo& components = plan.parameter("components", {d, D});
  const TensorInfo& mean = plan.parameter("mean", {D});
  const TensorInfo& noise_variance = plan.parameter("noise_variance", {});
  const TensorInfo& explained_variance = plan.parameter("explained_variance", {d});
  const TensorInfo* curve = plan.optional("log_likelihood_curve", DType::F64, {-1});
  plan.reject_others(PPCA<T>::kKind);
  T sigma2;
  plan.read(noise_variance, &sigma2);
  return PPCA<T>::restore(plan.read_matrix<T>(components), plan.read_vector<T>(mean), sigma2,
                          plan.read_vector<T>(explained_variance), n_iter, plan.read_curve(curve));
}

template <class T>
Autoencoder<T> read_autoencoder(SafetensorsReader& reader, const ModelInfo& info) {
  const Metadata& metadata = info.metadata;
  const AutoencoderConfig config = neural_configuration<Autoencoder<T>>(info);
  TensorPlan plan(reader, parameter_dtype(info));
  const NetworkShapes shapes = network_shapes(config.n_features, config.n_components, config.hidden_layer_sizes,
                                              config.n_components, config.n_features);
  const PlannedNeural planned = plan_neural(plan, shapes, 0, parameter_dtype(info));
  plan.reject_others(Autoencoder<T>::kKind);
  const Autoencoder<T> shape(config);
  return Autoencoder<T>(config, read_neural(plan, planned, metadata, shape.encoder(), shape.decoder(),
                                            Vector<T>(Vector<T>::Zero(shape.n_parameters()))));
}

template <class T>
VAE<T> read_vae(SafetensorsReader& reader, const ModelInfo& info) {
  const Metadata& metadata = info.metadata;
  VAEConfig config = neural_configuration<VAE<T>>(info);
  if (config.likelihood == Likelihood::Bernoulli) config.decoder_variance = DecoderVariance::Fixed;
  const Index D = config.n_features;
  const bool network = config.decoder_variance == DecoderVariance::Network;
  const Index n_log_variance = config.decoder_variance == DecoderVariance::Scalar     ? 1
                               : config.decoder_variance == DecoderVariance::Diagonal ? D
                                                                                      : 0;
  TensorPlan plan(reader, parameter_dtype(info));
  const NetworkShapes shapes = network_shapes(config.encoder_inputs(), config.n_components, config.hidden_layer_sizes,
                                              2 * config.n_components, network ? 2 * D : D);
  const TensorInfo* log_variance =
      n_log_variance > 0 ? &plan.parameter("decoder.log_variance", {n_log_variance}) : nullptr;
  const PlannedNeural planned = plan_neural(plan, shapes, n_log_variance, parameter_dtype(info));
  plan.reject_others(VAE<T>::kKind);
  const VAE<T> shape(config);
  Vector<T> params = Vector<T>::Zero(shape.n_parameters());
  require(shape.n_log_variance() == n_log_variance, "internal error: log-variance count mismatch");
  if (log_variance != nullptr) plan.read(*log_variance, params.data() + shape.log_variance_offset());
  return VAE<T>(config, read_neural(plan, planned, metadata, shape.encoder(), shape.decoder(), std::move(params)));
}

// Writes model_metadata(model) plus `extra`, and the tensors add_tensors(writer) adds.
template <class Model, class AddTensors>
void write_model(const fs::path& path, const Model& model, const Metadata& extra, AddTensors&& add_tensors) {
  Metadata metadata = model_metadata(model);
  for (const auto& [key, value] : extra) {
    require(!metadata.count(key), "metadata key \"" + key + "\" is written by vaekit itself and cannot be given");
    metadata[key] = value;
  }
  SafetensorsWriter writer;
  writer.set_metadata(std::move(metadata));
  add_tensors(writer);
  writer.write(path);
}

// Opens a model file and rebuilds its model with read(reader, info).
template <class Read>
auto load_file(const fs::path& path, ModelInfo* info, Read&& read) {
  SafetensorsReader reader(path);
  return about_file(path, [&] {
    ModelInfo file_info = model_info(reader);
    auto model = read(reader, file_info);
    if (info) *info = std::move(file_info);
    return model;
  });
}

}  // namespace

// ================================================================ public API

ModelInfo read_model_info(const fs::path& path) {
  const SafetensorsReader reader(path);
  return about_file(path, [&] { return model_info(reader); });
}

template <class T>
Metadata model_metadata(const PPCA<T>& model) {
  Metadata metadata = base_metadata(PPCA<T>::kKind, dtype_label<T>());
  metadata["n_features"] = std::to_string(model.n_features());
  metadata["n_components"] = std::to_string(model.n_components());
  metadata["n_iter"] = std::to_string(model.n_iter());
  return metadata;
}

template <class T>
Metadata model_metadata(const Autoencoder<T>& model) {
  return neural_metadata(model, Autoencoder<T>::kKind);
}

template <class T>
Metadata model_metadata(const VAE<T>& model) {
  return neural_metadata(model, VAE<T>::kKind);
}

template <class T>
void save(const fs::path& path, const PPCA<T>& model, const Metadata& extra) {
  require(model.n_components() >= 1, "PPCA: cannot save an unfitted model");
  write_model(path, model, extra, [&](SafetensorsWriter& writer) {
    const T noise_variance = model.noise_variance();
    writer.add("components", {model.n_components(), model.n_features()}, model.components().data());
    writer.add("mean", {model.n_features()}, model.mean().data());
    writer.add("noise_variance", {}, &noise_variance);
    writer.add("explained_variance", {model.n_components()}, model.explained_variance().data());
    const std::vector<double>& curve = model.log_likelihood_curve();
    writer.add("log_likelihood_curve", {static_cast<std::int64_t>(curve.size())}, curve.data());
  });
}

template <class T>
void save(const fs::path& path, const Autoencoder<T>& model, const Metadata& extra) {
  require_finite_parameters<T>(model.parameters(), Autoencoder<T>::kKind);
  write_model(path, model, extra, [&](SafetensorsWriter& writer) { add_neural_tensors(writer, model); });
}

template <class T>
void save(const fs::path& path, const VAE<T>& model, const Metadata& extra) {
  require_finite_parameters<T>(model.parameters(), VAE<T>::kKind);
  write_model(path, model, extra, [&](SafetensorsWriter& writer) {
    add_neural_tensors(writer, model);
    if (model.n_log_variance() > 0) {
      writer.add("decoder.log_variance", {model.n_log_variance()},
                 model.parameters().data() + model.log_variance_offset());
    }
  });
}

template <class T>
PPCA<T> load_ppca(const fs::path& path, ModelInfo* info) {
  return load_file(path, info, read_ppca<T>);
}

template <class T>
Autoencoder<T> load_autoencoder(const fs::path& path, ModelInfo* info) {
  return load_file(path, info, read_autoencoder<T>);
}

template <class T>
VAE<T> load_vae(const fs::path& path, ModelInfo* info) {
  return load_file(path, info, read_vae<T>);
}

std::vector<std::string> model_kinds() {
  return kinds_of(std::make_index_sequence<std::variant_size_v<AnyModel>>());
}

namespace {
// The reader of each model type (overloads on a null pointer of the type).
template <class T>
PPCA<T> read_model(SafetensorsReader& reader, const ModelInfo& info, PPCA<T>*) {
  return read_ppca<T>(reader, info);
}
template <class T>
Autoencoder<T> read_model(SafetensorsReader& reader, const ModelInfo& info, Autoencoder<T>*) {
  return read_autoencoder<T>(reader, info);
}
template <class T>
VAE<T> read_model(SafetensorsReader& reader, const ModelInfo& info, VAE<T>*) {
  return read_vae<T>(reader, info);
}

// The alternative of AnyModel with the file's kind and dtype, read.
template <std::size_t I = 0>
AnyModel read_any_model(SafetensorsReader& reader, const ModelInfo& info) {
  if constexpr (I == std::variant_size_v<AnyModel>) {
    throw InvalidArgument("no model of kind \"" + info.kind + "\" and dtype " + info.dtype);
  } else {
    using Model = std::variant_alternative_t<I, AnyModel>;
    if (info.kind == Model::kKind && info.dtype == dtype_label<typename Model::Scalar>())
      return read_model(reader, info, static_cast<Model*>(nullptr));
    return read_any_model<I + 1>(reader, info);
  }
}
}  // namespace

LoadedModel load_model(const fs::path& path) {
  SafetensorsReader reader(path);
  return about_file(path, [&]() -> LoadedModel {
    ModelInfo info = model_info(reader);
    AnyModel model = read_any_model(reader, info);
    return {std::move(info), std::move(model)};
  });
}

#define VAEKIT_INSTANTIATE_IO(T)                                                                 \
  template Metadata model_metadata<T>(const PPCA<T>&);                                          \
  template Metadata model_metadata<T>(const Autoencoder<T>&);                                   \
  template Metadata model_metadata<T>(const VAE<T>&);                                           \
  template void save<T>(const fs::path&, const PPCA<T>&, const Metadata&);                      \
  template void save<T>(const fs::path&, const Autoencoder<T>&, const Metadata&);               \
  template void save<T>(const fs::path&, const VAE<T>&, const Metadata&);                       \
  template PPCA<T> load_ppca<T>(const fs::path&, ModelInfo*);                                   \
  template Autoencoder<T> load_autoencoder<T>(const fs::path&, ModelInfo*);                     \
  template VAE<T> load_vae<T>(const fs::path&, ModelInfo*);
VAEKIT_INSTANTIATE_IO(float)
VAEKIT_INSTANTIATE_IO(double)
#undef VAEKIT_INSTANTIATE_IO

}  // namespace vaekit
