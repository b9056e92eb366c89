// vaekit_encode: encodes samples with a model saved from Python, in C++.
//
//   vaekit_encode MODEL DATA
//
// MODEL  a model file written in Python by `est.save(path)`: a PPCA,
//        Autoencoder or VAE, float32 or float64 (the safetensors format
//        described in vaekit/io.hpp).
// DATA   the samples, one per row, n_features columns:
//        - a file ending in .npy (numpy.save): a 2-D array of little-endian
//          float32 or float64 in C order;
//        - any other file is read as CSV: numbers separated by commas, one
//          sample per line; a first line without any number is a header and
//          is skipped (as by the Python command line, `vaekit encode`).
//
// It prints the latent means as CSV on stdout, one line per sample and no
// header: what `est.transform(X)` returns in Python (PPCA: the posterior mean
// E[z|x]; Autoencoder: the encoder's output; VAE: the mean of q(z|x)). The
// data is converted to the model's dtype first, so the output is that of
// `est.transform(X.astype(dtype))`, printed with enough significant digits to
// give back the same values (9 for float32, 17 for float64). A PPCA treats
// NaN entries ("nan" in the CSV) as missing, as Python's does for a model
// fitted by EM; the neural models reject them.
//
// Exit status: 0 on success; 1 on an error (a missing or malformed file, data
// of the wrong width), reported on one line on stderr; 2 on wrong usage.
//
// Build it against the installed Python package (or a plain CMake install):
//
//   cmake -S examples/cpp -B build/encode -DCMAKE_PREFIX_PATH="$(python -m vaekit --cmake-dir)"
//   cmake --build build/encode --config Release
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <vaekit/io.hpp>

namespace {

using vaekit::Index;
using vaekit::RowMatrix;

const char* const kUsage =
    "usage: vaekit_encode MODEL DATA\n"
    "  MODEL  a model file saved from Python with est.save(path)\n"
    "  DATA   samples in rows: a .npy file (2-D float32/float64) or a CSV file\n"
    "Prints the latent means (what est.transform returns) as CSV on stdout.\n";

// A problem with the data file, reported as it is.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string read_whole_file(const std::string& path) {
  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw DataError("cannot open '" + path + "': " + std::strerror(errno));
  std::string contents;
  char buffer[1 << 16];
  std::size_t count;
  while ((count = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) contents.append(buffer, count);
  if (std::ferror(file.get())) throw DataError("cannot read '" + path + "': " + std::strerror(errno));
  return contents;
}

// ---------------------------------------------------------------- CSV

// Parses one field as a number (std::strtod: decimal, exponent, inf, nan), or
// returns false. No setlocale() call anywhere, so the decimal point is '.'.
bool parse_number(const std::string& field, double& value) {
  const std::size_t first = field.find_first_not_of(" \t");
  if (first == std::string::npos) return false;
  const std::size_t last = field.find_last_not_of(" \t");
  const std::string text = field.substr(first, last - first + 1);
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma - start));
    if (comma == std::string::npos) return fields;
    start = comma + 1;
  }
}

RowMatrix<double> parse_csv(const std::string& text, const std::string& name) {
  std::vector<double> values;
  Index n_columns = 0, n_rows = 0;
  bool first_line = true;  // the first line that is not blank
  std::size_t line_number = 0, start = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;  // a UTF-8 byte order mark (spreadsheets write one)
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are skipped

    const std::vector<std::string> fields = split_fields(line);
    std::vector<double> row(fields.size());
    std::vector<std::size_t> bad_fields;  // the fields that are not numbers
    for (std::size_t j = 0; j < fields.size(); ++j)
      if (!parse_number(fields[j], row[j])) bad_fields.push_back(j);
    const bool header = first_line && bad_fields.size() == fields.size();  // the column names
    first_line = false;
    if (header) continue;
    if (!bad_fields.empty())
      throw DataError(name + ", line " + std::to_string(line_number) + ": field " +
                      std::to_string(bad_fields[0] + 1) + " (\"" + fields[bad_fields[0]].substr(0, 40) +
                      "\") is not a number");
    if (n_rows == 0) {
      n_columns = static_cast<Index>(fields.size());
    } else if (static_cast<Index>(fields.size()) != n_columns) {
      throw DataError(name + ", line " + std::to_string(line_number) + ": " + std::to_string(fields.size()) +
                      " fields, but the first row has " + std::to_string(n_columns));
    }
    values.insert(values.end(), row.begin(), row.end());
    ++n_rows;
  }
  RowMatrix<double> X(n_rows, n_columns);
  if (!values.empty()) std::memcpy(X.data(), values.data(), values.size() * sizeof(double));
  return X;
}

// ---------------------------------------------------------------- .npy

// The .npy format (numpy.lib.format): the magic string "\x93NUMPY", the major
// and minor version bytes, the header length (2 bytes little-endian in
// version 1, 4 bytes in versions 2 and 3), the header, a Python dict literal
// such as {'descr': '<f8', 'fortran_order': False, 'shape': (100, 4), },
// then the raw values.

std::uint64_t little_endian(const std::string& bytes, std::size_t offset, int n_bytes) {
  std::uint64_t value = 0;
  for (int i = n_bytes - 1; i >= 0; --i)
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)]);
  return value;
}

// The text after "'key':" in the header dict, leading spaces skipped.
std::string dict_value(const std::string& header, const std::string& key, const std::string& what) {
  std::size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) throw DataError(what + ": the .npy header has no '" + key + "' entry");
  at = header.find_first_not_of(" ", at + key.size() + 2);
  if (at == std::string::npos || header[at] != ':')
    throw DataError(what + ": malformed .npy header: " + header);
  at = header.find_first_not_of(" ", at + 1);
  return at == std::string::npos ? std::string() : header.substr(at);
}

// Parses "(n, m)" (any number of dimensions) from the start of text.
std::vector<std::uint64_t> parse_shape(const std::string& text, const std::string& what) {
  const std::string malformed = what + ": malformed 'shape' in the .npy header: " + text.substr(0, text.find(')') + 1);
  if (text.empty() || text[0] != '(') throw DataError(malformed);
  std::vector<std::uint64_t> shape;
  std::size_t at = 1;
  for (;;) {
    at = text.find_first_not_of(" ", at);
    if (at == std::string::npos) throw DataError(malformed);
    if (text[at] == ')') return shape;
    if (text[at] < '0' || text[at] > '9') throw DataError(malformed);
    errno = 0;
    char* end = nullptr;
    const unsigned long long dimension = std::strtoull(text.c_str() + at, &end, 10);
    if (errno == ERANGE) throw DataError(malformed);
    shape.push_back(dimension);
    at = text.find_first_not_of(" ", static_cast<std::size_t>(end - text.c_str()));
    if (at != std::string::npos && text[at] == ',') ++at;
  }
}

RowMatrix<double> parse_npy(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw DataError(name + ": not a .npy file (it does not start with \\x93NUMPY)");
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3)
    throw DataError(name + ": .npy format version " + std::to_string(major) + " is not supported (1 to 3 are)");
  const std::size_t header_start = major == 1 ? 10 : 12;
  if (bytes.size() < header_start) throw DataError(name + ": truncated .npy header");
  const std::uint64_t header_length = little_endian(bytes, 8, major == 1 ? 2 : 4);
  if (header_length > bytes.size() - header_start) throw DataError(name + ": truncated .npy header");
  const std::string header = bytes.substr(header_start, header_length);

  const std::string descr = dict_value(header, "descr", name);
  int item_size;
  if (descr.compare(0, 5, "'<f8'") == 0) {
    item_size = 8;
  } else if (descr.compare(0, 5, "'<f4'") == 0) {
    item_size = 4;
  } else {
    const std::string dtype = descr.substr(0, descr.find_first_of(",}"));
    const bool big_endian = descr.compare(0, 2, "'>") == 0;
    throw DataError(name + ": dtype " + dtype + " is not supported: " +
                    (big_endian ? "it is big-endian; " : "") +
                    "save little-endian float32 or float64, e.g. np.save(path, X.astype('<f8'))");
  }
  if (dict_value(header, "fortran_order", name).compare(0, 5, "False") != 0)
    throw DataError(name + ": the array is in Fortran order; save np.ascontiguousarray(X) instead");
  const std::vector<std::uint64_t> shape = parse_shape(dict_value(header, "shape", name), name);
  if (shape.size() != 2)
    throw DataError(name + ": a " + std::to_string(shape.size()) +
                    "-D array; a 2-D array (one sample per row) is needed");

  const std::uint64_t n_rows = shape[0], n_columns = shape[1];
  if (n_rows == 0 || n_columns == 0) throw DataError(name + ": no samples (an empty array)");
  const std::uint64_t data_start = header_start + header_length, data_bytes = bytes.size() - data_start;
  const std::uint64_t max_values = std::numeric_limits<std::uint64_t>::max() / 8;
  if (n_rows > max_values / n_columns || n_rows * n_columns * item_size != data_bytes)
    throw DataError(name + ": the header gives shape (" + std::to_string(n_rows) + ", " + std::to_string(n_columns) +
                    ") of " + std::to_string(item_size) + "-byte values, but the file holds " +
                    std::to_string(data_bytes) + " bytes of data");

  // Decoded byte by byte, so that it works whatever the machine's byte order.
  RowMatrix<double> X(static_cast<Index>(n_rows), static_cast<Index>(n_columns));
  for (Index i = 0; i < X.size(); ++i) {
    const std::uint64_t bits = little_endian(bytes, data_start + static_cast<std::size_t>(i) * item_size, item_size);
    if (item_size == 8) {
      std::memcpy(X.data() + i, &bits, 8);
    } else {
      const std::uint32_t bits32 = static_cast<std::uint32_t>(bits);
      float value;
      std::memcpy(&value, &bits32, 4);
      X.data()[i] = value;
    }
  }
  return X;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

RowMatrix<double> read_data(const std::string& path) {
  const std::string contents = read_whole_file(path), name = "'" + path + "'";
  RowMatrix<double> X = ends_with(path, ".npy") ? parse_npy(contents, name) : parse_csv(contents, name);
  if (X.rows() == 0 || X.cols() == 0) throw DataError(name + ": no samples");
  return X;
}

// ---------------------------------------------------------------- encoding

template <class Model>
struct ScalarOf;
template <template <class> class Model, class T>
struct ScalarOf<Model<T>> {
  using type = T;
};

// Encodes the data in the model's precision and prints the latent means.
template <class Model>
void print_latent_means(const Model& model, const vaekit::ModelInfo& info, const RowMatrix<double>& data,
                        const std::string& data_path) {
  using T = typename ScalarOf<Model>::type;
  if (data.cols() != model.n_features())
    throw DataError("'" + data_path + "' has " + std::to_string(data.cols()) + " columns, but the model (" + info.kind +
                    ") expects " + std::to_string(model.n_features()) + " features");
  const RowMatrix<T> X = data.template cast<T>();
  RowMatrix<T> Z;
  try {
    Z = model.transform(X);
  } catch (const vaekit::InvalidArgument& error) {  // e.g. "X contains NaN or infinity": say which file
    throw DataError("'" + data_path + "': " + error.what());
  }

  // Enough significant digits that the printed text reads back as the same value.
  const char* const format = sizeof(T) == 4 ? "%.9g" : "%.17g";
  for (Index i = 0; i < Z.rows(); ++i) {
    for (Index j = 0; j < Z.cols(); ++j) {
      if (j > 0) std::fputc(',', stdout);
      std::printf(format, static_cast<double>(Z(i, j)));
    }
    std::fputc('\n', stdout);
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    throw std::runtime_error(std::string("cannot write the output: ") + std::strerror(errno));
}

// The error on one line of stderr.
void report(const char* message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "vaekit_encode: error: %s\n", line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (argc != 3) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string model_path = argv[1], data_path = argv[2];
  try {
    // load_model validates the whole file and throws vaekit::IOError (cannot
    // read it) or vaekit::InvalidArgument (not a valid model file).
    const vaekit::LoadedModel loaded = vaekit::load_model(model_path);
    const RowMatrix<double> data = read_data(data_path);
    std::visit([&](const auto& model) { print_latent_means(model, loaded.info, data, data_path); }, loaded.model);
  } catch (const std::exception& error) {
    report(error.what());
    return 1;
  } catch (...) {
    report("unknown exception");
    return 1;
  }
  return 0;
}
