"""The population search shared by QO-ES and QDO-ES: ask → evaluate → tell.

:class:`_Search` runs one fit's search over the metric-reduced predictions, offering
every evaluated batch to an archive (:mod:`autoens.selectors.qdo_archives`); the
estimators in :mod:`autoens.selectors.qdo` only configure it and read its result.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

import numpy as np

from autoens.metrics import Metric
from autoens.selectors.qdo_archives import _QualityArchive, _SlidingGridArchive
from autoens.selectors.qdo_descriptors import _csr, _pair_means

__all__: list[str] = []

logger = logging.getLogger("autoens")

# Single-model losses are computed in chunks of at most this many float32 elements.
_CHUNK_ELEMENTS = 1 << 24
# The final step's float-noise guard, as in GES: compare losses rounded to 6 decimals
# unless they are within 1e-4 of zero.
_NOISE_FLOOR = 1e-4
_ROUND_DECIMALS = 6
# Evaluations kept back from the search for the final step (best elite and merge).
_FINAL_EVALUATIONS = 2
# The dynamic probabilities look at this many past batches and stay in these ranges.
_WINDOW = 10
_P_RANGE = (0.1, 0.9)
_Q_RANGE = (0.05, 0.95)
_INITIAL_P = 0.5
# An option needs this many solutions in the window before its probability moves.
_MIN_OPTION_SAMPLES = 3
# Guards an option's probability against 0/0 when both mean losses are zero.
_EPS = 1e-10
# Within one ask(): every this many rejected duplicates the step grows by one (the
# "emergency step"), and every this many crossover duplicates p_m grows by 0.1.
_REJECTS_PER_BUMP = 50
_P_M_BUMP = 0.1
# Hard stop for one ask(); the emergency step makes it unreachable in practice.
_MAX_REJECTS = 10_000


class _Batch:
    """Proposed solutions of one ask(), each with the elite its sum is built from."""

    def __init__(self) -> None:
        self.counts: list[np.ndarray] = []
        self.base: list[int] = []  # elite whose cached sum the child starts from, or -1
        self.crossover: list[int] = []  # 1, 0, or -1 for seeds
        self.mutated: list[int] = []  # after crossover: 1/0; -1 otherwise
        self.explore: list[int] = []  # random (1) or best (0) parents; -1 otherwise

    def __len__(self) -> int:
        return len(self.counts)

    def add(
        self,
        counts: np.ndarray,
        *,
        base: int = -1,
        crossover: int = -1,
        mutated: int = -1,
        explore: int = -1,
    ) -> None:
        self.counts.append(counts)
        self.base.append(base)
        self.crossover.append(crossover)
        self.mutated.append(mutated)
        self.explore.append(explore)


class _Search:
    """One QO/QDO-ES run over the reduced predictions ``R`` (K, ...) of the metric.

    Solution ids are positions in ``self.losses`` (and in a grid archive's buffer).
    """

    def __init__(
        self,
        metric: Metric,
        y: np.ndarray,
        R: np.ndarray,
        archive: _QualityArchive | _SlidingGridArchive,
        descriptors: list[np.ndarray],
        *,
        two_point: bool,
        rng: np.random.Generator,
        sample_weight: np.ndarray | None = None,
        init: str = "random_pairs",
        negative_steps: bool = False,
        extra_seeds: np.ndarray | None = None,
    ) -> None:
        self.metric, self.y, self.R = metric, y, R
        self.init = init
        # Mutations may also remove ``step`` copies of a member (encoded as K + j).
        self.negative_steps = negative_steps
        # Count vectors (n, K) evaluated before the seed pairs (GES's prefixes).
        self.extra_seeds = extra_seeds
        self.w = sample_weight  # row weights of every loss (None: unweighted)
        # Regression losses have the target's units: compare them relatively.
        self.relative = metric.task.family == "regression"
        self.n_models = R.shape[0]
        self.R2 = R.reshape(self.n_models, -1)
        self.archive = archive
        self.descriptors = descriptors
        self.two_point = two_point
        self.rng = rng
        self.p_crossover = self.p_mutation = self.q_explore = _INITIAL_P
        self.window: deque[tuple[np.ndarray, ...]] = deque(maxlen=_WINDOW)
        self.members: list[tuple[np.ndarray, np.ndarray]] = []  # sparse counts
        self.losses: list[float] = []
        self.seen: set[tuple[bytes, bytes]] = set()
        self.history: list[float] = []
        self.n_evaluations = 0
        # Cached sums of the elites' members (reduced layout, flattened).
        self.pool = np.empty((archive.capacity, self.R2.shape[1]), dtype=np.float32)
        self.row_of: dict[int, int] = {}
        self.free_rows = list(range(archive.capacity - 1, -1, -1))
        self.mutation_state: dict[int, list[Any]] = {}
        self._elites = self._ranked = np.empty(0, dtype=np.int64)
        self._means = np.empty(0, dtype=np.float32)
        self._dense: dict[int, np.ndarray] = {}  # count vectors of the elites

    # -- driver --

    def run(self, budget: int, batch_size: int) -> None:
        K = self.n_models
        single = _chunked_losses(self.metric, self.y, self.R, self.w)
        self.n_evaluations = K
        self.single_best = int(np.argmin(single))
        self.single_loss = float(single[self.single_best])
        for k in range(K):
            self.seen.add(_key(np.eye(1, K, k, dtype=np.int64)[0]))
        self.final_counts = np.eye(1, K, self.single_best, dtype=np.int64)[0]
        self.final_choice = "single_best"

        remaining = budget - K - _FINAL_EVALUATIONS
        if K < 2 or remaining < 1:
            return
        self._means = np.empty(
            (min(batch_size, remaining), self.R2.shape[1]), dtype=np.float32
        )

        fresh = self._seeds(single, remaining)
        for start in range(0, len(fresh), batch_size):
            batch = _Batch()
            for counts in fresh[start : start + batch_size]:
                batch.add(counts)
            self._evaluate_and_tell(batch, search=False)
        remaining -= len(fresh)

        while remaining > 0:
            batch = self._ask(min(batch_size, remaining))
            if not len(batch):
                logger.info("QO/QDO-ES: no new solutions found; stopping early.")
                break
            self._evaluate_and_tell(batch, search=True)
            remaining -= len(batch)
        self._finish()

    def _seeds(self, single: np.ndarray, remaining: int) -> list[np.ndarray]:
        """The initial population, at most ``remaining`` unseen count vectors.

        GES's prefix ensembles (``extra_seeds``) come first; a short budget keeps the
        last of them (the final ensemble matters most). Then pairs at 1:1: ⌊K/2⌋
        disjoint random pairs (``"random_pairs"``), or the single best model with
        every other model, best partners first (``"pairs_with_best"``).
        """
        K = self.n_models
        out: list[np.ndarray] = []
        if self.extra_seeds is not None:
            extra: dict[tuple[bytes, bytes], np.ndarray] = {}
            for c in np.asarray(self.extra_seeds, dtype=np.int64)[::-1]:
                if c.any() and _key(c) not in self.seen:
                    extra.setdefault(_key(c), c)
            out = list(extra.values())[:remaining][::-1]
            for c in out:  # claim only the evaluated ones
                self.seen.add(_key(c))
        room = remaining - len(out)
        if room < 1:
            return out
        if self.init == "pairs_with_best":
            others = np.argsort(single, kind="stable")
            others = others[others != self.single_best][:room]
            pairs = np.column_stack([np.full(others.size, self.single_best), others])
        else:
            pairs = self.rng.permutation(K)[: 2 * min(K // 2, room)].reshape(-1, 2)
        if not pairs.size:
            return out
        counts = np.zeros((len(pairs), K), dtype=np.int64)
        counts[np.arange(len(pairs))[:, None], pairs] = 1
        out.extend(c for c in counts if self._claim(c))
        return out

    def _finish(self) -> None:
        """Merge-or-best, then the single-best fallback, scored exactly as combine.

        "Better" means better after GES's float-noise guard (:func:`_better`), so a
        copy of the single best model cannot win by a rounding error.
        """
        elites = self.archive.elite_ids()
        if not elites.size:
            return
        losses = self.archive.losses_of(elites)
        best = int(elites[np.lexsort((elites, losses))[0]])
        candidates = [("best_elite", self.dense(best).copy())]
        merged = np.sum([self.dense(int(s)) for s in elites], axis=0)
        if _key(merged) != _key(candidates[0][1]):
            candidates.append(("merged", merged))
        E = np.stack([_canonical_mean(c, self.R) for _, c in candidates])
        scores = _finite(self.metric.loss_reduced(self.y, E, self.w))
        self.n_evaluations += len(candidates)
        better = self._better
        pick = 1 if len(candidates) == 2 and better(scores[1], scores[0]) else 0
        if better(scores[pick], self.single_loss):
            self.final_choice, self.final_counts = candidates[pick]

    def _better(self, loss: float, reference: float) -> bool:
        return _better(loss, reference, relative=self.relative)

    # -- ask --

    def _ask(self, n_wanted: int) -> _Batch:
        """Propose up to ``n_wanted`` solutions never seen before.

        Duplicates are rejected without evaluation. Every 50 rejections make the steps
        of this ask() one larger (the emergency step), and every 50 crossover
        duplicates raise this ask()'s p_m by 0.1.
        """
        rng = self.rng
        elites = self._elites = self.archive.elite_ids()
        self._ranked = elites[np.lexsort((elites, self.archive.losses_of(elites)))]
        batch = _Batch()
        rejected = crossover_duplicates = 0
        while len(batch) < n_wanted and rejected < _MAX_REJECTS:
            bonus = max(0, rejected - 1) // _REJECTS_PER_BUMP
            if elites.size >= 2 and rng.random() < self.p_crossover:
                (a, explore_a), (b, explore_b) = self._parent(), self._parent()
                explore = explore_a if explore_a == explore_b else -1  # mixed: neither
                p_mutation = self.p_mutation + _P_M_BUMP * (
                    max(0, crossover_duplicates - 1) // _REJECTS_PER_BUMP
                )
                for child in self._crossover(self.dense(a), self.dense(b)):
                    mutated = int(rng.random() < p_mutation)
                    if mutated:
                        child[self._random_target(child)] += 1 + bonus
                    if not self._claim(child):
                        rejected += 1
                        crossover_duplicates += 1
                        continue
                    # Build the child's sum from the parent it differs least from.
                    base = min(
                        (a, b), key=lambda p: np.count_nonzero(child != self.dense(p))
                    )
                    batch.add(
                        child,
                        base=base,
                        crossover=1,
                        mutated=mutated,
                        explore=explore,
                    )
                    if len(batch) == n_wanted:
                        break
            else:
                parent, explore = self._parent()
                target, step = self._next_step(parent)
                child = self.dense(parent).copy()
                if target < self.n_models:
                    child[target] += step + bonus
                else:  # a negative step: remove copies, never all of the ensemble
                    j = target - self.n_models
                    if child[j] < step + bonus or child.sum() <= step + bonus:
                        rejected += 1
                        continue
                    child[j] -= step + bonus
                if not self._claim(child):
                    rejected += 1
                    continue
                batch.add(child, base=parent, crossover=0, explore=explore)
        return batch

    def _parent(self) -> tuple[int, int]:
        """combined_dynamic: a uniform random elite with probability q (explore = 1),
        else the best elite (lowest loss, then oldest)."""
        if self.rng.random() < self.q_explore:
            return int(self._elites[self.rng.integers(self._elites.size)]), 1
        return int(self._ranked[0]), 0

    def _crossover(self, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
        if self.two_point:
            union = np.flatnonzero((a > 0) | (b > 0))
            if union.size >= 3:
                # Two distinct cut points in [0, n): swap union[lo:hi].
                i = int(self.rng.integers(union.size))
                j = int(self.rng.integers(union.size - 1))
                j += j >= i
                lo, hi = min(i, j), max(i, j)
                middle = union[lo:hi]
                first, second = a.copy(), b.copy()
                first[middle], second[middle] = b[middle], a[middle]
                children = [c for c in (first, second) if c.any()]
                if children:
                    return children
        return [(a + b + 1) // 2]  # ceil of the average

    def _random_target(self, counts: np.ndarray) -> int:
        """A uniform model index, never the only member of a one-model ensemble."""
        members = np.flatnonzero(counts)
        if members.size == 1:
            j = int(self.rng.integers(self.n_models - 1))
            return j + int(j >= members[0])
        return int(self.rng.integers(self.n_models))

    def _next_step(self, parent: int) -> tuple[int, int]:
        """Next untried (direction, step) from an elite; all tried: refill, step + 2.

        A direction ``j < K`` adds ``step`` copies of model j; with negative steps,
        ``K + j`` removes ``step`` copies of member j.
        """
        state = self.mutation_state.get(parent)
        if state is None:
            state = self.mutation_state[parent] = [self._directions(parent, 1), 1]
        elif not state[0]:
            state[1] += 2
            state[0] = self._directions(parent, state[1])
        untried = state[0]
        i = int(self.rng.integers(len(untried)))
        untried[i], untried[-1] = untried[-1], untried[i]
        return untried.pop(), state[1]

    def _directions(self, parent: int, step: int) -> list[int]:
        idx, cnt = self.members[parent]
        directions = list(range(self.n_models))
        if idx.size == 1:
            directions.remove(int(idx[0]))
        if self.negative_steps and idx.size > 1:
            # Members with at least ``step`` copies whose removal leaves a member.
            directions.extend((idx[cnt >= step] + self.n_models).tolist())
        return directions

    def _claim(self, counts: np.ndarray) -> bool:
        """Register a new solution; False if an equal weight vector was seen."""
        key = _key(counts)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    # -- evaluate and tell --

    def _evaluate_and_tell(self, batch: _Batch, *, search: bool) -> None:
        """Score a batch with one metric call, then offer it to the archive.

        A child's summed predictions are its base elite's cached sum plus
        ``(child - base) @ R``, a sparse product: one model for a mutation, the
        swapped or averaged positions for a crossover.
        """
        b = len(batch)
        counts = np.stack(batch.counts)
        bases = np.asarray(batch.base)
        has_base = np.flatnonzero(bases >= 0)
        diff = counts.copy()
        for i in has_base.tolist():
            diff[i] -= self.dense(int(bases[i]))
        S = np.asarray(_csr(diff, np.float32) @ self.R2)
        rows = [self.row_of[int(s)] for s in bases[has_base]]
        if has_base.size == b:
            S += self.pool[rows]
        elif has_base.size:
            S[has_base] += self.pool[rows]
        E = self._means[:b]
        np.divide(S, counts.sum(axis=1).astype(np.float32)[:, None], out=E)
        losses = _finite(
            self.metric.loss_reduced(self.y, E.reshape(b, *self.R.shape[1:]), self.w)
        )
        self.n_evaluations += b

        first = len(self.losses)
        desc = (
            _pair_means(counts > 0, self.descriptors)
            if self.descriptors
            else np.zeros((b, 0))
        )
        for row in counts:
            idx = row.nonzero()[0]
            self.members.append((idx, row[idx]))
        self.losses.extend(losses.tolist())
        self.archive.insert_batch(first, losses, desc)
        self._sync_pool(first, S)
        if search:
            self.window.append(
                (
                    losses,
                    np.asarray(batch.crossover),
                    np.asarray(batch.mutated),
                    np.asarray(batch.explore),
                )
            )
            self._update_probabilities()
        elites = self.archive.elite_ids()
        self.history.append(float(self.archive.losses_of(elites).min()))

    def _sums_from_counts(self, counts: np.ndarray) -> np.ndarray:
        """Summed member predictions of count vectors (b, K): a sparse product."""
        return np.asarray(_csr(counts, np.float32) @ self.R2)

    def _sync_pool(self, first: int, S: np.ndarray) -> None:
        """Keep exactly the current elites' sums cached (new ones from this batch's
        buffer, or recomputed for old solutions a remap brought back)."""
        elites = self.archive.elite_ids()
        keep = set(elites.tolist())
        for sid in [s for s in self.row_of if s not in keep]:
            self.free_rows.append(self.row_of.pop(sid))
            del self._dense[sid]
        for sid in [s for s in self.mutation_state if s not in keep]:
            del self.mutation_state[sid]
        missing = [int(s) for s in elites if int(s) not in self.row_of]
        for sid in missing:
            self._dense[sid] = self.dense(sid)
        old = [s for s in missing if s < first]
        for sid in missing:
            self.row_of[sid] = self.free_rows.pop()
            if sid >= first:
                self.pool[self.row_of[sid]] = S[sid - first]
        if old:
            sums = self._sums_from_counts(np.stack([self.dense(s) for s in old]))
            self.pool[[self.row_of[s] for s in old]] = sums

    def _update_probabilities(self) -> None:
        """Each option pair's probability from its mean loss over the window."""
        losses, crossover, mutated, explore = (
            np.concatenate(parts) for parts in zip(*self.window, strict=True)
        )
        ok = np.isfinite(losses)
        self.p_crossover = _option_probability(
            losses[ok & (crossover == 1)],
            losses[ok & (crossover == 0)],
            self.p_crossover,
            _P_RANGE,
        )
        self.p_mutation = _option_probability(
            losses[ok & (mutated == 1)],
            losses[ok & (mutated == 0)],
            self.p_mutation,
            _P_RANGE,
        )
        self.q_explore = _option_probability(
            losses[ok & (explore == 1)],
            losses[ok & (explore == 0)],
            self.q_explore,
            _Q_RANGE,
        )

    def dense(self, sid: int) -> np.ndarray:
        """The count vector of a solution (read-only; cached for elites)."""
        out = self._dense.get(sid)
        if out is None:
            idx, cnt = self.members[sid]
            out = np.zeros(self.n_models, dtype=np.int64)
            out[idx] = cnt
        return out


def _option_probability(
    loss_a: np.ndarray,
    loss_b: np.ndarray,
    current: float,
    limits: tuple[float, float],
) -> float:
    """P(option A) = mean_loss_B / (mean_loss_A + mean_loss_B), clipped.

    Q(D)O-ES's 1 - (avg_A + ε)/(avg_A + avg_B + ε) on objectives (negative losses),
    written on losses with ε on both sides so equal options get 0.5. Unchanged when an
    option produced fewer than 3 recent solutions or a mean loss is negative.
    """
    if min(loss_a.size, loss_b.size) < _MIN_OPTION_SAMPLES:
        return current
    a, b = float(loss_a.mean()), float(loss_b.mean())
    if a < 0 or b < 0:
        return current
    return float(np.clip((b + _EPS) / (a + b + 2 * _EPS), *limits))


def _key(counts: np.ndarray) -> tuple[bytes, bytes]:
    """Identity of the weight vector: members and counts divided by their gcd."""
    idx = counts.nonzero()[0]
    values = counts[idx]
    return idx.tobytes(), (values // math.gcd(*values.tolist())).tobytes()


def _better(loss: float, reference: float, *, relative: bool = False) -> bool:
    """``loss < reference`` beyond float noise: as GES's guard (AutoGluon's), both
    are rounded to 6 decimals unless the reference is within 1e-4 of zero; with
    ``relative`` (regression losses, in the target's units) to 6 decimals of
    ``|reference|``."""
    if relative:
        unit = abs(reference)
        if 0.0 < unit < math.inf:
            loss = round(loss / unit, _ROUND_DECIMALS)
            reference = round(reference / unit, _ROUND_DECIMALS)
    elif abs(reference) > _NOISE_FLOOR:
        loss, reference = (
            round(loss, _ROUND_DECIMALS),
            round(reference, _ROUND_DECIMALS),
        )
    return bool(loss < reference)


def _finite(losses: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(losses), losses, np.inf)


def _canonical_mean(counts: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``sum_k c_k * A[k] / sum(c)`` in float32, members in index order.

    Element-wise only, so it commutes with ``Metric.reduce``: on the reduced tensor it
    gives exactly the reduced form of what :meth:`combine` returns on ``P``.
    """
    S = np.zeros(A.shape[1:], dtype=np.float32)
    for k in np.flatnonzero(counts):
        S += np.float32(counts[k]) * A[k]
    S /= np.float32(counts.sum())
    return S


def _chunked_losses(
    metric: Metric, y: np.ndarray, R: np.ndarray, w: np.ndarray | None = None
) -> np.ndarray:
    """Loss of every model alone (one metric call per memory-bounded chunk)."""
    step = max(1, _CHUNK_ELEMENTS // max(1, R[0].size))
    out = np.empty(R.shape[0], dtype=np.float64)
    for start in range(0, R.shape[0], step):
        out[start : start + step] = metric.loss_reduced(y, R[start : start + step], w)
    return _finite(out)
