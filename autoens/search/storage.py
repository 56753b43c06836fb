"""The ``storage`` argument: say what is wrong with it in one line, before any trial.

Optuna hands a storage URL to SQLAlchemy, whose errors for a typo or a missing folder
are long tracebacks that never name the argument. :func:`check_storage` catches the
common mistakes without touching anything (the URL does not parse, the driver is not
installed, the folder of an SQLite file does not exist, the SQLite path is a folder or
a file that is no SQLite database), and :func:`open_error` rephrases what opening the
database raised (a server that refuses the connection).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["check_storage", "open_error"]

_EXAMPLE = "e.g. sqlite:///autoens.db (a file in the current folder)"


def _label(name: str, storage: str) -> str:
    """``storage='x'`` for a Python parameter, ``--storage x`` for a CLI option."""
    return f"{name} {storage}" if name.startswith("-") else f"{name}={storage!r}"


def check_storage(storage: Any, *, name: str = "storage") -> None:
    """Raise ``ValueError`` naming ``name`` when the URL ``storage`` cannot work.

    Objects (an Optuna storage) and None pass; nothing is created or opened.
    """
    if not isinstance(storage, str):
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    label = _label(name, storage)
    try:
        url = make_url(storage)
    except ArgumentError:
        raise ValueError(
            f"{label} is not a database URL; use {_EXAMPLE}, or leave it unset to "
            "keep the trial history in memory"
        ) from None
    try:
        _import_driver(url)
    except (NoSuchModuleError, ImportError) as exc:
        raise ValueError(
            f"{label}: no database driver for {url.drivername!r} is installed "
            f"({type(exc).__name__}: {exc}); install it or use {_EXAMPLE}"
        ) from None
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        if database.startswith("file:"):  # an SQLite URI: SQLite itself reads it
            return
        problem = _sqlite_file_problem(Path(database))
        if problem:
            raise ValueError(f"{label}: {problem}")


def _import_driver(url: Any) -> None:
    """Import the DBAPI module of ``url`` (``psycopg2`` for ``postgresql://``, ...):
    finding the dialect alone does not, and a missing driver would only show when
    the database is opened."""
    dialect = url.get_dialect()
    load = getattr(dialect, "import_dbapi", None)  # SQLAlchemy 2
    if load is None:
        load = getattr(dialect, "dbapi", None)  # SQLAlchemy 1.4
    if callable(load):
        try:
            load()
        except (NotImplementedError, AttributeError, TypeError):
            pass  # a third-party dialect loads its driver its own way


# Every SQLite 3 database file starts with these 16 bytes.
_SQLITE_HEADER = b"SQLite format 3\x00"


def _sqlite_file_problem(path: Path) -> str | None:
    """Why SQLite cannot keep a study in ``path``, or None (it may not exist yet)."""
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        return (
            f"the folder of the database file, {folder}, {what}; create it first or "
            "choose another path"
        )
    if path.is_dir():
        return f"{path} is a folder, not a database file; name a file in it"
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return None  # SQLite creates it
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    if head and head != _SQLITE_HEADER:
        return (
            f"{path} is not an SQLite database (another kind of file); choose "
            "another path"
        )
    return None


def open_error(
    storage: Any, exc: BaseException, *, name: str = "storage"
) -> ValueError | None:
    """A one-line ``ValueError`` for an error raised while opening ``storage``
    (a URL), or None when the error is not about the database."""
    if not isinstance(storage, str):
        return None
    from sqlalchemy.exc import SQLAlchemyError

    if not isinstance(exc, SQLAlchemyError | ImportError) and not _raised_in(
        exc, ("optuna.storages", "sqlalchemy")
    ):
        return None
    # Optuna wraps what SQLAlchemy raised (StorageInternalError): name the cause.
    if not isinstance(exc, SQLAlchemyError) and isinstance(
        exc.__cause__, SQLAlchemyError
    ):
        exc = exc.__cause__
    detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    return ValueError(
        f"{_label(name, storage)} cannot be opened: {type(exc).__name__}: {detail}"
    )


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    """Whether ``exc`` was raised by code of one of ``modules`` (e.g. Optuna's
    storage layer finding a database that holds no Optuna studies)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return module.startswith(modules)
