"""Warm start: a fixed, diverse list of strong configurations tried first.

A short portfolio of defaults and known-good settings gives the ensemble a strong,
diverse pool within the first trials, before any proposer has data to learn from
(the idea behind auto-sklearn 2's and AutoGluon's portfolios).  Cheap learners come
first so that a tight budget still ends with several members.  Each task family has
its own portfolio (:data:`DEFAULT_PORTFOLIO` for classification,
:data:`DEFAULT_REGRESSION_PORTFOLIO`): a learner name means the family's model.

A portfolio can also be a JSON file (:func:`write_portfolio`, :func:`read_portfolio`),
e.g. one learned from benchmark results by ``autoens portfolio build``: configs
chosen greedily so that the ensemble of the portfolio is good across many tasks
(the zero-shot portfolios of Feurer et al. 2022, "Auto-sklearn 2.0: hands-free AutoML
via meta-learning", and Salinas & Erickson 2023, "TabRepo: a large scale repository
of tabular model evaluations and its AutoML applications").
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from autoens.space.learners import DEFAULT_LEARNERS, DEFAULT_REGRESSORS, task_family
from autoens.space.registry import TASK_FAMILIES, LearnerSpec, check_params

__all__ = [
    "DEFAULT_PORTFOLIO",
    "DEFAULT_REGRESSION_PORTFOLIO",
    "PORTFOLIO_FORMAT",
    "PORTFOLIO_VERSION",
    "PortfolioFile",
    "get_portfolio",
    "read_portfolio",
    "write_portfolio",
]

logger = logging.getLogger("autoens")

#: The ``format`` field of a portfolio file, and the version this code writes.
PORTFOLIO_FORMAT = "autoens-portfolio"
PORTFOLIO_VERSION = 1

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
    portfolio: Literal["default"]
    | str
    | os.PathLike[str]
    | Sequence[tuple[str, Mapping[str, Any]]]
    | None,
    specs: Sequence[LearnerSpec],
    task: Any = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Resolve ``portfolio=`` to complete, validated ``(learner, params)`` configs.

    ``"default"`` keeps the configs of the default portfolio of ``task``'s family
    (a task object or type) whose learner is in ``specs``; without a task, the family
    of ``specs`` when they agree on one, else classification. ``None`` means no warm
    start; a sequence is checked against ``specs``. Any other string (or path) is a
    portfolio file (:func:`read_portfolio`): like ``"default"``, its configs of
    learners known to the family but not searched are left out (so a portfolio
    learned with LightGBM still serves a search without it), while an unknown learner
    or a hyper-parameter outside its space is an error. Every returned config has a
    value for every hyper-parameter, so an enqueued trial is fully fixed rather than
    partly sampled.
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
    items: Sequence[tuple[str, Mapping[str, Any]]]
    if isinstance(portfolio, str) and portfolio == "default":
        items = [
            (name, params) for name, params in _PORTFOLIOS[family] if name in by_name
        ]
    elif isinstance(portfolio, str | os.PathLike):
        items = _file_items(portfolio, family, by_name)
    else:
        items = portfolio
    configs: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for item in items:
        _check_entry(item)
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


@dataclasses.dataclass(frozen=True)
class PortfolioFile:
    """A portfolio read from a JSON file: its task family, its ``(learner, params)``
    configs in the order they are tried, and free-form ``metadata`` (how it was built:
    the command, the tasks, the scores)."""

    family: str
    configs: tuple[tuple[str, dict[str, Any]], ...]
    metadata: dict[str, Any]


def write_portfolio(
    path: str | os.PathLike[str],
    configs: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    family: str = "classification",
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``configs`` as a portfolio file that ``portfolio=path`` reads back.

    The file is JSON (``format``, ``version``, ``family``, ``configs`` as
    ``{"learner", "params"}`` objects, ``metadata``), written atomically. JSON keeps
    ``1`` and ``1.0`` apart, which matters: some spaces offer both (one feature, all
    features). Returns the path written.
    """
    if family not in TASK_FAMILIES:
        raise ValueError(f"family must be one of {TASK_FAMILIES}, got {family!r}")
    entries = []
    for item in configs:
        _check_entry(item)
        entries.append({"learner": item[0], "params": dict(item[1])})
    if not entries:
        raise ValueError("a portfolio file needs at least one config")
    document = {
        "format": PORTFOLIO_FORMAT,
        "version": PORTFOLIO_VERSION,
        "family": family,
        "configs": entries,
        "metadata": dict(metadata or {}),
    }
    try:
        text = json.dumps(document, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"the portfolio cannot be written as JSON ({exc}); params must be "
            "strings, numbers, booleans or None"
        ) from None
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    Path(tmp).replace(out)
    return out


def read_portfolio(path: str | os.PathLike[str]) -> PortfolioFile:
    """Read a portfolio file written by :func:`write_portfolio`.

    Checks the structure only (format, version, family, ``{"learner", "params"}``
    entries); :func:`get_portfolio` checks the learners and their hyper-parameters
    against the learners a search uses. Every problem is a ValueError naming the file.
    """
    file = Path(path)

    def bad(message: str) -> ValueError:
        return ValueError(f"portfolio file {str(path)!r}: {message}")

    if not file.is_file():
        raise ValueError(
            f"portfolio must be 'default', None, a sequence of (learner, params) "
            f"pairs or the path of a portfolio JSON file; no file {str(path)!r} "
            "(write one with `autoens portfolio build` or write_portfolio)"
        )
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad(f"not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != PORTFOLIO_FORMAT:
        raise bad(
            f"not a portfolio file (expected a JSON object with format = "
            f"{PORTFOLIO_FORMAT!r})"
        )
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise bad(f"version must be a positive integer, got {version!r}")
    if version > PORTFOLIO_VERSION:
        raise bad(
            f"format version {version} is newer than this autoens reads "
            f"({PORTFOLIO_VERSION}); upgrade autoens"
        )
    family = document.get("family")
    if family not in TASK_FAMILIES:
        raise bad(f"family must be one of {TASK_FAMILIES}, got {family!r}")
    entries = document.get("configs")
    if not isinstance(entries, list) or not entries:
        raise bad("'configs' must be a non-empty list of {learner, params} objects")
    configs = []
    for i, entry in enumerate(entries):
        if (
            not isinstance(entry, dict)
            or set(entry) != {"learner", "params"}
            or not isinstance(entry["learner"], str)
            or not isinstance(entry["params"], dict)
        ):
            raise bad(
                f"configs[{i}] must be an object with exactly a 'learner' string "
                f"and a 'params' object, got {entry!r}"
            )
        configs.append((entry["learner"], dict(entry["params"])))
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        raise bad(f"'metadata' must be an object, got {type(metadata).__name__}")
    return PortfolioFile(family, tuple(configs), metadata)


def _check_entry(item: Any) -> None:
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


def _file_items(
    path: str | os.PathLike[str], family: str, by_name: Mapping[str, LearnerSpec]
) -> list[tuple[str, dict[str, Any]]]:
    """The configs of a portfolio file that the searched learners can run."""
    loaded = read_portfolio(path)
    if loaded.family != family:
        raise ValueError(
            f"portfolio file {str(path)!r} holds {loaded.family} configs, but this "
            f"is a {family} task; use a {family} portfolio"
        )
    catalogue = DEFAULT_REGRESSORS if family == "regression" else DEFAULT_LEARNERS
    items, skipped = [], []
    for name, params in loaded.configs:
        spec = by_name.get(name, catalogue.get(name))
        if spec is not None:
            try:
                check_params(spec, params)
            except ValueError as exc:
                raise ValueError(f"portfolio file {str(path)!r}: {exc}") from None
        if name in by_name:
            items.append((name, params))
        elif name in catalogue:
            skipped.append(name)
        else:
            raise ValueError(
                f"portfolio file {str(path)!r} uses learner {name!r}, which is "
                f"neither a {family} learner ({', '.join(sorted(catalogue))}) nor "
                f"among the learners searched {sorted(by_name)}"
            )
    if skipped:
        logger.info(
            "portfolio file %s: %d config(s) of learners not searched (%s) left out",
            path,
            len(skipped),
            ", ".join(sorted(set(skipped))),
        )
    if not items:
        raise ValueError(
            f"portfolio file {str(path)!r} has no config of the learners searched "
            f"{sorted(by_name)}; it uses {sorted(set(skipped))}: add them to learners"
        )
    return items
