"""Hyper-parameter validation: every selector declares ``_parameter_constraints`` and
``fit`` checks them before looking at the data (scikit-learn's contract)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sklearn.utils.estimator_checks import check_param_validation

import autoens.selectors
from autoens.selectors import SELECTOR_NAMES, BaseSelector, get_selector
from autoens.testing import make_prediction_tensor

SELECTOR_CLASSES = sorted(
    (
        cls
        for cls in vars(autoens.selectors).values()
        if isinstance(cls, type)
        and issubclass(cls, BaseSelector)
        and cls is not BaseSelector
    ),
    key=lambda cls: cls.__name__,
)
PACKAGE = Path(autoens.selectors.__file__).parent


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_every_registered_selector_validates_its_parameters(name: str) -> None:
    selector = get_selector(name, random_state=0)
    check_param_validation(type(selector).__name__, selector)


@pytest.mark.parametrize("cls", SELECTOR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_selector_class_validates_its_default_parameters(
    cls: type[BaseSelector],
) -> None:
    check_param_validation(cls.__name__, cls())


@pytest.mark.parametrize("cls", SELECTOR_CLASSES, ids=lambda cls: cls.__name__)
def test_constraints_cover_exactly_the_parameters(cls: type[BaseSelector]) -> None:
    assert set(cls._parameter_constraints) == set(cls().get_params(deep=False))


def test_parameters_are_checked_before_the_data() -> None:
    P, y = make_prediction_tensor(3, 20)
    with pytest.raises(ValueError, match="'ensemble_size' parameter of Greedy"):
        get_selector("ges").set_params(ensemble_size=0).fit(P[0], y)


def test_a_bad_candidate_parameter_fails_only_that_candidate() -> None:
    P, y = make_prediction_tensor(4, 60, random_state=1)
    sel = get_selector("auto", random_state=0)
    sel.set_params(candidates=["ges", ("qp", {"ridge": -1.0})]).fit(P, y)
    board = sel.selector_leaderboard_.set_index("candidate")
    assert "'ridge' parameter of QPSelector" in board.loc["qp", "error"]
    assert sel.chosen_name_ == "ges"


def test_registry_names_keep_their_order() -> None:
    assert SELECTOR_NAMES == (
        "ges",
        "greedy",
        "single_best",
        "single-best",
        "qo-es",
        "qdo-es",
        "cmaes",
        "cmaes-raw",
        "qp",
        "qp-balanced",
        "qp-logloss",
        "stacking",
        "nnls-stacking",
        "knora-e",
        "knora-u",
        "des-p",
        "knop",
        "ola",
        "meta-des",
        "oracle",
        "qp-affine",
        "des-local",
        "local-best",
        "auto",
    )


def _imports(path: Path) -> set[str]:
    """autoens.selectors modules imported anywhere in a file (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.startswith("autoens.selectors"))
    return found


def test_selector_modules_import_no_cycle() -> None:
    modules = {
        (
            "autoens.selectors"
            if p.stem == "__init__"
            else f"autoens.selectors.{p.stem}"
        ): p
        for p in PACKAGE.glob("*.py")
    }
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
