"""Compare ensemble selectors on the same searches (KEEL dev-12, outer 3-fold).

The datasets are the development suite ``autoens.datasets.KEEL_DEV12`` (sonar, wdbc,
crx, pima, vehicle, german, contraceptive, segment, splice, spambase, phoneme,
satimage); the outer folds are ``StratifiedKFold(3, shuffle=True,
random_state=seed)``.

Phase 1 runs one search per dataset × outer fold (fixed trial budget, cached under
``--out``) and stores its library: OOF predictions on the training part and every
member's predictions on the outer test fold. Phase 2 fits each selector on the OOF
predictions only (no base model is refit) and scores it on the test fold. Both phases
resume: finished libraries and rows are reused.

    python benchmarks/compare_selectors.py               # dev-12, 16 trials, seed 0
    python benchmarks/compare_selectors.py --datasets sonar pima --trials 10

(Not named ``selectors.py``: a script folder on ``sys.path`` would then shadow the
standard library's ``selectors`` module for every script in ``benchmarks/``.)
"""

from __future__ import annotations

import sys

# This script shares its name with the standard library's `selectors` module; drop its
# folder from the import path before anything (subprocess) imports that module.
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]):
    del sys.path[0]

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from autoens import AutoEnsembleClassifier
from autoens.datasets import KEEL_DEV12, load_keel
from autoens.metrics import get_metric
from autoens.selectors import SELECTOR_NAMES, get_selector
from autoens.task import encode_labels

METRICS = {"roc_auc": "roc_auc", "balanced_accuracy": "balanced_error_rate"}
REFERENCE = "ges"
# Compared by default (those registered in this version); Oracle is left out because it
# needs the test labels to predict.
DEFAULT_SELECTORS = (
    "single_best ges qo-es qdo-es cmaes qp qp-balanced qp-logloss stacking "
    "nnls-stacking"
).split()


def test_score(metric: str, y: np.ndarray, proba: np.ndarray) -> float:
    if metric == "roc_auc":
        if proba.shape[1] == 2:
            return float(roc_auc_score(y, proba[:, 1]))
        labels = np.arange(proba.shape[1])
        return float(roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    return float(balanced_accuracy_score(y, proba.argmax(axis=1)))


def build_library(name: str, fold: int, args: argparse.Namespace, path: Path) -> None:
    """Search on the outer training part; keep OOF and test predictions of members."""
    X, y_raw = load_keel(name)
    _, y = encode_labels(y_raw)
    outer = StratifiedKFold(3, shuffle=True, random_state=args.seed)
    train, test = list(outer.split(X, y))[fold]
    model = AutoEnsembleClassifier(
        n_trials=args.trials,
        cv=args.cv,
        metric="roc_auc",
        selector="single_best",
        n_jobs=args.n_jobs,
        random_state=args.seed,
        keep_models="all",
        trial_time_limit=args.trial_time_limit,
        cache_dir=args.out / "cache",
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X.iloc[train], y[train])
    lib = model.library_
    test_frame = model.schema_.transform(X.iloc[test])
    p_test = lib.predict(test_frame, list(range(len(lib))))
    np.savez_compressed(
        path,
        p_val=lib.oof,
        y_val=lib.y,
        p_test=p_test,
        y_test=y[test],
        learners=np.array(lib.learners),
        params=np.array([json.dumps(p) for p in lib.params]),
        search_seconds=time.perf_counter() - start,
    )


def evaluate(name: str, fold: int, data: dict, selectors: list[str]) -> list[dict]:
    configs = [
        {"learner": str(learner), "params": json.loads(str(params))}
        for learner, params in zip(data["learners"], data["params"], strict=True)
    ]
    rows = []
    for metric_name, loss_name in METRICS.items():
        metric = get_metric(loss_name)
        for sel_name in selectors:
            sel = get_selector(sel_name, random_state=0)
            start = time.perf_counter()
            sel.fit(data["p_val"], data["y_val"], metric=metric, configs=configs)
            seconds = time.perf_counter() - start
            val = metric.to_score(sel.validation_loss_)
            test = test_score(metric_name, data["y_test"], sel.combine(data["p_test"]))
            rows.append(
                {
                    "dataset": name,
                    "fold": fold,
                    "metric": metric_name,
                    "selector": sel_name,
                    "val": val,
                    "test": test,
                    "n_members": int(np.count_nonzero(sel.weights_)),
                    "n_models": data["p_val"].shape[0],
                    "fit_seconds": seconds,
                }
            )
    return rows


def summarise(rows: pd.DataFrame) -> str:
    out = []
    for metric, block in rows.groupby("metric"):
        out.append(
            f"\n## {metric}  ({block[['dataset', 'fold']].drop_duplicates().shape[0]}"
            " dataset-folds)\n"
        )
        table = {}
        for split in ("val", "test"):
            wide = block.pivot_table(
                index=["dataset", "fold"], columns="selector", values=split
            )
            ranks = wide.rank(axis=1, ascending=False).mean()
            sb = wide["single_best"]
            # Normalised improvement over SingleBest (0) scaled by the best method (1);
            # where SingleBest is best, by the worst method (-1); 0 when all tie.
            up, down = wide.max(axis=1) - sb, sb - wide.min(axis=1)
            scale = up.where(up > 0, down).where(lambda v: v > 0)
            norm = wide.sub(sb, axis=0).div(scale, axis=0).fillna(0.0)
            table[f"rank_{split}"] = ranks
            table[f"norm_impr_{split}"] = norm.mean()
            if split == "test":
                ref = wide[REFERENCE]
                diff = wide.sub(ref, axis=0)
                table["w/t/l_vs_ges"] = [
                    f"{(diff[c] > 1e-12).sum()}/{(diff[c].abs() <= 1e-12).sum()}/"
                    f"{(diff[c] < -1e-12).sum()}"
                    for c in wide.columns
                ]
                table["mean_test"] = wide.mean()
        table["members"] = block.groupby("selector")["n_members"].mean()
        table["fit_s"] = block.groupby("selector")["fit_seconds"].mean()
        frame = pd.DataFrame(table).sort_values("rank_test")
        out.append(frame.to_string(float_format=lambda v: f"{v:.3f}"))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(KEEL_DEV12))
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument(
        "--cv", type=int, default=3, help="inner CV folds of the search"
    )
    parser.add_argument("--trial-time-limit", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--selectors",
        nargs="+",
        default=[s for s in DEFAULT_SELECTORS if s in SELECTOR_NAMES],
        help=f"registered: {', '.join(SELECTOR_NAMES)}",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/selectors")
    )
    args = parser.parse_args(argv)
    selectors = args.selectors
    (args.out / "libraries").mkdir(parents=True, exist_ok=True)
    print("command:", " ".join(["python", *sys.argv]), flush=True)
    rows = []
    for name in args.datasets:
        for fold in args.folds:
            path = (
                args.out
                / "libraries"
                / f"{name}-fold{fold}-seed{args.seed}-t{args.trials}-cv{args.cv}.npz"
            )
            if not path.exists():
                start = time.perf_counter()
                build_library(name, fold, args, path)
                print(
                    f"searched {name} fold {fold} in "
                    f"{time.perf_counter() - start:.0f}s",
                    flush=True,
                )
            with np.load(path) as data:
                rows.extend(evaluate(name, fold, dict(data), selectors))
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out / "rows.csv", index=False)
    print(summarise(frame))
    print(f"\nraw rows: {args.out / 'rows.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
