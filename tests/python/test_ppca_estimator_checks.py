"""scikit-learn's estimator checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit import PPCA


@parametrize_with_checks([PPCA(), PPCA(method="em", max_iter=200)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
