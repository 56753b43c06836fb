"""Sphinx configuration of the autoens documentation.

Build (warnings are errors, as in CI):

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference is generated from the numpydoc docstrings (autodoc + numpydoc), the
command-line reference from the argparse parsers (``_ext/cli_reference.py``), and the
notebooks of ``notebooks/`` are rendered as examples without being executed (myst-nb).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import autoens  # noqa: E402

project = "autoens"
author = "the autoens developers"
copyright = "the autoens developers"
version = release = autoens.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_nb",
    "cli_reference",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = f"autoens {release}"
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The notebooks are rendered as they are stored (generated without outputs by
# notebooks/build.py; CI executes them as tests): nothing is run here.
nb_execution_mode = "off"

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The examples: copies of notebooks/*.ipynb (the source of truth stays there).
EXAMPLES = DOCS / "examples"
EXAMPLES.mkdir(exist_ok=True)
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    target = EXAMPLES / notebook.name
    if not target.exists() or target.read_bytes() != notebook.read_bytes():
        shutil.copyfile(notebook, target)


def _skip_sklearn_members(app, what, name, obj, skip, options):
    """Leave out what scikit-learn's base classes define (``set_fit_request``,
    ``get_params``, ``score``, ...): documented by scikit-learn, with references to
    its own glossary."""
    module = getattr(obj, "__module__", None) or ""
    qualname = getattr(obj, "__qualname__", "") or ""
    if module.startswith("sklearn") or "RequestMethod" in qualname:
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_members)
