"""Re-running selectors on a finished search (autoens.select, autoens reselect)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoens import AutoEnsembleClassifier, select
from autoens.cli import main
from autoens.metrics import get_metric
from autoens.selectors import selector_names
from autoens.testing import FAST_FIT as FAST


@pytest.fixture(scope="module")
def fitted(binary_data):
    X, y = binary_data
    model = AutoEnsembleClassifier(**{**FAST, "n_trials": 5}, keep_models="all")
    return model.fit(X, y)


def test_select_builds_a_new_ensemble_without_touching_the_model(fitted, binary_data):
    X, _ = binary_data
    before = fitted.predict_proba(X)
    weights_before = fitted.weights_.copy()
    single = select(fitted, "single_best")
    assert single is not fitted
    assert single.weights_.max() == 1.0
    assert single.weights_.idxmax() == fitted.best_trial_
    np.testing.assert_allclose(
        single.predict_proba(X),
        fitted.predict_proba_member(X, fitted.best_trial_),
        rtol=1e-6,
    )
    assert single.leaderboard_.set_index("trial")["weight"].max() == 1.0
    np.testing.assert_array_equal(fitted.predict_proba(X), before)
    pd.testing.assert_series_equal(fitted.weights_, weights_before)


def test_select_same_selector_reproduces_fit(fitted, binary_data):
    X, _ = binary_data
    again = select(fitted, "ges")
    pd.testing.assert_series_equal(again.weights_, fitted.weights_)
    np.testing.assert_allclose(again.predict_proba(X), fitted.predict_proba(X))


def test_select_with_another_metric(fitted):
    logloss = select(fitted, "ges", metric="log_loss")
    assert logloss.selector_.metric_.name == "log_loss"
    assert np.isclose(logloss.weights_.sum(), 1.0)


def test_select_needs_the_members_fold_models(binary_data, tmp_path):
    X, y = binary_data
    small = AutoEnsembleClassifier(
        **{**FAST, "n_trials": 4}, selector="single_best"
    ).fit(X, y)
    with pytest.raises(ValueError, match="keep_models='all' or with a cache_dir"):
        select(small, "ges", metric="log_loss").predict_proba(X)
    cached = AutoEnsembleClassifier(
        **{**FAST, "n_trials": 4}, selector="single_best", cache_dir=tmp_path
    ).fit(X, y)
    replayed = select(cached, "ges", metric="log_loss")
    assert np.isfinite(replayed.predict_proba(X)).all()


def test_cli_reselect(tmp_path, binary_data, capsys):
    X, y = binary_data
    train = tmp_path / "train.csv"
    X.assign(target=y).to_csv(train, index=False)
    model = tmp_path / "model.skops"
    args = [
        "fit",
        str(train),
        "--target",
        "target",
        "--n-trials",
        "3",
        "--cv",
        "2",
        "--seed",
        "0",
        "--keep-models",
        "all",
        "--out",
        str(model),
    ]
    assert main(args) == 0
    out = tmp_path / "single.skops"
    assert (
        main(["reselect", str(model), "--selector", "single_best", "--out", str(out)])
        == 0
    )
    assert out.exists()
    assert "1.000" in capsys.readouterr().out
    # the written model is the reselected one: its single member is the best trial,
    # and it predicts exactly as that member does
    from autoens import load

    original = load(model)
    single = load(out)
    assert single.target_column_ == "target"  # carried over from the fit
    assert type(single.selector_).__name__ == "SingleBest"
    assert single.weights_[single.weights_ > 0].index.tolist() == [original.best_trial_]
    np.testing.assert_allclose(
        single.predict_proba(X),
        original.predict_proba_member(X, original.best_trial_),
        atol=1e-6,
    )
    assert type(original.selector_).__name__ == "GreedyEnsembleSelection"
    assert main(["reselect", str(model), "--selector", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    # the oracle needs the labels of the rows it predicts: refused, nothing written
    oracle = tmp_path / "oracle.skops"
    argv = ["reselect", str(model), "--selector", "oracle", "--out", str(oracle)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("autoens reselect: error: selector 'oracle' cannot predict")
    assert len(err.strip().splitlines()) == 1 and not oracle.exists()


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in selector_names("classification")
        if n not in ("oracle", "greedy", "single-best")
    ],
)
def test_every_selector_predicts_through_the_estimator(fitted, binary_data, name):
    """Replay each registered selector; its ensemble predicts exactly its combine()."""
    X, _ = binary_data
    model = select(fitted, name, metric="log_loss")
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    lib = model.library_
    frame = model.schema_.transform(X)
    P = lib.predict(frame, list(range(len(lib))))
    # Dynamic selectors find neighbours in the competence space the estimator keeps.
    Z = model.competence_.transform(frame) if model.selector_.is_dynamic else None
    expected = model.selector_.combine(P, X=Z).astype(np.float64)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, expected, atol=1e-5)


def test_multiclass_replay_with_a_stacker(multiclass_data):
    X, y = multiclass_data
    model = AutoEnsembleClassifier(**FAST, keep_models="all").fit(X, y)
    stacked = select(model, "stacking", metric="log_loss")
    assert stacked.predict_proba(X).shape == (len(X), 3)
    assert stacked.score(X, y) > 0.9


def test_oracle_is_a_bound_not_a_predictor(fitted, binary_data):
    """In Python ``select`` keeps the oracle (its out-of-fold loss is the bound a
    benchmark reports) and says ``can_predict`` is False; predicting raises."""
    X, _ = binary_data
    oracle = select(fitted, "oracle", metric="log_loss")
    assert not oracle.selector_.can_predict and fitted.selector_.can_predict
    lib = fitted.library_
    member_losses = get_metric("log_loss").loss(lib.y, lib.oof)
    assert oracle.validation_loss_ <= member_losses.min()
    with pytest.raises(ValueError, match=r"[Oo]racle"):
        oracle.predict_proba(X)
