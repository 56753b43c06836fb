"""benchmarks/compare_selectors.py (the libraries it builds and what it averages) and
benchmarks/auto_rule.py (the two tier rules of ``auto`` on those libraries).

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


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved  # the scripts edit sys.path
    return module


def build_args(out: Path, **changes) -> argparse.Namespace:
    """The build options of compare_selectors.py: a short, quick search."""
    options = {
        "trials": 5,
        "cv": 2,
        "seed": 0,
        "n_jobs": 1,
        "trial_time_limit": 60.0,
        "out": out,
        "min_candidates": 0,
        "protocols": ["oof", "holdout"],
    }
    return argparse.Namespace(**{**options, **changes})


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


@pytest.fixture(scope="module")
def auto_rule():
    return load_script(SCRIPT.with_name("auto_rule.py"))


@pytest.fixture(scope="module")
def library_file(script, tmp_path_factory):
    out = tmp_path_factory.mktemp("selectors")
    args = build_args(out)
    path = out / "sonar-fold1-seed0-t5-cv2.npz"
    script.build_library("sonar", 1, args, path)
    return path


@pytest.fixture(scope="module")
def library(library_file):
    with np.load(library_file) as data:
        return dict(data)


def test_a_search_is_resumed_until_it_has_min_candidates(script, tmp_path):
    """Repeats and trials cut at the time limit count as trials but add no
    candidate: the study is resumed (its trials count) until the library is full."""
    args = build_args(tmp_path, trials=3, min_candidates=6, protocols=["oof"])
    path = tmp_path / "sonar-fold0-seed0-t3-cv2-min6.npz"
    script.build_library("sonar", 0, args, path)
    with np.load(path) as data:
        assert data["p_val"].shape[0] >= 6
        assert data["trials"].max() >= 5  # trial numbers of the resumed study
        assert "holdout_ok" not in data  # no refits for a protocol not asked for


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


def test_auto_rule_scores_both_rules_and_mirrors_auto(auto_rule, library, library_file):
    """benchmarks/auto_rule.py takes each rule's choice from one ``auto`` fit: the rule
    ``auto`` uses for a label metric must give ``auto``'s own choice."""
    from autoens.selectors import get_selector

    metric = get_metric("balanced_error_rate")
    for seed in (0, 1, 2):
        sel = get_selector("auto", random_state=seed)
        sel.fit(library["p_val"], library["y_val"], metric=metric)
        choices = auto_rule.rule_choices(sel, seed)
        assert set(choices) == set(auto_rule.RULES)
        assert choices["auto-stack-with-ges"] is sel.chosen_
    rows = auto_rule.library_rows(
        library_file, ["3", "all"], [0, 1], library_file.parent / "auto_rows"
    )
    assert {(r["size"], r["method"]) for r in rows} == {
        (size, method)
        for size in ("3", "all")
        for method in (auto_rule.REFERENCE, *auto_rule.RULES)
    }
    assert all(0.0 <= r["test"] <= 1.0 for r in rows)
    again = auto_rule.library_rows(  # resumed from the kept rows
        library_file, ["3", "all"], [0, 1], library_file.parent / "auto_rows"
    )
    assert [r["test"] for r in again] == pytest.approx([r["test"] for r in rows])


def test_auto_rule_refuses_two_searches_of_one_block(auto_rule, library_file, tmp_path):
    """A folder holding two searches of one dataset-fold would average them into one
    block: auto_rule.py refuses it and --pattern chooses one."""
    import shutil

    folder = tmp_path / "libraries"
    folder.mkdir()
    shutil.copy(library_file, folder / "sonar-fold1-seed0-t5-cv2.npz")
    shutil.copy(library_file, folder / "sonar-fold1-seed0-t9-cv2-min9.npz")
    with pytest.raises(SystemExit):
        auto_rule.main(["--libraries", str(folder), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit):  # nothing matches
        auto_rule.main(["--libraries", str(folder), "--pattern", "*-min100.npz"])
