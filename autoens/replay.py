"""Re-run a selector on a finished search, without fitting a single base model."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from sklearn.utils.validation import check_is_fitted

from autoens.metrics import Metric, get_metric
from autoens.orchestrator import AutoEnsembleBase

_Model = TypeVar("_Model", bound=AutoEnsembleBase)


def select(
    model: _Model,
    selector: Any,
    *,
    metric: str | Metric | None = None,
    random_state: int | None = None,
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
    """
    check_is_fitted(model, "library_")
    new = copy.copy(model)
    new.selector = selector
    seed = model._seed if random_state is None else random_state
    task = getattr(model, "task_", None)  # models saved by autoens 0.1 have none
    new._assemble(
        selector,
        model.metric_ if metric is None else get_metric(metric, task=task),
        seed,
    )
    return new
