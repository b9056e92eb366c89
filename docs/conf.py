"""Sphinx configuration of vaekit's documentation.

Build (warnings are errors, as in CI): ``sphinx-build -W -b html docs docs/_build/html``
with vaekit and the ``docs`` extra installed (``pip install ".[docs]"``).
"""

import vaekit

project = "vaekit"
author = "vaekit developers"
copyright = "vaekit developers"
release = vaekit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]

exclude_patterns = ["_build", "images"]
root_doc = "index"

# autodoc + numpydoc: the estimators' docstrings are numpydoc; list members
# explicitly in api.rst instead of numpydoc's autosummary tables.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"vaekit {release}"
html_static_path = []
pygments_style = "sphinx"

# Fail the build (-W) when a documented function's parameters and its
# docstring disagree: PR01 a parameter is not documented, PR02 a documented
# parameter does not exist.
numpydoc_validation_checks = {"PR01", "PR02"}
