"""Fixtures shared by the test modules. (Data generators that take
arguments, such as ``low_rank_data``, are plain functions in ``_data.py``.)"""

import functools

import pytest


@functools.lru_cache(maxsize=None)
def _scaled_digits(scaler):
    import sklearn.preprocessing
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    scaling = getattr(sklearn.preprocessing, scaler)().fit(X[:1000])
    split = scaling.transform(X[:1000]), y[:1000], scaling.transform(X[1000:1400]), y[1000:1400]
    for array in split:
        array.flags.writeable = False  # shared between tests
    return split


@pytest.fixture(scope="session")
def scaled_digits():
    """``scaled_digits(scaler)``: scikit-learn's digits, the first 1000 for
    training and the next 400 for testing, scaled by the scikit-learn scaler
    named ``scaler`` ("MinMaxScaler": [0, 1]; "StandardScaler") fitted on the
    training part, as ``(X_train, y_train, X_test, y_test)``, read-only."""
    return _scaled_digits


@pytest.fixture(scope="session")
def features_accuracy():
    """``features_accuracy(transformer, X_train, y_train, X_test, y_test)``: the
    test accuracy of a logistic regression on the transformer's features (chance: 0.1)."""
    from sklearn.linear_model import LogisticRegression

    def accuracy(transformer, X_train, y_train, X_test, y_test):
        classifier = LogisticRegression(max_iter=2000).fit(transformer.transform(X_train), y_train)
        return classifier.score(transformer.transform(X_test), y_test)

    return accuracy
