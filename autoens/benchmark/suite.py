"""Run definitions: which tasks, folds, seeds, budget and methods a benchmark runs.

A run definition is a TOML file (``benchmarks/suites/*.toml``)::

    [run]
    name = "smoke"
    mode = "end_to_end"            # or "replay": one search, every selector on it
    metric = "roc_auc"
    folds = 2                      # a count (folds 0..n-1 of n), or a list [0, 2]
    seeds = [0]
    n_trials = 3                   # budget per fit: n_trials and/or time_limit (s)
    cv = 2
    learners = ["logreg", "hist_gb"]
    methods = ["random+ges", "tpe+ges"]   # SEARCH+SELECTOR
    tasks = ["keel:wdbc", "keel:pima"]

``tasks`` may also be ``[[tasks]]`` tables (``id = "csv:data/"``, ``target = "y"``).
Every field can be overridden from the command line. Unknown keys and values are
errors that name the key and the valid choices. Paths in a file are relative to it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "MODES",
    "Suite",
    "SuiteError",
    "load_suite",
    "parse_method",
    "suite_from_dict",
]

MODES = ("end_to_end", "replay")
# Outer folds of the development suite: StratifiedKFold(3, shuffle=True,
# random_state=seed), as in every script in benchmarks/.
DEFAULT_N_FOLDS = 3


class SuiteError(ValueError):
    """A run definition with an unknown key or an invalid value."""


@dataclasses.dataclass(frozen=True)
class Suite:
    """A resolved run definition (defaults filled, overrides applied, paths absolute).

    ``folds`` are the outer folds to run, out of ``n_folds``
    (``StratifiedKFold(n_folds, shuffle=True, random_state=seed)``; OpenML tasks use
    their official folds and ignore ``n_folds``). ``n_jobs`` is the parallelism inside
    one fit, ``jobs`` the number of units run at once.
    """

    name: str
    tasks: tuple[Any, ...]
    methods: tuple[str, ...]
    mode: str = "end_to_end"
    metric: str = "roc_auc"
    folds: tuple[int, ...] = (0, 1, 2)
    n_folds: int = DEFAULT_N_FOLDS
    seeds: tuple[int, ...] = (0,)
    n_trials: int | None = 16  # None: only time_limit bounds a fit
    time_limit: float | None = None
    trial_time_limit: float | None = None
    cv: int = 3
    n_jobs: int = 1
    jobs: int = 1
    learners: tuple[str, ...] | None = None
    csv_target: str | None = None
    openml_cache_dir: str | None = None

    @property
    def searches(self) -> tuple[str, ...]:
        """Search strategies of the methods, in order of first use."""
        return tuple(dict.fromkeys(parse_method(m)[0] for m in self.methods))

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


def parse_method(method: str) -> tuple[str, str]:
    """``"tpe+ges"`` → ``("tpe", "ges")``, validated against the registered names.

    Validation reads the registries at call time, so newly registered search
    strategies and selectors are accepted without touching this module.
    """
    from autoens.search import SEARCH_STRATEGIES
    from autoens.selectors import SELECTOR_NAMES

    if not isinstance(method, str) or method.count("+") != 1:
        raise SuiteError(
            f"method {method!r} must be SEARCH+SELECTOR, e.g. tpe+ges; searches: "
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
    return search, selector


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

    if key == "openml_cache_dir" and isinstance(value, str):
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

    metric = f.get("metric", "roc_auc")
    from autoens.metrics import get_metric

    try:
        get_metric(metric)
    except (ValueError, TypeError) as exc:
        raise fail("metric", str(exc)) from None
    out["metric"] = metric

    methods = string_list("methods")
    normalised = []
    for method in methods:
        search, selector = parse_method(method)
        normalised.append(f"{search}+{selector}")
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
    out["time_limit"] = optional_number("time_limit")
    out["trial_time_limit"] = optional_number("trial_time_limit")
    if "n_trials" in f:
        out["n_trials"] = integer("n_trials", 1)
    elif out["time_limit"] is not None:
        out["n_trials"] = None  # a time_limit alone lets the clock decide
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
        from autoens.space import get_learners

        try:
            get_learners(list(learners))
        except (ValueError, KeyError, TypeError) as exc:
            raise fail("learners", str(exc)) from None
        out["learners"] = learners
    for key in ("csv_target", "openml_cache_dir"):
        if f.get(key) is not None:
            if not isinstance(f[key], str):
                raise fail(key, f"expected a string, got {f[key]!r}")
            out[key] = f[key]
    return Suite(**out)
