"""QO-ES / QDO-ES speed against GES for the same evaluation budget, side by side.

All three run ``n_iterations * n_models`` metric evaluations (GES: ``ensemble_size=50``
iterations of K candidates; QO/QDO-ES: ``n_iterations=50``, the K single-model
evaluations included) on one tensor from ``autoens.testing.make_prediction_tensor``.
QDO-ES gets synthetic configs (learner family and two hyperparameters per model) so it
runs with both descriptors. Each fit is timed ``--repeats`` times, interleaved, and the
fastest time is kept (the machine is shared; the slowest runs measure the neighbours).
The fit (validation) loss of each method is printed too, as a sanity check, not as a
quality benchmark.

    python benchmarks/qdo_speed.py                # 200 models x 20,000 rows
    python benchmarks/qdo_speed.py --quick        # a smoke run in well under a minute
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from typing import Any

import numpy as np
import sklearn

from autoens.selectors import GreedyEnsembleSelection
from autoens.selectors.qdo import (
    QualityDiversityOptimizationES,
    QualityOptimizationES,
)
from autoens.testing import make_prediction_tensor

TARGET = 3.0
CASES = [(2, "roc_auc"), (2, "log_loss"), (10, "roc_auc"), (10, "log_loss")]


def synthetic_configs(n_models: int) -> list[dict[str, Any]]:
    """Configs that follow make_prediction_tensor's families of three models."""
    return [
        {
            "learner": f"family{(k // 3) % 5}",
            "params": {"alpha": float(k % 7), "depth": k % 4},
        }
        for k in range(n_models)
    ]


def timed(make: Any, P: np.ndarray, y: np.ndarray, metric: str, configs: Any) -> Any:
    start = time.perf_counter()
    selector = make().fit(P, y, metric=metric, configs=configs)
    return selector, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes for a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.rows, args.iters, args.repeats = 40, 4_000, 10, 1

    print("command: python", shlex.join(sys.argv))
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    print(
        f"{args.models} models x {args.rows} rows; budget {args.iters} x "
        f"{args.models} = {args.iters * args.models} evaluations each; best of "
        f"{args.repeats} interleaved run(s)."
    )
    makers = {
        "GES": lambda: GreedyEnsembleSelection(
            ensemble_size=args.iters, random_state=args.seed
        ),
        "QO-ES": lambda: QualityOptimizationES(
            n_iterations=args.iters, random_state=args.seed
        ),
        "QDO-ES": lambda: QualityDiversityOptimizationES(
            n_iterations=args.iters, random_state=args.seed
        ),
    }
    configs = synthetic_configs(args.models)
    small, ys = make_prediction_tensor(6, 50, random_state=0)
    for make in makers.values():  # warm-up (imports, thread pool)
        make().fit(small, ys, metric="roc_auc", configs=configs[:6])

    rows = []
    for n_classes, metric in CASES:
        P, y = make_prediction_tensor(
            args.models, args.rows, n_classes, random_state=args.seed
        )
        best = dict.fromkeys(makers, np.inf)
        fitted: dict[str, Any] = {}
        for _ in range(args.repeats):
            for name, make in makers.items():
                fitted[name], seconds = timed(make, P, y, metric, configs)
                best[name] = min(best[name], seconds)
        case = f"{'binary' if n_classes == 2 else f'{n_classes}-class'} {metric}"
        rows.append((case, best, fitted))
        print(f"  done: {case}", flush=True)

    header = (
        f"{'case':<18} {'GES':>8} {'QO-ES':>8} {'QDO-ES':>8} {'QO/GES':>7} "
        f"{'QDO/GES':>7}  {'target':<6} {'evals GES/QO/QDO':<20} "
        f"{'fit loss GES / QO / QDO':<30}"
    )
    print()
    print(header)
    print("-" * len(header))
    all_met = True
    for case, best, fitted in rows:
        ratios = best["QO-ES"] / best["GES"], best["QDO-ES"] / best["GES"]
        met = max(ratios) <= TARGET
        all_met &= met
        ges_evals = len(fitted["GES"].trajectory_) * args.models
        evals = f"{ges_evals}/{fitted['QO-ES'].n_evaluations_}/"
        evals += f"{fitted['QDO-ES'].n_evaluations_}"
        losses = " / ".join(f"{fitted[n].validation_loss_:.5f}" for n in makers)
        print(
            f"{case:<18} {best['GES']:>7.2f}s {best['QO-ES']:>7.2f}s "
            f"{best['QDO-ES']:>7.2f}s {ratios[0]:>6.2f}x {ratios[1]:>6.2f}x  "
            f"{'met' if met else 'MISSED':<6} {evals:<20} {losses:<30}"
        )
    print()
    print("ratio = method / GES wall time for the same number of metric evaluations.")
    print(f"load average {os.getloadavg()[0]:.2f} at the end.")
    print(f"target <= {TARGET:.0f}x GES: {'met' if all_met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
