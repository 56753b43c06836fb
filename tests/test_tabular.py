import numpy as np
import pandas as pd
import pytest

from autoens.datasets import load_keel
from autoens.tabular import TableSchema
from autoens.task import ClassificationTask, encode_labels


def test_schema_kinds_and_conversion(mixed_data):
    X, _ = mixed_data
    schema, frame = TableSchema.learn(X)
    types = schema.feature_types
    assert set(types.categorical) == {"size", "smooth"}
    kinds = schema.report().set_index("column")["kind"]
    assert kinds["smooth"] == "boolean" and kinds["size"] == "categorical"
    assert "mean radius" in types.numeric
    assert frame["size"].dtype == object
    assert frame["smooth"].dropna().map(type).eq(str).all()
    assert frame["mean radius"].dtype == np.float64
    assert frame["mean radius"].isna().sum() == 30
    assert frame["size"].isna().sum() == 20


def test_numpy_object_array_of_numbers_is_numeric():
    X = np.arange(12, dtype=float).reshape(4, 3).astype(object)
    schema, frame = TableSchema.learn(X)
    assert schema.feature_types.categorical == ()
    assert list(frame.columns) == ["x0", "x1", "x2"]


def test_transform_names_missing_and_ignores_unexpected_columns(mixed_data):
    X, _ = mixed_data
    schema, frame = TableSchema.learn(X)
    with pytest.raises(ValueError, match="do not match the model: missing 'size'"):
        schema.transform(X.drop(columns="size"))
    with pytest.warns(UserWarning, match="not fit on: 'extra'; they are ignored"):
        out = schema.transform(X.assign(extra=1.0))
    pd.testing.assert_frame_equal(out, frame)


def test_transform_reorders_by_name_and_warns_on_unseen_category(mixed_data):
    X, _ = mixed_data
    schema, frame = TableSchema.learn(X)
    shuffled = X[X.columns[::-1]].copy()
    pd.testing.assert_frame_equal(schema.transform(shuffled), frame)
    new = X.head(3).copy()
    new.loc[0, "size"] = "gigantic"
    with pytest.warns(UserWarning, match="not seen during fit.*gigantic"):
        schema.transform(new)


def test_inf_is_rejected_with_column_name():
    X = pd.DataFrame({"a": [1.0, np.inf, 2.0], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="infinity in column 'a'"):
        TableSchema.learn(X)


def test_empty_inputs_are_rejected():
    with pytest.raises(ValueError, match="0 sample"):
        TableSchema.learn(pd.DataFrame({"a": []}))
    with pytest.raises(ValueError, match="0 feature"):
        TableSchema.learn(np.empty((5, 0)))


def test_encode_labels_decodes_strings_and_rejects_one_class():
    classes, y = encode_labels(["b", "a", "b", "c"])
    assert list(classes) == ["a", "b", "c"]
    assert list(y) == [1, 0, 1, 2]
    with pytest.raises(ValueError, match="only one class"):
        encode_labels(["a", "a", "a"])
    with pytest.raises(ValueError, match="contains NaN"):
        encode_labels(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="Unknown label type"):
        encode_labels(np.linspace(0, 1, 10))


def test_folds_are_stratified_seeded_and_fingerprinted(binary_data):
    X, y = binary_data
    task, y_enc = ClassificationTask.from_target(y)
    _, frame = TableSchema.learn(X)
    a = task.make_folds(frame, y_enc, n_splits=5, random_state=1)
    b = task.make_folds(frame, y_enc, n_splits=5, random_state=1)
    c = task.make_folds(frame, y_enc, n_splits=5, random_state=2)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    test_rows = np.concatenate([te for _, te in a.splits])
    assert sorted(test_rows) == list(range(len(y_enc)))
    for tr, te in a.splits:
        assert set(tr).isdisjoint(te)
        assert abs(y_enc[te].mean() - y_enc.mean()) < 0.05
    changed = frame.copy()
    changed.iloc[0, 0] += 1.0
    assert task.make_folds(changed, y_enc, n_splits=5, random_state=1).fingerprint != (
        a.fingerprint
    )


def test_rare_and_single_sample_classes_keep_k(caplog):
    X = pd.DataFrame({"a": np.arange(10.0)})
    task = ClassificationTask(classes=np.array([0, 1]))
    folds = task.make_folds(X, np.array([0] * 7 + [1] * 3), n_splits=5, random_state=0)
    assert folds.n_splits == 5
    y = np.array([0] * 9 + [1])
    folds = task.make_folds(X, y, n_splits=5, random_state=0)
    assert folds.n_splits == 5
    assert "single sample" in caplog.text


def test_category_columns_convert_in_one_block_as_one_by_one():
    """The block conversion (fast on single rows) gives exactly the per-column one."""
    from autoens.tabular import _as_category_block, _as_category_strings

    X, _ = load_keel("crx")
    rng = np.random.default_rng(0)
    X = X.copy()
    for column in X.columns:
        X.loc[rng.random(len(X)) < 0.1, column] = np.nan
    X["flag"] = rng.random(len(X)) < 0.5
    X["level"] = pd.array(rng.integers(0, 3, len(X)), dtype="Int64")
    X.loc[::7, "level"] = pd.NA
    X["kind"] = pd.Categorical(rng.choice(["x", "y"], len(X)))
    block = _as_category_block(X)
    for column in X.columns:
        expected = _as_category_strings(X[column]).rename(column)
        pd.testing.assert_series_equal(block[column], expected)
