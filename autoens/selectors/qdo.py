"""QO-ES and QDO-ES: population-based ensemble selection (specs/selectors.md §2).

Purucker et al. (AutoML Conf 2023) search the same space as GES, repetition (count)
vectors c with weights c / sum(c), but with a population instead of one greedy path.
The budget is GES's: ``n_iterations`` × K metric evaluations in all. The run:

1. Evaluate every model alone (K evaluations); the best is the fallback.
2. Seed the archive with ⌊K/2⌋ disjoint random pairs at 1:1 ("RandomL2Combinations").
3. Repeat ask → evaluate → tell with batches of ``batch_size`` new solutions. A child
   is a mutation of one elite (add ``step`` copies of a model not yet tried from that
   elite: a random GES step) or a crossover of two elites (QO: the rounded-up
   average; QDO: two-point on the union of their members), possibly mutated too.
   Parents are the best elite or, with probability q, random elites; the crossover,
   mutate-after-crossover and q probabilities follow whichever option produced the
   lower mean loss over the last 10 batches.
4. QO-ES keeps the ``max_elites`` best solutions. QDO-ES keeps the best solution per
   cell of a 7×7 grid over two diversity descriptors (average loss correlation of the
   members, and their configuration similarity), whose bin edges slide to the
   quantiles of all descriptors seen so far (Fontaine et al. 2019).
5. The result is the sum of all elites' counts if that beats the best elite, else the
   best elite, and the single best model if neither beats it (beyond float noise:
   losses rounded to 6 decimals, GES's guard).

Speed: every elite's summed predictions are cached (float32, in the metric's reduced
layout, see :meth:`autoens.metrics.Metric.reduce`). A child's sum is its parent's plus
a sparse product over the models whose counts changed (one model for a mutation), and
each batch is scored by one vectorised metric call. Descriptors are means over K×K
matrices computed once. Memory: the reduced tensor, one cached sum per archive slot and
two batch-sized buffers. The final ensemble is scored with the arithmetic of
:meth:`~QualityOptimizationES.combine`, so the single-best guarantee is exact.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from autoens.metrics import Metric
from autoens.selectors.base import BaseSelector, check_generator, check_int_param

__all__ = [
    "QualityDiversityOptimizationES",
    "QualityOptimizationES",
    "config_similarity",
    "ensemble_descriptors",
    "loss_correlation",
]

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
# A loss vector whose standard deviation is below this is treated as constant (its
# correlations are undefined; they count as 0, like NaN in the spec).
_CONSTANT_STD = 1e-6


class _PopulationES(BaseSelector):
    """Shared implementation of QO-ES and QDO-ES (the archive and crossover differ)."""

    _guarantees_single_best: ClassVar[bool] = True
    #: True: sliding grid archive and two-point crossover (QDO-ES); False: quality
    #: archive and average crossover (QO-ES).
    _diverse: ClassVar[bool] = False

    def __init__(
        self,
        *,
        n_iterations: int = 50,
        batch_size: int = 40,
        max_elites: int = 49,
        random_state: Any = None,
    ) -> None:
        self.n_iterations = n_iterations
        self.batch_size = batch_size
        self.max_elites = max_elites
        self.random_state = random_state

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_iterations = check_int_param("n_iterations", self.n_iterations, 1)
        batch_size = check_int_param("batch_size", self.batch_size, 1)
        max_elites = check_int_param("max_elites", self.max_elites, 1)
        rng = check_generator(self.random_state)
        n_models = P.shape[0]

        descriptors: list[np.ndarray] = []
        if self._diverse:
            similarity = None if configs is None else config_similarity(configs)
            descriptors.append(loss_correlation(P, y))
            if similarity is None:
                logger.info(
                    "%s: no configs given; the archive is a 1-D grid of %d cells over "
                    "the loss correlation alone.",
                    type(self).__name__,
                    max_elites,
                )
                bins: tuple[int, ...] = (max_elites,)
                self.descriptor_names_ = ("loss_correlation",)
            else:
                descriptors.append(similarity)
                side = math.isqrt(max_elites)
                bins = (side, side)
                self.descriptor_names_ = ("loss_correlation", "config_similarity")
            archive: _QualityArchive | _SlidingGridArchive = _SlidingGridArchive(
                bins, first_remap=n_models + batch_size, remap_every=n_models
            )
        else:
            self.descriptor_names_ = ()
            archive = _QualityArchive(max_elites)

        search = _Search(
            self.metric_,
            y,
            self.metric_.reduce_all(y, P),
            archive,
            descriptors,
            two_point=self._diverse,
            rng=rng,
        )
        search.run(n_iterations * n_models, batch_size)
        self._set_fitted(search)

    def _set_fitted(self, search: _Search) -> None:
        self.counts_ = search.final_counts
        self.weights_ = self.counts_ / self.counts_.sum()
        self.final_choice_ = search.final_choice
        self.single_best_index_ = search.single_best
        self.n_evaluations_ = search.n_evaluations
        self.val_loss_history_ = np.asarray(search.history, dtype=np.float64)
        elites = search.archive.elite_ids()
        self.archive_size_ = int(elites.size)
        self.archive_counts_ = np.array(
            [search.dense(int(s)) for s in elites], dtype=np.int64
        ).reshape(elites.size, search.n_models)
        self.archive_losses_ = search.archive.losses_of(elites)
        self.evaluated_losses_ = np.asarray(search.losses, dtype=np.float64)
        self.operator_probabilities_ = {
            "crossover": search.p_crossover,
            "mutation": search.p_mutation,
            "explore": search.q_explore,
        }
        if isinstance(search.archive, _SlidingGridArchive):
            self.archive_descriptors_ = search.archive.descriptors_of(elites)
            self.archive_boundaries_ = [e.copy() for e in search.archive.edges]
            self.evaluated_descriptors_ = search.archive.buffer_descriptors()
            self.n_remaps_ = search.archive.n_remaps

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        """Weighted mean of the members as ``sum(c_k * P_k) / sum(c)`` in float32.

        Mathematically ``weights_ @ P``; this fixed arithmetic is the one the final
        step scored, so ``validation_loss_`` is the loss that decided the ensemble
        (and the single-best fallback is exact).
        """
        check_is_fitted(self)
        P = self._check_combine_input(P)
        return _canonical_mean(self.counts_, P)


class QualityOptimizationES(_PopulationES):
    """QO-ES: population-based ensemble selection with a quality archive.

    Keeps the ``max_elites`` best count vectors found; children come from mutation
    (a GES-like step from an elite) and average crossover. Defaults are the paper's
    best configuration on validation data (specs/selectors.md §2.7).

    Parameters
    ----------
    n_iterations : int, default=50
        Budget in GES iterations: the run makes at most ``n_iterations * n_models``
        metric evaluations, the K single-model ones and the two of the final step
        included, so it costs what GES with ``ensemble_size=n_iterations`` costs.
    batch_size : int, default=40
        New solutions per ask(); the paper tried 20 and 40 and found 40 best.
    max_elites : int, default=49
        Population size (16 or 49 in the paper; 49 best).
    random_state : None, int or numpy Generator, default=None
        Seeds the seed pairs, parent choice and variation.

    Attributes
    ----------
    weights_ : ndarray (n_models,)
        ``counts_ / counts_.sum()``.
    counts_ : ndarray of int (n_models,)
        Repetition counts of the final ensemble.
    final_choice_ : str
        ``"merged"`` (sum of all elites), ``"best_elite"`` or ``"single_best"``.
    single_best_index_ : int
        The best single model (lowest index among ties).
    n_evaluations_ : int
        Metric evaluations made, at most ``n_iterations * n_models``.
    val_loss_history_ : ndarray
        Best loss in the archive after each batch (seed batches included).
    archive_size_ : int
        Elites in the final archive.
    archive_counts_ : ndarray of int (archive_size_, n_models)
        Their count vectors, in order of creation.
    archive_losses_ : ndarray (archive_size_,)
        Their losses as evaluated during the search.
    evaluated_losses_ : ndarray
        Loss of every solution offered to the archive, in order (the single-model
        evaluations are not included).
    operator_probabilities_ : dict
        Final ``crossover`` (p_c), ``mutation`` (p_m, after crossover) and ``explore``
        (q, random rather than best parent) probabilities.
    descriptor_names_ : tuple of str
        Empty for QO-ES.
    """

    _diverse: ClassVar[bool] = False


class QualityDiversityOptimizationES(_PopulationES):
    """QDO-ES: population-based ensemble selection with a diversity grid archive.

    As :class:`QualityOptimizationES`, but the archive keeps the best solution per
    cell of a sliding-boundaries grid over two descriptors of the members (both 1 for
    a one-model ensemble, lower is more diverse): the mean absolute Pearson
    correlation of their per-row losses ``1 - p_k(y_i)``, and the mean Gower
    similarity of their configurations (``configs``). Crossover is two-point.

    ``configs`` (one ``{"learner": str, "params": dict}`` per model) is what the
    estimator passes. Without it, the configuration descriptor is unavailable and the
    archive is a 1-D sliding grid of ``max_elites`` cells over the loss correlation
    alone (``descriptor_names_`` says which was used).

    Parameters
    ----------
    n_iterations, batch_size, random_state
        As in :class:`QualityOptimizationES`.
    max_elites : int, default=49
        Grid cells: ``isqrt(max_elites)`` bins per descriptor (7×7 by default), or
        ``max_elites`` bins without configs.

    Attributes
    ----------
    weights_, counts_, final_choice_, single_best_index_, n_evaluations_, \
val_loss_history_, archive_size_, archive_counts_, archive_losses_, \
evaluated_losses_, operator_probabilities_
        As in :class:`QualityOptimizationES`.
    descriptor_names_ : tuple of str
        ``("loss_correlation", "config_similarity")``, or the first alone.
    archive_descriptors_ : ndarray (archive_size_, n_descriptors)
        Descriptor values of the elites, in [0, 1].
    archive_boundaries_ : list of ndarray
        Final bin edges per descriptor (``bins + 1`` values each; values below the
        first or above the last edge fall into the outer bins).
    evaluated_descriptors_ : ndarray (len(evaluated_losses_), n_descriptors)
        Descriptors of every solution offered to the archive (the remap buffer).
    n_remaps_ : int
        Times the bin edges were moved to the buffer's quantiles.
    """

    _diverse: ClassVar[bool] = True


# --- descriptors ----------------------------------------------------------------------


def loss_correlation(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|Pearson correlation| (K, K) of the models' per-row losses ``1 - p_k(y_i)``.

    Constant loss vectors correlate 0 with everything. The diagonal is 0 (unused: a
    one-model ensemble's descriptor is defined as 1).
    """
    losses = 1.0 - np.take_along_axis(P, y[None, :, None], axis=2)[..., 0]
    losses = losses.astype(np.float32, copy=False)
    mean = losses.mean(axis=1, dtype=np.float64)
    centred = losses - mean[:, None].astype(np.float32)
    norm = np.sqrt(np.einsum("ij,ij->i", centred, centred, dtype=np.float64))
    constant = norm <= _CONSTANT_STD * math.sqrt(max(1, losses.shape[1]))
    scale = np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, norm))
    centred *= scale[:, None].astype(np.float32)
    # One BLAS thread: on 2 cores OpenBLAS's threads made this product 15x slower.
    with threadpool_limits(1, user_api="blas"):
        corr = np.abs(centred @ centred.T).astype(np.float64)
    np.clip(corr, 0.0, 1.0, out=corr)
    np.fill_diagonal(corr, 0.0)
    return corr


_MISSING = object()


def config_similarity(configs: list[dict[str, Any]]) -> np.ndarray:
    """Gower similarity (K, K) of the models' configurations.

    Per pair, over the hyperparameters both configs set, plus the learner name (a
    categorical shared by all, as the algorithm choice is in the paper's
    configuration space): a categorical value scores 1 if equal else 0, numeric
    values ``1 - |a - b| / range`` with the range over all K models (1 when the range
    is 0); the pair's similarity is the mean over those keys.
    """
    learners: list[Any] = []
    params: list[Mapping[str, Any]] = []
    for i, config in enumerate(configs):
        if not isinstance(config, Mapping) or not isinstance(
            config.get("params", {}), Mapping
        ):
            raise ValueError(
                f"configs[{i}] must be a dict like {{'learner': str, 'params': dict}}, "
                f"got {config!r}."
            )
        learners.append(config.get("learner"))
        params.append(config.get("params", {}))
    n_models = len(configs)
    keys = sorted({key for p in params for key in p}, key=str)
    columns = [learners] + [[p.get(key, _MISSING) for p in params] for key in keys]

    total = np.zeros((n_models, n_models), dtype=np.float64)
    shared = np.zeros((n_models, n_models), dtype=np.float64)
    for values in columns:
        present = np.array([v is not _MISSING for v in values])
        numeric = np.array([_is_number(v) for v in values])
        x = np.array(
            [float(v) if num else 0.0 for v, num in zip(values, numeric, strict=True)]
        )
        codes = _category_codes(values)
        sim = (codes[:, None] == codes[None, :]).astype(np.float64)
        if numeric.sum() >= 2:
            span = float(x[numeric].max() - x[numeric].min())
            both = numeric[:, None] & numeric[None, :]
            if span > 0:
                close = 1.0 - np.abs(x[:, None] - x[None, :]) / span
            else:
                close = np.ones_like(sim)
            sim = np.where(both, close, sim)
        pair = present[:, None] & present[None, :]
        total += np.where(pair, sim, 0.0)
        shared += pair
    out = total / np.maximum(shared, 1.0)
    np.clip(out, 0.0, 1.0, out=out)
    np.fill_diagonal(out, 0.0)
    return out


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(float(value))
    )


def _category_codes(values: list[Any]) -> np.ndarray:
    """Integer codes with equal codes for equal values (unhashable ones by repr)."""
    table: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        key: tuple[Any, ...] = ("v", type(value).__name__, value)
        try:
            hash(key)
        except TypeError:
            key = ("r", repr(value))
        codes[i] = table.setdefault(key, len(table))
    return codes


def ensemble_descriptors(counts: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Mean of ``matrix`` over the member pairs of each count vector; 1 for one member.

    ``counts`` (b, K), ``matrix`` (K, K) with a zero diagonal. Unweighted: only which
    models are members matters. Vectorised over the batch.
    """
    return _pair_means(counts > 0, [matrix])[:, 0]


def _pair_means(members: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """(b, len(matrices)) descriptors of the member masks ``members`` (b, K)."""
    mask = members.astype(np.float64)
    # Sparse: a small dense product would wake BLAS threads, which cost more here.
    sparse = _csr(mask)
    m = mask.sum(axis=1)
    pairs = m * (m - 1.0)
    many = pairs > 0
    out = np.ones((mask.shape[0], len(matrices)), dtype=np.float64)
    for j, matrix in enumerate(matrices):
        pair_sum = ((sparse @ matrix) * mask).sum(axis=1)
        out[many, j] = pair_sum[many] / pairs[many]
    return np.clip(out, 0.0, 1.0)


def _csr(dense: np.ndarray, dtype: type = np.float64) -> scipy.sparse.csr_array:
    """CSR copy of a small dense (b, K) matrix, built from its non-zero triples."""
    rows, cols = np.nonzero(dense)
    indptr = np.searchsorted(rows, np.arange(dense.shape[0] + 1))
    data = dense[rows, cols].astype(dtype)
    return scipy.sparse.csr_array((data, cols, indptr), shape=dense.shape)


# --- archives -------------------------------------------------------------------------


class _QualityArchive:
    """The ``capacity`` best solutions: fill empty slots, else replace the worst."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sid = np.full(capacity, -1, dtype=np.int64)
        self.loss = np.full(capacity, np.inf)

    def insert_batch(self, first: int, losses: np.ndarray, desc: np.ndarray) -> None:
        """Offer solutions ``first, first + 1, ...`` in order (descriptors unused)."""
        for i, loss in enumerate(losses.tolist()):
            self._insert(first + i, loss)

    def _insert(self, sid: int, loss: float) -> None:
        empty = np.flatnonzero(self.sid < 0)
        if empty.size:
            slot = int(empty[0])
        else:
            # The worst elite; among equal losses the newest goes first.
            slot = int(np.lexsort((-self.sid, -self.loss))[0])
            if not loss < self.loss[slot]:
                return
        self.sid[slot], self.loss[slot] = sid, loss

    def elite_ids(self) -> np.ndarray:
        return np.sort(self.sid[self.sid >= 0])

    def losses_of(self, sids: np.ndarray) -> np.ndarray:
        pos = {int(s): i for i, s in enumerate(self.sid)}
        return np.array([self.loss[pos[int(s)]] for s in sids], dtype=np.float64)


class _SlidingGridArchive:
    """MAP-Elites grid whose bin edges follow the quantiles of all descriptors seen.

    Each cell keeps the solution with the lowest loss (local competition; ties keep
    the older). Every solution also goes to a buffer; after ``first_remap``
    insertions and then every ``remap_every``, each descriptor's edges move to the
    buffer's empirical quantiles and the grid is rebuilt from the whole buffer.
    """

    def __init__(
        self, bins: tuple[int, ...], *, first_remap: int, remap_every: int
    ) -> None:
        self.bins = bins
        self.edges = [np.linspace(0.0, 1.0, b + 1) for b in bins]
        n_cells = math.prod(bins)
        self.sid = np.full(n_cells, -1, dtype=np.int64)
        self.loss = np.full(n_cells, np.inf)
        self.desc = np.zeros((n_cells, len(bins)))
        # Buffer: every inserted solution's loss and descriptors (grows by doubling).
        self.buf_loss = np.empty(1024)
        self.buf_desc = np.empty((1024, len(bins)))
        self.n_buffered = 0
        self.next_remap = first_remap
        self.remap_every = remap_every
        self.n_remaps = 0

    @property
    def capacity(self) -> int:
        return self.sid.size

    def cells(self, desc: np.ndarray) -> np.ndarray:
        """Flat cell index of each descriptor row (n, d)."""
        index = np.zeros(desc.shape[0], dtype=np.int64)
        for d, (b, edges) in enumerate(zip(self.bins, self.edges, strict=True)):
            # Bin i holds [edges[i], edges[i+1]); outliers go to the outer bins.
            index = index * b + np.searchsorted(edges[1:-1], desc[:, d], side="right")
        return index

    def insert_batch(self, first: int, losses: np.ndarray, desc: np.ndarray) -> None:
        """Offer solutions ``first, first + 1, ...`` (ids = buffer positions) in order,
        remapping whenever the schedule says so."""
        n, b = self.n_buffered, losses.size
        if first != n:
            raise RuntimeError("solution ids must be buffer positions")
        while n + b > self.buf_loss.size:
            self.buf_loss = np.concatenate(
                [self.buf_loss, np.empty_like(self.buf_loss)]
            )
            self.buf_desc = np.concatenate(
                [self.buf_desc, np.empty_like(self.buf_desc)]
            )
        self.buf_loss[n : n + b], self.buf_desc[n : n + b] = losses, desc
        cells = self.cells(desc)
        for i in range(b):
            cell, loss = cells[i], losses[i]
            if self.sid[cell] < 0 or loss < self.loss[cell]:
                self.sid[cell], self.loss[cell], self.desc[cell] = n + i, loss, desc[i]
            self.n_buffered = n + i + 1
            if self.n_buffered >= self.next_remap:
                self.remap()
                self.next_remap += self.remap_every
                cells[i + 1 :] = self.cells(desc[i + 1 :])

    def remap(self) -> None:
        """Edges to the buffer's quantiles, then rebuild the grid from the buffer.

        The buffer holds every solution ever inserted (so all old elites too); solution
        ids are buffer positions.
        """
        n = self.n_buffered
        desc, loss = self.buf_desc[:n], self.buf_loss[:n]
        for d, b in enumerate(self.bins):
            ordered = np.sort(desc[:, d])
            ranks = (np.arange(b) * n) // b
            self.edges[d] = np.append(ordered[ranks], ordered[-1])
        cells = self.cells(desc)
        sids = np.arange(n)
        order = np.lexsort((sids, loss, cells))  # per cell: lowest loss, then oldest
        first = np.ones(n, dtype=bool)
        first[1:] = cells[order[1:]] != cells[order[:-1]]
        winners = order[first]
        self.sid.fill(-1)
        self.loss.fill(np.inf)
        self.sid[cells[winners]] = winners
        self.loss[cells[winners]] = loss[winners]
        self.desc[cells[winners]] = desc[winners]
        self.n_remaps += 1

    def buffer_descriptors(self) -> np.ndarray:
        return self.buf_desc[: self.n_buffered].copy()

    def elite_ids(self) -> np.ndarray:
        return np.sort(self.sid[self.sid >= 0])

    def losses_of(self, sids: np.ndarray) -> np.ndarray:
        return self.buf_loss[sids]

    def descriptors_of(self, sids: np.ndarray) -> np.ndarray:
        return self.buf_desc[sids]


# --- the search -----------------------------------------------------------------------


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
    ) -> None:
        self.metric, self.y, self.R = metric, y, R
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
        single = _chunked_losses(self.metric, self.y, self.R)
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

        seeds = self.rng.permutation(K)[: 2 * min(K // 2, remaining)].reshape(-1, 2)
        for start in range(0, len(seeds), batch_size):
            batch = _Batch()
            for a, b in seeds[start : start + batch_size]:
                counts = np.zeros(K, dtype=np.int64)
                counts[[a, b]] = 1
                self.seen.add(_key(counts))
                batch.add(counts)
            self._evaluate_and_tell(batch, search=False)
        remaining -= len(seeds)

        while remaining > 0:
            batch = self._ask(min(batch_size, remaining))
            if not len(batch):
                logger.info("QO/QDO-ES: no new solutions found; stopping early.")
                break
            self._evaluate_and_tell(batch, search=True)
            remaining -= len(batch)
        self._finish()

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
        scores = _finite(self.metric.loss_reduced(self.y, E))
        self.n_evaluations += len(candidates)
        pick = 1 if len(candidates) == 2 and _better(scores[1], scores[0]) else 0
        if _better(scores[pick], self.single_loss):
            self.final_choice, self.final_counts = candidates[pick]

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
                child[target] += step + bonus
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
        """Next untried (model, step) from an elite; all tried: refill, step + 2."""
        state = self.mutation_state.get(parent)
        if state is None:
            state = self.mutation_state[parent] = [self._directions(parent), 1]
        elif not state[0]:
            state[0] = self._directions(parent)
            state[1] += 2
        untried = state[0]
        i = int(self.rng.integers(len(untried)))
        untried[i], untried[-1] = untried[-1], untried[i]
        return untried.pop(), state[1]

    def _directions(self, parent: int) -> list[int]:
        idx, _ = self.members[parent]
        directions = list(range(self.n_models))
        if idx.size == 1:
            directions.remove(int(idx[0]))
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
            self.metric.loss_reduced(self.y, E.reshape(b, *self.R.shape[1:]))
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

    The spec's 1 - (avg_A + ε)/(avg_A + avg_B + ε) on objectives (negative losses),
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


def _better(loss: float, reference: float) -> bool:
    """``loss < reference`` beyond float noise: as GES's guard (AutoGluon's), both
    are rounded to 6 decimals unless the reference is within 1e-4 of zero."""
    if abs(reference) > _NOISE_FLOOR:
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


def _chunked_losses(metric: Metric, y: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Loss of every model alone (one metric call per memory-bounded chunk)."""
    step = max(1, _CHUNK_ELEMENTS // max(1, R[0].size))
    out = np.empty(R.shape[0], dtype=np.float64)
    for start in range(0, R.shape[0], step):
        out[start : start + step] = metric.loss_reduced(y, R[start : start + step])
    return _finite(out)
