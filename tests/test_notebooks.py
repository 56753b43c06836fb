"""The notebooks in notebooks/ are committed without outputs and match build.py.

They are executed separately, by nbmake (``pytest --nbmake notebooks/``, with
``AUTOENS_FAST=1`` in CI); this file only checks what is committed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = [
    "01_quickstart.ipynb",
    "02_selectors_on_one_cache.ipynb",
    "03_benchmark_report.ipynb",
    "04_regression.ipynb",
]


def test_the_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_stripped_and_valid(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code cells"
    for cell in code:
        assert cell.outputs == [], f"{name}: a code cell has outputs"
        assert cell.execution_count is None, f"{name}: a code cell has a count"
    # fast mode (AUTOENS_FAST=1, set in CI) is read before anything expensive
    assert 'os.environ.get("AUTOENS_FAST"' in code[0].source


def test_notebooks_match_their_builder(tmp_path):
    """Edit notebooks/build.py, then run it: the committed files are its output."""
    spec = importlib.util.spec_from_file_location("nb_build", NOTEBOOKS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path in module.build(tmp_path):
        committed = (NOTEBOOKS / path.name).read_text(encoding="utf-8")
        assert path.read_text(encoding="utf-8") == committed, (
            f"{path.name} differs from `python notebooks/build.py` output; rebuild it"
        )
