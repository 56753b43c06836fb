"""Stand-ins for the search: learners that misbehave on purpose, and an evaluator
that fits nothing.

They live in an importable module because the search evaluates trials in worker
processes, which must be able to unpickle them.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import CategoricalDistribution, FloatDistribution
from sklearn.base import BaseEstimator, ClassifierMixin

from autoens.search.evaluate import TrialResult
from autoens.space import FeatureTypes, LearnerSpec

__all__ = [
    "CrashingClassifier",
    "DyingClassifier",
    "FakeEvaluator",
    "HangingClassifier",
    "NaNClassifier",
    "SleepyClassifier",
    "fake_learner",
    "quadratic_learner",
    "read_evaluator_log",
    "sleepy_learner",
    "slow_worker_init",
]

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


class DyingClassifier(_FakeClassifier):
    """Ends the process that fits it (``os._exit``), like a segfault or the OOM
    killer: on Dask the worker dies, and its nanny starts a new one."""

    def fit(self, X: Any, y: Any) -> DyingClassifier:
        os._exit(13)


class SleepyClassifier(_FakeClassifier):
    """Sleeps ``seconds`` in ``fit``, then predicts the class frequencies nudged by
    ``x``: a slow learner whose trials finish, each with its own predictions."""

    def __init__(self, seconds: float = 0.0, x: float = 0.5) -> None:
        self.seconds = seconds
        self.x = x

    def fit(self, X: Any, y: Any) -> SleepyClassifier:
        time.sleep(self.seconds)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        tilt = np.linspace(-1.0, 1.0, len(self.prior_))
        proba = np.clip(self.prior_ + 0.05 * (self.x - 0.5) * tilt, 1e-3, None)
        return np.tile(proba / proba.sum(), (len(X), 1))


def _build_fake(params: dict[str, Any], feature_types: Any, random_state: int) -> Any:
    kinds = {
        "crash": CrashingClassifier,
        "hang": HangingClassifier,
        "nan": NaNClassifier,
        "die": DyingClassifier,
        "constant": _FakeClassifier,
    }
    return kinds[params["kind"]]()


def _build_sleepy(
    params: dict[str, Any], feature_types: Any, random_state: int, *, seconds: float
) -> Any:
    return SleepyClassifier(seconds=seconds, x=float(params["x"]))


def sleepy_learner(seconds: float) -> LearnerSpec:
    """A ``LearnerSpec`` named ``"sleepy"`` whose fit takes ``seconds`` per fold; its
    one hyper-parameter ``x`` in [0, 1] makes every config a distinct trial."""
    return LearnerSpec(
        name="sleepy",
        build=functools.partial(_build_sleepy, seconds=seconds),
        distributions={"x": FloatDistribution(0.0, 1.0)},
        defaults={"x": 0.5},
    )


def slow_worker_init(seconds: float) -> None:
    """A worker initializer that starts like the search's own, then takes ``seconds``
    longer, like the imports of a loaded machine. For tests that patch
    ``autoens.search.executors._init_worker`` with
    ``functools.partial(slow_worker_init, seconds)``."""
    from autoens.search import executors

    executors._init_worker()
    time.sleep(seconds)


def fake_learner(kind: str) -> LearnerSpec:
    """A ``LearnerSpec`` named ``kind`` whose estimator crashes, hangs, predicts NaN,
    ends its own process or predicts a constant (``kind`` in "crash", "hang", "nan",
    "die", "constant")."""
    return LearnerSpec(
        name=kind,
        build=_build_fake,
        distributions={"kind": CategoricalDistribution([kind])},
        defaults={"kind": kind},
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
    count what the workers really evaluated (with the sum of the ``sample_weight``
    the worker got, or null). Picklable: it runs in worker processes.
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
        sample_weight: np.ndarray | None = None,
    ) -> TrialResult:
        if self.log is not None:
            weight_sum = None if sample_weight is None else float(sample_weight.sum())
            line = json.dumps(
                {
                    "learner": spec.name,
                    "params": params,
                    "pid": os.getpid(),
                    "sample_weight_sum": weight_sum,
                }
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
