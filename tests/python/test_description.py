"""Each model is described once, in C++ (``cpp/include/vaekit/describe.hpp``:
every configuration struct's ``fields()`` and every enumeration's names), and
everything else follows that description or is checked against it here: the
estimators' signatures, defaults and parameter constraints, the C++ ranges
behind the constraints, the docstrings, the README's signatures, the model
files' metadata, the registry of kinds and the command line's options.
"""

import ast
import contextlib
import inspect
import io
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

import vaekit
from vaekit import _description, _registry
from vaekit._native import core
from vaekit.__main__ import build_parser

KINDS = core.model_kinds()
README = Path(__file__).resolve().parents[2] / "README.md"


def estimator_of(kind):
    return _registry.kind(kind).estimator


def described(kind):
    return {field["name"]: field for field in _description.fields(kind)}


def test_every_kind_of_model_file_has_a_registered_estimator():
    assert KINDS == ["PPCA", "Autoencoder", "VAE"]
    assert [kind.name for kind in _registry.kinds()] == KINDS
    assert {kind.estimator for kind in _registry.kinds()} == {vaekit.PPCA, vaekit.Autoencoder, vaekit.VAE}
    with pytest.raises(ValueError, match="unknown model kind"):
        _registry.kind("GAN")
    with pytest.raises(ValueError, match="not a kind of model"):
        _registry.register("GAN", object, None)


@pytest.mark.parametrize("kind", KINDS)
def test_the_estimator_signature_has_every_described_field_with_its_cpp_default(kind):
    parameters = inspect.signature(estimator_of(kind)).parameters
    for name, field in described(kind).items():
        assert name in parameters, f"{kind}: {name} is described in C++ but not a parameter of the estimator"
        assert parameters[name].default == field["default"], (kind, name)
    assert set(described(kind)) == set(estimator_of(kind)().get_params()) - {"random_state", "verbose",
                                                                            "n_threads", "dtype"}


@pytest.mark.parametrize("kind", KINDS)
def test_constraints_follow_the_cpp_ranges(kind):
    """A value at a described bound is accepted or rejected alike by the
    estimator's constraints and by the C++ configuration's validation."""
    estimator_class = estimator_of(kind)
    X = np.random.default_rng(0).normal(size=(20, 4))
    for name, field in described(kind).items():
        if field["type"] not in ("int", "float") or field["min"] is None:
            continue
        low = field["min"]
        inside = low if field["min_inclusive"] else low + (1 if field["type"] == "int" else 0.5)
        outside = low - 1 if field["min_inclusive"] else low
        if field["type"] == "int":
            inside, outside = int(inside), int(outside)
        for value, valid in ((inside, True), (outside, False)):
            estimator = estimator_class(**{name: value})
            python_error = cpp_error = None
            try:
                estimator._validate_params()
            except InvalidParameterError as error:
                python_error = error
            try:
                native_check(kind, name, value, X)
            except ValueError as error:
                cpp_error = error
            assert (python_error is None) == valid, (kind, name, value, python_error)
            assert (cpp_error is None) == valid, (kind, name, value, cpp_error)
            if not valid:
                assert name in str(cpp_error)


def native_check(kind, name, value, X):
    """Builds (or fits, for PPCA and the training options) the C++ model with one field set."""
    native = _description.native_class(kind, np.float64)
    if kind == "PPCA":
        native.fit(X, {"n_components": 1, name: value}, 0)
    elif name in _description.field_names(kind, "training"):
        model = native(X.shape[1], {"n_components": 1, "hidden_layer_sizes": [3]})
        model.fit(X, {"max_iter": 1, name: value}, seed=0)
    else:
        native(X.shape[1], {name: value, **({} if name == "hidden_layer_sizes" else {"hidden_layer_sizes": [3]})})


@pytest.mark.parametrize("kind", KINDS)
def test_every_enumeration_value_is_accepted_and_others_are_named_in_the_error(kind):
    for name, field in described(kind).items():
        if field["type"] != "str":
            continue
        for choice in field["choices"]:
            estimator_of(kind)(**{name: choice})._validate_params()
        with pytest.raises(ValueError, match=f"{name} must be .*{field['choices'][0]}"):
            if kind == "PPCA":
                _description.native_class(kind, np.float64).fit(np.ones((4, 3)), {name: "no such value"}, 0)
            else:
                _description.native_class(kind, np.float64)(3, {name: "no such value"})


DOCUMENTED_DEFAULT = re.compile(r"^    (\w+) : (.*), default=(.+)$", re.M)
DOCUMENTED_CHOICES = re.compile(r"^\{(.*)\}$")


@pytest.mark.parametrize("kind", KINDS)
def test_docstring_defaults_and_choices_match_the_signature(kind):
    estimator_class = estimator_of(kind)
    parameters = inspect.signature(estimator_class).parameters
    documented = {name: (types, default) for name, types, default in DOCUMENTED_DEFAULT.findall(estimator_class.__doc__)}
    for name, parameter in parameters.items():
        assert name in documented, f"{kind}.{name} is not documented with its default"
        types, default = documented[name]
        if name == "dtype":
            assert default == "np.float32" and parameter.default is np.float32
            continue
        assert ast.literal_eval(default) == parameter.default, (kind, name, default)
        field = described(kind).get(name)
        choices = DOCUMENTED_CHOICES.match(types)
        if field is not None and field["type"] == "str":
            assert choices, f"{kind}.{name}: the docstring should list the choices"
            listed = {ast.literal_eval(choice.strip()) for choice in choices.group(1).split(",")}
            # Aliases ("logistic" for "sigmoid") may go unlisted.
            assert set(field["choices"][:len(listed)]) <= listed <= set(field["choices"]), (kind, name)


def readme_signature(name):
    """Keyword defaults of ``name(...)`` in the README's API summary."""
    text = README.read_text()
    match = re.search(rf"^{name}\((.*?)\)\n", text, re.M | re.S)
    assert match, f"README has no {name}(...) summary"
    body = match.group(1)
    if "<training params>" in body:
        training = re.search(r"^<training params> = (.*?)\n```", text, re.M | re.S).group(1)
        body = body.replace("<training params>", training)
    defaults = {}
    for name_, value in re.findall(r"(\w+)=(\([^)]*\)|[^,\s]+)", re.sub(r"\([a-zA-Z][^)]*\)", "", body)):
        defaults[name_] = value
    return defaults


@pytest.mark.parametrize("kind", KINDS)
def test_the_readme_summary_gives_the_estimator_defaults(kind):
    defaults = readme_signature(kind)
    for name, parameter in inspect.signature(estimator_of(kind)).parameters.items():
        if name == "dtype":
            continue
        assert name in defaults, f"README's {kind}(...) does not list {name}"
        text = defaults[name].strip('"')
        if isinstance(parameter.default, str):
            # An enumeration is summarised as its default first: "closed_form" | "em".
            assert text == parameter.default, (kind, name, text)
        else:
            assert ast.literal_eval(text) == parameter.default, (kind, name, text)


@pytest.mark.parametrize("kind", ["Autoencoder", "VAE"])
def test_a_model_file_records_every_described_hyper_parameter(kind, tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3))
    estimator = estimator_of(kind)(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X)
    estimator.save(tmp_path / "model.safetensors")
    metadata = core.read_model_info(tmp_path / "model.safetensors")["metadata"]
    for name, field in described(kind).items():
        if name in _description.field_names(kind, "hyper_parameters"):
            assert _description.parse_metadata_value(field, metadata[name]) == _description.native_values(
                estimator, kind, "hyper_parameters")[name] or field["type"] == "int_list"
        assert f"param.{name}" in metadata


def fit_help():
    output = io.StringIO()
    with contextlib.redirect_stdout(output), pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "--help"])
    return output.getvalue()


def test_the_command_line_offers_every_hyper_parameter_with_its_choices():
    text = " ".join(fit_help().split())
    for kind in KINDS:
        assert kind.lower() in text
        for name, field in described(kind).items():
            option = "--" + name.replace("_", "-")
            assert option in text, option
            if field["type"] == "str":
                for choice in field["choices"]:
                    assert choice in text, (option, choice)


def package_imports():
    """{module: modules of the package it imports}, at any depth of its code."""
    package = Path(vaekit.__file__).parent
    graph = {}
    for path in package.glob("*.py"):
        name = path.stem
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    imported.add(node.module.split(".")[0])
                else:  # from . import x
                    imported.update(alias.name for alias in node.names
                                    if (package / f"{alias.name}.py").exists())
        graph[name] = imported - {name}
    return graph


def test_no_two_modules_of_the_package_import_each_other():
    graph = package_imports()
    # __init__ re-exports the public API and is imported by "from . import
    # __version__"; the cycle check is over the modules that hold code.
    graph = {module: {target for target in targets if target != "__init__"} for module, targets in graph.items()
             if module != "__init__"}
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "visiting", "import cycle: " + " -> ".join(path + [module])
        state[module] = "visiting"
        for target in sorted(graph.get(module, ())):
            visit(target, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])
    assert "_io" not in graph["_registry"] and not graph["_io"] & {"ppca", "vae", "autoencoder"}
