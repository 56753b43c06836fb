"""Save and load fitted autoens models: one ``.skops`` file that is safe to load.

A pickle (``joblib.dump``) runs code while it loads: whoever can edit a model file
can run commands on the machine that loads it. A skops file (Noia et al., skops,
https://skops.readthedocs.io) is a zip of JSON and ``.npy`` arrays that names every
type it holds; :func:`load` reads those names first, refuses the file unless every
type comes from a package on an allow-list (autoens, scikit-learn, NumPy, SciPy,
LightGBM, XGBoost and a few builtin containers) and only then builds the model.

What skops cannot store is converted here, on a shallow copy of the model (the
caller's model is never changed): every top-level pandas DataFrame or Series
attribute (``leaderboard_``, ``weights_``, ...) becomes plain columns, index and
dtypes, and the fold models that ``ensemble_`` shares with ``library_`` are written
once (skops writes an object again wherever it is referenced). :func:`load` restores
both exactly.

Files written by earlier versions with joblib (the dict ``autoens fit`` wrote, or
``joblib.dump(model)``) still load, with a warning, through an unpickler that
refuses every global outside the same allow-list, so a tampered pickle fails before
its code runs.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import os
import pickle
import sys
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from autoens.orchestrator import AutoEnsembleBase

__all__ = [
    "FORMAT_VERSION",
    "LegacyModelWarning",
    "ModelFileError",
    "UntrustedModelError",
    "load",
    "save",
]

FORMAT_VERSION = 1
"""Version of what :func:`save` writes; bump it when the layout changes."""

_META = "autoens.json"
"""The zip member (next to skops' own) saying what the file holds, read first."""
_STATE = "_autoens_persist"
"""Attribute of the saved copy holding the converted frames and shared references."""
_KIND = "autoens-model"

#: Packages whose *classes* a model file may name (the module the class is defined in
#: must be one of these too, so a name re-exported from elsewhere does not pass).
TRUSTED_PACKAGES = ("autoens", "sklearn", "numpy", "scipy", "lightgbm", "xgboost")
#: Packages whose *functions* a model file may name: a function is called with
#: arguments the file chooses, so only autoens' own (e.g. metric losses).
TRUSTED_FUNCTION_PACKAGES = ("autoens",)
#: Functions of scikit-learn that its own fitted estimators hold (checked by name):
#: HistGradientBoosting* with categorical features keeps a
#: ``FunctionTransformer(partial(check_array, ...))``.
TRUSTED_FUNCTIONS = frozenset({"sklearn.utils.validation.check_array"})
#: autoens modules whose functions do things beyond computing (files, commands).
_UNTRUSTED_AUTOENS = ("autoens.cli", "autoens.benchmark", "autoens.persist")
#: The builtin and standard-library types a model needs beyond skops' defaults.
TRUSTED_NAMES = frozenset(
    {
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.complex",
        "builtins.frozenset",
        "builtins.object",
        "builtins.range",
        "builtins.set",
        "builtins.slice",
        "collections.OrderedDict",
        "collections.defaultdict",
        "datetime.date",
        "datetime.datetime",
        "datetime.timedelta",
        "functools.partial",
        "pathlib.Path",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib._local.Path",
        "pathlib._local.PosixPath",
        "pathlib._local.WindowsPath",
    }
)
#: Classes of trusted packages whose construction touches files.
_REFUSED_NAMES = frozenset({"numpy.memmap", "numpy.lib.npyio.NpzFile"})

#: What a pickle needs to rebuild NumPy arrays, scalars and generators (functions).
_PICKLE_HELPERS = frozenset(
    {
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "copyreg._reconstructor",
        "_codecs.encode",
        "joblib.numpy_pickle.NumpyArrayWrapper",
    }
)


class ModelFileError(ValueError):
    """The file is not a model :func:`load` can read (the message says why)."""


class UntrustedModelError(ModelFileError):
    """The file names types or functions outside the allow-list: it was not loaded."""


class LegacyModelWarning(UserWarning):
    """A model file is a pickle from an earlier autoens: re-save it as ``.skops``."""


# -- the allow-list ------------------------------------------------------------------


def _in_package(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _resolve(name: str) -> Any:
    """The object ``module.attr`` names; only called once the module is allowed."""
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def _is_trusted(name: str) -> bool:
    """Whether a file may name ``name`` ("module.attr"): a class of a trusted package
    (where it is also defined) or a function of autoens. The module is imported only
    once its name passed the prefix check, never on a name from elsewhere."""
    if name in TRUSTED_NAMES or name in TRUSTED_FUNCTIONS:
        return True
    module = name.rpartition(".")[0]
    if name in _REFUSED_NAMES or not _in_package(module, TRUSTED_PACKAGES):
        return False
    import numpy as np

    obj = _resolve(name)
    if isinstance(obj, type):
        home = _full_module(obj.__module__)
        return (
            _in_package(home, TRUSTED_PACKAGES)
            and f"{home}.{obj.__qualname__}" not in _REFUSED_NAMES
        )
    if isinstance(obj, np.ufunc):  # elementwise maths, no side effects
        return True
    home = getattr(obj, "__module__", None) or ""
    return (
        callable(obj)
        and _in_package(module, TRUSTED_FUNCTION_PACKAGES)
        and _in_package(home, TRUSTED_FUNCTION_PACKAGES)
        and not _in_package(home, _UNTRUSTED_AUTOENS)
    )


def _refuse(path: Path, names: list[str], how: str) -> UntrustedModelError:
    shown = ", ".join(sorted(names)[:8]) + (" ..." if len(names) > 8 else "")
    return UntrustedModelError(
        f"{path} was not loaded: it {how} {shown}, outside what an autoens model "
        f"holds (classes of {', '.join(TRUSTED_PACKAGES)}; functions of autoens). "
        "Loading it could run code; only a file from a source you trust and "
        "have checked should be loaded by other means."
    )


# -- pandas frames <-> plain columns ---------------------------------------------------


def _values_state(values: Any) -> dict[str, Any]:
    """One column (or index level) as NumPy data, or a list for object data."""
    import numpy as np
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "dtype": "category",
            "codes": np.asarray(pd.Categorical(values, dtype=dtype).codes),
            "categories": _values_state(pd.Index(dtype.categories)),
            "ordered": bool(dtype.ordered),
        }
    if isinstance(dtype, np.dtype) and dtype.kind != "O":
        return {"dtype": str(dtype), "data": np.asarray(values)}
    # object and pandas extension dtypes (string, Int64, boolean): Python values,
    # missing ones as None, restored under the saved dtype.
    data = pd.Series(values, dtype=dtype).astype(object)
    if not isinstance(dtype, np.dtype):
        data = data.where(data.notna(), None)
    return {"dtype": str(dtype), "data": data.tolist()}


def _values_restore(state: dict[str, Any]) -> Any:
    import numpy as np
    import pandas as pd

    if state["dtype"] == "category":
        categories = pd.Index(_values_restore(state["categories"]))
        return pd.Categorical.from_codes(
            np.asarray(state["codes"]), categories=categories, ordered=state["ordered"]
        )
    if state["dtype"] == "object":  # cells may be lists or dicts: no broadcasting
        return pd.Series(state["data"], dtype=object).to_numpy()
    if isinstance(state["data"], list):
        return pd.array(state["data"], dtype=state["dtype"])
    return np.asarray(state["data"], dtype=state["dtype"])


def _index_state(index: pd.Index) -> dict[str, Any]:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        return {
            "kind": "range",
            "start": int(index.start),
            "stop": int(index.stop),
            "step": int(index.step),
            "name": index.name,
        }
    if isinstance(index, pd.MultiIndex):
        return {
            "kind": "multi",
            "levels": [
                _values_state(index.get_level_values(i)) for i in range(index.nlevels)
            ],
            "names": list(index.names),
        }
    return {"kind": "index", "values": _values_state(index), "name": index.name}


def _index_restore(state: dict[str, Any]) -> pd.Index:
    import pandas as pd

    if state["kind"] == "range":
        return pd.RangeIndex(
            state["start"], state["stop"], state["step"], name=state["name"]
        )
    if state["kind"] == "multi":
        return pd.MultiIndex.from_arrays(
            [_values_restore(s) for s in state["levels"]], names=state["names"]
        )
    return pd.Index(
        _values_restore(state["values"]), name=state["name"], tupleize_cols=False
    )


def _frame_state(value: pd.DataFrame | pd.Series) -> dict[str, Any]:
    """A DataFrame or Series as columns of plain values, index and dtypes."""
    import pandas as pd

    if isinstance(value, pd.Series):
        return {
            "kind": "Series",
            "values": _values_state(value.array),
            "index": _index_state(value.index),
            "name": value.name,
        }
    return {
        "kind": "DataFrame",
        "columns": [
            _values_state(value.iloc[:, i].array) for i in range(value.shape[1])
        ],
        "column_index": _index_state(value.columns),
        "index": _index_state(value.index),
    }


def _frame_restore(state: dict[str, Any]) -> pd.DataFrame | pd.Series:
    import pandas as pd

    index = _index_restore(state["index"])
    if state["kind"] == "Series":
        return pd.Series(
            _values_restore(state["values"]),
            index=index,
            name=state["name"],
            copy=False,
        )
    columns = _index_restore(state["column_index"])
    frame = pd.DataFrame(
        {
            i: pd.Series(_values_restore(s), index=index, copy=False)
            for i, s in enumerate(state["columns"])
        },
        index=index,
    )
    frame.columns = columns
    return frame


# -- save ----------------------------------------------------------------------------


def _version() -> str:
    # The package is imported before any of its modules; a plain `from autoens
    # import __version__` would make a cycle with autoens/__init__.py's lazy names.
    return str(sys.modules["autoens"].__version__)


_COMPRESSLEVEL = 6
"""zlib level of the zip members: level 6 is within a few % of 9 here, and faster."""

# Attributes of ``ensemble_`` that are the estimator's own objects (written once).
_ENSEMBLE_SHARED = (("selector", "selector_"), ("competence", "competence_"))


def _link_fold_models(model: Any, ensemble: Any) -> tuple[dict[str, Any], list[Any]]:
    """Replace, in ``ensemble``'s dicts of fold-model lists (``members``, ...), each
    list already held by ``library_.models`` or by an earlier entry with None, and
    say where it lives: ``[attr, key, source_attr or None (library), source_key]``.
    Identity matters beyond size: a member refit on all rows is one whose list is
    not its fold models' list."""
    owners: dict[int, tuple[str | None, Any]] = {}
    library_models = getattr(getattr(model, "library_", None), "models", None)
    if isinstance(library_models, dict):
        for key, value in library_models.items():
            owners.setdefault(id(value), (None, key))
    replaced: dict[str, Any] = {}
    links: list[Any] = []
    for attr, value in vars(ensemble).items():
        if not isinstance(value, dict):
            continue
        new = {}
        for key, item in value.items():
            source = owners.get(id(item)) if isinstance(item, list) else None
            if source is None:
                if isinstance(item, list):
                    owners[id(item)] = (attr, key)
                new[key] = item
            else:
                new[key] = None
                links.append([attr, key, *source])
        if any(link[0] == attr for link in links):
            replaced[attr] = new
    return replaced, links


def _without_frames(obj: Any, path: list[str], frames: list[Any], depth: int) -> Any:
    """``obj``, or a shallow copy of it whose pandas attributes (also those of the
    autoens objects it holds, e.g. the ``auto`` selector's table) are replaced by
    their plain state in ``frames`` as ``[attribute path, state]``."""
    import pandas as pd

    new = None
    for name, value in vars(obj).items():
        if isinstance(value, pd.DataFrame | pd.Series):
            replacement = _NO_VALUE
            frames.append([[*path, name], _frame_state(value)])
        elif (
            depth < _FRAME_DEPTH
            and type(value).__module__.startswith("autoens.")
            and hasattr(value, "__dict__")
        ):
            replacement = _without_frames(value, [*path, name], frames, depth + 1)
            if replacement is value:
                continue
        else:
            continue
        new = copy.copy(obj) if new is None else new
        if replacement is _NO_VALUE:
            delattr(new, name)
        else:
            setattr(new, name, replacement)
    return obj if new is None else new


_NO_VALUE = object()


def _model_types() -> tuple[type, ...]:
    """What a model file holds: an autoens estimator or a distilled student."""
    from autoens.distill import _Distilled
    from autoens.orchestrator import AutoEnsembleBase

    return (AutoEnsembleBase, _Distilled)


_FRAME_DEPTH = 3
"""How deep below the estimator autoens objects are searched for frames."""


def _portable_copy(model: AutoEnsembleBase) -> AutoEnsembleBase:
    """A shallow copy of ``model`` that skops can write: frames as plain columns,
    objects shared by ``ensemble_`` and the estimator (fold models, selector,
    competence space) written once: skops writes an object again wherever it is
    referenced, and the fold models are most of a model."""
    new = copy.copy(model)
    links: list[Any] = []
    shared_attrs: dict[str, str] = {}
    ensemble = getattr(model, "ensemble_", None)
    if ensemble is not None and hasattr(ensemble, "__dict__"):
        ens = copy.copy(ensemble)
        replaced, links = _link_fold_models(model, ensemble)
        for attr, value in replaced.items():
            setattr(ens, attr, value)
        for attr, owner in _ENSEMBLE_SHARED:
            value = getattr(ensemble, attr, None)
            if value is not None and value is getattr(model, owner, None):
                setattr(ens, attr, None)
                shared_attrs[attr] = owner
        new.ensemble_ = ens
    frames: list[Any] = []
    new = _without_frames(new, [], frames, 0)
    new._autoens_version = _version()
    setattr(
        new,
        _STATE,
        {"frames": frames, "fold_model_links": links, "ensemble_shared": shared_attrs},
    )
    return new


class _NameView(Sequence[str]):
    """``ZipFile.namelist()`` as a view: membership in constant time."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._names = archive.NameToInfo

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index: Any) -> Any:
        return list(self._names)[index]


class _ConstantTimeNamesZipFile(zipfile.ZipFile):
    """skops checks ``name not in zip_file.namelist()`` before writing each array,
    and ``namelist`` builds a new list of every name: saving n arrays costs n²/2
    name comparisons. A bagged forest ensemble holds tens of thousands of arrays
    (a 25-member pima ensemble: 242 s to save, 45 s with this)."""

    def namelist(self) -> _NameView:  # type: ignore[override]
        return _NameView(self)


_SKOPS_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _constant_time_names() -> Iterator[None]:
    """Let skops write through :class:`_ConstantTimeNamesZipFile` (where its save
    opens the archive under the name ``ZipFile``; otherwise nothing changes)."""
    import skops.io._persist as skops_persist

    with _SKOPS_PATCH_LOCK:
        original = getattr(skops_persist, "ZipFile", None)
        if original is not zipfile.ZipFile:  # a skops that opens archives otherwise
            yield
            return
        skops_persist.ZipFile = _ConstantTimeNamesZipFile
        try:
            yield
        finally:
            skops_persist.ZipFile = original


def save(model: AutoEnsembleBase, path: str | os.PathLike[str]) -> Path:
    """Write a fitted autoens estimator to ``path`` (a ``.skops`` file); returns it.

    The file is written next to ``path`` and renamed over it, so an interrupted save
    never leaves a truncated model where a good one was. ``model`` is not changed.
    Load it with :func:`load`; unlike a pickle, loading it cannot run code.
    """
    import skops.io as sio
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(model, _model_types()):
        raise TypeError(
            "autoens.save writes an AutoEnsembleClassifier, AutoEnsembleRegressor "
            f"or a distilled model (model.distill), got {type(model).__name__}"
        )
    check_is_fitted(model)
    out = Path(path)
    if out.is_dir():
        raise IsADirectoryError(
            f"{path} is a directory; give a file name such as model.skops"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "kind": _KIND,
        "format_version": FORMAT_VERSION,
        "autoens_version": _version(),
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
    }
    portable = _portable_copy(model)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        with _constant_time_names():
            sio.dump(
                portable,
                tmp,
                compression=zipfile.ZIP_DEFLATED,
                compresslevel=_COMPRESSLEVEL,
            )
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(_META, json.dumps(meta))
        Path(tmp).replace(out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


# -- load ----------------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> AutoEnsembleBase:
    """Load a model written by :func:`save` (or ``autoens fit``).

    The file's types are checked before anything is built: a file naming anything
    outside the allow-list (module docstring) raises :class:`UntrustedModelError`
    and nothing of it runs. Pickles of earlier autoens versions (``joblib.dump``)
    load with a :class:`LegacyModelWarning`, through a restricted unpickler. Any
    other failure to read the file is a :class:`ModelFileError`.
    """
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if file.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a model file")
    if zipfile.is_zipfile(file):
        return _load_skops(file)
    return _load_pickle(file)


def _read_meta(file: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            meta = json.loads(archive.read(_META)) if _META in names else None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read model file {file}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("kind") != _KIND:
        what = "a skops file, but " if "schema.json" in names else ""
        raise ModelFileError(
            f"{file} is {what}not an autoens model: expected a file written by "
            "autoens.save or `autoens fit`"
        )
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{file}: unreadable format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{file} was written by a newer autoens "
            f"({meta.get('autoens_version', '?')}, file format {version}; this "
            f"autoens reads format {FORMAT_VERSION} and older): upgrade autoens to "
            "load it"
        )
    return meta


def _load_skops(file: Path) -> AutoEnsembleBase:
    import skops.io as sio

    _read_meta(file)
    try:
        untrusted = sio.get_untrusted_types(file=file)
    except Exception as exc:  # a malformed schema: skops raises many kinds
        raise ModelFileError(
            f"cannot read model file {file}: {type(exc).__name__}: {exc}"
        ) from None
    refused = [name for name in untrusted if not _is_trusted(name)]
    if refused:
        raise _refuse(file, refused, "names")
    try:
        model = sio.load(file, trusted=untrusted)
    except Exception as exc:  # corrupt arrays, missing members, ...
        raise ModelFileError(
            f"cannot read model file {file}: {type(exc).__name__}: {exc}"
        ) from None
    return _restore(model, file)


def _restore(model: Any, file: Path) -> AutoEnsembleBase:
    """Undo :func:`_portable_copy` on the loaded copy."""
    state = getattr(model, "__dict__", {}).pop(_STATE, None)
    if not isinstance(model, _model_types()) or not isinstance(state, dict):
        raise ModelFileError(
            f"{file} is not an autoens model (it holds a {type(model).__name__})"
        )
    for path, frame in state["frames"]:
        owner = model
        for attr in path[:-1]:
            owner = getattr(owner, attr)
        setattr(owner, path[-1], _frame_restore(frame))
    ensemble = getattr(model, "ensemble_", None)
    if ensemble is not None:
        for attr, key, source_attr, source_key in state["fold_model_links"]:
            source = (
                model.library_.models
                if source_attr is None
                else getattr(ensemble, source_attr)
            )
            getattr(ensemble, attr)[key] = source[source_key]
        for attr, owner in state["ensemble_shared"].items():
            setattr(ensemble, attr, getattr(model, owner))
    return model


# -- legacy pickles ------------------------------------------------------------------


#: What a pickled DataFrame needs beyond its classes (pandas 2 and 3; pyarrow
#: backs pandas 3's strings).
_PICKLE_PANDAS_HELPERS = frozenset(
    {
        "pandas._libs.internals._unpickle_block",
        "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked",
        "pandas._libs.tslibs.timestamps._unpickle_timestamp",
        "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
        "pandas.core.indexes.base._new_Index",
        "pandas.core.internals.blocks.new_block",
        "pandas.core.internals.managers.BlockManager",
        "pandas.core.internals.managers.SingleBlockManager",
        "pyarrow.lib._restore_array",
        "pyarrow.lib.py_buffer",
        "pyarrow.lib.type_for_alias",
    }
)


def _pandas_data_class(name: str) -> bool:
    """A pandas class that holds data (frames, indexes, arrays, dtypes, scalars), not
    one that opens files (``pandas.HDFStore`` is in the same namespace)."""
    if name.partition(".")[0] != "pandas":
        return False
    import pandas as pd
    from pandas.api.extensions import ExtensionArray, ExtensionDtype

    obj = _resolve(name)
    data = (pd.DataFrame, pd.Series, pd.Index, ExtensionArray, ExtensionDtype)
    scalars = (pd.Timestamp, pd.Timedelta, pd.Interval, pd.Period)
    return isinstance(obj, type) and issubclass(obj, data + scalars)


def _pickle_trusted(name: str) -> bool:
    """The allow-list of :func:`load`, plus what pickled DataFrames need (skops
    files hold none: :func:`save` converts them)."""
    return (
        name in _PICKLE_HELPERS
        or name in _PICKLE_PANDAS_HELPERS
        or _is_trusted(name)
        or _pandas_data_class(name)
    )


def _full_module(module: str) -> str:
    """The real name of a module a pickle names by an alias: Cython classes of
    scikit-learn < 1.8 pickle as ``_loss.CyHalfBinomialLoss``, under the bare name
    their extension module also has in ``sys.modules`` (looked up, never imported)."""
    if "." in module:
        return module
    loaded = sys.modules.get(module)
    return getattr(loaded, "__name__", module) if loaded is not None else module


def _restricted_unpickler(file_name: str, fobj: Any) -> Any:
    """A joblib unpickler whose ``find_class`` refuses globals outside the
    allow-list; arrays of Python objects are read through the same check (joblib
    before 1.6 read them with a plain ``pickle.load``)."""
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    class _Restricted(NumpyUnpickler):
        dispatch = NumpyUnpickler.dispatch.copy()

        def find_class(self, module: str, name: str) -> Any:
            if not _pickle_trusted(f"{_full_module(module)}.{name}"):
                raise _Refused(f"{module}.{name}")
            return super().find_class(module, name)

        def load_build(self) -> None:
            if isinstance(self.stack[-2], NumpyArrayWrapper):
                pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
                wrapper = self.stack.pop()
                if wrapper.dtype.hasobject:
                    inner = pickle._Unpickler(self.file_handle)  # type: ignore[attr-defined]
                    inner.find_class = self.find_class
                    self.stack.append(inner.load())
                else:
                    self.stack.append(wrapper.read(self, self.ensure_native_byte_order))
                return
            super().load_build()

        dispatch[pickle.BUILD[0]] = load_build

    return _Restricted(file_name, fobj, True)


class _Refused(pickle.UnpicklingError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _load_pickle(file: Path) -> AutoEnsembleBase:
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    try:
        with (
            open(file, "rb") as handle,
            _validate_fileobject_and_memmap(handle, str(file)) as (fobj, _),
        ):
            if isinstance(fobj, str):  # joblib < 0.10: arrays in side files
                raise ModelFileError(
                    f"{file} was written by a joblib older than 0.10, which autoens "
                    "does not read"
                )
            obj = _restricted_unpickler(str(file), fobj).load()
    except _Refused as exc:
        raise _refuse(file, [exc.name], "is a pickle that refers to") from None
    except ModelFileError:
        raise
    except Exception as exc:  # pickle raises many types; all mean "not a model"
        raise ModelFileError(
            f"cannot read model file {file}: {type(exc).__name__}: {exc}. Expected "
            "a file written by autoens.save or `autoens fit`"
        ) from None
    if (
        isinstance(obj, dict)
        and {"format_version", "target", "estimator"} <= obj.keys()
    ):
        if not isinstance(obj["format_version"], int) or obj["format_version"] > 1:
            raise ModelFileError(
                f"{file} was written by a newer autoens "
                f"({obj.get('autoens_version', '?')}, format {obj['format_version']}); "
                "upgrade autoens to load it"
            )
        model = obj["estimator"]
        if isinstance(model, _model_types()):
            model.target_column_ = str(obj["target"])
            model._autoens_version = str(obj.get("autoens_version", "?"))
    else:
        model = obj
    if not isinstance(model, _model_types()):
        raise ModelFileError(
            f"{file} is not an autoens model (it holds a {type(model).__name__}); "
            "expected a file written by autoens.save or `autoens fit`"
        )
    warnings.warn(
        f"{file} is a pickle (joblib) from an earlier autoens. Loading a pickle can "
        "run any code the file holds; autoens read it with an unpickler limited to "
        "the classes a model needs, but a .skops file is safer: its types are "
        "checked before anything is built. Re-save it with "
        "autoens.save(model, 'model.skops').",
        LegacyModelWarning,
        stacklevel=2,
    )
    return model
