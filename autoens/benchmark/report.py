"""Benchmark report: ``report.md``, ``summary.csv`` and PNG plots from the rows.

Renders what :func:`autoens.benchmark.analysis.analyse` computes: the key table of
every metric as text (:func:`format_summary`, what ``autoens benchmark report``
prints), and a Markdown report with plots (:func:`make_report` for any DataFrame of
rows, :func:`report_dir` for a results directory written by the runner). The
definitions of the numbers are in :mod:`autoens.benchmark.analysis` and are written
into every report.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoens.benchmark.analysis import (
    ALPHA,
    MetricAnalysis,
    analyse,
    describe_metric,
    normalised_improvement,
    prepare_rows,
    rank_blocks,
    significance_sentences,
    warning_notes,
    win_tie_loss,
)
from autoens.benchmark.rows import ROWS_FILE, SUITE_FILE, load_rows

# analyse and its helpers are re-exported: notebooks and scripts import them from here.
__all__ = [
    "DEFINITIONS",
    "MetricAnalysis",
    "analyse",
    "format_summary",
    "make_report",
    "normalised_improvement",
    "rank_blocks",
    "report_dir",
    "report_results",
    "win_tie_loss",
]


def _suite_info(results_dir: Path) -> tuple[str | None, str | None]:
    """(suite name, suite.toml text) of a results directory, when it has one."""
    path = results_dir / SUITE_FILE
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
        shown = (
            f"{name} (= -{name[4:]}, higher is better)" if name[:4] == "neg_" else name
        )
        head = f"{shown}: {a.n_complete} of {a.n_blocks} blocks complete"
        if a.friedman is not None:
            head += f", Friedman p = {a.friedman.pvalue:.3g}"
        text = head + "\n" + _text_table(a.table)
        if a.significance is not None and len(a.significance):
            text += "\n" + "\n".join(
                significance_sentences(a.significance, a.reference, name)
            )
        parts.append(text)
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
    warning_notes("autorank.plot_stats", caught, a.notes)
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
reference's; the Wilcoxon signed-rank test (paired over the complete blocks,
two-sided, Holm-corrected across the methods) says whether that difference is
significant at alpha = 0.05. `rank_val` and `norm_impr_val` use the selectors'
validation (out-of-fold) scores. Scores are rounded to 10 decimals before
comparing. A loss (RMSE, log loss) is stored negated (`neg_rmse` = -RMSE) so that
higher is better everywhere: rank 1 is the lowest loss. A `default:LEARNER`
baseline (one fit, no search) is its own SingleBest and has no validation score.
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
    frame, _ = prepare_rows(rows)
    lines = [f"# {title or 'Benchmark report'}", ""]
    lines += _header(frame)
    lines += ["", DEFINITIONS]
    summaries = []
    for name, a in analyses.items():
        slug = _slug(name)
        lines += [f"## {name}", "", describe_metric(name), ""]
        lines.append(
            f"{a.n_complete} of {a.n_blocks} blocks complete; validation ranks on "
            f"{a.n_val_blocks}; reference for w/t/l: `{a.reference}`."
        )
        lines += ["", _markdown_table(a.table), ""]
        lines += _friedman_text(a)
        lines += _significance_text(a)
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


def _significance_text(a: MetricAnalysis) -> list[str]:
    """Each method against the reference: the Wilcoxon/Holm table and sentences."""
    sig = a.significance
    if sig is None or sig.empty:
        return []
    table = sig.assign(
        significant=sig["significant"].map({True: "yes", False: "no"}),
        p_wilcoxon=sig["p_wilcoxon"].map(lambda p: f"{p:.3g}"),
        p_holm=sig["p_holm"].map(lambda p: f"{p:.3g}"),
    )
    lines = [
        f"### Against `{a.reference}`: Wilcoxon signed-rank, Holm-corrected",
        "",
        f"Paired two-sided Wilcoxon signed-rank test of each method's test score "
        f"against `{a.reference}` over the {a.n_complete} complete blocks, p-values "
        f"Holm-corrected across the {len(sig)} comparison(s); `mean_diff` is method "
        f"minus reference (higher is better).",
        "",
        _markdown_table(table, digits=4),
        "",
    ]
    lines += [
        f"- {line}" for line in significance_sentences(sig, a.reference, a.metric)
    ]
    return [*lines, ""]


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
    return report_results(results_dir, out, reference)[0]


def report_results(
    results_dir: str | Path,
    out: str | Path | None = None,
    reference: str | None = None,
) -> tuple[Path, dict[str, MetricAnalysis]]:
    """:func:`report_dir`, also returning the analyses (the CLI prints them).

    Raises :class:`FileNotFoundError` when ``results_dir`` or its rows file is
    missing, and :class:`ValueError` (:class:`~autoens.benchmark.analysis.ReportError`
    or a damaged rows file) when the rows cannot be reported on.
    """
    results = Path(results_dir)
    if not results.is_dir():
        raise FileNotFoundError(f"results directory not found: {results}")
    if not (results / ROWS_FILE).is_file():
        raise FileNotFoundError(
            f"no {ROWS_FILE} in {results_dir}: run `autoens benchmark run SUITE.toml "
            f"--out {results_dir}` first"
        )
    rows = load_rows(results)
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
