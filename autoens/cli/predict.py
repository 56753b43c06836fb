"""``autoens predict``: apply a saved model to a CSV file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from autoens.cli._common import (
    CLIError,
    HelpFormatter,
    load_bundle,
    read_csv,
)

DESCRIPTION = """\
Predict with a model saved by `autoens fit`.

The CSV must hold the columns the model was trained on (in any order); a target column
is ignored. Output: one row per input row, either the predicted class (a column named
after the target) or, with --proba, one probability column per class.

Model files are joblib pickles: only load files you trust.
"""

EPILOG = """\
examples:
  autoens predict model.joblib new.csv --out predictions.csv
  autoens predict model.joblib new.csv --proba > probabilities.csv
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="predict classes or probabilities for a CSV file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model file from `autoens fit`")
    parser.add_argument("data", metavar="CSV", help="rows to predict (CSV)")
    parser.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="write the predictions to this CSV (default: print CSV to stdout)",
    )
    parser.add_argument(
        "--proba",
        action="store_true",
        help="write class probabilities instead of labels",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.model)
    estimator = bundle["estimator"]
    target = str(bundle["target"])
    frame = read_csv(args.data)
    X = frame.drop(columns=[target], errors="ignore")

    try:
        if args.proba:
            proba = estimator.predict_proba(X)
            result = pd.DataFrame(proba, columns=[str(c) for c in estimator.classes_])
        else:
            result = pd.DataFrame({target: estimator.predict(X)})
    except ValueError as exc:  # e.g. values the fitted model cannot handle
        raise CLIError(f"cannot predict {args.data}: {exc}") from None  # columns too

    if args.out is None:
        result.to_csv(sys.stdout, index=False, float_format="%.6g")
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(out, index=False, float_format="%.6g")
        print(f"Wrote {len(result)} predictions to {out}", file=sys.stderr)
    return 0
