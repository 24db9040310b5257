"""experiments.py: parameter validation, run folders, Tables 1 and 3, Figures 3 and 4, widgets, exercises."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from dpgdiff_lite import experiments as ex
from dpgdiff_lite.config import MODELS
from dpgdiff_lite.evaluation import METRICS

TINY = dict(data="synthetic:tiny", preset="smoke", overrides="dim=32", epochs=1)


# --- parameters -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(models="dpgdiff,bogus"), f"models: unknown model 'bogus'; choose from {', '.join(MODELS)}"),
    (dict(models=""), "models: name at least one model"),
    (dict(models="sasrec,sasrec"), "models: each model once, got sasrec, sasrec"),
    (dict(preset="huge"), "preset: unknown preset 'huge'; choose one of smoke, teaching, paper"),
    (dict(device="tpu"), "unknown device 'tpu'; choose auto, cpu, cuda, cuda:N or mps"),
    (dict(protocol="exact"), "protocol: unknown protocol 'exact'; choose one of sampled, full"),
    (dict(epochs=-1), "epochs must be an integer >= 0, got -1"),
    (dict(seed=1.5), "seed must be an integer >= 0, got 1.5"),
    (dict(data="synthetic:huge"), "data: unknown synthetic preset 'huge'; choose one of tiny, teaching, paper-scale"),
    (dict(data="parquet:x"), "data: spec 'parquet:x' not understood; valid schemes: "
                             "synthetic[:preset], c2dsr:PATH, amazon:X.csv,Y.csv"),
    (dict(data="c2dsr:/no/such/Food-Kitchen"), "data: 'Food-Kitchen' not found (spec 'c2dsr:/no/such/Food-Kitchen')"),
    (dict(data="amazon:only.csv"), "data: spec 'amazon:only.csv' not understood; valid schemes: "
                                   "synthetic[:preset], c2dsr:PATH, amazon:X.csv,Y.csv"),
    (dict(resume="yes"), "resume must be True or False, got 'yes'"),
])
def test_experiment_params_errors_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError) as error:
        ex.ExperimentParams(**kwargs)
    assert str(error.value) == message


def test_bad_override_names_its_key():
    with pytest.raises(ValueError, match=r"^unknown config key 'dimm'; known keys: "):
        ex.ExperimentParams(overrides="dimm=32")
    with pytest.raises(ValueError, match=r"^config key 'dim' expects int, got 'wide'$"):
        ex.ExperimentParams(overrides="dim=wide")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_an_error():
    with pytest.raises(ValueError) as error:
        ex.ExperimentParams(device="cuda")
    assert str(error.value) == "device 'cuda' was asked for but this machine has no CUDA GPU; use 'cpu' or 'auto'"


def test_params_normalise_strings_and_build_configs():
    params = ex.ExperimentParams(models=" dpgdiff, pop ", overrides="dim=32,lr=0.001", epochs=3, seed=7,
                                 protocol="full", device="cpu")
    assert params.models == ("dpgdiff", "pop")
    assert params.overrides == ("dim=32", "lr=0.001")
    config = params.config("dpgdiff")
    assert (config.dim, config.lr, config.epochs, config.seed, config.eval_protocol, config.device) == \
           (32, 0.001, 3, 7, "full", "cpu")
    assert ex.ExperimentParams(preset="paper").config("sasrec").epochs == 100  # epochs = 0 keeps the preset's


@pytest.mark.parametrize("kwargs, message", [
    (dict(noise_rates="0.1,0.2"), "noise_rates must start at 0 (retention is relative to the clean score) and "
                                  "increase, got (0.1, 0.2)"),
    (dict(noise_rates="0,0.2,0.1"), "noise_rates must start at 0 (retention is relative to the clean score) and "
                                    "increase, got (0.0, 0.2, 0.1)"),
    (dict(noise_rates="0,a"), "noise_rates must be a comma-separated list of floats, got '0,a'"),
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
    assert ex.RobustnessParams().step_counts(32) == (1, 2, 5, 10, 20, 32)
    assert ex.RobustnessParams().step_counts(8) == (1, 2, 5, 8)
    assert ex.RobustnessParams(steps="4,1").step_counts(32) == (1, 4)
    assert ex.RobustnessParams(noise_rates="0, 0.5").noise_rates == (0.0, 0.5)


def test_ablation_params_take_diffusion_variants_in_paper_order():
    assert ex.AblationParams(models="dpgdiff,diff").models == ("diff", "dpgdiff")
    with pytest.raises(ValueError) as error:
        ex.AblationParams(models="diff,sasrec")
    assert str(error.value) == ("models: 'sasrec' is not a diffusion variant; Table 3 compares "
                                "diff, diff+de, diff+de+g, diff+de+tricl, dpgdiff")


# --- trained fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def source():
    return ex.ExperimentParams(**TINY).load()


@pytest.fixture(scope="module")
def robust(source, tmp_path_factory):
    params = ex.RobustnessParams(**TINY, models="dpgdiff,sasrec,diff", output=str(tmp_path_factory.mktemp("r")))
    return params, ex.train_models(source.dataset, params, out_dir=params.output_path)


@pytest.fixture(scope="module")
def ablation(source, tmp_path_factory):
    params = ex.AblationParams(**TINY, output=str(tmp_path_factory.mktemp("a")))
    return params, ex.train_models(source.dataset, params, out_dir=params.output_path)


# --- run folder and Table 1 -------------------------------------------------------------------
def test_train_models_writes_the_documented_layout(source, tmp_path):
    params = ex.ExperimentParams(**TINY, output=str(tmp_path))
    results = ex.train_models(source.dataset, params, out_dir=tmp_path)
    top = json.loads((tmp_path / "metrics.json").read_text())
    assert list(top) == ["dpgdiff", "sasrec", "pop"]
    for name, metrics in top.items():
        assert {"protocol", "model", "test", "valid", "data"} <= set(metrics)
        assert metrics["model"] == name and metrics["data"] == "synthetic:tiny"
        assert list(metrics["test"]) == ["X", "Y"] and list(metrics["test"]["X"]) == list(METRICS)
        assert json.loads((tmp_path / name / "metrics.json").read_text())["test"] == metrics["test"]
    assert metrics["test"]["Y"]["NDCG@10"] == pytest.approx(results["pop"].test.table.loc["Y", "NDCG@10"])

    started = time.perf_counter()  # same config and data: the finished runs are reloaded, not retrained
    again = ex.train_models(source.dataset, params, out_dir=tmp_path)
    assert time.perf_counter() - started < 5
    assert again["dpgdiff"].test.to_dict() == results["dpgdiff"].test.to_dict()
    assert again["dpgdiff"].history["epoch"].tolist() == [1]

    longer = ex.ExperimentParams(**{**TINY, "epochs": 2}, models="sasrec", output=str(tmp_path))
    assert ex.train_models(source.dataset, longer, out_dir=tmp_path)["sasrec"].history["epoch"].tolist() == [1, 2]


def test_table1_layout_and_summary(robust, source):
    params, trained = robust
    table = ex.table1(trained)
    assert table.index.names == ["domain", "metric"]
    assert list(table.index) == [(d, m) for d in ("X", "Y") for m in METRICS]
    assert list(table.columns) == ["dpgdiff", "sasrec", "diff", "Imp.", "p"]
    assert table.loc[("X", "NDCG@10"), "sasrec"] == pytest.approx(trained["sasrec"].test.table.loc["X", "NDCG@10"])
    alone = ex.table1({"sasrec": trained["sasrec"], "diff": trained["diff"]})  # no dpgdiff: no Imp., p
    assert list(alone.columns) == ["sasrec", "diff"] and list(ex.format_table1(alone).columns) == ["sasrec", "diff"]
    shown = ex.format_table1(table)
    assert shown.loc[("X", "NDCG@10"), "p"] == f"{table.loc[('X', 'NDCG@10'), 'p']:.2g}"
    assert shown.loc[("X", "NDCG@10"), "dpgdiff"] == round(table.loc[("X", "NDCG@10"), "dpgdiff"], 2)
    summary = ex.summarize_table1(trained, table, source.dataset, params)
    assert set(summary["best_by_domain"]) == {"X", "Y"} and summary["headline"].startswith("test NDCG@10 X: dpgdiff")
    assert set(summary["p_NDCG@10"]) == {"X", "Y"}
    assert ex.describe_table1(summary).count("\n") == 1
    assert json.loads(ex.write_summary(summary, params.output_path).read_text()) == json.loads(json.dumps(summary))
    fig = ex.plot_learning_curves(trained)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3


def test_oracle_fraction(robust, source):
    _, trained = robust
    fraction = ex.oracle_fraction(trained, source)
    assert list(fraction.columns) == ["oracle NDCG@10", "dpgdiff", "sasrec", "diff"]
    oracle = fraction["oracle NDCG@10"]
    assert (fraction["sasrec"] * oracle).to_numpy() == pytest.approx(trained["sasrec"].test.table["NDCG@10"].to_numpy())
    assert ex.oracle_fraction(trained, ex.DataSource(source.dataset, None)) is None


# --- Figure 3 -----------------------------------------------------------------------------------
def test_robustness_curve_at_noise_zero_is_the_clean_evaluation(robust, source):
    _, trained = robust
    curve = ex.robustness_curve(trained, source.dataset, (0.0, 0.3), seed=0)
    assert len(curve) == 3 * 2 * 2
    clean = curve[curve["noise_rate"] == 0.0]
    for _, row in clean.iterrows():
        assert row["NDCG@10"] == pytest.approx(trained[row["model"]].test.table.loc[row["domain"], "NDCG@10"], abs=1e-12)
    assert (clean["retention"] == 1.0).all()
    noisy = curve[curve["noise_rate"] == 0.3]
    assert not np.allclose(noisy["NDCG@10"].to_numpy(), clean["NDCG@10"].to_numpy())
    pd.testing.assert_frame_equal(curve, ex.robustness_curve(trained, source.dataset, (0.0, 0.3), seed=0))
    with pytest.raises(ValueError, match="rates must include 0"):
        ex.robustness_curve(trained, source.dataset, (0.1,))
    fig = ex.plot_robustness(curve)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3 + 1  # three models and the paper's 85 %


def test_noisy_histories_add_rate_times_n_events_on_average(source):
    dataset = source.dataset
    clean, noisy = dataset.test.histories, ex.noisy_histories(dataset, 0.4, seed=1)
    inserted = sum(len(b) - len(a) for a, b in zip(clean, noisy)) / sum(map(len, clean))
    assert inserted == pytest.approx(0.2, abs=0.02)
    assert all(np.array_equal(a, b) for a, b in zip(clean, ex.noisy_histories(dataset, 0.0)))


def test_noise_widget_update_changes_with_the_rate(robust, source):
    _, trained = robust
    _, update = ex.noise_widget(trained, source.dataset)
    heights = [[p.get_height() for p in update(rate).axes[0].patches] for rate in (0.0, 0.5)]
    assert len(heights[0]) == 3 * 2 * 2  # models × domains × (noisy, clean outline)
    assert heights[0][:2] == pytest.approx(heights[0][2:4])  # rate 0: noisy bars equal the clean outlines
    assert heights[0] != heights[1]


# --- Figure 4 -----------------------------------------------------------------------------------
def test_step_curve_length_restores_the_config_and_matches_k1(robust, source):
    _, trained = robust
    before = trained["dpgdiff"].model.config.inference_steps
    curve = ex.step_curve(trained, source.dataset, (1, 2, 32))
    assert len(curve) == 2 * 3 * 2  # diffusion models (dpgdiff, diff) × steps × domains; sasrec skipped
    assert list(curve.columns) == ["model", "steps", "domain", "NDCG@10", "seconds"]
    assert set(curve["model"]) == {"dpgdiff", "diff"}
    assert trained["dpgdiff"].model.config.inference_steps == before == 1
    k1 = curve[(curve["model"] == "dpgdiff") & (curve["steps"] == 1)].set_index("domain")["NDCG@10"]
    assert k1.to_numpy() == pytest.approx(trained["dpgdiff"].test.table["NDCG@10"].to_numpy())
    with pytest.raises(ValueError, match=r"steps must be in 1..T=32, got 33"):
        ex.step_curve(trained, source.dataset, (33,))
    assert trained["dpgdiff"].model.config.inference_steps == 1
    fig = ex.plot_steps(curve)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4 and len(fig.axes[1].lines) == 2


def test_steps_widget_update_rescores(robust, source):
    _, trained = robust
    _, update = ex.steps_widget(trained["dpgdiff"], source.dataset)
    titles = [update(k).axes[0].get_title() for k in (1, 32)]
    assert titles[0].startswith("dpgdiff, k=1: X ") and titles[1].startswith("dpgdiff, k=32: X ")
    assert titles[0].split(":")[1] != titles[1].split(":")[1]


def test_train_noise_experiment(robust, source):
    params, trained = robust
    frame, noisy_runs = ex.train_noise_experiment(source.dataset, params, trained, out_dir=params.output_path)
    assert list(frame.columns) == ["model", "trained_on", "domain", "clean test", "test noisy 20%"]
    assert len(frame) == 2 * 2 * 2 and set(noisy_runs) == {"dpgdiff", "sasrec"}
    row = frame[(frame["model"] == "sasrec") & (frame["trained_on"] == "clean") & (frame["domain"] == "X")]
    assert row["clean test"].item() == pytest.approx(trained["sasrec"].test.table.loc["X", "NDCG@10"])
    assert (params.output_path / "sasrec-train-noise20" / "metrics.json").exists()
    assert ex.describe_train_noise(frame).count("\n") == 3
    curve = ex.robustness_curve(trained, source.dataset, (0.0, 0.3))
    steps = ex.step_curve(trained, source.dataset, (1, 2))
    summary = ex.summarize_robustness(curve, steps, frame, params)
    assert set(summary["retention_at_max_noise"]) == {"dpgdiff", "sasrec", "diff"}
    assert summary["headline"].startswith("NDCG@10 retained at 30% test noise")


# --- Table 3 ------------------------------------------------------------------------------------
def test_ablation_table_layout_and_consecutive_tests(ablation):
    params, results = ablation
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


def test_ablation_table_refuses_non_variants(robust):
    _, trained = robust
    with pytest.raises(ValueError, match="ablation_table takes the diffusion variants .*; got sasrec"):
        ex.ablation_table(trained)


# --- exercises ----------------------------------------------------------------------------------
def test_exercise_improvement_and_p(robust):
    _, trained = robust
    table = ex.table1(trained)
    assert ex.check_improvement(ex.improvement_and_p_by_hand, trained, table).startswith("correct: X NDCG@10 vs ")
    assert ex.check_improvement(lambda *a: None, trained, table).startswith("not attempted yet")
    assert ex.check_improvement(lambda *a: (0.0, 0.5), trained, table).startswith("mismatch")


def test_exercise_robustness_score_closed_forms():
    rates = np.array([0.0, 0.1, 0.2, 0.3])
    assert ex.robustness_score_by_hand(rates, np.ones(4)) == pytest.approx(1.0)
    assert ex.robustness_score_by_hand(rates, 1 - rates) == pytest.approx(0.85)  # linear 1 → 0.7
    assert ex.robustness_score_by_hand([0.0, 0.1, 0.3], [1.0, 0.8, 0.8]) == pytest.approx((0.09 + 0.16) / 0.3)
    curve = pd.DataFrame({"model": "m", "domain": "X", "noise_rate": rates, "retention": 1 - rates})
    assert ex.check_robustness_score(ex.robustness_score_by_hand, curve) == "correct: m X 0.850"
    assert ex.check_robustness_score(lambda r, v: float(v[-1]), curve).startswith("mismatch")
    assert ex.check_robustness_score(lambda r, v: None, curve).startswith("not attempted yet")


def test_exercise_paired_t(ablation):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    t, p = ex.paired_t_by_hand(x, y)
    expected = stats.ttest_rel(x, y)
    assert (t, p) == pytest.approx((expected.statistic, expected.pvalue))
    assert math.isclose(ex.paired_t_by_hand([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])[0], 2 / (1 / math.sqrt(3)))
    _, results = ablation
    a, b = results["dpgdiff"].test, results["diff"].test
    assert ex.check_paired_t(ex.paired_t_by_hand, a, b).startswith("correct: X t = ")
    assert ex.check_paired_t(lambda x, y: (0.0, 1.0), a, b).startswith("mismatch in X")
