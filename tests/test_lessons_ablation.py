"""lessons/ablation.py (notebook 08): parameters, Table 3 with paired tests between rows, exercise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dpgdiff_lite.lessons import ablation as ex


def test_ablation_params_take_diffusion_variants_in_paper_order():
    assert ex.AblationParams(models="dpgdiff,diff").models == ("diff", "dpgdiff")
    with pytest.raises(ValueError) as error:
        ex.AblationParams(models="diff,sasrec")
    assert str(error.value) == ("models: 'sasrec' is not a diffusion variant; Table 3 compares "
                                "diff, diff+de, diff+de+g, diff+de+tricl, dpgdiff")


# --- Table 3 ------------------------------------------------------------------------------------
def test_ablation_table_layout_and_consecutive_tests(ablation_runs):
    params, results = ablation_runs
    table = ex.ablation_table(results)
    assert list(table.index) == list(ex.ABLATION_ORDER)
    assert list(table.columns) == ["DE", "G", "Tri-CL", "X", "X Δ", "X p", "Y", "Y Δ", "Y p"]
    assert table.loc["diff+de+g", ["DE", "G", "Tri-CL"]].tolist() == ["✓", "✓", ""]
    assert table.iloc[0][["X Δ", "X p"]].isna().all()
    assert table.loc["dpgdiff", "Y Δ"] == pytest.approx(table.loc["dpgdiff", "Y"] - table.loc["diff+de+tricl", "Y"])
    x = results["dpgdiff"].test.per_case.query("domain == 'Y'")["NDCG@10"]
    y = results["diff+de+tricl"].test.per_case.query("domain == 'Y'")["NDCG@10"]
    assert table.loc["dpgdiff", "Y p"] == pytest.approx(stats.ttest_rel(x, y).pvalue, nan_ok=True)
    summary = ex.summarize_ablation(table, params)
    assert set(summary["p_vs_previous_row"]["X"]) <= set(ex.ABLATION_ORDER[1:])
    assert summary["headline"].startswith("test NDCG@10 X: ")
    assert len(ex.plot_ablation(table).axes[0].patches) == 5 * 2


def test_ablation_table_refuses_non_variants(robust_runs):
    _, trained = robust_runs
    with pytest.raises(ValueError, match="ablation_table takes the diffusion variants .*; got sasrec"):
        ex.ablation_table(trained)


def test_exercise_paired_t(ablation_runs):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    t, p = ex.paired_t_by_hand(x, y)
    expected = stats.ttest_rel(x, y)
    assert (t, p) == pytest.approx((expected.statistic, expected.pvalue))
    assert math.isclose(ex.paired_t_by_hand([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])[0], 2 / (1 / math.sqrt(3)))
    _, results = ablation_runs
    a, b = results["dpgdiff"].test, results["diff"].test
    assert ex.check_paired_t(ex.paired_t_by_hand, a, b).startswith("correct: X t = ")
    assert ex.check_paired_t(lambda x, y: (0.0, 1.0), a, b).startswith("mismatch in X")
