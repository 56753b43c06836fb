"""The one assertion helper of the contracts: no test framework needed."""

from __future__ import annotations

from typing import Any

__all__ = ["expect"]


def expect(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)
