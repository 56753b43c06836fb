"""Early stopping inside the CV folds, measured: fit time and OOF quality, on vs off.

For a few fixed configurations (the default portfolio's LightGBM, XGBoost and
HistGradientBoosting entries, plus a 1000-round / 500-iteration ceiling that the
search can sample) this cross-validates one config the way the search does
(``autoens.search.evaluate.evaluate_config``, 5 stratified folds, seed 0) twice:
with the booster's early stopping off (all rows, all rounds) and on (LightGBM and
XGBoost: the wrapper's split of each fold's training part; HistGradientBoosting:
its own ``early_stopping=True``). It prints, per (dataset, config), the fit time
of both and their ratio, the OOF ROC AUC (one-vs-rest macro for multiclass) and
log loss of both, and the mean rounds the fold models use; then a summary per
learner (geometric mean of the time ratios, mean AUC and log loss differences).

    nice -n 10 python benchmarks/early_stopping.py
    nice -n 10 python benchmarks/early_stopping.py --datasets pima wdbc
    nice -n 10 python benchmarks/early_stopping.py --patience-scale 10
    nice -n 10 python benchmarks/early_stopping.py --learners hist_gb \
        --hgb-scaled-patience

One process, one thread per model (as the search runs them).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from typing import Any

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from autoens.datasets import load_keel
from autoens.search.evaluate import evaluate_config
from autoens.space import DEFAULT_LEARNERS
from autoens.space import wrappers as W
from autoens.space.portfolio import DEFAULT_PORTFOLIO
from autoens.space.refit import fold_iterations
from autoens.tabular import TableSchema
from autoens.task import ClassificationTask

DATASETS = ("contraceptive", "splice", "phoneme", "spambase")
LEARNERS = ("lightgbm", "xgboost", "hist_gb")
#: A corner the search samples: many slow rounds (early stopping's target case).
CEILINGS = {
    "lightgbm": {"n_estimators": 1000, "learning_rate": 0.05},
    "xgboost": {"n_estimators": 1000, "learning_rate": 0.05},
    "hist_gb": {"max_iter": 500, "learning_rate": 0.05},
}


def configs() -> list[tuple[str, str, dict[str, Any]]]:
    """(learner, label, params): the portfolio's entries, then the ceiling."""
    out = []
    for learner in LEARNERS:
        entries = [p for name, p in DEFAULT_PORTFOLIO if name == learner]
        for k, params in enumerate(entries):
            out.append((learner, "default" if not params else f"portfolio{k}", params))
        out.append((learner, "ceiling", CEILINGS[learner]))
    return out


def _switched(spec: Any, on: bool, hgb_scaled: bool = False) -> Any:
    """``spec`` whose built pipelines have early stopping forced on or off
    (``hgb_scaled``: HistGradientBoosting's patience as the boosters')."""
    build = spec.build

    def switched_build(params: dict, feature_types: Any, random_state: int) -> Any:
        model = build(params, feature_types, random_state)
        if spec.name == "hist_gb":
            model.set_params(model__estimator__early_stopping=on)
            if hgb_scaled:
                rate = model.get_params()["model__estimator__learning_rate"]
                patience = W.early_stopping_rounds(rate)
                model.set_params(model__estimator__n_iter_no_change=patience)
        else:
            model.set_params(model__early_stopping=on)
        return model

    return dataclasses.replace(spec, build=switched_build)


def _scores(y: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    p = np.clip(proba.astype(np.float64), 1e-7, 1)
    p /= p.sum(axis=1, keepdims=True)
    if p.shape[1] == 2:
        auc = roc_auc_score(y, p[:, 1])
    else:
        auc = roc_auc_score(y, p, multi_class="ovr", average="macro")
    return float(auc), float(log_loss(y, p, labels=np.arange(p.shape[1])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS))
    parser.add_argument("--patience-scale", type=float, default=None)
    parser.add_argument("--min-rows", type=int, default=None)
    parser.add_argument(
        "--hgb-scaled-patience",
        action="store_true",
        help="HistGradientBoosting's n_iter_no_change as the boosters' patience "
        "(default: its own 10)",
    )
    args = parser.parse_args(argv)
    if args.patience_scale is not None:
        W.ES_PATIENCE_SCALE = args.patience_scale
    if args.min_rows is not None:
        W.ES_MIN_ROWS = args.min_rows
    print(
        f"patience = clip(ceil({W.ES_PATIENCE_SCALE} / learning_rate), "
        f"{W.ES_MIN_PATIENCE}, {W.ES_MAX_PATIENCE}); validation fraction "
        f"{W.ES_VALIDATION_FRACTION}; min rows {W.ES_MIN_ROWS}"
    )
    head = (
        f"{'dataset':14s} {'learner':9s} {'config':10s} {'t_off':>7s} {'t_on':>7s} "
        f"{'ratio':>6s} {'auc_off':>8s} {'auc_on':>8s} {'ll_off':>7s} {'ll_on':>7s} "
        f"{'rounds':>7s}"
    )
    print(head)
    summary: dict[str, list[tuple[float, float, float]]] = {}
    for name in args.datasets:
        X, y_raw = load_keel(name)
        schema, frame = TableSchema.learn(X)
        task, y = ClassificationTask.from_target(y_raw)
        folds = task.make_folds(frame, y, n_splits=5, random_state=0)
        for learner, label, params in configs():
            if learner not in args.learners:
                continue
            spec = DEFAULT_LEARNERS[learner]
            res = {}
            for on in (False, True):
                r = evaluate_config(
                    _switched(spec, on, args.hgb_scaled_patience),
                    params,
                    frame,
                    y,
                    folds.splits,
                    schema.feature_types,
                    task,
                    random_state=0,
                )
                if r.status != "ok":
                    print(f"{name} {learner} {label} on={on}: {r.error}")
                    break
                res[on] = (r.fit_time, *_scores(y, r.oof), r.models)
            if len(res) < 2:
                continue
            (t0, a0, l0, _), (t1, a1, l1, models) = res[False], res[True]
            rounds = np.mean([fold_iterations(m) or 0 for m in models])
            print(
                f"{name:14s} {learner:9s} {label:10s} {t0:7.2f} {t1:7.2f} "
                f"{t1 / t0:6.2f} {a0:8.4f} {a1:8.4f} {l0:7.4f} {l1:7.4f} "
                f"{rounds:7.1f}",
                flush=True,
            )
            summary.setdefault(learner, []).append((t1 / t0, a1 - a0, l1 - l0))
    print("\nper learner: geometric mean time ratio (on/off), mean dAUC, mean dlogloss")
    for learner, rows in summary.items():
        ratios, dauc, dll = (np.array(c) for c in zip(*rows, strict=True))
        print(
            f"{learner:9s} time x{math.exp(np.log(ratios).mean()):.2f}  "
            f"dAUC {dauc.mean():+.4f} (worst {dauc.min():+.4f})  "
            f"dlogloss {dll.mean():+.4f} (worst {dll.max():+.4f})  n={len(rows)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
