"""``selector="auto"`` with and without stacking in GES's simplicity tier, on the
libraries of ``compare_selectors.py`` (balanced accuracy).

``auto`` picks the simplest candidate within one standard error of the best inner-CV
loss; the tiers decide what "simplest" means. ``compare_selectors.py`` found stacking
significantly better than GES on balanced accuracy (16-candidate OOF libraries), yet
with stacking two tiers below GES ``auto`` rarely picks it. Two rules, scored on the
same libraries with GES as the reference:

- ``auto-stack-own-tier``: stacking in its own tier, after the weighted averages;
- ``auto-stack-with-ges``: stacking shares GES's tier, so the lower inner-CV loss of
  the two wins (``auto``'s rule for label metrics since this measurement).

The rules differ only for label metrics, hence balanced accuracy only. Both choose
among the same scored candidates, so ``auto`` is fit once per seed and each rule's
choice is taken from its inner-CV losses (and refit as ``auto`` refits it). Seeds:
``--selector-seeds`` (the row is the mean); the out-of-fold view of each library at
each ``--sizes`` (first N candidates in trial order); no competence features (as in
``compare_selectors.py``: dynamic candidates other than KNOP are skipped).

    python benchmarks/compare_selectors.py --trials 50 --min-candidates 50 \\
        --protocols oof --sizes 50
    python benchmarks/auto_rule.py --libraries benchmarks/results/selectors/libraries \\
        --sizes 16 50
"""

from __future__ import annotations

import sys
from pathlib import Path

# compare_selectors.py, beside this script, is imported for its library views.
sys.path.insert(0, str(Path(__file__).parent))

import argparse
import re

import numpy as np
import pandas as pd
from compare_selectors import library_views, test_score
from joblib import Parallel, delayed

from autoens.benchmark.analysis import paired_wilcoxon, win_tie_loss
from autoens.metrics import get_metric
from autoens.selectors import AutoSelector, get_selector
from autoens.selectors.auto_candidates import _TIER_NAMES, _describe
from autoens.selectors.base import BaseSelector, check_generator

REFERENCE = "ges"
METRIC, LOSS = "balanced_accuracy", "balanced_error_rate"
# auto's own tiers by the leaderboard's ``kind`` (stacking's own tier, as for ROC AUC).
_KIND_TIER = {kind: tier for tier, kind in _TIER_NAMES.items()}
RULE_TIERS = {
    "auto-stack-own-tier": _KIND_TIER,
    "auto-stack-with-ges": {**_KIND_TIER, "stacking": _KIND_TIER["ges"]},
}
RULES = tuple(RULE_TIERS)


def rule_choices(sel: AutoSelector, seed: int) -> dict[str, BaseSelector]:
    """Each rule's choice from one ``auto`` fit: its own ``chosen_`` when the rule
    picks the same candidate, else that candidate's unfitted template (seeded as
    ``auto`` seeds its templates)."""
    board = sel.selector_leaderboard_
    usable = (board["error"] == "").to_numpy()
    mean, se = board["mean_loss"].to_numpy(), board["se"].to_numpy()
    template_seed = int(check_generator(seed).integers(2**31 - 1))
    out: dict[str, BaseSelector] = {}
    for rule, tiers in RULE_TIERS.items():
        tier = board["kind"].map(tiers).to_numpy()
        row = board.iloc[sel._choose(mean, se, tier, usable)]
        if _describe(row["candidate"], row["params"]) == sel.chosen_name_:
            out[rule] = sel.chosen_
        else:
            chosen = get_selector(row["candidate"], random_state=template_seed)
            out[rule] = chosen.set_params(**row["params"])
    return out


def library_rows(
    path: Path, sizes: list[str], seeds: list[int], rows_dir: Path
) -> list[dict]:
    """GES and both rules on one library, computed once and kept (resume)."""
    key = "-".join([*sizes, "s" + "_".join(map(str, seeds))])
    done = rows_dir / f"{path.stem}-{key}.csv"
    if done.exists():
        frame = pd.read_csv(done, dtype={"size": str}, keep_default_na=False)
        return frame.to_dict("records")
    name, fold = re.fullmatch(r"(.+)-fold(\d+)-seed.*", path.stem).groups()
    metric = get_metric(LOSS)
    rows = []
    with np.load(path) as data:
        views = list(library_views(dict(data), ["oof"], sizes))
    for _, size, view in views:
        P, y = view["p_val"], view["y_val"]
        tests: dict[str, list[float]] = {m: [] for m in (REFERENCE, *RULES)}
        picks: dict[str, list[str]] = {m: [] for m in RULES}
        for seed in seeds:
            ges = get_selector("ges", random_state=seed).fit(P, y, metric=metric)
            proba = ges.combine(view["p_test"])
            tests[REFERENCE].append(test_score(METRIC, view["y_test"], proba))
            sel = get_selector("auto", random_state=seed).fit(P, y, metric=metric)
            for rule, chosen in rule_choices(sel, seed).items():
                if chosen is not sel.chosen_:
                    chosen.fit(P, y, metric=metric)
                picks[rule].append(type(chosen).__name__)
                proba = chosen.combine(view["p_test"])
                tests[rule].append(test_score(METRIC, view["y_test"], proba))
        for method, scores in tests.items():
            rows.append(
                {
                    "dataset": name,
                    "fold": int(fold),
                    "size": size,
                    "n_models": P.shape[0],
                    "method": method,
                    "test": float(np.mean(scores)),
                    "picks": ";".join(picks.get(method, [])),
                }
            )
    rows_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(done, index=False)
    return rows


def summarise(rows: pd.DataFrame, sizes: list[str]) -> str:
    """Per size: each rule against GES (w/t/l, Holm-corrected Wilcoxon), the two
    rules against each other, and what each rule picked."""
    out = []
    for size in sizes:
        part = rows[rows["size"] == size]
        if part.empty:
            continue
        scores = part.pivot_table(
            index=["dataset", "fold"], columns="method", values="test"
        ).dropna()
        n_models = part["n_models"]
        out.append(
            f"\n## {METRIC}, oof, size {size} ({len(scores)} dataset-folds, "
            f"{n_models.min()}-{n_models.max()} candidates)\n"
        )
        wtl = win_tie_loss(scores, REFERENCE)
        test = paired_wilcoxon(scores, REFERENCE)
        out.append("method | mean test | vs ges w/t/l | mean diff | Holm p")
        out.append("--- | --- | --- | --- | ---")
        out.append(f"{REFERENCE} | {scores[REFERENCE].mean():.4f} | | |")
        for method in RULES:
            w = wtl.loc[method]
            out.append(
                f"{method} | {scores[method].mean():.4f} | "
                f"{w['win']}/{w['tie']}/{w['loss']} | "
                f"{test.loc[method, 'mean_diff']:+.4f} | "
                f"{test.loc[method, 'p_holm']:.4f}"
            )
        pair = paired_wilcoxon(scores[list(RULES)], RULES[0]).iloc[0]
        w = win_tie_loss(scores[list(RULES)], RULES[0]).loc[RULES[1]]
        out.append(
            f"\n{RULES[1]} vs {RULES[0]}: {w['win']}/{w['tie']}/{w['loss']}, "
            f"mean {pair['mean_diff']:+.4f}, Wilcoxon p={pair['p_wilcoxon']:.4f}"
        )
        for method in RULES:
            picks = part.loc[part["method"] == method, "picks"].str.split(";")
            counts = pd.Series([p for ps in picks for p in ps]).value_counts()
            out.append(f"{method} picks: {counts.to_dict()}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--libraries",
        type=Path,
        default=Path("benchmarks/results/selectors/libraries"),
        help="the .npz libraries of compare_selectors.py",
    )
    parser.add_argument(
        "--pattern",
        default="*.npz",
        help="which libraries of --libraries (one per dataset-fold: a folder holding "
        "two searches per block needs e.g. '*-min100.npz')",
    )
    parser.add_argument(
        "--sizes", nargs="+", default=["16", "50"], help="first N candidates, or all"
    )
    parser.add_argument(
        "--selector-seeds", type=int, nargs="+", default=[0, 1, 2], help="averaged"
    )
    parser.add_argument("--n-jobs", type=int, default=2, help="libraries at once")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks/results/auto_rule"),
        help="per-library rows and rows.csv",
    )
    args = parser.parse_args(argv)
    paths = sorted(args.libraries.glob(args.pattern))
    if not paths:
        parser.error(
            f"--libraries: no library matches {args.pattern!r} in {args.libraries}"
        )
    blocks = [re.sub(r"-seed.*", "", path.stem) for path in paths]
    if len(set(blocks)) < len(blocks):
        twice = sorted({b for b in blocks if blocks.count(b) > 1})
        parser.error(
            f"--libraries: more than one library for {', '.join(twice[:3])}; "
            "choose one search per dataset-fold with --pattern"
        )
    print("command:", " ".join(["python", *sys.argv]), flush=True)
    parts = Parallel(n_jobs=args.n_jobs, verbose=5)(
        delayed(library_rows)(path, args.sizes, args.selector_seeds, args.out / "rows")
        for path in paths
    )
    rows = pd.DataFrame([row for part in parts for row in part])
    rows.to_csv(args.out / "rows.csv", index=False)
    print(summarise(rows, args.sizes))
    print(f"\nraw rows: {args.out / 'rows.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
