"""Generate the DESlib golden values for ``tests/selectors/test_dynamic.py``.

Runs in a scratch environment, never in the project's (DESlib 0.3.7 breaks on
scikit-learn >= 1.7, and it is not a dependency of autoens)::

    python -m venv /tmp/deslib-venv
    /tmp/deslib-venv/bin/pip install "deslib==0.3.7" "scikit-learn==1.6.1" numpy
    /tmp/deslib-venv/bin/python tests/data/des_golden/make_golden.py

(measured with numpy 2.4.6, Python 3.11). For each case it

1. splits a dataset into train / DSEL / test (stratified, fixed seeds) and fits a pool
   of 10 scikit-learn classifiers on the train split;
2. wraps each fitted classifier so that ``predict_proba`` returns its probabilities
   rounded to float32 and ``predict`` their argmax: DESlib then sees exactly the
   numbers we store (our cache is float32), and "correct" means the same thing in both
   (argmax of the stored probabilities equals the label);
3. fits DESlib's KNORAE, KNORAU, DESP, KNOP, OLA and METADES (k=7, defaults otherwise:
   no DFP, no instance hardness, Euclidean kNN on the stored X) on DSEL, with hard and
   soft voting (OLA has no voting; DES-P and META-DES also in their other modes);
4. saves, per case, ``<case>.npz`` with ``X_dsel``, ``y_dsel``, ``X_test``, ``y_test``
   (float64 / int64), ``P_dsel`` and ``P_test`` (the pool's probabilities,
   (n_models, n, n_classes) float32), and for every run ``<run>__labels`` (DESlib's
   ``predict``) and ``<run>__proba`` (DESlib's ``predict_proba`` rounded to float32;
   NaN where DESlib divides 0 by 0).

Cases: ``synth3`` (``make_classification``, 3 classes, 1,500 rows: 500/500/500) and
``cancer`` (scikit-learn's bundled breast-cancer set, binary, standardised on the train
split). Both have continuous features (no distance ties) and a pool with continuous
outputs (no output-profile ties), so neighbour order is unambiguous.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import deslib
import numpy as np
import sklearn
from deslib.dcs import OLA
from deslib.des import DESP, KNOP, KNORAE, KNORAU, METADES
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

HERE = Path(__file__).resolve().parent
K = 7


class Float32Proba(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose outputs are rounded to float32 (what we cache)."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):  # DESlib only checks that the pool is fitted
        raise NotImplementedError("wraps an already fitted classifier")

    @property
    def classes_(self):
        return self.estimator.classes_

    def predict_proba(self, X):
        proba = self.estimator.predict_proba(X).astype(np.float32)
        return proba.astype(np.float64)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def make_pool(seed: int) -> list:
    return [
        DecisionTreeClassifier(max_depth=2, random_state=seed),
        DecisionTreeClassifier(max_depth=5, max_features=0.5, random_state=seed + 1),
        DecisionTreeClassifier(min_samples_leaf=10, random_state=seed + 2),
        GaussianNB(),
        LogisticRegression(C=0.01, max_iter=2000),
        LogisticRegression(C=1.0, max_iter=2000),
        KNeighborsClassifier(n_neighbors=5),
        KNeighborsClassifier(n_neighbors=25, weights="distance"),
        RandomForestClassifier(n_estimators=15, max_depth=4, random_state=seed),
        ExtraTreesClassifier(n_estimators=15, min_samples_leaf=3, random_state=seed),
    ]


def load_case(name: str):
    if name == "synth3":
        X, y = make_classification(
            n_samples=1500,
            n_features=10,
            n_informative=5,
            n_redundant=2,
            n_classes=3,
            n_clusters_per_class=2,
            flip_y=0.05,
            class_sep=0.8,
            random_state=0,
        )
        return X, y
    if name == "cancer":
        X, y = load_breast_cancer(return_X_y=True)
        return X, y
    raise ValueError(name)


def runs():
    """(run name, DESlib constructor) for every golden run."""
    out = []
    for voting in ("hard", "soft"):
        out += [
            (f"knora-e_{voting}", lambda pool, v=voting: KNORAE(pool, k=K, voting=v)),
            (f"knora-u_{voting}", lambda pool, v=voting: KNORAU(pool, k=K, voting=v)),
            (f"des-p_{voting}", lambda pool, v=voting: DESP(pool, k=K, voting=v)),
            (
                f"des-p-weighting_{voting}",
                lambda pool, v=voting: DESP(pool, k=K, voting=v, mode="weighting"),
            ),
            (f"knop_{voting}", lambda pool, v=voting: KNOP(pool, k=K, voting=v)),
            (
                f"meta-des_{voting}",
                lambda pool, v=voting: METADES(pool, k=K, voting=v, random_state=0),
            ),
            (
                f"meta-des-hybrid_{voting}",
                lambda pool, v=voting: METADES(
                    pool, k=K, voting=v, mode="hybrid", random_state=0
                ),
            ),
        ]
    out.append(("ola_soft", lambda pool: OLA(pool, k=K)))
    return out


def make_case(name: str) -> dict:
    X, y = load_case(name)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, train_size=1 / 3, stratify=y, random_state=1
    )
    X_dsel, X_test, y_dsel, y_test = train_test_split(
        X_rest, y_rest, train_size=0.5, stratify=y_rest, random_state=2
    )
    if name == "cancer":
        scaler = StandardScaler().fit(X_train)
        X_train, X_dsel, X_test = (
            scaler.transform(a) for a in (X_train, X_dsel, X_test)
        )
    pool = [Float32Proba(clf.fit(X_train, y_train)) for clf in make_pool(seed=3)]
    data = {
        "X_dsel": X_dsel.astype(np.float64),
        "y_dsel": y_dsel.astype(np.int64),
        "X_test": X_test.astype(np.float64),
        "y_test": y_test.astype(np.int64),
        "P_dsel": np.stack([m.predict_proba(X_dsel) for m in pool]).astype(np.float32),
        "P_test": np.stack([m.predict_proba(X_test) for m in pool]).astype(np.float32),
    }
    for run, build in runs():
        des = build(pool).fit(X_dsel, y_dsel)
        with np.errstate(invalid="ignore", divide="ignore"):
            data[f"{run}__labels"] = des.predict(X_test).astype(np.int64)
            data[f"{run}__proba"] = des.predict_proba(X_test).astype(np.float32)
    return data


def main() -> None:
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", RuntimeWarning)
    print(
        f"deslib {deslib.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, python {sys.version.split()[0]}"
    )
    for name in ("synth3", "cancer"):
        data = make_case(name)
        np.savez_compressed(HERE / f"{name}.npz", **data)
        acc = {
            run: float((data[f"{run}__labels"] == data["y_test"]).mean())
            for run, _ in runs()
        }
        print(name, {k: round(v, 3) for k, v in acc.items()})


if __name__ == "__main__":
    main()
