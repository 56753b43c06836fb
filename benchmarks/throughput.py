"""Search throughput: where a time-limited search's wall time goes, two code versions
side by side.

For each dataset of the KEEL dev-12 (``autoens.datasets.KEEL_DEV12``; ``--min-rows
1000`` keeps the six with more than 1,000 rows: contraceptive, segment, splice,
spambase, phoneme, satimage) and each outer fold ``StratifiedKFold(3, shuffle=True,
random_state=seed)``, ``AutoEnsembleClassifier(time_limit=T, n_jobs=2,
random_state=seed)`` is fit on the training part by the ``--baseline`` revision and by
the current tree, one after the other (the order alternates from one dataset-fold to
the next, so machine noise and warm file caches hit both alike). Each fit runs in a
fresh interpreter (this script's ``--worker`` mode, which prints one JSON row) with
``PYTHONPATH`` at a ``git worktree`` of the revision (made under the system temporary
folder) or at the current tree.

Recorded per fit: trials finished (``ok``) and by status, library size, ensemble size
(members of positive weight), outer-test ROC AUC (one-vs-rest macro for multiclass),
fit wall time, and the split of the time as far as a version records it ("-"
otherwise): worker start-up, queue (submit to the worker starting: data transfer and
waiting), preprocessing, learner fit, prediction (out-of-fold), cache writes,
proposal, selection and idle worker time. Queue, preprocessing, fit, prediction and
idle are worker-seconds (summed over the ``n_jobs`` workers and the trials); start-up,
cache writes, proposal and selection are seconds of the main process. ``fit+prep``
(the trials' ``fit_time``: fold models fitted, preprocessing included) and
``proposal`` are known to every version.

The comparison: current/baseline ratio of finished candidates (geometric mean over
dataset-folds), each version's mean test rank (1 = the better test ROC AUC of the two
on a dataset-fold, 1.5 each on a tie; lower is better) and a paired comparison of test
ROC AUC (wins/ties/losses of current, mean difference, Wilcoxon signed-rank p with
``zero_method="zsplit"``). Issue 14's target: at least 2x the finished candidates at a
mean test rank no worse than the baseline's.

Rows are appended to ``--out/rows-vs-<baseline sha>.csv`` as each fit finishes; a
rerun skips the (version, dataset, fold, seed, time_limit) rows already there.

    python benchmarks/throughput.py                    # dev-12, 3 folds, 60 s
    python benchmarks/throughput.py --min-rows 1000 --folds 0
    python benchmarks/throughput.py --baseline HEAD --datasets pima --folds 1 \\
        --time-limit 10                               # a quick check
    python benchmarks/throughput.py --report-only      # print the tables again
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ("baseline", "current")
KEY = ["version", "dataset", "fold", "seed", "time_limit"]
STATUSES = ("ok", "failed", "timeout", "cancelled", "pruned")
# The split of the time: (column, where a version records it, label).
PARTS = (
    ("startup", "loop", "worker start-up"),
    ("queue", "trial", "queue / transfer"),
    ("preprocess", "trial", "preprocessing"),
    ("fit", "trial", "learner fit"),
    ("predict", "trial", "prediction"),
    ("cache_write", "trial", "cache writes"),
    ("proposal", "loop", "proposal"),
    ("selection", "model", "selection"),
    ("idle", "loop", "idle workers"),
)
WORKER_PARTS = {"queue", "preprocess", "fit", "predict", "idle"}
ROW_MARK = "THROUGHPUT-ROW "
DEFAULT_BASELINE = "04370b5"


# --- worker: one fit, in the interpreter of the version under test -----------------


def _auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(
        roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    )


def _capture_records() -> list[Any]:
    """The search's trial records, caught on their way from ``run_search`` to the
    estimator (an estimator that keeps them as ``search_records_`` needs no hook)."""
    import autoens.search

    caught: list[Any] = []
    original = autoens.search.run_search

    def run_search(*args: Any, **kwargs: Any) -> Any:
        records = original(*args, **kwargs)
        caught.append(records)
        return records

    autoens.search.run_search = run_search
    return caught


def _get(obj: Any, name: str) -> Any:
    """``name`` of a dict or of an object's attributes (None when absent)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def worker(args: argparse.Namespace) -> int:
    """Fit one model and print its row (JSON) as the last line of stdout."""
    import autoens

    source = Path(autoens.__file__).resolve()
    if args.expect_root and not source.is_relative_to(Path(args.expect_root)):
        print(
            f"autoens imported from {source}, not from {args.expect_root}; "
            "set PYTHONPATH to the tree under test",
            file=sys.stderr,
        )
        return 2
    from sklearn.model_selection import StratifiedKFold

    from autoens import AutoEnsembleClassifier
    from autoens.datasets import load_keel

    caught = _capture_records()
    X, y = load_keel(args.dataset)
    outer = StratifiedKFold(3, shuffle=True, random_state=args.seed)
    train, test = list(outer.split(X, y))[args.fold]
    model = AutoEnsembleClassifier(
        time_limit=args.time_limit, n_jobs=args.n_jobs, random_state=args.seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X.iloc[train], y[train])
        wall = time.perf_counter() - start
        proba = model.predict_proba(X.iloc[test])
    records = getattr(model, "search_records_", None)
    if records is None:
        records = caught[-1] if caught else []
    board = model.leaderboard_
    counts = board["status"].value_counts()
    row: dict[str, Any] = {
        "autoens_file": str(source),
        "n_trials": len(board),
        **{f"n_{s}": int(counts.get(s, 0)) for s in STATUSES},
        "n_other_status": int(counts[~counts.index.isin(STATUSES)].sum()),
        "library_size": len(model.library_),
        "ensemble_size": int(np.count_nonzero(np.asarray(model.weights_) > 0)),
        "test_roc_auc": _auc(y[test], proba, model.classes_),
        "fit_wall_s": wall,
        "fit+prep_s": float(board["fit_time"].sum()),
    }
    # Per-trial parts, summed over the trials; NaN when no record has them.
    trial_times = [getattr(r, "timings", None) for r in records]
    for name, where, _ in PARTS:
        if where != "trial":
            continue
        values = [_get(t, name) for t in trial_times]
        values = [_number(v) for v in values if v is not None]
        row[f"{name}_s"] = float(np.nansum(values)) if values else math.nan
    # Loop totals: on the estimator, else on the records.
    loop = getattr(model, "search_timings_", None)
    if loop is None:
        loop = getattr(records, "timings", None)
    row["startup_s"] = _number(_get(loop, "startup"))
    row["idle_s"] = _number(_get(loop, "idle"))
    proposal = _number(_get(loop, "proposal"))
    if math.isnan(proposal) and "proposal_time" in board:
        proposal = float(board["proposal_time"].sum())
    row["proposal_s"] = proposal
    row["selection_s"] = _number(getattr(model, "selection_time_", None))
    row["trials_json"] = json.dumps(_library_trials(model))
    print(ROW_MARK + json.dumps(row), flush=True)
    return 0


def _library_trials(model: Any) -> list[dict[str, Any]]:
    """Per library candidate, in trial order: its fold losses (recomputed from its
    out-of-fold predictions, so any version has them), fit time and ensemble weight:
    what :func:`pruning_check` needs to replay a pruning rule on a run without it."""
    lib = model.library_
    fold_of_row = np.asarray(model._fold_of_row)
    folds = [np.flatnonzero(fold_of_row == k) for k in range(int(model.n_folds_))]
    board = model.leaderboard_.set_index("trial")
    weights = model.weights_
    out = []
    for m, trial in enumerate(lib.trials):
        losses = [
            float(model.metric_.loss_single(lib.y[rows], lib.oof[m, rows]))
            for rows in folds
        ]
        out.append(
            {
                "trial": int(trial),
                "fit_time": float(board.loc[trial, "fit_time"]),
                "fold_losses": losses,
                "weight": float(weights.get(trial, 0.0)),
            }
        )
    return out


def _stopped(rule: Any, trials: list[dict[str, Any]]) -> list[tuple[dict, int]]:
    """The trials of one run (in trial order) that ``rule`` would have stopped, each
    with the index of the fold that stopped it."""
    seen: list[list[float]] = []
    out = []
    for t in trials:
        losses = t["fold_losses"]
        worse = np.asarray(losses) > np.asarray(rule.thresholds(seen, len(losses)))
        if worse.any():  # NaN never prunes
            out.append((t, int(np.argmax(worse))))
        seen.append(losses)
    return out


def pruning_check(
    rows: pd.DataFrame, percentiles: tuple[float, ...] = (75, 90, 95)
) -> str:
    """Replay the percentile pruning rule (``pruning=P``; ``"auto"`` is 90) on the
    baseline's runs (which did not prune): for each P, how many candidates it would
    have stopped, how many of those the ensemble used and with what weight, and the
    fit time it would save.

    Thresholds for a trial come from the candidates before it in trial order (the
    real search sees only those finished when it submits, so this is a slight
    overestimate of what it knows); a stopped candidate is assumed to have run its
    folds up to the one that stopped it.
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from autoens.search.pruning import make_pruning

    block = rows[(rows["version"] == "baseline") & rows["trials_json"].notna()]
    runs = [json.loads(text) for text in block["trials_json"]]
    n = sum(len(trials) for trials in runs)
    if not n:
        return "pruning check: no baseline run with its library recorded"
    total = sum(t["fit_time"] for trials in runs for t in trials)
    lines = [
        f"pruning check (the rule replayed on {len(runs)} baseline runs without "
        f"pruning, {n} candidates):",
        "  pruning=P  pruned  of them members  their weight per fit  fit time saved",
    ]
    for percentile in percentiles:
        rule = make_pruning(float(percentile))
        stopped = [s for trials in runs for s in _stopped(rule, trials)]
        n_pruned = len(stopped)
        n_member = sum(t["weight"] > 0 for t, _ in stopped)
        weight = sum(t["weight"] for t, _ in stopped)
        saved = sum(
            t["fit_time"] * (1 - (stop + 1) / len(t["fold_losses"]))
            for t, stop in stopped
        )
        lines.append(
            f"  {percentile:>9g}  {100 * n_pruned / n:5.1f} %  {n_member:15d}  "
            f"{100 * weight / len(runs):18.2f} %  "
            f"{100 * saved / max(total, 1e-9):12.1f} %"
        )
    return "\n".join(lines)


# --- driver ---------------------------------------------------------------------------


def _git(*command: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *command], check=True, capture_output=True, text=True
    ).stdout.strip()


def baseline_tree(rev: str) -> tuple[Path, str]:
    """A git worktree of ``rev`` (made once, reused), and the revision's sha."""
    try:
        sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError as exc:
        raise SystemExit(
            f"--baseline {rev!r} is not a git revision of {ROOT}: {exc.stderr.strip()}"
        ) from None
    path = Path(tempfile.gettempdir()) / f"autoens-throughput-{sha[:12]}"
    if not (path / "autoens" / "__init__.py").exists():
        _git("worktree", "add", "--detach", "--force", str(path), sha)
    return path, sha


def run_fit(
    version: str,
    tree: Path,
    dataset: str,
    fold: int,
    args: argparse.Namespace,
) -> dict[str, Any] | None:
    """One fit in a fresh interpreter with ``tree`` first on the import path."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--datasets",
        dataset,
        "--folds",
        str(fold),
        "--seed",
        str(args.seed),
        "--time-limit",
        str(args.time_limit),
        "--n-jobs",
        str(args.n_jobs),
        "--expect-root",
        str(tree),
    ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    try:
        done = subprocess.run(
            command,
            env=env,
            cwd=tree,
            capture_output=True,
            text=True,
            timeout=3 * args.time_limit + 300,
        )
    except subprocess.TimeoutExpired:
        print(f"  {version} {dataset} fold {fold}: worker timed out", file=sys.stderr)
        return None
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(ROW_MARK)]
    if done.returncode != 0 or not lines:
        tail = "\n    ".join(done.stderr.strip().splitlines()[-8:])
        print(
            f"  {version} {dataset} fold {fold}: worker failed "
            f"(exit {done.returncode}):\n    {tail}",
            file=sys.stderr,
        )
        return None
    row = json.loads(lines[-1][len(ROW_MARK) :])
    return {
        "version": version,
        "dataset": dataset,
        "fold": fold,
        "seed": args.seed,
        "time_limit": args.time_limit,
        "n_jobs": args.n_jobs,
        **row,
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _table(frame: pd.DataFrame, digits: dict[str, int]) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if column in digits:
            shown[column] = [_fmt(float(v), digits[column]) for v in shown[column]]
    return shown.to_string()


ROW_COLUMNS = {
    "n_ok": 0,
    "library_size": 0,
    "ensemble_size": 0,
    "test_roc_auc": 4,
    "fit_wall_s": 1,
    **{f"{name}_s": 1 for name, _, _ in PARTS},
    "fit+prep_s": 1,
}


def report(rows: pd.DataFrame) -> str:
    """Per dataset-fold rows, per-version means, and the side-by-side comparison."""
    lines = []
    rows = rows.sort_values(["dataset", "fold", "version"])
    statuses = [
        f"n_{s}" for s in STATUSES if f"n_{s}" in rows and rows[f"n_{s}"].sum() > 0
    ]
    columns = ["n_ok", *statuses[1:], *list(ROW_COLUMNS)[1:]]
    per_fit = rows.set_index(["dataset", "fold", "version"])[columns]
    digits = {c: ROW_COLUMNS.get(c, 0) for c in columns}
    lines.append("per fit (seconds; '-': not recorded by that version)")
    lines.append(_table(per_fit, digits))
    for version in VERSIONS:
        block = rows[rows["version"] == version]
        if not len(block):
            continue
        means = block.groupby("dataset", sort=False)[columns].mean()
        means.loc["MEAN"] = block[columns].mean()
        lines.append(f"\n{version}: mean over folds per dataset")
        lines.append(_table(means, {c: max(digits[c], 1) for c in columns}))
    lines.append("\n" + time_split(rows))
    lines.append("\n" + compare(rows))
    if "trials_json" in rows:
        lines.append("\n" + pruning_check(rows))
    return "\n".join(lines)


def time_split(rows: pd.DataFrame) -> str:
    """Mean seconds per fit of each part, and its share of the fit's time."""
    out = [
        "where the time goes (mean per fit; share of fit wall, worker parts of "
        "n_jobs x fit wall)"
    ]
    table = {}
    for version in VERSIONS:
        block = rows[rows["version"] == version]
        if not len(block):
            continue
        wall = block["fit_wall_s"].to_numpy()
        slots = wall * block["n_jobs"].to_numpy()
        seconds, shares = {}, {}
        for name, _, label in (*PARTS, ("fit+prep", "trial", "fit+prep (fit_time)")):
            values = block[f"{name}_s"].to_numpy(dtype=float)
            whole = slots if name in WORKER_PARTS or name == "fit+prep" else wall
            seconds[label] = _fmt(float(np.mean(values)))
            shares[label] = _fmt(float(np.mean(100 * values / whole)), 0) + (
                "" if np.isnan(values).any() else " %"
            )
        seconds["fit wall"] = _fmt(float(wall.mean()))
        table[(version, "s")] = seconds
        table[(version, "share")] = shares
    out.append(pd.DataFrame(table).fillna("").to_string())
    return "\n".join(out)


def compare(rows: pd.DataFrame) -> str:
    """Current against baseline, paired over the dataset-folds both finished."""
    from scipy.stats import wilcoxon

    wide = rows.pivot_table(
        index=["dataset", "fold"], columns="version", values=["n_ok", "test_roc_auc"]
    ).dropna()
    if not len(wide) or not set(VERSIONS) <= set(wide.columns.get_level_values(1)):
        return "no dataset-fold with both versions yet"
    n_ok = wide["n_ok"]
    auc = wide["test_roc_auc"]
    ratio = n_ok["current"] / n_ok["baseline"]
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    geo = float(np.exp(np.log(ratio).mean())) if len(ratio) else math.nan
    ranks = auc[list(VERSIONS)].rank(axis=1, ascending=False).mean()
    diff = (auc["current"] - auc["baseline"]).to_numpy()
    wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
    ties = len(diff) - wins - losses
    if np.any(diff != 0):
        with warnings.catch_warnings():
            # few pairs: scipy warns that its normal approximation is rough
            warnings.simplefilter("ignore")
            p = float(wilcoxon(diff, zero_method="zsplit").pvalue)
    else:
        p = 1.0
    target = geo >= 2 and ranks["current"] <= ranks["baseline"]
    return "\n".join(
        [
            f"current vs baseline over {len(wide)} dataset-folds:",
            f"  finished candidates  x{geo:.2f} (geo-mean of current/baseline; "
            f"mean {n_ok['baseline'].mean():.1f} -> {n_ok['current'].mean():.1f})",
            f"  mean test rank       baseline {ranks['baseline']:.2f}, "
            f"current {ranks['current']:.2f} (lower is better)",
            f"  test ROC AUC         w/t/l {wins}/{ties}/{losses}, mean diff "
            f"{diff.mean():+.4f}, Wilcoxon p={p:.3g} (zsplit)",
            f"  target (>= 2x finished at a rank no worse): "
            f"{'met' if target else 'not met'}",
        ]
    )


def _datasets(args: argparse.Namespace) -> list[str]:
    if str(ROOT) not in sys.path:  # the driver lists datasets with the current tree
        sys.path.insert(0, str(ROOT))
    from autoens.datasets import KEEL_DEV12, load_keel

    names = args.datasets or list(KEEL_DEV12)
    if args.min_rows:
        names = [n for n in names if len(load_keel(n)[1]) > args.min_rows]
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Runs each fit in a subprocess; see the module docstring for what is "
        "recorded and how the versions are compared.",
    )
    parser.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        metavar="REV",
        help="git revision compared with the current tree (default: "
        f"{DEFAULT_BASELINE}, the last commit before issue 14's throughput work; "
        "HEAD compares the uncommitted changes)",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        metavar="NAME",
        help="KEEL datasets (default: the dev-12)",
    )
    parser.add_argument(
        "--min-rows",
        type=int,
        default=0,
        metavar="N",
        help="keep only datasets with more than N rows (1000: the six largest)",
    )
    parser.add_argument(
        "--folds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        choices=[0, 1, 2],
        metavar="K",
        help="outer folds to run, of 0 1 2 (default: all three)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the outer folds and of every fit (default: 0)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        metavar="S",
        help="each fit's time_limit in seconds (default: 60)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=2,
        metavar="N",
        help="each fit's n_jobs (default: 2)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        default=ROOT / "benchmarks" / "results" / "throughput",
        help="folder of the rows CSV (default: benchmarks/results/throughput)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="print the tables of the rows saved"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--expect-root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.dataset, args.fold = args.datasets[0], args.folds[0]
        return worker(args)

    base_tree, sha = baseline_tree(args.baseline)
    trees = {"baseline": base_tree, "current": ROOT}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"rows-vs-{sha[:12]}.csv"
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=KEY)
    print(
        "command: python benchmarks/throughput.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        flush=True,
    )
    print(f"baseline {args.baseline} = {sha[:12]} ({base_tree}); current: {ROOT}")
    failed = 0
    if not args.report_only:
        have = set(done[KEY].itertuples(index=False, name=None))
        block = 0
        for dataset in _datasets(args):
            for fold in args.folds:
                order = VERSIONS if block % 2 == 0 else VERSIONS[::-1]
                block += 1
                for version in order:
                    key = (version, dataset, fold, args.seed, args.time_limit)
                    if key in have:
                        continue
                    row = run_fit(version, trees[version], dataset, fold, args)
                    if row is None:
                        failed += 1
                        continue
                    frame = pd.DataFrame([row])
                    frame.to_csv(path, mode="a", header=not path.exists(), index=False)
                    done = (
                        pd.concat([done, frame], ignore_index=True)
                        if len(done)
                        else frame
                    )
                    print(
                        f"{dataset} fold {fold} {version}: {row['n_ok']} ok, "
                        f"auc={row['test_roc_auc']:.4f}, "
                        f"wall={row['fit_wall_s']:.1f}s",
                        file=sys.stderr,
                        flush=True,
                    )
    rows = done[
        (done["seed"] == args.seed) & np.isclose(done["time_limit"], args.time_limit)
    ]
    if not len(rows):
        print("no rows yet", file=sys.stderr)
        return 1
    print(report(rows))
    print(f"\nrows: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
