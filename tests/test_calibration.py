"""Calibration of the ensemble's probabilities (autoens.calibration) and the ECE."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import log_loss, roc_auc_score

from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor, select
from autoens.calibration import (
    IsotonicCalibrator,
    TemperatureScaling,
    fit_calibration,
)
from autoens.datasets import load_keel
from autoens.metrics import expected_calibration_error
from autoens.testing import FAST_FIT


def _sampled(n: int, n_classes: int, sharpen: float, seed: int):
    """Labels drawn from softmax(z); predictions softmax(sharpen * z): over-confident
    for sharpen > 1, calibrated for sharpen == 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=(n, n_classes))
    true = softmax(z, axis=1)
    y = (rng.random(n)[:, None] > np.cumsum(true, axis=1)).sum(axis=1)
    return softmax(sharpen * z, axis=1), y


@pytest.mark.parametrize("n_classes", [2, 4])
def test_temperature_recovers_a_known_temperature(n_classes):
    proba, y = _sampled(20_000, n_classes, sharpen=2.5, seed=n_classes)
    cal = TemperatureScaling().fit(proba, y)
    assert cal.temperature_ == pytest.approx(2.5, rel=0.06)
    out = cal.transform(proba)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    # the predicted class is kept, and the log loss falls
    np.testing.assert_array_equal(out.argmax(axis=1), proba.argmax(axis=1))
    assert log_loss(y, out) < log_loss(y, proba) - 0.02


def test_weighted_temperature_equals_repeated_rows():
    proba, y = _sampled(3_000, 3, sharpen=0.5, seed=7)
    w = np.random.default_rng(0).integers(0, 4, size=len(y))
    weighted = TemperatureScaling().fit(proba, y, w.astype(float)).temperature_
    repeated = TemperatureScaling().fit(np.repeat(proba, w, 0), np.repeat(y, w))
    assert weighted == pytest.approx(repeated.temperature_, rel=1e-4)
    assert weighted == pytest.approx(0.5, rel=0.15)  # under-confident: T < 1


@pytest.mark.parametrize("n_classes", [2, 3])
def test_isotonic_is_monotone_and_improves_held_out_log_loss(n_classes):
    proba, y = _sampled(8_000, n_classes, sharpen=3.0, seed=11)
    train, test = slice(0, 4_000), slice(4_000, None)
    cal = IsotonicCalibrator().fit(proba[train], y[train])
    out = cal.transform(proba[test])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    assert out.min() > 0.0 and out.max() < 1.0  # clipped: no infinite log loss
    assert log_loss(y[test], out) < log_loss(y[test], proba[test]) - 0.05
    # each fitted map is non-decreasing in its input probability
    grid = np.linspace(0, 1, 201)
    for reg in cal.regressors_.values():
        assert np.all(np.diff(reg.predict(grid)) >= 0)
    if n_classes == 2:  # binary: a monotone map of p1, so the ranking is kept
        order = np.argsort(proba[test][:, 1])
        assert np.all(np.diff(out[order, 1]) >= 0)


def test_isotonic_sample_weight_equals_repeated_rows():
    proba, y = _sampled(2_000, 2, sharpen=2.0, seed=3)
    w = np.random.default_rng(1).integers(0, 3, size=len(y))
    a = IsotonicCalibrator().fit(proba, y, w.astype(float)).transform(proba)
    b = IsotonicCalibrator().fit(np.repeat(proba, w, 0), np.repeat(y, w))
    np.testing.assert_allclose(a, b.transform(proba), atol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_auto_keeps_none_when_calibrated_and_a_method_when_not(n_classes):
    proba, y = _sampled(4_000, n_classes, sharpen=1.0, seed=21)
    cal, report = fit_calibration(proba, y, method="auto", random_state=0)
    assert cal is None
    assert report.loc[report["chosen"], "method"].tolist() == ["none"]
    proba, y = _sampled(4_000, n_classes, sharpen=3.0, seed=22)
    cal, report = fit_calibration(proba, y, method="auto", random_state=0)
    assert cal is not None
    chosen = report.set_index("method").loc[cal.name]
    assert chosen["chosen"]
    assert chosen["log_loss_after_inner_cv"] < chosen["log_loss_before"]
    assert chosen["ece_after_inner_cv"] < chosen["ece_before"]
    assert list(report["method"]) == ["none", "temperature", "isotonic"]


def test_report_after_is_held_out_not_in_sample():
    # isotonic on few rows fits its own rows better than new ones
    proba, y = _sampled(300, 2, sharpen=1.0, seed=5)
    cal, report = fit_calibration(proba, y, method="isotonic", random_state=0)
    in_sample = log_loss(y, cal.transform(proba))
    held_out = report.set_index("method").loc["isotonic", "log_loss_after_inner_cv"]
    assert held_out > in_sample


def test_ece_agrees_with_a_simple_loop():
    proba, y = _sampled(1_000, 3, sharpen=2.0, seed=9)
    w = np.random.default_rng(2).random(len(y))
    for weights in (None, w):
        ww = np.ones(len(y)) if weights is None else weights
        conf, pred = proba.max(axis=1), proba.argmax(axis=1)
        expected = 0.0
        for m in range(15):
            lo, hi = m / 15, (m + 1) / 15
            in_bin = (conf > lo) & (conf <= hi) if m else (conf <= hi)
            if in_bin.any():
                wb = ww[in_bin]
                acc = np.average(pred[in_bin] == y[in_bin], weights=wb)
                avg_conf = np.average(conf[in_bin], weights=wb)
                expected += wb.sum() / ww.sum() * abs(acc - avg_conf)
        got = expected_calibration_error(y, proba, sample_weight=weights)
        assert got == pytest.approx(expected, abs=1e-12)
    perfect = np.eye(3)[y]
    assert expected_calibration_error(y, perfect) == 0.0


def test_regressor_takes_only_none_or_auto():
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = X[:, 0] * 2.0
    for method in ("temperature", "isotonic"):
        with pytest.raises(ValueError, match="calibration"):
            AutoEnsembleRegressor(calibration=method, n_trials=1).fit(X, y)


@pytest.fixture(scope="module")
def pima_fit():
    X, y = load_keel("pima")
    model = AutoEnsembleClassifier(**{**FAST_FIT, "n_trials": 4, "cv": 3})
    return model.fit(X, y), X, y


def test_calibration_never_changes_the_selected_members(pima_fit):
    model, X, y = pima_fit
    assert model.calibration_ is None and model.calibration_report_ is None
    raw = model.predict_proba(X)
    for method in ("temperature", "isotonic"):
        other = copy.copy(model)
        other.set_params(calibration=method)
        recal = select(other, model.selector)  # a replay recalibrates
        assert recal.calibration_ == method
        assert model.ensemble_.calibrator is None  # the original is untouched
        np.testing.assert_array_equal(recal.weights_, model.weights_)
        assert recal.validation_loss_ == model.validation_loss_
        proba = recal.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
        if method == "temperature":  # binary: a monotone map of p1 keeps ROC AUC
            pos = y == model.classes_[1]
            assert roc_auc_score(pos, proba[:, 1]) == pytest.approx(
                roc_auc_score(pos, raw[:, 1]), abs=1e-12
            )
            np.testing.assert_array_equal(recal.predict(X), model.predict(X))
    np.testing.assert_array_equal(model.predict_proba(X), raw)


def test_fit_with_auto_calibration_multiclass(multiclass_data):
    X, y = multiclass_data
    model = AutoEnsembleClassifier(**FAST_FIT, calibration="auto").fit(X, y)
    report = model.calibration_report_
    assert list(report["method"]) == ["none", "temperature", "isotonic"]
    assert report["chosen"].sum() == 1
    chosen = report.loc[report["chosen"], "method"].item()
    assert chosen == (model.calibration_ or "none")
    oof = model._oof_outputs()
    assert report["log_loss_before"].iloc[0] == pytest.approx(
        log_loss(np.searchsorted(model.classes_, y), oof, labels=[0, 1, 2])
    )
    proba = model.predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
