"""Learn a warm-start portfolio from a replay benchmark run (zero-shot, greedy).

A portfolio is good when the *ensemble* of its configurations is good across many
tasks, not when each config is good on average: a config that is weak alone but
complements the others earns its place. Following the zero-shot portfolios of
auto-sklearn 2.0 (Feurer et al. 2022, "Auto-sklearn 2.0: hands-free AutoML via
meta-learning") and TabRepo (Salinas & Erickson 2023, "TabRepo: a large scale
repository of tabular model evaluations and its AutoML applications"), configs are
added greedily, each step taking the one that most improves the mean normalised
score of the best ensemble built from the portfolio so far.

The recipe:

1. ``autoens portfolio candidates --size K --out candidates.json``
   (:func:`sample_candidates`): the default portfolio plus K configs drawn from the
   learners' search spaces. A portfolio is only learnable when every task evaluated
   the same configurations.
2. A replay suite with ``portfolio = "candidates.json"`` (and no ``n_trials``: it
   becomes the file's length) evaluates exactly those configs on every task-fold and
   saves each search under ``RESULTS_DIR/work/search/``.
3. ``autoens portfolio build RESULTS_DIR --size N --out portfolio.json``
   (:func:`load_replay`, :func:`build_portfolio`): configs matched across task-folds
   by (learner, params), then the greedy build.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoens.benchmark.rows import SUITE_FILE, WORK_DIR

__all__ = [
    "PortfolioBuild",
    "ReplayData",
    "SavedSearch",
    "build_portfolio",
    "config_key",
    "load_replay",
    "sample_candidates",
]

logger = logging.getLogger("autoens")

SCORES = ("validation", "test")
NORMALIZATIONS = ("range", "rank")
#: Test predictions of every config of a saved search, computed once by
#: :func:`load_replay` with ``score="test"`` and kept next to the search.
TEST_PREDICTIONS = "test_predictions.npz"
# Candidate ensembles are built in chunks of at most this many float32 elements.
_CHUNK_ELEMENTS = 1 << 24


def config_key(learner: str, params: Mapping[str, Any]) -> str:
    """The identity of a config across task-folds: canonical JSON of (learner,
    params), which keeps ``1`` and ``1.0`` apart as the search spaces do."""
    return json.dumps([learner, dict(sorted(params.items()))], allow_nan=True)


# -- 1. candidates ---------------------------------------------------------------


def sample_candidates(
    size: int,
    *,
    seed: int = 0,
    learners: Sequence[str] | None = None,
    family: str = "classification",
    include_default: bool = True,
) -> list[tuple[str, dict[str, Any]]]:
    """The default portfolio (when ``include_default``) followed by ``size`` distinct
    configs drawn uniformly from ``learners``' search spaces (a learner first, then
    its hyper-parameters, as random search draws them); complete params, so an
    enqueued trial is exactly this config."""
    import optuna

    from autoens.search.loop import quiet_optuna
    from autoens.space import get_learners, get_portfolio, suggest
    from autoens.task import ClassificationTask, RegressionTask

    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be a non-negative integer, got {size!r}")
    task = RegressionTask if family == "regression" else ClassificationTask
    specs = get_learners(None if learners is None else list(learners), task=task)
    configs = get_portfolio("default" if include_default else None, specs, task=task)
    seen = {config_key(*c) for c in configs}
    with quiet_optuna():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        drawn, attempts = 0, 0
        while drawn < size:
            attempts += 1
            if attempts > 100 * size + 100:
                raise ValueError(
                    f"could not draw {size} distinct configs from the spaces of "
                    f"{[s.name for s in specs]} (got {drawn}); ask for fewer"
                )
            learner, params = suggest(study.ask(), specs)
            key = config_key(learner, params)
            if key not in seen:
                seen.add(key)
                configs.append((learner, params))
                drawn += 1
    return configs


# -- 2. the saved searches of a replay run ------------------------------------------


@dataclasses.dataclass
class SavedSearch:
    """One task-fold's search: OOF predictions (and test predictions) of the
    candidates it evaluated, ``columns`` giving their candidate indices
    (ascending)."""

    name: str
    metric: Any
    y: np.ndarray
    sample_weight: np.ndarray | None
    oof: np.ndarray  # (n_here, n_samples, n_outputs) float32
    columns: np.ndarray  # (n_here,) int, ascending
    y_test: np.ndarray | None = None
    test: np.ndarray | None = None  # (n_here, n_test, n_outputs) float32


@dataclasses.dataclass
class ReplayData:
    """The candidates of a replay run, matched across its task-folds."""

    configs: list[tuple[str, dict[str, Any]]]
    family: str
    searches: list[SavedSearch]
    score: str
    results_dir: str
    #: Task-folds left out: no finished search (run the suite to the end first).
    missing: list[str] = dataclasses.field(default_factory=list)

    @property
    def coverage(self) -> np.ndarray:
        """(n_searches, n_candidates) bool: which task-fold evaluated which config."""
        out = np.zeros((len(self.searches), len(self.configs)), dtype=bool)
        for i, s in enumerate(self.searches):
            out[i, s.columns] = True
        return out


def load_replay(
    results_dir: str | os.PathLike[str],
    *,
    score: str = "validation",
    search: str | None = None,
    min_coverage: float = 0.5,
    verbose: int = 0,
) -> ReplayData:
    """Read every finished search of a replay run in ``results_dir``.

    Configs are matched across task-folds by (learner, params) (:func:`config_key`);
    those evaluated on fewer than ``min_coverage`` of the task-folds are left out
    (searches that went beyond a shared portfolio proposed them). ``score="test"``
    also needs each config's predictions on the outer test fold: read from
    ``test_predictions.npz`` beside the search, else computed with the saved fold
    models (which the search's cache keeps) and saved there. ``search`` picks the
    search strategy when the suite ran several (default: its first).
    """
    from autoens.benchmark.runner import suite_tasks
    from autoens.benchmark.suite import SuiteError, load_suite
    from autoens.benchmark.units import plan_units

    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage!r}")
    results = Path(results_dir)
    if not (results / SUITE_FILE).is_file():
        raise ValueError(
            f"{results_dir} has no {SUITE_FILE}: pass the directory written by "
            "`autoens benchmark run` of a replay suite"
        )
    try:
        suite = load_suite(results / SUITE_FILE)
    except SuiteError as exc:
        raise ValueError(f"{results / SUITE_FILE} cannot be read: {exc}") from None
    if suite.mode != "replay":
        raise ValueError(
            f"{results_dir} holds an {suite.mode} run, which saves no search; run a "
            "suite with mode = 'replay' (e.g. benchmarks/suites/portfolio-build.toml)"
        )
    searches = suite.searches
    if not searches:
        raise ValueError(f"the suite of {results_dir} has no SEARCH+SELECTOR method")
    if search is None:
        search = searches[0]
    elif search not in searches:
        raise ValueError(f"search {search!r} is not in the suite's {list(searches)}")
    method = next(m for m in suite.methods if m.startswith(f"{search}+"))
    try:
        tasks = suite_tasks(suite)
    except SuiteError as exc:
        raise ValueError(f"{results_dir}: {exc}") from None
    units = [u for u in plan_units(suite, tasks) if u.method == method]
    work = (results / WORK_DIR).resolve()
    keys: dict[str, int] = {}
    configs: list[tuple[str, dict[str, Any]]] = []
    loaded, missing, families = [], [], set()
    for unit in _progress(units, verbose, "reading searches"):
        name = f"{unit.task.id}/fold{unit.fold}/seed{unit.seed}"
        found = _read_search(unit, suite, work, score)
        if found is None:
            missing.append(name)
            continue
        model, y_test, test = found
        lib = model.library_
        families.add(model.task_.family)
        columns = []
        for learner, params in zip(lib.learners, lib.params, strict=True):
            key = config_key(learner, params)
            if key not in keys:
                keys[key] = len(configs)
                configs.append((learner, dict(params)))
            columns.append(keys[key])
        cols = np.asarray(columns, dtype=np.intp)
        order = np.argsort(cols, kind="stable")
        loaded.append(
            SavedSearch(
                name=name,
                metric=model.metric_,
                y=lib.y,
                sample_weight=lib.sample_weight,
                oof=np.ascontiguousarray(lib.oof[order], dtype=np.float32),
                columns=cols[order],
                y_test=y_test,
                test=None if test is None else np.ascontiguousarray(test[order]),
            )
        )
    if not loaded:
        raise ValueError(
            f"no finished search in {results_dir}: run `autoens benchmark run "
            f"SUITE.toml --out {results_dir}` to the end first"
        )
    if len(families) > 1:
        raise ValueError(
            f"{results_dir} mixes {sorted(families)} tasks; a portfolio serves one "
            "family: split the suite"
        )
    if missing:
        logger.warning(
            "%d task-fold(s) without a finished search are left out: %s",
            len(missing),
            ", ".join(missing[:5]),
        )
    data = ReplayData(configs, families.pop(), loaded, score, str(results), missing)
    return _keep_covered(data, min_coverage)


def _keep_covered(data: ReplayData, min_coverage: float) -> ReplayData:
    share = data.coverage.mean(axis=0)
    keep = np.flatnonzero(share >= min_coverage - 1e-12)
    if keep.size == 0:
        raise ValueError(
            f"no config was evaluated on {min_coverage:.0%} of the task-folds: the "
            "searches did not share a portfolio (see `autoens portfolio candidates`)"
        )
    if keep.size < len(data.configs):
        logger.info(
            "%d config(s) evaluated on fewer than %.0f%% of the task-folds left out",
            len(data.configs) - keep.size,
            100 * min_coverage,
        )
    new_index = np.full(len(data.configs), -1, dtype=np.intp)
    new_index[keep] = np.arange(keep.size)
    for s in data.searches:
        mapped = new_index[s.columns]
        kept = mapped >= 0
        s.columns = mapped[kept]
        s.oof = s.oof[kept]
        if s.test is not None:
            s.test = s.test[kept]
    data.configs = [data.configs[i] for i in keep]
    return data


def _read_search(
    unit: Any, suite: Any, work: Path, score: str
) -> tuple[Any, np.ndarray | None, np.ndarray | None] | None:
    """The saved model of one task-fold's search (None when not finished) and, for
    ``score="test"``, the outer test target and every library member's predictions."""
    import joblib

    from autoens.benchmark.units import _data, _encode_test, _search_dir

    folder = _search_dir(unit, work)
    if (
        not (folder / "model.joblib").is_file()
        or not (folder / "search.json").is_file()
    ):
        return None
    model = joblib.load(folder / "model.joblib")
    if score == "validation":
        return model, None, None
    lib = model.library_
    _, _, X_test, y_test = _data(unit, suite)
    y_enc = _encode_test(model.task_.family, getattr(model, "classes_", None), y_test)
    cached = folder / TEST_PREDICTIONS
    if cached.is_file():
        with np.load(cached) as saved:
            if np.array_equal(saved["trials"], lib.trials):
                return model, y_enc, saved["predictions"].astype(np.float32)
    from autoens.orchestrator import local_work

    frame = model._transform(X_test)
    try:
        with local_work():
            test = lib.predict(frame, range(len(lib))).astype(np.float32)
    except ValueError as exc:
        raise ValueError(
            f"{folder}: the test predictions need every config's fold models, kept "
            f"in the search's cache ({exc})"
        ) from None
    fd, tmp = tempfile.mkstemp(prefix=".test.", suffix=".npz", dir=folder)
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, trials=np.asarray(lib.trials), predictions=test)
    Path(tmp).replace(cached)
    return model, y_enc, test


# -- 3. the greedy build -------------------------------------------------------------


@dataclasses.dataclass
class PortfolioBuild:
    """The result of :func:`build_portfolio`.

    ``indices`` are candidate indices into ``data.configs`` in pick order;
    ``scores[i]`` is the mean normalised score over the task-folds of the best
    ensemble of the first ``i + 1`` picks, ``task_scores[i]`` its per-task-fold
    values (order of ``data.searches``).
    """

    data: ReplayData
    indices: list[int]
    scores: np.ndarray
    task_scores: np.ndarray
    ensemble_size: int
    normalize: str
    random_state: int

    @property
    def configs(self) -> list[tuple[str, dict[str, Any]]]:
        """The portfolio: ``(learner, params)`` in pick order."""
        return [self.data.configs[i] for i in self.indices]

    def metadata(self, command: str | None = None) -> dict[str, Any]:
        """What the portfolio file records about how it was built."""
        return {
            "kind": "learned",
            "command": command,
            "results_dir": self.data.results_dir,
            "score": self.data.score,
            "normalize": self.normalize,
            "ensemble_size": self.ensemble_size,
            "random_state": self.random_state,
            "n_candidates": len(self.data.configs),
            "task_folds": [s.name for s in self.data.searches],
            "tasks": sorted({s.name.split("/fold")[0] for s in self.data.searches}),
            "mean_normalised_scores": [round(float(v), 6) for v in self.scores],
        }


def build_portfolio(
    data: ReplayData,
    size: int,
    *,
    ensemble_size: int = 25,
    normalize: str = "range",
    random_state: int = 0,
    verbose: int = 0,
) -> PortfolioBuild:
    """Pick ``size`` configs of ``data`` greedily for the best ensemble across tasks.

    "The best ensemble" of a set of configs, on one task-fold, is the greedy ensemble
    selection (GES, :class:`autoens.selectors.GreedyEnsembleSelection` with
    ``ensemble_size`` and ``random_state``, the selector a search ends with by default)
    fit on those configs' OOF predictions, the models in candidate order. That is what
    a search starting from the portfolio would build, so the portfolio is chosen for
    the ensemble it yields rather than for its members' own scores. Its loss is the
    OOF loss GES reached (``data.score == "validation"``) or the loss of the same
    weights on the outer test fold (``"test"``).

    Each task-fold's loss is normalised against its single configs so that every
    task weighs the same: ``"range"`` maps the worst config to 0 and the best to 1
    (an ensemble can exceed 1); ``"rank"`` is the share of single configs the
    ensemble beats (ties count a half). A task-fold where no chosen config was
    evaluated scores 0. Each step adds the candidate with the highest mean, the
    lower candidate index on ties.

    Every candidate's GES of one step runs at once: the candidates' ensembles are
    one batch of the metric's vectorised loss per greedy iteration, with GES's
    decisions (float-noise rounding, ties to members already in, ``use_best``)
    reproduced exactly.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}"
        )
    if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, int):
        raise ValueError(f"ensemble_size must be an integer, got {ensemble_size!r}")
    if ensemble_size < 1:
        raise ValueError(f"ensemble_size must be at least 1, got {ensemble_size}")
    n_candidates = len(data.configs)
    if size > n_candidates:
        raise ValueError(
            f"size {size} is more than the {n_candidates} candidates in the run"
        )
    if data.score == "test" and any(s.test is None for s in data.searches):
        raise ValueError("score='test' needs test predictions: load_replay(score=...)")
    tasks = [_TaskFold(s, data.score, normalize, n_candidates) for s in data.searches]
    chosen: list[int] = []
    scores, task_scores = [], []
    steps = _progress(range(size), verbose, "building portfolio", unit="config")
    for _ in steps:
        table = np.empty((len(tasks), n_candidates), dtype=np.float64)
        for t, task in enumerate(tasks):
            table[t] = task.step_scores(chosen, ensemble_size, random_state)
        mean = table.mean(axis=0)
        mean[chosen] = -np.inf
        pick = int(np.argmax(mean))
        chosen.append(pick)
        scores.append(mean[pick])
        task_scores.append(table[:, pick])
        if verbose > 1:
            logger.info("pick %d: %s (mean score %.4f)", len(chosen), pick, mean[pick])
    return PortfolioBuild(
        data=data,
        indices=chosen,
        scores=np.asarray(scores),
        task_scores=np.asarray(task_scores),
        ensemble_size=ensemble_size,
        normalize=normalize,
        random_state=random_state,
    )


class _TaskFold:
    """One task-fold's side of the build: the normalisation and the batched GES."""

    def __init__(
        self, s: SavedSearch, score: str, normalize: str, n_candidates: int
    ) -> None:
        self.s = s
        self.normalize = normalize
        self.metric = s.metric
        n, k = s.oof.shape[1:]
        self.y = s.metric.check_target(s.y, n, k)
        self.w = s.metric.check_sample_weight(s.sample_weight, n)
        self.R = s.metric.reduce_all(self.y, s.oof)
        self.on_test = score == "test"
        if self.on_test:
            assert s.test is not None and s.y_test is not None
            self.y_test = s.metric.check_target(s.y_test, *s.test.shape[1:])
            single = s.metric.loss(self.y_test, s.test)
        else:
            single = s.metric.loss(self.y, s.oof, self.w)
        self.single = np.where(np.isfinite(single), single, np.inf)
        finite = self.single[np.isfinite(self.single)]
        self.best = float(finite.min()) if finite.size else 0.0
        self.worst = float(finite.max()) if finite.size else 0.0
        # candidate index -> position in this task-fold's arrays (-1: not evaluated)
        self.position = np.full(n_candidates, -1, dtype=np.intp)
        self.position[s.columns] = np.arange(s.columns.size)

    def normalised(self, losses: np.ndarray) -> np.ndarray:
        """Scores of ensemble ``losses``: higher is better, 1 = the best config."""
        losses = np.where(np.isfinite(losses), losses, np.inf)
        if self.normalize == "rank":
            single = self.single[None, :]
            beats = (losses[:, None] < single).sum(1) + 0.5 * (
                losses[:, None] == single
            ).sum(1)
            return beats / single.shape[1]
        span = self.worst - self.best
        if span <= 0:
            return np.where(losses <= self.best, 1.0, 0.0)
        return (self.worst - losses) / span

    def step_scores(
        self, chosen: list[int], ensemble_size: int, seed: int
    ) -> np.ndarray:
        """Normalised score of the best ensemble of ``chosen + [c]``, every ``c``."""
        base = self.position[np.asarray(chosen, dtype=np.intp)]
        base = np.sort(base[base >= 0])
        if base.size:
            base_score = self.normalised(
                self._losses(base[None, :], ensemble_size, seed)
            )[0]
        else:
            base_score = 0.0
        out = np.full(self.position.size, base_score, dtype=np.float64)
        new = np.setdiff1d(self.s.columns, np.asarray(chosen, dtype=np.intp))
        if new.size:
            local = self.position[new]
            pools = np.sort(
                np.concatenate(
                    [np.broadcast_to(base, (local.size, base.size)), local[:, None]],
                    axis=1,
                ),
                axis=1,
            )
            out[new] = self.normalised(self._losses(pools, ensemble_size, seed))
        return out

    def _losses(self, pools: np.ndarray, ensemble_size: int, seed: int) -> np.ndarray:
        """Losses (validation or test) of the GES ensembles of each row of
        ``pools`` (positions, ascending), in chunks of rows."""
        per_row = pools.shape[1] * self.R[0].size
        step = max(1, _CHUNK_ELEMENTS // max(1, per_row))
        return np.concatenate(
            [
                self._ges(pools[i : i + step], ensemble_size, seed)
                for i in range(0, pools.shape[0], step)
            ]
        )

    def _ges(self, pools: np.ndarray, ensemble_size: int, seed: int) -> np.ndarray:
        """:class:`~autoens.selectors.GreedyEnsembleSelection` (``use_best``, no
        sorted initialisation) on ``P[pool]`` for every row of ``pools`` at once."""
        from autoens.selectors.base import check_generator, loss_noise_unit

        metric, y, w, R = self.metric, self.y, self.w, self.R
        B, m = pools.shape
        rows = np.arange(B)
        S = np.zeros((B, *R.shape[1:]), dtype=np.float32)
        counts = np.zeros((B, m), dtype=np.int64)
        order = np.zeros((B, ensemble_size), dtype=np.intp)
        trajectory = np.full((B, ensemble_size), np.inf)
        units = np.full(B, np.nan)
        generators: dict[int, np.random.Generator] = {}
        members = R[pools]  # (B, m, ...)
        n_iterations = 1 if m == 1 else ensemble_size
        for iteration in range(n_iterations):
            E = S[:, None] + members
            np.divide(E, np.float32(iteration + 1), out=E)
            losses = metric.loss_reduced(y, E.reshape(B * m, *R.shape[1:]), w).reshape(
                B, m
            )
            losses[~np.isfinite(losses)] = np.inf
            if iteration == 0:
                for b, reference in enumerate(losses.min(axis=1)):
                    unit = loss_noise_unit(metric, reference)
                    units[b] = np.nan if unit is None else unit
            losses = _round(losses, units)
            tie = losses == losses.min(axis=1, keepdims=True)
            used = tie & (counts > 0)
            tie = np.where(used.any(axis=1, keepdims=True), used, tie)
            j = np.argmax(tie, axis=1)
            for b in np.flatnonzero(tie.sum(axis=1) > 1):  # ties: GES draws one
                rng = generators.setdefault(int(b), check_generator(seed))
                options = np.flatnonzero(tie[b])
                j[b] = options[rng.integers(options.size)]
            S += members[rows, j]
            counts[rows, j] += 1
            order[:, iteration] = j
            trajectory[:, iteration] = losses[rows, j]
        best = np.argmin(trajectory, axis=1)  # use_best: the first lowest
        return self._kept_losses(pools, order, best)

    def _kept_losses(
        self, pools: np.ndarray, order: np.ndarray, best: np.ndarray
    ) -> np.ndarray:
        """Loss of each kept ensemble, summed in selection order in float32 as
        GES's ``combine`` does (so the validation loss is ``validation_loss_``)."""
        P, y, w = (
            (self.s.test, self.y_test, None)
            if self.on_test
            else (self.s.oof, self.y, self.w)
        )
        B = pools.shape[0]
        rows = np.arange(B)
        E = np.zeros((B, *P.shape[1:]), dtype=np.float32)
        for i in range(int(best.max()) + 1):
            live = rows[best >= i]
            E[live] += P[pools[live, order[live, i]]]
        E /= (best + 1).astype(np.float32)[:, None, None]
        return self.metric.loss(y, E, w)


def _round(losses: np.ndarray, units: np.ndarray) -> np.ndarray:
    """:func:`autoens.selectors.base.round_losses` with one unit per row (NaN: none)."""
    out = losses.copy()
    one = units == 1.0
    out[one] = np.round(losses[one], 6)
    other = ~one & ~np.isnan(units)
    if other.any():
        u = units[other][:, None]
        out[other] = np.round(losses[other] / u, 6) * u
    return out


def _progress(items: Any, verbose: int, desc: str, unit: str = "it") -> Any:
    if verbose <= 0:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit=unit, dynamic_ncols=True)
