// The safetensors container (https://github.com/huggingface/safetensors),
// which the `safetensors` Python package and PyTorch also read: a validating
// reader and an atomic writer, independent of vaekit's models (io.hpp builds
// the model files on it).
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
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "vaekit/common.hpp"

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

}  // namespace vaekit
