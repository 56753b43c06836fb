"""The sample-weight part of the selector contract (run by ``check_selector``).

What weights must do to a selector, for either task family:

* ``sample_weight=None`` is the fit without the argument, and weights that are all
  equal (all ones, or all 2.5) give exactly that ensemble too;
* a weighted fit is deterministic under ``random_state``, and its
  ``validation_loss_`` is the *weighted* loss (of ``combine(P)`` for a static
  weighted average, of the leave-one-out ``combine`` for a dynamic selector); a
  selector that guarantees the single best does so under the weighted loss;
* where the selector declares it (``_sample_weight_equivalences``, see
  :data:`autoens.selectors.base.ROW_EQUIVALENCES`): integer weights give the
  ensemble of the rows repeated that many times ("repeat"), and rows of weight 0
  give the ensemble of the other rows alone ("zero"), up to float rounding;
* invalid weights (wrong length, 2-D, negative, NaN, infinite, summing to 0,
  non-numeric) raise ``ValueError``; a selector that does not support weights
  refuses them with ``ValueError`` rather than ignore them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

from autoens.testing._checks import expect as _expect
from autoens.testing.tensors import make_prediction_tensor, make_regression_tensor

__all__ = ["check_sample_weights"]

_N_MODELS = 6
_N_SAMPLES = 120
# Equivalent fits differ by float rounding only: weights and predictions by solver
# noise (QP ~1e-14), losses by float32 versus float64 means (log loss ~1e-7).
_WEIGHTS_ATOL = 1e-9
_OUTPUT_ATOL = 1e-6
_LOSS_RTOL = 1e-6
_SINGLE_BEST_TOL = 1e-6


def check_sample_weights(
    selector: Any,
    *,
    task: str = "classification",
    n_classes: tuple[int, ...] = (2, 3),
) -> None:
    """Run the sample-weight contract (module docstring) on clones of ``selector``:
    for classification on binary data scored by ROC AUC and on ``n_classes`` > 2 by
    log loss, for regression by RMSE."""
    name = type(selector).__name__
    if task == "regression":
        P, y = make_regression_tensor(_N_MODELS, _N_SAMPLES, random_state=201)
        _check_case(selector, P, y, 201, "rmse", f"{name} (regression, rmse)")
        return
    for n_cls in n_classes:
        P, y = make_prediction_tensor(
            _N_MODELS, _N_SAMPLES, n_cls, random_state=100 + n_cls
        )
        metric = "roc_auc" if n_cls == 2 else "log_loss"
        _check_case(
            selector, P, y, n_cls, metric, f"{name} ({n_cls} classes, {metric})"
        )


def _check_case(
    selector: Any, P: np.ndarray, y: np.ndarray, seed: int, metric: str, where: str
) -> None:
    n_samples = P.shape[1]
    X = np.random.default_rng(seed).normal(size=(n_samples, 3))
    rng = np.random.default_rng(seed + 1)
    weights = rng.uniform(0.2, 3.0, n_samples)
    if not getattr(selector, "_supports_sample_weight", False):
        _expect_refused(selector, P, y, X, metric, weights, where)
        _fit(selector, P, y, X, metric, np.ones(n_samples))  # equal: no weights
        return

    base = _fit(selector, P, y, X, metric, "absent")
    _expect_same(base, _fit(selector, P, y, X, metric, None), P, X, "None", where)
    for constant in (1.0, 2.5):
        equal = _fit(selector, P, y, X, metric, np.full(n_samples, constant))
        _expect_same(base, equal, P, X, f"all-{constant:g} weights", where)

    weighted = _fit(selector, P, y, X, metric, weights)
    again = _fit(selector, P, y, X, metric, weights)
    _expect_same(weighted, again, P, X, "a second weighted fit", where)
    _check_weighted_loss(weighted, P, y, X, weights, where)

    equivalences = getattr(selector, "_sample_weight_equivalences", frozenset())
    if "repeat" in equivalences:
        counts = rng.integers(1, 4, n_samples)
        a = _fit(selector, P, y, X, metric, counts.astype(np.float64))
        b = _fit(
            selector,
            np.repeat(P, counts, axis=1),
            np.repeat(y, counts),
            np.repeat(X, counts, axis=0),
            metric,
            None,
        )
        out_a = np.repeat(_combine(a, P, X), counts, axis=0)
        out_b = _combine(b, np.repeat(P, counts, axis=1), np.repeat(X, counts, axis=0))
        _expect_equivalent(a, b, out_a, out_b, "repeating rows", where)
    if "zero" in equivalences:
        zeroed = weights.copy()
        zeroed[::4] = 0.0
        keep = zeroed > 0
        a = _fit(selector, P, y, X, metric, zeroed)
        b = _fit(selector, P[:, keep], y[keep], X[keep], metric, zeroed[keep])
        out_a = _combine(a, P, X)[keep]
        out_b = _combine(b, P[:, keep], X[keep])
        _expect_equivalent(a, b, out_a, out_b, "dropping the rows of weight 0", where)
    _check_bad_weights(selector, P, y, X, metric, where)


def _fit(
    selector: Any,
    P: np.ndarray,
    y: np.ndarray,
    X: np.ndarray,
    metric: str,
    sample_weight: Any,
) -> Any:
    """A clone fit with ``random_state=0``; ``"absent"`` leaves the argument out."""
    est = clone(selector)
    if "random_state" in est.get_params(deep=False):
        est.set_params(random_state=0)
    configs = [
        {"learner": f"fake{k % 3}", "params": {"alpha": float(k), "depth": k % 2}}
        for k in range(P.shape[0])
    ]
    if isinstance(sample_weight, str):
        return est.fit(P, y, metric=metric, X=X, configs=configs)
    return est.fit(
        P, y, metric=metric, X=X, configs=configs, sample_weight=sample_weight
    )


def _combine(est: Any, P: np.ndarray, X: np.ndarray) -> np.ndarray:
    return np.asarray(est.combine(P, X=X), dtype=np.float64)


def _expect_same(
    a: Any, b: Any, P: np.ndarray, X: np.ndarray, what: str, where: str
) -> None:
    """Bit-identical ensembles: weights_, combine(P) and validation_loss_."""
    _expect(
        np.array_equal(getattr(a, "weights_", None), getattr(b, "weights_", None))
        and np.array_equal(a.combine(P, X=X), b.combine(P, X=X))
        and getattr(a, "validation_loss_", None)
        == getattr(b, "validation_loss_", None),
        f"{where}: {what} must give exactly the ensemble of the fit without weights",
    )


def _expect_equivalent(
    a: Any, b: Any, out_a: np.ndarray, out_b: np.ndarray, what: str, where: str
) -> None:
    """The same ensemble up to float rounding (``a`` weighted, ``b`` on rows)."""
    scale = max(1.0, float(np.abs(out_b).max()))
    _expect(
        np.allclose(a.weights_, b.weights_, rtol=0.0, atol=_WEIGHTS_ATOL),
        f"{where}: weights_ differ from {what}: {a.weights_} vs {b.weights_}",
    )
    _expect(
        np.allclose(out_a, out_b, rtol=0.0, atol=_OUTPUT_ATOL * scale),
        f"{where}: combine differs from {what}",
    )
    if a.is_weighted_average and not a.is_dynamic:
        _expect(
            np.isclose(a.validation_loss_, b.validation_loss_, rtol=_LOSS_RTOL),
            f"{where}: validation_loss_ {a.validation_loss_} differs from {what} "
            f"({b.validation_loss_})",
        )


def _check_weighted_loss(
    est: Any, P: np.ndarray, y: np.ndarray, X: np.ndarray, w: np.ndarray, where: str
) -> None:
    m = est.metric_
    out = est.combine(P, X=X)
    loss = getattr(est, "validation_loss_", None)
    _expect(
        loss is not None and np.isfinite(loss),
        f"{where}: weighted fit without a finite validation_loss_",
    )
    if est.is_weighted_average and not est.is_dynamic:
        _expect(
            loss == m.loss_single(y, out, sample_weight=w),
            f"{where}: validation_loss_ is not the weighted loss of combine(P)",
        )
    if est.is_dynamic:
        loo = est.combine(P, X=X, exclude_self=True)
        _expect(
            loss == m.loss_single(y, loo, sample_weight=w),
            f"{where}: validation_loss_ is not the weighted leave-one-out loss",
        )
    if getattr(est, "_guarantees_single_best", False):
        single_best = float(m.loss(y, P, sample_weight=w).min())
        got = m.loss_single(y, out, sample_weight=w)
        _expect(
            got <= single_best + _SINGLE_BEST_TOL * max(1.0, abs(single_best)),
            f"{where}: weighted loss {got} worse than the single best's {single_best}",
        )


def _check_bad_weights(
    selector: Any, P: np.ndarray, y: np.ndarray, X: np.ndarray, metric: str, where: str
) -> None:
    n = P.shape[1]
    negative = np.ones(n)
    negative[3] = -1.0
    nan = np.ones(n)
    nan[5] = np.nan
    cases = {
        "too short": np.ones(n - 1),
        "2-D": np.ones((n, 1)),
        "negative": negative,
        "NaN": nan,
        "infinite": np.where(np.arange(n) == 2, np.inf, 1.0),
        "all zero": np.zeros(n),
        "non-numeric": np.array(["a"] * n),
    }
    for case, w in cases.items():
        try:
            _fit(selector, P, y, X, metric, w)
        except ValueError:
            continue
        raise AssertionError(f"{where}: fit with {case} sample_weight must raise")


def _expect_refused(
    selector: Any,
    P: np.ndarray,
    y: np.ndarray,
    X: np.ndarray,
    metric: str,
    w: np.ndarray,
    where: str,
) -> None:
    try:
        _fit(selector, P, y, X, metric, w)
    except ValueError:
        return
    raise AssertionError(
        f"{where}: a selector without _supports_sample_weight must refuse weights"
    )
