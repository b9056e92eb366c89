// Helpers shared by the C++ tests: random matrices and a scratch directory.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "vaekit/common.hpp"
#include "vaekit/random.hpp"

namespace vaekit::testing {

// An n x m matrix of independent N(0, scale^2) draws.
template <class T>
RowMatrix<T> random_normal(Index n, Index m, std::uint64_t seed, double scale = 1.0) {
  Philox rng(seed);
  RowMatrix<T> values(n, m);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < m; ++j) values(i, j) = static_cast<T>(scale * rng.normal());
  return values;
}

// An n x m matrix of uniform draws in (0, 1).
template <class T>
RowMatrix<T> random_uniform(Index n, Index m, std::uint64_t seed) {
  Philox rng(seed);
  RowMatrix<T> values(n, m);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < m; ++j) values(i, j) = static_cast<T>(rng.uniform());
  return values;
}

// A mostly-zero matrix: each entry nonzero (N(0, 1)) with probability `density`.
template <class T>
RowMatrix<T> random_sparse(Index n, Index m, double density, std::uint64_t seed) {
  RowMatrix<T> values = random_normal<T>(n, m, seed);
  const RowMatrix<T> keep = random_uniform<T>(n, m, seed + 1);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < m; ++j)
      if (keep(i, j) >= density) values(i, j) = T(0);
  return values;
}

// A fresh empty directory per test, removed afterwards.
class ScratchDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    std::string name = "vaekit-test-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" +
                       std::to_string(stamp);
    for (char& c : name)
      if (c == '/') c = '_';  // parameterised tests are named "Instance/Suite"
    directory_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  std::filesystem::path file(const std::string& name) const { return directory_ / name; }

  std::filesystem::path directory_;
};

}  // namespace vaekit::testing
