"""The command line ``python -m vaekit``: fit, encode, decode, sample, score,
against the Python API, and its one-line errors (exit status 2).

Most tests call ``vaekit.__main__.main`` in-process (a subprocess costs a
second of imports); the fit -> encode round trip and one error also run as
real subprocesses.
"""

import contextlib
import io
import os
import subprocess
import sys
from functools import partial
from types import SimpleNamespace

import _data
import numpy as np
import pytest

import vaekit
from vaekit.__main__ import main


def run(*args, cwd):
    """``python -m vaekit args`` in-process: returncode, stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                returncode = main([str(arg) for arg in args])
            except SystemExit as exit:  # argparse: --help, usage errors
                returncode = exit.code
    finally:
        os.chdir(previous)
    return SimpleNamespace(returncode=returncode, stdout=stdout.getvalue(), stderr=stderr.getvalue())


def run_subprocess(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vaekit", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


# This module's data: 300 samples near a plane in 6 dimensions.
low_rank_data = partial(_data.low_rank_data, n=300, n_features=6, rank=2, noise=0.1, latent_first=True)


@pytest.fixture(scope="module")
def vae_files(tmp_path_factory):
    """A VAE fitted by the command line from a CSV file with a header."""
    folder = tmp_path_factory.mktemp("cli")
    X = low_rank_data()
    np.savetxt(folder / "data.csv", X, delimiter=",", header=",".join(f"f{j}" for j in range(6)), comments="")
    np.save(folder / "data.npy", X)
    result = run_subprocess("fit", "vae", "data.csv", "-o", "model.safetensors", "--n-components", 2,
                 "--hidden-layer-sizes", "16,8", "--max-iter", 5, "--random-state", 0, "--dtype", "float64",
                 cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, X


def test_fit_then_encode_gives_python_transform(vae_files):
    folder, X = vae_files
    model = vaekit.load(folder / "model.safetensors")
    assert model.hidden_layer_sizes == (16, 8) and model.max_iter == 5 and model.n_iter_ == 5
    result = run("encode", "model.safetensors", "data.npy", "-o", "latent.npy", cwd=folder)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(folder / "latent.npy"), model.transform(X))
    stdout = run_subprocess("encode", "model.safetensors", "data.csv", cwd=folder).stdout  # CSV on stdout
    np.testing.assert_array_equal(np.loadtxt(stdout.splitlines(), delimiter=","), model.transform(X))


def test_decode_sample_and_score_give_the_python_results(vae_files):
    folder, X = vae_files
    model = vaekit.load(folder / "model.safetensors")
    np.save(folder / "latent.npy", model.transform(X))
    decoded = run("decode", "model.safetensors", "latent.npy", cwd=folder).stdout
    np.testing.assert_array_equal(np.loadtxt(decoded.splitlines(), delimiter=","),
                                  model.inverse_transform(model.transform(X)))
    samples = run("sample", "model.safetensors", "-n", 4, "--random-state", 3, cwd=folder).stdout
    np.testing.assert_array_equal(np.loadtxt(samples.splitlines(), delimiter=","),
                                  model.sample(4, random_state=3))
    mean = run("score", "model.safetensors", "data.npy", "--mean", cwd=folder).stdout
    assert float(mean) == pytest.approx(model.score(X), rel=1e-12)


def test_fit_ppca_from_npy(tmp_path):
    X = low_rank_data()
    np.save(tmp_path / "data.npy", X)
    assert run("fit", "ppca", "data.npy", "-o", "ppca.safetensors", "--n-components", 2, cwd=tmp_path).returncode == 0
    np.testing.assert_allclose(vaekit.load(tmp_path / "ppca.safetensors").transform(X),
                               vaekit.PPCA(n_components=2).fit(X).transform(X))


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error:"), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_file_is_a_one_line_error(vae_files):
    folder, _ = vae_files
    assert_one_line_error(run_subprocess("encode", "model.safetensors", "absent.csv", cwd=folder),
                          "absent.csv", "no such file")
    assert_one_line_error(run("encode", "absent.safetensors", "data.csv", cwd=folder), "absent.safetensors")


def test_wrong_width_is_a_one_line_error(vae_files):
    folder, X = vae_files
    np.save(folder / "narrow.npy", X[:, :4])
    assert_one_line_error(run("encode", "model.safetensors", "narrow.npy", cwd=folder),
                          "4 columns", "expects 6")
    assert_one_line_error(run("decode", "model.safetensors", "narrow.npy", cwd=folder),
                          "4 columns", "expects 2")


def test_bad_csv_is_a_one_line_error(tmp_path):
    (tmp_path / "text.csv").write_text("1,2,3\n4,five,6\n")
    assert_one_line_error(run("fit", "ppca", "text.csv", "-o", "m.safetensors", cwd=tmp_path),
                          "line 2", "'five' is not a number")
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    assert_one_line_error(run("fit", "ppca", "ragged.csv", "-o", "m.safetensors", cwd=tmp_path),
                          "line 2", "2 columns")


def test_an_option_of_another_model_kind_is_a_one_line_error(tmp_path):
    np.save(tmp_path / "data.npy", low_rank_data())
    assert_one_line_error(run("fit", "ppca", "data.npy", "-o", "m.safetensors", "--beta", 2, cwd=tmp_path),
                          "--beta", "ppca")


def test_help_everywhere(tmp_path):
    for command in ([], ["fit"], ["encode"], ["decode"], ["sample"], ["score"]):
        result = run(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "usage: vaekit" in result.stdout


def test_a_closed_pipe_stops_quietly(tmp_path):
    # `vaekit sample ... | head -1`: the reader goes away; no traceback, no "error:" line.
    model = tmp_path / "ppca.safetensors"
    rng = np.random.default_rng(0)
    vaekit.PPCA(n_components=2).fit(rng.normal(size=(50, 4))).save(model)
    pipeline = subprocess.Popen([sys.executable, "-m", "vaekit", "sample", str(model), "-n", "200000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pipeline.stdout.readline()
    pipeline.stdout.close()
    _, stderr = pipeline.communicate(timeout=120)
    assert b"error" not in stderr and b"Traceback" not in stderr, stderr.decode()
