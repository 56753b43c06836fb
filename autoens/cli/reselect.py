"""``autoens reselect``: build a new ensemble from a saved model's search, no refits."""

from __future__ import annotations

import argparse
from typing import Any

from autoens.cli._common import (
    CLIError,
    HelpFormatter,
    leaderboard_text,
    load_model,
    save_model,
    validation_text,
    weights_text,
)

DESCRIPTION = """\
Re-run an ensemble selector on the out-of-fold predictions that `autoens fit` left in
a saved model, and save the new ensemble. No base model is fitted again. The new
ensemble can predict when its members' fold models are available: fit with
`--keep-models all`, or with a `--cache-dir` that still holds them.
The oracle selector is refused: it needs the labels of the rows it predicts, so it is
a bound for benchmark tables, not a model.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reselect",
        help="try another ensemble selector on a saved model's search",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "model", metavar="MODEL", help="model file from `autoens fit` or autoens.save"
    )
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
        default="model-reselected.skops",
        metavar="PATH",
        help="where to write the new model (default: %(default)s)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from autoens.leaderboard import selector_name
    from autoens.replay import select
    from autoens.selectors import get_selector

    try:
        selector = get_selector(args.selector)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not selector.can_predict:
        raise CLIError(
            f"selector {args.selector!r} cannot predict new rows (it needs their "
            "labels), so its model would be of no use; nothing was written. It is a "
            "benchmark bound: compare selectors with `autoens benchmark`"
        )
    model = load_model(args.model)
    try:
        new = select(model, args.selector, metric=args.metric)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    out = save_model(new, args.out)
    print(leaderboard_text(new, top=10))
    print()
    print(weights_text(new))
    validation = validation_text(new)
    if validation:
        before = getattr(model, "validation_score_", None)
        if before is not None and (args.metric is None):
            validation += f"; before, with {selector_name(model)}: {before:.4f}"
        print(validation)
    print(f"\nModel written to {out}")
    return 0
