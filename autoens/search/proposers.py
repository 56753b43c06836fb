"""What to try next: Optuna samplers and our own proposers behind short names.

The proposer only decides *what next*; the loop (``loop.py``) owns the budget and
Optuna owns the trial bookkeeping and storage. Two kinds of strategy:

* ``"random"`` and ``"tpe"`` are Optuna samplers: ``study.ask()`` samples.
* ``"divbo"`` and ``"bo"`` (DivBO with ``beta=0``), or a :class:`~autoens.search.divbo.
  DivBO` object, are *proposers*: the loop hands them a :class:`SearchHistory`,
  enqueues their :class:`Proposal` and asks for it, so Optuna still records (and an
  RDB storage resumes) every trial. Their study sampler is a seeded RandomSampler,
  used only for parameters a proposal leaves out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import optuna
from sklearn.base import clone

from autoens.metrics import Metric
from autoens.space.registry import LearnerSpec

if TYPE_CHECKING:
    from autoens.search.loop import TrialRecord

__all__ = [
    "SEARCH_STRATEGIES",
    "Proposal",
    "Proposer",
    "SearchHistory",
    "make_proposer",
    "make_sampler",
]

SEARCH_STRATEGIES = ("random", "tpe", "divbo", "bo")


@dataclass
class SearchHistory:
    """What a proposer may learn from, as of one proposal.

    ``records`` are the finished trials in the order they finished (append-only during
    a search: a proposer may remember how many it has seen); ``ok`` ones carry their
    OOF probabilities. ``pending`` are the configurations submitted but unfinished.
    """

    specs: Sequence[LearnerSpec]
    records: Sequence[TrialRecord]
    pending: Sequence[tuple[str, dict[str, Any]]]
    y: np.ndarray
    metric: Metric


@dataclass
class Proposal:
    """A configuration to evaluate and the user_attrs stored on its Optuna trial."""

    learner: str
    params: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Proposer(Protocol):
    """Anything with ``propose(history) -> Proposal`` (one instance per search)."""

    def propose(self, history: SearchHistory) -> Proposal: ...


def make_sampler(search: Any, seed: int) -> optuna.samplers.BaseSampler:
    """Return a seeded study sampler for ``search`` (a name or a proposer object)."""
    if search == "tpe":
        # The space is conditional (one sub-space per learner): multivariate TPE with
        # group=True models each learner's hyper-parameters jointly; constant_liar keeps
        # parallel workers from proposing the same point.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True, constant_liar=True
            )
    if search in ("random", "divbo", "bo") or isinstance(search, Proposer):
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(
        f"unknown search strategy {search!r}; choose one of {list(SEARCH_STRATEGIES)} "
        "or pass a proposer object such as autoens.search.divbo.DivBO()"
    )


def make_proposer(search: Any, seed: int) -> Proposer | None:
    """A fresh proposer for one search, or None when an Optuna sampler proposes.

    A proposer object is cloned (so one estimator can be fit many times); when it has
    a ``random_state`` left at None it takes the fit's ``seed``.
    """
    from autoens.search.divbo import DivBO

    if search in ("random", "tpe"):
        return None
    if search == "divbo":
        return DivBO(random_state=seed)
    if search == "bo":
        return DivBO(beta=0.0, random_state=seed)
    if isinstance(search, Proposer) and not isinstance(search, str):
        proposer = clone(search) if hasattr(search, "get_params") else search
        if getattr(proposer, "random_state", 0) is None and hasattr(
            proposer, "set_params"
        ):
            proposer.set_params(random_state=seed)
        return proposer
    raise ValueError(
        f"unknown search strategy {search!r}; choose one of {list(SEARCH_STRATEGIES)} "
        "or pass a proposer object such as autoens.search.divbo.DivBO()"
    )
