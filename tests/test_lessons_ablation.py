"""lessons/ablation.py (notebook 08): parameters, Table 3 drawn and summarised, the steps between rows, why diff
collapses, the λ slider, exercise (Table 3 itself: tests/test_table3.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dpgdiff_lite.experiments import eq15, regime_tables, table3 as t3, table3_paired, tables
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
    table = t3.ablation_table(results)
    assert list(table.index) == list(t3.ABLATION_ORDER)
    assert list(table.columns) == ["DE", "G", "Tri-CL", "X", "X Δ", "X p", "Y", "Y Δ", "Y p"]
    assert table.loc["diff+de+g", ["DE", "G", "Tri-CL"]].tolist() == ["✓", "✓", ""]
    assert table.iloc[0][["X Δ", "X p"]].isna().all()
    assert table.loc["dpgdiff", "Y Δ"] == pytest.approx(table.loc["dpgdiff", "Y"] - table.loc["diff+de+tricl", "Y"])
    x = results["dpgdiff"].test.per_case.query("domain == 'Y'")["NDCG@10"]
    y = results["diff+de+tricl"].test.per_case.query("domain == 'Y'")["NDCG@10"]
    assert table.loc["dpgdiff", "Y p"] == pytest.approx(stats.ttest_rel(x, y).pvalue, nan_ok=True)
    summary = ex.summarize_ablation(table, params)
    assert set(summary["p_vs_previous_row"]["X"]) <= set(t3.ABLATION_ORDER[1:])
    assert summary["headline"].startswith("test NDCG@10 X: ")
    assert len(ex.plot_ablation(table).axes[0].patches) == 5 * 2


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


# --- over seeds (notebook 08's `seeds` parameter) ---------------------------------------------------
import pandas as pd  # noqa: E402

from conftest import TINY_EXPERIMENT  # noqa: E402
from dpgdiff_lite.experiments.transfer import paired_difference  # noqa: E402


@pytest.fixture(scope="module")
def seeded(tiny_source, tmp_path_factory):
    """Three of notebook 08's variants with seeds 0 and 1, one epoch on the tiny data."""
    params = ex.AblationParams(**TINY_EXPERIMENT, models="diff,diff+de,dpgdiff", seeds="0,1",
                               output=str(tmp_path_factory.mktemp("s")))
    return params, params.train_seeds(tiny_source)


def test_ablation_seeds_table_tests_consecutive_rows_over_seed_and_case(seeded):
    _, results = seeded
    table = t3.ablation_seeds_table(results)
    assert list(table.index) == ["diff", "diff+de", "dpgdiff"]
    assert list(table.columns) == ["DE", "G", "Tri-CL", "X mean", "X std", "X Δ", "X p",
                                   "Y mean", "Y std", "Y Δ", "Y p", "seeds"]
    values = [results["dpgdiff"][s].test.table.loc["X", "NDCG@10"] for s in (0, 1)]
    assert table.loc["dpgdiff", "X mean"] == pytest.approx(np.mean(values))
    assert table.loc["dpgdiff", "X std"] == pytest.approx(np.std(values, ddof=1))
    expected = paired_difference({s: r.test for s, r in results["dpgdiff"].items()},
                                 {s: r.test for s, r in results["diff+de"].items()})
    assert table.loc["dpgdiff", ["X Δ", "X p"]].tolist() == pytest.approx(expected.loc["X", ["diff", "p"]].tolist())
    assert table.loc["diff", ["X Δ", "X p"]].isna().all() and (table["seeds"] == 2).all()


def test_table3_steps_reads_both_worlds_with_intervals_from_delta_and_p():
    teaching = pd.read_csv(tables.results_dir("08") / "table3_seeds.csv")
    conflict = pd.read_csv(tables.results_dir("regimes") / "ablation" / "paired.csv")
    steps = table3_paired.table3_steps(teaching, conflict)
    assert set(steps["world"]) == {"teaching data", "opposed conflict"} and len(steps) == 16
    de = steps.query("world == 'opposed conflict' and step == 'diff → diff+de'").set_index("domain")
    assert de.loc["X", "Δ"] == pytest.approx(conflict.set_index(["variant", "domain"]).loc[("diff+de", "X"), "vs parent"])
    assert de.loc["X", "Δ"] > 5  # the Disentangled Encoder lifts the collapsed `diff` on the conflict cell
    # the interval implied by Δ and p: at p = 0.05 the 95 % interval just reaches 0
    half = table3_paired._interval(pd.Series([0.6, -0.6, 0.0]), pd.Series([0.05, 0.05, 1.0]))
    assert half.iloc[0] == pytest.approx(0.6, rel=1e-6) and half.iloc[1] == pytest.approx(0.6, rel=1e-6)
    assert np.isnan(half.iloc[2])
    plot, static = ex.plot_table3_steps(steps)
    assert len(static.axes) == 2 and [a.get_title() for a in static.axes] == ["teaching data", "opposed conflict"]
    assert len(plot.data) == 4


def test_collapse_table_puts_diff_next_to_popularity_and_sasrec():
    summary = pd.read_csv(tables.results_dir("regimes") / "summary.csv")
    table = regime_tables.collapse_table(summary)
    assert len(table) == 18
    row = table.loc[(1.0, 0.0, "X")]
    assert row["diff − pop"] == pytest.approx(row["diff"] - row["pop"])
    assert row["diff − sasrec"] == pytest.approx(6.5623 - 13.2802, abs=1e-3)


def test_preference_weight_one_is_eq15_and_the_slider_marks_its_value(seeded, tiny_source):
    _, results = seeded
    run = results["dpgdiff"][0]
    curve = eq15.preference_weight_curve(run, tiny_source.dataset, [0.0, 1.0])
    assert (curve.loc[1.0] - run.test.table["NDCG@10"]).abs().max() < 1e-9
    view, update = ex.weight_widget(run, tiny_source.dataset, curve, value=0.5)
    fig = update(0.5)
    assert fig.axes[0].get_title().startswith("λ = 0.5: X ") and 0.5 in update.cache
    assert view.children[0].children[0].value == 0.5


def test_popular_share_is_one_for_the_popularity_ranking(tiny_source):
    from types import SimpleNamespace

    from dpgdiff_lite.popularity import PopularityScorer

    scorer = PopularityScorer(tiny_source.dataset)
    scorer.eval = lambda: scorer
    share = ex.popular_share(SimpleNamespace(model=scorer), tiny_source.dataset)
    assert share.tolist() == pytest.approx([1.0, 1.0])
