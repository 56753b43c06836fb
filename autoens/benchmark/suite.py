"""Run definitions: which tasks, folds, seeds, budget and methods a benchmark runs.

A run definition is a TOML file (``benchmarks/suites/*.toml``)::

    [run]
    name = "smoke"
    mode = "end_to_end"            # or "replay": one search, every selector on it
    metric = "roc_auc"             # default: each task's own (roc_auc / rmse)
    folds = 2                      # a count (folds 0..n-1 of n), or a list [0, 2]
    seeds = [0]
    selector_seeds = [0, 1, 2]     # replay only: each selector run per seed, averaged
    n_trials = 3                   # budget per fit: n_trials and/or time_limit (s)
    cv = 2
    learners = ["logreg", "hist_gb"]
    methods = ["random+ges", "tpe+ges"]   # SEARCH+SELECTOR, default:L, tuned:L
    tasks = ["keel:wdbc", "keel:pima"]

``portfolio`` (a path, relative to the file, or ``"default"``) is the warm-start
portfolio of the searches (the estimator's ``portfolio=``; baselines keep the default
one). A portfolio file and no ``n_trials`` (nor ``time_limit``) make ``n_trials`` the
file's number of configs, so every task evaluates exactly those configs and nothing
else: the replay run ``autoens portfolio build`` learns a portfolio from.

``tasks`` may also be ``[[tasks]]`` tables (``id = "csv:data/"``, ``target = "y"``,
``task = "regression"``). Every field can be overridden from the command line.
Unknown keys and values are errors that name the key and the valid choices. Paths in
a file are relative to it.

Methods (:func:`parse_method`):

- ``SEARCH+SELECTOR`` (``tpe+ges``): one ``AutoEnsemble*`` fit with that search
  strategy and selector.
- ``default:LEARNER`` (``default:lightgbm``): a baseline with no search: the
  learner's default configuration (autoens' default point of its search space) fit
  once on the outer training part.
- ``tuned:LEARNER`` (``tuned:hist_gb``): a baseline searched like the other methods
  (same budget, TPE) but over that learner alone, and kept as the single best
  configuration (``selector = "single_best"``).

Classification and regression tasks may share a suite when ``metric`` is left unset:
each task is then scored with its family's default metric (``roc_auc``, ``rmse``),
and the report has one section per metric. ``metric`` set to a metric of one family
refuses tasks of the other.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autoens.benchmark.tasks import FAMILIES, TASK_KINDS

__all__ = [
    "BASELINE_KINDS",
    "MODES",
    "Method",
    "Suite",
    "SuiteError",
    "load_suite",
    "parse_method",
    "suite_from_dict",
]

MODES = ("end_to_end", "replay")
BASELINE_KINDS = ("default", "tuned")
"""Prefixes of the baseline methods ``default:LEARNER`` and ``tuned:LEARNER``."""
# Outer folds of the development suites: StratifiedKFold(3, shuffle=True,
# random_state=seed), as in every script in benchmarks/.
DEFAULT_N_FOLDS = 3


class SuiteError(ValueError):
    """A run definition with an unknown key or an invalid value."""


@dataclasses.dataclass(frozen=True)
class Suite:
    """A resolved run definition (defaults filled, overrides applied, paths absolute).

    ``folds`` are the outer folds to run, out of ``n_folds``
    (``StratifiedKFold(n_folds, shuffle=True, random_state=seed)``, ``KFold`` for
    regression tasks; OpenML tasks use
    their official folds and ignore ``n_folds``). ``n_jobs`` is the parallelism inside
    one fit, ``jobs`` the number of units run at once.
    """

    name: str
    tasks: tuple[Any, ...]
    methods: tuple[str, ...]
    mode: str = "end_to_end"
    metric: str | None = None  # None: each task's default (roc_auc, rmse)
    folds: tuple[int, ...] = (0, 1, 2)
    n_folds: int = DEFAULT_N_FOLDS
    seeds: tuple[int, ...] = (0,)
    # Replay mode: seeds of the selectors run on each saved search (a row holds the
    # mean over them); None: one run, seeded like the search.
    selector_seeds: tuple[int, ...] | None = None
    n_trials: int | None = 16  # None: only time_limit bounds a fit
    time_limit: float | None = None
    trial_time_limit: float | None = None
    cv: int = 3
    n_jobs: int = 1
    jobs: int = 1
    learners: tuple[str, ...] | None = None
    csv_target: str | None = None
    # The kind of problem of CSV tasks: "classification" (None means it too),
    # "regression" or "auto"; other sources say what they are themselves.
    task: str | None = None
    openml_cache_dir: str | None = None
    # The searches' warm-start portfolio: None (the estimator's default), "default"
    # or the absolute path of a portfolio file.
    portfolio: str | None = None

    @property
    def searches(self) -> tuple[str, ...]:
        """Search strategies of the ``SEARCH+SELECTOR`` methods, in order of first
        use."""
        methods = (parse_method(m) for m in self.methods)
        return tuple(dict.fromkeys(m.search for m in methods if m.kind == "ensemble"))

    def result_settings(self) -> dict[str, Any]:
        """The fields that change what a unit computes (checked when resuming)."""
        return {
            key: getattr(self, key)
            for key in (
                "mode",
                "metric",
                "n_folds",
                "n_trials",
                "time_limit",
                "trial_time_limit",
                "cv",
                "learners",
                "csv_target",
                "task",
                "portfolio",
                "selector_seeds",
            )
        }

    def to_toml(self) -> str:
        """The run definition as TOML (what ``suite.toml`` of a results dir holds)."""
        lines = [
            "# Resolved run definition written by `autoens benchmark run`.",
            "[run]",
        ]
        tables = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if field.name == "tasks" and any(isinstance(t, Mapping) for t in value):
                tables = [t if isinstance(t, Mapping) else {"id": t} for t in value]
                continue
            lines.append(f"{field.name} = {_toml_value(value)}")
        for table in tables:
            lines.append("")
            lines.append("[[tasks]]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


_FIELDS = {f.name for f in dataclasses.fields(Suite)}


@dataclasses.dataclass(frozen=True)
class Method:
    """A parsed method name (see the module docstring).

    ``kind`` is ``"ensemble"`` (``SEARCH+SELECTOR``), ``"default"`` or ``"tuned"``;
    ``search`` and ``selector`` are what the fit uses (None for ``default:``, which
    has neither); ``learner`` is the baseline's learner.
    """

    kind: str
    search: str | None
    selector: str | None
    learner: str | None = None

    @property
    def name(self) -> str:
        """The normalised method name, as stored in the rows."""
        if self.kind == "ensemble":
            return f"{self.search}+{self.selector}"
        return f"{self.kind}:{self.learner}"


def parse_method(method: str) -> Method:
    """``"tpe+ges"``, ``"default:lightgbm"`` or ``"tuned:hist_gb"``, validated
    against the registered names.

    Validation reads the registries at call time, so newly registered search
    strategies, selectors and learners are accepted without touching this module.
    A baseline's learner must exist for classification or regression; whether it
    serves a given task is checked when its unit runs.
    """
    from autoens.search import SEARCH_STRATEGIES
    from autoens.selectors import SELECTOR_NAMES

    if isinstance(method, str) and ":" in method:
        return _parse_baseline(method)
    if not isinstance(method, str) or method.count("+") != 1:
        raise SuiteError(
            f"method {method!r} must be SEARCH+SELECTOR, e.g. tpe+ges, or a baseline "
            f"{' or '.join(k + ':LEARNER' for k in BASELINE_KINDS)}; searches: "
            f"{', '.join(SEARCH_STRATEGIES)}; selectors: {', '.join(SELECTOR_NAMES)}"
        )
    search, selector = (part.strip().lower() for part in method.split("+"))
    if search not in SEARCH_STRATEGIES:
        raise SuiteError(
            f"methods: unknown search strategy {search!r} in {method!r}; valid: "
            f"{', '.join(SEARCH_STRATEGIES)}"
        )
    if selector not in SELECTOR_NAMES:
        raise SuiteError(
            f"methods: unknown selector {selector!r} in {method!r}; valid: "
            f"{', '.join(SELECTOR_NAMES)}"
        )
    return Method("ensemble", search, selector)


def _parse_baseline(method: str) -> Method:
    from autoens.space import DEFAULT_LEARNERS, DEFAULT_REGRESSORS

    kind, _, learner = (part.strip() for part in method.partition(":"))
    kind = kind.lower()
    if kind not in BASELINE_KINDS:
        raise SuiteError(
            f"methods: unknown baseline kind {kind!r} in {method!r}; valid: "
            f"{', '.join(k + ':LEARNER' for k in BASELINE_KINDS)} (or SEARCH+SELECTOR)"
        )
    known = sorted({*DEFAULT_LEARNERS, *DEFAULT_REGRESSORS})
    if learner not in known:
        raise SuiteError(
            f"methods: unknown learner {learner!r} in {method!r}; valid: "
            f"{', '.join(known)}"
        )
    if kind == "tuned":
        return Method("tuned", "tpe", "single_best", learner)
    return Method("default", None, None, learner)


def load_suite(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Suite:
    """Read a TOML run definition; ``overrides`` (e.g. from CLI flags) win over it."""
    file = Path(path)
    if not file.is_file():
        raise SuiteError(f"run definition not found: {path}")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"run", "tasks", "methods"}
    if unknown:
        raise SuiteError(
            f"{path}: unknown top-level key(s) {sorted(unknown)}; valid: run (table), "
            "tasks, methods"
        )
    run = dict(data.get("run", {}))
    for key in ("tasks", "methods"):
        if key in data:
            if key in run:
                raise SuiteError(
                    f"{path}: {key!r} is given both in [run] and at top level"
                )
            run[key] = data[key]
    run.setdefault("name", file.stem)
    return suite_from_dict(
        run, overrides=overrides, base_dir=file.resolve().parent, where=str(path)
    )


def suite_from_dict(
    run: Mapping[str, Any],
    *,
    overrides: Mapping[str, Any] | None = None,
    base_dir: str | Path | None = None,
    where: str = "run definition",
) -> Suite:
    """Validate a ``[run]`` mapping (plus overrides) into a :class:`Suite`.

    Relative paths (``csv:`` tasks, ``openml_cache_dir``) in ``run`` are taken from
    ``base_dir``; those in ``overrides`` from the working directory.
    """
    valid = sorted(_FIELDS)
    unknown = sorted(set(run) - _FIELDS)
    if unknown:
        raise SuiteError(
            f"{where}: unknown key(s) {unknown} in [run]; valid: {', '.join(valid)}"
        )
    overrides = dict(overrides or {})
    bad = sorted(set(overrides) - _FIELDS)
    if bad:
        raise SuiteError(f"unknown override(s) {bad}; valid: {', '.join(valid)}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    fields: dict[str, Any] = {}
    for key, value in run.items():
        fields[key] = _with_paths(key, value, base)
    folds = run.get("folds")
    if isinstance(folds, int) and not isinstance(folds, bool) and "n_folds" not in run:
        # "folds = 2" in the file means 2 outer folds, even when a flag picks which
        fields["n_folds"] = max(folds, 2)
    for key, value in overrides.items():
        fields[key] = _with_paths(key, value, Path.cwd())
    if "name" not in fields:
        fields["name"] = "benchmark"
    for key in ("tasks", "methods"):
        if not fields.get(key):
            raise SuiteError(f"{where}: {key!r} is missing or empty")
    return _validated(fields, where)


def _with_paths(key: str, value: Any, base: Path) -> Any:
    def absolute(path: str) -> str:
        return str((base / Path(path).expanduser()).resolve())

    if key in ("openml_cache_dir", "portfolio") and isinstance(value, str):
        if key == "portfolio" and value == "default":
            return value
        return absolute(value)
    if key == "tasks" and isinstance(value, list | tuple):
        out = []
        for item in value:
            if isinstance(item, str) and item.strip().lower().startswith("csv:"):
                out.append("csv:" + absolute(item.split(":", 1)[1].strip()))
            elif isinstance(item, Mapping) and str(item.get("id", "")).startswith(
                "csv:"
            ):
                out.append(
                    {**item, "id": "csv:" + absolute(str(item["id"]).split(":", 1)[1])}
                )
            else:
                out.append(item)
        return out
    return value


def _validated(f: dict[str, Any], where: str) -> Suite:
    def fail(key: str, message: str) -> SuiteError:
        return SuiteError(f"{where}: {key}: {message}")

    def integer(key: str, low: int | None = None) -> int:
        value = f[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(key, f"expected an integer, got {value!r}")
        if low is not None and value < low:
            raise fail(key, f"must be at least {low}, got {value}")
        return value

    def int_list(key: str, low: int = 0) -> tuple[int, ...]:
        value = f[key]
        values = (
            [value] if isinstance(value, int) and not isinstance(value, bool) else value
        )
        if not isinstance(values, list | tuple) or not values:
            raise fail(key, f"expected a list of integers, got {value!r}")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise fail(key, f"expected integers >= {low}, got {v!r}")
        if len(set(values)) != len(values):
            raise fail(key, f"has duplicates: {list(values)}")
        return tuple(values)

    def optional_number(key: str) -> float | None:
        value = f.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(key, f"expected a number of seconds, got {value!r}")
        if not (value > 0 and math.isfinite(value)):
            raise fail(key, f"must be positive, got {value}")
        return float(value)

    def string_list(key: str) -> tuple[str, ...]:
        value = f[key]
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            raise fail(key, f"expected a non-empty list of strings, got {value!r}")
        if not all(isinstance(v, str) for v in value):
            raise fail(key, f"expected strings, got {value!r}")
        return tuple(value)

    out: dict[str, Any] = {"name": f["name"]}
    if not isinstance(f["name"], str) or not f["name"].strip():
        raise fail("name", f"expected a non-empty string, got {f['name']!r}")

    mode = f.get("mode", "end_to_end")
    if mode not in MODES:
        raise fail("mode", f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    out["mode"] = mode

    metric = f.get("metric")
    if metric is not None:
        if not isinstance(metric, str):
            raise fail("metric", f"expected a metric name, got {metric!r}")
        metric_families(metric, where=f"{where}: metric")
    out["metric"] = metric

    methods = string_list("methods")
    normalised = []
    for method in methods:
        normalised.append(parse_method(method).name)
    if len(set(normalised)) != len(normalised):
        raise fail("methods", f"has duplicates: {list(methods)}")
    out["methods"] = tuple(normalised)

    tasks = f["tasks"]
    if isinstance(tasks, str) or not isinstance(tasks, list | tuple) or not tasks:
        raise fail("tasks", f"expected a non-empty list of task ids, got {tasks!r}")
    for task in tasks:
        if not isinstance(task, str | Mapping):
            raise fail("tasks", f"expected task ids (strings) or tables, got {task!r}")
    # a table with only an id is the same task as the plain id
    out["tasks"] = tuple(
        (t["id"] if set(t) == {"id"} else dict(t)) if isinstance(t, Mapping) else t
        for t in tasks
    )

    n_folds = integer("n_folds", 2) if "n_folds" in f else None
    folds = f.get("folds", DEFAULT_N_FOLDS)
    if isinstance(folds, int) and not isinstance(folds, bool):
        if folds < 1:
            raise fail("folds", f"a fold count must be at least 1, got {folds}")
        n_folds = n_folds or max(folds, 2)
        if folds > n_folds:
            raise fail("folds", f"{folds} folds asked of n_folds = {n_folds}")
        out["folds"] = tuple(range(folds))
    else:
        f["folds"] = folds
        out["folds"] = int_list("folds")
        n_folds = n_folds or DEFAULT_N_FOLDS
        too_big = [i for i in out["folds"] if i >= n_folds]
        if too_big:
            raise fail(
                "folds",
                f"fold(s) {too_big} do not exist with n_folds = {n_folds} "
                "(folds are numbered from 0)",
            )
    out["n_folds"] = n_folds

    if "seeds" in f:
        out["seeds"] = int_list("seeds")
    if f.get("selector_seeds") is not None:
        if mode != "replay":
            raise fail(
                "selector_seeds",
                'needs mode = "replay" (an end-to-end fit is seeded by seeds)',
            )
        out["selector_seeds"] = int_list("selector_seeds")
    out["time_limit"] = optional_number("time_limit")
    out["trial_time_limit"] = optional_number("trial_time_limit")
    n_portfolio = _portfolio_length(f, fail)
    if f.get("portfolio") is not None:
        out["portfolio"] = f["portfolio"]
    if "n_trials" in f:
        out["n_trials"] = integer("n_trials", 1)
    elif out["time_limit"] is not None:
        out["n_trials"] = None  # a time_limit alone lets the clock decide
    elif n_portfolio is not None:
        out["n_trials"] = n_portfolio  # exactly the file's configs
    if "cv" in f:
        out["cv"] = integer("cv", 2)
    if "n_jobs" in f:
        out["n_jobs"] = integer("n_jobs")
        if out["n_jobs"] == 0:
            raise fail("n_jobs", "must be a positive count or -1 (all cores), not 0")
    if "jobs" in f:
        out["jobs"] = integer("jobs")
        if out["jobs"] == 0:
            raise fail("jobs", "must be a positive count or -1 (all cores), not 0")
    if f.get("learners") is not None:
        learners = string_list("learners")
        learner_families(learners, where=f"{where}: learners")
        out["learners"] = learners
    if "task" in f:
        if f["task"] not in TASK_KINDS:
            raise fail(
                "task",
                f"unknown task kind {f['task']!r}; valid: {', '.join(TASK_KINDS)} "
                "(the kind of problem of CSV tasks)",
            )
        out["task"] = f["task"]
    for key in ("csv_target", "openml_cache_dir"):
        if f.get(key) is not None:
            if not isinstance(f[key], str):
                raise fail(key, f"expected a string, got {f[key]!r}")
            out[key] = f[key]
    return Suite(**out)


def _portfolio_length(f: Mapping[str, Any], fail: Any) -> int | None:
    """The number of configs of the suite's portfolio file (None: no file), after
    checking that the file reads."""
    value = f.get("portfolio")
    if value is None or value == "default":
        return None
    if not isinstance(value, str):
        raise fail("portfolio", f"expected 'default' or a file path, got {value!r}")
    from autoens.space import read_portfolio

    try:
        return len(read_portfolio(value).configs)
    except ValueError as exc:
        raise fail("portfolio", str(exc)) from None


def _family_type(family: str) -> Any:
    from autoens.task import ClassificationTask, RegressionTask

    return ClassificationTask if family == "classification" else RegressionTask


def metric_families(metric: str, *, where: str = "metric") -> tuple[str, ...]:
    """The task families ``metric`` can score; a SuiteError when none."""
    from autoens.metrics import get_metric

    families, errors = [], []
    for family in FAMILIES:
        try:
            get_metric(metric, task=_family_type(family))
        except (ValueError, TypeError) as exc:
            errors.append(str(exc))
        else:
            families.append(family)
    if not families:
        raise SuiteError(f"{where}: {errors[0]}")
    return tuple(families)


def learners_for(learners: Any, family: str) -> list[str]:
    """The names in ``learners`` that are learners of ``family``, in order: a mixed
    suite's ``learners`` may list learners of either family (``logreg``, ``ridge``),
    and each task searches those of its own."""
    from autoens.space import default_learners

    catalogue = default_learners(_family_type(family))
    return [name for name in learners if name in catalogue]


def learner_families(learners: Any, *, where: str = "learners") -> tuple[str, ...]:
    """The task families that have at least one of ``learners``; a SuiteError for a
    name that is a learner of neither family, or one whose library does not
    import."""
    from autoens.space import get_learners

    served: dict[str, list[str]] = {f: learners_for(learners, f) for f in FAMILIES}
    unknown = [n for n in learners if not any(n in names for names in served.values())]
    if unknown:
        from autoens.space import DEFAULT_LEARNERS, DEFAULT_REGRESSORS

        raise SuiteError(
            f"{where}: unknown learner(s) {unknown}; classification learners: "
            f"{sorted(DEFAULT_LEARNERS)}; regression learners: "
            f"{sorted(DEFAULT_REGRESSORS)}"
        )
    for family, names in served.items():
        if names:
            try:
                get_learners(names, task=_family_type(family))
            except (ValueError, KeyError, TypeError) as exc:
                raise SuiteError(f"{where}: {exc}") from None
    return tuple(f for f, names in served.items() if names)
