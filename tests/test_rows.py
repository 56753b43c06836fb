"""``rows.jsonl``: the one writer appends whole lines, the one reader drops only a torn
last line, and resuming rewrites the file atomically (no model is fitted here)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from autoens.benchmark import rows, runner, units
from autoens.benchmark.rows import (
    ROW_FIELDS,
    ROWS_FILE,
    RowWriter,
    load_rows,
    prune_rows,
    read_rows,
    row_key,
)


def make_row(fold: int, status: str = "ok") -> dict:
    row = dict.fromkeys(ROW_FIELDS)
    row.update(
        task="keel:sonar",
        source="keel",
        fold=fold,
        seed=0,
        method="tpe+ges",
        status=status,
        error=None if status == "ok" else "ValueError: bad",
        metric="roc_auc",
        test_score=0.9 if status == "ok" else None,
        fit_time=1.5,
        finished_at="2026-01-02T03:04:05+00:00",
    )
    return row


def test_writer_appends_one_line_per_row(tmp_path):
    with RowWriter(tmp_path) as writer:
        writer.write(make_row(0))
        writer.write(make_row(1, "failed"))
    text = (tmp_path / ROWS_FILE).read_text(encoding="utf-8")
    assert text.endswith("\n") and len(text.splitlines()) == 2
    # a second writer (a resumed run) appends after the rows already there
    with RowWriter(tmp_path) as writer:
        writer.write(make_row(2))
    assert [row_key(r) for r in read_rows(tmp_path)] == [
        ("keel:sonar", fold, 0, "tpe+ges") for fold in range(3)
    ]


def test_load_rows_has_the_schema_columns_and_types(tmp_path):
    with RowWriter(tmp_path) as writer:
        writer.write({k: v for k, v in make_row(0).items() if v is not None})
    frame = load_rows(tmp_path)
    assert list(frame.columns) == list(ROW_FIELDS)
    assert frame["fold"].dtype == "int64" and frame["val_score"].dtype == "float64"
    assert frame["finished_at"].iloc[0] == pd.Timestamp("2026-01-02T03:04:05Z")


def test_prune_rows_drops_a_torn_line_and_failed_rows_on_retry(tmp_path):
    path = tmp_path / ROWS_FILE
    whole = [json.dumps(make_row(0)), json.dumps(make_row(1, "failed"))]
    path.write_text("\n".join(whole) + "\n" + whole[0][:20], encoding="utf-8")
    kept = prune_rows(tmp_path, retry_failed=False)
    assert [r["fold"] for r in kept] == [0, 1]
    assert path.read_text(encoding="utf-8") == "\n".join(whole) + "\n"
    kept = prune_rows(tmp_path, retry_failed=True)
    assert [r["fold"] for r in kept] == [0]
    assert path.read_text(encoding="utf-8") == whole[0] + "\n"
    assert not list(tmp_path.glob(".rows.*"))  # the temporary file was renamed
    assert prune_rows(tmp_path / "new", retry_failed=True) == []


def test_a_line_that_is_not_an_object_is_an_error(tmp_path):
    (tmp_path / ROWS_FILE).write_text('[1, 2]\n{"task": "a"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: expected a JSON object"):
        read_rows(tmp_path)


def test_runner_keeps_the_names_it_documented():
    for name in ("load_rows", "read_rows", "ROW_FIELDS", "ROWS_FILE", "SUITE_FILE"):
        assert getattr(runner, name) is getattr(rows, name)
    assert runner.RunError is units.RunError
    assert runner.plan_units is units.plan_units and runner.Unit is units.Unit


def test_regression_extras_and_rows_written_before_them(tmp_path):
    """``test_r2`` follows ``test_log_loss``; rows of older runs lack it and read
    back as null, so old results directories keep loading and resuming."""
    assert ROW_FIELDS.index("test_r2") == ROW_FIELDS.index("test_log_loss") + 1
    old = {k: v for k, v in make_row(0).items() if k != "test_r2"}
    new = make_row(1)
    new.update(metric="neg_rmse", test_score=-3.2, test_r2=0.71, n_classes=None)
    with RowWriter(tmp_path) as writer:
        writer.write(old)
        writer.write(new)
    frame = load_rows(tmp_path)
    assert list(frame.columns) == list(ROW_FIELDS)
    assert frame["test_r2"].dtype == "float64"
    assert np.isnan(frame["test_r2"].iloc[0]) and frame["test_r2"].iloc[1] == 0.71
    assert frame["metric"].tolist() == ["roc_auc", "neg_rmse"]
