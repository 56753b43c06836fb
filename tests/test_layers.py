"""The import graph: no circles, layers respected, predicting needs no search.

Every ``import`` and ``from ... import`` in ``autoens/`` is read with ``ast``, those
inside functions and ``TYPE_CHECKING`` blocks included (they are dependencies too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "autoens"
# Layers above the core: nothing in the core may import them.
OUTER = ("autoens.cli", "autoens.benchmark")
CORE = (
    "autoens.estimator",
    "autoens.orchestrator",
    "autoens.intervals",
    "autoens.task",
    "autoens.folds",
    "autoens.search",
    "autoens.selectors",
    "autoens.cache",
    "autoens.ensemble",
    "autoens.metrics",
    "autoens.space",
    "autoens.library",
    "autoens.members",
    "autoens.trials",
    "autoens.tabular",
    "autoens.callbacks",
    "autoens.replay",
    "autoens.datasets",
    "autoens.testing",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The autoens modules ``path`` imports, resolved to the module files they name
    (``from autoens.x import y`` counts as ``autoens.x.y`` when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found.update(n for n in names if n == "autoens" or n.startswith("autoens."))
    found.discard(_module_name(path))
    return {n for n in found if n in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_there_are_no_import_cycles(graph):
    # Tarjan's strongly connected components: any component of two or more
    # modules (or a module importing itself) is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == [], f"import cycles: {cycles}"


def test_the_core_never_imports_cli_or_benchmark(graph):
    bad = {
        (name, dep)
        for name, deps in graph.items()
        if _within(name, CORE)
        for dep in deps
        if _within(dep, OUTER)
    }
    assert bad == set()


def test_benchmark_never_imports_cli(graph):
    bad = {
        (name, dep)
        for name, deps in graph.items()
        if _within(name, ("autoens.benchmark",))
        for dep in deps
        if _within(dep, ("autoens.cli",))
    }
    assert bad == set()


def test_the_graph_is_read_with_function_level_imports(graph):
    # a guard on the reader itself: the orchestrator imports the search front door in
    # fit, and that edge must be seen
    assert "autoens.search" in graph["autoens.orchestrator"]
    assert "autoens.cache" in graph["autoens.library"]


def test_loading_a_model_and_predicting_imports_no_search_module(tmp_path, binary_data):
    import joblib

    from autoens import AutoEnsembleClassifier
    from autoens.testing import FAST_FIT

    X, y = binary_data
    model = AutoEnsembleClassifier(**FAST_FIT).fit(X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    X.to_csv(tmp_path / "X.csv", index=False)
    script = textwrap.dedent(
        f"""
        import sys
        import autoens.ensemble
        import joblib
        import pandas as pd
        model = joblib.load({str(path)!r})
        proba = model.predict_proba(pd.read_csv({str(tmp_path / "X.csv")!r}))
        assert proba.shape == ({len(X)}, 2), proba.shape
        loaded = sorted(m for m in sys.modules if m.startswith("autoens.search"))
        print(",".join(loaded))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"predicting loaded: {out.stdout.strip()}"
