"""Build an OpenML cache directory by hand, so OpenML tasks load without network.

The files and their layout are those the openml package (0.15) reads from its cache
before it would call the server: ``tasks/ID/task.xml`` and ``tasks/ID/datasplits.arff``,
``datasets/ID/description.xml``, ``datasets/ID/features.xml`` and
``datasets/ID/dataset.arff``, under ``openml.config.get_cache_directory()``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.model_selection import StratifiedKFold

TASK_ID = 990001
DATASET_ID = 990002
N_FOLDS = 3


def iris_with_a_nominal_feature() -> tuple[pd.DataFrame, pd.Series]:
    """Iris (150 rows) with string labels and one nominal feature."""
    data = load_iris(as_frame=True)
    X = data.data.copy()
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    X["size"] = np.where(X["sepal_length"] > 5.8, "large", "small")
    y = pd.Series(np.asarray(data.target_names)[data.target], name="species")
    return X, y


def _arff(relation: str, columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
    lines = [f"@RELATION {relation}", ""]
    lines += [f"@ATTRIBUTE {name} {kind}" for name, kind in columns]
    lines += ["", "@DATA"]
    lines += [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


def build_openml_cache(root: Path) -> tuple[pd.DataFrame, pd.Series, list]:
    """Write task TASK_ID (iris, 3 official folds) into the OpenML cache at ``root``.

    Returns ``(X, y, splits)`` with the official ``(train, test)`` index pairs.
    """
    import openml

    openml.config.set_root_cache_directory(str(root))
    cache = Path(openml.config.get_cache_directory())
    task_dir = cache / "tasks" / str(TASK_ID)
    data_dir = cache / "datasets" / str(DATASET_ID)
    task_dir.mkdir(parents=True)
    data_dir.mkdir(parents=True)

    X, y = iris_with_a_nominal_feature()
    classes = sorted(set(y))
    columns = [(c, "NUMERIC") for c in X.columns[:4]]
    columns += [("size", "{large,small}"), ("species", "{" + ",".join(classes) + "}")]
    rows = [
        [*(repr(float(v)) for v in X.iloc[i, :4]), X.iloc[i, 4], y.iloc[i]]
        for i in range(len(X))
    ]
    (data_dir / "dataset.arff").write_text(_arff("iris-nominal", columns, rows))

    features = []
    for index, (name, kind) in enumerate(columns):
        nominal = ""
        if kind.startswith("{"):
            values = kind.strip("{}").split(",")
            tag = "oml:nominal_value"
            nominal = "".join(f"<{tag}>{v}</{tag}>" for v in values)
        features.append(
            f"<oml:feature><oml:index>{index}</oml:index><oml:name>{name}</oml:name>"
            f"<oml:data_type>{'nominal' if nominal else 'numeric'}</oml:data_type>"
            f"{nominal}<oml:is_target>{'true' if name == 'species' else 'false'}"
            "</oml:is_target><oml:is_ignore>false</oml:is_ignore>"
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
  <oml:id>{DATASET_ID}</oml:id>
  <oml:name>iris-nominal</oml:name>
  <oml:version>1</oml:version>
  <oml:description>Iris with a nominal feature (autoens test)</oml:description>
  <oml:format>ARFF</oml:format>
  <oml:upload_date>2024-01-01T00:00:00</oml:upload_date>
  <oml:licence>Public</oml:licence>
  <oml:url>https://example.invalid/data/v1/download/{DATASET_ID}</oml:url>
  <oml:default_target_attribute>species</oml:default_target_attribute>
  <oml:visibility>public</oml:visibility>
  <oml:status>active</oml:status>
</oml:data_set_description>
"""
    )

    splits = list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=7).split(X, y))
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
        _arff(f"task_{TASK_ID}_splits", split_columns, split_rows)
    )
    (task_dir / "task.xml").write_text(
        f"""<oml:task xmlns:oml="http://openml.org/openml">
  <oml:task_id>{TASK_ID}</oml:task_id>
  <oml:task_name>Task {TASK_ID}: iris-nominal</oml:task_name>
  <oml:task_type_id>1</oml:task_type_id>
  <oml:task_type>Supervised Classification</oml:task_type>
  <oml:input name="source_data">
    <oml:data_set>
      <oml:data_set_id>{DATASET_ID}</oml:data_set_id>
      <oml:target_feature>species</oml:target_feature>
    </oml:data_set>
  </oml:input>
  <oml:input name="estimation_procedure">
    <oml:estimation_procedure>
      <oml:id>1</oml:id>
      <oml:type>crossvalidation</oml:type>
      <oml:data_splits_url>https://example.invalid/api_splits/get/{TASK_ID}/Task_{TASK_ID}_splits.arff</oml:data_splits_url>
      <oml:parameter name="number_repeats">1</oml:parameter>
      <oml:parameter name="number_folds">{N_FOLDS}</oml:parameter>
      <oml:parameter name="percentage"></oml:parameter>
      <oml:parameter name="stratified_sampling">true</oml:parameter>
    </oml:estimation_procedure>
  </oml:input>
  <oml:input name="evaluation_measures">
    <oml:evaluation_measures>
      <oml:evaluation_measure>predictive_accuracy</oml:evaluation_measure>
    </oml:evaluation_measures>
  </oml:input>
</oml:task>
"""
    )
    return X, y, splits
