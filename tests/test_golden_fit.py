"""Fixed seed + fixed trial budget → the same leaderboard, weights and predictions.

The JSON files in ``tests/data/golden_fit/`` were recorded by ``make_golden.py`` in that
folder before the core was restructured (the prediction cache as the only carrier, the
task object, the search front door); these tests prove that classification results did
not move, with the in-memory cache, with a disk cache, and when a second fit is
answered entirely from that disk cache. ``multiclass_divbo_qdo`` was recorded again
when DivBO's surrogates were made cheaper (25 performance trees, the diversity model
refit as the library grows by a quarter), and again when its proposals were made
cheaper still (the pool's GES cached, diversity predicted only for the candidates that
can win, the performance forest bootstrapped by repeating rows): it proposes other
configurations since.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent / "data" / "golden_fit"
_spec = importlib.util.spec_from_file_location("make_golden", HERE / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)

pytestmark = pytest.mark.slow


def _assert_same(expected: dict, got: dict) -> None:
    board_e, board_g = expected["leaderboard"], got["leaderboard"]
    assert [(r["trial"], r["learner"], r["status"]) for r in board_g] == [
        (r["trial"], r["learner"], r["status"]) for r in board_e
    ]
    for e, g in zip(board_e, board_g, strict=True):
        assert g["params"] == e["params"], f"trial {e['trial']}"
        if e["loss"] is None:
            assert g["loss"] is None
        else:
            assert g["loss"] == pytest.approx(e["loss"], rel=1e-12, abs=1e-15)
        assert g["weight"] == pytest.approx(e["weight"], abs=1e-12)
    assert got["weights"] == pytest.approx(expected["weights"], abs=1e-12)
    assert got["validation_loss"] == pytest.approx(expected["validation_loss"], 1e-12)
    np.testing.assert_allclose(got["proba"], expected["proba"], rtol=0, atol=1e-6)
    assert got["reselect"].keys() == expected["reselect"].keys()
    for name, e in expected["reselect"].items():
        g = got["reselect"][name]
        assert g["weights"] == pytest.approx(e["weights"], abs=1e-9), name
        np.testing.assert_allclose(g["proba"], e["proba"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("case", sorted(make_golden.CASES))
def test_results_match_the_recorded_ones(case):
    expected = json.loads((HERE / f"{case}.json").read_text())
    model = make_golden.fit_case(case, keep_models="all")
    _assert_same(expected, make_golden.summarise(case, model))


def test_disk_cache_and_cache_hit_refit_give_the_same_results(tmp_path):
    case = "binary_tpe_ges"
    expected = json.loads((HERE / f"{case}.json").read_text())
    first = make_golden.fit_case(case, cache_dir=tmp_path / "cache")
    _assert_same(expected, make_golden.summarise(case, first))
    again = make_golden.fit_case(case, cache_dir=tmp_path / "cache")
    assert set(again.leaderboard_["source"]) == {"cache"}
    _assert_same(expected, make_golden.summarise(case, again))
