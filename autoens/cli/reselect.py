"""``autoens reselect``: build a new ensemble from a saved model's search, no refits."""

from __future__ import annotations

import argparse
from typing import Any

from autoens.cli._common import (
    CLIError,
    HelpFormatter,
    leaderboard_text,
    load_bundle,
    save_bundle,
    weights_text,
)

DESCRIPTION = """\
Re-run an ensemble selector on the out-of-fold predictions that `autoens fit` left in
a saved model, and save the new ensemble. No base model is fitted again. The new
ensemble can predict when its members' fold models are available: fit with
`--keep-models all`, or with a `--cache-dir` that still holds them.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reselect",
        help="try another ensemble selector on a saved model's search",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model file from `autoens fit`")
    parser.add_argument(
        "--selector",
        required=True,
        metavar="NAME",
        help="selector name, e.g. ges, single_best",
    )
    parser.add_argument(
        "--metric",
        default=None,
        metavar="M",
        help="metric the selector optimises (default: the model's)",
    )
    parser.add_argument(
        "--out",
        default="model-reselected.joblib",
        metavar="PATH",
        help="where to write the new model (default: %(default)s)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from autoens.replay import select

    bundle = load_bundle(args.model)
    try:
        new = select(bundle["estimator"], args.selector, metric=args.metric)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    out = save_bundle(new, bundle["target"], args.out)
    print(leaderboard_text(new, top=10))
    print()
    print(weights_text(new))
    print(f"\nModel written to {out}")
    return 0
