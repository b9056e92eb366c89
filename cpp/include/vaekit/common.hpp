// Shared types and small utilities of the vaekit C++ library.
//
// Everything in cpp/include/vaekit/ is Python-free: a C++ program can use it
// with nothing but Eigen (and, optionally, OpenMP).
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace vaekit {

// Samples are rows: numpy's default C order maps onto these without a copy.
template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;  // column-major

// Read-only views of caller-owned data (numpy arrays from the bindings).
template <class T>
using ConstRowMatrixRef = Eigen::Ref<const RowMatrix<T>>;
template <class T>
using ConstVectorRef = Eigen::Ref<const Vector<T>>;

using Index = Eigen::Index;

// A vector whose values start at a multiple of kSimdAlignment bytes, however
// this header is compiled. Eigen aligns its own buffers for the instruction
// set of the code that allocates them (16 bytes without AVX), but the
// library's kernels also run AVX-512 (active_isa()), whose loads cost up to
// twice as much when they straddle cache lines: the neural models keep their
// parameters, which those kernels read in place, in one of these.
constexpr std::size_t kSimdAlignment = 64;
template <class T>
class AlignedVector {
 public:
  AlignedVector() = default;
  explicit AlignedVector(Index n) : data_(allocate(n)), size_(n) { std::fill_n(data_.get(), n, T(0)); }
  template <class Derived>
  explicit AlignedVector(const Eigen::DenseBase<Derived>& values) : AlignedVector(values.size()) {
    map() = values;
  }
  AlignedVector(const AlignedVector& other) : AlignedVector(other.map()) {}
  AlignedVector(AlignedVector&& other) noexcept : data_(std::move(other.data_)), size_(other.size_) {
    other.size_ = 0;
  }
  AlignedVector& operator=(AlignedVector other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  Index size() const { return size_; }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> map() { return {data(), size_}; }
  Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> map() const { return {data(), size_}; }

 private:
  struct Free {
    void operator()(T* values) const { ::operator delete[](values, std::align_val_t(kSimdAlignment)); }
  };
  static T* allocate(Index n) {
    if (n <= 0) return nullptr;
    return static_cast<T*>(::operator new[](sizeof(T) * static_cast<std::size_t>(n), std::align_val_t(kSimdAlignment)));
  }
  std::unique_ptr<T, Free> data_;
  Index size_ = 0;
};

// Thrown for invalid arguments at the library's API boundary; the bindings
// translate it to Python's ValueError.
class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

inline void require(bool condition, const std::string& message) {
  if (!condition) throw InvalidArgument(message);
}

// True when none of the n values is NaN or infinite: a vectorised kernel
// compiled for the CPU (see active_isa()); a scalar std::isfinite loop (and
// Eigen's allFinite) costs ~1 ns per value, a pass the size of the parameter
// vector after every training batch.
bool all_finite(const float* values, Index n);
bool all_finite(const double* values, Index n);

// The same for a (possibly strided) matrix view.
template <class T>
bool all_finite(const ConstRowMatrixRef<T>& X) {
  if (X.outerStride() == X.cols()) return all_finite(X.data(), X.size());
  for (Index i = 0; i < X.rows(); ++i)
    if (!all_finite(X.data() + i * X.outerStride(), X.cols())) return false;
  return true;
}

// A read-only view of a caller-owned sparse matrix in compressed sparse row
// form (scipy.sparse's CSR layout, with 64-bit indices): row r's stored
// entries are values[k], in columns indices[k], for k in [indptr[r],
// indptr[r + 1]). Entries not stored are zeros. Duplicate entries of a row
// add up, as in scipy.
template <class T>
struct CsrMatrixView {
  Index rows = 0, cols = 0;
  const std::int64_t* indptr = nullptr;   // rows + 1 non-decreasing offsets
  const std::int64_t* indices = nullptr;  // in [0, cols)
  const T* values = nullptr;
  Index nnz() const { return rows > 0 ? static_cast<Index>(indptr[rows] - indptr[0]) : 0; }
};

// Checks a CSR view's structure (throws InvalidArgument naming `what`):
// offsets non-decreasing from 0, column indices in range. Returns whether a
// stored value is NaN; a stored infinity is an error.
template <class T>
bool check_csr(const CsrMatrixView<T>& X, const char* what) {
  require(X.rows >= 0 && X.cols >= 0, std::string(what) + ": negative shape");
  require(X.rows == 0 || (X.indptr != nullptr && X.indptr[0] == 0),
          std::string(what) + ": indptr must start at 0");
  bool saw_nan = false, saw_inf = false, bad_column = false, bad_offsets = false;
  for (Index r = 0; r < X.rows; ++r) {
    const std::int64_t begin = X.indptr[r], end = X.indptr[r + 1];
    if (end < begin) {
      bad_offsets = true;
      break;
    }
    for (std::int64_t k = begin; k < end; ++k) {
      const std::int64_t column = X.indices[k];
      bad_column |= column < 0 || column >= X.cols;
      const T value = X.values[k];
      if (value != value) saw_nan = true;
      else if (value - value != value - value) saw_inf = true;
    }
  }
  require(!bad_offsets, std::string(what) + ": indptr must be non-decreasing");
  require(!bad_column, std::string(what) + ": a column index is out of range");
  require(!saw_inf, std::string(what) + " contains infinity");
  return saw_nan;
}

// Throws InvalidArgument when a result holds NaN or infinity: finite inputs
// can still overflow the working precision (huge values, float32). The message
// names the rows, as the Python layer's check does for the other methods.
template <class T>
void require_finite_result(const RowMatrix<T>& result, const std::string& what) {
  if (all_finite(result.data(), result.size())) return;
  Index bad = 0, first = -1;
  for (Index i = 0; i < result.rows(); ++i)
    if (!all_finite(result.data() + i * result.cols(), result.cols())) {
      if (first < 0) first = i;
      ++bad;
    }
  throw InvalidArgument(what + ": the result is not finite for " + std::to_string(bad) + " of " +
                        std::to_string(result.rows()) + " rows (first: row " + std::to_string(first) +
                        "): the values are too large" +
                        (sizeof(T) == 4 ? " for float32: use float64 (dtype=np.float64) or scale the data"
                                        : ": scale the data (e.g. with StandardScaler)"));
}

// Number of threads a parallel region should use: n_threads <= 0 means the
// OpenMP default (all cores unless OMP_NUM_THREADS says otherwise). More than
// kMaxThreads throws InvalidArgument: near the OS's thread limit (~10^5)
// OpenMP's thread creation fails and takes the process down.
constexpr int kMaxThreads = 1024;
int resolve_threads(int n_threads);
// Throws InvalidArgument when n_threads exceeds kMaxThreads (for API entry
// points that may end up not using threads for a small problem).
void check_n_threads(int n_threads);

// True when the library was compiled with OpenMP.
bool openmp_enabled();

// The instruction set of the kernels this process runs: "baseline" (SSE2 on
// x86-64, NEON on arm64), "avx2" (x86-64-v3: AVX2, FMA) or "avx512"
// (x86-64-v4: AVX-512 F/BW/CD/DQ/VL). The library holds a copy of its hot
// kernels for each and picks, at first use, the best one the CPU and the OS
// support; the environment variable VAEKIT_ISA=baseline|avx2|avx512 forces
// one (InvalidArgument if unknown, not compiled in, or not supported here).
const char* active_isa();
// The instruction sets this build holds kernels for, best first (whether or
// not this CPU runs them): {"avx512", "avx2", "baseline"} on x86-64.
std::vector<std::string> compiled_isas();
// The x86-64 micro-architecture level the CPU and the OS support: 4 (AVX-512
// F/BW/CD/DQ/VL), 3 (AVX2, FMA, BMI1/2, F16C), else 1 (and on other CPUs).
int x86_64_level();

}  // namespace vaekit
