"""A module imported on first use: keeps ``autoens --help`` free of numpy and pandas.

``np = lazy_module("numpy")`` binds a stand-in whose first attribute access imports
the real module (later ones are a dictionary lookup in ``sys.modules``). Type
checkers see the real import under ``TYPE_CHECKING``; see ``autoens/cli/_common.py``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """A stand-in for ``import name`` that imports ``name`` on first attribute use."""
    return _LazyModule(name)
