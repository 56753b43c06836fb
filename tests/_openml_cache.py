"""Build an OpenML cache directory by hand, so OpenML tasks load without network.

The files and their layout are those the openml package (0.15) reads from its cache
before it would call the server: ``tasks/ID/task.xml`` and ``tasks/ID/datasplits.arff``,
``datasets/ID/description.xml``, ``datasets/ID/features.xml`` and
``datasets/ID/dataset.arff``, under ``openml.config.get_cache_directory()``.

Two tasks: a classification one (iris with a nominal feature) and a regression one
(scikit-learn's diabetes with a nominal feature), each with 3 official folds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import KFold, StratifiedKFold

TASK_ID = 990001
DATASET_ID = 990002
REGRESSION_TASK_ID = 990003
REGRESSION_DATASET_ID = 990004
N_FOLDS = 3


def iris_with_a_nominal_feature() -> tuple[pd.DataFrame, pd.Series]:
    """Iris (150 rows) with string labels and one nominal feature."""
    data = load_iris(as_frame=True)
    X = data.data.copy()
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    X["size"] = np.where(X["sepal_length"] > 5.8, "large", "small")
    y = pd.Series(np.asarray(data.target_names)[data.target], name="species")
    return X, y


def diabetes_with_a_nominal_feature() -> tuple[pd.DataFrame, pd.Series]:
    """Diabetes (442 rows, 4 numeric features) with one nominal feature; the target
    is the disease progression, a float."""
    data = load_diabetes(as_frame=True)
    X = data.data[["age", "bmi", "bp", "s5"]].copy()
    X["band"] = np.where(X["bmi"] > 0, "high", "low")
    y = pd.Series(data.target.to_numpy(dtype=float), name="progression")
    return X, y


def _arff(relation: str, columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
    lines = [f"@RELATION {relation}", ""]
    lines += [f"@ATTRIBUTE {name} {kind}" for name, kind in columns]
    lines += ["", "@DATA"]
    lines += [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


def _write_task(
    root: Path,
    *,
    task_id: int,
    dataset_id: int,
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    nominal: dict[str, list[str]],
    task_type: tuple[int, str],
    splits: list,
) -> None:
    """Write one task, its dataset and its official splits into the cache at root."""
    import openml

    openml.config.set_root_cache_directory(str(root))
    cache = Path(openml.config.get_cache_directory())
    task_dir = cache / "tasks" / str(task_id)
    data_dir = cache / "datasets" / str(dataset_id)
    task_dir.mkdir(parents=True)
    data_dir.mkdir(parents=True)

    frame = X.assign(**{str(y.name): y})
    columns = [
        (c, "{" + ",".join(nominal[c]) + "}" if c in nominal else "NUMERIC")
        for c in frame.columns
    ]
    rows = [
        [
            v if c in nominal else repr(float(v))
            for c, v in zip(frame.columns, row, strict=True)
        ]
        for row in frame.itertuples(index=False)
    ]
    (data_dir / "dataset.arff").write_text(_arff(name, columns, rows))

    features = []
    for index, (column, kind) in enumerate(columns):
        values = ""
        if kind.startswith("{"):
            tag = "oml:nominal_value"
            values = "".join(f"<{tag}>{v}</{tag}>" for v in nominal[column])
        features.append(
            f"<oml:feature><oml:index>{index}</oml:index><oml:name>{column}"
            f"</oml:name><oml:data_type>{'nominal' if values else 'numeric'}"
            f"</oml:data_type>{values}<oml:is_target>"
            f"{'true' if column == y.name else 'false'}</oml:is_target>"
            "<oml:is_ignore>false</oml:is_ignore>"
            "<oml:is_row_identifier>false</oml:is_row_identifier>"
            "<oml:number_of_missing_values>0</oml:number_of_missing_values>"
            "</oml:feature>"
        )
    (data_dir / "features.xml").write_text(
        '<oml:data_features xmlns:oml="http://openml.org/openml">'
        + "".join(features)
        + "</oml:data_features>"
    )
    (data_dir / "description.xml").write_text(
        f"""<oml:data_set_description xmlns:oml="http://openml.org/openml">
  <oml:id>{dataset_id}</oml:id>
  <oml:name>{name}</oml:name>
  <oml:version>1</oml:version>
  <oml:description>{name} (autoens test)</oml:description>
  <oml:format>ARFF</oml:format>
  <oml:upload_date>2024-01-01T00:00:00</oml:upload_date>
  <oml:licence>Public</oml:licence>
  <oml:url>https://example.invalid/data/v1/download/{dataset_id}</oml:url>
  <oml:default_target_attribute>{y.name}</oml:default_target_attribute>
  <oml:visibility>public</oml:visibility>
  <oml:status>active</oml:status>
</oml:data_set_description>
"""
    )

    split_rows = []
    for fold, (train, test) in enumerate(splits):
        split_rows += [["TRAIN", str(i), "0", str(fold)] for i in train]
        split_rows += [["TEST", str(i), "0", str(fold)] for i in test]
    split_columns = [
        ("type", "{TRAIN,TEST}"),
        ("rowid", "INTEGER"),
        ("repeat", "INTEGER"),
        ("fold", "INTEGER"),
    ]
    (task_dir / "datasplits.arff").write_text(
        _arff(f"task_{task_id}_splits", split_columns, split_rows)
    )
    type_id, type_name = task_type
    stratified = "true" if type_id == 1 else "false"
    measure = "predictive_accuracy" if type_id == 1 else "root_mean_squared_error"
    (task_dir / "task.xml").write_text(
        f"""<oml:task xmlns:oml="http://openml.org/openml">
  <oml:task_id>{task_id}</oml:task_id>
  <oml:task_name>Task {task_id}: {name}</oml:task_name>
  <oml:task_type_id>{type_id}</oml:task_type_id>
  <oml:task_type>{type_name}</oml:task_type>
  <oml:input name="source_data">
    <oml:data_set>
      <oml:data_set_id>{dataset_id}</oml:data_set_id>
      <oml:target_feature>{y.name}</oml:target_feature>
    </oml:data_set>
  </oml:input>
  <oml:input name="estimation_procedure">
    <oml:estimation_procedure>
      <oml:id>1</oml:id>
      <oml:type>crossvalidation</oml:type>
      <oml:data_splits_url>https://example.invalid/api_splits/get/{task_id}/Task_{task_id}_splits.arff</oml:data_splits_url>
      <oml:parameter name="number_repeats">1</oml:parameter>
      <oml:parameter name="number_folds">{N_FOLDS}</oml:parameter>
      <oml:parameter name="percentage"></oml:parameter>
      <oml:parameter name="stratified_sampling">{stratified}</oml:parameter>
    </oml:estimation_procedure>
  </oml:input>
  <oml:input name="evaluation_measures">
    <oml:evaluation_measures>
      <oml:evaluation_measure>{measure}</oml:evaluation_measure>
    </oml:evaluation_measures>
  </oml:input>
</oml:task>
"""
    )


def build_openml_cache(root: Path) -> tuple[pd.DataFrame, pd.Series, list]:
    """Write task TASK_ID (iris, 3 official folds) into the OpenML cache at ``root``.

    Returns ``(X, y, splits)`` with the official ``(train, test)`` index pairs.
    """
    X, y = iris_with_a_nominal_feature()
    splits = list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=7).split(X, y))
    _write_task(
        root,
        task_id=TASK_ID,
        dataset_id=DATASET_ID,
        name="iris-nominal",
        X=X,
        y=y,
        nominal={"size": ["large", "small"], "species": sorted(set(y))},
        task_type=(1, "Supervised Classification"),
        splits=splits,
    )
    return X, y, splits


def build_openml_regression_cache(root: Path) -> tuple[pd.DataFrame, pd.Series, list]:
    """Write task REGRESSION_TASK_ID (diabetes, 3 official folds) into the OpenML
    cache at ``root``; returns ``(X, y, splits)``."""
    X, y = diabetes_with_a_nominal_feature()
    splits = list(KFold(N_FOLDS, shuffle=True, random_state=7).split(X))
    _write_task(
        root,
        task_id=REGRESSION_TASK_ID,
        dataset_id=REGRESSION_DATASET_ID,
        name="diabetes-nominal",
        X=X,
        y=y,
        nominal={"band": ["high", "low"]},
        task_type=(2, "Supervised Regression"),
        splits=splits,
    )
    return X, y, splits
