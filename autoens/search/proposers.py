"""What to try next: Optuna samplers behind short names.

The proposer only decides *what next*; the loop (``loop.py``) owns the budget and
Optuna owns the trial bookkeeping and storage.
"""

from __future__ import annotations

import warnings

import optuna

SEARCH_STRATEGIES = ("random", "tpe")


def make_sampler(search: str, seed: int) -> optuna.samplers.BaseSampler:
    """Return a seeded sampler for ``search`` ("random" or "tpe")."""
    if search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search == "tpe":
        # The space is conditional (one sub-space per learner): multivariate TPE with
        # group=True models each learner's hyper-parameters jointly; constant_liar keeps
        # parallel workers from proposing the same point.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True, constant_liar=True
            )
    raise ValueError(
        f"unknown search strategy {search!r}; choose one of {list(SEARCH_STRATEGIES)}"
    )
