"""autoens.benchmark.analysis and .report on a small results set checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from autoens.benchmark import report
from autoens.benchmark.analysis import (
    ReportError,
    analyse,
    holm,
    normalised_improvement,
    rank_blocks,
    significance_sentences,
    win_tie_loss,
)
from autoens.benchmark.report import make_report, report_dir
from autoens.cli import main

METHODS = ["tpe+ges", "tpe+qp", "tpe+stacking", "random+ges"]
# (task, fold): test scores, validation scores, SingleBest test of the tpe search and
# of the random search (the three tpe methods share one search, as in replay mode).
# tpe+stacking fails on (C, 1), so that block is left out of ranks and tests.
BLOCKS = {
    ("A", 0): ([0.90, 0.92, 0.91, 0.89], [0.95, 0.96, 0.94, 0.93], 0.88, 0.88),
    ("A", 1): ([0.85, 0.85, 0.88, 0.84], [0.90, 0.91, 0.92, 0.89], 0.86, 0.84),
    ("B", 0): ([0.70, 0.72, 0.71, 0.73], [0.80, 0.80, 0.79, 0.78], 0.74, 0.75),
    ("B", 1): ([0.75, 0.74, 0.76, 0.77], [0.81, 0.82, 0.80, 0.83], 0.75, 0.77),
    ("C", 0): ([0.60, 0.61, 0.59, 0.58], [0.70, 0.71, 0.72, 0.69], 0.60, 0.58),
    ("C", 1): ([0.65, 0.66, None, 0.64], [0.75, 0.76, None, 0.74], 0.63, 0.62),
}
COMPLETE = [b for b in BLOCKS if b != ("C", 1)]

# Worked out by hand from BLOCKS (ranks: highest score = 1, ties averaged).
RANK_TEST = {"tpe+ges": 2.9, "tpe+qp": 2.1, "tpe+stacking": 2.2, "random+ges": 2.8}
RANK_VAL = {"tpe+ges": 2.5, "tpe+qp": 1.7, "tpe+stacking": 2.4, "random+ges": 3.4}
NORM_TEST = {"tpe+ges": -0.2, "tpe+qp": 0.0, "tpe+stacking": 0.2, "random+ges": -0.05}
WTL_VS_GES = {"tpe+qp": "3/1/1", "tpe+stacking": "4/0/1", "random+ges": "2/0/3"}


def make_rows() -> pd.DataFrame:
    records = []
    for (task, fold), (test, val, sb_tpe, sb_random) in BLOCKS.items():
        for i, method in enumerate(METHODS):
            sb = sb_random if method.startswith("random") else sb_tpe
            ok = test[i] is not None
            records.append(
                {
                    "task": task,
                    "source": "keel",
                    "fold": fold,
                    "seed": 0,
                    "method": method,
                    "mode": "replay",
                    "status": "ok" if ok else "failed",
                    "error": None if ok else "ValueError: singular matrix\nTraceback",
                    "metric": "roc_auc",
                    "test_score": test[i],
                    "val_score": val[i],
                    "single_best_test_score": sb,
                    "single_best_val_score": sb + 0.05,
                    "test_log_loss": 0.5 - test[i] / 4 if ok else None,
                    "n_members": 3 + i if ok else None,
                    "fit_time": 1.0 + i,
                    "search_time": 0.5,
                    "select_time": 0.1,
                    "n_trials": 8,
                    "n_rows": 200,
                    "n_features": 5,
                    "n_classes": 2,
                    "autoens_version": "0.1.0",
                    "finished_at": f"2026-11-28T20:{len(records):02d}:00",
                }
            )
    return pd.DataFrame.from_records(records)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return make_rows()


@pytest.fixture(scope="module")
def analysis(rows):
    return analyse(rows)["roc_auc"]


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, rows) -> Path:
    """A results directory as the runner writes it, with a torn last line."""
    path = tmp_path_factory.mktemp("results")
    lines = [json.dumps(r) for r in rows.to_dict(orient="records")]
    text = "\n".join(lines) + '\n{"task": "A", "fo'  # killed mid-write
    (path / "rows.jsonl").write_text(text, encoding="utf-8")
    (path / "suite.toml").write_text('name = "tiny"\nfolds = [0, 1]\n')
    (path / "work").mkdir()
    return path


def test_ranks_match_hand_computed(analysis):
    assert analysis.n_blocks == 6
    assert analysis.n_complete == 5
    assert analysis.n_val_blocks == 5
    table = analysis.table
    for method in METHODS:
        assert table.loc[method, "rank_test"] == pytest.approx(RANK_TEST[method])
        assert table.loc[method, "rank_val"] == pytest.approx(RANK_VAL[method])
    assert list(table.index) == ["tpe+qp", "tpe+stacking", "random+ges", "tpe+ges"]
    # ranks of one block sum to k (k + 1) / 2, ties included
    np.testing.assert_allclose(analysis.test_ranks.sum(axis=1), 10.0)


def test_normalised_improvement_and_wtl(analysis):
    table = analysis.table
    for method in METHODS:
        assert table.loc[method, "norm_impr_test"] == pytest.approx(NORM_TEST[method])
    assert analysis.reference == "tpe+ges"
    column = table["w/t/l vs tpe+ges"]
    assert column["tpe+ges"] == "—"
    for method, expected in WTL_VS_GES.items():
        assert column[method] == expected
    # the failed unit is counted, and its block is absent from the ranking
    assert table.loc["tpe+stacking", "failed"] == 1
    assert table.loc["tpe+stacking", "ok"] == 5
    assert table.loc["tpe+ges", "failed"] == 0
    assert ("C", 1, 0) not in analysis.test_scores.index
    # mean test on complete blocks only
    expected = np.mean([BLOCKS[b][0][0] for b in COMPLETE])
    assert table.loc["tpe+ges", "mean_test"] == pytest.approx(expected)


def test_normalised_improvement_edge_cases():
    scores = pd.DataFrame({"a": [0.8, 0.7, 0.5], "b": [0.9, 0.6, 0.5]})
    sb = pd.DataFrame({"a": [0.8, 0.8, 0.5], "b": [0.8, 0.8, np.nan]})
    norm = normalised_improvement(scores, sb)
    # block 0: b gains most → 1, a is SingleBest → 0
    assert norm.loc[0].tolist() == pytest.approx([0.0, 1.0])
    # block 1: nobody beats SingleBest → scaled by the largest loss
    assert norm.loc[1].tolist() == pytest.approx([-0.5, -1.0])
    # block 2: a SingleBest score is missing → the block has no value
    assert norm.loc[2].isna().all()
    # a loss far larger than the best gain is clipped at -1
    clipped = normalised_improvement(
        pd.DataFrame({"a": [0.801], "b": [0.7]}), pd.DataFrame({"a": [0.8], "b": [0.8]})
    )
    assert clipped.loc[0].tolist() == pytest.approx([1.0, -1.0])
    tied = normalised_improvement(scores.iloc[:1] * 0 + 0.5, scores.iloc[:1] * 0 + 0.5)
    assert tied.loc[0].tolist() == [0.0, 0.0]


def test_rank_and_wtl_helpers():
    scores = pd.DataFrame({"x": [0.5, 0.9], "y": [0.5, 0.8], "z": [0.4, 0.95]})
    ranks = rank_blocks(scores)
    assert ranks.loc[0].tolist() == [1.5, 1.5, 3.0]
    assert ranks.loc[1].tolist() == [2.0, 3.0, 1.0]
    wtl = win_tie_loss(scores, "x")
    assert wtl.loc["z"].tolist() == [1, 0, 1]
    assert wtl.loc["y"].tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="complete blocks"):
        rank_blocks(scores.where(scores > 0.45))
    with pytest.raises(ValueError, match="reference method 'w'"):
        win_tie_loss(scores, "w")


def test_friedman_agrees_with_scipy_and_autorank(analysis):
    blocks = [BLOCKS[b][0] for b in COMPLETE]
    columns = list(zip(*blocks, strict=True))
    expected = stats.friedmanchisquare(*columns)
    f = analysis.friedman
    assert (f.n_blocks, f.n_methods) == (5, 4)
    assert f.statistic == pytest.approx(expected.statistic)
    assert f.pvalue == pytest.approx(expected.pvalue)
    # autorank ranks the same way (its mean ranks feed the CD diagram)
    meanrank = analysis.cd_result.rankdf["meanrank"]
    for method in METHODS:
        assert meanrank[method] == pytest.approx(RANK_TEST[method])
    assert f.critical_difference == pytest.approx(analysis.cd_result.cd)
    assert f.critical_difference > 0


def test_make_report_writes_markdown_and_pngs(rows, tmp_path):
    path = make_report(rows, tmp_path / "out", title="Tiny suite")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Tiny suite")
    assert "- rows: 24 (23 ok, 1 failed)" in text
    assert "| method | rank_test | rank_val |" in text
    assert "| tpe+qp | 2.100 | 1.700 | 0.000 | " in text
    assert "Friedman test over 5 blocks and 4 methods" in text
    assert "1 of 6 block(s) left out" in text
    assert "## Failed units" in text and "ValueError: singular matrix" in text
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == ["cd_roc_auc.png", "norm_impr_roc_auc.png", "ranks_roc_auc.png"]
    for name in pngs:
        assert f"]({name})" in text
        data = (tmp_path / "out" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 5000
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert set(summary["method"]) == set(METHODS)


def test_too_few_methods_or_blocks_are_notes_not_errors(rows, tmp_path):
    two = rows[rows["method"].isin(["tpe+ges", "tpe+qp"])]
    a = analyse(two)["roc_auc"]
    assert a.friedman is None and a.cd_result is None
    assert any("at least 3 methods" in n for n in a.notes)
    few = rows[rows["task"] == "A"]  # 2 complete blocks: Friedman yes, CD no
    b = analyse(few)["roc_auc"]
    assert b.friedman is not None and b.cd_result is None
    assert any("at least 5 complete blocks" in n for n in b.notes)
    path = make_report(few, tmp_path)
    assert not (tmp_path / "cd_roc_auc.png").exists()
    assert (tmp_path / "ranks_roc_auc.png").exists()
    assert "CD diagram needs at least 5" in path.read_text(encoding="utf-8")


def test_all_tied_and_constant_scores_do_not_crash(rows):
    tied = rows.assign(test_score=np.where(rows["status"] == "ok", 0.7, np.nan))
    a = analyse(tied)["roc_auc"]
    assert a.table["rank_test"].tolist() == [2.5] * 4
    assert any("tied in every block" in n for n in a.notes)


def test_autorank_warnings_become_notes(rows):
    """A constant column makes autorank's normality test warn; under pytest's
    warnings-as-errors that would crash, so the report records it instead."""
    constant = rows.copy()
    constant.loc[constant["method"] == "random+ges", "test_score"] = 0.75
    a = analyse(constant)["roc_auc"]
    assert any(n.startswith("autorank warned: UserWarning") for n in a.notes)
    assert a.cd_result is not None and a.friedman is not None


def test_metrics_reference_duplicates_and_modes(rows):
    other = rows.assign(metric="log_loss", test_score=rows["test_score"] - 1)
    # the failed unit was run again and succeeded: the later row wins
    retry = rows[rows["status"] == "failed"].assign(
        status="ok", error=None, test_score=0.99, finished_at="2026-11-28T21:00:00"
    )
    analyses = analyse(pd.concat([rows, other, retry]), reference="tpe+qp")
    assert list(analyses) == ["log_loss", "roc_auc"]
    roc = analyses["roc_auc"]
    assert roc.n_complete == 6
    assert roc.table.loc["tpe+stacking", "failed"] == 0
    assert any("superseded" in n for n in roc.notes)
    assert "w/t/l vs tpe+qp" in roc.table.columns
    with pytest.raises(ValueError, match="reference method 'nope'"):
        analyse(rows, reference="nope")
    mixed = pd.concat([rows, rows.assign(mode="end_to_end")])
    labelled = analyse(mixed)["roc_auc"].table.index
    assert "tpe+ges [end_to_end]" in labelled and "tpe+ges [replay]" in labelled


def test_bad_rows_are_rejected(rows):
    with pytest.raises(ReportError, match="no rows"):
        analyse(rows.iloc[:0])
    with pytest.raises(ReportError, match="lack the columns"):
        analyse(rows.drop(columns="test_score"))
    with pytest.raises(ReportError, match="unknown status"):
        analyse(rows.assign(status="done"))
    assert issubclass(ReportError, ValueError)  # code catching ValueError still works


def test_report_module_still_offers_the_analysis():
    assert report.analyse is analyse and report.rank_blocks is rank_blocks
    assert report.MetricAnalysis.__module__ == "autoens.benchmark.analysis"


def test_report_results_needs_a_results_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="results directory not found"):
        report.report_results(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"no rows\.jsonl in"):
        report.report_results(tmp_path)


def test_report_dir_reads_results_directory(results_dir):
    path = report_dir(results_dir)
    assert path == results_dir / "report" / "report.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark report: tiny")
    assert "## Run definition" in text and 'name = "tiny"' in text


def test_cli_report(results_dir, tmp_path, capsys):
    out = tmp_path / "cli-report"
    argv = ["benchmark", "report", str(results_dir), "--out", str(out)]
    code = main([*argv, "--reference", "random+ges"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "w/t/l vs random+ges" in captured.out
    assert "tpe+qp vs random+ges: better on test roc_auc" in captured.out
    assert "Holm p=" in captured.out
    assert f"Report written to {out / 'report.md'}" in captured.out
    assert (out / "report.md").is_file()


def test_cli_report_errors(tmp_path, results_dir, capsys):
    assert main(["benchmark", "report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no rows.jsonl" in err and "autoens benchmark run SUITE.toml" in err
    assert main(["benchmark", "report", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    code = main(["benchmark", "report", str(results_dir), "--reference", "nope"])
    assert code == 2
    assert "reference method 'nope'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "rows.jsonl").write_text("")
    assert main(["benchmark", "report", str(empty)]) == 2
    assert "no rows" in capsys.readouterr().err


# -- regression rows -----------------------------------------------------------------


def regression_rows() -> pd.DataFrame:
    """The hand-checked rows as RMSE (stored negated), plus a default: baseline
    (its own SingleBest, no validation score)."""
    rows = make_rows()
    rows = rows.assign(
        metric="neg_rmse",
        test_score=rows["test_score"] - 1.0,  # -RMSE: same order, so same ranks
        val_score=rows["val_score"] - 1.0,
        single_best_test_score=rows["single_best_test_score"] - 1.0,
        single_best_val_score=rows["single_best_val_score"] - 1.0,
        test_log_loss=None,
        test_r2=np.where(rows["status"] == "ok", 0.5, np.nan),
        n_classes=None,
    )
    blocks = rows.drop_duplicates(["task", "fold"])
    baseline = blocks.assign(
        method="default:hist_gb",
        status="ok",
        error=None,
        test_score=-0.01,  # RMSE 0.01: better than every other method
        val_score=None,
        single_best_test_score=-0.01,
        single_best_val_score=None,
        test_r2=0.4,
        n_members=1,
    )
    return pd.concat([rows, baseline], ignore_index=True)


def test_regression_rows_rank_by_rmse_and_name_the_metric(tmp_path):
    rows = regression_rows()
    analyses = analyse(rows)
    assert list(analyses) == ["neg_rmse"]
    a = analyses["neg_rmse"]
    table = a.table
    # the baseline has the lowest RMSE in every block: rank 1
    assert table.index[0] == "default:hist_gb"
    assert table.loc["default:hist_gb", "rank_test"] == 1.0
    assert table.loc["default:hist_gb", "w/t/l vs tpe+ges"] == "5/0/0"
    # the others keep their hand-computed order, one rank lower
    for method in METHODS:
        assert table.loc[method, "rank_test"] == pytest.approx(RANK_TEST[method] + 1)
        # validation ranks leave the baseline out instead of every block
        assert table.loc[method, "rank_val"] == pytest.approx(RANK_VAL[method])
    assert np.isnan(table.loc["default:hist_gb", "rank_val"])
    assert any("default:hist_gb: no validation score" in n for n in a.notes)
    # its normalised improvement over its own SingleBest is 0
    assert table.loc["default:hist_gb", "norm_impr_test"] == 0.0
    # RMSE itself, and R² instead of log loss
    np.testing.assert_allclose(table["mean_rmse"], -table["mean_test"])
    assert "test_r2" in table.columns and "test_log_loss" not in table.columns
    assert table.loc["default:hist_gb", "test_r2"] == pytest.approx(0.4)

    text = report.format_summary(analyses)
    assert text.startswith("neg_rmse (= -rmse, higher is better): 5 of 6 blocks")
    path = make_report(rows, tmp_path)
    md = path.read_text(encoding="utf-8")
    assert "## neg_rmse" in md and "rank 1 is the lowest rmse" in md
    assert " mean_rmse | test_r2 |" in md
    assert (tmp_path / "ranks_neg_rmse.png").is_file()
    assert (tmp_path / "cd_neg_rmse.png").is_file()


def test_classification_tables_keep_their_columns(analysis):
    assert "test_log_loss" in analysis.table.columns
    assert "test_r2" not in analysis.table.columns
    assert not [c for c in analysis.table.columns if c.startswith("mean_roc")]


# -- significance against the reference ----------------------------------------------


def test_holm_matches_hand_computed_values():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04;
    # the running maximum lifts the last to 0.06
    assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # capped at 1, and monotone: 0.5 * 2 = 1.0 caps the larger one too
    assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    # NaN stays NaN and is not counted in m
    assert_allclose(holm([0.01, np.nan, 0.02]), [0.02, np.nan, 0.02])
    assert holm([]).size == 0
    assert_allclose(holm([0.04]), [0.04])  # one test: nothing to correct
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        holm([0.5, 1.5])


def significance_rows() -> pd.DataFrame:
    """Eight blocks: qp below ges in every block (distinct gaps), same == ges."""
    records = []
    for b in range(8):
        ges = 0.80 + 0.01 * b
        scores = {"ges": ges, "qp": ges - 0.001 * (b + 1), "same": ges}
        for method, score in scores.items():
            records.append(
                {
                    "task": f"T{b // 2}",
                    "fold": b % 2,
                    "seed": 0,
                    "method": method,
                    "status": "ok",
                    "metric": "roc_auc",
                    "test_score": score,
                    "val_score": score,
                    "single_best_test_score": 0.8,
                    "single_best_val_score": 0.8,
                }
            )
    return pd.DataFrame.from_records(records)


def test_wilcoxon_holm_against_the_reference(tmp_path):
    a = analyse(significance_rows(), reference="ges")["roc_auc"]
    sig = a.significance
    assert list(sig.index) == ["qp", "same"]
    # qp loses all 8 blocks: exact two-sided p = 2 / 2^8; Holm (m = 2) doubles it
    assert sig.loc["qp", "p_wilcoxon"] == pytest.approx(2 / 2**8)
    assert sig.loc["qp", "p_holm"] == pytest.approx(4 / 2**8)
    assert sig.loc["qp", "mean_diff"] == pytest.approx(-0.0045)
    assert bool(sig.loc["qp", "significant"])
    # identical to the reference: p = 1, not significant
    assert sig.loc["same", "p_wilcoxon"] == 1.0 and sig.loc["same", "p_holm"] == 1.0
    assert not bool(sig.loc["same", "significant"])
    assert (sig["n_blocks"] == 8).all()

    md = make_report(significance_rows(), tmp_path, reference="ges").read_text(
        encoding="utf-8"
    )
    assert "### Against `ges`: Wilcoxon signed-rank, Holm-corrected" in md
    assert "| method | n_blocks | mean_diff | p_wilcoxon | p_holm | significant |" in md
    assert "| qp | 8 | -0.0045 | 0.00781 | 0.0156 | yes |" in md
    assert (
        "- qp vs ges: worse on test roc_auc, mean -0.0045, Wilcoxon p=0.00781, "
        "Holm p=0.0156: significant at 0.05" in md
    )
    assert (
        "- same vs ges: equal on test roc_auc, mean +0.0000, Wilcoxon p=1, "
        "Holm p=1: not significant at 0.05" in md
    )
    text = report.format_summary({"roc_auc": a})
    assert "qp vs ges: worse on test roc_auc" in text


def test_wilcoxon_agrees_with_scipy_on_the_hand_checked_rows(analysis):
    sig = analysis.significance
    test = analysis.test_scores
    raw = {
        m: stats.wilcoxon(test[m] - test["tpe+ges"]).pvalue
        for m in ["tpe+qp", "tpe+stacking", "random+ges"]
    }
    for method, p in raw.items():
        assert sig.loc[method, "p_wilcoxon"] == pytest.approx(p)
    # 5 blocks cannot reach p < 0.0625: nothing is significant, and a note says so
    assert not sig["significant"].any()
    assert any(
        "smallest possible two-sided Wilcoxon p is 0.0625" in n for n in analysis.notes
    )
    assert_allclose(sig["p_holm"], holm(sig["p_wilcoxon"].to_numpy()))


def test_significance_for_a_negated_loss_reports_the_loss():
    rows = significance_rows().assign(
        metric="neg_rmse", test_score=lambda r: r["test_score"] - 1.0
    )
    a = analyse(rows, reference="ges")["neg_rmse"]
    lines = significance_sentences(a.significance, "ges", "neg_rmse")
    # qp's -RMSE is lower, so its RMSE is higher by 0.0045: worse, mean +0.0045
    assert lines[0].startswith("qp vs ges: worse on test rmse, mean +0.0045,")
