// PPCA against independent computations: Tipping & Bishop's closed form from
// a full eigendecomposition of the sample covariance, the dense Gaussian
// log-density and conditional, and EM's monotone log-likelihood.
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "numeric.hpp"
#include "ppca_detail.hpp"
#include "sparse.hpp"
#include "test_util.hpp"
#include "vaekit/ppca.hpp"

namespace vaekit::testing {
namespace {

using detail::kLog2Pi;

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

// mean_and_covariance (the closed form's one pass): float32 rows with a
// large mean give the two-pass double covariance within float's rounding,
// both when the rows it samples first have about the mean (one pass and a
// correction) and when they sit 100 away from the rest (it centres again).
TEST(PPCAClosedForm, OnePassCovarianceMatchesTheTwoPassReference) {
  const Index n = 3000, D = 784;
  const Index sampled = std::min(n, detail::ppca::reduction_block_rows<float>(n, D));
  ASSERT_LT(sampled, n);  // the test needs rows it does not sample
  for (const bool far : {false, true}) {
    SCOPED_TRACE(far ? "sampled rows far from the mean" : "sampled rows near the mean");
    RowMatrix<double> X = structured_data(n, D, 71);
    X.array() += 1000.0;
    if (far)
      for (Index i = 0; i < sampled; ++i) X.row(i * n / sampled).array() += 100.0;
    const RowMatrix<float> Xf = X.cast<float>();
    Matrix<float> S;
    const Vector<float> mean = detail::ppca::mean_and_covariance<float>(Xf, S);

    const Eigen::MatrixXd data = Xf.cast<double>();
    const Eigen::VectorXd mean_ref = data.colwise().mean().transpose();
    const Eigen::MatrixXd centred = data.rowwise() - mean_ref.transpose();
    const Eigen::MatrixXd S_ref = centred.transpose() * centred / static_cast<double>(n);
    EXPECT_LT((mean.cast<double>() - mean_ref).cwiseAbs().maxCoeff(), 2e-4);  // float's spacing at 1000: 6e-5
    const Eigen::MatrixXd error = S.cast<double>() - S_ref;
    EXPECT_LT(error.triangularView<Eigen::Lower>().toDenseMatrix().cwiseAbs().maxCoeff(),
              1e-5 * S_ref.cwiseAbs().maxCoeff());
  }
}

TEST(PPCAModel, ExplainedVarianceIsTheComponentsSpectrumPlusTheNoise) {
  // A model from given parameters (components = W^T, d x D): the eigenvalues
  // of W^T W (Eigen's full solver as the reference), descending, plus
  // sigma^2. Components whose W^T W overflows are refused, in either precision.
  const RowMatrix<double> components = random_normal<double>(4, 30, 11, 1.5);
  const Vector<double> mean = Vector<double>::LinSpaced(30, -1.0, 1.0);
  const PPCA<double> model(components, mean, 0.25);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> reference(components * components.transpose(),
                                                                 Eigen::EigenvaluesOnly);
  ASSERT_EQ(model.explained_variance().size(), 4);
  for (Index k = 0; k < 4; ++k)
    EXPECT_NEAR(model.explained_variance()(k), reference.eigenvalues()(3 - k) + 0.25, 1e-12 * reference.eigenvalues()(3));
  EXPECT_THROW(PPCA<double>(RowMatrix<double>(components * 1e160), mean, 0.25), InvalidArgument);
  EXPECT_THROW(PPCA<float>(RowMatrix<float>(components.cast<float>() * 1e20f), mean.cast<float>(), 0.25f),
               InvalidArgument);
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

// encode: the posterior N(M^-1 W^T (x - mu), s2 M^-1) of eq. 25, against M
// inverted by LU (not the Cholesky factor the library uses); a row with NaN
// entries uses M_n = W_O^T W_O + s2 I from its observed coordinates O.
TEST(PPCAInference, EncodeIsThePosteriorWithEachRowsOwnM) {
  const Index D = 7, d = 3;
  const PPCA<double> model = PPCA<double>::fit(structured_data(300, D, 31), closed_form(d));
  RowMatrix<double> X = structured_data(40, D, 32);
  X(5, 1) = X(5, 4) = std::nan("");
  for (Index j = 0; j < D; ++j) X(9, j) = std::nan("");  // nothing observed: the prior N(0, I)
  RowMatrix<double> mean, stddev;
  model.encode(X, mean, stddev);
  ASSERT_EQ(mean.rows(), X.rows());
  ASSERT_EQ(stddev.cols(), d);
  EXPECT_EQ(mean, model.transform(X));  // the same pass, bit for bit

  const Eigen::MatrixXd W = model.components().transpose();  // D x d
  const double s2 = model.noise_variance();
  for (Index i = 0; i < X.rows(); ++i) {
    std::vector<Index> observed;
    for (Index j = 0; j < D; ++j)
      if (!std::isnan(X(i, j))) observed.push_back(j);
    Eigen::MatrixXd W_o(static_cast<Index>(observed.size()), d);
    Eigen::VectorXd centred(static_cast<Index>(observed.size()));
    for (std::size_t k = 0; k < observed.size(); ++k) {
      W_o.row(k) = W.row(observed[k]);
      centred(k) = X(i, observed[k]) - model.mean()(observed[k]);
    }
    const Eigen::MatrixXd M = W_o.transpose() * W_o + s2 * Eigen::MatrixXd::Identity(d, d);
    const Eigen::MatrixXd M_inverse = M.inverse();
    const Eigen::VectorXd expected_mean = M_inverse * W_o.transpose() * centred;
    const Eigen::VectorXd expected_std = (s2 * M_inverse.diagonal()).cwiseSqrt();
    for (Index k = 0; k < d; ++k) {
      EXPECT_NEAR(mean(i, k), expected_mean(k), 1e-10 * (1 + std::abs(expected_mean(k)))) << "row " << i;
      EXPECT_NEAR(stddev(i, k), expected_std(k), 1e-12 * expected_std(k)) << "row " << i;
    }
  }
  EXPECT_NEAR(stddev(9, 0), 1.0, 1e-14);  // M_9 = s2 I: posterior = prior
}

TEST(PPCAInference, MInverseGivesTransformOfCompleteRows) {
  const Index D = 6, d = 2;
  const PPCA<double> model = PPCA<double>::fit(structured_data(200, D, 41), closed_form(d));
  const Eigen::MatrixXd W = model.components().transpose();  // D x d
  const Eigen::MatrixXd M = W.transpose() * W + model.noise_variance() * Eigen::MatrixXd::Identity(d, d);
  const Matrix<double> M_inverse = model.m_inverse();
  EXPECT_TRUE(M_inverse.isApprox(M.inverse(), 1e-12));
  const RowMatrix<double> X = structured_data(30, D, 42);
  const RowMatrix<double> expected = (X.rowwise() - model.mean().transpose()) * W * M_inverse;
  EXPECT_TRUE(model.transform(X).isApprox(expected, 1e-12));
}

TEST(PPCAInference, EncodeRejectsWhatTransformRejects) {
  const PPCA<float> model = PPCA<float>::fit(structured_data(200, 6, 3).cast<float>(), closed_form(2));
  RowMatrix<float> mean, stddev;
  EXPECT_THROW(model.encode(RowMatrix<float>::Zero(4, 5), mean, stddev), InvalidArgument);
  RowMatrix<float> X = structured_data(10, 6, 4).cast<float>();
  X(2, 3) = std::nanf("");
  EXPECT_THROW(model.encode(X, mean, stddev, 0, /*allow_missing=*/false), InvalidArgument);
  X(2, 3) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(model.encode(X, mean, stddev), InvalidArgument);
}

// The Gaussian conditional p(x_m | x_O) of x ~ N(mu, C), from the D x D
// covariance C = W W^T + s2 I factorised directly (not through M_n):
// mean mu_m + C_mO C_OO^-1 (x_O - mu_O), covariance C_mm - C_mO C_OO^-1 C_Om.
struct GaussianConditional {
  std::vector<Index> missing;
  Eigen::VectorXd mean;
  Eigen::MatrixXd covariance;
};

GaussianConditional conditional_of(const PPCA<double>& model, const Eigen::RowVectorXd& x) {
  std::vector<Index> observed, missing;
  for (Index j = 0; j < x.size(); ++j) (std::isnan(x(j)) ? missing : observed).push_back(j);
  const Eigen::MatrixXd C = model.covariance();
  const Index n_obs = static_cast<Index>(observed.size()), n_mis = static_cast<Index>(missing.size());
  Eigen::MatrixXd C_oo(n_obs, n_obs), C_mo(n_mis, n_obs), C_mm(n_mis, n_mis);
  Eigen::VectorXd centred(n_obs), mu_m(n_mis);
  for (Index a = 0; a < n_obs; ++a) {
    centred(a) = x(observed[a]) - model.mean()(observed[a]);
    for (Index b = 0; b < n_obs; ++b) C_oo(a, b) = C(observed[a], observed[b]);
  }
  for (Index a = 0; a < n_mis; ++a) {
    mu_m(a) = model.mean()(missing[a]);
    for (Index b = 0; b < n_obs; ++b) C_mo(a, b) = C(missing[a], observed[b]);
    for (Index b = 0; b < n_mis; ++b) C_mm(a, b) = C(missing[a], missing[b]);
  }
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(C_oo);
  GaussianConditional result{missing, mu_m, C_mm};
  if (n_obs > 0 && n_mis > 0) {  // (Eigen's solve with no right-hand side binds a null reference)
    result.mean += C_mo * ldlt.solve(centred);
    result.covariance -= C_mo * ldlt.solve(C_mo.transpose());
  }
  return result;
}

// impute(sample = false): each NaN becomes E[x_m | x_O], observed entries
// stay bit for bit, a row with nothing observed becomes mu, a complete row
// is copied.
TEST(PPCAImpute, MeanIsTheGaussianConditionalMean) {
  const Index D = 7;
  const PPCA<double> model = PPCA<double>::fit(structured_data(300, D, 51), closed_form(3));
  RowMatrix<double> X = structured_data(30, D, 52);
  const RowMatrix<double> mask = random_uniform<double>(30, D, 53);
  for (Index i = 0; i < X.rows(); ++i)
    for (Index j = 0; j < D; ++j)
      if (mask(i, j) < 0.3 && i != 0) X(i, j) = std::nan("");  // row 0 stays complete
  for (Index j = 0; j < D; ++j) X(4, j) = std::nan("");          // nothing observed
  X(6, 2) = -0.0;                                                // copied with its sign

  const RowMatrix<double> imputed = model.impute(X, /*sample=*/false, /*seed=*/0);
  ASSERT_EQ(imputed.rows(), X.rows());
  ASSERT_EQ(imputed.cols(), D);
  for (Index i = 0; i < X.rows(); ++i) {
    const GaussianConditional expected = conditional_of(model, X.row(i));
    for (Index j = 0; j < D; ++j) {
      if (!std::isnan(X(i, j))) {
        EXPECT_EQ(std::memcmp(&imputed(i, j), &X(i, j), sizeof(double)), 0) << i << ", " << j;
      }
    }
    for (std::size_t k = 0; k < expected.missing.size(); ++k) {
      const double value = imputed(i, expected.missing[k]);
      EXPECT_NEAR(value, expected.mean(k), 1e-10 * (1 + std::abs(expected.mean(k)))) << "row " << i;
    }
  }
  EXPECT_EQ(RowMatrix<double>(imputed.row(4)), RowMatrix<double>(model.mean().transpose()));
}

// impute(sample = true): the draws of one row (one per seed) have the
// conditional mean and covariance of p(x_m | x_O); a row's draws depend on
// its values and the seed, not on its position or the thread count.
TEST(PPCAImpute, DrawsFollowTheGaussianConditional) {
  const Index D = 6;
  const PPCA<double> model = PPCA<double>::fit(structured_data(300, D, 61), closed_form(2));
  RowMatrix<double> x = structured_data(1, D, 62);
  x(0, 1) = x(0, 3) = x(0, 4) = std::nan("");
  const GaussianConditional expected = conditional_of(model, x.row(0));
  const Index n_mis = static_cast<Index>(expected.missing.size());
  const int draws = 20000;
  Eigen::MatrixXd values(draws, n_mis);
  for (int s = 0; s < draws; ++s) {
    const RowMatrix<double> imputed = model.impute(x, true, static_cast<std::uint64_t>(s));
    for (Index k = 0; k < n_mis; ++k) values(s, k) = imputed(0, expected.missing[k]);
  }
  const Eigen::VectorXd mean = values.colwise().mean();
  const Eigen::MatrixXd centred = values.rowwise() - mean.transpose();
  const Eigen::MatrixXd covariance = centred.transpose() * centred / (draws - 1);
  // Five standard errors of the sample mean and covariance.
  for (Index a = 0; a < n_mis; ++a) {
    EXPECT_NEAR(mean(a), expected.mean(a), 5 * std::sqrt(expected.covariance(a, a) / draws));
    for (Index b = 0; b < n_mis; ++b) {
      const double variance_of_estimate = (expected.covariance(a, a) * expected.covariance(b, b) +
                                           expected.covariance(a, b) * expected.covariance(a, b)) / draws;
      EXPECT_NEAR(covariance(a, b), expected.covariance(a, b), 5 * std::sqrt(variance_of_estimate)) << a << ", " << b;
    }
  }
  RowMatrix<double> twice(3, D);
  twice << x, structured_data(1, D, 63), x;
  const RowMatrix<double> imputed = model.impute(twice, true, 11);
  EXPECT_EQ(RowMatrix<double>(imputed.row(0)), RowMatrix<double>(imputed.row(2)));
  EXPECT_EQ(RowMatrix<double>(imputed.row(0)), model.impute(x, true, 11));
  EXPECT_NE(model.impute(x, true, 11), model.impute(x, true, 12));
  RowMatrix<double> many = structured_data(4000, D, 64);  // enough work for a thread team
  for (Index i = 0; i < many.rows(); ++i) many(i, i % D) = std::nan("");
  EXPECT_EQ(model.impute(many, true, 5, 1), model.impute(many, true, 5, 2));
}

TEST(PPCAImpute, RejectsInfinityAndTheWrongWidth) {
  const PPCA<float> model = PPCA<float>::fit(structured_data(200, 6, 3).cast<float>(), closed_form(2));
  EXPECT_THROW(model.impute(RowMatrix<float>::Zero(4, 5), false, 0), InvalidArgument);
  RowMatrix<float> X = structured_data(10, 6, 4).cast<float>();
  X(2, 3) = std::nanf("");
  EXPECT_TRUE(model.impute(X, true, 0).allFinite());
  X(5, 1) = -std::numeric_limits<float>::infinity();
  EXPECT_THROW(model.impute(X, false, 0), InvalidArgument);
}

}  // namespace

namespace {

// Low-rank data plus noise with most entries zeroed, as a dense matrix and
// its CSR arrays (column indices in reverse order within each row, which CSR allows).
struct SparseData {
  RowMatrix<double> dense;
  std::vector<std::int64_t> indptr, indices;
  std::vector<double> values;
  CsrMatrixView<double> view() const {
    return {dense.rows(), dense.cols(), indptr.data(), indices.data(), values.data()};
  }
};

SparseData sparse_data(Index n, Index D, double keep, std::uint64_t seed) {
  SparseData data;
  data.dense = testing::random_normal<double>(n, 3, seed) * testing::random_normal<double>(3, D, seed + 1, 3.0) +
               testing::random_normal<double>(n, D, seed + 2);
  const RowMatrix<double> mask = testing::random_uniform<double>(n, D, seed + 3);
  data.indptr.push_back(0);
  for (Index i = 0; i < n; ++i) {
    for (Index j = D - 1; j >= 0; --j) {
      if (mask(i, j) > keep) {
        data.dense(i, j) = 0;
      } else {
        data.indices.push_back(j);
        data.values.push_back(data.dense(i, j));
      }
    }
    data.indptr.push_back(static_cast<std::int64_t>(data.indices.size()));
  }
  return data;
}

double relative_difference(const RowMatrix<double>& a, const RowMatrix<double>& b) {
  return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff();
}

}  // namespace

// Moments of blocks merged (Chan et al.) give the model of the whole array;
// so do the moments of its CSR form, and a CSR fit (the Gram matrix for small
// D, the Krylov iteration on products with X for large D).
TEST(PPCAMoments, MergedBlocksAndSparseInputGiveTheDenseModel) {
  for (const Index D : {Index(30), Index(400)}) {
    const SparseData data = sparse_data(200, D, D == 30 ? 0.4 : 0.05, 21);
    const RowMatrix<double>& X = data.dense;
    PPCAOptions options;
    options.n_components = 3;
    const PPCA<double> reference = PPCA<double>::fit(X, options);
    PPCAMoments<double> merged = PPCAMoments<double>::of(X.topRows(0));
    for (Index start = 0; start < X.rows(); start += 70) {
      merged.merge(PPCAMoments<double>::of(X.middleRows(start, std::min<Index>(70, X.rows() - start))));
    }
    EXPECT_EQ(merged.count, 200);
    EXPECT_LT(relative_difference(PPCA<double>::fit(merged, 3).covariance(), reference.covariance()), 1e-10);
    const PPCAMoments<double> sparse_moments = PPCAMoments<double>::of(data.view());
    EXPECT_LT((sparse_moments.mean - merged.mean).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_NEAR(sparse_moments.sum_of_squares, merged.sum_of_squares, 1e-9 * merged.sum_of_squares);
    EXPECT_LT((sparse_moments.scatter - merged.scatter).triangularView<Eigen::Lower>().toDenseMatrix().cwiseAbs()
                  .maxCoeff(), 1e-9 * merged.scatter.cwiseAbs().maxCoeff());
    const PPCA<double> sparse = PPCA<double>::fit(data.view(), options);
    EXPECT_LT(relative_difference(sparse.components(), reference.components()), 1e-9) << "D = " << D;
    EXPECT_NEAR(sparse.noise_variance(), reference.noise_variance(), 1e-9 * reference.noise_variance());
    const RowMatrix<double> Z = reference.transform(X);
    EXPECT_LT(relative_difference(reference.transform(data.view()), Z), 1e-10);
    const Vector<double> scores = reference.score_samples(X);
    EXPECT_LT((reference.score_samples(data.view()) - scores).cwiseAbs().maxCoeff(), 1e-10 * scores.cwiseAbs().maxCoeff());
  }
}

// X^T (X B) in one pass over the CSR arrays equals the dense product for
// every block width (the unrolled ones and the general loop).
TEST(PPCASparse, GramTimesIsTheDenseProduct) {
  const SparseData data = sparse_data(90, 17, 0.3, 61);
  for (const Index k : {1, 2, 3, 4, 5, 6, 7, 8, 11}) {
    const RowMatrix<double> B = random_normal<double>(17, k, 62 + k);
    const RowMatrix<double> expected = data.dense.transpose() * (data.dense * B);
    const RowMatrix<double> got = detail::csr_gram_times(data.view(), B.data(), k);
    EXPECT_LT(relative_difference(got, expected), 1e-13) << "k = " << k;
  }
}

// EM with the data pass behind a callback (PPCA::fit_em, as on a cluster)
// follows the in-memory EM from the same seed, for dense and CSR blocks.
TEST(PPCAEM, FromScatterProductsFollowsTheInMemoryFit) {
  const SparseData data = sparse_data(300, 25, 0.5, 31);
  const RowMatrix<double>& X = data.dense;
  PPCAOptions options;
  options.n_components = 2;
  options.method = PPCAMethod::EM;
  options.max_iter = 25;
  options.tol = 0;
  options.seed = 5;
  const PPCA<double> reference = PPCA<double>::fit(X, options);
  const PPCAMoments<double> moments = PPCAMoments<double>::of(X, /*with_scatter=*/false);
  const Vector<double> mean = moments.mean;
  const auto blocks = [&](const Matrix<double>& W) {
    Matrix<double> total = PPCA<double>::scatter_product(X.topRows(120), mean, W);
    total += PPCA<double>::scatter_product(X.bottomRows(180), mean, W);
    return total;
  };
  const PPCA<double> blocked = PPCA<double>::fit_em(moments, blocks, options);
  ASSERT_EQ(blocked.n_iter(), 25);
  for (int i = 0; i < 25; ++i) {
    EXPECT_NEAR(blocked.log_likelihood_curve()[i], reference.log_likelihood_curve()[i],
                1e-10 * std::abs(reference.log_likelihood_curve()[i]));
  }
  EXPECT_LT(relative_difference(blocked.components(), reference.components()), 1e-8);
  const PPCA<double> sparse = PPCA<double>::fit(data.view(), options);
  EXPECT_LT(relative_difference(sparse.components(), reference.components()), 1e-8);
}

// EM with missing values on statistics summed over blocks (PPCA::fit_em with
// PPCAMissingStatistics, as on a cluster) follows the in-memory EM; so does
// a CSR fit whose stored NaN are the missing values, and the CSR posteriors
// of rows with a stored NaN are the dense ones.
TEST(PPCAEM, FromMissingValueStatisticsFollowsTheInMemoryFit) {
  SparseData data = sparse_data(300, 25, 0.6, 51);
  for (std::size_t e = 0; e < data.values.size(); e += 4) data.values[e] = std::nan("");  // a quarter missing
  for (Index i = 0; i < data.dense.rows(); ++i) {
    for (std::int64_t e = data.indptr[i]; e < data.indptr[i + 1]; ++e)
      data.dense(i, data.indices[e]) = data.values[e];
  }
  const RowMatrix<double>& X = data.dense;
  PPCAOptions options = em(2, 20, nullptr);
  options.tol = 0;
  options.seed = 9;
  const PPCA<double> reference = PPCA<double>::fit(X, options);
  Index calls = 0;
  const auto blocks = [&](const Matrix<double>& W, const Vector<double>& mean, double noise_variance) {
    if (calls++ == 0) {
      EXPECT_EQ(W.size(), 0);
    }
    PPCAMissingStatistics<double> total = PPCAMissingStatistics<double>::of(X.topRows(0), W, mean, noise_variance);
    for (Index start = 0; start < X.rows(); start += 70) {
      total.merge(PPCAMissingStatistics<double>::of(X.middleRows(start, std::min<Index>(70, X.rows() - start)), W,
                                                    mean, noise_variance));
    }
    return total;
  };
  const PPCA<double> blocked = PPCA<double>::fit_em(blocks, options);
  ASSERT_EQ(blocked.n_iter(), 20);
  EXPECT_EQ(calls, 22);  // the counts, the start's E-step, 20 iterations
  const PPCA<double> sparse = PPCA<double>::fit(data.view(), options);
  for (int i = 0; i < 20; ++i) {
    EXPECT_NEAR(blocked.log_likelihood_curve()[i], reference.log_likelihood_curve()[i],
                1e-11 * std::abs(reference.log_likelihood_curve()[i]));
    EXPECT_NEAR(sparse.log_likelihood_curve()[i], reference.log_likelihood_curve()[i],
                1e-11 * std::abs(reference.log_likelihood_curve()[i]));
  }
  EXPECT_LT(relative_difference(blocked.components(), reference.components()), 1e-9);
  EXPECT_LT(relative_difference(sparse.components(), reference.components()), 1e-9);
  EXPECT_LT(relative_difference(reference.transform(data.view()), reference.transform(X)), 1e-10);
  const Vector<double> scores = reference.score_samples(X);
  EXPECT_LT((reference.score_samples(data.view()) - scores).cwiseAbs().maxCoeff(), 1e-10 * scores.cwiseAbs().maxCoeff());
  EXPECT_THROW(reference.transform(data.view(), 0, /*allow_missing=*/false), InvalidArgument);
  options.method = PPCAMethod::ClosedForm;
  EXPECT_THROW(PPCA<double>::fit(data.view(), options), InvalidArgument);
}

TEST(PPCASparse, RejectsMalformedArraysAndNonFiniteValues) {
  SparseData data = sparse_data(20, 6, 0.5, 41);
  PPCAOptions options;
  options.n_components = 2;
  data.indices[3] = 6;  // out of range
  EXPECT_THROW(PPCA<double>::fit(data.view(), options), InvalidArgument);
  data.indices[3] = 0;
  data.values[0] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(PPCA<double>::fit(data.view(), options), InvalidArgument);
  data.values[0] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(PPCA<double>::fit(data.view(), options), InvalidArgument);  // the closed form needs complete data
  data.values[0] = 1;
  std::swap(data.indptr[4], data.indptr[5]);  // decreasing offsets
  EXPECT_THROW(PPCA<double>::fit(data.view(), options), InvalidArgument);
}

}  // namespace vaekit::testing
