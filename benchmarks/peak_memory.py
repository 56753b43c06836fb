"""Peak memory of one fit: how many copies of the out-of-fold predictions it holds.

One ``AutoEnsembleClassifier`` fit of 50 trials on KEEL ``letter`` (20,000 rows,
26 classes: each candidate's OOF predictions are 20,000 x 26 float32 = 2.1 MB, 104 MB
for the library), with logistic regression only, so that the fold models stay small
next to the predictions. Prints the peak resident memory of the fitting process
(worker processes excluded: predictions are held in the process that calls ``fit``)
and the size of the prediction tensor, so that the excess over a baseline says how
many copies were kept.

Compare two checkouts side by side (the project's own before/after)::

    python benchmarks/peak_memory.py                     # this checkout
    PYTHONPATH=/path/to/other/checkout python benchmarks/peak_memory.py

``--baseline`` instead measures the same process without the search (load the data,
import everything), the floor to subtract.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def _load(name: str):
    try:
        from autoens.datasets import load_keel
    except ImportError:  # autoens 0.1 kept the loaders in the benchmark package
        from autoens.benchmark.tasks import load_keel
    return load_keel(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="letter")
    parser.add_argument("--n-trials", type=int, default=50)
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()

    import autoens
    from autoens import AutoEnsembleClassifier

    X, y = _load(args.dataset)
    start = time.monotonic()
    n_models = 0
    if not args.baseline:
        model = AutoEnsembleClassifier(
            n_trials=args.n_trials,
            cv=3,
            learners=["logreg"],
            portfolio=None,
            search="random",
            metric="log_loss",
            selector="single_best",
            n_jobs=2,
            random_state=0,
        ).fit(X, y)
        n_models = len(model.library_)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_classes = len(np.unique(y))
    tensor_mb = n_models * len(X) * n_classes * 4 / 2**20
    print(
        f"autoens {autoens.__version__} from {autoens.__file__}\n"
        f"{args.dataset}: {len(X)} rows, {n_classes} classes; models {n_models}; "
        f"prediction tensor {tensor_mb:.0f} MB; peak RSS {peak_mb:.0f} MB; "
        f"{time.monotonic() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
