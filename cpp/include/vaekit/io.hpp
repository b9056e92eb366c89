// Model files: one safetensors file per model (the container: safetensors.hpp).
//
// vaekit model files (format version 1). The metadata holds
//   "kind"            "PPCA", "Autoencoder" or "VAE"
//   "format_version"  "1"
//   "vaekit_version"  the version of vaekit that wrote the file
//   "dtype"           "float32" or "float64": the dtype of the parameter tensors
//   what rebuilds the model: "n_features", "n_components" and
//     Autoencoder, VAE   every hyper-parameter of the model's configuration,
//                        as its fields() describe them (describe.hpp), under
//                        the field's name: AutoencoderConfig ("hidden_layer_sizes"
//                        as a JSON list, e.g. "[256,128]", "activation", "loss")
//                        and VAEConfig ("likelihood", "decoder_variance",
//                        "noise_variance", "beta", "n_mc_samples", ...);
//                        enumerations by their EnumNames, numbers as text
//                        (a field missing from a file, e.g. one older than
//                        the field, takes its default); and "n_iter"
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
//                "optimizer_step"); history.loss_curve, history.validation_scores,
//                history.reconstruction_curve, history.kl_curve (F64): the
//                training history, so that training can continue (the last two:
//                the terms of loss_curve, loss = reconstruction + beta * kl;
//                files without them load with NaN for those epochs).
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
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "vaekit/autoencoder.hpp"
#include "vaekit/common.hpp"
#include "vaekit/ppca.hpp"
#include "vaekit/safetensors.hpp"
#include "vaekit/vae.hpp"

namespace vaekit {

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

// The kinds of model file this library reads and writes ("PPCA",
// "Autoencoder", "VAE"): each model type's kKind, in AnyModel's order.
std::vector<std::string> model_kinds();

}  // namespace vaekit
