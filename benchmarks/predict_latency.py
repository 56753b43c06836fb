"""Predict latency of a bagged ensemble against the same ensemble refit on all rows.

One search is fit (bagged: every member predicts with its ``cv`` fold models), then a
copy of it is refit (``refit_members``: one model per member, same members and
weights). Both predict one row and 1,000 rows, in turn (A B A B ...) after a warm-up,
and the median of ``--calls`` calls is printed with the ratio bagged / refit.

    python benchmarks/predict_latency.py                      # crx, 16 trials, cv=5
    python benchmarks/predict_latency.py --dataset pima --calls 100
    python benchmarks/predict_latency.py --learners logreg hist_gb lightgbm

Single-row latency is mostly fixed per-call cost (input checks and preprocessing of
every model), so it follows the number of models run; 1,000 rows show the per-row
cost. The team target is under 30 ms for one row with a refit default ensemble.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import joblib
import numpy as np

from autoens import AutoEnsembleClassifier
from autoens.datasets import load_keel

LEARNERS = ["logreg", "hist_gb", "lightgbm", "xgboost", "random_forest", "extra_trees"]


def _copy(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def _median_ms(times: list[float]) -> float:
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="crx", help="KEEL dataset (default crx)")
    parser.add_argument("--n-trials", type=int, default=16)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--learners", nargs="+", default=LEARNERS)
    parser.add_argument("--calls", type=int, default=50, help="calls per measure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, y = load_keel(args.dataset)
    start = time.perf_counter()
    bagged = AutoEnsembleClassifier(
        n_trials=args.n_trials,
        cv=args.cv,
        learners=args.learners,
        random_state=args.seed,
        n_jobs=1,
    ).fit(X, y)
    fit_time = time.perf_counter() - start
    refit = _copy(bagged)
    start = time.perf_counter()
    refit.refit_members(X, y)
    refit_time = time.perf_counter() - start
    members = ", ".join(
        f"{r.learner}({r.weight:.2f})" for r in refit.refit_.itertuples()
    )
    print(
        f"{args.dataset}: {X.shape[0]} rows x {X.shape[1]} columns; "
        f"{args.n_trials} trials, cv={args.cv}; fit {fit_time:.1f}s, "
        f"refit_members {refit_time:.1f}s\nmembers: {members}"
    )
    rng = np.random.default_rng(args.seed)
    batches = {
        "1 row": X.iloc[[int(rng.integers(len(X)))]],
        "1,000 rows": X.iloc[rng.integers(len(X), size=1000)],
    }
    models = {"bagged": bagged, "refit": refit}
    n_models = {
        name: sum(len(m) for m in model.ensemble_.members.values())
        for name, model in models.items()
    }
    print(
        f"models run per call: bagged {n_models['bagged']}, refit {n_models['refit']}"
    )
    print(f"{'rows':<12}{'bagged ms':>12}{'refit ms':>12}{'bagged/refit':>14}")
    for label, rows in batches.items():
        times: dict[str, list[float]] = {name: [] for name in models}
        for model in models.values():  # warm-up
            model.predict_proba(rows)
        for _ in range(args.calls):
            for name, model in models.items():
                t0 = time.perf_counter()
                model.predict_proba(rows)
                times[name].append(time.perf_counter() - t0)
        b, r = _median_ms(times["bagged"]), _median_ms(times["refit"])
        print(f"{label:<12}{b:>12.1f}{r:>12.1f}{b / r:>13.1f}x")


if __name__ == "__main__":
    main()
