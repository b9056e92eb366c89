// The kernels of every instruction set this build holds and this CPU runs
// (cpp/src/kernels.hpp) against plain references, and the dispatch.
#include <gtest/gtest.h>

#include <Eigen/LU>
#include <Eigen/QR>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels.hpp"
#include "products.hpp"
#include "sparse_rows.hpp"
#include "test_util.hpp"
#include "vaekit/activation.hpp"
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
  // rank_update: one triangle of C += alpha op(A)^T op(A), the other untouched.
  // The second shape's depth goes in several slices.
  for (const auto& [n, k] : {std::pair<Index, Index>{17, 29}, std::pair<Index, Index>{300, 1001}}) {
    const RowMatrix<T> A = random_normal<T>(k, n, 12), At = A.transpose();
    const RowMatrix<T> C0 = random_normal<T>(n, n, 13);
    const RowMatrix<double> full = C0.template cast<double>() + 0.5 * A.template cast<double>().transpose() *
                                                                  A.template cast<double>();
    for (const bool upper : {false, true}) {
      for (const bool trans_a : {false, true}) {
        RowMatrix<T> C = C0;
        kernels.rank_update(upper, trans_a, n, k, T(0.5), trans_a ? At.data() : A.data(), trans_a ? k : n,
                            C.data(), n);
        for (Index i = 0; i < n; ++i) {
          for (Index j = 0; j < n; ++j) {
            const bool updated = upper ? j >= i : j <= i;
            if (updated) EXPECT_NEAR(C(i, j), full(i, j), tolerance * std::sqrt(double(k))) << upper << trans_a << k;
            else EXPECT_EQ(C(i, j), C0(i, j)) << upper << trans_a;
          }
        }
      }
    }
  }
  // orthonormalise: Q^T Q = I, and Q R = A with R = Q^T A upper triangular, diag(R) as returned.
  {
    const Index m = 31, n = 9;
    const RowMatrix<T> A = random_normal<T>(m, n, 15);
    RowMatrix<T> Q = A;
    Vector<T> diagonal(n);
    kernels.orthonormalise(m, n, Q.data(), n, diagonal.data());
    const Eigen::MatrixXd Qd = Q.template cast<double>(), Ad = A.template cast<double>();
    EXPECT_LT((Qd.transpose() * Qd - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff(), tolerance * 10);
    const Eigen::MatrixXd R = Qd.transpose() * Ad;
    EXPECT_LT((Qd * R - Ad).cwiseAbs().maxCoeff(), tolerance * 10);
    for (Index j = 0; j < n; ++j) {
      EXPECT_NEAR(R(j, j), diagonal(j), tolerance * 10);
      for (Index i = j + 1; i < n; ++i) EXPECT_NEAR(R(i, j), 0.0, tolerance * 10);
    }
  }
  // centre: x - mean, its squared norm, and whether it is finite; add: y += x.
  for (const Index n : {Index(1), Index(7), Index(64), Index(301)}) {
    const Vector<T> x = random_normal<T>(n, 1, 16), mean = random_normal<T>(n, 1, 17);
    Vector<T> out(n);
    T norm = -1;
    EXPECT_TRUE(kernels.centre(x.data(), mean.data(), n, out.data(), &norm));
    EXPECT_EQ(out, (x - mean).eval());
    EXPECT_NEAR(norm, (x - mean).template cast<double>().squaredNorm(), tolerance * n);
    Vector<T> bad = x;
    bad(n / 2) = T(NAN);
    EXPECT_FALSE(kernels.centre(bad.data(), mean.data(), n, out.data(), nullptr));
    Vector<T> y = mean;
    kernels.add(x.data(), n, y.data());
    EXPECT_EQ(y, (mean + x).eval());
  }
  // gram_posterior: M = base + sign G^T G, z = M^-1 a, Sigma = s2 M^-1, log det M.
  {
    const Index d = 6, g_rows = 11;
    const RowMatrix<T> H = random_normal<T>(60, d, 18), G = random_normal<T>(g_rows, d, 19, 0.3);
    const Matrix<T> base = H.transpose() * H;
    const Vector<T> a = random_normal<T>(d, 1, 20);
    const T s2 = T(0.3);
    for (const T sign : {T(-1), T(1)}) {
      const Eigen::MatrixXd M = base.template cast<double>() +
                                double(sign) * G.template cast<double>().transpose() * G.template cast<double>();
      const Eigen::MatrixXd inverse = M.inverse();
      Vector<T> z(d);
      RowMatrix<T> Sigma(d, d);
      const double log_det =
          kernels.gram_posterior(d, base.data(), sign, G.data(), g_rows, a.data(), s2, z.data(), Sigma.data());
      EXPECT_NEAR(log_det, std::log(M.determinant()), tolerance * 100);
      EXPECT_LT((z.template cast<double>() - inverse * a.template cast<double>()).cwiseAbs().maxCoeff(),
                tolerance * 100);
      EXPECT_LT((Sigma.template cast<double>() - 0.3 * inverse).cwiseAbs().maxCoeff(), tolerance * 100);
    }
  }
  // bernoulli: sum_j x_j f_j - softplus(f_j) and scale * (sigmoid(f) - x), all or observed targets.
  for (const Index D : {Index(1), Index(13), Index(784)}) {
    const Vector<T> f = random_normal<T>(D, 1, 24, 4.0);
    Vector<T> x(D), observed(D);
    for (Index j = 0; j < D; ++j) {
      x(j) = T(j % 3 == 0);
      observed(j) = T(j % 4 != 1);
    }
    double all = 0, some = 0;
    Vector<double> derivative(D);
    for (Index j = 0; j < D; ++j) {
      const double fj = f(j), term = x(j) * fj - (std::max(fj, 0.0) + std::log1p(std::exp(-std::abs(fj))));
      all += term;
      some += observed(j) * term;
      derivative(j) = 0.5 * (1.0 / (1.0 + std::exp(-fj)) - x(j));
    }
    Vector<T> d_out(D), scratch(D);
    for (const bool in_double : {false, true}) {
      EXPECT_NEAR(kernels.bernoulli(x.data(), f.data(), D, nullptr, T(1), nullptr, nullptr, in_double), all,
                  tolerance * D);
      EXPECT_NEAR(kernels.bernoulli(x.data(), f.data(), D, d_out.data(), T(0.5), nullptr, nullptr, in_double), all,
                  tolerance * D);
      EXPECT_LT((d_out.template cast<double>() - derivative).cwiseAbs().maxCoeff(), tolerance);
      EXPECT_NEAR(kernels.bernoulli(x.data(), f.data(), D, d_out.data(), T(0.5), scratch.data(), observed.data(),
                                    in_double),
                  some, tolerance * D);
      EXPECT_LT((d_out.template cast<double>() - derivative.cwiseProduct(observed.template cast<double>()))
                    .cwiseAbs()
                    .maxCoeff(),
                tolerance);
    }
  }
  // activate (with and without the bias) and activation_gradient, every
  // activation, against double formulas; the derivative against the
  // activation's derivative at the pre-activation.
  {
    const Index rows = 3, cols = 37;
    const RowMatrix<T> V = random_normal<T>(rows, cols, 30, 3.0);
    const Vector<T> b = random_normal<T>(cols, 1, 31);
    const RowMatrix<T> G = random_normal<T>(rows, cols, 32);
    const auto reference = [](Activation a, double v, double& derivative) {
      const double s = 1.0 / (1.0 + std::exp(-v));
      switch (a) {
        case Activation::ReLU: derivative = v > 0; return std::max(v, 0.0);
        case Activation::Tanh: derivative = 1 - std::tanh(v) * std::tanh(v); return std::tanh(v);
        case Activation::Sigmoid: derivative = s * (1 - s); return s;
        case Activation::Softplus: derivative = s; return std::max(v, 0.0) + std::log1p(std::exp(-std::abs(v)));
        case Activation::Identity: break;
      }
      derivative = 1;
      return v;
    };
    for (const Activation a : {Activation::Identity, Activation::ReLU, Activation::Tanh, Activation::Sigmoid,
                               Activation::Softplus}) {
      SCOPED_TRACE(static_cast<int>(a));
      for (const bool bias : {false, true}) {
        RowMatrix<T> Y = V;
        kernels.activate(Y.data(), rows, cols, bias ? b.data() : nullptr, a);
        RowMatrix<T> gradient = G;
        kernels.activation_gradient(gradient.data(), Y.data(), rows * cols, a);
        for (Index i = 0; i < rows; ++i) {
          for (Index j = 0; j < cols; ++j) {
            double derivative;
            const double expected = reference(a, double(V(i, j)) + (bias ? double(b(j)) : 0.0), derivative);
            ASSERT_NEAR(Y(i, j), expected, tolerance) << i << " " << j;
            ASSERT_NEAR(gradient(i, j), G(i, j) * derivative, tolerance * 10) << i << " " << j;
          }
        }
      }
    }
    T nan = std::numeric_limits<T>::quiet_NaN();
    kernels.activate(&nan, 1, 1, nullptr, Activation::ReLU);
    EXPECT_TRUE(std::isnan(nan));  // a diverged layer stays visible
  }
  // leading_eigen: the largest eigenpairs of symmetric matrices with a gap,
  // with none (eigenvalues 1.005 apart in ratio) and with a repeated
  // eigenvalue, against their construction A = Q diag(lambda) Q^T: the
  // values, orthonormal vectors and residuals ||A v - lambda v||.
  for (const int spectrum : {0, 1, 2}) {
    const Index n = 90, count = 12;
    Eigen::MatrixXd q = random_normal<double>(n, n, 40).householderQr().householderQ();
    Eigen::VectorXd lambda(n);
    for (Index i = 0; i < n; ++i) {
      lambda(i) = spectrum == 0 ? (i < 10 ? 50.0 - i : 1.0 / (1 + i))
                                : spectrum == 1 ? 10.0 * std::pow(1.005, -double(i)) : (i < 4 ? 7.0 : 3.0 - 0.01 * i);
    }
    const RowMatrix<T> a = (q * lambda.asDiagonal() * q.transpose()).template cast<T>();
    Vector<T> values(count);
    RowMatrix<T> vectors(n, count);
    T smallest = NAN;
    ASSERT_TRUE(kernels.leading_eigen(n, a.data(), n, count, values.data(), vectors.data(), count, &smallest));
    {  // vectors == nullptr: the same eigenvalues alone
      Vector<T> values_only(count);
      T smallest_only = NAN;
      ASSERT_TRUE(kernels.leading_eigen(n, a.data(), n, count, values_only.data(), nullptr, count, &smallest_only));
      EXPECT_TRUE(values_only == values && smallest_only == smallest) << "spectrum " << spectrum;
    }
    const Eigen::MatrixXd v = vectors.template cast<double>();
    const double scale = lambda.maxCoeff();
    EXPECT_NEAR(smallest, lambda.minCoeff(), tolerance * 10 * scale) << "spectrum " << spectrum;
    for (Index k = 0; k < count; ++k) {
      SCOPED_TRACE(::testing::Message() << "spectrum " << spectrum << " k " << k);
      EXPECT_NEAR(values(k), lambda(k), tolerance * 10 * scale);
      EXPECT_LT((a.template cast<double>() * v.col(k) - double(values(k)) * v.col(k)).norm(), tolerance * 10 * scale);
    }
    EXPECT_LT((v.transpose() * v - Eigen::MatrixXd::Identity(count, count)).cwiseAbs().maxCoeff(), tolerance * 10);
    if (spectrum == 0) {  // not finite: false, and NaN outputs
      RowMatrix<T> bad = a;
      bad(3, 5) = bad(5, 3) = T(INFINITY);
      RowMatrix<T> bad_vectors(n, count);
      Vector<T> bad_values(count);
      EXPECT_FALSE(kernels.leading_eigen(n, bad.data(), n, count, bad_values.data(), bad_vectors.data(), count,
                                         &smallest));
      EXPECT_TRUE(bad_values.array().isNaN().all() && bad_vectors.array().isNaN().all() && std::isnan(smallest));
      bad_values.setZero();
      EXPECT_FALSE(kernels.leading_eigen(n, bad.data(), n, count, bad_values.data(), nullptr, count, nullptr));
      EXPECT_TRUE(bad_values.array().isNaN().all());
    }
    // Scaled by 1e-15 (float: squares near its smallest normal numbers) or
    // 0: the same vectors, or any orthonormal ones, and nothing overflows.
    for (const T factor : {T(1e-15), T(0)}) {
      const RowMatrix<T> small = a * factor;
      ASSERT_TRUE(kernels.leading_eigen(n, small.data(), n, count, values.data(), vectors.data(), count, nullptr));
      const Eigen::MatrixXd w = vectors.template cast<double>();
      ASSERT_TRUE(w.allFinite() && values.allFinite());
      EXPECT_LT((w.transpose() * w - Eigen::MatrixXd::Identity(count, count)).cwiseAbs().maxCoeff(), tolerance * 10);
      if (factor == T(0)) {
        EXPECT_EQ(values.cwiseAbs().maxCoeff(), T(0));
      } else if (spectrum != 2) {  // distinct eigenvalues: the same vectors up to sign
        EXPECT_LT(((w.transpose() * v).cwiseAbs().colwise().sum().array() - 1).abs().maxCoeff(), 0.01);
      }
    }
  }
  // column_sums, against Eigen in double.
  for (const Index rows : {Index(0), Index(1), Index(29)}) {
    const RowMatrix<T> G = random_normal<T>(rows, 21, 33);
    Vector<T> sums = Vector<T>::Constant(21, NAN);
    kernels.column_sums(G.data(), rows, 21, sums.data());
    const Vector<double> expected = G.template cast<double>().colwise().sum().transpose();
    EXPECT_LT((sums.template cast<double>() - expected).cwiseAbs().maxCoeff(), tolerance * 10) << rows;
  }
  // gaussian: one variance or one per target, all or observed targets,
  // log-variances inside and outside the clamp, against a double loop; its
  // derivatives against central differences of its value (in double).
  for (const Index D : {Index(1), Index(13), Index(300)}) {
    const Vector<T> x = random_normal<T>(D, 1, 34), f = random_normal<T>(D, 1, 35);
    Vector<T> raw = random_normal<T>(D, 1, 36, 2.0), observed(D), x_observed = x;
    raw(0) = T(9);  // clamped to [-4, 4] below
    for (Index j = 0; j < D; ++j) {
      observed(j) = T(j % 4 != 1);
      if (observed(j) == T(0)) x_observed(j) = T(0);
    }
    for (const Index step : {Index(0), Index(1)}) {
      for (const bool with_mask : {false, true}) {
        const T* m = with_mask ? observed.data() : nullptr;
        const T* xs = with_mask ? x_observed.data() : x.data();
        double expected = 0;
        Vector<double> d_f(D), d_l(D), inside(D);
        for (Index j = 0; j < D; ++j) {
          const double raw_j = raw(step * j), l = std::min(std::max(raw_j, -4.0), 4.0);
          const double mj = with_mask ? double(observed(j)) : 1.0, r = mj * (double(xs[j]) - double(f(j)));
          expected += -0.5 * (mj * l + r * r * std::exp(-l));
          d_f(j) = -0.5 * r * std::exp(-l);  // scale 0.5 times d(-log p)/df_j
          d_l(j) = 0.25 * (mj - r * r * std::exp(-l));
          inside(j) = std::abs(raw_j) <= 4.0 ? 1.0 : 0.0;
        }
        for (const bool clamp_derivative : {false, true}) {
          SCOPED_TRACE(::testing::Message() << "D " << D << " step " << step << " mask " << with_mask << " clamp "
                                            << clamp_derivative);
          Vector<T> g_f(D), g_l(D);
          const double value = kernels.gaussian(xs, f.data(), raw.data(), step, D, T(-4), T(4), m, g_f.data(),
                                                g_l.data(), clamp_derivative, T(0.5));
          EXPECT_NEAR(value, expected, tolerance * D);
          EXPECT_NEAR(kernels.gaussian(xs, f.data(), raw.data(), step, D, T(-4), T(4), m, nullptr, nullptr, false,
                                       T(0)),
                      expected, tolerance * D);
          EXPECT_LT((g_f.template cast<double>() - d_f).cwiseAbs().maxCoeff(), tolerance * 10);
          const Vector<double> d_l_clamped = clamp_derivative ? d_l.cwiseProduct(inside) : d_l;
          EXPECT_LT((g_l.template cast<double>() - d_l_clamped).cwiseAbs().maxCoeff(), tolerance * 10);
        }
        if constexpr (std::is_same_v<T, double>) {
          // Central differences of the value in f_j and in the log-variance
          // (inside the clamp), the derivatives being of -log p times 0.5.
          Vector<T> g_f(D), g_l(D);
          kernels.gaussian(xs, f.data(), raw.data(), step, D, T(-4), T(4), m, g_f.data(), g_l.data(), true, T(0.5));
          const auto value_at = [&](const Vector<T>& f_at, const Vector<T>& raw_at) {
            return kernels.gaussian(xs, f_at.data(), raw_at.data(), step, D, T(-4), T(4), m, nullptr, nullptr,
                                    false, T(0));
          };
          const double h = 1e-6;
          for (Index j = 0; j < D; j += 7) {
            Vector<T> up = f, down = f;
            up(j) += h;
            down(j) -= h;
            EXPECT_NEAR(g_f(j), -0.5 * (value_at(up, raw) - value_at(down, raw)) / (2 * h), 1e-6) << j;
            if (step == 1 && j > 0) {
              Vector<T> raw_up = raw, raw_down = raw;
              raw_up(j) += h;
              raw_down(j) -= h;
              EXPECT_NEAR(g_l(j), -0.5 * (value_at(f, raw_up) - value_at(f, raw_down)) / (2 * h), 1e-6) << j;
            }
          }
        }
      }
    }
  }
  // adam: the moments and the update of each entry, against a double loop.
  for (const bool two : {false, true}) {
    for (const bool decay : {false, true}) {
      const Index n = 37;
      Vector<T> params = random_normal<T>(n, 1, 25), m = random_normal<T>(n, 1, 26);
      Vector<T> v = random_normal<T>(n, 1, 27).cwiseAbs();
      const Vector<T> g = random_normal<T>(n, 1, 28), g2 = random_normal<T>(n, 1, 29);
      Vector<T> mask(n);
      for (Index i = 0; i < n; ++i) mask(i) = T(i % 2);
      Vector<double> p_ref = params.template cast<double>(), m_ref = m.template cast<double>(),
                     v_ref = v.template cast<double>();
      for (Index i = 0; i < n; ++i) {
        const double gi = g(i) + (two ? double(g2(i)) : 0.0);
        m_ref(i) = 0.9 * m_ref(i) + 0.1 * gi;
        v_ref(i) = 0.999 * v_ref(i) + 0.001 * gi * gi;
        const double update = 0.01 * m_ref(i) / (std::sqrt(v_ref(i)) + 1e-3) + (decay ? 0.1 * mask(i) * p_ref(i) : 0.0);
        p_ref(i) -= update;
      }
      EXPECT_TRUE(kernels.adam(params.data(), g.data(), two ? g2.data() : nullptr, decay ? mask.data() : nullptr,
                               m.data(), v.data(), 0, n, T(0.9), T(0.999), T(0.01), T(1e-3), T(0.1)));
      EXPECT_LT((params.template cast<double>() - p_ref).cwiseAbs().maxCoeff(), tolerance);
      EXPECT_LT((m.template cast<double>() - m_ref).cwiseAbs().maxCoeff(), tolerance);
      EXPECT_LT((v.template cast<double>() - v_ref).cwiseAbs().maxCoeff(), tolerance);
      Vector<T> huge = Vector<T>::Constant(n, std::numeric_limits<T>::max());
      EXPECT_FALSE(kernels.adam(huge.data(), g.data(), nullptr, mask.data(), m.data(), v.data(), 0, n, T(0.9),
                                T(0.999), T(0.01), T(1e-3), T(-10)));
    }
  }
  // gemm, every transpose combination, with alpha and beta. In float the
  // shapes take both routes of alpha = 1, beta = 0 (gemm's
  // affine_product_pays): the register-blocked kernel for small products
  // (its packet tiles, tails and k-chunks of 256), Eigen's GEMM for larger
  // ones; double takes Eigen's.
  struct Shape {
    Index m, n, k;
  };
  for (const Shape shape : {Shape{9, 11, 23}, Shape{20, 37, 70}, Shape{37, 100, 300}, Shape{130, 70, 600}}) {
    const Index m = shape.m, n = shape.n, k = shape.k;
    const RowMatrix<T> A = random_normal<T>(m, k, 8), B = random_normal<T>(k, n, 9), C0 = random_normal<T>(m, n, 10);
    const RowMatrix<T> At = A.transpose(), Bt = B.transpose();
    const RowMatrix<double> product = A.template cast<double>() * B.template cast<double>();
    const RowMatrix<double> expected = 0.5 * product + 2.0 * C0.template cast<double>();
    // The sums' rounding grows with k.
    const double scaled = tolerance * std::sqrt(static_cast<double>(k) / 23.0);
    for (const bool trans_a : {false, true}) {
      for (const bool trans_b : {false, true}) {
        SCOPED_TRACE(::testing::Message() << m << " x " << n << " x " << k << " " << trans_a << trans_b);
        RowMatrix<T> C = C0;
        kernels.gemm(trans_a, trans_b, m, n, k, T(0.5), trans_a ? At.data() : A.data(), trans_a ? m : k,
                     trans_b ? Bt.data() : B.data(), trans_b ? k : n, T(2), C.data(), n);
        EXPECT_LT((C.template cast<double>() - expected).cwiseAbs().maxCoeff(), scaled);
        RowMatrix<T> fresh = RowMatrix<T>::Constant(m, n, NAN);  // beta = 0 never reads C
        kernels.gemm(trans_a, trans_b, m, n, k, T(1), trans_a ? At.data() : A.data(), trans_a ? m : k,
                     trans_b ? Bt.data() : B.data(), trans_b ? k : n, T(0), fresh.data(), n);
        EXPECT_LT((fresh.template cast<double>() - product).cwiseAbs().maxCoeff(), scaled);
      }
    }
  }
  // The same bits wherever the result sits (a 5 x 5 result of depth 2, as a
  // small model's sample(): Eigen's coefficient-based products peeled up to
  // the first aligned entry), at every offset of a 64-byte line.
  {
    const RowMatrix<T> A = random_normal<T>(5, 2, 15), B = random_normal<T>(2, 5, 16);
    Vector<T> buffer(25 + 16);
    RowMatrix<T> first;
    for (Index offset = 0; offset < 16; ++offset) {
      kernels.gemm(false, false, 5, 5, 2, T(1), A.data(), 2, B.data(), 5, T(0), buffer.data() + offset, 5);
      const RowMatrix<T> result = Eigen::Map<const RowMatrix<T>>(buffer.data() + offset, 5, 5);
      if (offset == 0) first = result;
      else EXPECT_TRUE((result.array() == first.array()).all()) << "offset " << offset;
    }
  }
}

// The normal kernel gives Philox::fill_normal's draws (random.hpp, scalar,
// in double) up to rounding, from any block on and for any count.
template <class T>
void check_normal(const detail::Kernels<T>& kernels) {
  SCOPED_TRACE(kernels.isa);
  // float: the angle is rounded to float (2^-24 of 2 pi), so sin and cos
  // move by up to about 4e-7 each; the radius is at most 8.6.
  const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  for (const std::uint64_t seed : {std::uint64_t(0), std::uint64_t(0x9E3779B97F4A7C15ull)}) {
    for (const std::uint64_t stream : {std::uint64_t(0), std::uint64_t(1), (std::uint64_t(7) << 32) | 12345u}) {
      for (const Index n : {Index(1), Index(2), Index(127), Index(128), Index(129), Index(1000)}) {
        std::vector<T> expected(n), got(n, T(NAN));
        Philox(seed, stream).fill_normal(expected.data(), n);
        kernels.normal(seed, stream, 0, got.data(), n);
        for (Index i = 0; i < n; ++i) {
          ASSERT_NEAR(got[i], expected[i], tolerance * (1 + std::abs(double(expected[i])))) << i << " of " << n;
        }
        // From block 5 on: draws 10 on of the same stream.
        if (n > 12) {
          std::vector<T> tail(n - 10);
          kernels.normal(seed, stream, 5, tail.data(), n - 10);
          for (Index i = 0; i + 10 < n; ++i) ASSERT_NEAR(tail[i], expected[i + 10], tolerance * 10) << i;
        }
      }
    }
  }
  // The moments of many draws: mean 0, variance 1, kurtosis 3 (4 sigma).
  const Index n = 1 << 18;
  std::vector<T> draws(n);
  kernels.normal(42, 3, 0, draws.data(), n);
  double sum = 0, squares = 0, fourth = 0;
  for (const T v : draws) {
    sum += v;
    squares += double(v) * v;
    fourth += double(v) * v * v * v;
  }
  EXPECT_LT(std::abs(sum / n), 4.0 / std::sqrt(double(n)));
  EXPECT_LT(std::abs(squares / n - 1.0), 4.0 * std::sqrt(2.0 / n));
  EXPECT_LT(std::abs(fourth / n - 3.0), 4.0 * std::sqrt(96.0 / n));
}

TEST(Kernels, EveryInstructionSetMatchesTheReferences) {
  int checked = 0;
  for (const char* isa : kIsas) {
    if (const detail::Kernels<float>* kernels = detail::kernels_for<float>(isa)) {
      EXPECT_EQ(std::string(kernels->isa), isa);
      check_isa(*kernels, 1e-3);
      check_isa(*detail::kernels_for<double>(isa), 1e-11);
      check_normal(*kernels);
      check_normal(*detail::kernels_for<double>(isa));
      ++checked;
    }
  }
  EXPECT_GE(checked, 1);  // baseline at least
  EXPECT_NE(detail::kernels_for<float>("baseline"), nullptr);
  EXPECT_EQ(detail::kernels_for<float>("sse9"), nullptr);
}

// products.hpp: Eigen operands of either storage order, blocks and
// transposes, through the dispatched kernels.
TEST(Kernels, ProductsTakeEigenOperandsOfEitherStorageOrder) {
  const RowMatrix<double> A_rows = random_normal<double>(13, 8, 21), B_rows = random_normal<double>(8, 5, 22);
  const Matrix<double> A_cols = A_rows, B_cols = B_rows;
  const Eigen::MatrixXd expected = A_rows * B_rows;
  Matrix<double> C_cols(13, 5);
  RowMatrix<double> C_rows(13, 5);
  detail::gemm(A_rows, B_cols, C_cols);
  EXPECT_LT((C_cols - expected).cwiseAbs().maxCoeff(), 1e-12);
  detail::gemm(A_cols, B_rows, C_rows);
  EXPECT_LT((C_rows - expected).cwiseAbs().maxCoeff(), 1e-12);
  // Blocks, transposes, alpha and beta: C = 2 A[2:7, :]^T ... as blocks of larger matrices.
  const Matrix<double> big = random_normal<double>(20, 20, 23);
  Matrix<double> out = Matrix<double>::Ones(20, 20);
  detail::gemm(big.block(2, 3, 5, 7).transpose(), big.block(1, 1, 5, 4), out.block(4, 5, 7, 4), 2.0, 1.0);
  const Eigen::MatrixXd block_expected =
      Eigen::MatrixXd::Ones(7, 4) + 2.0 * big.block(2, 3, 5, 7).transpose() * big.block(1, 1, 5, 4);
  EXPECT_LT((out.block(4, 5, 7, 4) - block_expected).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_EQ(out.block(0, 0, 4, 20), Eigen::MatrixXd::Ones(4, 20));  // nothing outside the block
  // rank_update_lower on a column-major result, from a row-major or a transposed operand.
  Matrix<double> S = Matrix<double>::Zero(8, 8), S_t = Matrix<double>::Zero(13, 13);
  detail::rank_update_lower(A_rows, S);
  detail::rank_update_lower(A_rows.transpose(), S_t);
  const Eigen::MatrixXd gram = A_rows.transpose() * A_rows, outer = A_rows * A_rows.transpose();
  for (Index j = 0; j < 8; ++j)
    for (Index i = 0; i < 8; ++i) EXPECT_NEAR(S(i, j), i >= j ? gram(i, j) : 0.0, 1e-12);
  for (Index j = 0; j < 13; ++j)
    for (Index i = 0; i < 13; ++i) EXPECT_NEAR(S_t(i, j), i >= j ? outer(i, j) : 0.0, 1e-12);
  // An operand whose entries are strided is refused, not misread.
  Matrix<double> C20(20, 5);
  EXPECT_THROW(detail::gemm(big.row(0).transpose(), B_rows.topRows(1), C20), InvalidArgument);
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
