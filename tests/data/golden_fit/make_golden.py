"""Record what fixed-seed, fixed-budget fits produce, so a refactor can prove it
changed nothing (``tests/test_golden_fit.py`` compares against these files).

Run from the project root: ``python tests/data/golden_fit/make_golden.py [CASE ...]``
(no case: all of them). Only regenerate on purpose (a deliberate change of results),
and say so in the commit.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine

HERE = Path(__file__).parent

# Two fits that exercise TPE + GES (binary, mixed columns) and DivBO + QDO-ES / QP
# (multiclass), with budgets in trials and one worker so that they are deterministic.
CASES = {
    "binary_tpe_ges": {
        "data": "breast_cancer",
        "params": {
            "n_trials": 8,
            "cv": 3,
            "learners": ["logreg", "hist_gb", "extra_trees", "knn", "lightgbm"],
            "portfolio": [["logreg", {}], ["hist_gb", {}]],
            "search": "tpe",
            "selector": "ges",
            "metric": "roc_auc",
        },
        "reselect": ["qp", "qdo-es"],
    },
    "multiclass_divbo_qdo": {
        "data": "wine",
        "params": {
            "n_trials": 8,
            "cv": 3,
            "learners": ["logreg", "extra_trees", "knn", "xgboost"],
            "portfolio": [["logreg", {}], ["knn", {}], ["extra_trees", {}]],
            "search": "divbo",
            "selector": "qdo-es",
            "metric": "log_loss",
        },
        "reselect": ["ges", "stacking"],
    },
}


def load_case(name: str):
    """(X_train, y_train, X_test) of a case: fixed rows of a bundled dataset."""
    if CASES[name]["data"] == "breast_cancer":
        data = load_breast_cancer(as_frame=True)
        X = data.data.iloc[:, :10].copy()
        X["size"] = np.where(X["mean area"] > X["mean area"].median(), "big", "small")
        X.loc[::17, "mean radius"] = np.nan
        y = np.where(data.target == 1, "benign", "malignant")
    else:
        data = load_wine(as_frame=True)
        X, y = data.data, data.target.to_numpy()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    n_train = int(0.7 * len(X))
    train, test = order[:n_train], order[n_train:]
    return X.iloc[train].reset_index(drop=True), y[train], X.iloc[test]


def fit_case(name: str, **overrides):
    """The fitted estimator of a case (``overrides`` change estimator params)."""
    from autoens import AutoEnsembleClassifier

    X, y, _ = load_case(name)
    params = dict(CASES[name]["params"])
    params["portfolio"] = [tuple(p) for p in params["portfolio"]]
    if params["search"] == "divbo":
        from autoens.search.divbo import DivBO

        params["search"] = DivBO(n_init=3, n_candidates=200)
    params.update(overrides)
    return AutoEnsembleClassifier(**params, n_jobs=1, random_state=0).fit(X, y)


def summarise(name: str, model) -> dict:
    """What must not change: leaderboard, weights, validation loss, predictions."""
    from autoens import select

    _, _, X_test = load_case(name)
    board = model.leaderboard_
    out = {
        "leaderboard": [
            {
                "trial": int(r.trial),
                "learner": r.learner,
                "status": r.status,
                "loss": None if np.isnan(r.loss) else float(r.loss),
                "params": r.params,
                "weight": float(r.weight),
            }
            for r in board.itertuples()
        ],
        "weights": {str(k): float(v) for k, v in model.weights_.items()},
        "validation_loss": float(model.validation_loss_),
        "proba": model.predict_proba(X_test).tolist(),
        "reselect": {},
    }
    for selector in CASES[name]["reselect"]:
        other = select(model, selector)
        out["reselect"][selector] = {
            "weights": {str(k): float(v) for k, v in other.weights_.items()},
            "proba": other.predict_proba(X_test).tolist(),
        }
    return out


def main(names: list[str]) -> None:
    """Record the named cases (all when none is named)."""
    # Module versions: on Linux XGBoost is installed as the `xgboost-cpu` distribution.
    versions = {
        lib: importlib.import_module(module).__version__
        for lib, module in (
            ("numpy", "numpy"),
            ("scikit-learn", "sklearn"),
            ("lightgbm", "lightgbm"),
            ("xgboost", "xgboost"),
            ("optuna", "optuna"),
        )
    }
    for name in names or CASES:
        model = fit_case(name, keep_models="all")
        result = {"versions": versions, **summarise(name, model)}
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
