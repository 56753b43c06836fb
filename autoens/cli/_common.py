"""Helpers shared by the subcommands: input checks, model files, tables.

The CLI is an adapter and holds no machine-learning logic: it reads files, checks
them well enough to give a one-line message instead of a traceback, and hands
everything else to :class:`autoens.AutoEnsembleClassifier` or
:class:`autoens.AutoEnsembleRegressor`.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from autoens._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # imported on first use: `autoens --help` stays fast (tests/test_install.py)
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

EXIT_INTERRUPTED = 3
"""``autoens fit`` stopped by Ctrl-C; the model of the finished trials was saved."""
EXIT_SIGINT = 130
"""Stopped by Ctrl-C with nothing saved (a second Ctrl-C, or no trial had finished)."""


class CLIError(Exception):
    """A user error: reported as ``autoens CMD: error: MESSAGE`` without traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the line breaks of descriptions and examples; wider option column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)
        # argparse under-measures subcommand names, which pushed the help of
        # "leaderboard" onto its own line; start the help column at least here.
        self._action_max_length = 20


# -- argparse value types (their messages end up in "argument --x: invalid ...") --


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fold_count(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {text}")
    return value


positive_int.__name__ = "positive integer"  # argparse names the type in errors
positive_float.__name__ = "positive number"
fold_count.__name__ = "fold count"


class _TqdmLogHandler(logging.Handler):
    """Writes through ``tqdm.write`` so log lines do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def short_warnings(command: str) -> Iterator[None]:
    """Show warnings as one ``autoens CMD: warning: ...`` line, above any progress bar.

    The default format repeats a source line of the library, which reads like a crash
    to someone using the command line. Filters (e.g. pytest's "error") are untouched.
    """

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        from tqdm import tqdm

        tqdm.write(
            f"autoens {command}: warning: {category.__name__}: {message}",
            file=sys.stderr,
        )

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def log_to_stderr(verbose: int) -> Iterator[None]:
    """With ``-vv``, show the ``autoens`` logger's INFO lines (one per trial).

    The handler is removed afterwards so in-process calls do not stack handlers.
    """
    if verbose < 2:
        yield
        return
    logger = logging.getLogger("autoens")
    handler = _TqdmLogHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


# -- files -------------------------------------------------------------------------


def _check_input_file(path: str, what: str) -> Path:
    file = Path(path)
    if not file.exists():
        raise CLIError(f"{what} not found: {path}")
    if file.is_dir():
        raise CLIError(f"{what} is a directory, not a file: {path}")
    return file


def read_csv(path: str) -> pd.DataFrame:
    """Read a CSV with a header row; every failure becomes a :class:`CLIError`."""
    from autoens.datasets import read_csv as read_table  # lazy: `--help` stays fast

    _check_input_file(path, "CSV file")
    try:
        return read_table(path)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def unknown_column_message(column: str, columns: Sequence[str], path: str) -> str:
    from autoens.tabular import describe_columns  # lazy: keeps `autoens --help` fast

    message = f"column {column!r} not found in {path}"
    close = difflib.get_close_matches(column, [str(c) for c in columns], n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return f"{message}. Its columns are: {describe_columns(columns)}"


def _nearest_existing(path: Path) -> Path | None:
    """``path`` or its nearest ancestor that exists."""
    return next((p for p in (path, *path.parents) if p.exists()), None)


def check_writable_folder(folder: str | os.PathLike[str], label: str) -> None:
    """A one-line ``CLIError`` (naming ``label``, e.g. ``--out model.skops``) when
    ``folder`` cannot be created or written to; nothing is created.

    For a path a command writes only at its end (``autoens fit --out``): a file in
    the way is said before the fit, not after it as a traceback.
    """
    existing = _nearest_existing(Path(folder).absolute())
    if existing is None:
        return
    if not existing.is_dir():
        raise CLIError(
            f"{label} cannot be written: a file is in the way, where a folder is "
            f"needed ({existing})"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"{label} cannot be written: permission denied ({existing})")


def make_folder(folder: str | os.PathLike[str], label: str, role: str) -> None:
    """Create ``folder`` now, or raise a one-line ``CLIError`` naming ``label``."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        existing = _nearest_existing(Path(folder).absolute())
        if existing is not None and not existing.is_dir():
            reason = f"a file is in the way, where a folder is needed ({existing})"
        else:
            reason = exc.strerror or str(exc)
        raise CLIError(f"{label} cannot be used as {role}: {reason}") from None


def save_model(estimator: Any, path: str) -> Path:
    """Write ``estimator`` with :func:`autoens.save` (a ``.skops`` file, written to a
    temporary file and renamed); a directory in the way is a :class:`CLIError`."""
    from autoens.persist import save

    if Path(path).is_dir():
        raise CLIError(f"--out is a directory, expected a file name: {path}")
    return save(estimator, path)


def load_model(path: str) -> Any:
    """Load a model with :func:`autoens.load`: a ``.skops`` file, or a joblib file of
    an earlier autoens (with a one-line warning). A file that is unreadable, not an
    autoens model, from a newer autoens or naming untrusted types is a
    :class:`CLIError`; nothing of an untrusted file runs."""
    from autoens.persist import ModelFileError, load

    _check_input_file(path, "model file")
    try:
        return load(path)
    except ModelFileError as exc:
        raise CLIError(str(exc)) from None


FIT_COLUMNS = ("target_column_", "sample_weight_column_")
"""Attributes ``autoens fit`` sets on the model it saves: the CSV columns of the target
and of ``--sample-weight`` (absent for a model fit in Python)."""


def target_column(estimator: Any, default: str = "prediction") -> str:
    """The CSV column ``autoens fit`` took the target from (``target_column_``);
    ``default`` for a model fit in Python."""
    return str(getattr(estimator, "target_column_", None) or default)


# -- tables --------------------------------------------------------------------------


def format_table(frame: pd.DataFrame, numeric: Sequence[str] = ()) -> str:
    """Plain-text table: text columns left-aligned, ``numeric`` ones right-aligned."""
    cells = frame.astype(str)
    lines = []
    widths = {
        col: max([len(str(col)), *cells[col].str.len().tolist()]) for col in cells
    }

    def align(col: Any, text: str) -> str:
        if col in numeric:
            return text.rjust(widths[col])
        return text.ljust(widths[col])

    lines.append("  ".join(align(c, str(c)) for c in cells).rstrip())
    for row in cells.itertuples(index=False):
        lines.append(
            "  ".join(align(c, v) for c, v in zip(cells, row, strict=True)).rstrip()
        )
    return "\n".join(lines)


def _short_params(params: Any, width: int = 60) -> str:
    if isinstance(params, dict):
        parts = []
        for key, value in params.items():
            shown = f"{value:.3g}" if isinstance(value, float) else str(value)
            parts.append(f"{key}={shown}")
        text = ", ".join(parts)
    else:
        text = "" if params is None else str(params)
    return text if len(text) <= width else text[: width - 3] + "..."


def _score_name(estimator: Any) -> str:
    return str(getattr(getattr(estimator, "metric_", None), "score_name", "score"))


def _scores(board: pd.DataFrame, estimator: Any) -> pd.Series:
    """The score column (named after the metric, e.g. ``roc_auc``; else ``score``)."""
    name = _score_name(estimator)
    return board[name] if name in board.columns else board["score"]


def model_family(estimator: Any) -> str:
    """``"classification"`` or ``"regression"``: what a saved model predicts."""
    return str(getattr(getattr(estimator, "task_", None), "family", "classification"))


def _r2(y: np.ndarray, predictions: np.ndarray) -> float:
    """R² of predictions against y (NaN for a constant y)."""
    centred = y - y.mean()
    sst = float(centred @ centred)
    residual = y - predictions
    return 1.0 - float(residual @ residual) / sst if sst > 0 else float("nan")


def oof_r2(estimator: Any) -> pd.Series:
    """Out-of-fold R² of each library member of a regressor, by trial number.

    Computed from the out-of-fold predictions the search kept, so it is the same
    cross-validation as the leaderboard's own score, whatever the metric.
    """
    lib = estimator.library_
    y = np.asarray(lib.y, dtype=np.float64)
    values = [_r2(y, lib.oof[i, :, 0].astype(np.float64)) for i in range(len(lib))]
    return pd.Series(values, index=pd.Index(lib.trials, name="trial"), name="r2")


def ensemble_oof_r2(estimator: Any) -> float | None:
    """The ensemble's out-of-fold R², when the selector says it exactly: from its
    validation loss (rmse, mse, r2) or, for a weighted average, from its weights."""
    lib, metric = estimator.library_, estimator.metric_
    y = np.asarray(lib.y, dtype=np.float64)
    loss = float(getattr(estimator, "validation_loss_", float("nan")))
    variance = float(np.var(y))
    if np.isfinite(loss) and variance > 0:
        if metric.name == "rmse":
            return 1.0 - loss**2 / variance
        if metric.name == "mse":
            return 1.0 - loss / variance
        if metric.name == "r2_loss":
            return 1.0 - loss
    selector = getattr(estimator, "selector_", None)
    if selector is not None and selector.is_weighted_average:
        weights = np.asarray(selector.weights_, dtype=np.float64)
        return _r2(y, weights @ lib.oof[:, :, 0].astype(np.float64))
    return None


def validation_text(estimator: Any) -> str:
    """The ensemble's score on the out-of-fold rows it was selected on, next to the
    best single model's (and its R² for a regressor); "" when there is none."""
    metric = getattr(estimator, "metric_", None)
    loss = float(getattr(estimator, "validation_loss_", float("nan")))
    if metric is None or not np.isfinite(loss):
        return ""
    score = getattr(estimator, "validation_score_", metric.to_score(loss))
    text = f"ensemble out-of-fold {metric.score_name}: {score:.4f}"
    if model_family(estimator) == "regression" and metric.name != "r2_loss":
        r2 = ensemble_oof_r2(estimator)
        if r2 is not None:
            text += f", r2: {r2:.4f}"
    best = getattr(estimator, "best_trial_", None)
    board = estimator.leaderboard_
    row = board[board["trial"] == best]
    if len(row) and metric.score_name in board.columns:
        text += (
            f" (best single model: {float(row[metric.score_name].iloc[0]):.4f}, "
            f"trial {best}, {row['learner'].iloc[0]})"
        )
    return text


def deployment_text(estimator: Any) -> str:
    """How the ensemble predicts: members refit or bagged, calibration (one line
    each; "" when neither was asked for)."""
    lines = []
    refit = getattr(estimator, "refit_", None)
    if getattr(estimator, "refit", None) == "members" and refit is not None:
        done = int((refit["status"] == "refit").sum())
        lines.append(
            f"refit: {done} of {len(refit)} members retrained on all rows "
            f"(predict time {1000 * estimator.predict_time_1k_:.0f} ms per 1,000 rows)"
        )
    report = getattr(estimator, "calibration_report_", None)
    if report is not None and len(report):
        chosen = report[report["chosen"] & (report["method"] != "none")]
        before = report.iloc[0]
        text = (
            f"calibration: {estimator.calibration_ or 'none kept'}; out-of-fold log "
            f"loss {before['log_loss_before']:.4f}, ECE {before['ece_before']:.4f}"
        )
        if len(chosen):
            after = chosen.iloc[0]
            text += (
                f" -> {after['log_loss_after_inner_cv']:.4f}, "
                f"{after['ece_after_inner_cv']:.4f} (inner CV)"
            )
        lines.append(text)
    return "\n".join(lines)


def ranked_leaderboard(estimator: Any) -> pd.DataFrame:
    """The ensemble's row, then the trials best first (lowest loss); failed trials
    last."""
    board = estimator.leaderboard_
    failed = board["status"].astype(str) != "ok"
    order = pd.DataFrame(
        {"failed": failed, "loss": board["loss"], "trial": board["trial"]}
    ).sort_values(["failed", "loss", "trial"], na_position="last", kind="stable")
    ranked = board.loc[order.index]
    if hasattr(estimator, "selector_"):
        full = estimator.leaderboard()
        ranked = pd.concat(
            [full.iloc[:1], ranked.assign(trial=pd.array(ranked["trial"], "Int64"))],
            ignore_index=True,
        )
    if (
        model_family(estimator) == "regression"
        and _score_name(estimator) != "r2"
        and "r2" not in ranked.columns
    ):
        # R² beside RMSE (or MAE): scale-free, so it reads the same on any target
        r2 = ranked["trial"].map(oof_r2(estimator))
        if ranked["trial"].isna().iloc[0]:
            r2.iloc[0] = ensemble_oof_r2(estimator)
        ranked = ranked.assign(r2=r2.astype("float64")).loc[
            :, _after(ranked.columns, _score_name(estimator))
        ]
    return ranked


def _after(columns: Any, name: str) -> list[str]:
    """``columns`` with ``r2`` moved right after ``name`` (when present)."""
    out = [c for c in columns if c != "r2"]
    at = out.index(name) + 1 if name in out else len(out)
    return [*out[:at], "r2", *out[at:]]


def _n_ensemble_rows(board: pd.DataFrame) -> int:
    """1 when ``board`` starts with the ensemble's row (``--top N`` counts trials)."""
    return int(len(board) > 0 and pd.isna(board["trial"].iloc[0]))


def top_rows(board: pd.DataFrame, top: int | None) -> pd.DataFrame:
    """The ensemble's row and the ``top`` best trials (all when None)."""
    return board if top is None else board.head(top + _n_ensemble_rows(board))


def leaderboard_text(estimator: Any, top: int | None = None) -> str:
    """A readable leaderboard: trial, learner, score, weight, fit time, params."""
    board = ranked_leaderboard(estimator)
    shown = top_rows(board, top)
    score = _score_name(estimator)
    columns = {
        "trial": shown["trial"].map(lambda t: "-" if pd.isna(t) else str(t)),
        "learner": shown["learner"].astype(str),
        score: _scores(shown, estimator).map(
            lambda s: "" if pd.isna(s) else f"{s:.4f}"
        ),
    }
    if "r2" in shown.columns and score != "r2":
        columns["r2"] = shown["r2"].map(lambda s: "" if pd.isna(s) else f"{s:.4f}")
    table = pd.DataFrame(
        {
            **columns,
            "weight": shown["weight"].map(lambda w: f"{w:.3f}" if w > 0 else "-"),
            # a stopped trial reports no fit time; "0.0s" would read as instant
            "fit_time": shown["fit_time"]
            .where(shown["status"] == "ok")
            .map(lambda t: "" if pd.isna(t) else f"{t:.1f}s"),
            # seconds per 1,000 rows, as each member runs in the ensemble
            "predict_1k": shown.get("predict_time_1k", pd.Series(np.nan, shown.index))
            .where(shown["status"] == "ok")
            .map(lambda t: "" if pd.isna(t) else f"{1000 * t:.0f}ms"),
            "status": shown["status"].astype(str),
            "params": shown["params"].map(_short_params),
        }
    )
    text = format_table(
        table, numeric=("trial", score, "r2", "weight", "fit_time", "predict_1k")
    )
    hidden = len(board) - len(shown)
    if hidden > 0:
        text += f"\n... {hidden} more row{'s' if hidden > 1 else ''}"
    return text


def weights_text(estimator: Any) -> str:
    """The ensemble members (rows with a positive weight), heaviest first."""
    board = estimator.leaderboard_
    members = board[board["weight"] > 0].sort_values(
        ["weight", "loss"], ascending=[False, True], kind="stable"
    )
    score = _score_name(estimator)
    table = pd.DataFrame(
        {
            "trial": members["trial"].astype(str),
            "learner": members["learner"].astype(str),
            "weight": members["weight"].map(lambda w: f"{w:.3f}"),
            score: _scores(members, estimator).map(lambda s: f"{s:.4f}"),
        }
    )
    return format_table(table, numeric=("trial", "weight", score))


def ensemble_summary(estimator: Any) -> str:
    """Which selector built the ensemble and how many members must run to predict.

    A dynamic ensemble picks members per row, so it runs the whole library.
    """
    from autoens.leaderboard import selector_name  # lazy: keeps `--help` fast

    selector = getattr(estimator, "selector_", None)
    ensemble = getattr(estimator, "ensemble_", None)
    if selector is None or ensemble is None:
        return ""
    n_required = getattr(estimator, "n_required_", len(ensemble.required))
    n_models = len(estimator.library_)
    kind = "dynamic, per-row" if selector.is_dynamic else "static"
    return (
        f"ensemble: {selector_name(estimator)} ({kind}); n_required={n_required} "
        f"of {n_models} library members run at predict time"
    )


def selector_leaderboard_text(estimator: Any, top: int | None = None) -> str:
    """The candidates ``selector="auto"`` scored, best inner-CV score first ("" if
    the model was not fit with ``auto``)."""
    board = getattr(estimator, "selector_leaderboard_", None)
    if board is None or not len(board):
        return ""
    shown = board if top is None else board.head(top)
    if not shown["chosen"].any():
        # The 1-SE rule often picks a simpler candidate below the top rows: show it.
        shown = pd.concat([shown, board[board["chosen"]]])
    score = f"cv_{_score_name(estimator)}"
    table = pd.DataFrame(
        {
            "candidate": shown["candidate"].astype(str),
            "params": shown["params"].map(_short_params),
            "kind": shown["kind"].astype(str),
            score: shown["mean_score"].map(lambda s: "" if pd.isna(s) else f"{s:.4f}"),
            "se": shown["se"].map(lambda s: "" if pd.isna(s) else f"{s:.4f}"),
            "members": shown["members"].map(lambda m: f"{m:.1f}"),
            "fit_time": shown["fit_time"].map(lambda t: f"{t:.2f}s"),
            "chosen": shown["chosen"].map(lambda c: "*" if c else ""),
        }
    )
    text = format_table(table, numeric=(score, "se", "members", "fit_time"))
    hidden = len(board) - len(shown)
    if hidden > 0:
        text += f"\n... {hidden} more candidate{'s' if hidden > 1 else ''}"
    return text
