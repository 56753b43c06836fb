"""benchmarks/compare_selectors.py: the libraries it builds and what it averages.

The published selector tables come from this script, so its views of a library
(sizes as trial-order prefixes, the 33 % holdout variant) and its seed averaging
are checked on a real search (sonar, 5 trials).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from autoens.metrics import get_metric

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_selectors.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("compare_selectors", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path  # the script drops its own folder from sys.path
    return module


@pytest.fixture(scope="module")
def library(script, tmp_path_factory):
    out = tmp_path_factory.mktemp("selectors")
    args = argparse.Namespace(
        trials=5, cv=2, seed=0, n_jobs=1, trial_time_limit=60.0, out=out
    )
    path = out / "sonar-fold1-seed0-t5-cv2.npz"
    script.build_library("sonar", 1, args, path)
    with np.load(path) as data:
        return dict(data)


def test_the_holdout_variant_keeps_a_third_of_the_training_rows(library):
    n_models, n_train, _ = library["p_val"].shape
    n_test = library["y_test"].shape[0]
    assert n_models >= 4
    assert library["holdout_ok"].all()
    n_val = library["holdout_y_val"].shape[0]
    assert n_val == pytest.approx(0.33 * n_train, abs=1)
    assert library["holdout_p_val"].shape == (n_models, n_val, 2)
    assert library["holdout_p_test"].shape == (n_models, n_test, 2)
    assert np.isfinite(library["holdout_p_test"]).all()
    # refit on other rows: not the bagged fold models' predictions
    assert not np.allclose(library["holdout_p_test"], library["p_test"])
    assert list(library["trials"]) == sorted(library["trials"])


def test_views_are_trial_order_prefixes_and_skip_failed_holdout_refits(script, library):
    data = dict(library)
    data["holdout_ok"] = data["holdout_ok"].copy()
    data["holdout_ok"][1] = False  # as if the second candidate's refit had failed
    n = data["p_val"].shape[0]
    views = {
        (protocol, size): view
        for protocol, size, view in script.library_views(
            data, ["oof", "holdout"], ["3", "all", str(n + 1)]
        )
    }
    assert set(views) == {
        ("oof", "3"),
        ("oof", "all"),
        ("holdout", "3"),
        ("holdout", "all"),
    }  # a size larger than the library is left out
    np.testing.assert_array_equal(views["oof", "3"]["p_val"], data["p_val"][:3])
    assert views["oof", "all"]["p_test"].shape[0] == n
    holdout = views["holdout", "3"]
    np.testing.assert_array_equal(holdout["p_val"], data["holdout_p_val"][[0, 2]])
    np.testing.assert_array_equal(holdout["learners"], data["learners"][[0, 2]])
    assert holdout["y_val"] is data["holdout_y_val"]


def test_a_seeded_selector_row_is_the_mean_over_its_seeds(script, library):
    rows = script.evaluate(
        "sonar", 1, library, ["qo-es", "qp"], ["oof"], ["all"], [0, 1, 2]
    )
    by_key = {(r["metric"], r["selector"]): r for r in rows}
    assert len(rows) == 4
    assert by_key["roc_auc", "qp"]["n_seeds"] == 1  # deterministic: run once
    assert by_key["roc_auc", "qo-es"]["n_seeds"] == 3
    tests = []
    for seed in (0, 1, 2):
        sel = script.make_selector("qo-es", seed)
        sel.fit(library["p_val"], library["y_val"], metric=get_metric("roc_auc"))
        proba = sel.combine(library["p_test"])
        tests.append(roc_auc_score(library["y_test"], proba[:, 1]))
    row = by_key["roc_auc", "qo-es"]
    assert row["test"] == pytest.approx(np.mean(tests))
    assert row["test_sd"] == pytest.approx(np.std(tests))


def test_variants_set_their_parameters(script):
    sel = script.make_selector("qdo-es-ges", 4)
    assert sel.ges_seed is True and sel.random_state == 4
    assert script.is_seeded("qdo-es-ges") and not script.is_seeded("qp")
