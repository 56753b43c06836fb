"""From search to production: bagged, refit, latency-budgeted, calibrated and
distilled models side by side.

One search per (dataset, outer fold) of the KEEL dev-12 (outer folds
``StratifiedKFold(3, shuffle=True, random_state=seed)``); every variant is derived
from that one fitted model, so the variants differ only in how the same library is
turned into something that predicts:

- ``bagged``: the ensemble as fit (each member predicts with its k fold models);
- ``refit``: ``model.refit_members(X, y)``, each member retrained once on all
  training rows;
- ``budget``: ``autoens.select(model, "ges", max_predict_time=t)`` with ``t`` a third
  of the bagged ensemble's own cost, then refit (what a latency-bound user deploys);
- ``calibrated``: the same ensemble re-selected with ``calibration="auto"`` (fitted
  on the ensemble's out-of-fold predictions), then refit;
- ``distilled``: ``model.distill(X)``, one LightGBM model trained on the
  ensemble's out-of-fold soft targets.

Per variant: outer-test ROC AUC (one-vs-rest macro for multiclass), log loss,
expected calibration error, single-row latency (median of ``--calls`` calls of
``predict_proba`` on one test row), throughput (seconds per 1,000 rows: best of three
calls on 1,000 test rows drawn with replacement), the number of fitted models that
run at predict time, and the size of the file ``autoens.save`` writes (first outer
fold only: saving a bagged model takes seconds). The latency figures of all variants
of one model are measured one after another in the same process, so their ratios are
side by side.

Noise: a variant's test-score change against ``bagged`` is judged by a paired
Wilcoxon signed-rank test over the dataset-folds and a bootstrap 95 % interval of
the mean difference; "within noise" means the interval contains 0.

Rows are appended to ``--out/rows.csv`` as each model finishes; a rerun skips
(dataset, fold) pairs already there.

    python benchmarks/deploy.py                           # dev-12, 3 outer folds, 30 s
    python benchmarks/deploy.py --datasets pima crx --folds 0 --time-limit 20
    python benchmarks/deploy.py --report-only             # print the tables again
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

import autoens
from autoens import AutoEnsembleClassifier
from autoens.datasets import KEEL_DEV12, load_keel
from autoens.metrics import expected_calibration_error

VARIANTS = ("bagged", "refit", "budget", "calibrated", "distilled")
BUDGET_SHARE = 1 / 3


def _auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    if len(classes) == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(
        roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    )


def _latency(model: Any, X_test: pd.DataFrame, calls: int) -> tuple[float, float]:
    """(median seconds of one single-row call, best seconds per 1,000 rows)."""
    one = X_test.iloc[[0]]
    model.predict_proba(one)  # warm: first-call imports and caches
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        model.predict_proba(one)
        times.append(time.perf_counter() - start)
    rows = X_test.sample(1000, replace=True, random_state=0)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        model.predict_proba(rows)
        best = min(best, time.perf_counter() - start)
    return statistics.median(times), best


def _file_mb(model: Any) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        autoens.save(model, path)
        return path.stat().st_size / 1e6


def _n_models(model: Any) -> int:
    """Fitted models that run at predict time (1 for a distilled model)."""
    ensemble = getattr(model, "ensemble_", None)
    if ensemble is None:
        return 1
    return int(sum(len(models) for models in ensemble.members.values()))


def _variants(model: Any, X: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """Every deployable variant of one fitted (bagged) model."""
    out: dict[str, Any] = {"bagged": model}
    refit = copy.deepcopy(model).refit_members(X, y)
    out["refit"] = refit
    cost = float(model.predict_time_1k_)
    budget = autoens.select(model, "ges", max_predict_time=BUDGET_SHARE * cost)
    out["budget"] = budget.refit_members(X, y)
    calibrated = copy.copy(model)
    calibrated.set_params(calibration="auto")
    out["calibrated"] = autoens.select(calibrated, "ges").refit_members(X, y)
    out["distilled"] = model.distill(X)
    return out


def run_one(dataset: str, fold: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    X, y = load_keel(dataset)
    outer = StratifiedKFold(3, shuffle=True, random_state=args.seed)
    train, test = list(outer.split(X, y))[fold]
    X_train, y_train = X.iloc[train], y[train]
    X_test, y_test = X.iloc[test], y[test]
    # The fold models of every candidate stay in a disk cache (not in the model, so
    # file sizes are those of a deployed model): the budgeted re-selection needs them.
    cache = tempfile.TemporaryDirectory(prefix="autoens-deploy-")
    model = AutoEnsembleClassifier(
        time_limit=args.time_limit,
        n_trials=None,
        n_jobs=args.n_jobs,
        random_state=args.seed,
        cache_dir=cache.name,
    )
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    rows = []
    start = time.perf_counter()
    variants = _variants(model, X_train, y_train)
    derive_time = time.perf_counter() - start
    for name, variant in variants.items():
        proba = variant.predict_proba(X_test)
        one_row, per_1k = _latency(variant, X_test, args.calls)
        classes = model.classes_
        rows.append(
            {
                "dataset": dataset,
                "fold": fold,
                "variant": name,
                "roc_auc": _auc(y_test, proba, classes),
                "log_loss": float(log_loss(y_test, proba, labels=classes)),
                "ece": float(
                    expected_calibration_error(
                        np.searchsorted(classes, y_test), proba.astype(np.float32)
                    )
                ),
                "latency_1row_ms": 1000 * one_row,
                "per_1k_rows_ms": 1000 * per_1k,
                "n_models": _n_models(variant),
                # saving a bagged model takes seconds: sizes on one outer fold only
                "file_mb": _file_mb(variant) if fold == args.folds[0] else np.nan,
                "val_score": float(getattr(variant, "validation_score_", np.nan)),
                "fit_time_s": fit_time,
                "derive_time_s": derive_time,
                "n_trials_ok": int((model.leaderboard_["status"] == "ok").sum()),
            }
        )
    cache.cleanup()
    return rows


def _bootstrap_ci(diff: np.ndarray, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = rng.choice(diff, size=(10_000, len(diff)), replace=True).mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def report(rows: pd.DataFrame) -> str:
    """Mean per variant; ratios and paired tests against ``bagged``."""
    lines = []
    columns = [
        "roc_auc",
        "log_loss",
        "ece",
        "latency_1row_ms",
        "per_1k_rows_ms",
        "n_models",
        "file_mb",
    ]
    order = [v for v in VARIANTS if v in set(rows["variant"])]
    means = rows.groupby("variant")[columns].mean().loc[order]
    medians = rows.groupby("variant")[["latency_1row_ms", "per_1k_rows_ms"]].median()
    means["median_1row_ms"] = medians.loc[order, "latency_1row_ms"]
    n_blocks = rows[["dataset", "fold"]].drop_duplicates().shape[0]
    lines.append(f"{n_blocks} dataset-folds; means per variant")
    lines.append(means.round(4).to_string())
    wide = rows.pivot_table(
        index=["dataset", "fold"], columns="variant", values=[*columns, "val_score"]
    )
    lines.append("\nagainst bagged (paired over dataset-folds):")
    for variant in order:
        if variant == "bagged":
            continue
        both = wide.dropna(subset=[("roc_auc", variant), ("roc_auc", "bagged")])
        d_auc = (both["roc_auc"][variant] - both["roc_auc"]["bagged"]).to_numpy()
        speed = both["per_1k_rows_ms"]["bagged"] / both["per_1k_rows_ms"][variant]
        one_row = both["latency_1row_ms"]["bagged"] / both["latency_1row_ms"][variant]
        lo, hi = _bootstrap_ci(d_auc)
        p = wilcoxon(d_auc).pvalue if np.any(d_auc != 0) else 1.0
        wins = int((d_auc > 0).sum())
        losses = int((d_auc < 0).sum())
        lines.append(
            f"  {variant:10s} throughput x{np.exp(np.log(speed).mean()):.2f} "
            f"(geo-mean), 1-row x{np.exp(np.log(one_row).mean()):.2f}; "
            f"test AUC diff {d_auc.mean():+.4f} [95% CI {lo:+.4f}, {hi:+.4f}], "
            f"w/l {wins}/{losses}, Wilcoxon p={p:.3g}"
            + ("  (within noise)" if lo <= 0 <= hi else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(KEEL_DEV12))
    parser.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=25)
    parser.add_argument("--out", default="benchmarks/results/deploy")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"rows-t{args.time_limit:g}-s{args.seed}.csv"
    done = pd.read_csv(path) if path.exists() else pd.DataFrame()
    if not args.report_only:
        for dataset in args.datasets:
            for fold in args.folds:
                if (
                    len(done)
                    and ((done["dataset"] == dataset) & (done["fold"] == fold)).any()
                ):
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rows = pd.DataFrame(run_one(dataset, fold, args))
                rows.to_csv(path, mode="a", header=not path.exists(), index=False)
                done = pd.concat([done, rows], ignore_index=True)
                print(
                    f"{dataset} fold {fold}: "
                    + ", ".join(
                        f"{r.variant} auc={r.roc_auc:.4f} "
                        f"1row={r.latency_1row_ms:.1f}ms"
                        for r in rows.itertuples()
                    ),
                    file=sys.stderr,
                    flush=True,
                )
    if not len(done):
        print("no rows yet", file=sys.stderr)
        return 1
    print(report(done))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
