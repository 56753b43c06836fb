"""Every selector passes the shared contract in autoens.testing.check_selector."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from autoens.selectors import (
    DESP,
    KNOP,
    KNORAE,
    KNORAU,
    METADES,
    OLA,
    SELECTOR_NAMES,
    BaseSelector,
    CMAESSelector,
    GreedyEnsembleSelection,
    NNLSStacking,
    QPSelector,
    QualityDiversityOptimizationES,
    QualityOptimizationES,
    SingleBest,
    StackingSelector,
    get_selector,
)
from autoens.testing import (
    check_selector,
    make_prediction_tensor,
)

# New selectors: add an instance (fast settings) here.
SELECTORS: list[BaseSelector] = [
    SingleBest(),
    GreedyEnsembleSelection(random_state=0),
    GreedyEnsembleSelection(ensemble_size=8, init_sorted=2, use_best=False),
    QualityOptimizationES(n_iterations=10, random_state=0),
    QualityDiversityOptimizationES(n_iterations=10, random_state=0),
    QualityOptimizationES(
        n_iterations=10, init="pairs_with_best", negative_steps=True, random_state=0
    ),
    QualityDiversityOptimizationES(n_iterations=10, ges_seed=True, random_state=0),
    CMAESSelector(n_iterations=10, random_state=0),
    CMAESSelector(n_iterations=10, normalize=None, random_state=0),
    QPSelector(),
    QPSelector(class_balanced=True),
    QPSelector(objective="log_loss"),
    StackingSelector(cv=3, random_state=0),
    NNLSStacking(),
    KNOP(),
    KNOP(voting="hard", k=3),
    KNORAE(),
    KNORAE(voting="hard", mode="hybrid"),
    KNORAU(),
    KNORAU(voting="hard"),
    DESP(),
    DESP(mode="weighting", voting="hard"),
    OLA(),
    OLA(voting="hard", k=3),
    METADES(),
    METADES(voting="hard", mode="hybrid", Kp=3),
]


@pytest.mark.parametrize("selector", SELECTORS, ids=repr)
def test_selector_contract(selector: BaseSelector) -> None:
    check_selector(selector)


class _IgnoresWeights(SingleBest):
    """Broken on purpose: combine() returns model 0 whatever was selected."""

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        return np.asarray(P, dtype=np.float32)[0]


class _OffSimplex(SingleBest):
    def _fit(self, P: np.ndarray, y: np.ndarray, X: Any = None, configs: Any = None):
        super()._fit(P, y)
        self.weights_ = self.weights_ * 2.0


def test_check_selector_catches_a_broken_combine() -> None:
    with pytest.raises(AssertionError, match="combine"):
        check_selector(_IgnoresWeights())


def test_fit_rejects_weights_off_the_simplex() -> None:
    P, y = make_prediction_tensor(3, 40)
    with pytest.raises(RuntimeError, match="invalid weights_"):
        _OffSimplex().fit(P, y)


def test_single_best_tie_goes_to_lowest_index() -> None:
    P, y = make_prediction_tensor(3, 100, random_state=1)
    P = np.concatenate([P, P])
    sb = SingleBest().fit(P, y, metric="roc_auc")
    best = int(np.argmin(sb.losses_[:3]))
    assert sb.losses_[best] == sb.losses_[best + 3] == sb.losses_.min()
    assert sb.best_index_ == best
    assert np.array_equal(sb.weights_, np.eye(6)[best])
    assert sb.validation_loss_ == sb.losses_.min()


# Every name with the class and the parameters it must build, written out here rather
# than read from the registry, so a name wired to the wrong class or parameters fails.
_EXPECTED_SELECTORS: dict[str, tuple[str, dict]] = {
    "ges": ("GreedyEnsembleSelection", {}),
    "greedy": ("GreedyEnsembleSelection", {}),
    "single_best": ("SingleBest", {}),
    "single-best": ("SingleBest", {}),
    "qo-es": ("QualityOptimizationES", {}),
    "qdo-es": ("QualityDiversityOptimizationES", {}),
    "cmaes": ("CMAESSelector", {}),
    "cmaes-raw": ("CMAESSelector", {"normalize": None}),
    "qp": ("QPSelector", {}),
    "qp-balanced": ("QPSelector", {"class_balanced": True}),
    "qp-logloss": ("QPSelector", {"objective": "log_loss"}),
    "stacking": ("StackingSelector", {}),
    "nnls-stacking": ("NNLSStacking", {}),
    "knora-e": ("KNORAE", {}),
    "knora-u": ("KNORAU", {}),
    "des-p": ("DESP", {}),
    "knop": ("KNOP", {}),
    "ola": ("OLA", {}),
    "meta-des": ("METADES", {}),
    "oracle": ("Oracle", {}),
    "qp-affine": ("AffineQPSelector", {}),
    "des-local": ("LocalErrorWeighting", {}),
    "local-best": ("LocalBest", {}),
    "auto": ("AutoSelector", {}),
}


def test_every_name_is_listed_here():
    assert set(SELECTOR_NAMES) == set(_EXPECTED_SELECTORS)


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_get_selector_by_name(name: str) -> None:
    cls_name, changed = _EXPECTED_SELECTORS[name]
    sel = get_selector(name, random_state=4)
    assert isinstance(sel, BaseSelector)
    assert type(sel).__name__ == cls_name
    defaults = type(sel)().get_params(deep=False)
    params = sel.get_params(deep=False)
    differs = {
        key: value
        for key, value in params.items()
        if key != "random_state" and value != defaults[key]
    }
    assert differs == changed
    if "random_state" in params:
        assert params["random_state"] == 4
    # names are case- and space-insensitive, and give a fresh object each time
    again = get_selector(f" {name.upper()} ", random_state=4)
    assert again is not sel and again.get_params(deep=False) == params


def test_get_selector_clones_objects_and_keeps_explicit_seed() -> None:
    ges = GreedyEnsembleSelection(ensemble_size=5)
    out = get_selector(ges, random_state=9)
    assert out is not ges and out.ensemble_size == 5 and out.random_state == 9
    assert ges.random_state is None  # the user's object is untouched
    seeded = get_selector(GreedyEnsembleSelection(random_state=1), random_state=9)
    assert seeded.random_state == 1
    fitted = GreedyEnsembleSelection().fit(*make_prediction_tensor(3, 40))
    assert not hasattr(get_selector(fitted), "weights_")


def test_get_selector_unknown_name_lists_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown selector 'qdo'.*ges.*single_best"):
        get_selector("qdo")


def test_selectors_clone_and_expose_params() -> None:
    ges = GreedyEnsembleSelection(ensemble_size=7, init_sorted=1, random_state=3)
    assert clone(ges).get_params() == {
        "ensemble_size": 7,
        "init_sorted": 1,
        "use_best": True,
        "random_state": 3,
    }
    assert SingleBest().get_params() == {}


def test_fit_validates_configs_and_X() -> None:
    P, y = make_prediction_tensor(3, 40)
    with pytest.raises(ValueError, match="configs has 2 entries but P has 3 models"):
        SingleBest().fit(P, y, configs=[{}, {}])
    with pytest.raises(ValueError, match="X has 5 rows"):
        SingleBest().fit(P, y, X=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="probabilities in"):
        SingleBest().fit(P * 3, y)
    with pytest.raises(ValueError, match="n_classes >= 2"):
        SingleBest().fit(P[:, :, :1], y)
