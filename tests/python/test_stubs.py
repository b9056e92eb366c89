"""The type stubs shipped with the package describe the compiled core as it is.

``vaekit/_core.pyi`` is written by hand; these tests compare it with the
extension module actually built (every class, method, property and function,
and the parameter names of each), so a change to the bindings that is not
carried into the stub fails here.
"""

import ast
import inspect
import re
from pathlib import Path

import pytest

import vaekit
from vaekit import _core

PACKAGE_DIR = Path(vaekit.__file__).parent
STUB = PACKAGE_DIR / "_core.pyi"


def parse_stub():
    """{class name: {member: parameter names or None for a property}}, {function: parameter names}."""
    tree = ast.parse(STUB.read_text())
    classes, functions = {}, {}

    def parameters(node):
        args = node.args
        names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        return [name for name in names if name != "self"]

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions[node.name] = parameters(node)
        elif isinstance(node, ast.ClassDef):
            members = {}
            for base in node.bases:  # bases defined in the stub itself (Generic[...] subscripts too)
                name = base.value.id if isinstance(base, ast.Subscript) else getattr(base, "id", None)
                members.update(classes.get(name, {}))
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    is_property = any(getattr(d, "id", None) == "property" or isinstance(d, ast.Attribute)
                                      for d in item.decorator_list)
                    members[item.name] = None if is_property else parameters(item)
            classes[node.name] = members
    return classes, functions


def split_top_level(text):
    """Splits "a: X[1, 2], b: int = 0" at the commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    if current.strip():
        parts.append(current)
    return parts


def runtime_parameters(function, name):
    """Parameter names from pybind11's signature line, ``name(a: T, b: U = 0) -> R``
    (for an overloaded function, the first overload's: ``1. name(...) -> R``)."""
    lines = (function.__doc__ or "").strip().splitlines()
    first_line = lines[0]
    if first_line.startswith(f"{name}(*args, **kwargs)"):
        first_line = next((line[3:] for line in lines if line.startswith("1. ")), first_line)
    match = re.match(rf"{re.escape(name)}\((.*)\)\s*->", first_line)
    assert match, f"no signature in the docstring of {name}: {first_line!r}"
    names = [part.split(":")[0].strip() for part in split_top_level(match.group(1))]
    return [n for n in names if n not in ("self", "*")]  # "*": pybind11's keyword-only marker


def same_parameters(stub, runtime):
    """Equal names; pybind11 calls unnamed arguments arg0, arg1, ... (positional-only in the stub)."""
    return len(stub) == len(runtime) and all(
        s == r or re.fullmatch(r"arg\d+", r) for s, r in zip(stub, runtime))


STUB_CLASSES, STUB_FUNCTIONS = parse_stub() if STUB.is_file() else ({}, {})
RUNTIME_CLASSES = {name: value for name, value in vars(_core).items() if inspect.isclass(value)}


def test_the_package_ships_the_stubs_and_the_typed_marker():
    assert STUB.is_file()
    assert (PACKAGE_DIR / "py.typed").is_file()


def test_stub_names_every_class_and_function_of_the_module():
    public = {name for name in STUB_CLASSES if not name.startswith("_")}
    assert public == set(RUNTIME_CLASSES)
    runtime_functions = {name for name, value in vars(_core).items()
                         if callable(value) and not inspect.isclass(value) and not name.startswith("_")}
    assert set(STUB_FUNCTIONS) == runtime_functions
    for name, parameters in STUB_FUNCTIONS.items():
        assert same_parameters(parameters, runtime_parameters(getattr(_core, name), name)), name


@pytest.mark.parametrize("class_name", sorted(RUNTIME_CLASSES))
def test_stub_class_matches_the_compiled_class(class_name):
    runtime = RUNTIME_CLASSES[class_name]
    if issubclass(runtime, BaseException):
        assert STUB_CLASSES[class_name] == {}
        return
    stub = STUB_CLASSES[class_name]
    runtime_members = {name for name in vars(runtime) if not name.startswith("_")}
    assert set(stub) - {"__init__"} == runtime_members
    for name, parameters in stub.items():
        member = inspect.getattr_static(runtime, name)
        if parameters is None:
            assert isinstance(member, property), f"{class_name}.{name} is not a property"
        else:
            runtime_names = runtime_parameters(getattr(runtime, name), name)
            assert same_parameters(parameters, runtime_names), f"{class_name}.{name}: {runtime_names}"
