"""Every selector name, ``"auto"`` included: :data:`SELECTOR_NAMES` and
:func:`get_selector` (re-exported by :mod:`autoens.selectors`).

``"auto"`` is added here, on top of the built-in registry that
:class:`~autoens.selectors.auto.AutoSelector` itself resolves its candidates from.
"""

from __future__ import annotations

from typing import Any

from autoens.selectors.auto import AutoSelector
from autoens.selectors.base import BaseSelector
from autoens.selectors.registry import BUILTIN_SELECTORS

__all__ = ["SELECTOR_NAMES", "get_selector"]

_REGISTRY = BUILTIN_SELECTORS.extended(
    # Chooses among the selectors above (and the dynamic ones) by inner CV.
    {"auto": (AutoSelector, {})}
)

#: Names accepted by :func:`get_selector`.
SELECTOR_NAMES: tuple[str, ...] = _REGISTRY.names


def get_selector(
    selector: str | BaseSelector, random_state: Any = None
) -> BaseSelector:
    """A fresh selector from a name, or an unfitted clone of a selector object.

    ``random_state`` seeds selectors that take one; on a clone it only fills a
    ``random_state`` left at None, so an explicit seed on the object wins.
    """
    return _REGISTRY.get(selector, random_state)
