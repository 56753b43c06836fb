"""Two benchmark runs of the same units, compared unit by unit: a change of run-level
setting (a learned portfolio against the built-in one, for instance) that one suite
file cannot hold as two methods.

Rows of ``RUN_A/rows.jsonl`` and ``RUN_B/rows.jsonl`` are paired by (task, outer fold,
seed, method); for each pair the test score (higher is better) and the trials the
search finished are shown, then B against A: wins/ties/losses, the mean difference
and the paired Wilcoxon signed-rank p (``autoens.benchmark.analysis``), and the mean
rank of each run (1 = the better of the two on a unit, 1.5 each on a tie).

    python benchmarks/compare_runs.py results/portfolio-eval-default \\
        results/portfolio-eval-learned
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEY = ["task", "fold", "seed", "method"]


def paired(run_a: Path, run_b: Path) -> pd.DataFrame:
    """One row per unit finished (status ok) in both runs."""
    from autoens.benchmark.rows import load_rows

    sides = []
    for name, folder in (("a", run_a), ("b", run_b)):
        rows = load_rows(folder)
        rows = rows[rows["status"] == "ok"].set_index(KEY)
        sides.append(
            rows[["test_score", "n_trials", "n_members"]].add_suffix(f"_{name}")
        )
    return sides[0].join(sides[1], how="inner").sort_index()


def report(table: pd.DataFrame, label_a: str, label_b: str) -> str:
    from autoens.benchmark.analysis import paired_wilcoxon, rank_blocks, win_tie_loss

    if table.empty:
        return "no unit finished in both runs"
    scores = table[["test_score_a", "test_score_b"]].set_axis(
        [label_a, label_b], axis=1
    )
    wtl = win_tie_loss(scores, label_a).loc[label_b]
    test = paired_wilcoxon(scores, label_a).loc[label_b]
    ranks = rank_blocks(scores).mean()
    with pd.option_context(
        "display.width", 160, "display.float_format", "{:.4f}".format
    ):
        lines = [table.reset_index(["seed", "method"], drop=True).to_string(), ""]
    lines += [
        f"{label_b} vs {label_a} over {len(table)} units:",
        f"  test score  w/t/l {wtl['win']}/{wtl['tie']}/{wtl['loss']}, mean diff "
        f"{test['mean_diff']:+.4f}, Wilcoxon p={test['p_wilcoxon']:.3g}",
        f"  mean rank   {label_a} {ranks[label_a]:.2f}, {label_b} {ranks[label_b]:.2f}"
        " (lower is better)",
        f"  trials      mean {table['n_trials_a'].mean():.1f} -> "
        f"{table['n_trials_b'].mean():.1f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path, help="results directory of the reference")
    parser.add_argument("run_b", type=Path, help="results directory compared with it")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    table = paired(args.run_a, args.run_b)
    labels = (args.run_a.name, args.run_b.name)
    if labels[0] == labels[1]:
        labels = ("A", "B")
    print(report(table, *labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
