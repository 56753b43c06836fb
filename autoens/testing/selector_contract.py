"""The shared selector contract: ``check_selector`` (classification and regression)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from autoens.metrics import get_metric
from autoens.testing._checks import expect as _expect
from autoens.testing.tensors import make_prediction_tensor, make_regression_tensor
from autoens.testing.weight_contract import check_sample_weights

__all__ = ["check_sample_weights", "check_selector"]

# --- selector contract ----------------------------------------------------------------

_N_MODELS = 6
_N_SAMPLES = 120
# GES rounds losses to 6 decimals when choosing, so "never worse than the single best"
# holds up to this slack.
_SINGLE_BEST_TOL = 1e-6


def check_selector(
    selector: Any,
    *,
    n_classes: tuple[int, ...] = (2, 3),
    task: str = "classification",
) -> None:
    """Run the shared selector contract on (clones of) ``selector``.

    Checks: scikit-learn cloning; ``combine`` before ``fit`` raises ``NotFittedError``;
    for each class count and for ROC AUC and log loss: fitted attributes, output shape,
    dtype and finiteness, rows on the simplex, simplex ``weights_`` matching
    ``combine`` (static selectors), ``validation_loss_``, ``required_members_``;
    determinism under ``random_state``; one model, duplicated models and constant
    predictions; clear ``ValueError`` on bad input; and, when the selector declares
    ``_guarantees_single_best``, a fit loss no worse than SingleBest's. Then the
    sample-weight contract (:func:`check_sample_weights`): no weights and equal
    weights give today's ensemble, the weighted ``validation_loss_``, repeated rows
    and zero-weight rows where the selector declares those equivalences, and
    ``ValueError`` on invalid weights.

    ``task="regression"`` runs the regression contract instead
    (:func:`_check_regression_selector`; ``n_classes`` is then unused).
    """
    if task == "regression":
        _check_regression_selector(selector)
        check_sample_weights(selector, task="regression")
        return
    if task != "classification":
        raise ValueError(
            f"task must be 'classification' or 'regression', got {task!r}."
        )
    name = type(selector).__name__
    params = selector.get_params(deep=False)
    cloned = clone(selector)
    _expect(
        cloned.get_params(deep=False).keys() == params.keys(),
        f"{name}: clone() changed the parameters",
    )
    try:
        clone(selector).combine(np.zeros((2, 3, 2), dtype=np.float32))
    except NotFittedError:
        pass
    else:
        raise AssertionError(
            f"{name}: combine() before fit() must raise NotFittedError"
        )

    for n_cls in n_classes:
        P, y = make_prediction_tensor(
            _N_MODELS, _N_SAMPLES, n_cls, random_state=100 + n_cls
        )
        X = np.random.default_rng(n_cls).normal(size=(_N_SAMPLES, 4))
        configs = [
            {"learner": f"fake{k % 3}", "params": {"alpha": float(k), "depth": k % 2}}
            for k in range(_N_MODELS)
        ]
        for metric in ("roc_auc", "log_loss"):
            fitted = _fit(selector, P, y, metric, X, configs)
            _check_fitted(
                fitted, P, y, X, metric, f"{name} ({n_cls} classes, {metric})"
            )

        _check_deterministic(selector, P, y, X, configs, name)
        _check_edge_cases(selector, P, y, X, name)
    _check_bad_input(selector, name)
    check_sample_weights(selector, n_classes=n_classes)


def _fit(
    selector: Any,
    P: np.ndarray,
    y: np.ndarray,
    metric: str,
    X: np.ndarray,
    configs: list[dict[str, Any]] | None = None,
    random_state: int | None = None,
) -> Any:
    est = clone(selector)
    if random_state is not None and "random_state" in est.get_params(deep=False):
        est.set_params(random_state=random_state)
    returned = est.fit(P, y, metric=metric, X=X, configs=configs)
    _expect(returned is est, f"{type(est).__name__}: fit() must return self")
    return est


def _check_fitted(
    est: Any, P: np.ndarray, y: np.ndarray, X: np.ndarray, metric: str, where: str
) -> None:
    n_models, n_samples, n_cls = P.shape
    m = get_metric(metric)
    _expect(est.metric_ == m, f"{where}: metric_ is {est.metric_!r}")
    _expect(
        (est.n_models_, est.n_classes_) == (n_models, n_cls),
        f"{where}: n_models_/n_classes_ wrong",
    )
    out = est.combine(P, X=X)
    _expect(isinstance(out, np.ndarray), f"{where}: combine must return an ndarray")
    _expect(out.shape == (n_samples, n_cls), f"{where}: combine shape {out.shape}")
    _expect(out.dtype == np.float32, f"{where}: combine dtype {out.dtype}")
    _expect(bool(np.isfinite(out).all()), f"{where}: combine has NaN/inf")
    _expect(
        np.allclose(out.sum(axis=1), 1.0, atol=1e-5) and out.min() >= -1e-6,
        f"{where}: combined rows are not probability vectors",
    )

    required = np.asarray(est.required_members_)
    _expect(
        required.ndim == 1
        and required.size >= 1
        and np.array_equal(required, np.unique(required))
        and required.min() >= 0
        and required.max() < n_models,
        f"{where}: required_members_ must be sorted unique model indices",
    )
    masked = np.zeros_like(P)
    masked[required] = P[required]
    _expect(
        np.array_equal(est.combine(masked, X=X), out),
        f"{where}: combine reads models outside required_members_",
    )

    if est.is_weighted_average and not est.is_dynamic:
        w = np.asarray(est.weights_)
        _expect(w.shape == (n_models,), f"{where}: weights_ shape {w.shape}")
        _expect(
            bool((w >= 0).all()) and abs(w.sum() - 1.0) <= 1e-6,
            f"{where}: weights_ not on the simplex: {w}",
        )
        _expect(
            np.array_equal(required, np.flatnonzero(w)),
            f"{where}: required_members_ != nonzero weights",
        )
        weighted = np.tensordot(w, P.astype(np.float64), axes=1)
        _expect(
            np.allclose(out, weighted, atol=1e-5),
            f"{where}: combine differs from the weighted sum of members",
        )
        loss = est.validation_loss_
        _expect(
            np.isfinite(loss) and loss == m.loss_single(y, out),
            f"{where}: validation_loss_ {loss} is not the loss of combine(P)",
        )
    if getattr(est, "_guarantees_single_best", False):
        single_best = float(m.loss(y, P).min())
        got = m.loss_single(y, out)
        _expect(
            got <= single_best + _SINGLE_BEST_TOL,
            f"{where}: loss {got} worse than the single best model's {single_best}",
        )


def _check_deterministic(
    selector: Any,
    P: np.ndarray,
    y: np.ndarray,
    X: np.ndarray,
    configs: list[dict[str, Any]],
    name: str,
) -> None:
    a = _fit(selector, P, y, "roc_auc", X, configs, random_state=0)
    b = _fit(selector, P, y, "roc_auc", X, configs, random_state=0)
    _expect(
        np.array_equal(a.combine(P, X=X), b.combine(P, X=X)),
        f"{name}: two fits with random_state=0 differ",
    )


def _check_edge_cases(
    selector: Any, P: np.ndarray, y: np.ndarray, X: np.ndarray, name: str
) -> None:
    n_models, n_samples, n_cls = P.shape
    # One model: the ensemble is that model.
    one = _fit(selector, P[:1], y, "log_loss", X)
    _expect(
        np.allclose(one.combine(P[:1], X=X), P[0], atol=1e-6),
        f"{name}: with one model the ensemble must be that model",
    )
    _check_fitted(one, P[:1], y, X, "log_loss", f"{name} (one model)")
    # Duplicated models (a cache often holds near-copies).
    doubled = np.concatenate([P, P])
    for metric in ("roc_auc", "log_loss"):
        est = _fit(selector, doubled, y, metric, X)
        _check_fitted(est, doubled, y, X, metric, f"{name} (duplicated models)")
    # Constant predictions: every model predicts the class frequencies everywhere.
    prior = np.bincount(y, minlength=n_cls) / n_samples
    constant = np.broadcast_to(
        prior.astype(np.float32), (n_models, n_samples, n_cls)
    ).copy()
    for metric in ("roc_auc", "log_loss"):
        est = _fit(selector, constant, y, metric, X)
        _check_fitted(est, constant, y, X, metric, f"{name} (constant predictions)")


def _check_bad_input(selector: Any, name: str) -> None:
    P, y = make_prediction_tensor(3, 30, 2, random_state=7)
    # Features for the rows of P: dynamic selectors need them, static ones ignore them,
    # so every failure below is about the broken argument and nothing else.
    X = np.random.default_rng(7).normal(size=(30, 2))
    bad_nan = P.copy()
    bad_nan[1, 2, 0] = np.nan
    cases = {
        "2-D P": (P[0], y),
        "empty P": (P[:0], y),
        "NaN in P": (bad_nan, y),
        "y too short": (P, y[:-1]),
        "y out of range": (P, np.where(y == 1, 2, y)),
        "float y": (P, y + 0.5),
    }
    for case, (P_bad, y_bad) in cases.items():
        try:
            clone(selector).fit(P_bad, y_bad, metric="log_loss", X=X)
        except ValueError:
            continue
        raise AssertionError(f"{name}: fit with {case} must raise ValueError")
    try:
        clone(selector).fit(P, y, metric="no_such_metric", X=X)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{name}: an unknown metric must raise ValueError")
    fitted = clone(selector).fit(P, y, metric="log_loss", X=X)
    try:
        fitted.combine(P[:2], X=X)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{name}: combine with the wrong n_models must raise")


# --- the regression contract ----------------------------------------------------------

_REGRESSION_METRICS = ("rmse", "mae")


def _check_regression_selector(selector: Any) -> None:
    """The selector contract for regression, on ``make_regression_tensor`` libraries.

    Checks: cloning; ``combine`` before ``fit`` raises ``NotFittedError``; for RMSE
    and MAE: fitted attributes, ``combine`` of shape (n_samples, 1), float32 and
    finite, ``required_members_`` (sorted, and the only models ``combine`` reads),
    ``weights_`` on the simplex whenever the selector has them (for a static
    weighted average they are also exactly the combination, and
    ``validation_loss_`` is the loss of ``combine(P)``; stackers, raw CMA-ES and the
    affine QP combine otherwise and only summarise their members with ``weights_``),
    a finite ``validation_loss_`` (for dynamic selectors: the leave-one-out loss of
    ``combine(P, X, exclude_self=True)``, with per-row ``sample_weights`` on the
    simplex), never worse than SingleBest when the selector guarantees it; the same
    result twice under ``random_state=0``; one model (the ensemble is that model),
    duplicated models and constant predictions; ``ValueError`` on NaN, wrong shapes
    (2-D ``P``, no models, two output columns), ``y`` of the wrong length, with NaN,
    2-D or non-numeric, an unknown metric, and ``combine`` with the wrong number of
    models.
    """
    name = type(selector).__name__
    params = selector.get_params(deep=False)
    _expect(
        clone(selector).get_params(deep=False).keys() == params.keys(),
        f"{name}: clone() changed the parameters",
    )
    try:
        clone(selector).combine(np.zeros((2, 3, 1), dtype=np.float32))
    except NotFittedError:
        pass
    else:
        raise AssertionError(
            f"{name}: combine() before fit() must raise NotFittedError"
        )
    P, y = make_regression_tensor(_N_MODELS, _N_SAMPLES, random_state=201)
    X = np.random.default_rng(201).normal(size=(_N_SAMPLES, 3))
    configs = [
        {"learner": f"fake{k % 3}", "params": {"alpha": float(k), "depth": k % 2}}
        for k in range(_N_MODELS)
    ]
    for metric in _REGRESSION_METRICS:
        fitted = _fit(selector, P, y, metric, X, configs)
        _check_regression_fitted(fitted, P, y, X, metric, f"{name} ({metric})")
    a = _fit(selector, P, y, "rmse", X, configs, random_state=0)
    b = _fit(selector, P, y, "rmse", X, configs, random_state=0)
    _expect(
        np.array_equal(a.combine(P, X=X), b.combine(P, X=X)),
        f"{name}: two regression fits with random_state=0 differ",
    )
    _check_regression_edge_cases(selector, P, y, X, name)
    _check_regression_bad_input(selector, name)


def _check_regression_fitted(
    est: Any, P: np.ndarray, y: np.ndarray, X: np.ndarray, metric: str, where: str
) -> None:
    n_models, n_samples, _ = P.shape
    m = get_metric(metric)
    _expect(est.metric_ == m, f"{where}: metric_ is {est.metric_!r}")
    _expect(
        (est.n_models_, est.n_classes_) == (n_models, 1),
        f"{where}: n_models_/n_classes_ must be ({n_models}, 1)",
    )
    out = est.combine(P, X=X)
    _expect(isinstance(out, np.ndarray), f"{where}: combine must return an ndarray")
    _expect(out.shape == (n_samples, 1), f"{where}: combine shape {out.shape}")
    _expect(out.dtype == np.float32, f"{where}: combine dtype {out.dtype}")
    _expect(bool(np.isfinite(out).all()), f"{where}: combine has NaN/inf")
    required = np.asarray(est.required_members_)
    _expect(
        required.ndim == 1
        and required.size >= 1
        and np.array_equal(required, np.unique(required))
        and required.min() >= 0
        and required.max() < n_models,
        f"{where}: required_members_ must be sorted unique model indices",
    )
    masked = np.zeros_like(P)
    masked[required] = P[required]
    _expect(
        np.array_equal(est.combine(masked, X=X), out),
        f"{where}: combine reads models outside required_members_",
    )
    # float32 sums of values far from zero: compare relative to their magnitude.
    atol = 1e-5 * max(1.0, float(np.abs(P).max()))
    w = getattr(est, "weights_", None)
    if w is not None:
        w = np.asarray(w)
        _expect(
            w.shape == (n_models,)
            and bool((w >= 0).all())
            and abs(w.sum() - 1.0) <= 1e-6,
            f"{where}: weights_ not on the simplex: {w}",
        )
    if est.is_weighted_average and not est.is_dynamic:
        _expect(
            np.array_equal(required, np.flatnonzero(w)),
            f"{where}: required_members_ != nonzero weights",
        )
        weighted = np.tensordot(w, P.astype(np.float64), axes=1)
        _expect(
            np.allclose(out, weighted, rtol=1e-5, atol=atol),
            f"{where}: combine differs from the weighted sum of members",
        )
        _expect(
            est.validation_loss_ == m.loss_single(y, out),
            f"{where}: validation_loss_ is not the loss of combine(P)",
        )
    loss = getattr(est, "validation_loss_", None)
    _expect(loss is not None and np.isfinite(loss), f"{where}: validation_loss_ {loss}")
    if est.is_dynamic and hasattr(est, "sample_weights"):
        loo = est.combine(P, X=X, exclude_self=True)
        _expect(
            loss == m.loss_single(y, loo),
            f"{where}: validation_loss_ is not the leave-one-out loss",
        )
        W = est.sample_weights(P, X=X)
        _expect(
            W.shape == (n_samples, n_models)
            and bool((W >= 0).all())
            and np.allclose(W.sum(axis=1), 1.0),
            f"{where}: sample_weights rows must be on the simplex",
        )
        _expect(
            np.allclose(
                out[:, 0], np.einsum("nm,mn->n", W, P[:, :, 0]), rtol=1e-5, atol=atol
            ),
            f"{where}: combine is not the sample_weights average",
        )
    if getattr(est, "_guarantees_single_best", False):
        single_best = float(m.loss(y, P).min())
        got = m.loss_single(y, out)
        _expect(
            got <= single_best + _SINGLE_BEST_TOL * max(1.0, abs(single_best)),
            f"{where}: loss {got} worse than the single best model's {single_best}",
        )


def _check_regression_edge_cases(
    selector: Any, P: np.ndarray, y: np.ndarray, X: np.ndarray, name: str
) -> None:
    atol = 1e-5 * max(1.0, float(np.abs(P).max()))
    one = _fit(selector, P[:1], y, "rmse", X)
    _expect(
        np.allclose(one.combine(P[:1], X=X), P[0], rtol=1e-6, atol=atol),
        f"{name}: with one model the ensemble must be that model",
    )
    _check_regression_fitted(one, P[:1], y, X, "rmse", f"{name} (one model)")
    doubled = np.concatenate([P, P])
    for metric in _REGRESSION_METRICS:
        est = _fit(selector, doubled, y, metric, X)
        _check_regression_fitted(
            est, doubled, y, X, metric, f"{name} (duplicated models)"
        )
    # Constant predictions: every model predicts the target's mean everywhere.
    constant = np.full_like(P, np.float32(y.mean()))
    est = _fit(selector, constant, y, "rmse", X)
    _check_regression_fitted(
        est, constant, y, X, "rmse", f"{name} (constant predictions)"
    )


def _check_regression_bad_input(selector: Any, name: str) -> None:
    # 40 rows: more than the default neighbourhood of the dynamic selectors (30).
    P, y = make_regression_tensor(3, 40, random_state=7)
    X = np.random.default_rng(7).normal(size=(40, 2))
    bad_nan = P.copy()
    bad_nan[1, 2, 0] = np.nan
    y_nan = y.copy()
    y_nan[3] = np.nan
    cases = {
        "2-D P": (P[0], y),
        "empty P": (P[:0], y),
        "NaN in P": (bad_nan, y),
        "two output columns": (np.concatenate([P, P], axis=2), y),
        "y too short": (P, y[:-1]),
        "NaN in y": (P, y_nan),
        "2-D y": (P, y[:, None]),
        "non-numeric y": (P, y.astype(str)),
    }
    for case, (P_bad, y_bad) in cases.items():
        try:
            clone(selector).fit(P_bad, y_bad, metric="rmse", X=X)
        except ValueError:
            continue
        raise AssertionError(
            f"{name}: regression fit with {case} must raise ValueError"
        )
    try:
        clone(selector).fit(P, y, metric="no_such_metric", X=X)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{name}: an unknown metric must raise ValueError")
    fitted = clone(selector).fit(P, y, metric="rmse", X=X)
    try:
        fitted.combine(P[:2], X=X)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{name}: combine with the wrong n_models must raise")
