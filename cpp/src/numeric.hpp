// Constants and small numeric helpers shared by the models' sources (private
// to the library): written once here, used by PPCA, the VAE and the tests.
#pragma once

#include <Eigen/Cholesky>

#include <cmath>

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

}  // namespace vaekit::detail
