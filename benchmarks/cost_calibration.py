"""Fit the constants of the trial cost model (``autoens/search/cost.py``).

Times real trials (``evaluate_config``: all folds' fit + held-out predict, one thread)
of a fixed set of cheap, default and costly configurations per learner on real data
sets of several shapes, then fits each learner's ``(c0, c1)`` in
``k * (c0 + c1 * W)`` by least squares on the log of the time (relative error), and
prints them with the median |log error| for ``_PRIORS``. Trials recorded by
``benchmarks/divbo_speed.py`` (``--records DIR``) add larger shapes for free.

    python benchmarks/cost_calibration.py           # ~10 min on 2 cores, then cached
    python benchmarks/cost_calibration.py --records ~/.cache/autoens-divbo-speed
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from autoens.datasets import load_keel, load_regression
from autoens.search.cost import CostModel
from autoens.search.evaluate import evaluate_config
from autoens.space import get_learners
from autoens.tabular import TableSchema, check_table
from autoens.task import ClassificationTask, RegressionTask

K = 5
#: Upper bound of a learner's per-fold overhead c0, seconds.
MAX_OVERHEAD = 0.05
CLASSIFICATION = [("pima", None), ("crx", None), ("satimage", 2000), ("spambase", 2500)]
REGRESSION = [("diabetes", None)]
# Per learner: cheap, (default = {}), costly corners the search reaches.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "logreg": [{}, {"C": 1e3}],
    "ridge": [{}, {"alpha": 1e-3}],
    "elastic_net": [{}, {"alpha": 1e-4, "l1_ratio": 0.2}],
    "random_forest": [
        {},
        {"n_estimators": 50, "min_samples_leaf": 10},
        {"n_estimators": 300, "max_features": 0.5, "criterion": "entropy"},
    ],
    "extra_trees": [
        {},
        {"n_estimators": 100},
        {"n_estimators": 300, "max_features": 1.0},
    ],
    "hist_gb": [{}, {"max_iter": 300, "max_leaf_nodes": 15, "max_features": 0.5}],
    "knn": [{}, {"n_neighbors": 30, "weights": "distance"}],
    "mlp": [{}, {"n_layers": 2, "layer_size": 32}, {"n_layers": 2, "layer_size": 200}],
    "lightgbm": [
        {},
        {"n_estimators": 400, "num_leaves": 64, "min_child_samples": 10},
        {"n_estimators": 100, "num_leaves": 8, "subsample": 0.7},
    ],
    "xgboost": [
        {},
        {"n_estimators": 300, "max_depth": 4, "subsample": 0.8},
        {"n_estimators": 200, "max_depth": 9, "colsample_bytree": 0.5},
    ],
}


def _data(name: str, rows: int | None, family: str) -> tuple[Any, ...]:
    X, y = load_keel(name) if family == "classification" else load_regression(name)
    if rows is not None and len(y) > rows:
        keep = np.random.default_rng(0).choice(len(y), rows, replace=False)
        X, y = X.iloc[np.sort(keep)].reset_index(drop=True), y.iloc[np.sort(keep)]
    schema, frame = TableSchema.learn(check_table(X))
    task_type = ClassificationTask if family == "classification" else RegressionTask
    task, y_enc = task_type.from_target(y)
    folds = task.make_folds(frame, y_enc, n_splits=K, random_state=0)
    ft = schema.feature_types
    cost = CostModel(
        len(y_enc),
        len(ft.numeric) + len(ft.categorical),
        len(ft.categorical),
        task.n_outputs,
        K,
        family=family,
    )
    return frame, y_enc, folds, ft, task, cost


def time_trials(family: str, cases: list) -> list[dict[str, Any]]:
    """One timing per variant and case: where, learner, params, seconds."""
    rows = []
    for name, n in cases:
        frame, y, folds, ft, task, _ = _data(name, n, family)
        for spec in get_learners(None, task=task):
            for params in VARIANTS.get(spec.name, [{}]):
                full = {**spec.defaults, **params}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = evaluate_config(spec, full, frame, y, folds.splits, ft, task, 0)
                if r.status != "ok":
                    continue
                seconds = r.fit_time + r.predict_time
                rows.append(
                    dict(
                        family=family,
                        dataset=name,
                        rows=n,
                        learner=spec.name,
                        params=full,
                        seconds=seconds,
                    )
                )
                print(
                    f"{family[:5]} {name:>9} {len(y):>5} {spec.name:>13} "
                    f"{seconds:7.2f}s {params}",
                    flush=True,
                )
    return rows


def recorded(directory: Path) -> list[dict[str, Any]]:
    """Trials that ``divbo_speed.py`` recorded (5-fold, full data sets)."""
    rows = []
    for path in sorted(directory.glob("*/records.json")):
        for r in json.loads(path.read_text()):
            if r["status"] != "ok" or r["source"] != "evaluated":
                continue
            rows.append(
                dict(
                    family="classification",
                    dataset=path.parent.name,
                    rows=None,
                    learner=r["learner"],
                    params=r["params"],
                    seconds=r["fit_time"] + r["predict_time"],
                )
            )
    return rows


def fit(timings: list[dict[str, Any]], family: str) -> None:
    """Per learner: c0, c1 >= 0 minimising the squared log error; print them."""
    models: dict[tuple[str, Any], CostModel] = {}
    work, seconds, learners = [], [], []
    for t in timings:
        if t["family"] != family:
            continue
        where = (t["dataset"], t["rows"])
        if where not in models:
            models[where] = _data(t["dataset"], t["rows"], family)[-1]
        columns = {k: np.asarray([v], dtype=object) for k, v in t["params"].items()}
        work.append(float(models[where].work(t["learner"], columns, 1)[0]))
        seconds.append(t["seconds"])
        learners.append(t["learner"])
    for learner in sorted(set(learners)):
        mask = np.array(learners) == learner
        w, s = np.array(work)[mask], np.array(seconds)[mask]

        def residual(theta: np.ndarray, w: np.ndarray = w, s: np.ndarray = s) -> Any:
            c0, c1 = np.exp(theta)
            return np.log(K * (c0 + c1 * w)) - np.log(s)

        # c0 is a pipeline's per-fold overhead (tens of ms); left free, it soaks up
        # what the work formula misses at one size and misleads at every other.
        start = np.log([0.01, np.median(s / K / w)])
        bounds = (np.log([1e-4, 1e-15]), np.log([MAX_OVERHEAD, 1.0]))
        theta = least_squares(residual, start, bounds=bounds).x
        err = np.median(np.abs(residual(theta)))
        c0, c1 = np.exp(theta)
        print(f'    "{learner}": ({c0:.3g}, {c1:.3g}),  # n={len(s)}, {err:.2f}')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=None)
    parser.add_argument(
        "--timings",
        type=Path,
        default=Path("benchmarks/results/cost_timings.json"),
        help="timings are saved here, and read back instead of re-timed if present",
    )
    args = parser.parse_args(argv)
    print("command: python " + shlex.join(sys.argv))
    if args.timings.exists():
        timings = json.loads(args.timings.read_text())
    else:
        timings = time_trials("classification", CLASSIFICATION)
        timings += time_trials("regression", REGRESSION)
        args.timings.parent.mkdir(parents=True, exist_ok=True)
        args.timings.write_text(json.dumps(timings))
    if args.records is not None:
        timings += recorded(args.records)
    for family in ("classification", "regression"):
        print(f"{family}:")
        fit(timings, family)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
