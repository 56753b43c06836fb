"""Coverage and width of CV+ prediction intervals on real regression data.

``AutoEnsembleRegressor.predict_interval`` (CV+, Barber et al. 2021) promises coverage
of at least 1 - 2α, and about 1 - α in practice. For each dataset of the regression
development suite (``autoens.datasets.REGRESSION_DATASETS``) and scikit-learn's
diabetes, each outer fold of ``KFold(3, shuffle=True, random_state=seed)`` and each
seed, one regressor is fit on the outer training part and its intervals are scored on
the outer test part: empirical coverage, and the mean width relative to the test
target's standard deviation.

    python benchmarks/intervals.py                       # 13 datasets, seeds 0 1 2
    python benchmarks/intervals.py --datasets diabetes boston --seeds 0
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from autoens import AutoEnsembleRegressor
from autoens.datasets import REGRESSION_DATASETS, load_regression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["diabetes", *REGRESSION_DATASETS]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument(
        "--max-rows", type=int, default=5000, help="subsample larger datasets (seeded)"
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    print("command: python " + " ".join(map(shlex.quote, sys.argv)), flush=True)

    rows = []
    for name in args.datasets:
        X, y = load_regression(name)
        for seed in args.seeds:
            if len(X) > args.max_rows:
                keep = np.random.default_rng(seed).choice(
                    len(X), args.max_rows, replace=False
                )
                Xs, ys = X.iloc[keep].reset_index(drop=True), y.iloc[keep]
            else:
                Xs, ys = X, y
            splits = list(KFold(3, shuffle=True, random_state=seed).split(Xs))
            for fold in args.folds:
                train, test = splits[fold]
                start = time.monotonic()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    model = AutoEnsembleRegressor(
                        n_trials=args.trials,
                        cv=args.cv,
                        n_jobs=args.n_jobs,
                        random_state=seed,
                    ).fit(Xs.iloc[train], ys.iloc[train])
                    y_test = ys.iloc[test].to_numpy(dtype=float)
                    for alpha in args.alphas:
                        lower, upper = model.predict_interval(
                            Xs.iloc[test], alpha=alpha
                        ).T
                        covered = (y_test >= lower) & (y_test <= upper)
                        rows.append(
                            {
                                "dataset": name,
                                "seed": seed,
                                "fold": fold,
                                "alpha": alpha,
                                "n_train": len(train),
                                "coverage": covered.mean(),
                                "rel_width": np.mean(upper - lower) / y_test.std(),
                                "fit_s": time.monotonic() - start,
                            }
                        )
                print(
                    f"{name} seed {seed} fold {fold}: "
                    + ", ".join(
                        f"alpha={r['alpha']} coverage {r['coverage']:.3f}"
                        for r in rows[-len(args.alphas) :]
                    ),
                    flush=True,
                )
    frame = pd.DataFrame(rows)
    table = frame.groupby(["alpha", "dataset"]).agg(
        coverage=("coverage", "mean"),
        min_coverage=("coverage", "min"),
        rel_width=("rel_width", "mean"),
        runs=("coverage", "size"),
    )
    with pd.option_context(
        "display.width", 160, "display.precision", 3, "display.max_columns", None
    ):
        print(table)
        overall = frame.groupby("alpha").agg(
            mean_coverage=("coverage", "mean"),
            min_coverage=("coverage", "min"),
            mean_rel_width=("rel_width", "mean"),
            runs=("coverage", "size"),
        )
        overall["guarantee (1-2 alpha)"] = 1 - 2 * overall.index.to_numpy()
        overall["nominal (1-alpha)"] = 1 - overall.index.to_numpy()
        print(overall)


if __name__ == "__main__":
    main()
