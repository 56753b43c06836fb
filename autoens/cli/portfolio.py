"""``autoens portfolio {candidates,build}``: learn a warm-start portfolio from a
replay benchmark run.

``candidates`` writes the configs every task should evaluate (the default portfolio
plus K drawn from the search spaces); a replay suite with ``portfolio = FILE``
evaluates them; ``build`` picks the configs whose ensemble is best across the run's
tasks (:mod:`autoens.benchmark.portfolio`) and writes a portfolio file that
``portfolio=PATH`` and ``autoens fit --portfolio PATH`` read.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from autoens.cli._common import CLIError, HelpFormatter, log_to_stderr, positive_int

DESCRIPTION = """\
Learn a warm-start portfolio from benchmark results, greedily (the zero-shot
portfolios of auto-sklearn 2.0 and TabRepo):

  autoens portfolio candidates --size K --out candidates.json
      the default portfolio plus K configs drawn from the search spaces
  autoens benchmark run benchmarks/suites/portfolio-build.toml --out RESULTS_DIR
      a replay suite with portfolio = "candidates.json": every task evaluates
      exactly those configs
  autoens portfolio build RESULTS_DIR --size N --out portfolio.json
      the N configs whose ensemble is best across the tasks
  autoens fit train.csv --target y --portfolio portfolio.json
"""

BUILD_DESCRIPTION = """\
Pick --size configs of a replay run greedily: each step adds the config that most
improves the mean normalised score, over the run's task-folds, of the greedy
ensemble (GES) built from the portfolio so far. Configs are matched across
task-folds by learner and params. The portfolio file records the task-folds and
this command.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "portfolio",
        help="learn a warm-start portfolio from benchmark results",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(
        title="portfolio commands", dest="portfolio_command", metavar="CMD"
    )
    sub.required = True
    cand = sub.add_parser(
        "candidates",
        help="write the configs a replay suite should evaluate on every task",
        description="Write the default portfolio plus --size configs drawn at random "
        "from the learners' search spaces, as a portfolio file. A replay suite with "
        'portfolio = "FILE" and no n_trials evaluates exactly these on every task.',
        formatter_class=HelpFormatter,
    )
    cand.add_argument(
        "--size",
        type=int,
        required=True,
        metavar="K",
        help="configs to draw besides the default portfolio",
    )
    cand.add_argument("--seed", type=int, default=0, metavar="S", help="random seed")
    cand.add_argument(
        "--learners",
        nargs="+",
        default=None,
        metavar="NAME",
        help="learners to draw from (default: every installed default learner)",
    )
    cand.add_argument(
        "--task",
        choices=("classification", "regression"),
        default="classification",
        help="task family (default: %(default)s)",
    )
    cand.add_argument(
        "--no-default",
        action="store_true",
        help="leave the default portfolio out",
    )
    cand.add_argument("--out", required=True, metavar="FILE", help="JSON file")
    cand.set_defaults(run=run_candidates)

    build = sub.add_parser(
        "build",
        help="pick a portfolio greedily from a replay run's saved searches",
        description=BUILD_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    build.add_argument(
        "results", metavar="RESULTS_DIR", help="directory of a replay benchmark run"
    )
    build.add_argument(
        "--size", type=positive_int, required=True, metavar="N", help="configs"
    )
    build.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="portfolio file to write (default: RESULTS_DIR/portfolio.json)",
    )
    build.add_argument(
        "--score",
        choices=("validation", "test"),
        default="validation",
        help="score the ensembles on the OOF predictions they were selected on, or "
        "on the outer test folds (predicted once with the saved fold models) "
        "(default: %(default)s)",
    )
    build.add_argument(
        "--normalize",
        choices=("range", "rank"),
        default="range",
        help="per task-fold: range (worst config 0, best 1) or rank (share of "
        "configs beaten) (default: %(default)s)",
    )
    build.add_argument(
        "--ensemble-size",
        type=positive_int,
        default=25,
        metavar="N",
        help="GES iterations of each ensemble (default: %(default)s)",
    )
    build.add_argument(
        "--search",
        default=None,
        metavar="NAME",
        help="search strategy whose saved searches to read, when the suite ran "
        "several (default: the first)",
    )
    build.add_argument(
        "--min-coverage",
        type=float,
        default=0.5,
        metavar="F",
        help="leave out configs evaluated on fewer than this share of the "
        "task-folds (default: %(default)s)",
    )
    build.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v shows progress bars, -vv also logs each pick",
    )
    build.set_defaults(run=run_build)
    return parser


def run_candidates(args: argparse.Namespace) -> int:
    from autoens.benchmark.portfolio import sample_candidates
    from autoens.space import write_portfolio

    if args.size < 0:
        raise CLIError(f"--size must be 0 or more, got {args.size}")
    try:
        configs = sample_candidates(
            args.size,
            seed=args.seed,
            learners=args.learners,
            family=args.task,
            include_default=not args.no_default,
        )
        if not configs:
            raise ValueError("no config: give --size > 0 or keep the default one")
        command = _command(
            "candidates",
            f"--size {args.size} --seed {args.seed} --task {args.task}",
            f"--learners {' '.join(args.learners)}" if args.learners else "",
            "--no-default" if args.no_default else "",
            f"--out {shlex.quote(args.out)}",
        )
        out = write_portfolio(
            args.out,
            configs,
            family=args.task,
            metadata={"kind": "candidates", "command": command},
        )
    except (ValueError, KeyError, OSError) as exc:
        raise CLIError(str(exc)) from None
    print(
        f"Wrote {len(configs)} candidate configs to {out}.\n"
        "Evaluate them on every task with a replay suite whose [run] has\n"
        f'  mode = "replay"\n  portfolio = "{out.resolve()}"\n'
        f"(or a path relative to the suite file) and no n_trials (it becomes "
        f"{len(configs)}); see "
        "benchmarks/suites/portfolio-build.toml."
    )
    return 0


def run_build(args: argparse.Namespace) -> int:
    from autoens.benchmark.portfolio import build_portfolio, load_replay
    from autoens.space import write_portfolio

    results = Path(args.results)
    if not results.is_dir():
        raise CLIError(f"results directory not found: {args.results}")
    out = Path(args.out) if args.out is not None else results / "portfolio.json"
    command = _command(
        "build",
        shlex.quote(args.results),
        f"--size {args.size} --score {args.score} --normalize {args.normalize}",
        f"--ensemble-size {args.ensemble_size} --min-coverage {args.min_coverage}",
        f"--search {args.search}" if args.search else "",
        f"--out {shlex.quote(str(out))}",
    )
    try:
        with log_to_stderr(args.verbose):
            data = load_replay(
                results,
                score=args.score,
                search=args.search,
                min_coverage=args.min_coverage,
                verbose=args.verbose,
            )
            built = build_portfolio(
                data,
                args.size,
                ensemble_size=args.ensemble_size,
                normalize=args.normalize,
                verbose=args.verbose,
            )
        path = write_portfolio(
            out, built.configs, family=data.family, metadata=built.metadata(command)
        )
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    print(
        f"{len(data.configs)} candidate configs on {len(data.searches)} task-folds "
        f"({args.score} scores, {args.normalize} normalisation)"
    )
    print(" #  mean score  learner  params")
    for i, ((learner, params), score) in enumerate(
        zip(built.configs, built.scores, strict=True), 1
    ):
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        if len(shown) > 60:
            shown = shown[:57] + "..."
        print(f"{i:2d}  {score:10.4f}  {learner}  {shown}")
    print(f"\nPortfolio written to {path}; use it with portfolio={str(path)!r}")
    return 0


def _command(sub: str, *parts: str) -> str:
    return " ".join(["autoens portfolio", sub, *(p for p in parts if p)])
