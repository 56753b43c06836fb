"""QO-ES and QDO-ES: population-based ensemble selection.

Purucker, Schneider, Anastacio, Beel, Bischl & Hoos (2023), "Q(D)O-ES:
Population-based quality (diversity) optimisation for post hoc ensemble selection in
AutoML" (AutoML Conf), search the same space as GES, repetition (count) vectors c
with weights c / sum(c), but with a population instead of one greedy path.
The budget is GES's: ``n_iterations`` × K metric evaluations in all. The run:

1. Evaluate every model alone (K evaluations); the best is the fallback.
2. Seed the archive with ⌊K/2⌋ disjoint random pairs at 1:1 ("RandomL2Combinations";
   see the options below for the alternatives).
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
   quantiles of all descriptors seen so far (Fontaine et al. 2019, "Mapping
   Hearthstone deck spaces through MAP-Elites with sliding boundaries"). For
   regression the first descriptor is the members' residual correlation instead
   (:func:`~autoens.selectors.qdo_descriptors.residual_correlation`, which says why).
5. The result is the sum of all elites' counts if that beats the best elite, else the
   best elite, and the single best model if neither beats it (beyond float noise:
   losses rounded to 6 decimals, GES's guard; for regression 6 decimals of the
   reference loss, since those losses have the target's units).

Speed: every elite's summed predictions are cached (float32, in the metric's reduced
layout, see :meth:`autoens.metrics.Metric.reduce`). A child's sum is its parent's plus
a sparse product over the models whose counts changed (one model for a mutation), and
each batch is scored by one vectorised metric call. Descriptors are means over K×K
matrices computed once. Memory: the reduced tensor, one cached sum per archive slot and
two batch-sized buffers. The final ensemble is scored with the arithmetic of
:meth:`~QualityOptimizationES.combine`, so the single-best guarantee is exact.

Options beyond the paper (defaults off, so the default run is the paper's):

- ``init="pairs_with_best"`` seeds the single best model paired 1:1 with every other
  model (K - 1 seeds, partners in order of their own loss, so a short budget keeps
  the best partners) instead of ⌊K/2⌋ disjoint random pairs (``"random_pairs"``,
  the reference's "RandomL2Combinations"). A random pair may hold two weak models
  that an add-only search can never drop.
- ``negative_steps=True`` lets a mutation also remove ``step`` copies of a member
  that has at least ``step`` copies, from an elite with two or more members (so an
  ensemble never becomes empty, and a one-model ensemble is never "shrunk" to the
  same weights). Removals join the parent's untried directions, so the budget in
  evaluations is unchanged. The reference implementation only adds.
- ``ges_seed=True`` runs GES (``ensemble_size=n_iterations``, same metric and
  weights, seeded from ``random_state``) first and evaluates every prefix of its
  kept ensemble as seeds, before the pairs. Both archives always keep the best
  solution found, so the result's validation loss is at most GES's (up to float32
  summation order: GES sums members in selection order, the search by index).
  Deviation: GES's own ``n_iterations × K`` evaluations come on top of the search
  budget (``n_evaluations_`` counts them); the prefixes are taken from the search
  budget, the last (final) ones first when it is short.

Sample weights: every evaluation uses the weighted loss, and the loss (or residual)
correlation descriptor is weighted too.

Layout: the descriptors are in :mod:`autoens.selectors.qdo_descriptors`, the
archives in :mod:`autoens.selectors.qdo_archives`, the ask/evaluate/tell loop in
:mod:`autoens.selectors.qdo_search`; this module holds the two estimators.
"""

from __future__ import annotations

import logging
import math
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from autoens._sklearn import Interval, StrOptions
from autoens.selectors.base import (
    BOTH_FAMILIES,
    RANDOM_STATE_CONSTRAINT,
    REGRESSION,
    ROW_EQUIVALENCES,
    BaseSelector,
    check_generator,
)
from autoens.selectors.greedy import GreedyEnsembleSelection
from autoens.selectors.qdo_archives import _QualityArchive, _SlidingGridArchive
from autoens.selectors.qdo_descriptors import (
    config_similarity,
    ensemble_descriptors,
    loss_correlation,
    residual_correlation,
)
from autoens.selectors.qdo_search import _canonical_mean, _Search

__all__ = [
    "QualityDiversityOptimizationES",
    "QualityOptimizationES",
    "config_similarity",
    "ensemble_descriptors",
    "loss_correlation",
    "residual_correlation",
]

logger = logging.getLogger("autoens")


class _PopulationES(BaseSelector):
    """Shared implementation of QO-ES and QDO-ES (the archive and crossover differ)."""

    _guarantees_single_best: ClassVar[bool] = True
    _task_families: ClassVar[frozenset[str]] = BOTH_FAMILIES
    _supports_sample_weight: ClassVar[bool] = True
    _sample_weight_equivalences: ClassVar[frozenset[str]] = ROW_EQUIVALENCES
    #: True: sliding grid archive and two-point crossover (QDO-ES); False: quality
    #: archive and average crossover (QO-ES).
    _diverse: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_iterations": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_elites": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"random_pairs", "pairs_with_best"})],
        "negative_steps": ["boolean"],
        "ges_seed": ["boolean"],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        n_iterations: int = 50,
        batch_size: int = 40,
        max_elites: int = 49,
        init: str = "random_pairs",
        negative_steps: bool = False,
        ges_seed: bool = False,
        random_state: Any = None,
    ) -> None:
        self.n_iterations = n_iterations
        self.batch_size = batch_size
        self.max_elites = max_elites
        self.init = init
        self.negative_steps = negative_steps
        self.ges_seed = ges_seed
        self.random_state = random_state

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_iterations = int(self.n_iterations)
        batch_size = int(self.batch_size)
        max_elites = int(self.max_elites)
        rng = check_generator(self.random_state)
        n_models = P.shape[0]
        w = self._sample_weight

        descriptors: list[np.ndarray] = []
        if self._diverse:
            similarity = None if configs is None else config_similarity(configs)
            if self.metric_.task.family == REGRESSION:
                first = residual_correlation(P, y, w)
                first_name = "residual_correlation"
            else:
                first, first_name = loss_correlation(P, y, w), "loss_correlation"
            descriptors.append(first)
            if similarity is None:
                logger.info(
                    "%s: no configs given; the archive is a 1-D grid of %d cells over "
                    "the %s alone.",
                    type(self).__name__,
                    max_elites,
                    first_name.replace("_", " "),
                )
                bins: tuple[int, ...] = (max_elites,)
                self.descriptor_names_ = (first_name,)
            else:
                descriptors.append(similarity)
                side = math.isqrt(max_elites)
                bins = (side, side)
                self.descriptor_names_ = (first_name, "config_similarity")
            archive: _QualityArchive | _SlidingGridArchive = _SlidingGridArchive(
                bins, first_remap=n_models + batch_size, remap_every=n_models
            )
        else:
            self.descriptor_names_ = ()
            archive = _QualityArchive(max_elites)

        extra_seeds, n_ges = None, 0
        for stale in ("ges_counts_", "ges_validation_loss_"):  # from a previous fit
            self.__dict__.pop(stale, None)
        if self.ges_seed:
            extra_seeds, n_ges = self._ges_prefixes(P, y, rng)
        search = _Search(
            self.metric_,
            y,
            self.metric_.reduce_all(y, P),
            archive,
            descriptors,
            two_point=self._diverse,
            rng=rng,
            sample_weight=w,
            init=str(self.init),
            negative_steps=bool(self.negative_steps),
            extra_seeds=extra_seeds,
        )
        search.run(n_iterations * n_models, batch_size)
        self._set_fitted(search)
        self.n_evaluations_ += n_ges

    def _ges_prefixes(
        self, P: np.ndarray, y: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, int]:
        """GES's kept ensemble and every prefix of it, as count vectors (n, K).

        GES runs with ``ensemble_size=n_iterations`` on the same metric and weights,
        seeded from ``rng``; returns the count vectors and GES's evaluations.
        """
        ges = GreedyEnsembleSelection(
            ensemble_size=int(self.n_iterations),
            random_state=int(rng.integers(2**32)),
        )
        ges.fit(P, y, metric=self.metric_, sample_weight=self._sample_weight)
        n_models = P.shape[0]
        order = ges.indices_
        onehot = np.zeros((order.size, n_models), dtype=np.int64)
        onehot[np.arange(order.size), order] = 1
        self.ges_counts_ = onehot.sum(axis=0)
        self.ges_validation_loss_ = float(ges.validation_loss_)
        return np.cumsum(onehot, axis=0), ges.trajectory_.size * n_models

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
    best configuration on validation data (Purucker et al. 2023).

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
    init : {"random_pairs", "pairs_with_best"}, default="random_pairs"
        Initial population: ⌊K/2⌋ disjoint random pairs (the paper), or the single
        best model paired with every other model (K - 1 pairs).
    negative_steps : bool, default=False
        Also mutate by removing ``step`` copies of a member (members with at least
        ``step`` copies; never empties an ensemble). Same evaluation budget.
    ges_seed : bool, default=False
        Run GES first and seed the archive with every prefix of its ensemble, so the
        result's validation loss is at most GES's (float32 noise aside). GES's
        ``n_iterations * n_models`` evaluations are extra.
    random_state : None, int or numpy Generator, default=None
        Seeds the seed pairs, parent choice and variation (and GES's tie-breaks).

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
        Metric evaluations made, at most ``n_iterations * n_models`` (plus GES's
        with ``ges_seed``).
    val_loss_history_ : ndarray
        Best loss in the archive after each batch (seed batches included).
    archive_size_ : int
        Elites in the final archive.
    archive_counts_ : ndarray of int, shape (``archive_size_``, n_models)
        Their count vectors, in order of creation.
    archive_losses_ : ndarray, shape (``archive_size_``,)
        Their losses as evaluated during the search.
    evaluated_losses_ : ndarray
        Loss of every solution offered to the archive, in order (the single-model
        evaluations are not included).
    operator_probabilities_ : dict
        Final ``crossover`` (p_c), ``mutation`` (p_m, after crossover) and ``explore``
        (q, random rather than best parent) probabilities.
    descriptor_names_ : tuple of str
        Empty for QO-ES.
    ges_counts_ : ndarray of int (n_models,)
        Only with ``ges_seed``: the counts of GES's kept ensemble.
    ges_validation_loss_ : float
        Only with ``ges_seed``: GES's validation loss.
    """

    _diverse: ClassVar[bool] = False


class QualityDiversityOptimizationES(_PopulationES):
    """QDO-ES: population-based ensemble selection with a diversity grid archive.

    As :class:`QualityOptimizationES`, but the archive keeps the best solution per
    cell of a sliding-boundaries grid over two descriptors of the members (both 1 for
    a one-model ensemble, lower is more diverse): the mean absolute Pearson
    correlation of their per-row losses ``1 - p_k(y_i)`` (for regression: the mean
    ``(1 + ρ) / 2`` of their residual correlations ρ), and the mean Gower
    similarity of their configurations (``configs``). Crossover is two-point.

    ``configs`` (one ``{"learner": str, "params": dict}`` per model) is what the
    estimator passes. Without it, the configuration descriptor is unavailable and the
    archive is a 1-D sliding grid of ``max_elites`` cells over the loss correlation
    alone (``descriptor_names_`` says which was used).

    Parameters
    ----------
    n_iterations, batch_size, init, negative_steps, ges_seed, random_state
        As in :class:`QualityOptimizationES`.
    max_elites : int, default=49
        Grid cells: ``isqrt(max_elites)`` bins per descriptor (7×7 by default), or
        ``max_elites`` bins without configs.

    Attributes
    ----------
    weights_, counts_, final_choice_, single_best_index_, n_evaluations_, \
val_loss_history_, archive_size_, archive_counts_, archive_losses_, \
evaluated_losses_, operator_probabilities_, ges_counts_, ges_validation_loss_
        As in :class:`QualityOptimizationES`.
    descriptor_names_ : tuple of str
        ``("loss_correlation", "config_similarity")`` (regression:
        ``"residual_correlation"`` first), or the first alone.
    archive_descriptors_ : ndarray, shape (``archive_size_``, n_descriptors)
        Descriptor values of the elites, in [0, 1].
    archive_boundaries_ : list of ndarray
        Final bin edges per descriptor (``bins + 1`` values each; values below the
        first or above the last edge fall into the outer bins).
    evaluated_descriptors_ : ndarray, shape (``len(evaluated_losses_)``, n_descriptors)
        Descriptors of every solution offered to the archive (the remap buffer).
    n_remaps_ : int
        Times the bin edges were moved to the buffer's quantiles.
    """

    _diverse: ClassVar[bool] = True
