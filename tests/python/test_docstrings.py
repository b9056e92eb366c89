"""The documentation is part of the API: every public class and method has a
numpydoc docstring with an example, and every example runs and prints what it says.

The examples run against the installed package, as the doctests of the
documentation site would (``python -m pytest tests/python/test_docstrings.py``).
"""

import doctest
import inspect
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

import vaekit
from vaekit import _base, _neural, autoencoder, ppca, vae

MODULES = [ppca, vae, autoencoder, _neural, _base]
ESTIMATORS = [vaekit.PPCA, vaekit.Autoencoder, vaekit.VAE]


def collect_doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = {}
    for module in MODULES:
        for test in finder.find(module):
            if test.examples:
                tests[test.name] = test
    return tests


DOCTESTS = collect_doctests()


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_docstring_example_runs(name):
    test = DOCTESTS[name]
    output = []
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    with warnings.catch_warnings():
        # Short examples train for a few epochs on purpose.
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = runner.run(test, out=output.append, clear_globs=True)
    assert result.failed == 0, "".join(output)


def public_methods(estimator):
    """Public methods that vaekit defines (not those inherited from scikit-learn)."""
    for name, member in inspect.getmembers(estimator, inspect.isfunction):
        if not name.startswith("_") and member.__module__.startswith("vaekit"):
            yield name, member


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda estimator: estimator.__name__)
def test_every_public_class_and_method_has_a_numpydoc_docstring_with_an_example(estimator):
    assert "Parameters\n    ----------" in estimator.__doc__
    assert "Examples\n    --------" in estimator.__doc__
    methods = dict(public_methods(estimator))
    assert {"fit", "transform", "inverse_transform", "score_samples", "score"} <= set(methods)
    for name, method in methods.items():
        docstring = inspect.getdoc(method)
        assert docstring, f"{estimator.__name__}.{name} has no docstring"
        for section in ("Returns", "Examples"):
            assert f"{section}\n-------" in docstring, f"{estimator.__name__}.{name} has no {section} section"


def test_there_are_examples_to_run():
    assert len(DOCTESTS) >= 20
