"""Every selector name, ``"auto"`` included: :data:`SELECTOR_NAMES`,
:func:`selector_names` (the names per task family) and :func:`get_selector`
(re-exported by :mod:`autoens.selectors`).

``"auto"`` is added here, on top of the built-in registry that
:class:`~autoens.selectors.auto.AutoSelector` itself resolves its candidates from.
"""

from __future__ import annotations

from typing import Any

from autoens.selectors.auto import AutoSelector
from autoens.selectors.base import _NAMES_BY_FAMILY, FAMILIES, BaseSelector
from autoens.selectors.registry import BUILTIN_SELECTORS

__all__ = ["SELECTOR_NAMES", "get_selector", "selector_names"]

_REGISTRY = BUILTIN_SELECTORS.extended(
    # Chooses among the selectors above (and the dynamic ones) by inner CV.
    {"auto": (AutoSelector, {})}
)

#: Names accepted by :func:`get_selector`.
SELECTOR_NAMES: tuple[str, ...] = _REGISTRY.names

# The names per family, computed once: selectors name the alternatives in the error
# they raise when fit for a family they do not support.
_NAMES_BY_FAMILY.update({family: _REGISTRY.names_for(family) for family in FAMILIES})


def selector_names(family: str | None = None) -> tuple[str, ...]:
    """The selector names (registration order) that support task ``family``:
    ``"classification"``, ``"regression"``, or None for every name.

    ``"auto"`` supports both (it chooses among the candidates of the family).
    """
    if family is None:
        return SELECTOR_NAMES
    if family not in _NAMES_BY_FAMILY:
        raise ValueError(
            f"Unknown task family {family!r}; expected one of {', '.join(FAMILIES)}."
        )
    return _NAMES_BY_FAMILY[family]


def get_selector(
    selector: str | BaseSelector, random_state: Any = None
) -> BaseSelector:
    """A fresh selector from a name, or an unfitted clone of a selector object.

    ``random_state`` seeds selectors that take one; on a clone it only fills a
    ``random_state`` left at None, so an explicit seed on the object wins.
    """
    return _REGISTRY.get(selector, random_state)
