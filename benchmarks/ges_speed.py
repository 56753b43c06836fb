"""GES speed: autoens's vectorised greedy selection vs a straightforward reference.

The reference is what one writes first: a Python loop over candidate models that builds
``(S + P_j) / (n + 1)`` and calls the scikit-learn metric on it (binary ROC AUC on
column 1, multiclass one-vs-rest ROC AUC, log loss with ``labels``), with the same rules
as autoens (ties prefer used models then seeded random, float-noise rounding to 6
decimals, ``use_best`` cut). Both see the same tensors from
``autoens.testing.make_prediction_tensor``.

The reference needs ~15 s per iteration for 10-class ROC AUC at the default size, so:
  * speed is compared per iteration: autoens runs all ``--iters`` iterations, the
    reference only ``--ref-iters`` (its cost per iteration is flat: K metric calls);
  * identity of the selected members is checked twice: the reference's picks at full
    size against autoens's first picks, and a complete run (all iterations, use_best)
    of both at a smaller size (``--check-models`` x ``--check-rows``).

    python benchmarks/ges_speed.py                # 200 models x 20,000 rows, 50 iters
    python benchmarks/ges_speed.py --quick        # a smoke run in well under a minute
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.metrics import log_loss, roc_auc_score

from autoens.selectors import GreedyEnsembleSelection
from autoens.testing import make_prediction_tensor

TARGET = 30.0
CASES = [(2, "roc_auc"), (2, "log_loss"), (10, "roc_auc"), (10, "log_loss")]


def sklearn_loss(metric: str, y: np.ndarray, E: np.ndarray) -> float:
    """The scikit-learn metric of one candidate ensemble, as a loss."""
    if metric == "roc_auc":
        if E.shape[1] == 2:
            return 1.0 - roc_auc_score(y, E[:, 1])
        return 1.0 - roc_auc_score(y, E, multi_class="ovr")
    return log_loss(y, E, labels=list(range(E.shape[1])))


def reference_ges(
    P: np.ndarray,
    y: np.ndarray,
    metric: str,
    ensemble_size: int,
    use_best: bool,
    seed: int,
) -> tuple[list[int], list[int], float, float]:
    """Plain GES: (kept members, all picks, wall and CPU seconds per iteration)."""
    rng = np.random.default_rng(seed)
    n_models = P.shape[0]
    S = np.zeros(P.shape[1:], dtype=np.float32)
    counts = np.zeros(n_models, dtype=int)
    order: list[int] = []
    trajectory: list[float] = []
    rounding = False
    start, cpu = time.perf_counter(), time.process_time()
    for t in range(ensemble_size):
        n = len(order)
        losses = np.array(
            [sklearn_loss(metric, y, (S + P[j]) / (n + 1)) for j in range(n_models)]
        )
        if t == 0:
            rounding = abs(losses.min()) > 1e-4
        if rounding:
            losses = np.round(losses, 6)
        best = np.flatnonzero(losses == losses.min())
        if len(best) > 1 and (counts[best] > 0).any():
            best = best[counts[best] > 0]
        j = int(best[0]) if len(best) == 1 else int(best[rng.integers(len(best))])
        S = S + P[j]
        counts[j] += 1
        order.append(j)
        trajectory.append(float(losses[j]))
        if n_models == 1:
            break
    wall = (time.perf_counter() - start) / len(trajectory)
    cpu = (time.process_time() - cpu) / len(trajectory)
    cut = int(np.argmin(trajectory)) if use_best else len(trajectory) - 1
    return order[: cut + 1], order, wall, cpu


def ours(
    P: np.ndarray, y: np.ndarray, metric: str, iters: int, use_best: bool, seed: int
) -> tuple[GreedyEnsembleSelection, float, float]:
    """autoens GES: (fitted selector, wall seconds, CPU seconds of all threads)."""
    ges = GreedyEnsembleSelection(
        ensemble_size=iters, use_best=use_best, random_state=seed
    )
    start, cpu = time.perf_counter(), time.process_time()
    ges.fit(P, y, metric=metric)
    return ges, time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument(
        "--ref-iters", type=int, default=2, help="reference iterations timed"
    )
    parser.add_argument("--check-models", type=int, default=30)
    parser.add_argument("--check-rows", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes for a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.rows, args.iters, args.ref_iters = 40, 4_000, 10, 1
        args.check_models, args.check_rows = 12, 600

    print("command: python", shlex.join(sys.argv))
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    print(
        f"timed: {args.models} models x {args.rows} rows; autoens runs {args.iters} "
        f"iterations, the reference {args.ref_iters} (time per iteration compared)."
    )
    print(
        f"identity: reference picks at full size vs autoens's first {args.ref_iters}; "
        f"complete {args.iters}-iteration runs (use_best) at {args.check_models} "
        f"models x {args.check_rows} rows."
    )
    warnings.simplefilter("ignore", UserWarning)  # sklearn's sum-to-one notices
    ours(*make_prediction_tensor(4, 50), "roc_auc", 2, True, 0)  # warm-up

    rows = []
    for n_classes, metric in CASES:
        P, y = make_prediction_tensor(
            args.models, args.rows, n_classes, random_state=args.seed
        )
        ges, seconds, cpu = ours(P, y, metric, args.iters, True, args.seed)
        ours_iter = seconds / len(ges.trajectory_)
        ours_cpu = cpu / len(ges.trajectory_)
        _, ref_order, ref_iter, ref_cpu = reference_ges(
            P, y, metric, args.ref_iters, False, args.seed
        )
        prefix, _, _ = ours(P, y, metric, args.ref_iters, False, args.seed)
        prefix_same = prefix.indices_.tolist() == ref_order

        Ps, ys = make_prediction_tensor(
            args.check_models, args.check_rows, n_classes, random_state=args.seed + 1
        )
        small, _, _ = ours(Ps, ys, metric, args.iters, True, args.seed)
        ref_kept, _, _, _ = reference_ges(Ps, ys, metric, args.iters, True, args.seed)
        full_same = small.indices_.tolist() == ref_kept
        rows.append(
            (
                f"{'binary' if n_classes == 2 else f'{n_classes}-class'} {metric}",
                seconds,
                ours_iter,
                ref_iter,
                ref_iter / ours_iter,
                ref_cpu / ours_cpu,
                prefix_same,
                full_same,
                len(small.indices_),
            )
        )
        print(f"  done: {rows[-1][0]}", flush=True)

    header = (
        f"{'case':<18} {'autoens fit':>11} {'autoens/iter':>12} {'ref/iter':>9} "
        f"{'speed-up':>8} {'(CPU)':>7}  {'target':<6} {'same picks':<10} "
        f"{'same full run':<16}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, total, it, ref, ratio, cpu_ratio, same_prefix, same_full, size in rows:
        print(
            f"{name:<18} {total:>10.2f}s {it * 1e3:>10.1f}ms {ref * 1e3:>7.0f}ms "
            f"{ratio:>7.1f}x {cpu_ratio:>6.1f}x  "
            f"{'met' if ratio >= TARGET else 'MISSED':<6} {same_prefix!s:<10} "
            f"{f'{same_full} ({size} members)':<16}"
        )
    all_same = all(r[6] and r[7] for r in rows)
    all_met = all(r[4] >= TARGET for r in rows)
    print()
    print(
        "speed-up = reference / autoens wall time per iteration; (CPU) = the same "
        "with CPU time summed over threads (autoens uses 2 threads for ROC AUC)."
    )
    print(f"load average {os.getloadavg()[0]:.2f} at the end.")
    print(f"target >= {TARGET:.0f}x per iteration: {'met' if all_met else 'NOT met'}")
    print(f"same members as the reference in every case: {all_same}")
    if not all_same:
        print("ERROR: autoens and the reference selected different members")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
