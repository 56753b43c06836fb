"""Re-run a selector on a finished search, without fitting a single base model."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from sklearn.utils.validation import check_is_fitted

from autoens.metrics import Metric, get_metric
from autoens.orchestrator import AutoEnsembleBase
from autoens.refit import record_refit, refit_rows

_Model = TypeVar("_Model", bound=AutoEnsembleBase)


def select(
    model: _Model,
    selector: Any,
    *,
    metric: str | Metric | None = None,
    random_state: int | None = None,
    max_predict_time: float | None = None,
) -> _Model:
    """Return a copy of ``model`` whose ensemble is built by ``selector``.

    The selector is fit on the out-of-fold predictions the search left in
    ``model.library_`` (and, for dynamic selectors and ``"auto"``, on the
    competence features ``model.competence_`` kept from the training data);
    ``metric`` defaults to the model's; the fit's ``sample_weight`` (kept in the
    library) weights the selection again. The new ensemble can predict when its
    members' fold models are at hand: the model was fit with ``keep_models="all"``,
    or with a ``cache_dir`` that still holds them. A dynamic selector (``"knora-e"``,
    ...) needs every member's. ``model`` is not changed.

    ``max_predict_time`` (seconds per 1,000 rows) keeps the ensemble's members
    within that predict-time budget (see the estimator's parameter of that name);
    None keeps the model's own budget, ``math.inf`` lifts it. To take a point of
    ``model.pareto_``, pass its ``max_predict_time`` with ``selector="ges"``: the
    same seed rebuilds exactly that ensemble.

    A model whose members were refit on all rows (``refit="members"``) gives a
    *bagged* ensemble: the new members predict with their fold models, since the
    training rows are not kept; ``refit_`` says so, and ``new.refit_members(X, y)``
    refits them.
    """
    check_is_fitted(model, "library_")
    new = copy.copy(model)
    new.selector = selector
    if max_predict_time is not None:
        new.max_predict_time = max_predict_time
        new._validate_params()  # a bad budget is reported before any work
    seed = model._seed if random_state is None else random_state
    task = getattr(model, "task_", None)  # models saved by autoens 0.1 have none
    new._assemble(
        selector,
        model.metric_ if metric is None else get_metric(metric, task=task),
        seed,
    )
    if hasattr(model, "refit_"):
        # The new members have only their fold models (the training rows are not
        # at hand to refit them): the reselected ensemble is bagged.
        note = "" if model.refit_["status"].ne("refit").all() else _BAGGED_NOTE
        record_refit(new, refit_rows(new, note=note))
    return new


_BAGGED_NOTE = (
    "reselected by autoens.select: bagged; refit_members(X, y) refits the members"
)
