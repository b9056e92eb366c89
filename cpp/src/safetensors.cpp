// The safetensors container of io.hpp: a validating reader and an atomic writer.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <random>
#include <system_error>
#include <type_traits>

#include "json.hpp"
#include "vaekit/safetensors.hpp"
#include "vaekit/random.hpp"

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <io.h>
#include <share.h>
#include <windows.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

namespace vaekit {
namespace {

namespace fs = std::filesystem;

// The reference implementation's limit on the header (safetensors' MAX_HEADER_SIZE).
constexpr std::uint64_t kMaxHeaderBytes = 100000000;
constexpr std::size_t kMaxRank = 8;
constexpr std::size_t kChunkBytes = 1 << 16;  // bytes per read when converting tensor data

std::string quoted(const fs::path& path) { return "'" + path.u8string() + "'"; }

// strerror's text, without strerror's thread-safety and MSVC deprecation issues.
std::string errno_text(int error) {
  return error != 0 ? std::generic_category().message(error) : "unknown error";
}

std::FILE* open_file(const fs::path& path, bool for_writing) {
#ifdef _WIN32
  // Wide-character path (any Unicode name); shared like fopen's files.
  return _wfsopen(path.c_str(), for_writing ? L"wb" : L"rb", _SH_DENYNO);
#else
  return std::fopen(path.c_str(), for_writing ? "wb" : "rb");
#endif
}

bool seek_to(std::FILE* file, std::uint64_t offset) {
  if (offset > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
#ifdef _WIN32
  return _fseeki64(file, static_cast<__int64>(offset), SEEK_SET) == 0;
#else
  return fseeko(file, static_cast<off_t>(offset), SEEK_SET) == 0;
#endif
}

std::int64_t file_length(std::FILE* file) {
#ifdef _WIN32
  if (_fseeki64(file, 0, SEEK_END) != 0) return -1;
  return _ftelli64(file);
#else
  if (fseeko(file, 0, SEEK_END) != 0) return -1;
  return static_cast<std::int64_t>(ftello(file));
#endif
}

std::size_t dtype_size(DType dtype) { return dtype == DType::F32 ? 4 : 8; }

DType parse_dtype(const std::string& name) {
  if (name == "F32") return DType::F32;
  if (name == "F64") return DType::F64;
  if (name == "I64") return DType::I64;
  static const char* const kOthers[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
                                        "BF16", "I32", "U32", "U64", "F4", "F6_E2M3", "F6_E3M2", "E8M0"};
  for (const char* other : kOthers)
    if (name == other) throw InvalidArgument("dtype " + name + " is not supported (vaekit reads F32, F64 and I64)");
  throw InvalidArgument("unknown dtype \"" + name + "\"");
}

// Little-endian encoding whatever the host's byte order.
std::uint64_t load_le(const unsigned char* bytes, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  return value;
}
void store_le(std::uint64_t value, std::size_t size, unsigned char* bytes) {
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
}

template <class T>
std::uint64_t bits_of(T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "32- or 64-bit values only");
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  Bits bits;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}
template <class T>
T from_bits(std::uint64_t bits) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const Bits narrow = static_cast<Bits>(bits);
  T value;
  std::memcpy(&value, &narrow, sizeof(T));
  return value;
}

// One element of a tensor, converted to T. Floating-point T reads F32 and
// F64; std::int64_t reads I64 (converting a float to an integer could be
// undefined behaviour for NaN or huge values).
template <class T>
T decode(const unsigned char* bytes, DType dtype) {
  if constexpr (std::is_same_v<T, std::int64_t>) {
    return from_bits<std::int64_t>(load_le(bytes, 8));
  } else {
    if (dtype == DType::F32) return static_cast<T>(from_bits<float>(load_le(bytes, 4)));
    return static_cast<T>(from_bits<double>(load_le(bytes, 8)));
  }
}

std::int64_t as_integer(const detail::JsonValue& value, const std::string& what) {
  require(value.type == detail::JsonValue::Type::Integer, what + " must be an integer, got " + value.type_name());
  return value.integer;
}

const detail::JsonValue& member(const detail::JsonValue& object, const char* key, const std::string& what) {
  const detail::JsonValue* value = object.find(key);
  require(value != nullptr, what + " has no \"" + key + "\"");
  return *value;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// One tensor entry of the header, checked against the size of the data section.
TensorInfo parse_tensor(const std::string& name, const detail::JsonValue& entry, std::uint64_t data_size) {
  const std::string what = "tensor \"" + name + "\"";
  require(entry.type == detail::JsonValue::Type::Object, what + " must be an object, got " + entry.type_name());
  for (const std::string& key : entry.keys)
    require(key == "dtype" || key == "shape" || key == "data_offsets", what + " has an unknown field \"" + key + "\"");
  TensorInfo tensor;
  tensor.name = name;
  const detail::JsonValue& dtype = member(entry, "dtype", what);
  require(dtype.type == detail::JsonValue::Type::String, what + ": dtype must be a string");
  try {
    tensor.dtype = parse_dtype(dtype.string);
  } catch (const InvalidArgument& error) {
    throw InvalidArgument(what + ": " + error.what());
  }
  const detail::JsonValue& shape = member(entry, "shape", what);
  require(shape.type == detail::JsonValue::Type::Array, what + ": shape must be an array");
  require(shape.items.size() <= kMaxRank, what + ": rank " + std::to_string(shape.items.size()) + " exceeds " +
                                              std::to_string(kMaxRank));
  // The number of elements, checked against the data section as it is
  // accumulated, so that no product overflows and no claim goes unchecked.
  const std::uint64_t element = dtype_size(tensor.dtype);
  const std::uint64_t max_elements = data_size / element;
  std::uint64_t elements = 1;
  bool empty = false, too_large = false;
  for (const detail::JsonValue& dim : shape.items) {
    const std::int64_t n = as_integer(dim, what + ": each dimension");
    require(n >= 0, what + ": negative dimension " + std::to_string(n));
    tensor.shape.push_back(n);
    if (n == 0) empty = true;
    else if (too_large || elements > max_elements / static_cast<std::uint64_t>(n)) too_large = true;
    else elements *= static_cast<std::uint64_t>(n);
  }
  require(empty || !too_large, what + ": shape " + shape_text(tensor.shape) + " needs more bytes than the file's " +
                                   std::to_string(data_size) + " bytes of tensor data");
  const std::uint64_t bytes = empty ? 0 : elements * element;
  const detail::JsonValue& offsets = member(entry, "data_offsets", what);
  require(offsets.type == detail::JsonValue::Type::Array && offsets.items.size() == 2,
          what + ": data_offsets must be an array [begin, end]");
  const std::int64_t begin = as_integer(offsets.items[0], what + ": data_offsets");
  const std::int64_t end = as_integer(offsets.items[1], what + ": data_offsets");
  require(begin >= 0 && begin <= end, what + ": invalid data_offsets [" + std::to_string(begin) + ", " +
                                          std::to_string(end) + "]");
  require(static_cast<std::uint64_t>(end) <= data_size,
          what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] reach past the " +
              std::to_string(data_size) + " bytes of tensor data in the file");
  require(static_cast<std::uint64_t>(end - begin) == bytes,
          what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] span " +
              std::to_string(end - begin) + " bytes, but shape " + shape_text(tensor.shape) + " of " +
              dtype_name(tensor.dtype) + " needs " + std::to_string(bytes));
  tensor.begin = static_cast<std::uint64_t>(begin);
  tensor.end = static_cast<std::uint64_t>(end);
  return tensor;
}

// The tensors must tile the data section: sorted by offset, each starts where
// the previous one ends, and the last ends at the end of the file.
void check_tiling(const std::vector<TensorInfo>& tensors, std::uint64_t data_size) {
  std::vector<const TensorInfo*> order;
  for (const TensorInfo& tensor : tensors) order.push_back(&tensor);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t position = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* tensor : order) {
    require(tensor->begin >= position, "tensors \"" + (previous ? previous->name : "") + "\" and \"" +
                                           tensor->name + "\" overlap");
    require(tensor->begin == position, "a gap of " + std::to_string(tensor->begin - position) +
                                           " bytes before tensor \"" + tensor->name + "\"");
    position = tensor->end;
    previous = tensor;
  }
  require(position == data_size, std::to_string(data_size - position) +
                                     " bytes of data after the last tensor: not a valid safetensors file");
}

Metadata parse_metadata(const detail::JsonValue& value) {
  require(value.type == detail::JsonValue::Type::Object, "__metadata__ must be an object");
  Metadata metadata;
  for (std::size_t i = 0; i < value.keys.size(); ++i) {
    require(value.items[i].type == detail::JsonValue::Type::String,
            "__metadata__ entry \"" + value.keys[i] + "\" must be a string, got " + value.items[i].type_name());
    metadata[value.keys[i]] = value.items[i].string;
  }
  return metadata;
}

}  // namespace

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    default: return "I64";
  }
}

std::int64_t TensorInfo::n_elements() const {
  std::int64_t n = 1;
  for (std::int64_t dim : shape) n *= dim;  // bounded by the file size once validated
  return n;
}

// ============================================================== reading

void SafetensorsReader::FileCloser::operator()(std::FILE* file) const { std::fclose(file); }

SafetensorsReader::SafetensorsReader(const fs::path& path) : path_(path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw IOError("cannot read " + quoted(path) + ": it is a directory", EISDIR);
  errno = 0;
  file_.reset(open_file(path, false));
  if (!file_) {
    const int error = errno;
    throw IOError("cannot open " + quoted(path) + ": " + errno_text(error), error);
  }
  const std::int64_t length = file_length(file_.get());
  if (length < 0 || !seek_to(file_.get(), 0)) throw IOError("cannot read " + quoted(path) + ": seek failed", errno);
  const std::uint64_t size = static_cast<std::uint64_t>(length);
  const std::string prefix = quoted(path) + ": ";
  require(size >= 8, prefix + "is too short to be a safetensors file (" + std::to_string(size) + " bytes)");
  unsigned char length_bytes[8];
  if (std::fread(length_bytes, 1, 8, file_.get()) != 8) throw IOError("cannot read " + quoted(path), errno);
  const std::uint64_t header_length = load_le(length_bytes, 8);
  // Checked against the real file size before anything is allocated for it.
  require(header_length <= size - 8, prefix + "header length " + std::to_string(header_length) +
                                         " exceeds the file's " + std::to_string(size) +
                                         " bytes (a truncated file, or not a safetensors file)");
  require(header_length <= kMaxHeaderBytes,
          prefix + "header length " + std::to_string(header_length) + " exceeds the limit of 100 MB");
  std::string header(static_cast<std::size_t>(header_length), '\0');
  if (header_length > 0 && std::fread(header.data(), 1, header.size(), file_.get()) != header.size())
    throw IOError("cannot read " + quoted(path), errno);
  data_start_ = 8 + header_length;
  const std::uint64_t data_size = size - data_start_;
  try {
    require(!header.empty() && header[0] == '{', "the header is not a JSON object: not a safetensors file");
    const detail::JsonValue root = detail::parse_json(header);
    for (std::size_t i = 0; i < root.keys.size(); ++i) {
      if (root.keys[i] == "__metadata__") {
        metadata_ = parse_metadata(root.items[i]);
      } else {
        index_[root.keys[i]] = tensors_.size();
        tensors_.push_back(parse_tensor(root.keys[i], root.items[i], data_size));
      }
    }
    check_tiling(tensors_, data_size);
  } catch (const InvalidArgument& error) {
    throw InvalidArgument(prefix + error.what());
  }
}

const TensorInfo* SafetensorsReader::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

template <class T>
void SafetensorsReader::read(const TensorInfo& tensor, T* out) {
  constexpr bool integer = std::is_same_v<T, std::int64_t>;
  require(integer == (tensor.dtype == DType::I64),
          quoted(path_) + ": tensor \"" + tensor.name + "\" has dtype " + dtype_name(tensor.dtype) +
              (integer ? ", expected I64" : ", expected F32 or F64"));
  const std::size_t element = dtype_size(tensor.dtype);
  if (!seek_to(file_.get(), data_start_ + tensor.begin)) throw IOError("cannot read " + quoted(path_), errno);
  std::vector<unsigned char> chunk(std::min<std::uint64_t>(kChunkBytes, tensor.end - tensor.begin));
  std::uint64_t remaining = tensor.end - tensor.begin;
  while (remaining > 0) {
    const std::size_t bytes = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, chunk.size()));
    if (std::fread(chunk.data(), 1, bytes, file_.get()) != bytes) {
      // The size was checked when the file was opened: it changed since.
      throw IOError("cannot read " + quoted(path_) + ": the file is shorter than when it was opened", errno);
    }
    for (std::size_t i = 0; i < bytes; i += element) *out++ = decode<T>(chunk.data() + i, tensor.dtype);
    remaining -= bytes;
  }
}

template void SafetensorsReader::read<float>(const TensorInfo&, float*);
template void SafetensorsReader::read<double>(const TensorInfo&, double*);
template void SafetensorsReader::read<std::int64_t>(const TensorInfo&, std::int64_t*);

// ============================================================== writing

template <class T>
void SafetensorsWriter::add_values(const std::string& name, const std::vector<std::int64_t>& shape, const T* values,
                                   DType dtype) {
  require(name != "__metadata__", "a tensor cannot be named __metadata__");
  require(shape.size() <= kMaxRank, "tensor \"" + name + "\": rank above " + std::to_string(kMaxRank));
  for (const Entry& entry : entries_) require(entry.name != name, "duplicate tensor name \"" + name + "\"");
  std::size_t n = 1;
  for (std::int64_t dim : shape) {
    require(dim >= 0, "tensor \"" + name + "\": negative dimension");
    n *= static_cast<std::size_t>(dim);
  }
  Entry entry{name, dtype, shape, std::vector<unsigned char>(n * sizeof(T))};
  for (std::size_t i = 0; i < n; ++i) store_le(bits_of(values[i]), sizeof(T), entry.bytes.data() + i * sizeof(T));
  entries_.push_back(std::move(entry));
}

void SafetensorsWriter::add(const std::string& name, const std::vector<std::int64_t>& shape, const float* values) {
  add_values(name, shape, values, DType::F32);
}
void SafetensorsWriter::add(const std::string& name, const std::vector<std::int64_t>& shape, const double* values) {
  add_values(name, shape, values, DType::F64);
}
void SafetensorsWriter::add(const std::string& name, const std::vector<std::int64_t>& shape,
                            const std::int64_t* values) {
  add_values(name, shape, values, DType::I64);
}

namespace {

// Writes all of `bytes` or throws IOError.
void write_all(std::FILE* file, const void* bytes, std::size_t size, const fs::path& path) {
  if (size > 0 && std::fwrite(bytes, 1, size, file) != size) {
    const int error = errno;
    throw IOError("cannot write " + quoted(path) + ": " + errno_text(error), error);
  }
}

// Flushes the C library's buffer and the operating system's cache to disk.
void flush_to_disk(std::FILE* file, const fs::path& path) {
  bool ok = std::fflush(file) == 0;
#ifdef _WIN32
  ok = ok && _commit(_fileno(file)) == 0;
#else
  ok = ok && fsync(fileno(file)) == 0;
#endif
  if (!ok) {
    const int error = errno;
    throw IOError("cannot write " + quoted(path) + ": " + errno_text(error), error);
  }
}

// Renames `from` over `to`, replacing an existing file. POSIX rename() does
// that atomically; on Windows, rename() refuses an existing target, while
// MoveFileExW with MOVEFILE_REPLACE_EXISTING replaces it.
void replace_file(const fs::path& from, const fs::path& to) {
#ifdef _WIN32
  if (!MoveFileExW(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    const std::error_code ec(static_cast<int>(GetLastError()), std::system_category());
    throw IOError("cannot replace " + quoted(to) + ": " + ec.message(), EACCES);
  }
#else
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    const int error = errno;
    throw IOError("cannot replace " + quoted(to) + ": " + errno_text(error), error);
  }
  // Make the rename itself durable: flush the directory entry (best effort).
  const fs::path directory = to.has_parent_path() ? to.parent_path() : fs::path(".");
  const int fd = ::open(directory.c_str(), O_RDONLY);
  if (fd >= 0) {
    (void)fsync(fd);
    ::close(fd);
  }
#endif
}

// A name for the temporary file beside `path`, unlikely to collide.
fs::path temporary_name(const fs::path& path) {
  std::uint64_t entropy = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  try {
    std::random_device device;
    entropy = mix_seed(entropy, (static_cast<std::uint64_t>(device()) << 32) | device());
  } catch (const std::exception&) {
    // No random device: the clock alone.
  }
  static const char* const kHex = "0123456789abcdef";
  std::string suffix = ".tmp-";
  for (int i = 0; i < 12; ++i) suffix += kHex[(entropy >> (4 * i)) & 0xF];
  fs::path temporary = path;
  temporary += suffix;
  return temporary;
}

}  // namespace

void SafetensorsWriter::write(const fs::path& path) const {
  // The header, then spaces up to a multiple of 8 bytes so that the data is aligned.
  std::string header = "{";
  if (!metadata_.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata_) {
      header += (first ? "" : ",") + detail::json_quote(key) + ":" + detail::json_quote(value);
      first = false;
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const Entry& entry : entries_) {
    header += (header.size() > 1 ? "," : "") + detail::json_quote(entry.name) + ":{\"dtype\":\"" +
              dtype_name(entry.dtype) + "\",\"shape\":[";
    for (std::size_t i = 0; i < entry.shape.size(); ++i) header += (i ? "," : "") + std::to_string(entry.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + entry.bytes.size()) +
              "]}";
    offset += entry.bytes.size();
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  unsigned char length_bytes[8];
  store_le(header.size(), 8, length_bytes);

  const fs::path temporary = temporary_name(path);
  errno = 0;
  std::FILE* file = open_file(temporary, true);
  if (!file) {
    const int error = errno;
    throw IOError("cannot write " + quoted(path) + ": " + errno_text(error), error);
  }
  try {
    write_all(file, length_bytes, 8, path);
    write_all(file, header.data(), header.size(), path);
    for (const Entry& entry : entries_) write_all(file, entry.bytes.data(), entry.bytes.size(), path);
    flush_to_disk(file, path);
    const int closed = std::fclose(file);
    file = nullptr;
    if (closed != 0) {
      const int error = errno;
      throw IOError("cannot write " + quoted(path) + ": " + errno_text(error), error);
    }
    replace_file(temporary, path);
  } catch (...) {
    if (file) std::fclose(file);
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

}  // namespace vaekit
