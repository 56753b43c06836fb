"""Start-up time: `autoens --help` and `import autoens`, timed as whole processes.

Each command runs ``--runs`` times in a fresh interpreter, in turn (A B A B ...), after
one warm-up run each; the median wall time is printed with the pairwise ratio.

    python benchmarks/startup.py              # 10 runs per command
    python benchmarks/startup.py --runs 20

The comparisons:
  * ``autoens --help`` against the same help with numpy and pandas imported first,
    which is what it cost while the CLI imported pandas at module level (issue 16:
    ~1 s; the budget is 0.5 s);
  * ``import autoens`` (lazy, PEP 562) against ``from autoens import
    AutoEnsembleClassifier`` (scikit-learn, pandas, optuna, the learners' modules);
  * the bare interpreter (``python -c pass``) as the floor of any of them.

``tests/test_install.py`` checks, without a clock, that ``--help`` imports none of
numpy, pandas, scipy or scikit-learn. For the import tree of one command:
``python -X importtime -m autoens --help 2> importtime.txt``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

PY = sys.executable
HELP = "from autoens.cli import main; import sys; sys.exit(main(['--help']))"
COMMANDS = {
    "python -c pass": [PY, "-c", "pass"],
    "autoens --help": [PY, "-m", "autoens", "--help"],
    "--help, numpy+pandas first": [PY, "-c", "import numpy, pandas; " + HELP],
    "import autoens": [PY, "-c", "import autoens"],
    "from autoens import AutoEnsembleClassifier": [
        PY,
        "-c",
        "from autoens import AutoEnsembleClassifier",
    ],
}
PAIRS = [
    ("autoens --help", "--help, numpy+pandas first"),
    ("import autoens", "from autoens import AutoEnsembleClassifier"),
    ("autoens --help", "python -c pass"),
]
BUDGET_HELP = 0.5


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)

    for command in COMMANDS.values():  # warm-up: the file system cache, .pyc files
        _time(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            times[name].append(_time(command))

    print(f"{args.runs} runs each, wall seconds (median [min, max]); {PY}")
    width = max(map(len, COMMANDS))
    for name, values in times.items():
        print(
            f"  {name:<{width}}  {statistics.median(values):6.3f}"
            f"  [{min(values):.3f}, {max(values):.3f}]"
        )
    print("\nside by side (median of the run-by-run ratios):")
    for a, b in PAIRS:
        ratio = statistics.median(
            x / y for x, y in zip(times[a], times[b], strict=True)
        )
        print(f"  {a} / {b}: {ratio:.2f}")
    help_median = statistics.median(times["autoens --help"])
    verdict = "within" if help_median < BUDGET_HELP else "OVER"
    print(
        f"\nautoens --help: {help_median:.3f} s, {verdict} the {BUDGET_HELP} s budget"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
