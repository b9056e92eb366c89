// PPCA against independent computations: Tipping & Bishop's closed form from
// a full eigendecomposition of the sample covariance, the dense Gaussian
// log-density, and EM's monotone log-likelihood.
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <cmath>
#include <limits>
#include <vector>

#include "test_util.hpp"
#include "vaekit/ppca.hpp"

namespace vaekit::testing {
namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// n samples of a 3-dimensional latent structure in D dimensions plus
// isotropic noise, with a non-zero mean.
RowMatrix<double> structured_data(Index n, Index D, std::uint64_t seed) {
  const RowMatrix<double> loadings = random_normal<double>(D, 3, seed, 2.0);
  const RowMatrix<double> latent = random_normal<double>(n, 3, seed + 1);
  RowMatrix<double> X = latent * loadings.transpose() + random_normal<double>(n, D, seed + 2, 0.5);
  X.rowwise() += Eigen::RowVectorXd::LinSpaced(D, -3.0, 5.0);
  return X;
}

PPCAOptions closed_form(Index d) {
  PPCAOptions options;
  options.n_components = d;
  return options;
}

PPCAOptions em(Index d, int max_iter, std::vector<double>* curve) {
  PPCAOptions options;
  options.n_components = d;
  options.method = PPCAMethod::EM;
  options.max_iter = max_iter;
  options.tol = 0.0;  // run every iteration
  options.seed = 7;
  if (curve) {
    options.on_iteration = [curve](int, double log_likelihood) {
      curve->push_back(log_likelihood);
      return true;
    };
  }
  return options;
}

TEST(PPCAClosedForm, MatchesTippingBishopFromTheSampleCovariance) {
  const Index n = 400, D = 8, d = 3;
  const RowMatrix<double> X = structured_data(n, D, 11);
  const PPCA<double> model = PPCA<double>::fit(X, closed_form(d));

  // Independent reference: mean, covariance (divided by n), full eigendecomposition.
  const Eigen::VectorXd mean = X.colwise().mean().transpose();
  const Eigen::MatrixXd centred = X.rowwise() - mean.transpose();
  const Eigen::MatrixXd S = centred.transpose() * centred / static_cast<double>(n);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(S);
  const Eigen::VectorXd values = eigen.eigenvalues().reverse();  // descending
  const Eigen::MatrixXd vectors = eigen.eigenvectors().rowwise().reverse();
  // sigma^2 = mean of the discarded eigenvalues (Tipping & Bishop eq. 8),
  // W = U_d (L_d - sigma^2 I)^{1/2} (eq. 7, with R = I).
  const double sigma2 = values.tail(D - d).mean();
  const Eigen::MatrixXd W = vectors.leftCols(d) * (values.head(d).array() - sigma2).sqrt().matrix().asDiagonal();

  EXPECT_NEAR(model.noise_variance(), sigma2, 1e-10 * sigma2);
  EXPECT_LT((model.mean() - mean).norm(), 1e-12 * mean.norm());
  // W is identifiable only up to a rotation: compare W W^T.
  const Eigen::MatrixXd WWt = model.components().transpose() * model.components();
  const Eigen::MatrixXd reference = W * W.transpose();
  EXPECT_LT((WWt - reference).norm(), 1e-9 * reference.norm());
  // The d largest eigenvalues of C = W W^T + sigma^2 I are those of S.
  for (Index k = 0; k < d; ++k) EXPECT_NEAR(model.explained_variance()(k), values(k), 1e-9 * values(0));
}

TEST(PPCALogLikelihood, MatchesTheDenseGaussianDensity) {
  const Index D = 6;
  const RowMatrix<double> X = structured_data(200, D, 3);
  const PPCA<double> model = PPCA<double>::fit(X, closed_form(2));
  const Vector<double> scores = model.score_samples(X.topRows(20));

  // log N(x; mu, C) with C built densely and factorised by Cholesky.
  const Eigen::MatrixXd C = model.covariance();
  const Eigen::LLT<Eigen::MatrixXd> cholesky(C);
  ASSERT_EQ(cholesky.info(), Eigen::Success);
  const double log_det = 2.0 * cholesky.matrixL().toDenseMatrix().diagonal().array().log().sum();
  for (Index i = 0; i < 20; ++i) {
    const Eigen::VectorXd residual = X.row(i).transpose() - model.mean();
    const double mahalanobis = residual.dot(cholesky.solve(residual));
    const double expected = -0.5 * (D * kLog2Pi + log_det + mahalanobis);
    EXPECT_NEAR(scores(i), expected, 1e-10 * std::abs(expected));
  }
}

// NaN: a missing value by default, an error with allow_missing = false;
// infinity: always an error.
TEST(PPCAInference, NaNIsMissingOrAnErrorAsAsked) {
  const PPCA<double> model = PPCA<double>::fit(structured_data(200, 6, 3), closed_form(2));
  RowMatrix<double> X = structured_data(10, 6, 4);
  X(7, 2) = std::nan("");
  EXPECT_TRUE(model.transform(X).allFinite());
  EXPECT_TRUE(model.score_samples(X).allFinite());
  EXPECT_THROW(model.transform(X, 0, /*allow_missing=*/false), InvalidArgument);
  EXPECT_THROW(model.score_samples(X, 0, /*allow_missing=*/false), InvalidArgument);
  X(7, 2) = 1.0;
  EXPECT_EQ(model.score_samples(X, 0, false), model.score_samples(X));
  X(3, 0) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(model.score_samples(X), InvalidArgument);
}

TEST(PPCAEM, LogLikelihoodNeverDecreases) {
  const RowMatrix<double> X = structured_data(300, 7, 5);
  std::vector<double> curve;
  const PPCA<double> model = PPCA<double>::fit(X, em(3, 150, &curve));
  ASSERT_EQ(curve.size(), 150u);
  EXPECT_EQ(model.log_likelihood_curve(), curve);
  for (std::size_t k = 1; k < curve.size(); ++k)
    EXPECT_GE(curve[k], curve[k - 1] - 1e-12 * std::abs(curve[k])) << "iteration " << k;
}

TEST(PPCAEM, LogLikelihoodNeverDecreasesWithMissingValues) {
  RowMatrix<double> X = structured_data(300, 7, 9);
  const RowMatrix<double> mask = random_uniform<double>(300, 7, 10);
  for (Index i = 0; i < X.rows(); ++i)
    for (Index j = 0; j < X.cols(); ++j)
      if (mask(i, j) < 0.15) X(i, j) = std::nan("");
  std::vector<double> curve;
  PPCA<double>::fit(X, em(2, 100, &curve));
  ASSERT_EQ(curve.size(), 100u);
  for (std::size_t k = 1; k < curve.size(); ++k)
    EXPECT_GE(curve[k], curve[k - 1] - 1e-12 * std::abs(curve[k])) << "iteration " << k;
}

TEST(PPCAEM, ReachesTheClosedFormMaximum) {
  const RowMatrix<double> X = structured_data(300, 6, 21);
  const PPCA<double> exact = PPCA<double>::fit(X, closed_form(3));
  const PPCA<double> iterative = PPCA<double>::fit(X, em(3, 2000, nullptr));
  EXPECT_NEAR(iterative.noise_variance(), exact.noise_variance(), 1e-5 * exact.noise_variance());
  EXPECT_NEAR(iterative.score_samples(X).mean(), exact.score_samples(X).mean(), 1e-8);
}

}  // namespace
}  // namespace vaekit::testing
