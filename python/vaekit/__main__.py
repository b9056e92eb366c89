"""Command line: ``vaekit`` (or ``python -m vaekit``).

    vaekit fit vae data.csv -o model.safetensors --n-components 2 --hidden-layer-sizes 256,64
    vaekit encode model.safetensors data.csv -o latent.npy
    vaekit decode model.safetensors latent.npy            # CSV on stdout
    vaekit sample model.safetensors -n 10 --random-state 0
    vaekit score model.safetensors data.npy --mean
    vaekit --cmake-dir                                     # for CMAKE_PREFIX_PATH

Data files are ``.npy`` (a 2-D array) or CSV (comma-separated numbers, one
sample per line; a first line without any number is taken as a header and
skipped). Results go to ``--output`` (``.npy`` or CSV by its extension) or,
without it, to stdout as CSV. Errors in the input (a missing file, a
non-numeric CSV entry, a width the model does not expect, an option the model
kind does not take) print one line to stderr and exit with status 2.

Subcommands plug in through ``add_subparsers`` in ``build_parser``: each sets
``run`` with ``set_defaults(run=function)``, and ``main`` calls ``run(args)``
and exits with what it returns.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import os
import re
import sys
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from . import __version__, _registry
from ._description import parameter_constraints

PROG = "vaekit"


class InputError(Exception):
    """A problem with the user's files or options: reported in one line, exit status 2."""


# ------------------------------------------------------------------ files
def read_matrix(path):
    """2-D float array from a ``.npy`` or CSV file."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    if path.endswith(".npy"):
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: not a readable .npy file ({error})") from None
        if array.ndim != 2:
            raise InputError(f"{path}: expected a 2-D array, got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
            raise InputError(f"{path}: expected a real numeric array, got dtype {array.dtype}")
        return array
    return read_csv(path)


def read_csv(path):
    rows = []
    with open(path, newline="") as file:
        for line_number, fields in enumerate(csv.reader(file), start=1):
            if not fields or all(not field.strip() for field in fields):
                continue
            try:
                rows.append([float(field) for field in fields])
            except ValueError:
                if not rows and not any(_is_number(field) for field in fields):
                    continue  # a header line
                bad = next(field for field in fields if not _is_number(field))
                raise InputError(f"{path}, line {line_number}: {bad.strip()!r} is not a number") from None
            if len(rows[-1]) != len(rows[0]):
                raise InputError(f"{path}, line {line_number}: {len(rows[-1])} columns, the first data line "
                                 f"has {len(rows[0])}")
    if not rows:
        raise InputError(f"{path}: no line of numbers")
    return np.asarray(rows)


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def write_matrix(array, path):
    """``.npy`` or CSV by the extension of ``path``; CSV on stdout when path is None."""
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if path is not None and path.endswith(".npy"):
        np.save(path, array)
        return
    # Enough digits to read the same value back (9 for float32, 17 for float64).
    fmt = "%.9g" if array.dtype == np.float32 else "%.17g"
    if path is None:
        np.savetxt(sys.stdout, array, fmt=fmt, delimiter=",")
    else:
        np.savetxt(path, array, fmt=fmt, delimiter=",")


def load_model(path):
    from ._io import load

    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    return load(path)


# --------------------------------------------------------- subcommands
def hidden_layer_sizes(text):
    """``256,64`` -> (256, 64); an empty string -> () (linear maps)."""
    try:
        return tuple(int(size) for size in text.split(",") if size.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 256,64, got {text!r}") from None


def parameter_help(estimator_class):
    """{parameter: first sentence of its description} from a numpydoc docstring."""
    helps, name, lines = {}, None, (estimator_class.__doc__ or "").splitlines()
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped in ("Parameters", "Attributes"):
            inside = stripped == "Parameters"
            continue
        if not inside or set(stripped) == {"-"}:
            continue
        header = re.match(r"^\s{4}(\w+) : ", line)
        if header:
            name = header.group(1)
            helps[name] = ""
        elif name and stripped and not helps[name].endswith("."):
            helps[name] = (helps[name] + " " + stripped).strip()
    return {key: " ".join(text.replace("``", "").split(". ")[0].split()).rstrip(".") for key, text in helps.items()}


def fit_options():
    """{parameter: (kinds that take it, argparse keyword arguments)}, derived
    from the registered estimators: their signatures, parameter constraints
    and docstrings (the C++ core describes the hyper-parameters behind them).
    ``--dtype`` applies to every kind: a kind whose estimator has no dtype
    parameter (PPCA) fits in the dtype of its input."""
    options, helps = {}, {}
    for kind in _registry.kinds():
        estimator = kind.estimator
        documented = parameter_help(estimator)
        constraints = parameter_constraints(kind.name)
        for name, parameter in inspect.signature(estimator.__init__).parameters.items():
            if name == "self":
                continue
            kinds, arguments = options.setdefault(name, ([], {}))
            kinds.append(kind.command)
            if not arguments:
                arguments.update(argument_spec(name, constraints.get(name, []), parameter.default))
            helps.setdefault(name, {}).setdefault(documented.get(name, ""), []).append(kind.command)
    if "dtype" in options:
        options["dtype"] = ([kind.command for kind in _registry.kinds()], options["dtype"][1])
    for name, (kinds, arguments) in options.items():
        # "vae: ...": each description with the kinds it comes from.
        arguments["help"] = "; ".join(f"{', '.join(for_kinds)}: {text}".rstrip(": ")
                                      for text, for_kinds in helps[name].items())
    return options


def argument_spec(name, constraints, default):
    """argparse keyword arguments for a parameter with these scikit-learn constraints."""
    if name == "dtype":
        return {"choices": ["float32", "float64"]}
    if name == "hidden_layer_sizes":
        return {"type": hidden_layer_sizes, "metavar": "SIZES"}
    for constraint in constraints:
        if isinstance(constraint, StrOptions):
            return {"choices": sorted(constraint.options)}
        if constraint == "boolean":
            return {"action": argparse.BooleanOptionalAction, "default": None}
        if isinstance(constraint, Interval):
            return {"type": int if constraint.type is Integral else float}
    return {"type": int if isinstance(default, (int, type(None))) and not isinstance(default, bool) else float}


def run_fit(args):
    kind = next(kind for kind in _registry.kinds() if kind.command == args.kind)
    params = {}
    for name, (kinds, _) in fit_options().items():
        value = getattr(args, name)
        if value is None:
            continue
        if args.kind not in kinds:
            raise InputError(f"--{name.replace('_', '-')} does not apply to {args.kind} models")
        params[name] = value
    X = read_matrix(args.input)
    if "dtype" not in inspect.signature(kind.estimator.__init__).parameters:
        X = X.astype(params.pop("dtype", np.float64))  # PPCA fits in the dtype of its input
    estimator = kind.estimator(**params)
    estimator.fit(X)
    estimator.save(args.output)
    return 0


def model_and_input(args, width_attribute):
    """The model file and the input file of `args`, the input as wide as the model's `width_attribute`."""
    model = load_model(args.model)
    array = read_matrix(args.input)
    expected = getattr(model, width_attribute)
    if array.shape[1] != expected:
        what = "features" if width_attribute == "n_features_in_" else "latent components"
        raise InputError(f"{args.input}: {array.shape[1]} columns, but the model expects {expected} ({what})")
    return model, array


def run_encode(args):
    model, X = model_and_input(args, "n_features_in_")
    write_matrix(model.transform(X), args.output)
    return 0


def run_decode(args):
    model, Z = model_and_input(args, "n_components")
    write_matrix(model.inverse_transform(Z), args.output)
    return 0


def run_sample(args):
    model = load_model(args.model)
    if not hasattr(model, "sample"):
        raise InputError(f"{args.model}: {type(model).__name__} models have no generative model to sample from")
    options = {"noise": True} if args.noise else {}
    if args.noise and type(model).__name__ != "VAE":
        raise InputError("--noise applies to VAE models only (PPCA samples always include the noise)")
    write_matrix(model.sample(args.n_samples, random_state=args.random_state, **options), args.output)
    return 0


def run_score(args):
    model, X = model_and_input(args, "n_features_in_")
    scores = model.score_samples(X)
    if args.mean:
        print(repr(float(np.mean(scores))))
    else:
        write_matrix(scores, args.output)
    return 0


# -------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="vaekit: probabilistic PCA, autoencoders and VAEs with a C++ core. "
                    "Fit a model on a CSV or .npy file, then encode, decode, sample and score with the model file.",
    )
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    parser.add_argument(
        "--cmake-dir",
        action="store_true",
        help="print the folder of vaekit's CMake package (put it in CMAKE_PREFIX_PATH) and exit",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    output_help = "output file (.npy, else CSV); CSV on stdout when omitted"

    fit = commands.add_parser("fit", help="fit a model on a data file and save it",
                              description="Fit a PPCA, VAE or autoencoder on a data file (CSV or .npy, one sample "
                                          "per row) and save it to a model file (safetensors).")
    fit.add_argument("kind", choices=[kind.command for kind in _registry.kinds()], help="model kind")
    fit.add_argument("input", help="training data: .npy or CSV")
    fit.add_argument("-o", "--output", required=True, help="model file to write (e.g. model.safetensors)")
    for name, (_, arguments) in fit_options().items():
        fit.add_argument("--" + name.replace("_", "-"), **arguments)
    fit.set_defaults(run=run_fit)

    for name, run, what, data in [
        ("encode", run_encode, "encode data into the latent space (posterior mean)", "data: .npy or CSV"),
        ("decode", run_decode, "decode latent points into data space", "latent points: .npy or CSV"),
        ("score", run_score, "log-likelihood (PPCA), ELBO (VAE) or minus the reconstruction loss "
                             "(autoencoder) of each sample", "data: .npy or CSV"),
    ]:
        command = commands.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")
        command.add_argument("model", help="model file written by `vaekit fit` or est.save()")
        command.add_argument("input", help=data)
        command.add_argument("-o", "--output", help=output_help)
        if name == "score":
            command.add_argument("--mean", action="store_true", help="print the mean score only")
        command.set_defaults(run=run)

    sample = commands.add_parser("sample", help="draw samples from a PPCA or VAE",
                                 description="Draw samples x from a PPCA or VAE model file.")
    sample.add_argument("model", help="model file written by `vaekit fit` or est.save()")
    sample.add_argument("-n", "--n-samples", type=int, default=1, help="number of samples (default 1)")
    sample.add_argument("--random-state", type=int, help="seed")
    sample.add_argument("--noise", action="store_true", help="vae: draw x ~ p(x|z) instead of the decoder mean")
    sample.add_argument("-o", "--output", help=output_help)
    sample.set_defaults(run=run_sample)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmake_dir:
        from ._cmake import get_cmake_dir

        try:
            print(get_cmake_dir())
        except FileNotFoundError as error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return 1
        return 0
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader closed the pipe (`vaekit decode ... | head -1`): stop
        # quietly, as Unix tools do; stdout goes to devnull so that Python's
        # flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (InputError, ValueError, TypeError, OSError) as error:
        message = " ".join(str(error).split())  # one line
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
