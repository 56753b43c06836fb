"""Compare search strategies by the final GES ensemble they lead to (issue 4).

Random search, Optuna TPE, DivBO with beta=0 (plain random-forest EI, "bo") and DivBO,
each with the same trial budget, seed, inner folds and warm-start portfolio, on the
KEEL dev-12 (``autoens.datasets.KEEL_DEV12``; outer folds ``StratifiedKFold(3,
shuffle=True, random_state=seed)``). Per (dataset, outer fold, method) one row: the GES
ensemble's outer-test and validation ROC AUC, its size, the mean pairwise diversity of
its members and of the whole pool (DivBO's measure D(a, b), the mean over rows of
||p_a - p_b||_2 / sqrt(2), on the OOF predictions; Shen et al. 2022, "DivBO:
Diversity-aware CASH for Ensemble Learning"), and the mean proposal vs evaluation time
per trial.

Rows are appended to ``--out/rows.csv`` as they finish; a rerun skips the rows that
are there, so an interrupted run loses at most one search. The methods share an
on-disk prediction cache per (dataset, fold): a configuration evaluated by one
method (the portfolio, mostly) is reused by the others, which changes no result
(same folds, same seed) but saves time.

    python benchmarks/search.py                          # dev-12, fold 0, 24 trials
    python benchmarks/search.py --datasets sonar pima --n-trials 40 --folds 0 1 2
    python benchmarks/search.py --folds 0 1 --divbo-beta 0.1 0.5   # + divbo-b0.1, -b0.5

``--divbo-beta`` adds DivBO variants with an explicit beta, named ``divbo-b<beta>``;
they take the same seed and cache as the other methods, so only the configurations
they newly propose are evaluated. The rows file is keyed by the settings in its name
(trials, cv, max-train, seed, number of learners) plus (dataset, fold, method).

The defaults (24 trials with 6 learners, inner 2-fold CV, training parts subsampled to
800 rows, 15 s per trial) are sized for a shared 2-core machine; two runs with disjoint
``--datasets`` may share the output folder.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from autoens import AutoEnsembleClassifier
from autoens.datasets import KEEL_DEV12, load_keel
from autoens.search.divbo import DivBO
from autoens.search.diversity import diversity
from autoens.space import get_learners, get_portfolio
from autoens.task import encode_labels

METHODS = ("random", "tpe", "bo", "divbo")
REFERENCE = "divbo"
# The default learners minus the two slowest (mlp, xgboost): on a shared 2-core machine
# they made one 30-trial search of 139 rows take minutes.
LEARNERS = "logreg random_forest extra_trees hist_gb knn lightgbm".split()
KEY = ["dataset", "fold", "method"]
VARIANT_PREFIX = "divbo-b"


def variant_name(beta: float) -> str:
    """Method name of the DivBO variant with this beta, e.g. ``divbo-b0.5``."""
    return f"{VARIANT_PREFIX}{beta:g}"


def make_search(method: str) -> str | DivBO:
    """The ``search=`` argument for a method name; variants get the fit's seed."""
    if method in METHODS:
        return method
    if method.startswith(VARIANT_PREFIX):
        # random_state=None: the estimator hands it the same seed as "divbo".
        return DivBO(beta=float(method.removeprefix(VARIANT_PREFIX)))
    raise ValueError(f"unknown method {method!r}; use {METHODS} or {VARIANT_PREFIX}<b>")


def method_order(methods: set[str]) -> list[str]:
    """Base methods first, then DivBO variants by increasing beta."""
    variants = sorted(
        (m for m in methods if m.startswith(VARIANT_PREFIX)),
        key=lambda m: float(m.removeprefix(VARIANT_PREFIX)),
    )
    return [m for m in METHODS if m in methods] + variants


def auc(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    labels = np.arange(proba.shape[1])
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=labels))


def mean_pairwise(P: np.ndarray) -> float:
    """Mean D over distinct pairs of models in P (n_models, rows, classes)."""
    n = len(P)
    if n < 2:
        return 0.0
    total = sum(float(diversity(P[:i], P[i]).sum()) for i in range(1, n))
    return total / (n * (n - 1) / 2)


def _normalised(proba: np.ndarray) -> np.ndarray:
    """float32 ensemble rows sum to 1 only up to rounding; log_loss warns on that."""
    p = np.clip(proba.astype(np.float64), 1e-7, 1.0)
    return p / p.sum(axis=1, keepdims=True)


def split(
    name: str, fold: int, seed: int, max_train: int
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray, int]:
    X, y_raw = load_keel(name)
    _, y = encode_labels(y_raw)
    outer = StratifiedKFold(3, shuffle=True, random_state=seed)
    train, test = list(outer.split(X, y))[fold]
    n_full = len(train)
    if len(train) > max_train:
        train, _ = train_test_split(
            train, train_size=max_train, stratify=y[train], random_state=seed
        )
        train = np.sort(train)
    return X.iloc[train], y[train], X.iloc[test], y[test], n_full


def run_one(name: str, fold: int, method: str, args: argparse.Namespace) -> dict:
    X_tr, y_tr, X_te, y_te, n_full = split(name, fold, args.seed, args.max_train)
    model = AutoEnsembleClassifier(
        search=make_search(method),
        learners=args.learners,
        n_trials=args.n_trials,
        cv=args.cv,
        metric="roc_auc",
        selector="ges",
        n_jobs=args.n_jobs,
        random_state=args.seed,
        trial_time_limit=args.trial_time_limit,
        cache_dir=args.out / "cache" / f"{name}-fold{fold}-seed{args.seed}",
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_tr, y_tr)
    wall = time.perf_counter() - start
    proba = model.predict_proba(X_te)
    board = model.leaderboard_
    lib = model.library_
    members = np.flatnonzero(model.weights_.to_numpy() > 0)
    evaluated = board[board["source"] == "evaluated"]
    # Trials after the warm-start portfolio: the ones a strategy chose itself.
    n_portfolio = len(get_portfolio("default", get_learners(args.learners)))
    proposed = board[board["trial"] >= n_portfolio]
    return {
        "dataset": name,
        "fold": fold,
        "method": method,
        "n_train": len(y_tr),
        "n_train_full": n_full,
        "test_auc": auc(y_te, proba),
        "test_logloss": float(
            log_loss(y_te, _normalised(proba), labels=np.arange(proba.shape[1]))
        ),
        "val_auc": model.metric_.to_score(model.validation_loss_),
        "ens_size": len(members),
        "ens_div": mean_pairwise(lib.oof[members]),
        "pool_div": mean_pairwise(lib.oof),
        "n_ok": int((board["status"] == "ok").sum()),
        "n_models": len(lib),
        "proposal_s": float(proposed["proposal_time"].mean()),
        "proposal_max_s": float(proposed["proposal_time"].max()),
        "eval_s": float(evaluated["fit_time"].mean()) if len(evaluated) else np.nan,
        "wall_s": wall,
    }


def summarise(rows: pd.DataFrame) -> str:
    out = []
    n_tasks = rows[["dataset", "fold"]].drop_duplicates().shape[0]
    methods = method_order(set(rows["method"]))
    has_variants = any(m.startswith(VARIANT_PREFIX) for m in methods)
    table: dict[str, pd.Series] = {}
    for score in ("test_auc", "val_auc"):
        wide = rows.pivot_table(
            index=["dataset", "fold"], columns="method", values=score
        )
        wide = wide[methods].dropna()
        table[f"rank_{score.split('_')[0]}"] = wide.rank(axis=1, ascending=False).mean()
        table[f"mean_{score}"] = wide.mean()
        if score == "test_auc" and REFERENCE in wide:
            # The reference against each row's method.
            table[f"{REFERENCE}_w/t/l"] = _wtl(-wide.sub(wide[REFERENCE], axis=0))
        if score == "test_auc" and has_variants:
            # Each row's method against a fixed opponent (variants vs bo and tpe).
            for other in ("bo", "tpe"):
                if other in wide:
                    table[f"w/t/l_vs_{other}"] = _wtl(wide.sub(wide[other], axis=0))
    means = rows.groupby("method")[
        ["ens_size", "ens_div", "pool_div", "proposal_s", "eval_s", "wall_s"]
    ].mean()
    frame = pd.DataFrame(table).join(means).loc[methods]
    out.append(f"{n_tasks} dataset-folds; ROC AUC (higher is better), rank 1 = best")
    out.append(frame.to_string(float_format=lambda v: f"{v:.4f}"))
    out.append("\nper-task test ROC AUC:")
    wide = rows.pivot_table(
        index=["dataset", "fold"], columns="method", values="test_auc"
    )
    out.append(wide[methods].to_string(float_format=lambda v: f"{v:.4f}"))
    sub = rows.drop_duplicates("dataset").query("n_train < n_train_full")
    if len(sub):
        out.append(
            "\ntraining part subsampled to --max-train rows (stratified): "
            + ", ".join(
                f"{r.dataset} ({r.n_train_full} -> {r.n_train})"
                for r in sub.itertuples()
            )
        )
    return "\n".join(out)


def _wtl(diff: pd.DataFrame) -> pd.Series:
    """Wins/ties/losses per column of AUC differences (one row per task)."""
    tol = 1e-4  # AUC differences below this count as ties
    d = diff.to_numpy()
    return pd.Series(
        [
            f"{win}/{tie}/{loss}"
            for win, tie, loss in zip(
                (d > tol).sum(0),
                (np.abs(d) <= tol).sum(0),
                (d < -tol).sum(0),
                strict=True,
            )
        ],
        index=diff.columns,
    )


def _finished(csv: Path) -> set[tuple[str, ...]]:
    if not csv.exists():
        return set()
    done = pd.read_csv(csv)[KEY].astype(str).to_numpy()
    return set(map(tuple, done))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(KEEL_DEV12))
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--divbo-beta",
        type=float,
        nargs="+",
        default=[],
        metavar="BETA",
        help="also run DivBO with these betas (methods named divbo-b<BETA>)",
    )
    parser.add_argument("--learners", nargs="+", default=LEARNERS)
    parser.add_argument("--n-trials", type=int, default=24)
    parser.add_argument("--cv", type=int, default=2, help="inner CV folds")
    parser.add_argument("--max-train", type=int, default=800)
    parser.add_argument("--trial-time-limit", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/search"))
    args = parser.parse_args(argv)
    if any(b < 0 for b in args.divbo_beta):
        parser.error(f"--divbo-beta must be >= 0, got {args.divbo_beta}")
    methods = list(args.methods) + [
        variant_name(b) for b in args.divbo_beta if variant_name(b) not in args.methods
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    tag = (
        f"t{args.n_trials}-cv{args.cv}-m{args.max_train}-s{args.seed}"
        f"-L{len(args.learners)}"
    )
    csv = args.out / f"rows-{tag}.csv"
    print("command:", " ".join(["python", *sys.argv]), flush=True)
    print("learners:", " ".join(args.learners), flush=True)
    for name in args.datasets:
        for fold in args.folds:
            for method in methods:
                # Read before every row: two runs may share the file (disjoint
                # --datasets), and a rerun skips what is there.
                if (name, str(fold), method) in _finished(csv):
                    continue
                row = run_one(name, fold, method, args)
                print(
                    f"{name:14s} fold {fold} {method:10s} test {row['test_auc']:.4f} "
                    f"val {row['val_auc']:.4f} size {row['ens_size']:2d} "
                    f"div {row['ens_div']:.3f} propose {row['proposal_s']:.3f}s "
                    f"eval {row['eval_s']:.2f}s wall {row['wall_s']:.0f}s",
                    flush=True,
                )
                pd.DataFrame([row]).to_csv(
                    csv, mode="a", header=not csv.exists(), index=False
                )
    rows = pd.read_csv(csv)
    rows = rows[rows["dataset"].isin(args.datasets) & rows["fold"].isin(args.folds)]
    # The base methods as before, plus only the variants asked for in this run.
    rows = rows[rows["method"].isin([*METHODS, *methods])]
    print()
    print(summarise(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
