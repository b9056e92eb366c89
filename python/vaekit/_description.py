"""What each model is, as the C++ core describes it (``cpp/include/vaekit/describe.hpp``).

Every hyper-parameter of a model's configuration (and, for the neural
models, of training) is written once, in the C++ configuration struct's
``fields()``: its name, type, default, choices and range. This module turns
those descriptions into what the Python side needs: scikit-learn parameter
constraints, the dict of values the native constructors and ``fit`` take,
and the defaults that the estimators' signatures are checked against.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from sklearn.utils._param_validation import Interval, StrOptions

from ._native import core

# {kind: {"kind", "hyper_parameters": [field, ...], "training": [field, ...],
#         "allows_missing": whether NaN is a missing value for the neural model}}
DESCRIPTIONS = core.model_descriptions()

# The groups of fields: the model's configuration, then training (neural models).
GROUPS = ("hyper_parameters", "training")


def fields(kind, group=None):
    """The described fields of a kind: dicts with name, type, default, choices, range."""
    description = DESCRIPTIONS[kind]
    groups = GROUPS if group is None else (group,)
    return [field for name in groups for field in description[name]]


def field_names(kind, group=None):
    return [field["name"] for field in fields(kind, group)]


def defaults(kind):
    """{name: default} of every described hyper-parameter of the kind."""
    return {field["name"]: field["default"] for field in fields(kind)}


def parameter_constraints(kind):
    """scikit-learn ``_parameter_constraints`` entries of the kind's described fields."""
    return {field["name"]: _constraints(field) for field in fields(kind)}


def _constraints(field):
    kind = field["type"]
    if kind == "bool":
        return ["boolean"]
    if kind == "str":
        return [StrOptions(set(field["choices"]))]
    low, high = field["min"], field["max"]
    closed = {(True, True): "both", (True, False): "left", (False, True): "right", (False, False): "neither"}[
        (low is not None and field["min_inclusive"], high is not None and field["max_inclusive"])]
    if kind == "float":
        return [Interval(Real, low, high, closed=closed)]
    low = None if low is None else int(low)
    high = None if high is None else int(high)
    interval = Interval(Integral, low, high, closed=closed)
    if kind == "int_list":  # a sequence of ints, or one int (one layer)
        return ["array-like", interval]
    return [interval]


def native_values(estimator, kind, group):
    """{name: value} of the described fields of ``group`` for the native model,
    read from the estimator's hyper-parameters (validated before against
    :func:`parameter_constraints`): numpy scalars become Python numbers, a
    list field given as one int a one-item list."""
    values = {}
    for field in fields(kind, group):
        value = getattr(estimator, field["name"])
        if field["type"] == "int":
            value = int(value)
        elif field["type"] == "float":
            value = float(value)
        elif field["type"] == "bool":
            value = bool(value)
        elif field["type"] == "int_list":
            value = [int(item) for item in ((value,) if isinstance(value, Integral) else value)]
        values[field["name"]] = value
    return values


def native_class(kind, dtype):
    """The bound C++ class of a kind in a dtype: ``VAEFloat32``, ``PPCAFloat64``..."""
    return getattr(core, kind + {"float32": "Float32", "float64": "Float64"}[np.dtype(dtype).name])


def parse_metadata_value(field, text):
    """A hyper-parameter from its text in a model file's metadata, as the C++
    library writes it (numbers as text, lists as JSON, booleans true/false)."""
    import json

    kind = field["type"]
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text == "true"
    if kind == "int_list":
        return tuple(json.loads(text))
    return text
