"""``autoens leaderboard``: show what the search of a saved model evaluated."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autoens.cli._common import (
    HelpFormatter,
    ensemble_summary,
    leaderboard_text,
    load_model,
    model_family,
    positive_int,
    ranked_leaderboard,
    selector_leaderboard_text,
    top_rows,
    validation_text,
)

DESCRIPTION = """\
Print the leaderboard of a model saved by `autoens fit`: one row per evaluated
configuration, best cross-validated score first, with its weight in the ensemble
("-" when it was not selected); a regressor also shows each configuration's
out-of-fold R². The title line names the selector and how many
members must run at predict time (n_required: every member for a dynamic selector);
the ensemble's own out-of-fold score ends it. A model fit with `--selector auto`
also lists the selectors it tried.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "leaderboard",
        help="print the leaderboard of a saved model",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "model", metavar="MODEL", help="model file from `autoens fit` or autoens.save"
    )
    parser.add_argument(
        "--top",
        type=positive_int,
        default=None,
        metavar="N",
        help="print only the N best rows (default: all)",
    )
    parser.add_argument(
        "--csv",
        action="store_true",
        help="print the full leaderboard as CSV (every column, untruncated)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    estimator = load_model(args.model)
    if args.csv:
        board = ranked_leaderboard(estimator)
        board = top_rows(board, args.top)
        board.to_csv(sys.stdout, index=False)
        return 0
    if model_family(estimator) == "regression":
        what = "regression"
    else:
        what = "classes: " + ", ".join(str(c) for c in estimator.classes_)
    summary = ensemble_summary(estimator)
    validation = validation_text(estimator)
    target = getattr(estimator, "target_column_", None)
    print(
        (f"target {target!r} ({what}); " if target else f"{what}; ")
        + f"autoens {getattr(estimator, '_autoens_version', '?')}"
        + (f"; {summary}" if summary else "")
        + (f"; {validation}" if validation else "")
    )
    print(leaderboard_text(estimator, top=args.top))
    candidates = selector_leaderboard_text(estimator, top=args.top)
    if candidates:
        print(f"\nselectors tried by auto (inner CV):\n{candidates}")
    return 0
