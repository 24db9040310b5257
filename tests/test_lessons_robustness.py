"""lessons/robustness.py (notebook 07): parameters, the figures and widgets of Figures 3 and 4 and of training-time
noise, exercise (the experiments themselves: tests/test_robustness.py)."""

from __future__ import annotations

import numpy as np
from scipy import stats
import pandas as pd
import pytest

from dpgdiff_lite.experiments import robustness as rob
from dpgdiff_lite.lessons import robustness as ex


@pytest.mark.parametrize("kwargs, message", [
    (dict(test_noises="0.1,0.2"), "test_noises must start at 0 (retention is relative to the clean score) and "
                                  "increase, got (0.1, 0.2)"),
    (dict(test_noises="0,0.2,0.1"), "test_noises must start at 0 (retention is relative to the clean score) and "
                                    "increase, got (0.0, 0.2, 0.1)"),
    (dict(test_noises="0,a"), "test_noises must be a comma-separated list of floats, got '0,a'"),
    (dict(steps="1,40"), "steps must be in 1..T=32, got 40"),
    (dict(train_noise=0), "train_noise must be in (0, 1], got 0"),
    (dict(train_noise_models="pop"), "train_noise_models: 'pop' is not in models (dpgdiff, sasrec, diff); "
                                     "its clean-trained twin is needed"),
])
def test_robustness_params_errors(kwargs, message):
    with pytest.raises(ValueError) as error:
        ex.RobustnessParams(**kwargs)
    assert str(error.value) == message


def test_robustness_params_step_counts():
    assert ex.RobustnessParams().grid().step_counts(32) == (1, 2, 5, 10, 20, 32)
    assert ex.RobustnessParams().grid().step_counts(8) == (1, 2, 5, 8)
    assert ex.RobustnessParams(steps="4,1").grid().step_counts(32) == (1, 4)
    assert ex.RobustnessParams(test_noises="0, 0.5").test_noises == (0.0, 0.5)


# --- Figure 3 -----------------------------------------------------------------------------------
def test_robustness_curve_at_noise_zero_is_the_clean_evaluation(robust_runs, tiny_source):
    _, trained = robust_runs
    curve = rob.robustness_curve(trained, tiny_source.dataset, (0.0, 0.3), seed=0)
    assert len(curve) == 3 * 2 * 2
    clean = curve[curve["test_noise"] == 0.0]
    for _, row in clean.iterrows():
        assert row["NDCG@10"] == pytest.approx(trained[row["model"]].test.table.loc[row["domain"], "NDCG@10"], abs=1e-12)
    assert (clean["retention"] == 1.0).all()
    noisy = curve[curve["test_noise"] == 0.3]
    assert not np.allclose(noisy["NDCG@10"].to_numpy(), clean["NDCG@10"].to_numpy())
    pd.testing.assert_frame_equal(curve, rob.robustness_curve(trained, tiny_source.dataset, (0.0, 0.3), seed=0))
    with pytest.raises(ValueError, match="rates must include 0"):
        rob.robustness_curve(trained, tiny_source.dataset, (0.1,))
    fig = ex.plot_robustness(curve)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3 + 1  # three models and the paper's 85 %


def test_noise_widget_update_changes_with_the_rate(robust_runs, tiny_source):
    _, trained = robust_runs
    _, update = ex.noise_widget(trained, tiny_source.dataset)
    heights = [[p.get_height() for p in update(rate).axes[0].patches] for rate in (0.0, 0.5)]
    assert len(heights[0]) == 3 * 2 * 2  # models × domains × (noisy, clean outline)
    assert heights[0][:2] == pytest.approx(heights[0][2:4])  # rate 0: noisy bars equal the clean outlines
    assert heights[0] != heights[1]


# --- Figure 4 -----------------------------------------------------------------------------------
def test_step_curve_length_leaves_the_config_and_matches_k1(robust_runs, tiny_source):
    _, trained = robust_runs
    before = trained["dpgdiff"].model.config.inference_steps
    curve = rob.step_curve(trained, tiny_source.dataset, (1, 2, 32))
    assert len(curve) == 2 * 3 * 2  # diffusion models (dpgdiff, diff) × steps × domains; sasrec skipped
    assert list(curve.columns) == ["model", "steps", "domain", "NDCG@10", "seconds"]
    assert set(curve["model"]) == {"dpgdiff", "diff"}
    assert trained["dpgdiff"].model.config.inference_steps == before == 1
    k1 = curve[(curve["model"] == "dpgdiff") & (curve["steps"] == 1)].set_index("domain")["NDCG@10"]
    assert k1.to_numpy() == pytest.approx(trained["dpgdiff"].test.table["NDCG@10"].to_numpy())
    with pytest.raises(ValueError, match=r"steps must be in 1..T=32, got 33"):
        rob.step_curve(trained, tiny_source.dataset, (33,))
    assert trained["dpgdiff"].model.config.inference_steps == 1
    fig = ex.plot_steps(curve)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4 and len(fig.axes[1].lines) == 2


def test_steps_widget_update_rescores(robust_runs, tiny_source):
    _, trained = robust_runs
    _, update = ex.steps_widget(trained["dpgdiff"], tiny_source.dataset)
    titles = [update(k).axes[0].get_title() for k in (1, 32)]
    assert titles[0].startswith("dpgdiff, k=1: X ") and titles[1].startswith("dpgdiff, k=32: X ")
    assert titles[0].split(":")[1] != titles[1].split(":")[1]


def test_train_noise_experiment(robust_runs, tiny_source):
    params, trained = robust_runs
    frame, noisy_runs = rob.train_noise_experiment(tiny_source, params.experiment(), params.grid(), trained, params.seed,
                                                    out_dir=params.output_path)
    assert list(frame.columns) == ["model", "trained_on", "domain", "clean test", "test noisy 20%"]
    assert len(frame) == 2 * 2 * 2 and set(noisy_runs) == {"dpgdiff", "sasrec"}
    row = frame[(frame["model"] == "sasrec") & (frame["trained_on"] == "clean") & (frame["domain"] == "X")]
    assert row["clean test"].item() == pytest.approx(trained["sasrec"].test.table.loc["X", "NDCG@10"])
    assert (params.output_path / "sasrec-train-noise20" / "metrics.json").exists()
    curve = rob.robustness_curve(trained, tiny_source.dataset, (0.0, 0.3))
    steps = rob.step_curve(trained, tiny_source.dataset, (1, 2))
    summary = ex.summarize_robustness(curve, steps, frame, params)
    assert set(summary["retention_at_max_noise"]) == {"dpgdiff", "sasrec", "diff"}
    assert summary["headline"].startswith("NDCG@10 retained at 30% test noise")


def test_exercise_robustness_score_closed_forms():
    rates = np.array([0.0, 0.1, 0.2, 0.3])
    assert ex.robustness_score_by_hand(rates, np.ones(4)) == pytest.approx(1.0)
    assert ex.robustness_score_by_hand(rates, 1 - rates) == pytest.approx(0.85)  # linear 1 → 0.7
    assert ex.robustness_score_by_hand([0.0, 0.1, 0.3], [1.0, 0.8, 0.8]) == pytest.approx((0.09 + 0.16) / 0.3)
    curve = pd.DataFrame({"model": "m", "domain": "X", "test_noise": rates, "retention": 1 - rates})
    assert ex.check_robustness_score(ex.robustness_score_by_hand, curve) == "correct: m X 0.850"
    assert ex.check_robustness_score(lambda r, v: float(v[-1]), curve).startswith("mismatch")
    assert ex.check_robustness_score(lambda r, v: None, curve).startswith("not attempted yet")


# --- over seeds (notebook 07's `seeds` parameter) ---------------------------------------------------
from conftest import TINY_EXPERIMENT  # noqa: E402


@pytest.fixture(scope="module")
def seeded(tiny_source, tmp_path_factory):
    """Notebook 07's models with seeds 0 and 1, one epoch on the tiny data: (params, results)."""
    params = ex.RobustnessParams(**TINY_EXPERIMENT, seeds="0,1", output=str(tmp_path_factory.mktemp("s")))
    return params, params.train_seeds(tiny_source)


def test_curves_over_seeds_are_the_single_seed_curves_stacked(seeded, tiny_source):
    _, trained = seeded
    dataset = tiny_source.dataset
    curve = rob.robustness_curves(trained, dataset, (0.0, 0.3))
    assert list(curve.columns) == ["model", "seed", "test_noise", "domain", "NDCG@10", "retention"]
    one = rob.robustness_curve({n: runs[1] for n, runs in trained.items()}, dataset, (0.0, 0.3))
    pd.testing.assert_frame_equal(curve[curve["seed"] == 1].drop(columns="seed").reset_index(drop=True), one)
    table = rob.retention_table(curve).set_index(["model", "domain"])
    at = curve[curve["test_noise"] == 0.3]
    assert table.loc[("sasrec", "X"), "mean"] == pytest.approx(at.query("model == 'sasrec' and domain == 'X'")["retention"].mean())
    assert (table["n"] == 2).all()
    test = rob.retention_test(curve, "dpgdiff", "sasrec").set_index("domain")
    a = at.query("model == 'dpgdiff' and domain == 'Y'")["retention"].to_numpy()
    b = at.query("model == 'sasrec' and domain == 'Y'")["retention"].to_numpy()
    assert test.loc["Y", "diff"] == pytest.approx((a - b).mean())
    assert test.loc["Y", "p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    fig = ex.plot_robustness(curve)
    assert len(fig.axes[0].lines) == 3 + 1 and len(fig.axes[0].collections) == 3  # a band per model
    steps = rob.step_curves(trained, dataset, (1, 2))
    assert list(steps.columns) == ["model", "seed", "steps", "domain", "NDCG@10", "seconds"] and len(steps) == 2 * 2 * 2 * 2
    best = rob.best_steps(steps)
    assert list(best.columns) == ["model", "seed", "best k", "NDCG@10 at best k"] and len(best) == 4
    assert len(ex.plot_steps(steps).axes[0].collections) == 4  # a band per model and domain
    plot, static = ex.plot_steps_interactive(steps)
    assert len(plot.data) == 4 and {trace.name for trace in plot.data} == {"dpgdiff X", "dpgdiff Y", "diff X", "diff Y"}
    assert len({line.get_color() for line in static.axes[0].lines}) == 4  # X and Y of each model in their own colour


def test_widgets_start_where_their_static_view_is_drawn(robust_runs, tiny_source):
    from dpgdiff_lite.lessons.common import static_view

    _, trained = robust_runs
    view, update = ex.noise_widget(trained, tiny_source.dataset, value=0.3)
    assert view.children[0].children[0].value == 0.3
    assert static_view(view, update).axes[0].get_title() == update(0.3).axes[0].get_title()
    view, update = ex.steps_widget(trained["dpgdiff"], tiny_source.dataset, value=5)
    assert static_view(view, update).axes[0].get_title().startswith("dpgdiff, k=5: ")


def test_exercise_checker_tests_the_prompts_closed_forms(robust_runs, tiny_source):
    _, trained = robust_runs
    curve = rob.robustness_curve(trained, tiny_source.dataset, (0.0, 0.3))
    # right on the curves above (two points each) but wrong on the prompt's 0-10-20-30 % examples
    two_points_only = lambda r, v: float((v[0] + v[-1]) / 2) if len(v) == 2 else 0.5  # noqa: E731
    assert ex.check_robustness_score(two_points_only, curve).startswith("mismatch: retention [1.0, 1.0, 1.0, 1.0]")
