"""The default learners of each task family, and resolving a user's ``learners=``.

The catalogues live in ``classifiers.py`` (:data:`DEFAULT_LEARNERS`) and
``regressors.py`` (:data:`DEFAULT_REGRESSORS`); a model family keeps its name in both
(``"lightgbm"`` is LightGBM's classifier or regressor, whichever the task needs), so
:func:`get_learners` resolves names against the catalogue of the task's family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Fold models and specs pickled by autoens 0.1 (in saved models and disk caches)
# refer to the build functions, ``_SafeClassifier`` and ``_clean_categories`` in this
# module; keep them importable here (``x as x`` marks a deliberate re-export).
from autoens.space.classifiers import CLASSIFIERS
from autoens.space.classifiers import build_extra_trees as build_extra_trees
from autoens.space.classifiers import build_hist_gb as build_hist_gb
from autoens.space.classifiers import build_knn as build_knn
from autoens.space.classifiers import build_lightgbm as build_lightgbm
from autoens.space.classifiers import build_logreg as build_logreg
from autoens.space.classifiers import build_mlp as build_mlp
from autoens.space.classifiers import build_random_forest as build_random_forest
from autoens.space.classifiers import build_xgboost as build_xgboost
from autoens.space.preprocessing import MISSING_CATEGORY, clean_categories
from autoens.space.registry import TASK_FAMILIES, LearnerSpec
from autoens.space.regressors import REGRESSORS
from autoens.space.wrappers import SafeClassifier

__all__ = [
    "DEFAULT_LEARNERS",
    "DEFAULT_REGRESSORS",
    "MISSING_CATEGORY",
    "default_learners",
    "get_learners",
    "task_family",
]

# Names of autoens 0.1 (see the note on the imports).
_SafeClassifier = SafeClassifier
_clean_categories = clean_categories

#: The default classification learners by name, in the order the search offers them.
DEFAULT_LEARNERS: dict[str, LearnerSpec] = {spec.name: spec for spec in CLASSIFIERS}
#: The default regression learners by name, in the order the search offers them.
DEFAULT_REGRESSORS: dict[str, LearnerSpec] = {spec.name: spec for spec in REGRESSORS}

_CATALOGUES: dict[str, Mapping[str, LearnerSpec]] = {
    "classification": DEFAULT_LEARNERS,
    "regression": DEFAULT_REGRESSORS,
}


def task_family(task: Any = None) -> str:
    """The family of ``task`` (a task object or type); None means classification."""
    if task is None:
        return "classification"
    family = getattr(task, "family", None)
    if family not in TASK_FAMILIES:
        raise ValueError(
            f"task {task!r} has family {family!r}; learners exist for "
            f"{list(TASK_FAMILIES)}"
        )
    return family


def default_learners(task: Any = None) -> Mapping[str, LearnerSpec]:
    """The default learners (by name) of ``task``'s family."""
    return _CATALOGUES[task_family(task)]


def get_learners(
    learners: Sequence[str | LearnerSpec] | None = None,
    task: Any = None,
) -> list[LearnerSpec]:
    """Resolve a user's ``learners=`` argument to a list of specs for ``task``.

    ``task`` (a task object or type; None means classification) picks the
    catalogue. ``None`` gives every default learner of that family whose library
    imports; strings are looked up in that family's catalogue; ``LearnerSpec``
    objects pass through (custom learners) when they serve the task's family.
    """
    family = task_family(task)
    catalogue = _CATALOGUES[family]
    if learners is None:
        return [spec for spec in catalogue.values() if spec.available()]
    if isinstance(learners, str | LearnerSpec):
        raise TypeError(
            "learners must be a sequence of names or LearnerSpec objects, e.g. "
            f"[{learners!r}], not a single item"
        )
    specs: list[LearnerSpec] = []
    for item in learners:
        if isinstance(item, LearnerSpec):
            spec = item
            if spec.family != family:
                raise ValueError(
                    f"learner {spec.name!r} is a {spec.family} LearnerSpec, but this "
                    f"is a {family} task; build it with family={family!r} and an "
                    f"estimator for {family}"
                )
        elif isinstance(item, str):
            spec = _lookup(item, family)
        else:
            raise TypeError(
                "learners must hold learner names or LearnerSpec objects, got "
                f"{type(item).__name__}"
            )
        specs.append(spec)
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"duplicate learner names {duplicates}; give each a unique name"
        )
    if not specs:
        raise ValueError("learners is empty; give at least one learner")
    return specs


def _lookup(name: str, family: str) -> LearnerSpec:
    catalogue = _CATALOGUES[family]
    if name not in catalogue:
        others = [f for f, c in _CATALOGUES.items() if f != family and name in c]
        hint = f" (a {others[0]} learner; this is a {family} task)" if others else ""
        raise ValueError(
            f"unknown learner {name!r}{hint}; choose from the {family} learners "
            f"{sorted(catalogue)} or pass a LearnerSpec"
        )
    spec = catalogue[name]
    if not spec.available():
        raise ValueError(
            f"learner {name!r} needs the package(s) {list(spec.requires)}, "
            "which do not import; install them or drop the learner"
        )
    return spec
