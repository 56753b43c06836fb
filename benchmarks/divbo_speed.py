"""DivBO proposal time: the previous implementation vs the current one, same histories.

A DivBO search of ``--n-trials`` trials (all default learners, 5-fold CV, one worker)
is run once per dataset into a disk cache under ``--work`` and its records are saved
beside it (``records.json``). The replay then feeds the growing history (records
1..t, their OOF predictions read from the cache) to a fresh proposer of each
implementation and times every ``propose`` call, so both see exactly the same
inputs; the implementations take turns at every step, so the machine's load falls on
both alike. The previous implementation is read from git at ``--old`` (the commit
before the speed-up); the ratio to the mean evaluated trial time (fit + predict of
the recorded trials) is what the search pays for its proposals. ``same`` counts the
proposals both make; ``exact`` how many of the current one's diversity-ranked
proposals a third replay with exact diversity ranks (every candidate scored) repeats.

    python benchmarks/divbo_speed.py                       # phoneme, spambase, satimage
    python benchmarks/divbo_speed.py --datasets pima --n-trials 25   # a quick run
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from autoens.cache import CacheEntry, MemoryCache, get_cache
from autoens.datasets import load_keel
from autoens.metrics import get_metric
from autoens.search import Budget, run_search
from autoens.search.divbo import DivBO
from autoens.search.proposers import SearchHistory
from autoens.space import get_learners, get_portfolio
from autoens.tabular import TableSchema, check_table
from autoens.task import ClassificationTask
from autoens.trials import TrialRecord

ROOT = Path(__file__).resolve().parents[1]
#: The commit whose divbo.py is the "old" implementation.
OLD_COMMIT = "04370b5"
SEED = 0


def _setup(name: str, cache_root: Path) -> dict[str, Any]:
    """Everything a search on ``name`` needs, built as ``fit`` builds it."""
    X, y = load_keel(name)
    frame = check_table(X)
    schema, frame = TableSchema.learn(frame)
    task, y_enc = ClassificationTask.from_target(y)
    metric = get_metric(task.default_metric, task=task)
    folds = task.make_folds(frame, y_enc, n_splits=5, random_state=SEED)
    specs = get_learners(None, task=task)
    cache = get_cache(cache_root / name, fingerprint=folds.fingerprint)
    return dict(
        frame=frame,
        schema=schema,
        task=task,
        y=y_enc,
        metric=metric,
        folds=folds,
        specs=specs,
        cache=cache,
    )


def record(name: str, work: Path, n_trials: int) -> list[TrialRecord]:
    """The records of one DivBO search on ``name`` (run once, then read back)."""
    path = work / name / "records.json"
    if path.exists():
        return [TrialRecord(**r) for r in json.loads(path.read_text())]
    s = _setup(name, work)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = run_search(
            X=s["frame"],
            y=s["y"],
            folds=s["folds"],
            task=s["task"],
            feature_types=s["schema"].feature_types,
            specs=s["specs"],
            portfolio=get_portfolio("default", s["specs"], task=s["task"]),
            metric=s["metric"],
            cache=s["cache"],
            budget=Budget(n_trials, None, None),
            search=DivBO(random_state=SEED),
            n_jobs=1,
            random_state=SEED,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.__dict__ for r in records], default=repr))
    return list(records)


def old_divbo_class(commit: str = OLD_COMMIT) -> type:
    """DivBO as it was at ``commit`` (its helpers are today's modules)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:autoens/search/divbo.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "divbo_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("divbo_old", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DivBO


def replay(
    proposers: list[Any], s: dict[str, Any], records: list[TrialRecord]
) -> list[tuple[np.ndarray, list[tuple[str, dict, Any]]]]:
    """Time each proposer's ``propose`` on histories of 1..n records, taking turns at
    every step (the order alternating) so that the machine's load falls on all alike;
    per proposer the times and the proposals made."""
    # The proposals' own cost: OOF predictions in memory (the default cache), not
    # re-read and checksummed from disk at every proposal.
    memory = MemoryCache()
    for r in records:
        entry = s["cache"].get(r.key, load_models=False) if r.status == "ok" else None
        if entry is not None:
            memory.put(CacheEntry(r.key, entry.oof, [], entry.meta))
    times = [[] for _ in proposers]
    proposals: list[list[tuple[str, dict, Any]]] = [[] for _ in proposers]
    for t in range(1, len(records) + 1):
        history = SearchHistory(
            specs=s["specs"],
            records=records[:t],
            pending=[],
            y=s["y"],
            metric=s["metric"],
            cache=memory,
        )
        order = range(len(proposers)) if t % 2 else reversed(range(len(proposers)))
        for k in order:
            start = time.perf_counter()
            p = proposers[k].propose(history)
            times[k].append(time.perf_counter() - start)
            proposals[k].append((p.learner, p.params, p.attrs.get("proposer")))
    return [(np.array(t), p) for t, p in zip(times, proposals, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["phoneme", "spambase", "satimage"]
    )
    parser.add_argument("--n-trials", type=int, default=40)
    parser.add_argument(
        "--work", type=Path, default=Path.home() / ".cache" / "autoens-divbo-speed"
    )
    parser.add_argument("--old", default=None, help="commit of the old divbo.py")
    parser.add_argument(
        "--record-only", action="store_true", help="run the searches, no replay"
    )
    args = parser.parse_args(argv)
    print("command: python " + shlex.join(sys.argv))
    print(f"python {platform.python_version()}, {platform.machine()}")
    all_records = {}
    for name in args.datasets:
        start = time.perf_counter()
        all_records[name] = record(name, args.work, args.n_trials)
        spent = time.perf_counter() - start
        print(f"{name}: {len(all_records[name])} records ({spent:.0f} s)")
    if args.record_only:
        return 0
    Old = old_divbo_class(args.old or OLD_COMMIT)
    header = (
        f"{'dataset':<10} {'rows':>5} {'trial s':>8} {'old ms':>8} {'new ms':>8} "
        f"{'old/new':>8} {'old %':>6} {'new %':>6} {'same':>5} {'exact':>6}"
    )
    print(header)
    for name, records in all_records.items():
        s = _setup(name, args.work)
        evaluated = [r for r in records if r.source == "evaluated" and r.status == "ok"]
        trial = float(np.mean([r.fit_time + r.predict_time for r in evaluated]))
        # The current proposer with exact diversity ranks too (its reference sample
        # is all of S): how often the estimated ranks pick what exact ones would.
        exact = DivBO(random_state=SEED)
        exact._div_reference = 1 << 30
        (t_old, p_old), (t_new, p_new), (_, p_exact) = replay(
            [Old(random_state=SEED), DivBO(random_state=SEED), exact], s, records
        )
        # Model-based proposals only: random ones cost nothing in either.
        model = np.array([p[2] in ("divbo", "bo") for p in p_new])
        old_ms = 1000 * t_old[model].mean()
        new_ms = 1000 * t_new[model].mean()
        same = sum(a[:2] == b[:2] for a, b in zip(p_old, p_new, strict=True))
        agree = sum(
            a[:2] == b[:2]
            for a, b, m in zip(p_exact, p_new, model, strict=True)
            if m and a[2] == "divbo"
        )
        n_div = sum(m and a[2] == "divbo" for a, m in zip(p_exact, model, strict=True))
        print(
            f"{name:<10} {len(s['y']):>5} {trial:>8.2f} {old_ms:>8.1f} {new_ms:>8.1f} "
            f"{old_ms / new_ms:>8.2f} {100 * old_ms / 1000 / trial:>6.1f} "
            f"{100 * new_ms / 1000 / trial:>6.1f} {same:>2}/{len(p_new)} "
            f"{agree:>3}/{n_div}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
