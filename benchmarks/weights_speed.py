"""Weight optimisers next to GES: CMA-ES, the exact QP and the stacking baselines.

Every selector is fit on the same tensor from ``autoens.testing.make_prediction_tensor``
(default 200 models x 20,000 rows) in one run, and its wall time is printed as a ratio
to GES (50 iterations, the same 50·K metric-evaluation budget CMA-ES gets). The loss
each reaches on the fit data is printed too (QP and CMA-ES fall back to the single best
model when they do not beat it; stacking's loss is its honest inner-CV loss, the others
are in-sample).

    python benchmarks/weights_speed.py                  # 200 x 20,000, four cases
    python benchmarks/weights_speed.py --quick          # a smoke run, ~half a minute
    python benchmarks/weights_speed.py --stacking       # also StackingSelector (slow)
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import numpy as np

from autoens.selectors import GreedyEnsembleSelection, SingleBest
from autoens.selectors.base import BaseSelector
from autoens.selectors.cmaes import CMAESSelector
from autoens.selectors.qp import QPSelector
from autoens.selectors.stacking import NNLSStacking, StackingSelector
from autoens.testing import make_prediction_tensor

CASES = [(2, "roc_auc"), (2, "log_loss"), (10, "roc_auc"), (10, "log_loss")]


def selectors(seed: int, stacking: bool) -> dict[str, BaseSelector]:
    out: dict[str, BaseSelector] = {
        "GES (50 iters)": GreedyEnsembleSelection(random_state=seed),
        "CMA-ES ExplicitGES": CMAESSelector(random_state=seed),
        "CMA-ES raw": CMAESSelector(normalize=None, random_state=seed),
        "QP brier": QPSelector(),
        "QP brier balanced": QPSelector(class_balanced=True),
        "QP log_loss": QPSelector(objective="log_loss"),
        "NNLS stacking": NNLSStacking(),
    }
    if stacking:
        out["LogReg stacking"] = StackingSelector(random_state=seed)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stacking", action="store_true", help="time LogReg stacking")
    parser.add_argument("--quick", action="store_true", help="40 models x 4,000 rows")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.rows = 40, 4_000

    print("command: python", shlex.join(sys.argv))
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start"
    )
    print(f"{args.models} models x {args.rows} rows, seed {args.seed}")
    warm = make_prediction_tensor(4, 50)
    for sel in selectors(args.seed, args.stacking).values():  # imports, warm caches
        sel.fit(*warm, metric="roc_auc")

    for n_classes, metric in CASES:
        P, y = make_prediction_tensor(
            args.models, args.rows, n_classes, random_state=args.seed
        )
        single = SingleBest().fit(P, y, metric=metric).validation_loss_
        case = f"{'binary' if n_classes == 2 else f'{n_classes}-class'} {metric}"
        print(f"\n{case}   (single best loss {single:.6f})")
        header = (
            f"  {'selector':<20} {'fit':>8} {'/ GES':>7} {'loss':>10} "
            f"{'vs single':>10} {'members':>7}  note"
        )
        print(header)
        print("  " + "-" * (len(header) - 2))
        ges_seconds = None
        for name, sel in selectors(args.seed, args.stacking).items():
            start = time.perf_counter()
            sel.fit(P, y, metric=metric)
            seconds = time.perf_counter() - start
            ges_seconds = ges_seconds or seconds
            note = ""
            if getattr(sel, "used_single_best_", False):
                note = "fell back to single best"
            elif isinstance(sel, StackingSelector):
                note = f"inner-CV loss; in-sample {sel.train_loss_:.6f}"
            loss = sel.validation_loss_
            print(
                f"  {name:<20} {seconds:>7.2f}s {seconds / ges_seconds:>6.2f}x "
                f"{loss:>10.6f} {loss - single:>+10.6f} "
                f"{np.count_nonzero(sel.weights_):>7}  {note}",
                flush=True,
            )
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end.")
    print("/ GES = wall time relative to GES on the same case (lower is faster).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
