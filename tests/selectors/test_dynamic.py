"""Dynamic selectors: agreement with DESlib 0.3.7 golden values, and properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB

from autoens.selectors import (
    DESP,
    KNOP,
    KNORAE,
    KNORAU,
    METADES,
    OLA,
    get_selector,
)
from autoens.selectors.dynamic import DynamicSelector
from autoens.selectors.dynamic_base import _kneighbours
from autoens.testing import make_prediction_tensor

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "des_golden"
CASES = ("synth3", "cancer")

# Our selector for each DESlib run (see tests/data/des_golden/make_golden.py).
BUILD: dict[str, Any] = {
    "knora-e": lambda v: KNORAE(voting=v),
    "knora-u": lambda v: KNORAU(voting=v),
    "des-p": lambda v: DESP(voting=v),
    "des-p-weighting": lambda v: DESP(voting=v, mode="weighting"),
    "knop": lambda v: KNOP(voting=v),
    "meta-des": lambda v: METADES(voting=v),
    "meta-des-hybrid": lambda v: METADES(voting=v, mode="hybrid"),
    "ola": lambda v: OLA(voting=v),
}
RUNS = [
    f"{method}_{voting}"
    for method in BUILD
    for voting in ("hard", "soft")
    if not (method == "ola" and voting == "hard")
]
# Label agreement required on rows where DESlib's top class is not tied. Measured:
# 100 % for every run, META-DES included (its multinomial NB meta-classifier is refit
# here by a newer scikit-learn; a competence landing exactly on the 0.5 threshold
# could flip a selection, so META-DES keeps 1 % slack).
MIN_AGREEMENT = {"meta-des": 0.99, "meta-des-hybrid": 0.99}
ALL_CLASSES = [KNORAE, KNORAU, DESP, KNOP, OLA, METADES]


def _load(case: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"{case}.npz") as data:
        return dict(data)


@pytest.fixture(scope="module", params=CASES)
def golden(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    data = _load(request.param)
    # The pool must disagree on enough test rows for the golden values to exercise
    # dynamic selection (agreed rows are answered by the plain average).
    labels = data["P_test"].argmax(axis=2)
    assert (labels != labels[:1]).any(axis=0).mean() > 0.1
    return data


def _fit_golden(run: str, d: dict[str, np.ndarray]) -> tuple[DynamicSelector, Any]:
    method, voting = run.rsplit("_", 1)
    sel = BUILD[method](voting).fit(
        d["P_dsel"], d["y_dsel"], metric="log_loss", X=d["X_dsel"]
    )
    return sel, sel.combine(d["P_test"], X=d["X_test"])


@pytest.mark.parametrize("run", RUNS)
def test_agrees_with_deslib(run: str, golden: dict[str, np.ndarray]) -> None:
    """Labels exactly (ties aside), probabilities to float32 precision."""
    sel, out = _fit_golden(run, golden)
    ours = out.argmax(axis=1)
    ref = golden[f"{run}__labels"]
    ref_proba = golden[f"{run}__proba"].astype(np.float64)
    assert not np.isnan(ref_proba).any()
    # An exact tie between classes is broken by float rounding order in DESlib;
    # there our label must be one of the tied classes.
    top = ref_proba.max(axis=1, keepdims=True)
    tied_set = np.abs(ref_proba - top) <= 1e-7
    tied = tied_set.sum(axis=1) > 1
    assert tied_set[np.arange(len(ours)), ours][tied].all()
    agreement = float((ours == ref)[~tied].mean())
    assert agreement >= MIN_AGREEMENT.get(run.rsplit("_", 1)[0], 1.0), agreement
    # And the selector is not a trivial one: it beats chance clearly.
    assert (ours == golden["y_test"]).mean() > 0.7

    ref = ref_proba
    weighted_soft = run.endswith("_soft") and sel.get_params().get("mode") in (
        "weighting",
        "hybrid",
    )
    if not weighted_soft:
        np.testing.assert_allclose(out, ref, rtol=0, atol=2e-6)
        return
    # DESlib's soft weighting is softmax(mean over (selected) members of w_m * p_m);
    # ours is the normalised weighted average. Rebuild DESlib's formula from our
    # competences: it must match, and it has the same argmax as ours.
    P, X = golden["P_test"].astype(np.float64), golden["X_test"]
    labels = P.argmax(axis=2)
    rows = np.flatnonzero((labels != labels[:1]).any(axis=0))
    comp = sel._competence(golden["P_test"][:, rows], X[rows], None)
    mask = np.ones_like(comp, dtype=bool)
    if sel.mode == "hybrid":
        mask = sel._select(comp)
        mask[~mask.any(axis=1)] = True
    z = np.einsum("nm,mnc->nc", comp * mask, P[:, rows]) / mask.sum(1, keepdims=True)
    soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft, ref[rows], rtol=0, atol=2e-6)
    agreed = np.setdiff1d(np.arange(P.shape[1]), rows)
    np.testing.assert_allclose(out[agreed], ref[agreed], rtol=0, atol=2e-6)
    ours_w = np.einsum("nm,mnc->nc", comp * mask, P[:, rows])
    ours_w /= ours_w.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out[rows], ours_w, rtol=0, atol=2e-6)


# --- properties ----------------------------------------------------------------------


def _data(
    n_models: int = 8, n: int = 200, n_classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    P, y = make_prediction_tensor(n_models, n, n_classes, random_state=seed)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) + 0.8 * y[:, None]
    return P, y, X


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("voting", ["soft", "hard"])
def test_outputs_are_probabilities_and_weights_summarise(
    cls: type[DynamicSelector], voting: str
) -> None:
    P, y, X = _data()
    sel = cls(voting=voting).fit(P, y, metric="roc_auc", X=X)
    for exclude_self in (False, True):
        out = sel.combine(P, X=X, exclude_self=exclude_self)
        W = sel.sample_weights(P, X=X, exclude_self=exclude_self)
        assert out.shape == (200, 3) and out.dtype == np.float32
        assert W.shape == (200, 8) and (W >= 0).all()
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    assert sel.is_dynamic and not sel.is_weighted_average
    np.testing.assert_array_equal(sel.required_members_, np.arange(8))
    np.testing.assert_allclose(sel.weights_, W.mean(axis=0), atol=1e-12)
    assert sel.validation_loss_ == sel.metric_.loss_single(y, out)
    if voting == "hard":  # vote shares: multiples of the row's weights
        labels = P.argmax(axis=2)
        disagree = (labels != labels[:1]).any(axis=0)
        votes = np.stack([(W * (labels.T == c)).sum(1) for c in range(3)], axis=1)
        np.testing.assert_allclose(out[disagree], votes[disagree], atol=1e-6)


def test_leave_one_out_never_uses_the_row_itself() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    X[10] = X[11] = X[12]  # duplicates: the row may not be its first neighbour
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors().fit(X)
    rows = np.arange(50)
    nbr = _kneighbours(nn, X, 5, rows)
    assert nbr.shape == (50, 5)
    assert not (nbr == rows[:, None]).any()
    assert all(len(set(r)) == 5 for r in nbr)
    # Without exclusion the row (or a duplicate at distance 0) comes first.
    plain = _kneighbours(nn, X, 5, None)
    assert (plain[:, 0] == rows)[np.r_[0:10, 13:50]].all()
    assert set(nbr[10]) >= {11, 12} and set(nbr[11]) >= {10, 12}


@pytest.mark.parametrize("cls", [KNORAE, KNORAU, DESP, KNOP, OLA])
@pytest.mark.parametrize("voting", ["soft", "hard"])
def test_leave_one_out_equals_refitting_without_the_row(
    cls: type[DynamicSelector], voting: str
) -> None:
    P, y, X = _data(n=120, seed=3)
    sel = cls(voting=voting, skip_agreed=False).fit(P, y, metric="log_loss", X=X)
    loo = sel.combine(P, X=X, exclude_self=True)
    for i in (0, 37, 119):
        keep = np.delete(np.arange(120), i)
        alone = cls(voting=voting, skip_agreed=False).fit(
            P[:, keep], y[keep], metric="log_loss", X=X[keep]
        )
        np.testing.assert_allclose(
            alone.combine(P[:, [i]], X=X[[i]])[0], loo[i], atol=1e-6
        )


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_in_sample_scoring_is_optimistic_and_loo_is_not(
    cls: type[DynamicSelector],
) -> None:
    P, y, X = _data(n=300, seed=1)
    sel = cls(k=3).fit(P, y, metric="error_rate", X=X)
    biased = sel.combine(P, X=X)
    loo = sel.combine(P, X=X, exclude_self=True)
    assert not np.allclose(biased, loo)
    assert sel.validation_loss_ == sel.metric_.loss_single(y, loo)
    assert sel.metric_.loss_single(y, biased) < sel.validation_loss_


@pytest.mark.parametrize("cls", [KNORAE, KNORAU, DESP, KNOP, METADES])
@pytest.mark.parametrize("voting", ["soft", "hard"])
def test_falls_back_to_all_members_when_none_is_selected(
    cls: type[DynamicSelector], voting: str
) -> None:
    # Every member is wrong on every fit row: nobody is competent anywhere.
    P, y, X = _data(n=100, n_classes=2, seed=2)
    P = np.where(np.eye(2, dtype=bool)[y][None], 0.2, 0.8).astype(np.float32)
    P = P + np.random.default_rng(0).uniform(-0.1, 0.1, size=(8, 100, 1)) * [1, -1]
    P = P.astype(np.float32)
    sel = cls(voting=voting, skip_agreed=False).fit(P, y, metric="log_loss", X=X)
    assert not sel.correct_.any()
    W = sel.sample_weights(P, X=X)
    np.testing.assert_allclose(W, 1 / 8)
    expected = P.mean(axis=0) if voting == "soft" else np.eye(2)[P.argmax(2)].mean(0)
    np.testing.assert_allclose(sel.combine(P, X=X), expected, atol=1e-6)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_rows_where_all_members_agree_get_the_plain_average(
    cls: type[DynamicSelector],
) -> None:
    P, y, X = _data(seed=4)
    labels = P.argmax(axis=2)
    agreed = (labels == labels[:1]).all(axis=0)
    assert 10 < agreed.sum() < 190
    for voting in ("soft", "hard"):
        sel = cls(voting=voting).fit(P, y, metric="log_loss", X=X)
        out = sel.combine(P, X=X)
        np.testing.assert_allclose(out[agreed], P.mean(0)[agreed], atol=1e-6)
        free = clone(sel).set_params(skip_agreed=False).fit(P, y, X=X)
        assert not np.allclose(free.combine(P, X=X)[agreed], P.mean(0)[agreed])


def test_knora_e_keeps_the_local_oracles() -> None:
    P, y, X = _data(seed=5)
    sel = KNORAE(k=5).fit(P, y, metric="log_loss", X=X)
    nbr = _kneighbours(sel.nn_, X, 5, None)
    R = sel.correct_[nbr]  # (n, k, M)
    run = np.array([[np.argmin(np.r_[r[:, m], False]) for m in range(8)] for r in R])
    W = sel.sample_weights(P, X=X, exclude_self=False)
    labels = P.argmax(axis=2)
    disagree = np.flatnonzero((labels != labels[:1]).any(axis=0))
    for i in disagree:
        best = run[i] == run[i].max()
        np.testing.assert_allclose(W[i], best / best.sum())


def test_ola_uses_one_member_per_row() -> None:
    P, y, X = _data(seed=6)
    sel = OLA().fit(P, y, metric="log_loss", X=X)
    W = sel.sample_weights(P, X=X)
    assert set(np.unique(W)) <= {0.0, 1 / 8, 1.0}
    out = sel.combine(P, X=X)
    one = W.max(axis=1) == 1.0
    chosen = W.argmax(axis=1)
    np.testing.assert_allclose(out[one], P[chosen[one], np.flatnonzero(one)])


def test_des_p_threshold_is_one_over_n_classes() -> None:
    P, y, X = _data(n_classes=3, seed=7)
    sel = DESP(k=6, skip_agreed=False).fit(P, y, metric="log_loss", X=X)
    acc = sel.correct_[_kneighbours(sel.nn_, X, 6, None)].mean(axis=1)
    keep = acc > 1 / 3
    keep[~keep.any(axis=1)] = True
    W = sel.sample_weights(P, X=X)
    np.testing.assert_allclose(W, keep / keep.sum(axis=1, keepdims=True))


def test_knop_needs_no_features_and_uses_output_profiles() -> None:
    P, y, X = _data(seed=8)
    a = KNOP().fit(P, y, metric="log_loss")
    b = KNOP().fit(P, y, metric="log_loss", X=X)
    np.testing.assert_array_equal(a.combine(P), b.combine(P, X=X))
    # Permuting the features changes nothing; permuting the profiles does.
    np.testing.assert_array_equal(a.combine(P, X=X[::-1]), a.combine(P))
    with pytest.raises(ValueError, match="fit rows in fit order"):
        a.combine(P[:, ::-1], exclude_self=True)


def test_meta_des_accepts_any_classifier_and_is_deterministic() -> None:
    P, y, X = _data(n=150, seed=9)
    nb = METADES().fit(P, y, metric="log_loss", X=X)
    assert isinstance(nb.meta_classifier_, MultinomialNB)
    assert nb.meta_classifier_.n_features_in_ == 2 * 7 + 5 + 2
    assert nb.meta_classifier_.class_count_.sum() == 150 * 8  # Hc=1 keeps every row
    forest = RandomForestClassifier(n_estimators=10)
    a = METADES(meta_classifier=forest, random_state=0).fit(P, y, X=X)
    b = METADES(meta_classifier=forest, random_state=0).fit(P, y, X=X)
    assert forest.get_params()["random_state"] is None  # the user's object untouched
    assert not hasattr(forest, "classes_")
    np.testing.assert_array_equal(a.combine(P, X=X), b.combine(P, X=X))
    lr = METADES(meta_classifier=LogisticRegression(), Kp=3).fit(P, y, X=X)
    assert lr.meta_classifier_.n_features_in_ == 2 * 7 + 3 + 2
    assert not np.allclose(lr.combine(P, X=X), nb.combine(P, X=X))
    strict = METADES(Hc=0.8).fit(P, y, X=X)
    assert strict.meta_classifier_.class_count_.sum() < 150 * 8


def test_meta_des_with_a_single_meta_class_uses_a_constant_competence() -> None:
    P, y, X = _data(n=60, n_classes=2, seed=10)
    P = np.broadcast_to(np.eye(2, dtype=np.float32)[y] * 0.8 + 0.1, P.shape).copy()
    sel = METADES(skip_agreed=False).fit(P, y, metric="log_loss", X=X)
    assert sel.meta_classifier_ is None and sel.constant_competence_ == 1.0
    np.testing.assert_allclose(sel.combine(P, X=X), P[0], atol=1e-6)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_deterministic_and_clonable(cls: type[DynamicSelector]) -> None:
    P, y, X = _data(seed=11)
    sel = cls(k=5, voting="hard", random_state=3)
    twin = clone(sel)
    assert twin.get_params() == sel.get_params()
    assert twin.get_params()["k"] == 5 and twin.get_params()["voting"] == "hard"
    a = sel.fit(P, y, metric="roc_auc", X=X).combine(P, X=X)
    b = twin.fit(P, y, metric="roc_auc", X=X).combine(P, X=X)
    np.testing.assert_array_equal(a, b)
    assert not hasattr(clone(sel), "weights_")


def test_registered_names() -> None:
    expected = {
        "knora-e": KNORAE,
        "knora-u": KNORAU,
        "des-p": DESP,
        "knop": KNOP,
        "ola": OLA,
        "meta-des": METADES,
    }
    for name, cls in expected.items():
        sel = get_selector(name, random_state=5)
        assert type(sel) is cls and sel.random_state == 5
    assert KNORAU().mode == KNOP().mode == "weighting"
    assert KNORAE().mode == DESP().mode == METADES().mode == "selection"


@pytest.mark.parametrize("cls", [KNORAE, KNORAU, DESP, OLA, METADES])
def test_bad_input_raises_clear_errors(cls: type[DynamicSelector]) -> None:
    P, y, X = _data(n=40, seed=12)
    with pytest.raises(ValueError, match="pass X"):
        cls().fit(P, y, metric="log_loss")
    with pytest.raises(ValueError, match="X has 39 rows but P has 40"):
        cls().fit(P, y, X=X[:-1])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls().fit(P, y, X=bad)
    with pytest.raises(ValueError, match="numeric"):
        cls().fit(P, y, X=np.full((40, 2), "a", dtype=object))
    with pytest.raises(ValueError, match="2-D"):
        cls().fit(P, y, X=X[:, 0])
    with pytest.raises(ValueError, match=r"'voting' .* must be a str among"):
        cls(voting="soft_vote").fit(P, y, X=X)
    with pytest.raises(ValueError, match=r"'k' .* must be an int in the range \[1"):
        cls(k=0).fit(P, y, X=X)
    sel = cls().fit(P, y, X=X)
    with pytest.raises(ValueError, match="pass X"):
        sel.combine(P)
    with pytest.raises(ValueError, match="features but the selector was fit on 4"):
        sel.combine(P, X=X[:, :3])
    with pytest.raises(ValueError, match="X has 40 rows but P has 10"):
        sel.combine(P[:, :10], X=X)
    with pytest.raises(ValueError, match="fit rows in fit order"):
        sel.combine(P[:, :10], X=X[:10], exclude_self=True)
    with pytest.raises(ValueError, match="fit rows in fit order"):
        sel.combine(P, X=X + 1.0, exclude_self=True)
    with pytest.raises(ValueError, match="n_models=8"):
        sel.combine(P[:3], X=X)


def test_parameter_errors() -> None:
    P, y, X = _data(n=40, seed=13)
    with pytest.raises(ValueError, match="'mode' parameter of DESP must be a str"):
        DESP(mode="select").fit(P, y, X=X)
    with pytest.raises(ValueError, match=r"'Hc' .* in the range \[0.5, 1.0\]"):
        METADES(Hc=0.3).fit(P, y, X=X)
    with pytest.raises(ValueError, match=r"'selection_threshold' .* \[0.0, 1.0\)"):
        METADES(selection_threshold=1.5).fit(P, y, X=X)
    with pytest.raises(ValueError, match=r"'Kp' .* must be an int in the range \[1"):
        METADES(Kp=0).fit(P, y, X=X)
    with pytest.raises(ValueError, match="'fit' and 'predict_proba'"):
        METADES(meta_classifier=object()).fit(P, y, X=X)
    with pytest.raises(ValueError, match=r"'skip_agreed' .* must be an instance"):
        KNORAE(skip_agreed="yes").fit(P, y, X=X)
    with pytest.raises(ValueError, match=r"'random_state' .* must be"):
        OLA(random_state="seed").fit(P, y, X=X)
    with pytest.raises(ValueError, match="at least 2 fit rows"):
        KNORAE().fit(P[:, :1], y[:1], X=X[:1])


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_k_larger_than_the_data_is_clipped_with_a_warning(
    cls: type[DynamicSelector],
) -> None:
    P, y, X = _data(n=6, n_classes=2, seed=14)
    with pytest.warns(UserWarning, match="k=7 but only 6 fit rows; using k=5"):
        sel = cls().fit(P, y, metric="log_loss", X=X)
    assert sel.k_ == 5
    out = sel.combine(P, X=X, exclude_self=True)
    assert out.shape == (6, 2) and np.isfinite(out).all()
