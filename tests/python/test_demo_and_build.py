"""The main job runs, and every instruction set's kernels that this CPU runs
give the same results as those chosen at import."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import vaekit
from vaekit._native import core


def test_demo_runs_and_reports_ppca_results():
    result = subprocess.run([sys.executable, "-m", "vaekit.demo"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "closed_form" in result.stdout
    assert "imputation RMSE" in result.stdout
    assert "test IWAE" in result.stdout and "linear VAE" in result.stdout


def test_version_is_exposed():
    assert vaekit.__version__ == core.__version__


SCRIPT = """
import json, numpy as np
from vaekit import PPCA
from vaekit._native import core
rng = np.random.default_rng(0)
X = rng.normal(size=(400, 30)) @ rng.normal(size=(30, 30)) + 1.0
X_missing = X.copy(); X_missing[rng.random(X.shape) < 0.1] = np.nan
closed = PPCA(5).fit(X)
em = PPCA(5, method="em", random_state=0, max_iter=30).fit(X_missing)
print(json.dumps({"isa": core.active_isa(), "closed": closed.score_samples(X).tolist(),
                  "em": em.score_samples(X_missing).tolist()}))
"""


def run_with_isa(name):
    env = dict(os.environ, VAEKIT_ISA=name)
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    return result


@pytest.mark.parametrize("isa", core.compiled_isas())
def test_every_supported_instruction_set_agrees(isa):
    result = run_with_isa(isa)
    if result.returncode != 0:
        if "does not support" in result.stderr:
            assert core.x86_64_level() < {"baseline": 1, "avx2": 3, "avx512": 4}[isa]
            pytest.skip(f"this CPU does not run {isa}")
        raise AssertionError(result.stderr)
    reference = json.loads(run_with_isa("baseline").stdout)
    output = json.loads(result.stdout)
    assert output["isa"] == isa
    np.testing.assert_allclose(output["closed"], reference["closed"], rtol=1e-9)
    np.testing.assert_allclose(output["em"], reference["em"], rtol=1e-6)


def test_unknown_instruction_set_is_a_clear_import_error():
    result = run_with_isa("sse9")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "VAEKIT_ISA=sse9" in result.stderr
