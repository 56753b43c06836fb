"""Dynamic selectors and selector="auto" through AutoEnsembleClassifier, replay, CLI."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pandas as pd
import pytest

from autoens import AutoEnsembleClassifier, select
from autoens.cli import main
from autoens.ensemble import CompetenceSpace, FittedEnsemble
from autoens.selectors import KNORAE, KNORAU, AutoSelector
from autoens.tabular import TableSchema
from autoens.testing import FAST_FIT as FAST


@pytest.fixture(scope="module")
def knora(mixed_data):
    """A dynamic ensemble on mixed-type data (categoricals, missing values)."""
    X, y = mixed_data
    return AutoEnsembleClassifier(**FAST, selector="knora-e").fit(X, y)


@pytest.fixture(scope="module")
def ges_all(mixed_data):
    """A GES ensemble that kept every member's fold models (for replay)."""
    X, y = mixed_data
    return AutoEnsembleClassifier(**FAST, keep_models="all").fit(X, y)


def _all_member_proba(model, X):
    lib = model.library_
    return lib.predict(model.schema_.transform(X), list(range(len(lib))))


def test_competence_space_on_mixed_types(mixed_data):
    X, _ = mixed_data
    schema, frame = TableSchema.learn(X)
    space = CompetenceSpace.learn(frame, schema.feature_types)
    Z = space.X_train
    assert Z.dtype == np.float32 and Z.shape[0] == len(X)
    assert np.isfinite(Z).all()  # missing values imputed
    # 6 numerics + 1 missing indicator, standardised; one-hot of size and smooth.
    assert space.n_features == 6 + 1 + 5 + 2
    np.testing.assert_allclose(Z[:, :7].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z[:, :7].std(axis=0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(space.transform(frame), Z)
    # An unseen category is encoded (as no known level), not an error or NaN.
    new = frame.head(2).copy()
    new.loc[:, "size"] = "xxl"
    out = space.transform(new)
    assert np.isfinite(out).all() and out.shape == (2, space.n_features)


def test_dynamic_estimator_runs_every_member(knora, mixed_data):
    X, y = mixed_data
    lib = knora.library_
    assert isinstance(knora.selector_, KNORAE)
    assert knora.n_required_ == knora.ensemble_.n_required == len(lib) == 3
    assert knora.leaderboard_["required"].all()
    # keep_models="ensemble" still keeps every fold model a dynamic ensemble needs.
    assert sorted(lib.models) == list(range(len(lib)))
    assert knora.selector_leaderboard_ is None
    # The selector was fit on the competence features of the OOF rows.
    np.testing.assert_array_equal(knora.selector_.X_fit_, knora.competence_.X_train)
    proba = knora.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    expected = knora.selector_.combine(
        _all_member_proba(knora, X),
        X=knora.competence_.transform(knora.schema_.transform(X)),
    ).astype(np.float64)
    np.testing.assert_allclose(proba, expected / expected.sum(1, keepdims=True))
    assert knora.score(X, y) > 0.85


def test_unseen_categories_warn_and_predict(knora, mixed_data):
    X, _ = mixed_data
    new = X.head(5).copy()
    new["size"] = ["xxl", "s", "tiny", None, "m"]
    with pytest.warns(UserWarning, match="not seen during fit"):
        proba = knora.predict_proba(new)
    assert proba.shape == (5, 2) and np.isfinite(proba).all()


def test_joblib_round_trip(knora, mixed_data, tmp_path):
    X, _ = mixed_data
    path = tmp_path / "knora.joblib"
    joblib.dump(knora, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), knora.predict_proba(X))
    assert loaded.n_required_ == knora.n_required_


def test_auto_end_to_end(mixed_data, tmp_path):
    X, y = mixed_data
    model = AutoEnsembleClassifier(**FAST, selector="auto").fit(X, y)
    sel = model.selector_
    assert isinstance(sel, AutoSelector)
    board = model.selector_leaderboard_
    assert board is sel.selector_leaderboard_
    assert board["chosen"].sum() == 1
    assert {"ges", "knora-e", "knora-u", "stacking"} <= set(board["candidate"])
    assert (board["error"] == "").all()
    chosen = board[board["chosen"]].iloc[0]
    assert sel.chosen_name_.startswith(chosen["candidate"])
    assert model.n_required_ == len(sel.required_members_)
    if sel.is_dynamic:
        assert model.n_required_ == len(model.library_)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.isfinite(proba).all()
    assert model.score(X, y) > 0.85
    path = tmp_path / "auto.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    pd.testing.assert_frame_equal(loaded.selector_leaderboard_, board)


def test_auto_gets_what_is_left_of_a_time_limit(binary_data):
    X, y = binary_data
    auto = AutoSelector(candidates=["ges", "qp"])
    model = AutoEnsembleClassifier(
        **{**FAST, "n_trials": 2, "learners": ["logreg"]},
        selector=auto,
        time_limit=60.0,
    ).fit(X, y)
    # n_trials ended the search early: selection may use the rest of the minute.
    assert 3.0 <= model.selector_.time_limit < 60.0
    assert auto.time_limit is None  # the user's object is not changed
    # After a search that used its whole budget, the reserve (5 %, at most 10 s).
    assert AutoEnsembleClassifier(time_limit=100.0)._selection_time(99.0) == 5.0
    assert AutoEnsembleClassifier(time_limit=1e3)._selection_time(999.0) == 10.0
    assert AutoEnsembleClassifier(time_limit=100.0)._selection_time(10.0) == 90.0
    assert AutoEnsembleClassifier()._selection_time(10.0) is None


def test_replay_dynamic_and_auto(ges_all, mixed_data):
    X, _ = mixed_data
    before = ges_all.predict_proba(X)
    knora_u = select(ges_all, "knora-u")
    assert isinstance(knora_u.selector_, KNORAU)
    assert knora_u.n_required_ == len(ges_all.library_)
    assert knora_u.leaderboard_["required"].all()
    proba = knora_u.predict_proba(X)
    expected = knora_u.selector_.combine(
        _all_member_proba(ges_all, X),
        X=ges_all.competence_.transform(ges_all.schema_.transform(X)),
    ).astype(np.float64)
    np.testing.assert_allclose(proba, expected / expected.sum(1, keepdims=True))
    assert knora_u.selector_leaderboard_ is None

    auto = select(ges_all, "auto", metric="log_loss")
    assert isinstance(auto.selector_, AutoSelector)
    assert auto.selector_.time_limit is None  # replay has no budget
    assert auto.selector_leaderboard_ is not None
    assert auto.selector_.metric_.name == "log_loss"
    assert np.isfinite(auto.predict_proba(X)).all()
    # The original model is untouched.
    assert ges_all.selector_leaderboard_ is None
    assert not ges_all.selector_.is_dynamic
    np.testing.assert_array_equal(ges_all.predict_proba(X), before)


def test_replay_dynamic_needs_every_fold_model(mixed_data):
    X, y = mixed_data
    small = AutoEnsembleClassifier(**FAST, selector="single_best").fit(X, y)
    assert small.n_required_ == 1
    with pytest.raises(ValueError, match="keep_models='all' or with a cache_dir"):
        select(small, "knora-e")


def test_fitted_ensemble_requires_the_competence_space(knora):
    lib = knora.library_
    with pytest.raises(ValueError, match="CompetenceSpace"):
        FittedEnsemble(
            lib.fold_models(range(len(lib))),
            knora.selector_,
            n_models=len(lib),
            task=lib.task,
        )


def test_cli_shows_n_required(mixed_data, tmp_path, capsys):
    X, y = mixed_data
    train = tmp_path / "train.csv"
    frame = X.copy()
    frame["class"] = y.to_numpy()
    frame.to_csv(train, index=False)
    model = tmp_path / "model.joblib"
    flags = ["--n-trials", "2", "--cv", "2", "--n-jobs", "1", "--seed", "0"]
    argv = ["fit", str(train), "--target", "class", "--out", str(model), *flags]
    assert main([*argv, "--selector", "knora-u"]) == 0
    out = capsys.readouterr().out
    assert "ensemble: knora-u (dynamic, per-row); n_required=2 of 2" in out
    assert main(["leaderboard", str(model)]) == 0
    out = capsys.readouterr().out
    assert (
        "n_required=2 of 2 library members run at predict time" in out.splitlines()[0]
    )
    assert main(["leaderboard", str(model), "--csv"]) == 0
    board = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert board["required"].all()

    assert main([*argv, "--selector", "auto"]) == 0
    out = capsys.readouterr().out
    assert "ensemble: auto -> " in out
    assert "selectors tried by auto (inner CV):" in out
    assert "cv_roc_auc" in out and "knora-e" in out
    assert main(["leaderboard", str(model)]) == 0
    assert "selectors tried by auto" in capsys.readouterr().out
    # with --top 1 the chosen candidate is still listed (marked *), whatever its rank
    assert main(["leaderboard", str(model), "--top", "1"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("selectors tried by auto") :]
    chosen = [line for line in section.splitlines() if line.rstrip().endswith("*")]
    assert len(chosen) == 1
    assert "more candidates" in section
