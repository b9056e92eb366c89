"""The README and the documentation site agree with the repository: every
example is linked and has its page, every picture they show exists, and the
site's benchmark tables carry the README's numbers."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not next to the tests (installed tests?)")

EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py") if not path.name.startswith("_"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_is_linked_from_the_readme_and_has_a_page(name):
    assert f"(examples/{name}.py)" in README.read_text()
    page = DOCS / "examples" / f"{name}.rst"
    assert page.is_file()
    assert f"examples/{name}.py" in page.read_text()
    assert f"examples/{name}\n" in (DOCS / "examples.rst").read_text()


def test_every_picture_shown_exists_and_is_small():
    shown = re.findall(r"\(docs/(images/[\w.]+\.png)\)", README.read_text())
    for page in DOCS.rglob("*.rst"):
        shown += [match.lstrip("./") for match in re.findall(r"(?:image|figure):: ((?:\.\./)*images/[\w.]+\.png)",
                                                             page.read_text())]
    assert shown
    for picture in set(shown):
        path = DOCS / picture
        assert path.is_file(), picture
        assert path.stat().st_size < 200_000, picture


def test_benchmark_page_carries_the_readme_numbers():
    readme = README.read_text()
    cells = [cell.replace("``", "`") for cell in re.findall(r'"([^"\n]*\d[^"\n]*)"', (DOCS / "benchmarks.rst").read_text())]
    assert len(cells) >= 30
    missing = [cell for cell in cells if cell not in readme]
    assert not missing, f"docs/benchmarks.rst has table cells that the README does not: {missing}"
