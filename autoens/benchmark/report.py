"""Benchmark report: ranks, normalised improvement, win/tie/loss, Friedman, plots.

Reads the rows written by the benchmark runner (one per finished (task, fold, seed,
method) unit, see ``autoens.benchmark.runner``) and writes ``report.md`` plus PNG
plots. Everything is computed from a DataFrame, so the same code serves the CLI
(``autoens benchmark report RESULTS_DIR``), notebooks and scripts.

Definitions (also written into every report):

* **Block**: one (task, outer fold, seed). Methods are compared within blocks only.
* **Complete blocks**: blocks where every method of the metric has an ``ok`` row.
  Ranks, normalised improvement, win/tie/loss, mean scores and the Friedman test use
  complete blocks only, so every method is judged on the same blocks; a block where
  any method failed (or has no row yet) is left out of all of them and counted.
  Failures are counted per method in the ``failed`` column.
* **Rank**: within a block, the highest score gets rank 1; ties share the mean rank.
* **Normalised improvement** (as in Purucker et al., Q(D)O-ES, 2023): per row,
  ``d = score − single_best`` where ``single_best`` is the score of the best single
  model of the same search; within a block, ``d`` is divided by the largest ``d`` of
  the block, so the method that gained most over its SingleBest gets 1 and SingleBest
  itself 0. When no method of the block beats its SingleBest, ``d`` is divided by the
  largest loss instead (the worst method gets −1); when every ``d`` is 0, all get 0.
  Values below −1 (a loss larger than the best gain of the block) are clipped to −1,
  so one block where the best method barely beat SingleBest cannot dominate a mean.
* **Win/tie/loss**: on complete blocks, test score above / equal to / below the
  reference method's.

Scores are rounded to 10 decimal places first, so float noise is never a win.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MetricAnalysis",
    "analyse",
    "format_summary",
    "main_report",
    "make_report",
    "normalised_improvement",
    "rank_blocks",
    "read_rows",
    "report_dir",
    "win_tie_loss",
]

BLOCK = ["task", "fold", "seed"]
"""Columns that identify one block (methods are compared within a block)."""

REQUIRED_COLUMNS = ("task", "fold", "seed", "method", "status", "metric", "test_score")
SCORE_DECIMALS = 10
ALPHA = 0.05
MIN_CD_BLOCKS = 5  # autorank refuses fewer than five blocks


@dataclass
class FriedmanResult:
    """Friedman test on the test scores of the complete blocks."""

    statistic: float
    pvalue: float
    n_blocks: int
    n_methods: int
    critical_difference: float | None = None  # Nemenyi CD at ALPHA (from autorank)


@dataclass
class MetricAnalysis:
    """Everything the report says about one metric."""

    metric: str
    table: pd.DataFrame  # one row per method, sorted by mean test rank
    test_scores: pd.DataFrame  # complete blocks × methods
    test_ranks: pd.DataFrame  # complete blocks × methods
    norm_improvement: pd.DataFrame  # complete blocks × methods (NaN: no SingleBest)
    per_task: pd.DataFrame  # task × method: mean test score over the ok rows
    reference: str
    n_blocks: int  # all blocks seen for this metric
    n_complete: int  # blocks used for ranks and tests
    n_val_blocks: int  # complete blocks that also have every validation score
    friedman: FriedmanResult | None
    cd_result: Any = None  # autorank RankResult, for the CD diagram
    notes: list[str] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------


def read_rows(results_dir: str | Path) -> pd.DataFrame:
    """The rows of a results directory (``rows.jsonl``), as a DataFrame.

    Uses the runner's reader when it is available; otherwise reads the JSON lines
    itself. A torn last line (a run killed while writing) is ignored; a bad line
    anywhere else is an error, because it means the file was damaged.
    """
    path = Path(results_dir) / "rows.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"no rows.jsonl in {results_dir}: run `autoens benchmark run SUITE.toml "
            f"--out {results_dir}` first"
        )
    try:
        from autoens.benchmark.runner import load_rows
    except ImportError:
        pass
    else:
        return load_rows(results_dir)
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # torn last line of a killed run
                continue
            raise ValueError(f"{path}, line {number}: not valid JSON") from None
    return pd.DataFrame.from_records(records)


def _suite_info(results_dir: Path) -> tuple[str | None, str | None]:
    """(suite name, suite.toml text) of a results directory, when it has one."""
    path = results_dir / "suite.toml"
    if not path.is_file():
        return None, None
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None, text
    name = data.get("name")
    for table in ("run", "suite"):  # the runner writes `[run] name = ...`
        if name is None and isinstance(data.get(table), dict):
            name = data[table].get("name")
    return (str(name) if name is not None else None), text


# -- the numbers -----------------------------------------------------------------------


def rank_blocks(scores: pd.DataFrame) -> pd.DataFrame:
    """Rank methods (columns) within each block (row): highest score = 1, ties
    averaged. ``scores`` must have no missing values (use complete blocks)."""
    if scores.isna().any().any():
        raise ValueError("rank_blocks needs complete blocks (no missing scores)")
    return scores.rank(axis=1, ascending=False, method="average")


def normalised_improvement(
    scores: pd.DataFrame, single_best: pd.DataFrame
) -> pd.DataFrame:
    """Improvement over SingleBest scaled per block (see the module docstring).

    ``scores`` and ``single_best`` are blocks × methods; a block where any
    SingleBest score is missing gets NaN for every method.
    """
    gain = scores - single_best.reindex_like(scores)
    up = gain.max(axis=1, skipna=False)
    down = -gain.min(axis=1, skipna=False)
    scale = up.where(up > 0, down).where(lambda s: s > 0)
    norm = gain.div(scale, axis=0).clip(lower=-1.0)
    all_tied = scale.isna() & gain.notna().all(axis=1)
    norm.loc[all_tied] = 0.0
    return norm


def win_tie_loss(scores: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per method (index): blocks where its score is above / equal to / below the
    reference's (columns ``win``, ``tie``, ``loss``)."""
    if reference not in scores.columns:
        raise ValueError(
            f"reference method {reference!r} is not among the methods: "
            f"{', '.join(map(str, scores.columns))}"
        )
    diff = scores.sub(scores[reference], axis=0)
    return pd.DataFrame(
        {
            "win": (diff > 0).sum().astype(int),
            "tie": (diff == 0).sum().astype(int),
            "loss": (diff < 0).sum().astype(int),
        }
    )


def _prepare(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Validate the rows, resolve duplicates and mixed modes; return notes."""
    if len(rows) == 0:
        raise ValueError(
            "no rows to report on: run `autoens benchmark run SUITE.toml --out DIR` "
            "first (or wait until a unit has finished)"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(
            f"the rows lack the columns {missing}; expected rows written by "
            "`autoens benchmark run`"
        )
    notes: list[str] = []
    frame = rows.copy()
    if "mode" in frame.columns:
        frame["mode"] = frame["mode"].astype(str)
    for col in ("task", "method", "status", "metric"):
        frame[col] = frame[col].astype(str)
    bad = sorted(set(frame["status"]) - {"ok", "failed"})
    if bad:
        raise ValueError(f"unknown status values {bad}; expected 'ok' or 'failed'")
    for col in (
        "test_score",
        "val_score",
        "single_best_test_score",
        "single_best_val_score",
        "test_log_loss",
        "n_members",
        "fit_time",
    ):
        if col not in frame.columns:
            frame[col] = np.nan
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in ("test_score", "val_score", "single_best_test_score"):
        frame[col] = frame[col].round(SCORE_DECIMALS)
    frame["single_best_val_score"] = frame["single_best_val_score"].round(
        SCORE_DECIMALS
    )
    no_score = (frame["status"] == "ok") & frame["test_score"].isna()
    if no_score.any():
        notes.append(
            f"{int(no_score.sum())} row(s) with status ok but no test score are "
            "counted as failed."
        )
        frame.loc[no_score, "status"] = "failed"
        if "error" not in frame.columns:
            frame["error"] = None
        frame.loc[no_score, "error"] = "no test score recorded"
    if "mode" in frame.columns:
        modes = frame.groupby("method")["mode"].nunique()
        mixed = modes[modes > 1].index
        if len(mixed):
            sel = frame["method"].isin(mixed)
            labels = frame.loc[sel, "method"] + " [" + frame.loc[sel, "mode"] + "]"
            frame.loc[sel, "method"] = labels
            notes.append(
                f"methods run in more than one mode are labelled with the mode: "
                f"{', '.join(map(str, mixed))}."
            )
    if "finished_at" in frame.columns:
        frame = frame.sort_values("finished_at", kind="stable", na_position="first")
    key = ["metric", *BLOCK, "method"]
    dup = frame.duplicated(key, keep="last")
    if dup.any():
        notes.append(
            f"{int(dup.sum())} row(s) superseded by a later row of the same unit "
            "(e.g. a failed unit run again) are not counted."
        )
        frame = frame[~dup]
    return frame.reset_index(drop=True), notes


def _default_reference(methods: Sequence[str]) -> tuple[str, str | None]:
    """GES is the usual baseline: prefer ``tpe+ges``, then any ``…+ges``."""
    ges = [m for m in methods if m == "ges" or m.split(" [")[0].endswith("+ges")]
    for preferred in ("tpe+ges", "ges"):
        if preferred in ges:
            return preferred, None
    if ges:
        return sorted(ges)[0], None
    first = sorted(methods)[0]
    return first, f"no GES method in the results; {first!r} is the reference."


def analyse(
    rows: pd.DataFrame, *, reference: str | None = None
) -> dict[str, MetricAnalysis]:
    """Compute every table and test of the report, per metric.

    ``reference`` is the method the win/tie/loss column compares against; by default
    ``tpe+ges`` or another ``…+ges`` method when present.
    """
    frame, shared_notes = _prepare(rows)
    if reference is not None and reference not in set(frame["method"]):
        raise ValueError(
            f"reference method {reference!r} is not in the results; methods: "
            f"{', '.join(sorted(set(frame['method'])))}"
        )
    out = {}
    for metric, part in frame.groupby("metric", sort=True):
        out[str(metric)] = _analyse_metric(str(metric), part, reference, shared_notes)
    return out


def _analyse_metric(
    metric: str, part: pd.DataFrame, reference: str | None, shared: list[str]
) -> MetricAnalysis:
    notes = list(shared)
    methods = sorted(set(part["method"]))
    if reference is None or reference not in methods:
        if reference is not None:
            notes.append(f"reference {reference!r} has no rows for {metric}.")
        reference, note = _default_reference(methods)
        if note:
            notes.append(note)
    ok = part[part["status"] == "ok"]
    blocks = part[BLOCK].drop_duplicates()
    n_blocks = len(blocks)

    def wide(values: str) -> pd.DataFrame:
        table = ok.pivot(index=BLOCK, columns="method", values=values)
        return table.reindex(columns=methods)

    test = wide("test_score").dropna()
    complete = test.index
    n_complete = len(complete)
    if n_complete < n_blocks:
        notes.append(
            f"{n_blocks - n_complete} of {n_blocks} block(s) left out of ranks and "
            "tests because a method failed there or has no row yet."
        )
    ranks = rank_blocks(test)
    val = wide("val_score").reindex(complete)
    val_complete = val.dropna()
    if len(val_complete) < n_complete:
        notes.append(
            f"validation ranks use {len(val_complete)} of {n_complete} complete "
            "block(s): the others lack a validation score for some method."
        )
    val_ranks = rank_blocks(val_complete)
    norm_test = normalised_improvement(
        test, wide("single_best_test_score").reindex(complete)
    )
    norm_val = normalised_improvement(
        val_complete, wide("single_best_val_score").reindex(val_complete.index)
    )
    if norm_test.isna().all(axis=1).any():
        notes.append(
            f"{int(norm_test.isna().all(axis=1).sum())} complete block(s) lack a "
            "SingleBest test score; normalised improvement leaves them out."
        )
    wtl = win_tie_loss(test, reference)
    counts = part.groupby("method")["status"].value_counts().unstack(fill_value=0)
    counts = counts.reindex(index=methods, columns=["ok", "failed"], fill_value=0)
    table = pd.DataFrame(
        {
            "rank_test": ranks.mean(),
            "rank_val": val_ranks.mean(),
            "norm_impr_test": norm_test.mean(),
            "norm_impr_val": norm_val.mean(),
            f"w/t/l vs {reference}": [
                "—" if m == reference else "{}/{}/{}".format(*wtl.loc[m])
                for m in methods
            ],
            "mean_test": test.mean(),
            "test_log_loss": wide("test_log_loss").reindex(complete).mean(),
            "members": ok.groupby("method")["n_members"].mean(),
            "fit_s": ok.groupby("method")["fit_time"].mean(),
            "ok": counts["ok"],
            "failed": counts["failed"],
        },
        index=pd.Index(methods, name="method"),
    )
    if table["test_log_loss"].isna().all():
        table = table.drop(columns="test_log_loss")
    table = table.sort_values(["rank_test", "mean_test"], ascending=[True, False])
    per_task = ok.pivot_table(
        index="task", columns="method", values="test_score", aggfunc="mean"
    ).reindex(columns=methods)
    friedman, cd_result = _friedman(test, notes)
    return MetricAnalysis(
        metric=metric,
        table=table,
        test_scores=test,
        test_ranks=ranks,
        norm_improvement=norm_test,
        per_task=per_task,
        reference=reference,
        n_blocks=n_blocks,
        n_complete=n_complete,
        n_val_blocks=len(val_complete),
        friedman=friedman,
        cd_result=cd_result,
        notes=notes,
    )


def _friedman(
    scores: pd.DataFrame, notes: list[str]
) -> tuple[FriedmanResult | None, Any]:
    """Friedman test (scipy) and autorank's Friedman–Nemenyi result for the CD plot.

    Notes say why a test or the diagram is missing instead of raising; warnings of
    scipy and autorank are caught and become notes (pytest runs with warnings as
    errors, and a report should say what was odd rather than crash).
    """
    k, n = scores.shape[1], scores.shape[0]
    if k < 3:
        notes.append(
            f"Friedman test and CD diagram need at least 3 methods (have {k}); "
            "see the win/tie/loss column instead."
        )
        return None, None
    if n < 2:
        notes.append(f"Friedman test needs at least 2 complete blocks (have {n}).")
        return None, None
    from scipy import stats  # lazy: the CLI imports this module to build its parser

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = stats.friedmanchisquare(*scores.to_numpy().T)
    _warning_notes("scipy", caught, notes)
    friedman = FriedmanResult(float(result.statistic), float(result.pvalue), n, k)
    if not np.isfinite(friedman.pvalue):
        notes.append("Friedman test undefined: every method tied in every block.")
        return friedman, None
    if n < MIN_CD_BLOCKS:
        notes.append(
            f"CD diagram needs at least {MIN_CD_BLOCKS} complete blocks (have {n})."
        )
        return friedman, None
    cd_result = _autorank(scores, notes)
    if cd_result is not None:
        friedman.critical_difference = float(cd_result.cd)
    return friedman, cd_result


def _autorank(scores: pd.DataFrame, notes: list[str]) -> Any:
    import autorank

    data = scores.reset_index(drop=True).rename_axis(columns=None)
    data.columns = [str(c) for c in data.columns]
    printed = io.StringIO()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(printed),
    ):
        warnings.simplefilter("always")
        try:
            result = autorank.autorank(
                data, alpha=ALPHA, order="descending", force_mode="nonparametric"
            )
        except (ValueError, ArithmeticError) as exc:
            notes.append(f"autorank failed, no CD diagram: {exc}")
            result = None
    _warning_notes("autorank", caught, notes)
    return result


def _warning_notes(source: str, caught: list[Any], notes: list[str]) -> None:
    seen = set()
    for w in caught:
        text = f"{source} warned: {w.category.__name__}: {str(w.message).strip()}"
        if text not in seen:
            seen.add(text)
            notes.append(text)


# -- text ------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def _markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table (index as the first column)."""
    header = [str(frame.index.name or ""), *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |"]
    aligns = [":--"] + [
        "--:" if pd.api.types.is_numeric_dtype(frame[c]) else ":--"
        for c in frame.columns
    ]
    lines.append("| " + " | ".join(aligns) + " |")
    for index, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = [str(index), *(_fmt(v, digits) for v in row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _text_table(frame: pd.DataFrame, digits: int = 3) -> str:
    cells = frame.map(lambda v: _fmt(v, digits))
    cells.index = cells.index.astype(str)
    return cells.to_string()


def format_summary(analyses: dict[str, MetricAnalysis]) -> str:
    """The key table of every metric as plain text (what the CLI prints)."""
    parts = []
    for name, a in analyses.items():
        head = f"{name}: {a.n_complete} of {a.n_blocks} blocks complete"
        if a.friedman is not None:
            head += f", Friedman p = {a.friedman.pvalue:.3g}"
        parts.append(head + "\n" + _text_table(a.table))
    return "\n\n".join(parts)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "metric"


# -- plots -----------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    """A figure that renders with Agg and never touches pyplot's global state."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _plot_ranks(a: MetricAnalysis, path: Path) -> None:
    table = a.table.iloc[::-1]
    fig = _figure(6.5, 1.2 + 0.35 * len(table))
    ax = fig.add_subplot()
    y = np.arange(len(table))
    ax.barh(y + 0.2, table["rank_test"], height=0.4, label="test")
    ax.barh(y - 0.2, table["rank_val"], height=0.4, label="validation")
    ax.set_yticks(y, [str(m) for m in table.index])
    ax.set_xlabel("mean rank (1 = best)")
    ax.set_title(f"{a.metric}: mean rank over {a.n_complete} blocks")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.savefig(path, dpi=110)


def _plot_norm_improvement(a: MetricAnalysis, path: Path) -> None:
    order = [str(m) for m in a.table.index]
    data = [a.norm_improvement[m].dropna().to_numpy() for m in order]
    fig = _figure(6.5, 1.2 + 0.35 * len(order))
    ax = fig.add_subplot()
    ax.boxplot(data[::-1], orientation="horizontal", tick_labels=order[::-1])
    ax.axvline(0.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("normalised improvement over SingleBest (test; 1 = best in block)")
    ax.set_title(f"{a.metric}: normalised improvement")
    fig.savefig(path, dpi=110)


def _plot_cd(a: MetricAnalysis, path: Path) -> None:
    import autorank

    k = a.test_scores.shape[1]
    # autorank sizes the figure from the number of methods and groups
    height = 0.65 + (k + 1) / 2 * 0.2 + max(0.4, 0.4 + (k - 1) * 0.1)
    fig = _figure(6.0, height)
    fig.set_layout_engine(None)
    fig.set_facecolor("white")
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        autorank.plot_stats(a.cd_result, allow_insignificant=True, ax=ax)
    _warning_notes("autorank.plot_stats", caught, a.notes)
    # long method names reach past the figure's edges: let the saved area grow
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.1)


# -- the report ------------------------------------------------------------------------

DEFINITIONS = """\
**How to read this report.** A *block* is one (task, outer fold, seed). Within a
block the method with the highest score gets rank 1 (ties share the mean rank).
Ranks, normalised improvement, win/tie/loss, `mean_test` and the Friedman test use
*complete blocks* only — blocks where every method finished — so all methods are
judged on the same blocks; `failed` counts each method's failed units.
*Normalised improvement* (Purucker et al. 2023): per row `d = score - SingleBest`,
where SingleBest is the best single model of the same search, divided within the
block by the largest `d` (the method that gained most gets 1, SingleBest 0); when no
method beats its SingleBest, by the largest loss (the worst gets -1); 0 when all tie;
values below -1 (a loss larger than the block's best gain) are clipped to -1.
`w/t/l`: blocks where the method's test score is above / equal to / below the
reference's. `rank_val` and `norm_impr_val` use the selectors' validation (out-of-fold)
scores. Scores are rounded to 10 decimals before comparing.
"""


def make_report(
    rows: pd.DataFrame,
    out_dir: str | Path,
    *,
    reference: str | None = None,
    title: str | None = None,
    run_definition: str | None = None,
) -> Path:
    """Write ``report.md``, ``summary.csv`` and PNG plots to ``out_dir``.

    Returns the path of ``report.md``. ``run_definition`` (the suite's TOML text) is
    copied into the report when given.
    """
    return _write_report(
        analyse(rows, reference=reference),
        rows,
        Path(out_dir),
        title=title,
        run_definition=run_definition,
    )


def _write_report(
    analyses: dict[str, MetricAnalysis],
    rows: pd.DataFrame,
    out: Path,
    *,
    title: str | None,
    run_definition: str | None,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    frame, _ = _prepare(rows)
    lines = [f"# {title or 'Benchmark report'}", ""]
    lines += _header(frame)
    lines += ["", DEFINITIONS]
    summaries = []
    for name, a in analyses.items():
        slug = _slug(name)
        lines += [f"## {name}", ""]
        lines.append(
            f"{a.n_complete} of {a.n_blocks} blocks complete; validation ranks on "
            f"{a.n_val_blocks}; reference for w/t/l: `{a.reference}`."
        )
        lines += ["", _markdown_table(a.table), ""]
        lines += _friedman_text(a)
        plots = []
        if a.n_complete:
            _plot_ranks(a, out / f"ranks_{slug}.png")
            plots.append(("Mean ranks", f"ranks_{slug}.png"))
            if a.norm_improvement.notna().any().any():
                _plot_norm_improvement(a, out / f"norm_impr_{slug}.png")
                plots.append(("Normalised improvement", f"norm_impr_{slug}.png"))
        if a.cd_result is not None:
            _plot_cd(a, out / f"cd_{slug}.png")
            plots.insert(0, ("Critical-difference diagram", f"cd_{slug}.png"))
        for caption, file in plots:
            lines += [f"![{caption}]({file})", ""]
        lines += [
            "### Mean test score per task",
            "",
            "Averaged over each method's ok rows (all folds and seeds it finished).",
            "",
        ]
        lines += [_markdown_table(a.per_task.rename_axis("task"), digits=4), ""]
        if a.notes:
            lines += ["### Notes", ""]
            lines += [f"- {note}" for note in a.notes]
            lines.append("")
        summaries.append(a.table.reset_index().assign(metric=name))
    lines += _failures_text(frame)
    if run_definition:
        lines += [
            "## Run definition",
            "",
            "```toml",
            run_definition.rstrip(),
            "```",
            "",
        ]
    pd.concat(summaries).to_csv(out / "summary.csv", index=False)
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _header(frame: pd.DataFrame) -> list[str]:
    failed = int((frame["status"] == "failed").sum())
    lines = [
        f"- rows: {len(frame)} ({len(frame) - failed} ok, {failed} failed)",
        f"- tasks: {frame['task'].nunique()}, folds: {frame['fold'].nunique()}, "
        f"seeds: {frame['seed'].nunique()}, methods: {frame['method'].nunique()} "
        f"({', '.join(sorted(frame['method'].unique()))})",
        f"- metrics: {', '.join(sorted(frame['metric'].unique()))}",
    ]
    if "mode" in frame.columns:
        lines.append(f"- mode: {', '.join(sorted(frame['mode'].astype(str).unique()))}")
    if "autoens_version" in frame.columns:
        versions = sorted(frame["autoens_version"].dropna().astype(str).unique())
        lines.append(f"- autoens: {', '.join(versions)}")
    if "finished_at" in frame.columns and frame["finished_at"].notna().any():
        times = frame["finished_at"].dropna().astype(str)
        lines.append(f"- finished: {times.min()} … {times.max()}")
    return lines


def _friedman_text(a: MetricAnalysis) -> list[str]:
    f = a.friedman
    if f is None:
        return ["Friedman test: not run (see notes).", ""]
    verdict = (
        "the methods differ significantly"
        if f.pvalue < ALPHA
        else "no significant difference between the methods"
    )
    text = (
        f"Friedman test over {f.n_blocks} blocks and {f.n_methods} methods: "
        f"χ² = {f.statistic:.3f}, p = {f.pvalue:.3g} ({verdict} at alpha = {ALPHA})."
    )
    if f.critical_difference is not None:
        text += (
            f" Nemenyi critical difference: {f.critical_difference:.3f} mean ranks;"
            " methods joined by a bar in the diagram are not significantly"
            " different."
        )
    return [text, ""]


def _failures_text(frame: pd.DataFrame) -> list[str]:
    failed = frame[frame["status"] == "failed"]
    if failed.empty:
        return []
    error = (
        failed["error"] if "error" in failed.columns else pd.Series("", failed.index)
    )
    table = pd.DataFrame(
        {
            "metric": failed["metric"],
            "fold": failed["fold"].astype(str),
            "seed": failed["seed"].astype(str),
            "method": failed["method"],
            "error": error.fillna("").astype(str).map(_first_line),
        }
    )
    table.index = pd.Index(failed["task"].astype(str), name="task")
    return ["## Failed units", "", _markdown_table(table), ""]


def _first_line(text: str, width: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = line.replace("|", "\\|")
    return line if len(line) <= width else line[: width - 1] + "…"


def report_dir(
    results_dir: str | Path,
    out: str | Path | None = None,
    reference: str | None = None,
) -> Path:
    """Report on a results directory; writes to ``RESULTS_DIR/report`` by default.

    Returns the path of ``report.md``.
    """
    return _report_results(Path(results_dir), out, reference)[0]


def _report_results(
    results: Path, out: str | Path | None, reference: str | None
) -> tuple[Path, dict[str, MetricAnalysis]]:
    if not results.is_dir():
        raise FileNotFoundError(f"results directory not found: {results}")
    rows = read_rows(results)
    name, toml_text = _suite_info(results)
    analyses = analyse(rows, reference=reference)
    path = _write_report(
        analyses,
        rows,
        results / "report" if out is None else Path(out),
        title=f"Benchmark report: {name or results.resolve().name}",
        run_definition=toml_text,
    )
    return path, analyses


# -- CLI -------------------------------------------------------------------------------


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``autoens benchmark report`` (``RESULTS_DIR`` is added by the
    caller)."""
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where to write report.md and the plots (default: RESULTS_DIR/report)",
    )
    parser.add_argument(
        "--reference",
        default=None,
        metavar="METHOD",
        help="method the win/tie/loss column compares against (default: tpe+ges, "
        "or another …+ges method)",
    )


def main_report(args: argparse.Namespace) -> int:
    """``autoens benchmark report``: print the key tables, write the report."""
    from autoens.cli._common import CLIError

    results = Path(args.results)
    out = getattr(args, "out", None)
    reference = getattr(args, "reference", None)
    if not results.is_dir():
        raise CLIError(f"results directory not found: {args.results}")
    if not (results / "rows.jsonl").is_file():
        raise CLIError(
            f"no rows.jsonl in {args.results}: run `autoens benchmark run SUITE.toml "
            f"--out {args.results}` first"
        )
    try:
        path, analyses = _report_results(results, out, reference)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(format_summary(analyses))
    print(f"\nReport written to {path}")
    return 0
