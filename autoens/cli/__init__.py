"""The ``autoens`` command line: ``main(argv) -> int`` dispatching to subcommands.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (which
registers ``run`` as the parser's default) and ``run(args) -> int``. User errors raise
:class:`autoens.cli._common.CLIError` and are reported on stderr as one line, with exit
code 2; anything else is a bug and keeps its traceback. Ctrl-C ends a command with
code 130 and one line (``autoens fit`` saves what its search finished and exits with
3 on the first Ctrl-C; see ``fit.py``).
"""

from __future__ import annotations

import argparse
import os
import sys

from autoens import __version__
from autoens.cli import (
    benchmark,
    demo,
    fit,
    leaderboard,
    portfolio,
    predict,
    reselect,
)
from autoens.cli._common import EXIT_SIGINT, CLIError, HelpFormatter, short_warnings

__all__ = ["build_parser", "main"]

_COMMANDS = (fit, predict, leaderboard, reselect, benchmark, portfolio, demo)

DESCRIPTION = """\
autoens: AutoML by post-hoc ensemble selection for tabular classification and
regression.

Run `autoens COMMAND --help` for the options of each command.
"""

EPILOG = """\
examples:
  autoens demo
  autoens demo --task regression
  autoens fit train.csv --target class --time-limit 300 --out model.skops
  autoens leaderboard model.skops
  autoens reselect model.skops --selector single_best --out model2.skops
  autoens predict model.skops new.csv --proba --out probabilities.csv
  autoens predict regressor.skops new.csv --interval 0.9
  autoens benchmark run benchmarks/suites/smoke.toml --out results/smoke
  autoens benchmark report results/smoke
  autoens portfolio build results/portfolio-build --size 16 --out portfolio.json
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoens",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    subparsers = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", required=True
    )
    for command in _COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``autoens`` command line; returns the process exit code.

    ``argv`` defaults to ``sys.argv[1:]``. Usage errors, ``--help`` and ``--version``
    return argparse's exit code instead of raising ``SystemExit``, so tests and other
    Python code can call this in-process.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        with short_warnings(args.command):
            return args.run(args)
    except CLIError as exc:
        print(f"autoens {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        why = f": {exc}" if str(exc) else ""
        print(f"autoens {args.command}: interrupted{why}", file=sys.stderr)
        return EXIT_SIGINT
    except BrokenPipeError:  # e.g. `autoens predict ... | head`: the reader left
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured, closed)
        pass
