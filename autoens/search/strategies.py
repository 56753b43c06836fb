"""Search strategies by short name: Optuna samplers and our own proposers.

* ``"random"`` and ``"tpe"`` are Optuna samplers: ``study.ask()`` samples.
* ``"divbo"`` and ``"bo"`` (DivBO with ``beta=0``), or a proposer object such as
  :class:`~autoens.search.divbo.DivBO`, are *proposers* (``proposers.py``). Their
  study sampler is a seeded RandomSampler, used only for parameters a proposal
  leaves out.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from sklearn.base import clone

from autoens.search.divbo import DivBO
from autoens.search.proposers import Proposer

__all__ = ["SEARCH_STRATEGIES", "make_proposer", "make_sampler"]

SEARCH_STRATEGIES = ("random", "tpe", "divbo", "bo")


def _unknown(search: Any) -> ValueError:
    return ValueError(
        f"unknown search strategy {search!r}; choose one of {list(SEARCH_STRATEGIES)} "
        "or pass a proposer object such as autoens.search.divbo.DivBO()"
    )


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
    raise _unknown(search)


def make_proposer(search: Any, seed: int) -> Proposer | None:
    """A fresh proposer for one search, or None when an Optuna sampler proposes.

    A proposer object is cloned (so one estimator can be fit many times); when it has
    a ``random_state`` left at None it takes the fit's ``seed``.
    """
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
        if hasattr(proposer, "_validate_params"):
            # Before the first trial, not after the warm-start portfolio has run.
            proposer._validate_params()
        return proposer
    raise _unknown(search)
