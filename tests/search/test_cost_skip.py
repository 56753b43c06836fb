"""The loop skips a sampler's proposal the cost model says cannot finish in time.

The learner is the fake ``quadratic`` one (no model is fit); the cost model is the
real one with a prior that makes every ``x > 0.5`` config far too slow, so which
proposals run is decided by the loop's rule alone.
"""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd

from autoens.cache import MemoryCache
from autoens.metrics import get_metric
from autoens.search import Budget, run_search
from autoens.search.cost import CostModel
from autoens.space import FeatureTypes
from autoens.task import ClassificationTask
from autoens.testing import FakeEvaluator, quadratic_learner


class SlowAboveHalf(CostModel):
    """1,000 s for ``x > 0.5``, 0.01 s otherwise."""

    def prior_many(self, learner, params):
        xs = np.array([p["x"] for p in params], dtype=float)
        return np.where(xs > 0.5, 1000.0, 0.01)


def _search(tmp_path, budget, cost, portfolio=()):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60)})
    task, y = ClassificationTask.from_target(rng.integers(2, size=60))
    folds = task.make_folds(X, y, n_splits=3, random_state=0)
    tmp_path.mkdir(exist_ok=True)
    storage = f"sqlite:///{tmp_path / 'run.db'}"
    records = run_search(
        X=X,
        y=y,
        folds=folds,
        task=task,
        feature_types=FeatureTypes(numeric=("a",)),
        specs=[quadratic_learner()],
        portfolio=list(portfolio),
        metric=get_metric("log_loss"),
        cache=MemoryCache(),
        budget=budget,
        search="random",
        storage=storage,
        n_jobs=1,
        random_state=0,
        evaluate=FakeEvaluator(),
        pruning=None,
        cost=cost,
    )
    (name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    return records, study.get_trials(deepcopy=False)


def _cost():
    return SlowAboveHalf(60, 1, n_folds=3)


def test_too_slow_proposals_are_skipped_and_not_counted(tmp_path):
    records, trials = _search(tmp_path, Budget(12, 120.0, None), _cost())
    assert len(records) == 12  # skipped proposals are not trials of n_trials
    skipped = [t for t in trials if t.user_attrs.get("status") == "skipped"]
    assert skipped, "random x in [0, 1] must draw some x > 0.5 in 12+ proposals"
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in skipped)
    assert all(t.params["quadratic__x"] > 0.5 for t in skipped)
    assert "predicted 1000.0s" in skipped[0].user_attrs["error"]
    # at most 8 skips in a row, then one runs anyway: so nearly all that ran are fast
    assert sum(r.params["x"] > 0.5 for r in records) <= len(skipped) // 8


def test_without_a_time_limit_or_for_the_warm_start_nothing_is_skipped(tmp_path):
    records, trials = _search(tmp_path, Budget(6, None, None), _cost(), portfolio=[])
    assert not [t for t in trials if t.user_attrs.get("status") == "skipped"]
    assert len(records) == 6

    slow_start = [("quadratic", {"x": 0.9, "shape": "a"})]
    records, _ = _search(
        tmp_path / "b", Budget(3, 120.0, None), _cost(), portfolio=slow_start
    )
    assert records[0].params["x"] == 0.9  # the portfolio's entry ran
