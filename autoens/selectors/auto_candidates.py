"""What ``selector="auto"`` tries: the default candidates and their simplicity tiers.

A candidate is a registry name plus a few parameters. The tiers order them for the
one-standard-error rule of :class:`~autoens.selectors.auto.AutoSelector`: GES first,
then the other weighted averages, then stacking (with GES for a label metric), then
dynamic selectors. Each task
family has its own default list: for regression GES, QP, the ridge stacker and
local-error weighting (``des-local``) over a small grid.
"""

from __future__ import annotations

from typing import Any

from autoens.metrics import Metric, get_metric
from autoens.selectors.base import REGRESSION, BaseSelector
from autoens.selectors.greedy import GreedyEnsembleSelection
from autoens.selectors.registry import BUILTIN_SELECTORS

__all__ = ["default_candidates"]

#: Static candidates, simplest first (registry names and parameters).
_STATIC: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ges", {}),
    ("qp", {}),
    ("qo-es", {}),
    # The stacker's own inner CV only sets its validation loss, which auto does not
    # read: 2 folds halve the cost of the slowest static candidate.
    ("stacking", {"cv": 2}),
)
#: Dynamic selectors and their small grids (k in {5, 7, 11, 15}, soft and hard
#: voting, DES mode), trimmed so that choosing costs a few seconds on a
#: 16-model library (benchmarks/RESULTS.md): the full k grid for the two KNORA
#: methods, two sizes for the others, META-DES (10x the cost of a KNORA fit) once.
#: A key missing from a selector's parameters is skipped.
_DYNAMIC: tuple[tuple[str, dict[str, tuple[Any, ...]]], ...] = (
    ("knora-e", {"k": (5, 7, 11, 15)}),
    ("knora-u", {"k": (5, 7, 11, 15)}),
    ("des-p", {"k": (7, 15)}),
    ("knop", {"k": (7, 15)}),
    ("ola", {"k": (7, 15)}),
    ("meta-des", {"k": (7,)}),
)
#: Regression candidates, simplest first: the static ones, then ``des-local`` over
#: k in {15, 30} (local MSEs over fewer rows are noisy; the measurements are in
#: autoens.selectors.dynamic_regression) and power in {1, 3} (inverse-variance
#: weights, or sharper ones, which did better on libraries of globally correlated
#: learners).
_REGRESSION: tuple[tuple[str, dict[str, tuple[Any, ...]]], ...] = (
    ("ges", {}),
    ("qp", {}),
    ("stacking", {"cv": (2,)}),
    ("des-local", {"k": (15, 30), "power": (1.0, 3.0)}),
)
#: Hard voting returns vote shares (k + 1 levels, exact zeros): never competitive on
#: ROC AUC, log loss or Brier, so it is tried only for label metrics.
_LABEL_METRICS = frozenset({"error_rate", "balanced_error_rate"})

# Simplicity tiers of the one-standard-error rule (lower = simpler).
_TIER_GES, _TIER_AVERAGE, _TIER_STACKING, _TIER_DYNAMIC = 0, 1, 2, 3
_TIER_NAMES = {
    _TIER_GES: "ges",
    _TIER_AVERAGE: "weighted average",
    _TIER_STACKING: "stacking",
    _TIER_DYNAMIC: "dynamic",
}


def default_candidates(
    metric: str | Metric | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The default candidate list: registered static selectors, then dynamic grids.

    With a label metric (error rate, balanced error rate) each dynamic method is
    also tried once with hard voting (k=7). Names not registered in this version
    are left out; grid keys a selector does not have are ignored.
    """
    resolved = None if metric is None else get_metric(metric)
    if resolved is not None and resolved.task.family == REGRESSION:
        return _regression_candidates()
    label_metric = resolved is not None and resolved.name in _LABEL_METRICS
    registered = BUILTIN_SELECTORS.names
    out: list[tuple[str, dict[str, Any]]] = [
        (name, dict(params)) for name, params in _STATIC if name in registered
    ]
    for name, base_grid in _DYNAMIC:
        if name not in registered:
            continue
        known = BUILTIN_SELECTORS.get(name).get_params(deep=False)
        grid = {**base_grid, "voting": ("soft",)}
        grid = {key: values for key, values in grid.items() if key in known}
        combos: list[dict[str, Any]] = [{}]
        for key, values in grid.items():
            combos = [{**c, key: v} for c in combos for v in values]
        if label_metric and "voting" in known:
            # Hard voting once per method, at DESlib's default k=7.
            hard = {"k": 7, "voting": "hard"}
            combos.append({key: v for key, v in hard.items() if key in known})
        out.extend((name, combo) for combo in combos)
    return out


def _regression_candidates() -> list[tuple[str, dict[str, Any]]]:
    """The regression defaults: every combination of each entry's grid."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, grid in _REGRESSION:
        if name not in BUILTIN_SELECTORS.names:
            continue
        combos: list[dict[str, Any]] = [{}]
        for key, values in grid.items():
            combos = [{**c, key: v} for c in combos for v in values]
        out.extend((name, combo) for combo in combos)
    return out


class _Candidate:
    """One candidate: registry name, grid parameters, unfitted template."""

    def __init__(
        self,
        name: str,
        params: dict[str, Any],
        template: BaseSelector,
        default: bool,
        label_metric: bool = False,
    ) -> None:
        self.name = name
        self.params = params
        self.template = template
        self.default = default
        self.kind = _TIER_NAMES[_tier(template)]
        self.tier = _tier(template, label_metric)
        self.label = _describe(name, params)


def _skip_reason(
    cand: _Candidate, have_X: bool, max_k: int, family: str | None = None
) -> str:
    """Why a candidate cannot be scored on this data ("" if it can)."""
    template = cand.template
    if family is not None and family not in template.task_families:
        return f"skipped: does not support {family}"
    if template.is_dynamic and not have_X and _needs_X(template):
        return "skipped: needs X (the competence features) to find neighbours"
    k = cand.params.get("k")
    if cand.default and isinstance(k, int) and k > max_k:
        return f"skipped: k={k} but an inner training fold has only {max_k + 1} rows"
    return ""


def _needs_X(selector: BaseSelector) -> bool:
    """Dynamic selectors find neighbours in X, except those (KNOP) that use the
    members' output profiles."""
    return bool(getattr(type(selector), "_feature_space", True))


def _tier(selector: BaseSelector, label_metric: bool = False) -> int:
    """The selector's simplicity tier for the one-standard-error rule.

    For a label metric stacking shares GES's tier, so the lower inner-CV loss of the
    two wins: on the dev-12 libraries stacking was better than GES on balanced
    accuracy on test, and ``auto`` with this rule beat ``auto`` without it
    (``benchmarks/auto_rule.py``, figures in ``benchmarks/RESULTS.md``).
    """
    if selector.is_dynamic:
        return _TIER_DYNAMIC
    if not selector.is_weighted_average:
        return _TIER_GES if label_metric else _TIER_STACKING
    if isinstance(selector, GreedyEnsembleSelection):
        return _TIER_GES
    return _TIER_AVERAGE


def _describe(name: str, params: dict[str, Any]) -> str:
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
