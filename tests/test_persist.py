"""autoens.save / autoens.load: one .skops file, checked before it is built.

Real fits on bundled data; the tampered files are real attacks (a node that calls
``os.system``, a pickle whose ``__reduce__`` opens a file), and each test first shows
that the attack works when the file is trusted, so the refusal is what stops it.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import sys
import warnings
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

import autoens
from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor, select
from autoens.datasets import load_keel, load_sklearn
from autoens.persist import (
    FORMAT_VERSION,
    LegacyModelWarning,
    ModelFileError,
    UntrustedModelError,
)


@pytest.fixture(scope="module")
def crx():
    return load_keel("crx")


@pytest.fixture(scope="module")
def classifier(crx):
    """crx (mixed columns): sklearn trees, HistGB with categories, LightGBM, XGBoost;
    every fold model kept, so the library holds more than the ensemble."""
    X, y = crx
    learners = ["logreg", "hist_gb", "extra_trees", "lightgbm", "xgboost"]
    model = AutoEnsembleClassifier(
        n_trials=5, cv=2, learners=learners, random_state=0, keep_models="all"
    )
    return model.fit(X, y)


@pytest.fixture(scope="module")
def regressor():
    X, y = load_sklearn("diabetes")
    model = AutoEnsembleRegressor(
        n_trials=3, cv=2, learners=["ridge", "hist_gb"], random_state=0
    )
    return model.fit(X, y)


def _frames(model):
    return {
        k: v for k, v in vars(model).items() if isinstance(v, pd.DataFrame | pd.Series)
    }


def _assert_same_frames(model, loaded):
    frames = _frames(model)
    assert {"leaderboard_", "weights_", "feature_report_"} <= frames.keys()
    assert frames.keys() == _frames(loaded).keys()
    for name, frame in frames.items():
        if isinstance(frame, pd.DataFrame):
            pd.testing.assert_frame_equal(getattr(loaded, name), frame)
        else:
            pd.testing.assert_series_equal(getattr(loaded, name), frame)


# -- round trips ---------------------------------------------------------------------


def test_classifier_round_trip(classifier, crx, tmp_path):
    X, _ = crx
    members = dict(classifier.ensemble_.members)
    board = classifier.leaderboard_
    out = autoens.save(classifier, tmp_path / "crx.skops")
    assert out == tmp_path / "crx.skops" and zipfile.is_zipfile(out)
    # the model saved is not changed
    assert classifier.leaderboard_ is board and "_autoens_persist" not in vars(
        classifier
    )
    assert all(classifier.ensemble_.members[k] is v for k, v in members.items())

    loaded = autoens.load(out)
    assert type(loaded) is AutoEnsembleClassifier
    np.testing.assert_array_equal(loaded.predict_proba(X), classifier.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), classifier.predict(X))
    _assert_same_frames(classifier, loaded)
    assert loaded._autoens_version == autoens.__version__
    assert not hasattr(loaded, "_autoens_persist")
    # shared fold models are written once and shared again after loading
    assert loaded.library_.models.keys() >= loaded.ensemble_.members.keys()
    for key, models in loaded.ensemble_.members.items():
        assert models is loaded.library_.models[key]
    assert loaded.ensemble_.selector is loaded.selector_
    # a replay on the loaded model uses members the ensemble did not
    other = select(loaded, "single_best")
    assert np.isfinite(other.predict_proba(X)).all()


def test_skops_writes_each_array_once_and_checks_names_in_constant_time(
    classifier, tmp_path
):
    """skops asks ``name not in zip_file.namelist()`` before each array; save opens
    the archive with a name view instead of a fresh list (quadratic in the arrays),
    and puts skops back as it was."""
    import skops.io._persist as skops_persist

    from autoens.persist import _ConstantTimeNamesZipFile, _NameView

    seen = []

    class Spy(_ConstantTimeNamesZipFile):
        def namelist(self):
            view = super().namelist()
            seen.append(type(view))
            return view

    original = skops_persist.ZipFile
    out = tmp_path / "crx.skops"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("autoens.persist._ConstantTimeNamesZipFile", Spy)
        autoens.save(classifier, out)
    assert seen and set(seen) == {_NameView}  # every check went through the view
    assert skops_persist.ZipFile is original is zipfile.ZipFile
    names = zipfile.ZipFile(out).namelist()
    assert len(names) == len(set(names))  # nothing written twice
    with zipfile.ZipFile(out) as archive:
        view = _NameView(archive)
        assert len(view) == len(names) and list(view) == names
        assert names[0] in view and "missing.npy" not in view and view[0] == names[0]


def test_regressor_round_trip(regressor, tmp_path):
    X, _ = load_sklearn("diabetes")
    loaded = autoens.load(autoens.save(regressor, tmp_path / "diabetes.skops"))
    assert type(loaded) is AutoEnsembleRegressor
    np.testing.assert_array_equal(loaded.predict(X), regressor.predict(X))
    np.testing.assert_array_equal(
        loaded.predict_interval(X, alpha=0.1), regressor.predict_interval(X, alpha=0.1)
    )
    _assert_same_frames(regressor, loaded)


def test_auto_selector_round_trip(classifier, crx, tmp_path):
    X, _ = crx
    auto = select(classifier, "auto")
    assert isinstance(auto.selector_leaderboard_, pd.DataFrame)
    loaded = autoens.load(autoens.save(auto, tmp_path / "auto.skops"))
    _assert_same_frames(auto, loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), auto.predict_proba(X))


def test_any_frame_attribute_round_trips_exactly(classifier, tmp_path):
    """Frames other code adds (``pareto_``, ...) with every kind of column and index."""
    model = copy.copy(classifier)
    before = getattr(classifier, "pareto_", None)
    n = 4
    model.pareto_ = pd.DataFrame(
        {
            "f32": np.arange(n, dtype=np.float32),
            "when": pd.date_range("2024-01-01", periods=n),
            "cat": pd.Categorical(["b", "a", None, "b"], categories=["b", "a"]),
            "ordered": pd.Categorical([1, 2, 1, 2], ordered=True),
            "Int64": pd.array([1, None, 3, 4], dtype="Int64"),
            "boolean": pd.array([True, None, False, True], dtype="boolean"),
            "text": pd.array(["x", None, "z", "w"], dtype="string"),
            "params": [{"C": 1.0, "k": [1, 2]}, {}, None, {"s": "a", "n": np.nan}],
            "lists": [[1, 2], [3, 4], [5, 6], [7, 8]],  # must not become 2-d
        },
        index=pd.MultiIndex.from_arrays([[0, 0, 1, 1], ["p", "q", "p", "q"]]),
    )
    model.pareto_.columns.name = "what"
    model.calibration_report_ = pd.DataFrame(
        {1: [0.5, 0.25]}, index=pd.Index(["none", "t"], name="method")
    )
    model.scores_ = pd.Series([1, 2, 3], index=[10, 20, 30], name=7, dtype=np.int16)
    model.empty_ = pd.DataFrame()
    loaded = autoens.load(autoens.save(model, tmp_path / "frames.skops"))
    _assert_same_frames(model, loaded)
    assert loaded.pareto_["params"].iloc[0] == {"C": 1.0, "k": [1, 2]}
    assert loaded.pareto_["lists"].iloc[1] == [3, 4]
    assert getattr(classifier, "pareto_", None) is before  # the copy got it


def test_save_checks_its_input(classifier, tmp_path):
    with pytest.raises(TypeError, match="LogisticRegression"):
        autoens.save(LogisticRegression(), tmp_path / "lr.skops")
    with pytest.raises(NotFittedError):
        autoens.save(AutoEnsembleClassifier(), tmp_path / "unfitted.skops")
    with pytest.raises(IsADirectoryError, match=r"model\.skops"):
        autoens.save(classifier, tmp_path)


def test_write_is_atomic(classifier, tmp_path):
    """A save that fails leaves the previous file as it was, and no temporary file."""
    path = autoens.save(classifier, tmp_path / "model.skops")
    before = path.read_bytes()
    broken = copy.copy(classifier)
    broken.unsaveable_ = _Unsaveable()
    with pytest.raises(RuntimeError, match="cannot be saved"):
        autoens.save(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skops"]


# -- refusals ------------------------------------------------------------------------


def _edit_schema(path, edit):
    """Rewrite ``schema.json`` of a skops file through ``edit(schema)``."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    edit(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _call_node(module, name, *args):
    """A skops node that calls ``module.name(*args)`` while the file is loaded."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [
                {
                    "__class__": "str",
                    "__module__": "builtins",
                    "__loader__": "JsonNode",
                    "content": json.dumps(a),
                    "is_json": True,
                }
                for a in args
            ],
        },
    }


def test_a_tampered_skops_file_is_refused_before_its_code_runs(classifier, tmp_path):
    path = autoens.save(classifier, tmp_path / "model.skops")
    marker = tmp_path / "pwned"
    command = f"{sys.executable} -c \"open({str(marker)!r}, 'w')\""
    _edit_schema(
        path,
        lambda s: s["content"]["content"].update(
            verbose=_call_node("os", "system", command)
        ),
    )
    with pytest.raises(UntrustedModelError, match=r"was not loaded.*os\.system"):
        autoens.load(path)
    assert not marker.exists()
    # the attack is real: told to trust it, skops runs the command
    sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert marker.exists()


def test_functions_are_trusted_from_autoens_only(classifier, tmp_path):
    """A transformer whose function is ``os.system`` (or a NumPy function, which can
    write files) is refused, naming it; the file's own autoens functions pass."""
    for func, name in [(os.system, "system"), (np.save, r"numpy\.save")]:
        model = copy.copy(classifier)
        model.injected_ = FunctionTransformer(func=func)
        path = autoens.save(model, tmp_path / "injected.skops")
        with pytest.raises(UntrustedModelError, match=name):
            autoens.load(path)


def test_modules_outside_the_allow_list_are_never_imported(classifier, tmp_path):
    module = "autoens_persist_test_evil"
    (tmp_path / f"{module}.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w')\nclass Payload: pass\n"
    )
    path = autoens.save(classifier, tmp_path / "model.skops")
    node = {"__class__": "Payload", "__module__": module, "__loader__": "ObjectNode"}
    _edit_schema(path, lambda s: s["content"]["content"].update(verbose=node))
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(UntrustedModelError, match=f"{module}.Payload"):
            autoens.load(path)
    finally:
        sys.path.remove(str(tmp_path))
    assert module not in sys.modules and not (tmp_path / "imported").exists()


class _Unsaveable:
    def __reduce__(self):
        raise RuntimeError("this object cannot be saved")


class _Evil:
    """Unpickling this creates the folder ``path``: a stand-in for any code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize(
    "payload",
    [
        lambda evil: evil,  # joblib.dump(anything)
        lambda evil: {"format_version": 1, "target": "y", "estimator": evil},
        lambda evil: {"a": np.array([evil, 1], dtype=object)},  # nested pickle
    ],
    ids=["plain", "cli-bundle", "object-array"],
)
def test_a_malicious_pickle_is_refused_before_its_code_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.joblib"
    joblib.dump(payload(_Evil(marker)), path, compress=3)
    with pytest.raises(UntrustedModelError, match=r"was not loaded.*posix\.mkdir"):
        autoens.load(path)
    assert not marker.exists()
    joblib.load(path)  # the attack is real: joblib runs it
    assert marker.exists()


def test_not_a_model(tmp_path):
    cases = {
        "bytes.skops": (b"not a model", "cannot read model file"),
        "dict.joblib": (None, "is not an autoens model"),
        "sklearn.skops": (None, "a skops file, but not an autoens model"),
    }
    (tmp_path / "bytes.skops").write_bytes(cases["bytes.skops"][0])
    joblib.dump({"weights": [1, 2]}, tmp_path / "dict.joblib")
    sio.dump(LogisticRegression(), tmp_path / "sklearn.skops")
    for name, (_, message) in cases.items():
        with pytest.raises(ModelFileError, match=message):
            autoens.load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        autoens.load(tmp_path / "missing.skops")


def test_a_newer_format_says_upgrade(classifier, tmp_path):
    path = autoens.save(classifier, tmp_path / "model.skops")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(members["autoens.json"])
    assert meta["format_version"] == FORMAT_VERSION
    meta.update(format_version=FORMAT_VERSION + 1, autoens_version="9.0")
    members["autoens.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match=r"newer autoens \(9\.0.*upgrade autoens"):
        autoens.load(path)
    legacy = tmp_path / "legacy.joblib"
    joblib.dump({"format_version": 2, "target": "y", "estimator": None}, legacy)
    with pytest.raises(ModelFileError, match="upgrade autoens"):
        autoens.load(legacy)


# -- files of earlier versions -------------------------------------------------------


def test_legacy_joblib_files_load_with_a_warning(classifier, crx, tmp_path):
    X, _ = crx
    plain, bundle = tmp_path / "plain.joblib", tmp_path / "bundle.joblib"
    joblib.dump(classifier, plain)
    joblib.dump(
        {
            "format_version": 1,
            "autoens_version": "0.1.0",
            "target": "class",
            "estimator": classifier,
        },
        bundle,
        compress=3,
    )
    expected = classifier.predict_proba(X)
    for path in (plain, bundle):
        with pytest.warns(LegacyModelWarning, match=r"can run any code.*autoens\.save"):
            loaded = autoens.load(path)
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)
        _assert_same_frames(classifier, loaded)
    assert loaded.target_column_ == "class" and loaded._autoens_version == "0.1.0"
    # re-saved as .skops, it loads without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = autoens.load(autoens.save(loaded, tmp_path / "again.skops"))
    assert again.target_column_ == "class"
    np.testing.assert_array_equal(again.predict_proba(X), expected)


def test_save_and_load_are_lazy_public_names():
    assert {"save", "load"} <= set(autoens.__all__)
    code = "import autoens, sys; print('skops' in sys.modules, 'pandas' in sys.modules)"
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]
    assert pickle.loads(pickle.dumps(autoens.load)) is autoens.load
