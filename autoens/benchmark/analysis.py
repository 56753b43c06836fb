"""Benchmark analysis: ranks, normalised improvement, win/tie/loss, Friedman test.

Works on the rows written by the benchmark runner (one per finished (task, fold,
seed, method) unit, see :mod:`autoens.benchmark.rows`), as a DataFrame, so the same
numbers serve the report (:mod:`autoens.benchmark.report`), notebooks and scripts.
:func:`analyse` returns every table and test, per metric; nothing here writes files.

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
* **Significance against the reference** (Demšar 2006): per method, a paired
  two-sided Wilcoxon signed-rank test of its test scores against the reference's
  over the complete blocks (blocks with equal scores are dropped, scipy's default;
  no non-zero difference gives p = 1), then Holm's step-down correction across the
  methods compared, so the chance of any false "significant" stays below ALPHA.

Scores are higher-is-better whatever the task: a loss is stored negated
(``neg_rmse`` is −RMSE), so rank 1 is the lowest RMSE and the definitions above hold
unchanged for regression. Such a metric's table also shows the loss itself
(``mean_rmse``); regression rows add the mean test R² (``test_r2``), classification
rows the mean test log loss.

Scores are rounded to 10 decimal places first, so float noise is never a win.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ALPHA",
    "BLOCK",
    "FriedmanResult",
    "MetricAnalysis",
    "ReportError",
    "analyse",
    "describe_metric",
    "holm",
    "normalised_improvement",
    "paired_wilcoxon",
    "prepare_rows",
    "rank_blocks",
    "significance_sentences",
    "warning_notes",
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
    # per method vs the reference: Wilcoxon + Holm (see paired_wilcoxon)
    significance: pd.DataFrame | None = None


class ReportError(ValueError):
    """Rows that cannot be reported on; the message says what to run or fix."""


def describe_metric(metric: str) -> str:
    """One line saying what a row's ``metric`` is, for the report's readers.

    ``neg_rmse`` → "-rmse ... rank 1 is the lowest rmse": a stored-negated loss is
    easy to misread as a score that went wrong.
    """
    if metric.startswith("neg_"):
        loss = metric.removeprefix("neg_")
        return (
            f"`{metric}` is {loss} negated (-{loss}), so that higher is better: "
            f"rank 1 is the lowest {loss}; `mean_{loss}` is the plain {loss}."
        )
    return f"`{metric}`: higher is better, rank 1 is the highest."


# -- the numbers -----------------------------------------------------------------------


def rank_blocks(scores: pd.DataFrame) -> pd.DataFrame:
    """Rank methods (columns) within each block (row): highest score = 1, ties
    averaged. ``scores`` must have no missing values (use complete blocks)."""
    if scores.isna().any().any():
        raise ReportError("rank_blocks needs complete blocks (no missing scores)")
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
        raise ReportError(
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


def holm(pvalues: Any) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order.

    The i-th smallest of m p-values is multiplied by ``m - i`` (i from 0), then a
    running maximum keeps the adjusted values in the same order as the raw ones,
    capped at 1. NaN entries stay NaN and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"holm needs a 1-d array of p-values, got shape {p.shape}")
    finite = ~np.isnan(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise ValueError("holm needs p-values in [0, 1]")
    out = np.full(p.shape, np.nan)
    q = p[finite]
    order = np.argsort(q, kind="stable")
    m = q.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * q[order])
    stepped = np.empty(m)
    stepped[order] = np.minimum(adjusted, 1.0)
    out[finite] = stepped
    return out


def paired_wilcoxon(
    scores: pd.DataFrame,
    reference: str,
    *,
    alpha: float = ALPHA,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """Each method (column of complete blocks × methods) against ``reference``:
    paired two-sided Wilcoxon signed-rank test over the blocks, Holm-corrected
    across the methods.

    Returns one row per method other than the reference, with ``n_blocks``,
    ``mean_diff`` (method − reference, higher-is-better scores), ``p_wilcoxon``,
    ``p_holm`` and ``significant`` (``p_holm < alpha``). A method whose scores equal
    the reference's in every block gets p = 1. Warnings of scipy become ``notes``.
    """
    if reference not in scores.columns:
        raise ReportError(
            f"reference method {reference!r} is not among the methods: "
            f"{', '.join(map(str, scores.columns))}"
        )
    if scores.isna().any().any():
        raise ReportError("paired_wilcoxon needs complete blocks (no missing scores)")
    others = [m for m in scores.columns if m != reference]
    diff = scores[others].sub(scores[reference], axis=0)
    d = diff.to_numpy(dtype=np.float64)  # blocks × others
    nonzero = (d != 0).any(axis=0)
    pvalues = np.ones(len(others))
    if nonzero.any() and len(d) > 0:
        from scipy import stats

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = stats.wilcoxon(d[:, nonzero], axis=0)
        warning_notes(
            "scipy.stats.wilcoxon", caught, notes if notes is not None else []
        )
        pvalues[nonzero] = np.atleast_1d(result.pvalue)
    adjusted = holm(pvalues)
    return pd.DataFrame(
        {
            "n_blocks": len(d),
            "mean_diff": diff.mean().to_numpy() if len(d) else np.nan,
            "p_wilcoxon": pvalues,
            "p_holm": adjusted,
            "significant": adjusted < alpha,
        },
        index=pd.Index(others, name="method"),
    )


def significance_sentences(
    table: pd.DataFrame, reference: str, metric: str, *, alpha: float = ALPHA
) -> list[str]:
    """One sentence per row of :func:`paired_wilcoxon`'s table, e.g. ``qp vs ges:
    worse on test roc_auc, mean -0.0012, Wilcoxon p=0.003, Holm p=0.012:
    significant``.

    For a stored-negated loss (``neg_rmse``) the mean is the difference of the loss
    itself (RMSE), so "better" comes with a negative mean.
    """
    loss = metric.startswith("neg_")
    label = metric.removeprefix("neg_") if loss else metric
    lines = []
    for method, row in table.iterrows():
        d = float(row["mean_diff"])
        direction = "better" if d > 0 else "worse" if d < 0 else "equal"
        shown = -d if loss else d
        verdict = (
            "significant" if row["significant"] else "not significant"
        ) + f" at {alpha}"
        lines.append(
            f"{method} vs {reference}: {direction} on test {label}, mean "
            f"{shown:+.4f}, Wilcoxon p={row['p_wilcoxon']:.3g}, "
            f"Holm p={row['p_holm']:.3g}: {verdict}"
        )
    return lines


def prepare_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Validate the rows, resolve duplicates and mixed modes; return notes."""
    if len(rows) == 0:
        raise ReportError(
            "no rows to report on: run `autoens benchmark run SUITE.toml --out DIR` "
            "first (or wait until a unit has finished)"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise ReportError(
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
        raise ReportError(f"unknown status values {bad}; expected 'ok' or 'failed'")
    for col in (
        "test_score",
        "val_score",
        "single_best_test_score",
        "single_best_val_score",
        "test_log_loss",
        "test_r2",
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
    frame, shared_notes = prepare_rows(rows)
    if reference is not None and reference not in set(frame["method"]):
        raise ReportError(
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
    no_val = [m for m in methods if val[m].isna().all()]
    if no_val and len(no_val) < len(methods):
        # e.g. default:LEARNER baselines, which have no validation score at all:
        # rank the others on validation rather than no block at all
        notes.append(
            f"{', '.join(no_val)}: no validation score, left out of the validation "
            "ranks."
        )
        val = val.drop(columns=no_val)
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
        val_complete,
        wide("single_best_val_score")
        .reindex(val_complete.index)
        .reindex(columns=val_complete.columns),
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
            f"mean_{metric.removeprefix('neg_')}": -test.mean(),
            "test_log_loss": wide("test_log_loss").reindex(complete).mean(),
            "test_r2": wide("test_r2").reindex(complete).mean(),
            "members": ok.groupby("method")["n_members"].mean(),
            "fit_s": ok.groupby("method")["fit_time"].mean(),
            "ok": counts["ok"],
            "failed": counts["failed"],
        },
        index=pd.Index(methods, name="method"),
    )
    if not metric.startswith("neg_"):
        table = table.drop(columns=f"mean_{metric}")
    for extra in ("test_log_loss", "test_r2"):
        if table[extra].isna().all():
            table = table.drop(columns=extra)
    table = table.sort_values(["rank_test", "mean_test"], ascending=[True, False])
    per_task = ok.pivot_table(
        index="task", columns="method", values="test_score", aggfunc="mean"
    ).reindex(columns=methods)
    friedman, cd_result = _friedman(test, notes)
    significance = paired_wilcoxon(test, reference, notes=notes)
    if 0 < n_complete < 6 and len(significance):
        notes.append(
            f"with {n_complete} complete block(s) the smallest possible two-sided "
            f"Wilcoxon p is {2.0 ** (1 - n_complete):.3g}: no difference can be "
            f"significant at {ALPHA} below 6 blocks."
        )
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
        significance=significance,
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
    from scipy import stats  # lazy: slow to import, and not needed below 3 methods

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = stats.friedmanchisquare(*scores.to_numpy().T)
    warning_notes("scipy", caught, notes)
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
    warning_notes("autorank", caught, notes)
    return result


def warning_notes(source: str, caught: list[Any], notes: list[str]) -> None:
    """Append each distinct caught warning to ``notes`` as one line.

    The statistics libraries warn on odd but valid data (a constant column, few
    blocks); the report states that instead of crashing under warnings-as-errors.
    """
    seen = set()
    for w in caught:
        text = f"{source} warned: {w.category.__name__}: {str(w.message).strip()}"
        if text not in seen:
            seen.add(text)
            notes.append(text)
