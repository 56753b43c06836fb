"""Compare ensemble selectors on the same searches (KEEL dev-12, outer 3-fold).

The datasets are the development suite ``autoens.datasets.KEEL_DEV12`` (sonar, wdbc,
crx, pima, vehicle, german, contraceptive, segment, splice, spambase, phoneme,
satimage); the outer folds are ``StratifiedKFold(3, shuffle=True,
random_state=seed)``.

Phase 1 runs one search per dataset × outer fold (``--trials`` trials, cached under
``--out``) and stores its library: OOF predictions on the training part, every
member's predictions on the outer test fold, and a holdout variant of the same
candidates (each refit on 67 % of the training rows, predicting the other 33 % and
the test fold: the setting of the Q(D)O-ES paper). Phase 2 fits each selector on the
validation predictions only (no base model is refit) and scores it on the test fold,
for each validation protocol (``oof``, ``holdout``) and library size (the first N
candidates in trial order: the library a shorter search builds). A seeded selector
(GES's tie-breaks, QO-ES, CMA-ES, stacking's inner folds) is run once per
``--selector-seeds`` seed and its row is the mean. Each table ends with a paired
Wilcoxon test of every selector against GES over the dataset-folds (Holm-corrected).
Both phases resume: finished libraries and per-library rows are reused.

    python benchmarks/compare_selectors.py               # dev-12, 16 trials
    python benchmarks/compare_selectors.py --trials 110 --sizes 16 50 all
    python benchmarks/compare_selectors.py --trials 110 --min-candidates 100 --sizes all
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
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from autoens import AutoEnsembleClassifier
from autoens.benchmark.analysis import paired_wilcoxon, win_tie_loss
from autoens.datasets import KEEL_DEV12, load_keel
from autoens.members import predict_member, refit_member
from autoens.metrics import get_metric
from autoens.selectors import SELECTOR_NAMES, get_selector
from autoens.space import get_learners
from autoens.task import encode_labels

METRICS = {"roc_auc": "roc_auc", "balanced_accuracy": "balanced_error_rate"}
REFERENCE = "ges"
# Share of the training rows the holdout variant keeps for the selector.
HOLDOUT = 0.33
# Compared by default (those registered in this version); Oracle is left out because it
# needs the test labels to predict.
DEFAULT_SELECTORS = (
    "single_best ges qo-es qdo-es qdo-es-ges cmaes qp qp-balanced qp-logloss "
    "stacking nnls-stacking"
).split()
# Named variants: a registered selector with parameters.
VARIANTS = {
    "qo-es-ges": ("qo-es", {"ges_seed": True}),
    "qdo-es-ges": ("qdo-es", {"ges_seed": True}),
}


def test_score(metric: str, y: np.ndarray, proba: np.ndarray) -> float:
    if metric == "roc_auc":
        if proba.shape[1] == 2:
            return float(roc_auc_score(y, proba[:, 1]))
        labels = np.arange(proba.shape[1])
        return float(roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    return float(balanced_accuracy_score(y, proba.argmax(axis=1)))


def build_library(name: str, fold: int, args: argparse.Namespace, path: Path) -> None:
    """Search on the outer training part; keep OOF and test predictions of members.

    Also the holdout variant of the same candidates (the Q(D)O-ES paper's setting,
    Purucker & Beel, AutoML 2023): each configuration refit once on 67 % of the
    training rows, predicting the other 33 % (the selector's validation data) and
    the test fold (only when ``--protocols`` includes it). A configuration whose refit
    fails is marked in ``holdout_ok``.
    """
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
        storage=f"sqlite:///{path.with_suffix('.db')}",
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X.iloc[train], y[train])
        # Repeats of a configuration and trials cut at the time limit count as
        # trials but add no candidate: resume the same study (its trials count)
        # until the library has --min-candidates, within 3x --trials.
        while len(model.library_) < args.min_candidates and model.n_trials < (
            3 * args.trials
        ):
            missing = args.min_candidates - len(model.library_)
            model.set_params(n_trials=model.n_trials + missing)
            model.fit(X.iloc[train], y[train])
    search_seconds = time.perf_counter() - start
    lib = model.library_
    test_frame = model.schema_.transform(X.iloc[test])
    p_test = lib.predict(test_frame, list(range(len(lib))))
    start = time.perf_counter()
    hold = {}
    if "holdout" in args.protocols:
        hold = holdout_library(
            model,
            model.schema_.transform(X.iloc[train]),
            y[train],
            test_frame,
            args.seed,
        )
    np.savez_compressed(
        path,
        p_val=lib.oof,
        y_val=lib.y,
        p_test=p_test,
        y_test=y[test],
        learners=np.array(lib.learners),
        params=np.array([json.dumps(p) for p in lib.params]),
        trials=np.array(lib.trials),
        search_seconds=search_seconds,
        holdout_seconds=time.perf_counter() - start,
        **hold,
    )


def holdout_library(
    model: AutoEnsembleClassifier,
    frame: pd.DataFrame,
    y: np.ndarray,
    test_frame: pd.DataFrame,
    seed: int,
) -> dict[str, np.ndarray]:
    """Every library candidate refit on a stratified 67 % of ``frame``."""
    lib = model.library_
    fit_rows, val_rows = train_test_split(
        np.arange(len(y)), test_size=HOLDOUT, stratify=y, random_state=seed
    )
    specs = {s.name: s for s in get_learners(model.learners, task=model.task_)}
    n, k = len(lib), lib.task.n_outputs
    p_val = np.full((n, len(val_rows), k), np.nan, dtype=np.float32)
    p_test = np.full((n, len(test_frame), k), np.nan, dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    for i in range(n):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                refit = refit_member(
                    specs[lib.learners[i]],
                    lib.params[i],
                    lib.fold_models([i])[i],
                    frame.iloc[fit_rows],
                    y[fit_rows],
                    feature_types=model.schema_.feature_types,
                    task=lib.task,
                    random_state=seed,
                )
                p_val[i] = predict_member([refit], frame.iloc[val_rows], lib.task)
                p_test[i] = predict_member([refit], test_frame, lib.task)
            ok[i] = True
        except Exception as exc:  # a candidate that cannot refit leaves this variant
            print(f"  holdout refit of {lib.learners[i]} failed: {exc}", flush=True)
    return {
        "holdout_p_val": p_val,
        "holdout_y_val": y[val_rows],
        "holdout_p_test": p_test,
        "holdout_ok": ok,
    }


def library_path(name: str, fold: int, args: argparse.Namespace) -> Path:
    """The library of one dataset × fold, searched first if it is not on disk."""
    stem = f"{name}-fold{fold}-seed{args.seed}-t{args.trials}-cv{args.cv}"
    if args.min_candidates:
        stem += f"-min{args.min_candidates}"
    path = args.out / "libraries" / f"{stem}.npz"
    if not path.exists():
        start = time.perf_counter()
        build_library(name, fold, args, path)
        print(
            f"searched {name} fold {fold} in {time.perf_counter() - start:.0f}s",
            flush=True,
        )
    return path


def library_views(
    data: dict, protocols: list[str], sizes: list[str]
) -> Iterator[tuple[str, str, dict]]:
    """``(protocol, size, view)`` for each validation protocol and library size.

    A size ``N`` is the first N candidates of the search in trial order (the library
    a shorter search would have built), ``all`` every candidate; ``oof`` validates on
    the out-of-fold rows, ``holdout`` on the 33 % holdout (same candidates, minus
    any whose holdout refit failed).
    """
    n = data["p_val"].shape[0]
    for protocol in protocols:
        if protocol == "holdout" and "holdout_ok" not in data:
            raise SystemExit("this library has no holdout variant: rebuild it")
        prefix = "holdout_" if protocol == "holdout" else ""
        for size in sizes:
            first = n if size == "all" else int(size)
            if first > n:
                continue  # the search finished fewer candidates
            keep = np.arange(first)
            if prefix:
                keep = keep[data["holdout_ok"][:first]]
            view = {
                "p_val": data[prefix + "p_val"][keep],
                "p_test": data[prefix + "p_test"][keep],
                "y_val": data[prefix + "y_val"],
                "y_test": data["y_test"],
                "learners": data["learners"][keep],
                "params": data["params"][keep],
            }
            yield protocol, size, view


def make_selector(name: str, seed: int) -> Any:
    base, params = VARIANTS.get(name, (name, {}))
    sel = get_selector(base, random_state=seed)
    return sel.set_params(**params) if params else sel


def is_seeded(name: str) -> bool:
    """Whether the selector draws random numbers (then it is run once per seed)."""
    return "random_state" in make_selector(name, 0).get_params()


def evaluate(
    name: str,
    fold: int,
    data: dict,
    selectors: list[str],
    protocols: list[str],
    sizes: list[str],
    seeds: list[int],
) -> list[dict]:
    """One row per (protocol, size, metric, selector): the mean over ``seeds`` of a
    seeded selector (QO-ES, CMA-ES, ...), one run of a deterministic one."""
    rows = []
    seeded = {name: is_seeded(name) for name in selectors}
    for protocol, size, view in library_views(data, protocols, sizes):
        configs = [
            {"learner": str(learner), "params": json.loads(str(params))}
            for learner, params in zip(view["learners"], view["params"], strict=True)
        ]
        for metric_name, loss_name in METRICS.items():
            metric = get_metric(loss_name)
            for sel_name in selectors:
                runs = []
                for seed in seeds if seeded[sel_name] else seeds[:1]:
                    sel = make_selector(sel_name, seed)
                    start = time.perf_counter()
                    sel.fit(
                        view["p_val"], view["y_val"], metric=metric, configs=configs
                    )
                    seconds = time.perf_counter() - start
                    proba = sel.combine(view["p_test"])
                    runs.append(
                        {
                            "val": metric.to_score(sel.validation_loss_),
                            "test": test_score(metric_name, view["y_test"], proba),
                            "n_members": np.count_nonzero(sel.weights_),
                            "fit_seconds": seconds,
                        }
                    )
                mean = pd.DataFrame(runs).mean()
                rows.append(
                    {
                        "dataset": name,
                        "fold": fold,
                        "protocol": protocol,
                        "size": size,
                        "metric": metric_name,
                        "selector": sel_name,
                        **mean.to_dict(),
                        "test_sd": float(np.std([r["test"] for r in runs])),
                        "n_seeds": len(runs),
                        "n_models": view["p_val"].shape[0],
                    }
                )
    return rows


def library_rows(path: Path, rows_dir: Path, args: argparse.Namespace) -> pd.DataFrame:
    """The rows of one library, computed once and kept next to it (resume)."""
    key = "-".join(
        [*args.protocols, *args.sizes, "s" + "_".join(map(str, args.selector_seeds))]
    )
    out = rows_dir / f"{path.stem}-{key}.csv"
    done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=["selector"])
    todo = [s for s in args.selectors if s not in set(done["selector"])]
    if todo:
        name, fold = re.fullmatch(r"(.+)-fold(\d+)-seed.*", path.stem).groups()
        with np.load(path) as data:
            new = pd.DataFrame(
                evaluate(
                    name,
                    int(fold),
                    dict(data),
                    todo,
                    args.protocols,
                    args.sizes,
                    args.selector_seeds,
                )
            )
        done = new if done.empty else pd.concat([done, new], ignore_index=True)
        done.to_csv(out, index=False)
    return done[done["selector"].isin(args.selectors)]


def summarise(rows: pd.DataFrame) -> str:
    """One table per (protocol, size, metric), then the verdicts against GES."""
    out, verdicts, overview = [], [], []
    for (protocol, size, metric), block in rows.groupby(
        ["protocol", "size", "metric"], sort=False
    ):
        n_blocks = block[["dataset", "fold"]].drop_duplicates().shape[0]
        models = block.groupby(["dataset", "fold"])["n_models"].first()
        out.append(
            f"\n## {metric}, {protocol} validation, library {size} "
            f"({n_blocks} dataset-folds, {models.min()}-{models.max()} models)\n"
        )
        table = {}
        for split in ("val", "test"):
            # Rounded, so that a mean over seeds equal to another up to float noise
            # ties with it exactly (ranks, w/t/l, the Wilcoxon zero differences).
            wide = block.pivot_table(
                index=["dataset", "fold"], columns="selector", values=split
            ).round(12)
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
                wtl = win_tie_loss(wide, REFERENCE)
                table["w/t/l_vs_ges"] = (
                    wtl["win"].astype(str)
                    + "/"
                    + wtl["tie"].astype(str)
                    + "/"
                    + wtl["loss"].astype(str)
                )
                table["mean_test"] = wide.mean()
                tests = paired_wilcoxon(wide, REFERENCE)
                table["diff_vs_ges"] = tests["mean_diff"]
                table["p_holm"] = tests["p_holm"]
                for sel, row in tests[tests["significant"]].iterrows():
                    word = "better" if row["mean_diff"] > 0 else "worse"
                    verdicts.append(
                        f"{metric}, {protocol}, library {size}: {sel} {word} than "
                        f"GES on test (mean {row['mean_diff']:+.4f}, "
                        f"Holm p={row['p_holm']:.3g})"
                    )
        table["members"] = block.groupby("selector")["n_members"].mean()
        table["fit_s"] = block.groupby("selector")["fit_seconds"].mean()
        frame = pd.DataFrame(table).sort_values("rank_test")
        out.append(frame.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"))
        best = frame.index[0] if frame.index[0] != REFERENCE else frame.index[1]
        better = frame.loc[frame["diff_vs_ges"] > 0, "p_holm"]
        closest = (
            f"{better.idxmin()} {better.min():.3f}" if len(better) else "none better"
        )
        overview.append(
            {
                "metric": metric,
                "protocol": protocol,
                "size": size,
                "blocks": n_blocks,
                "ges_rank": frame.loc[REFERENCE, "rank_test"],
                "best_other": best,
                "its_rank": frame.loc[best, "rank_test"],
                "its_w/t/l": frame.loc[best, "w/t/l_vs_ges"],
                "its_diff": frame.loc[best, "diff_vs_ges"],
                "its_p_holm": frame.loc[best, "p_holm"],
                "best_p_among_better": closest,
            }
        )
    out.append(
        "\n## Overview: the best selector other than GES per table (test rank)\n"
    )
    out.append(
        pd.DataFrame(overview).to_string(index=False, float_format=lambda v: f"{v:.3f}")
    )
    out.append("\n## Significant test differences from GES (Wilcoxon, Holm, 0.05)\n")
    out.extend(verdicts or ["none"])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--datasets", nargs="+", default=list(KEEL_DEV12), help="KEEL dataset names"
    )
    parser.add_argument(
        "--folds", type=int, nargs="+", default=[0, 1, 2], help="outer folds (of 3)"
    )
    parser.add_argument("--trials", type=int, default=16, help="search length")
    parser.add_argument(
        "--min-candidates",
        type=int,
        default=0,
        help="resume each search until its library has this many distinct "
        "candidates (at most 3x --trials trials)",
    )
    parser.add_argument(
        "--cv", type=int, default=3, help="inner CV folds of the search"
    )
    parser.add_argument(
        "--trial-time-limit", type=float, default=120.0, help="seconds per trial"
    )
    parser.add_argument("--seed", type=int, default=0, help="search and outer folds")
    parser.add_argument(
        "--n-jobs", type=int, default=2, help="parallel trials; libraries evaluated"
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=["all"],
        help="library sizes: the first N candidates of each search, or all",
    )
    parser.add_argument(
        "--protocols",
        nargs="+",
        choices=("oof", "holdout"),
        default=["oof", "holdout"],
        help="validation data of the selectors: out-of-fold rows, or a 33%% holdout",
    )
    parser.add_argument(
        "--selector-seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="seeds of the seeded selectors (their rows are the mean)",
    )
    parser.add_argument(
        "--selectors",
        nargs="+",
        default=[s for s in DEFAULT_SELECTORS if s in SELECTOR_NAMES or s in VARIANTS],
        help=f"registered: {', '.join(SELECTOR_NAMES)}; variants: "
        f"{', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks/results/selectors"),
        help="libraries, per-library rows and rows.csv",
    )
    args = parser.parse_args(argv)
    unknown = [s for s in args.selectors if s not in SELECTOR_NAMES + tuple(VARIANTS)]
    if unknown:
        parser.error(f"--selectors: unknown {unknown}")
    needed = [s for s in ("single_best", REFERENCE) if s not in args.selectors]
    if needed:
        parser.error(
            f"--selectors must include {needed}: the tables scale scores between "
            "SingleBest and the best method and test every method against GES"
        )
    for size in args.sizes:
        if size != "all" and not (size.isdigit() and int(size) > 0):
            parser.error(f"--sizes: expected positive counts or 'all', got {size!r}")
    (args.out / "libraries").mkdir(parents=True, exist_ok=True)
    (args.out / "rows").mkdir(parents=True, exist_ok=True)
    print("command:", " ".join(["python", *sys.argv]), flush=True)
    paths = [
        library_path(name, fold, args) for name in args.datasets for fold in args.folds
    ]
    parts = Parallel(n_jobs=args.n_jobs, verbose=5)(
        delayed(library_rows)(path, args.out / "rows", args) for path in paths
    )
    frame = pd.concat(parts, ignore_index=True)
    frame.to_csv(args.out / "rows.csv", index=False)
    print(summarise(frame))
    print(f"\nraw rows: {args.out / 'rows.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
