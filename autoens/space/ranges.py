"""Search spaces shared by the classification and regression learners.

A model family (forests, boosters, kNN, MLP) searches the same ranges whatever the
task, so a learner name means one space in both families. Ranges follow auto-sklearn
and FLAML, trimmed for a budgeted search (see ``classifiers.py``); regularisation
strengths are log-uniform with a tiny lower bound (1e-8) standing in for the library
default of 0. Each function returns fresh dicts in a fixed order: the order of a
learner's hyper-parameters fixes the column layout of DivBO's configuration encoding.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = [
    "FOREST_TREES",
    "MAX_FEATURES_CHOICES",
    "hist_gb_space",
    "knn_space",
    "lightgbm_space",
    "mlp_space",
    "xgboost_space",
]

Space = tuple[dict[str, BaseDistribution], dict[str, Any]]

# Forests default to 200 trees and may reach 500 (AutoGluon uses 300).
FOREST_TREES = IntDistribution(50, 500, step=50)
MAX_FEATURES_CHOICES = ("sqrt", "log2", 0.1, 0.25, 0.5, 0.75, 1.0)


def hist_gb_space() -> Space:
    """scikit-learn's HistGradientBoosting: distributions and defaults."""
    return (
        {
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "max_iter": IntDistribution(50, 500, log=True),
            "max_leaf_nodes": IntDistribution(4, 128, log=True),
            "min_samples_leaf": IntDistribution(2, 200, log=True),
            "l2_regularization": FloatDistribution(1e-8, 10.0, log=True),
            "max_features": FloatDistribution(0.3, 1.0),
        },
        {
            "learning_rate": 0.1,
            "max_iter": 100,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 1e-8,
            "max_features": 1.0,
        },
    )


def knn_space() -> Space:
    """k nearest neighbours."""
    return (
        {
            "n_neighbors": IntDistribution(1, 50, log=True),
            "weights": CategoricalDistribution(("uniform", "distance")),
            "p": IntDistribution(1, 2),
        },
        {"n_neighbors": 5, "weights": "uniform", "p": 2},
    )


def mlp_space() -> Space:
    """A multi-layer perceptron of equal-width layers."""
    return (
        {
            "n_layers": IntDistribution(1, 3),
            "layer_size": IntDistribution(16, 256, log=True),
            "alpha": FloatDistribution(1e-7, 1e-1, log=True),
            "learning_rate_init": FloatDistribution(1e-4, 1e-1, log=True),
        },
        {
            "n_layers": 1,
            "layer_size": 100,
            "alpha": 1e-4,
            "learning_rate_init": 1e-3,
        },
    )


def lightgbm_space() -> Space:
    """LightGBM (leaf-wise trees)."""
    return (
        {
            "n_estimators": IntDistribution(50, 1000, log=True),
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "num_leaves": IntDistribution(4, 256, log=True),
            "min_child_samples": IntDistribution(2, 100, log=True),
            "subsample": FloatDistribution(0.5, 1.0),
            "colsample_bytree": FloatDistribution(0.3, 1.0),
            "reg_alpha": FloatDistribution(1e-8, 10.0, log=True),
            "reg_lambda": FloatDistribution(1e-8, 10.0, log=True),
        },
        {
            "n_estimators": 100,
            "learning_rate": 0.1,
            "num_leaves": 31,
            "min_child_samples": 20,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
            "reg_alpha": 1e-8,
            "reg_lambda": 1e-8,
        },
    )


def xgboost_space() -> Space:
    """XGBoost (depth-wise trees, ``hist`` method)."""
    return (
        {
            "n_estimators": IntDistribution(50, 1000, log=True),
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "max_depth": IntDistribution(2, 10),
            "min_child_weight": FloatDistribution(1e-2, 20.0, log=True),
            "subsample": FloatDistribution(0.5, 1.0),
            "colsample_bytree": FloatDistribution(0.3, 1.0),
            "reg_alpha": FloatDistribution(1e-8, 10.0, log=True),
            "reg_lambda": FloatDistribution(1e-3, 100.0, log=True),
        },
        {
            "n_estimators": 100,
            "learning_rate": 0.3,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
            "reg_alpha": 1e-8,
            "reg_lambda": 1.0,
        },
    )
