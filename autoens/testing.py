"""Public helpers for testing autoens plug-ins (and code built on them).

``make_prediction_tensor`` builds a realistic cached-prediction tensor without fitting a
model; ``check_selector`` and ``check_cache`` run the shared contracts of a selector
and of a prediction cache (``docs/architecture.md``), so a new plug-in is tested by
one call. ``FakeEvaluator`` lets the search loop run without fitting a learner. The
helpers raise ``AssertionError`` with a message naming the broken rule, and need no
test framework.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import CategoricalDistribution, FloatDistribution
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError

from autoens.cache import CacheEntry, make_key
from autoens.metrics import get_metric
from autoens.search.evaluate import TrialResult
from autoens.space import FeatureTypes, LearnerSpec

__all__ = [
    "FAST_FIT",
    "FakeEvaluator",
    "check_cache",
    "check_selector",
    "fake_learner",
    "make_prediction_tensor",
    "quadratic_learner",
    "read_evaluator_log",
]


def make_prediction_tensor(
    n_models: int = 10,
    n_samples: int = 200,
    n_classes: int = 2,
    *,
    random_state: int | np.random.Generator | None = 0,
    quality_spread: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic OOF predictions: ``P`` float32 (n_models, n_samples, n_classes), ``y``.

    The models look like a real search library: they share the task's irreducible noise
    and, within a "family" of three, a family error (so they are correlated), differ in
    strength by a factor up to ``exp(quality_spread)`` and in calibration, and every
    third model outputs a few distinct, smoothed leaf-like values (so scores tie, as
    trees' do). Classes are imbalanced but all present. Rows sum to one.
    """
    if n_models < 1 or n_classes < 2 or n_samples < n_classes:
        raise ValueError(
            "need n_models >= 1, n_classes >= 2 and n_samples >= n_classes; got "
            f"{n_models}, {n_classes}, {n_samples}."
        )
    rng = np.random.default_rng(random_state)
    priors = rng.dirichlet(np.full(n_classes, 4.0))
    y = rng.choice(n_classes, size=n_samples, p=priors)
    y[:n_classes] = np.arange(n_classes)
    y = rng.permutation(y)

    signal = 2.0 * np.eye(n_classes)[y]
    shared = rng.normal(0.0, 1.0, size=(n_samples, n_classes))
    n_families = -(-n_models // 3)
    family = rng.normal(0.0, 1.0, size=(n_families, n_samples, n_classes))
    strength = np.exp(-quality_spread * rng.uniform(0.0, 1.0, size=n_models))
    temperature = rng.uniform(0.6, 1.6, size=n_models)

    P = np.empty((n_models, n_samples, n_classes), dtype=np.float32)
    for k in range(n_models):
        own = rng.normal(0.0, 1.0, size=(n_samples, n_classes))
        logits = strength[k] * signal + shared + 0.7 * family[k // 3] + 0.7 * own
        logits /= temperature[k]
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        if k % 3 == 2:  # leaf-like: counts out of 10 with Laplace smoothing
            proba = np.round(proba * 10.0) + 1.0
            proba /= proba.sum(axis=1, keepdims=True)
        P[k] = proba
    return P, y.astype(np.int64)


#: A fit budget small enough for tests: three trials of two quick learners, 2-fold CV.
FAST_FIT: dict[str, Any] = {
    "n_trials": 3,
    "cv": 2,
    "learners": ["logreg", "hist_gb"],
    "random_state": 0,
}


# --- selector contract ----------------------------------------------------------------

_N_MODELS = 6
_N_SAMPLES = 120
# GES rounds losses to 6 decimals when choosing, so "never worse than the single best"
# holds up to this slack.
_SINGLE_BEST_TOL = 1e-6


def check_selector(selector: Any, *, n_classes: tuple[int, ...] = (2, 3)) -> None:
    """Run the shared selector contract on (clones of) ``selector``.

    Checks: scikit-learn cloning; ``combine`` before ``fit`` raises ``NotFittedError``;
    for each class count and for ROC AUC and log loss: fitted attributes, output shape,
    dtype and finiteness, rows on the simplex, simplex ``weights_`` matching
    ``combine`` (static selectors), ``validation_loss_``, ``required_members_``;
    determinism under ``random_state``; one model, duplicated models and constant
    predictions; clear ``ValueError`` on bad input; and, when the selector declares
    ``_guarantees_single_best``, a fit loss no worse than SingleBest's.
    """
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


def _expect(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)


# --- learners that misbehave on purpose (for search-loop tests) ---------------------
# They live here, in an importable module, because the search evaluates trials in worker
# processes, which must be able to unpickle them.


class _FakeClassifier(ClassifierMixin, BaseEstimator):
    """Base of the misbehaving learners: remembers the classes like a real one."""

    def fit(self, X: Any, y: Any) -> _FakeClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        n = len(X)
        return np.full((n, len(self.classes_)), 1.0 / len(self.classes_))


class CrashingClassifier(_FakeClassifier):
    """Raises in ``fit``, like a learner with a bug."""

    def fit(self, X: Any, y: Any) -> CrashingClassifier:
        raise RuntimeError("CrashingClassifier always fails")


class HangingClassifier(_FakeClassifier):
    """Never returns from ``fit``, like a learner stuck in a loop."""

    def fit(self, X: Any, y: Any) -> HangingClassifier:
        while True:
            time.sleep(1.0)


class NaNClassifier(_FakeClassifier):
    """Predicts NaN probabilities, like a diverged model."""

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), len(self.classes_)), np.nan)


def _build_fake(params: dict[str, Any], feature_types: Any, random_state: int) -> Any:
    kinds = {
        "crash": CrashingClassifier,
        "hang": HangingClassifier,
        "nan": NaNClassifier,
        "constant": _FakeClassifier,
    }
    return kinds[params["kind"]]()


def fake_learner(kind: str) -> LearnerSpec:
    """A ``LearnerSpec`` named ``kind`` whose estimator crashes, hangs, predicts NaN or
    predicts a constant (``kind`` in "crash", "hang", "nan", "constant")."""
    return LearnerSpec(
        name=kind,
        build=_build_fake,
        distributions={"kind": CategoricalDistribution([kind])},
        defaults={"kind": kind},
    )


# --- the prediction-cache contract ---------------------------------------------------

_CACHE_FP = "c0ffee" * 10 + "beef"  # a fingerprint for the contract's keys


def _contract_entry(seed: int, n_outputs: int = 3) -> CacheEntry:
    rng = np.random.default_rng(seed)
    oof = rng.dirichlet(np.ones(n_outputs), size=40).astype(np.float32)
    params = {"alpha": float(seed), "depth": seed % 4, "kind": ["a", "b"][seed % 2]}
    models = [{"fold": k, "coef": rng.normal(size=3).tolist()} for k in range(3)]
    meta = {"learner": "contract", "params": params, "loss": 0.1 * seed}
    return CacheEntry(make_key("contract", params, _CACHE_FP), oof, models, meta)


def check_cache(cache: Any) -> None:
    """Run the prediction-cache contract on an *empty* cache object.

    Checks: the protocol's members (``persistent``, ``get(key, *, load_models)``,
    ``put``, ``__contains__``, ``keys``, ``__len__``); a round trip of predictions,
    fold models and JSON metadata (tuples read back as lists); ``load_models=False``
    (no models, same predictions and metadata); absent keys; overwriting; that editing
    an array from ``get`` cannot change what later readers see; that unusable entries
    (NaN predictions, 1-D predictions, a key that is not a file-safe name) are refused
    with ``ValueError`` at ``put``; and, for a persistent cache, that a pickled copy
    sees the same entries.
    """
    name = type(cache).__name__
    for member in ("persistent", "get", "put", "__contains__", "keys", "__len__"):
        _expect(hasattr(cache, member), f"{name}: lacks {member}")
    _expect(isinstance(cache.persistent, bool), f"{name}: persistent must be a bool")
    _expect(len(cache) == 0 and list(cache.keys()) == [], f"{name}: must start empty")

    first, second = _contract_entry(1), _contract_entry(2)
    _expect(cache.get(first.key) is None, f"{name}: get of an absent key")
    _expect(first.key not in cache, f"{name}: __contains__ of an absent key")
    cache.put(first)
    cache.put(second)
    _expect(
        sorted(cache.keys()) == sorted([first.key, second.key]) and len(cache) == 2,
        f"{name}: keys()/len() after two puts",
    )
    _expect(first.key in cache and 42 not in cache, f"{name}: __contains__")
    for entry in (first, second):
        got = cache.get(entry.key)
        _expect(got is not None, f"{name}: get of a stored key returned None")
        _expect(got.key == entry.key, f"{name}: entry key changed")
        _expect(
            isinstance(got.oof, np.ndarray)
            and got.oof.dtype == np.float32
            and np.array_equal(got.oof, entry.oof),
            f"{name}: predictions must read back as the same float32 array",
        )
        _expect(got.models == entry.models, f"{name}: fold models changed")
        _expect(
            got.meta == json.loads(json.dumps(entry.meta)),
            f"{name}: metadata must read back as its JSON round trip",
        )
        light = cache.get(entry.key, load_models=False)
        _expect(
            light is not None
            and light.models is None
            and np.array_equal(light.oof, entry.oof)
            and light.meta == got.meta,
            f"{name}: get(load_models=False) must give predictions and metadata, "
            "models None",
        )
    # Readers cannot change what later readers see.
    got = cache.get(first.key)
    try:
        got.oof[0, 0] += 1.0
    except ValueError:
        pass  # read-only: fine
    got.meta["loss"] = -1.0
    again = cache.get(first.key)
    _expect(
        np.array_equal(again.oof, first.oof) and again.meta["loss"] == 0.1,
        f"{name}: editing what get() returned changed the stored entry",
    )
    # Overwrite.
    replaced = CacheEntry(first.key, second.oof, second.models, second.meta)
    cache.put(replaced)
    got = cache.get(first.key)
    _expect(
        len(cache) == 2 and np.array_equal(got.oof, second.oof),
        f"{name}: put must overwrite an existing key",
    )
    # Unusable entries are refused at put, and leave no entry behind.
    bad_nan = _contract_entry(3)
    bad_nan.oof[0, 0] = np.nan
    bad_shape = _contract_entry(4)
    bad_shape = CacheEntry(bad_shape.key, bad_shape.oof[:, 0], [], bad_shape.meta)
    bad_key = CacheEntry("../escape", _contract_entry(5).oof, [], {"loss": 0.0})
    for what, entry in (("NaN", bad_nan), ("1-D", bad_shape), ("unsafe key", bad_key)):
        try:
            cache.put(entry)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{name}: put of an entry with {what} must raise")
        _expect(entry.key not in cache, f"{name}: a refused put left an entry")
    if cache.persistent:
        copy_ = pickle.loads(pickle.dumps(cache))
        _expect(
            sorted(copy_.keys()) == sorted(cache.keys())
            and np.array_equal(copy_.get(second.key).oof, second.oof),
            f"{name}: a persistent cache must pickle, and its copy see its entries",
        )


# --- a search without learners --------------------------------------------------------


def quadratic_learner(name: str = "quadratic") -> LearnerSpec:
    """A learner spec for :class:`FakeEvaluator`: a float ``x`` in [0, 1] whose best
    value is 0.3, and a categorical ``shape`` (``"a"`` slightly better than ``"b"``).
    Its ``build`` is never called by the fake evaluator."""
    return LearnerSpec(
        name=name,
        build=_build_fake,
        distributions={
            "x": FloatDistribution(0.0, 1.0),
            "shape": CategoricalDistribution(("a", "b")),
        },
        defaults={"x": 0.5, "shape": "a"},
    )


@dataclass(frozen=True)
class FakeEvaluator:
    """Stands in for ``evaluate_config`` so the search loop runs without fitting.

    Its predictions depend only on the configuration (and the rows), so a config
    always gets the same loss: class probabilities whose signal is strongest at
    ``x = 0.3`` (:func:`quadratic_learner`). It sleeps ``delay`` seconds (plus
    ``params["delay"]`` if the space has one), fails when ``params.get("fail")`` is
    true, and appends one JSON line per call to ``log`` (a file path) so a test can
    count what the workers really evaluated. Picklable: it runs in worker processes.
    """

    delay: float = 0.0
    log: str | None = None

    def __call__(
        self,
        spec: LearnerSpec,
        params: dict[str, Any],
        X: pd.DataFrame,
        y: np.ndarray,
        splits: tuple[tuple[np.ndarray, np.ndarray], ...],
        feature_types: FeatureTypes,
        task: Any,
        random_state: int,
    ) -> TrialResult:
        if self.log is not None:
            line = json.dumps(
                {"learner": spec.name, "params": params, "pid": os.getpid()}
            )
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        time.sleep(self.delay + float(params.get("delay", 0.0)))
        if params.get("fail"):
            return TrialResult(status="failed", error="FakeEvaluator: asked to fail")
        text = json.dumps([spec.name, params], sort_keys=True, default=str)
        seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        x = float(params.get("x", 0.5))
        strength = 3.0 - 8.0 * (x - 0.3) ** 2 - 0.3 * (params.get("shape") == "b")
        n_outputs = task.n_outputs
        logits = rng.normal(size=(len(y), n_outputs))
        logits[np.arange(len(y)), y] += strength
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        models = [
            copy.deepcopy({"fold": k, "params": params}) for k in range(len(splits))
        ]
        return TrialResult(
            status="ok",
            oof=proba.astype(np.float32),
            models=models,
            fit_time=self.delay,
            predict_time=0.0,
        )


def read_evaluator_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The calls a :class:`FakeEvaluator` logged, oldest first (none if no file)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
