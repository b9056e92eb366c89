"""Every script in examples/ runs headless and writes its pictures.

Each example runs in a subprocess with the Agg backend and ``--quick`` (far
fewer epochs than the committed pictures) into a temporary directory.
Select these tests with ``-m examples``, leave them out with ``-m "not examples"``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"

# Each example and the PNG files it writes.
EXAMPLES = {
    "digits_latent_space": ["digits_latent_space.png"],
    "digits_reconstructions_and_samples": ["digits_reconstructions.png", "digits_samples.png"],
    "missing_values": ["missing_values_error.png", "missing_values_images.png"],
    "imputation": ["imputation.png"],
    "linear_vae_equals_ppca": ["linear_vae_equals_ppca.png"],
    "log_likelihood_estimators": ["log_likelihood_estimators.png"],
    "pipeline": ["pipeline.png"],
}

pytestmark = [
    pytest.mark.examples,
    pytest.mark.skipif(not EXAMPLES_DIR.is_dir(), reason="examples/ is not next to the tests (installed tests?)"),
]


def test_every_example_is_listed():
    scripts = {path.stem for path in EXAMPLES_DIR.glob("*.py") if not path.name.startswith("_")}
    assert scripts == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_and_writes_its_pictures(name, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(EXAMPLES_DIR / f"{name}.py"), "--quick", "--output-dir",
                             str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    for picture in EXAMPLES[name]:
        path = tmp_path / picture
        assert path.is_file(), f"{name} did not write {picture}:\n{result.stdout}"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size < 200_000
