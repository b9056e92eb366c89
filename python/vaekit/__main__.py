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
import os
import sys

import numpy as np

from . import __version__

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
# Options of `fit` -> the estimator parameter they set and the kinds that take it.
NEURAL = ("vae", "autoencoder")
FIT_OPTIONS = {
    "n_components": ("ppca", *NEURAL),
    "method": ("ppca",),
    "tol": ("ppca", *NEURAL),
    "max_iter": ("ppca", *NEURAL),
    "random_state": ("ppca", *NEURAL),
    "hidden_layer_sizes": NEURAL,
    "activation": NEURAL,
    "batch_size": NEURAL,
    "learning_rate": NEURAL,
    "weight_decay": NEURAL,
    "early_stopping": NEURAL,
    "n_threads": NEURAL,
    "dtype": ("ppca", *NEURAL),
    "loss": ("autoencoder",),
    "likelihood": ("vae",),
    "decoder_variance": ("vae",),
    "noise_variance": ("vae",),
    "beta": ("vae",),
    "n_mc_samples": ("vae",),
    "verbose": ("ppca", *NEURAL),
}


def hidden_layer_sizes(text):
    """``256,64`` -> (256, 64); an empty string -> () (linear maps)."""
    try:
        return tuple(int(size) for size in text.split(",") if size.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 256,64, got {text!r}") from None


def run_fit(args):
    from . import PPCA, VAE, Autoencoder

    params = {}
    for name, kinds in FIT_OPTIONS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if args.kind not in kinds:
            raise InputError(f"--{name.replace('_', '-')} does not apply to {args.kind} models")
        params[name] = value
    X = read_matrix(args.input)
    if args.kind == "ppca":
        X = X.astype(params.pop("dtype", np.float64))  # PPCA fits in the dtype of its input
    estimator = {"ppca": PPCA, "vae": VAE, "autoencoder": Autoencoder}[args.kind](**params)
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
    fit.add_argument("kind", choices=["ppca", "vae", "autoencoder"], help="model kind")
    fit.add_argument("input", help="training data: .npy or CSV")
    fit.add_argument("-o", "--output", required=True, help="model file to write (e.g. model.safetensors)")
    fit.add_argument("--n-components", type=int, help="latent dimension (default 2)")
    fit.add_argument("--method", choices=["closed_form", "em"], help="ppca: fitting method")
    fit.add_argument("--hidden-layer-sizes", type=hidden_layer_sizes, metavar="SIZES",
                     help='neural: hidden layers, e.g. 256,64 ("" for linear maps; default 256)')
    fit.add_argument("--activation", choices=["relu", "tanh", "sigmoid", "softplus", "identity"], help="neural")
    fit.add_argument("--loss", choices=["mse", "bce"], help="autoencoder: reconstruction loss")
    fit.add_argument("--likelihood", choices=["gaussian", "bernoulli"], help="vae: decoder likelihood")
    fit.add_argument("--decoder-variance", choices=["scalar", "fixed", "diagonal", "network"],
                     help="vae: decoder variance g^2: one learned value (default scalar), fixed at "
                          "--noise-variance, one learned value per feature, or a decoder head")
    fit.add_argument("--noise-variance", type=float, help="vae: initial decoder variance (g^2 itself when fixed; "
                                                          "default 1)")
    fit.add_argument("--beta", type=float, help="vae: weight of the KL term")
    fit.add_argument("--n-mc-samples", type=int, help="vae: draws of z per sample in the objective")
    fit.add_argument("--max-iter", type=int, help="epochs (neural) or EM iterations (ppca)")
    fit.add_argument("--tol", type=float, help="stopping tolerance")
    fit.add_argument("--batch-size", type=int, help="neural: mini-batch size")
    fit.add_argument("--learning-rate", type=float, help="neural: Adam's step size")
    fit.add_argument("--weight-decay", type=float, help="neural: L2 penalty on the weights")
    fit.add_argument("--early-stopping", action="store_const", const=True, help="neural: stop on a validation split")
    fit.add_argument("--random-state", type=int, help="seed (same seed and threads give the same model)")
    fit.add_argument("--n-threads", type=int, help="neural: threads (default: all cores)")
    fit.add_argument("--dtype", choices=["float32", "float64"], help="floating-point type of the model")
    fit.add_argument("--verbose", type=int,
                     help="progress output: 1 a line per epoch (EM iteration), 2 also a bar over the batches of "
                          "long epochs (neural)")
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
