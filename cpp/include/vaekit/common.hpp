// Shared types and small utilities of the vaekit C++ library.
//
// Everything in cpp/include/vaekit/ is Python-free: a C++ program can use it
// with nothing but Eigen (and, optionally, OpenMP).
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <stdexcept>
#include <string>

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

// Thrown for invalid arguments at the library's API boundary; the bindings
// translate it to Python's ValueError.
class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

inline void require(bool condition, const std::string& message) {
  if (!condition) throw InvalidArgument(message);
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

}  // namespace vaekit
