"""Warm start: a fixed, diverse list of strong configurations tried first.

A short portfolio of defaults and known-good settings gives the ensemble a strong,
diverse pool within the first trials, before any proposer has data to learn from
(the idea behind auto-sklearn 2's and AutoGluon's portfolios).  Cheap learners come
first so that a tight budget still ends with several members.  Each task family has
its own portfolio (:data:`DEFAULT_PORTFOLIO` for classification,
:data:`DEFAULT_REGRESSION_PORTFOLIO`): a learner name means the family's model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from autoens.space.learners import task_family
from autoens.space.registry import LearnerSpec, check_params

__all__ = ["DEFAULT_PORTFOLIO", "DEFAULT_REGRESSION_PORTFOLIO", "get_portfolio"]

#: (learner, params) pairs; params not given take the learner's defaults.
DEFAULT_PORTFOLIO: tuple[tuple[str, dict[str, Any]], ...] = (
    # Every learner's defaults, fast ones first.
    ("logreg", {}),
    ("hist_gb", {}),
    ("random_forest", {}),
    ("extra_trees", {}),
    ("lightgbm", {}),
    ("xgboost", {}),
    ("knn", {}),
    ("mlp", {}),
    # Known-good variants.
    (
        "lightgbm",  # bigger trees, slower learning
        {
            "n_estimators": 300,
            "learning_rate": 0.05,
            "num_leaves": 64,
            "min_child_samples": 10,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
        },
    ),
    ("extra_trees", {"max_features": 1.0}),  # Geurts et al.'s "all features" ET
    ("logreg", {"C": 0.1}),  # stronger regularisation
    ("knn", {"n_neighbors": 15, "weights": "distance"}),
    (
        "xgboost",  # shallow, slow learning, row/column subsampling
        {
            "n_estimators": 300,
            "learning_rate": 0.05,
            "max_depth": 4,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
        },
    ),
    ("random_forest", {"max_features": 0.5, "criterion": "entropy"}),
    (
        "hist_gb",  # smaller trees, slower learning, feature subsampling
        {
            "learning_rate": 0.05,
            "max_iter": 300,
            "max_leaf_nodes": 15,
            "l2_regularization": 1.0,
            "max_features": 0.5,
        },
    ),
    (
        "lightgbm",  # small, heavily regularised trees: good on small data
        {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 8,
            "min_child_samples": 30,
            "reg_lambda": 1.0,
        },
    ),
)

#: The regression portfolio: (learner, params) pairs as in :data:`DEFAULT_PORTFOLIO`.
DEFAULT_REGRESSION_PORTFOLIO: tuple[tuple[str, dict[str, Any]], ...] = (
    # Every learner's defaults, fast ones first.
    ("ridge", {}),
    ("elastic_net", {}),
    ("hist_gb", {}),
    ("random_forest", {}),
    ("extra_trees", {}),
    ("lightgbm", {}),
    ("xgboost", {}),
    ("knn", {}),
    ("mlp", {}),
    # Known-good variants (the classification ones where the model is the same).
    (
        "lightgbm",  # bigger trees, slower learning
        {
            "n_estimators": 300,
            "learning_rate": 0.05,
            "num_leaves": 64,
            "min_child_samples": 10,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
        },
    ),
    ("extra_trees", {"max_features": 0.5}),  # decorrelated trees
    ("ridge", {"alpha": 10.0}),  # stronger regularisation
    ("knn", {"n_neighbors": 15, "weights": "distance"}),
    (
        "xgboost",  # shallow, slow learning, row/column subsampling
        {
            "n_estimators": 300,
            "learning_rate": 0.05,
            "max_depth": 4,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
        },
    ),
    ("random_forest", {"max_features": 1.0}),  # scikit-learn's default: bagged trees
    (
        "hist_gb",  # smaller trees, slower learning, feature subsampling
        {
            "learning_rate": 0.05,
            "max_iter": 300,
            "max_leaf_nodes": 15,
            "l2_regularization": 1.0,
            "max_features": 0.5,
        },
    ),
    (
        "lightgbm",  # small, heavily regularised trees: good on small data
        {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 8,
            "min_child_samples": 30,
            "reg_lambda": 1.0,
        },
    ),
    ("elastic_net", {"alpha": 0.003, "l1_ratio": 1.0}),  # the lasso
)

_PORTFOLIOS = {
    "classification": DEFAULT_PORTFOLIO,
    "regression": DEFAULT_REGRESSION_PORTFOLIO,
}


def get_portfolio(
    portfolio: Literal["default"] | Sequence[tuple[str, Mapping[str, Any]]] | None,
    specs: Sequence[LearnerSpec],
    task: Any = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Resolve ``portfolio=`` to complete, validated ``(learner, params)`` configs.

    ``"default"`` keeps the configs of the default portfolio of ``task``'s family
    (a task object or type) whose learner is in ``specs``; without a task, the family
    of ``specs`` when they agree on one, else classification. ``None`` means no warm
    start; a sequence is checked against ``specs``.  Every returned config has a value
    for every hyper-parameter, so an enqueued trial is fully fixed rather than partly
    sampled.
    """
    by_name = {spec.name: spec for spec in specs}
    families = {spec.family for spec in specs}
    if task is not None:
        family = task_family(task)
        wrong = sorted(spec.name for spec in specs if spec.family != family)
        if wrong:
            raise ValueError(
                f"learners {wrong} do not serve {family}; resolve them with "
                "get_learners(learners, task) for this task"
            )
    else:
        family = families.pop() if len(families) == 1 else "classification"
    if portfolio is None:
        return []
    if isinstance(portfolio, str):
        if portfolio != "default":
            raise ValueError(
                f"portfolio must be 'default', None or a sequence of (learner, params) "
                f"pairs, got {portfolio!r}"
            )
        items: Sequence[tuple[str, Mapping[str, Any]]] = [
            (name, params) for name, params in _PORTFOLIOS[family] if name in by_name
        ]
    else:
        items = portfolio
    configs: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for item in items:
        if (
            not isinstance(item, Sequence)
            or isinstance(item, str)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], Mapping)
        ):
            raise ValueError(
                f"each portfolio entry must be a (learner name, params dict) pair, "
                f"got {item!r}"
            )
        name, params = item
        if name not in by_name:
            raise ValueError(
                f"portfolio entry uses learner {name!r}, which is not among the "
                f"learners searched {sorted(by_name)}"
            )
        spec = by_name[name]
        check_params(spec, params)
        full = {**spec.defaults, **params}
        key = json.dumps([name, sorted(full.items())], default=repr)
        if key in seen:
            raise ValueError(f"portfolio lists ({name!r}, {full!r}) twice")
        seen.add(key)
        configs.append((name, full))
    return configs
