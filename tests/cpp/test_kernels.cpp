// The kernels of every instruction set this build holds and this CPU runs
// (cpp/src/kernels.hpp) against plain references, and the dispatch.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels.hpp"
#include "sparse_rows.hpp"
#include "test_util.hpp"
#include "vaekit/common.hpp"
#include "vaekit/vae.hpp"

namespace vaekit::testing {
namespace {

const char* const kIsas[] = {"baseline", "avx2", "avx512"};

// Y = X W + b in double, the reference of the affine products.
template <class T>
RowMatrix<double> affine_reference(const RowMatrix<T>& X, const RowMatrix<T>& W, const Vector<T>& b) {
  RowMatrix<double> Y = X.template cast<double>() * W.template cast<double>();
  Y.rowwise() += b.template cast<double>().transpose();
  return Y;
}

template <class T>
void check_isa(const detail::Kernels<T>& kernels, double tolerance) {
  SCOPED_TRACE(kernels.isa);
  for (const Index n_out : {Index(1), Index(7), Index(37), Index(130)}) {
    const Index rows = 13, n_in = 300;
    const RowMatrix<T> X = random_sparse<T>(rows, n_in, 0.2, 5);
    const RowMatrix<T> W = random_normal<T>(n_in, n_out, 6);
    const Vector<T> b = random_normal<T>(n_out, 1, 7);
    const RowMatrix<double> expected = affine_reference(X, W, b);
    RowMatrix<T> dense(rows, n_out), sparse(rows, n_out);
    kernels.affine(X.data(), rows, n_in, W.data(), b.data(), n_in, n_out, dense.data(), 0, n_out);
    EXPECT_LT((dense.template cast<double>() - expected).cwiseAbs().maxCoeff(), tolerance) << "n_out " << n_out;
    // The sparse product gives the dense one's bits.
    std::vector<int> index(detail::sparse_capacity(rows, n_in));
    std::vector<T> value(index.size());
    std::vector<Index> start(rows + 1);
    ASSERT_TRUE(kernels.compress_rows(X.data(), rows, n_in, n_in, index.data(), value.data(), start.data()));
    EXPECT_EQ(start[rows], (X.array() != T(0)).count());
    kernels.affine_sparse({index.data(), value.data(), start.data()}, rows, W.data(), detail::SumStart::Bias,
                          b.data(), n_out, sparse.data(), 0, n_out);
    EXPECT_EQ(sparse, dense) << "n_out " << n_out;
  }
  // compress_rows gives up on dense rows; all_finite finds a NaN or an infinity anywhere.
  {
    const RowMatrix<T> dense = random_normal<T>(4, 100, 11);
    std::vector<int> index(detail::sparse_capacity(4, 100));
    std::vector<T> value(index.size());
    std::vector<Index> start(5);
    EXPECT_FALSE(kernels.compress_rows(dense.data(), 4, 100, 100, index.data(), value.data(), start.data()));
    for (const Index n : {Index(1), Index(7), Index(64), Index(1001)}) {
      std::vector<T> values(n, T(1.5));
      EXPECT_TRUE(kernels.all_finite(values.data(), n));
      for (const T bad : {T(NAN), T(INFINITY), -T(INFINITY)}) {
        values[n - 1] = bad;
        EXPECT_FALSE(kernels.all_finite(values.data(), n)) << n;
        values[n - 1] = T(1.5);
        values[0] = bad;
        EXPECT_FALSE(kernels.all_finite(values.data(), n)) << n;
        values[0] = T(1.5);
      }
    }
  }
  // gemm, every transpose combination, with alpha and beta.
  const Index m = 9, n = 11, k = 23;
  const RowMatrix<T> A = random_normal<T>(m, k, 8), B = random_normal<T>(k, n, 9), C0 = random_normal<T>(m, n, 10);
  const RowMatrix<T> At = A.transpose(), Bt = B.transpose();
  const RowMatrix<double> expected =
      0.5 * A.template cast<double>() * B.template cast<double>() + 2.0 * C0.template cast<double>();
  for (const bool trans_a : {false, true}) {
    for (const bool trans_b : {false, true}) {
      RowMatrix<T> C = C0;
      kernels.gemm(trans_a, trans_b, m, n, k, T(0.5), trans_a ? At.data() : A.data(), trans_a ? m : k,
                   trans_b ? Bt.data() : B.data(), trans_b ? k : n, T(2), C.data(), n);
      EXPECT_LT((C.template cast<double>() - expected).cwiseAbs().maxCoeff(), tolerance)
          << trans_a << trans_b;
      RowMatrix<T> fresh = RowMatrix<T>::Constant(m, n, NAN);  // beta = 0 never reads C
      kernels.gemm(trans_a, trans_b, m, n, k, T(1), trans_a ? At.data() : A.data(), trans_a ? m : k,
                   trans_b ? Bt.data() : B.data(), trans_b ? k : n, T(0), fresh.data(), n);
      EXPECT_LT((fresh.template cast<double>() - A.template cast<double>() * B.template cast<double>())
                    .cwiseAbs()
                    .maxCoeff(),
                tolerance);
    }
  }
}

TEST(Kernels, EveryInstructionSetMatchesTheReferences) {
  int checked = 0;
  for (const char* isa : kIsas) {
    if (const detail::Kernels<float>* kernels = detail::kernels_for<float>(isa)) {
      EXPECT_EQ(std::string(kernels->isa), isa);
      check_isa(*kernels, 1e-3);
      check_isa(*detail::kernels_for<double>(isa), 1e-11);
      ++checked;
    }
  }
  EXPECT_GE(checked, 1);  // baseline at least
  EXPECT_NE(detail::kernels_for<float>("baseline"), nullptr);
  EXPECT_EQ(detail::kernels_for<float>("sse9"), nullptr);
}

TEST(Kernels, DispatchPicksTheBestSupportedOrTheRequestedOne) {
  const std::string active = active_isa();
  EXPECT_EQ(std::string(detail::kernels<float>().isa), active);
  EXPECT_EQ(std::string(detail::kernels<double>().isa), active);
  const char* requested = std::getenv("VAEKIT_ISA");
  if (requested != nullptr && std::string(requested) != "auto" && *requested != '\0') {
    EXPECT_EQ(active, requested);
    return;
  }
  // The best this build holds and this CPU runs.
  for (const char* isa : kIsas) {
    if (detail::kernels_for<float>(isa) != nullptr && std::string(isa) != active) {
      const int rank_isa = std::string(isa) == "avx512" ? 3 : std::string(isa) == "avx2" ? 2 : 1;
      const int rank_active = active == "avx512" ? 3 : active == "avx2" ? 2 : 1;
      EXPECT_LT(rank_isa, rank_active) << isa << " is supported and better than " << active;
    }
  }
}

}  // namespace
}  // namespace vaekit::testing

namespace vaekit::testing {
namespace {

// The neural models' parameters, which the kernels read in place, start on a
// 64-byte boundary (AlignedVector), also when copied, moved or restored.
TEST(AlignedVector, KeepsTheAlignmentAndTheValues) {
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % kSimdAlignment == 0; };
  for (const Index n : {Index(1), Index(3), Index(100000)}) {
    AlignedVector<float> a(n);
    ASSERT_TRUE(aligned(a.data()));
    EXPECT_TRUE(a.map().isZero());
    a.map().setLinSpaced(n, 1.0f, 2.0f);
    AlignedVector<float> b(a);
    EXPECT_TRUE(aligned(b.data()));
    EXPECT_NE(b.data(), a.data());
    EXPECT_EQ(b.map(), a.map());
    const float* storage = b.data();
    AlignedVector<float> c(std::move(b));
    EXPECT_EQ(c.data(), storage);
    EXPECT_EQ(b.size(), 0);
    b = c;
    EXPECT_EQ(b.map(), a.map());
  }
  VAEConfig config;
  config.n_features = 13;
  config.hidden_layer_sizes = {7};
  VAE<float> model(config);
  model.initialize(1, random_normal<float>(20, 13, 2));
  EXPECT_TRUE(aligned(model.parameters().data()));
  const VAE<float> copy = model;
  EXPECT_TRUE(aligned(copy.parameters().data()));
  EXPECT_EQ(copy.parameters(), model.parameters());
}

}  // namespace
}  // namespace vaekit::testing
