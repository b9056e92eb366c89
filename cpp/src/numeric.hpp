// Constants and small numeric helpers shared by the models' sources (private
// to the library): written once here, used by PPCA, the VAE and the tests.
#pragma once

#include <Eigen/Cholesky>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "vaekit/common.hpp"

namespace vaekit::detail {

// log(2 pi), in every Gaussian log-density.
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// log det A of a symmetric positive definite A from its Cholesky factor
// A = L L^T: 2 sum_i log L_ii, accumulated in double.
template <class MatrixType>
double cholesky_log_determinant(const Eigen::LLT<MatrixType>& llt) {
  return 2.0 * llt.matrixLLT().diagonal().array().template cast<double>().log().sum();
}

// FNV-1a hash of a row's bytes: the identity of a sample for the random draws
// made for it, independent of where the row sits in X (VAE::score_samples'
// evaluation noise, PPCA::impute's draws).
template <class T>
std::uint64_t hash_row(const T* row, Index n) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(row);
  const std::size_t count = static_cast<std::size_t>(n) * sizeof(T);
  for (std::size_t i = 0; i < count; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace vaekit::detail
