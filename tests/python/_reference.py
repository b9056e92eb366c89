"""Independent numpy computations that the test modules check vaekit against,
and the exact comparison of results. Not a test module (imported by them)."""

import numpy as np


def mlp_numpy(X, coefs, intercepts, activation):
    """act(... act(X W_0 + b_0) ...) W_L + b_L: scikit-learn's MLP layout."""
    for layer, (W, b) in enumerate(zip(coefs, intercepts)):
        X = X @ W + b
        if layer + 1 < len(coefs):
            X = activation(X)
    return X


def assert_same(a, b):
    """Bit-identical results (arrays, floats, or lists and tuples of them)."""
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for part_a, part_b in zip(a, b):
            assert_same(part_a, part_b)
    else:
        assert np.array_equal(a, b)
