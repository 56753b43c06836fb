"""Dynamic selectors and selector="auto" against GES on the selector benchmark's data.

Same datasets (the KEEL dev-12, ``autoens.datasets.KEEL_DEV12``) and outer folds
(``StratifiedKFold(3, shuffle=True, random_state=seed)``) as
``benchmarks/compare_selectors.py``, on the libraries it cached (OOF predictions of the
outer training part, member predictions on the outer test fold). Those hold no
features, so the competence features are rebuilt here exactly as
``AutoEnsembleClassifier.fit`` builds them (TableSchema, then CompetenceSpace) from the
raw KEEL data and the same outer split; a library is used only if its labels match
that split, otherwise (or when it is missing) its search is re-run the way
compare_selectors.py runs it. Every selector is then fit on the OOF rows and scored on
the test fold: test ROC AUC and balanced accuracy, mean rank, wins/ties/losses against
GES, members that must run at predict time and the selector's own predict cost
(``combine``) per 1,000 rows.

    python benchmarks/dynamic.py                       # dev-12, 3 folds
    python benchmarks/dynamic.py --datasets sonar pima --folds 0
    python benchmarks/dynamic.py --cost    # seconds of "auto" on 16-model libraries
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from autoens.datasets import KEEL_DEV12, load_keel
from autoens.ensemble import CompetenceSpace
from autoens.metrics import get_metric
from autoens.selectors import get_selector
from autoens.tabular import TableSchema
from autoens.task import encode_labels

HERE = Path(__file__).resolve().parent
METRICS = {"roc_auc": "roc_auc", "balanced_accuracy": "balanced_error_rate"}
REFERENCE = "ges"
SELECTORS = "ges knora-e knora-u des-p knop ola meta-des auto".split()


def outer_split(name: str, fold: int, seed: int):
    """Raw features, encoded labels and the outer split of compare_selectors.py."""
    X, y_raw = load_keel(name)
    _, y = encode_labels(y_raw)
    outer = StratifiedKFold(3, shuffle=True, random_state=seed)
    train, test = list(outer.split(X, y))[fold]
    return X, y, train, test


def competence(X: pd.DataFrame, train: np.ndarray, test: np.ndarray):
    """Competence features of the training rows (in order) and of the test rows."""
    schema, frame = TableSchema.learn(X.iloc[train])
    space = CompetenceSpace.learn(frame, schema.feature_types)
    with warnings.catch_warnings():  # unseen test categories: warned, encoded
        warnings.simplefilter("ignore")
        X_test = space.transform(schema.transform(X.iloc[test]))
    return space.X_train, X_test


def load_library(name: str, fold: int, args: argparse.Namespace, y, train, test):
    stem = f"{name}-fold{fold}-seed{args.seed}-t{args.trials}-cv{args.cv}.npz"
    for folder in (args.libraries, args.out / "libraries"):
        path = folder / stem
        if path.exists():
            with np.load(path) as data:
                lib = dict(data)
            if np.array_equal(lib["y_val"], y[train]) and np.array_equal(
                lib["y_test"], y[test]
            ):
                return lib, path
            print(f"{path}: labels do not match the outer split; rebuilding")
    # Re-run the search as compare_selectors.py does (imported lazily: it edits
    # sys.path on import).
    sys.path.insert(0, str(HERE))
    from compare_selectors import build_library

    path = args.out / "libraries" / stem
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    build_library(
        name,
        fold,
        SimpleNamespace(
            seed=args.seed,
            trials=args.trials,
            cv=args.cv,
            n_jobs=args.n_jobs,
            trial_time_limit=args.trial_time_limit,
            out=args.out,
        ),
        path,
    )
    print(f"searched {name} fold {fold} in {time.perf_counter() - start:.0f}s")
    with np.load(path) as data:
        return dict(data), path


def evaluate(name: str, fold: int, lib: dict, X_val, X_test, selectors) -> list[dict]:
    rows = []
    n_test = lib["p_test"].shape[1]
    for metric_name, loss_name in METRICS.items():
        metric = get_metric(loss_name)
        for sel_name in selectors:
            sel = get_selector(sel_name, random_state=0)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # k clipped on tiny data
                sel.fit(lib["p_val"], lib["y_val"], metric=metric, X=X_val)
            fit_seconds = time.perf_counter() - start
            # One thread: the machine is shared, and a second OpenMP thread in the
            # kNN queries only spins under load.
            with threadpool_limits(limits=1):
                start = time.perf_counter()
                proba = sel.combine(lib["p_test"], X=X_test)
                combine_seconds = time.perf_counter() - start
            rows.append(
                {
                    "dataset": name,
                    "fold": fold,
                    "metric": metric_name,
                    "selector": sel_name,
                    "val": metric.to_score(sel.validation_loss_),
                    "test": metric.to_score(metric.loss_single(lib["y_test"], proba)),
                    "n_required": len(sel.required_members_),
                    "n_models": lib["p_val"].shape[0],
                    "n_val": lib["p_val"].shape[1],
                    "n_features": X_val.shape[1],
                    "fit_seconds": fit_seconds,
                    "combine_ms_per_1k": 1e6 * combine_seconds / n_test,
                    "chosen": getattr(sel, "chosen_name_", ""),
                    "chosen_kind": _chosen_kind(sel),
                }
            )
    return rows


def _chosen_kind(sel) -> str:
    board = getattr(sel, "selector_leaderboard_", None)
    if board is None:
        return ""
    return str(board.loc[board["chosen"], "kind"].item())


def summarise(rows: pd.DataFrame) -> str:
    out = []
    for metric, block in rows.groupby("metric", sort=False):
        n_cases = block[["dataset", "fold"]].drop_duplicates().shape[0]
        out.append(f"\n## {metric}  ({n_cases} dataset-folds, test scores)\n")
        wide = block.pivot_table(
            index=["dataset", "fold"], columns="selector", values="test"
        )
        wide = wide[[s for s in SELECTORS if s in wide.columns]]
        diff = wide.sub(wide[REFERENCE], axis=0)
        by = block.groupby("selector")
        table = pd.DataFrame(
            {
                "rank": wide.rank(axis=1, ascending=False).mean(),
                "mean_test": wide.mean(),
                "w/t/l_vs_ges": pd.Series(
                    {
                        c: f"{(diff[c] > 1e-12).sum()}/"
                        f"{(diff[c].abs() <= 1e-12).sum()}/"
                        f"{(diff[c] < -1e-12).sum()}"
                        for c in wide.columns
                    }
                ),
                "mean_diff": diff.mean(),
                "n_required": by["n_required"].mean(),
                "n_models": by["n_models"].mean(),
                "combine_ms/1k": by["combine_ms_per_1k"].median(),
                "fit_s": by["fit_seconds"].mean(),
                "fit_s_max": by["fit_seconds"].max(),
            }
        ).loc[wide.columns]
        out.append(table.to_string(float_format=lambda v: f"{v:.3f}"))
        auto = block[block["selector"] == "auto"]
        if len(auto):
            kinds = auto["chosen_kind"].value_counts().to_dict()
            top = auto["chosen"].str.split("(").str[0].value_counts().head(6)
            out.append(
                f"auto chose: {kinds}; by name: "
                + ", ".join(f"{k} {v}" for k, v in top.items())
            )
    return "\n".join(out)


def auto_cost() -> str:
    """Seconds (wall and CPU) of selector="auto" on synthetic 16-model libraries."""
    from autoens.selectors import AutoSelector
    from autoens.testing import make_prediction_tensor

    lines = []
    for n, n_classes in [(1000, 2), (5000, 2), (1000, 6), (5000, 6)]:
        P, y = make_prediction_tensor(16, n, n_classes, random_state=1)
        X = np.random.default_rng(0).normal(size=(n, 20)).astype(np.float32)
        for max_rows in (2000, None) if n > 2000 else (2000,):
            wall, cpu = time.perf_counter(), time.process_time()
            sel = AutoSelector(max_rows=max_rows, random_state=0)
            sel.fit(P, y, metric="roc_auc", X=X)
            lines.append(
                f"16 models x {n} rows x {n_classes} classes, max_rows={max_rows}: "
                f"{time.perf_counter() - wall:.1f}s wall, "
                f"{time.process_time() - cpu:.1f}s CPU "
                f"({len(sel.selector_leaderboard_)} candidates x 5 folds)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(KEEL_DEV12))
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--selectors", nargs="+", default=SELECTORS)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--cv", type=int, default=3, help="inner CV of the search")
    parser.add_argument("--trial-time-limit", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--libraries",
        type=Path,
        default=HERE / "results" / "selectors" / "libraries",
        help="libraries cached by compare_selectors.py",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dynamic")
    parser.add_argument(
        "--cost",
        action="store_true",
        help='only time selector="auto" on synthetic 16-model libraries',
    )
    args = parser.parse_args(argv)
    if args.cost:
        print("command:", " ".join(["python", *sys.argv]), flush=True)
        print(auto_cost())
        return 0
    if REFERENCE not in args.selectors:
        args.selectors = [REFERENCE, *args.selectors]
    args.out.mkdir(parents=True, exist_ok=True)
    print("command:", " ".join(["python", *sys.argv]), flush=True)
    rows = []
    start = time.perf_counter()
    for name in args.datasets:
        for fold in args.folds:
            X, y, train, test = outer_split(name, fold, args.seed)
            lib, _ = load_library(name, fold, args, y, train, test)
            X_val, X_test = competence(X, train, test)
            t0 = time.perf_counter()
            rows.extend(evaluate(name, fold, lib, X_val, X_test, args.selectors))
            print(
                f"{name} fold {fold}: {X_val.shape[0]} OOF rows x "
                f"{X_val.shape[1]} competence features, "
                f"{time.perf_counter() - t0:.1f}s",
                flush=True,
            )
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out / "rows.csv", index=False)
    print(summarise(frame))
    print(
        f"\ntotal {time.perf_counter() - start:.0f}s; raw rows: {args.out / 'rows.csv'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
