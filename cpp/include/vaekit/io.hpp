// Model files: the safetensors format (https://github.com/huggingface/safetensors),
// which the `safetensors` Python package and PyTorch also read.
//
// File layout
//   8 bytes   N, the header length, unsigned 64-bit little-endian
//   N bytes   a JSON object (UTF-8, padded with spaces to a multiple of 8):
//               "__metadata__": {string: string, ...}
//               "<tensor name>": {"dtype": "F32" | "F64" | "I64",
//                                 "shape": [dims...],
//                                 "data_offsets": [begin, end]}   (bytes, from the data start)
//   the data  raw little-endian values, row-major (C order), tensors packed
//             back to back without gaps or overlaps.
//
// vaekit model files (format version 1). The metadata holds
//   "kind"            "PPCA", "Autoencoder" or "VAE"
//   "format_version"  "1"
//   "vaekit_version"  the version of vaekit that wrote the file
//   "dtype"           "float32" or "float64": the dtype of the parameter tensors
//   what rebuilds the model: "n_features", "n_components" and
//     Autoencoder, VAE   "hidden_layer_sizes" (a JSON list, e.g. "[256,128]"),
//                        "activation", "n_iter"
//     Autoencoder        "loss"
//     VAE                "likelihood", "decoder_variance", "noise_variance",
//                        "beta", "n_mc_samples"
//     PPCA               "n_iter"
//   "optimizer_step"  Adam's step count, when the optimiser state is saved
//   and any extra string entries the caller adds (the Python package stores
//   its estimator's hyper-parameters as "param.<name>", JSON-encoded).
// The tensors (names as in PyTorch's state dicts):
//   PPCA         components (d, D) = W^T, mean (D), noise_variance (a 0-d
//                scalar), explained_variance (d); log_likelihood_curve
//                (n_iter, F64, optional: EM's curve)
//   Autoencoder  encoder.<l>.weight (n_out, n_in), encoder.<l>.bias (n_out) for
//   and VAE      each dense layer l = 0, 1, ... and the same for decoder.<l>.
//                Weights use PyTorch's nn.Linear layout, (out, in): a layer
//                computes act(x W^T + b). (vaekit's scikit-learn-style coefs
//                are the transposes, (in, out).) The VAE encoder's last layer
//                has 2d outputs, the mean first, then log k^2; with
//                decoder_variance "network" the decoder's last layer has 2D
//                outputs, the mean first, then log g^2.
//   VAE          decoder.log_variance: the learned log g^2, shape (1) for
//                "scalar", (D) for "diagonal", absent otherwise
//   optional     optimizer.exp_avg, optimizer.exp_avg_sq: Adam's moments, flat,
//                in the order of the model's parameter buffer (with
//                "optimizer_step"); history.loss_curve, history.validation_scores
//                (F64): the training history, so that training can continue.
//
// Reading validates everything before trusting it: the header length against
// the file size (nothing the header merely claims is allocated), the JSON
// syntax, dtypes, shapes against data offsets, offsets inside the data and
// tiling it exactly, then the kind, format version, metadata, and every
// tensor's dtype and shape against the metadata, and finally that the values
// are finite. A malformed file raises InvalidArgument (-> ValueError in
// Python); a file that cannot be opened, read or written raises IOError
// (-> OSError). Writing is atomic: the file is written under a temporary name
// in the target's directory, flushed to disk, then renamed over the target,
// so a failed or interrupted save never leaves a partial file under the
// target's name.
//
// Loading a model saved from Python and running it:
//
//   auto vae = vaekit::load_vae<float>("model.safetensors");
//   vaekit::RowMatrix<float> z = vae.transform(X);   // X: n x n_features
//
// or, when the kind or dtype is not known in advance:
//
//   vaekit::LoadedModel loaded = vaekit::load_model("model.safetensors");
//   std::visit([&](auto& model) { /* model.transform(...) */ }, loaded.model);
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "vaekit/autoencoder.hpp"
#include "vaekit/common.hpp"
#include "vaekit/ppca.hpp"
#include "vaekit/vae.hpp"

namespace vaekit {

// A file that cannot be opened, read, written or renamed; the bindings
// translate it to Python's OSError (its subclass chosen by error_code).
class IOError : public std::runtime_error {
 public:
  explicit IOError(const std::string& message, int error_code = 0)
      : std::runtime_error(message), error_code_(error_code) {}
  // The errno value behind the failure, 0 when there is none.
  int error_code() const { return error_code_; }

 private:
  int error_code_;
};

using Metadata = std::map<std::string, std::string>;

// ================================================================ safetensors

enum class DType { F32, F64, I64 };
const char* dtype_name(DType dtype);  // "F32", "F64", "I64"

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // empty for a 0-d scalar
  std::uint64_t begin = 0, end = 0;  // byte offsets from the start of the data
  std::int64_t n_elements() const;
};

// A safetensors file opened for reading. The constructor reads and validates
// the header (limits: a header of at most 100 MB, as the reference
// implementation; tensors of rank at most 8); the tensor data is read on demand.
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const Metadata& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in header order
  const TensorInfo* find(const std::string& name) const;                // null when absent

  // Reads a tensor's n_elements() values into out, converted to T (float,
  // double or std::int64_t) from its dtype.
  template <class T>
  void read(const TensorInfo& tensor, T* out);

 private:
  struct FileCloser {
    void operator()(std::FILE* file) const;
  };
  std::filesystem::path path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::uint64_t data_start_ = 0;
  Metadata metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;
};

// Collects tensors and metadata, then writes them atomically.
class SafetensorsWriter {
 public:
  void set_metadata(Metadata metadata) { metadata_ = std::move(metadata); }
  // Copies n = product(shape) values (row-major) as F32, F64 or I64.
  void add(const std::string& name, const std::vector<std::int64_t>& shape, const float* values);
  void add(const std::string& name, const std::vector<std::int64_t>& shape, const double* values);
  void add(const std::string& name, const std::vector<std::int64_t>& shape, const std::int64_t* values);
  // Writes the file: a temporary file in the same directory, flushed, then
  // renamed over `path`. Throws IOError, leaving any existing file untouched.
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<unsigned char> bytes;  // little-endian
  };
  template <class T>
  void add_values(const std::string& name, const std::vector<std::int64_t>& shape, const T* values, DType dtype);
  Metadata metadata_;
  std::vector<Entry> entries_;
};

// ================================================================ model files

constexpr int kModelFormatVersion = 1;

struct ModelInfo {
  std::string kind;            // "PPCA", "Autoencoder" or "VAE"
  std::string dtype;           // "float32" or "float64"
  int format_version = 0;
  std::string vaekit_version;  // of the writer
  Metadata metadata;           // the whole "__metadata__" map, these keys included
};

// Reads and validates the header of a model file (not the tensor data).
ModelInfo read_model_info(const std::filesystem::path& path);

// The metadata save() writes for a model, before any extra entries: kind,
// versions, dtype, architecture, n_iter (and optimizer_step when the optimiser
// state is saved).
template <class T>
Metadata model_metadata(const PPCA<T>& model);
template <class T>
Metadata model_metadata(const Autoencoder<T>& model);
template <class T>
Metadata model_metadata(const VAE<T>& model);

// Saves a model with its fitted state (for the neural models also the
// training history and, when present, Adam's state). `extra` adds metadata
// entries; a key that save() writes itself is an InvalidArgument.
template <class T>
void save(const std::filesystem::path& path, const PPCA<T>& model, const Metadata& extra = {});
template <class T>
void save(const std::filesystem::path& path, const Autoencoder<T>& model, const Metadata& extra = {});
template <class T>
void save(const std::filesystem::path& path, const VAE<T>& model, const Metadata& extra = {});

// Loads a model of a known kind, in precision T whatever the file's dtype
// (float64 values are rounded to float32 when T is float). A file of another
// kind is an InvalidArgument. If `info` is given it receives the file's ModelInfo.
template <class T>
PPCA<T> load_ppca(const std::filesystem::path& path, ModelInfo* info = nullptr);
template <class T>
Autoencoder<T> load_autoencoder(const std::filesystem::path& path, ModelInfo* info = nullptr);
template <class T>
VAE<T> load_vae(const std::filesystem::path& path, ModelInfo* info = nullptr);

// Loads any model file in the kind and dtype it was saved with.
using AnyModel = std::variant<PPCA<float>, PPCA<double>, Autoencoder<float>, Autoencoder<double>, VAE<float>,
                              VAE<double>>;
struct LoadedModel {
  ModelInfo info;
  AnyModel model;
};
LoadedModel load_model(const std::filesystem::path& path);

}  // namespace vaekit
