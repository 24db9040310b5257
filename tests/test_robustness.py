"""experiments/robustness.py: test-time noise (Figure 3), the step grid (Figure 4), training noise over
seeds, and the ``robustness`` command that writes notebook 07's results folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_EXPERIMENT
from dpgdiff_lite.cli import main
from dpgdiff_lite.experiments import robustness as rob
from dpgdiff_lite.experiments.compare import Setting
from dpgdiff_lite.config import preset
from dpgdiff_lite.data.augment import inject_noise
from dpgdiff_lite.experiments.runner import train_seeds
from dpgdiff_lite.lessons.common import pick_user, teaching_config, untrained_model
from dpgdiff_lite.trainer import TrainResult, run_evaluation

TINY = Setting(data=TINY_EXPERIMENT["data"], preset=TINY_EXPERIMENT["preset"], models=rob.DEFAULT_MODELS,
               epochs=TINY_EXPERIMENT["epochs"], overrides=(TINY_EXPERIMENT["overrides"],))
"""Notebook 07's models on the tiny data, one epoch (the tests' TINY_EXPERIMENT as a Setting)."""


@pytest.fixture(scope="module")
def seeded(tiny_source, tmp_path_factory):
    """Notebook 07's models with seeds 0 and 1, one epoch on the tiny data: (runs folder, results)."""
    out = tmp_path_factory.mktemp("robustness")
    return out, train_seeds(tiny_source, TINY.configs(), (0, 1), out, TINY.data)


def test_noise_grid_step_counts_and_record():
    grid = rob.NoiseGrid()
    assert grid.step_counts(32) == (1, 2, 5, 10, 20, 32) and grid.step_counts(8) == (1, 2, 5, 8)
    assert rob.NoiseGrid(steps=(4, 1)).step_counts(32) == (1, 4)
    assert grid.record() == {"test_noises": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3], "steps": [], "noise_seed": 0,
                             "train_noise": 0.2, "train_noise_models": ["dpgdiff", "sasrec"]}


def test_noisy_histories_add_rate_times_n_events_on_average(tiny_source):
    dataset = tiny_source.dataset
    clean, noisy = dataset.test.histories, rob.noisy_histories(dataset, 0.4, seed=1)
    inserted = sum(len(b) - len(a) for a, b in zip(clean, noisy)) / sum(map(len, clean))
    assert inserted == pytest.approx(0.2, abs=0.02)
    assert all(np.array_equal(a, b) for a, b in zip(clean, rob.noisy_histories(dataset, 0.0)))


def test_mean_and_std_over_seeds_by_hand():
    curve = pd.DataFrame({"model": ["a", "a", "b"], "retention": [0.5, 0.7, 0.9]})
    out = rob.mean_and_std(curve, ["model"], "retention").set_index("model")
    assert out.loc["a", "mean"] == pytest.approx(0.6) and out.loc["a", "std"] == pytest.approx(np.sqrt(0.02))
    assert out.loc["b", "std"] == 0.0 and out["n"].tolist() == [2, 1]  # one seed: std 0, not NaN


def test_train_noise_over_seeds_and_its_paired_tests(seeded, tiny_source):
    out, trained = seeded
    frame, tests, runs = rob.train_noise_seeds(tiny_source, TINY, rob.NoiseGrid(), trained, out_dir=out)
    assert list(frame.columns) == ["model", "seed", "trained_on", "domain", "clean test", "test noisy 20%"]
    assert len(frame) == 2 * 2 * 2 * 2  # models × seeds × twins × domains
    recorded = json.loads((out / "sasrec-train-noise20" / "seed1" / "metrics.json").read_text())
    assert recorded["data"] == f"{TINY.data}[train_noise=0.2,train_noise_seed=0]"  # a real spec, loaded as any other
    assert runs["dpgdiff"][1].config == TINY.config("dpgdiff", 1)
    row = tests.query("model == 'sasrec' and test == 'clean test' and domain == 'X'").iloc[0]
    twins = frame.query("model == 'sasrec' and domain == 'X'")
    assert row["noisy-trained"] == pytest.approx(twins.query("trained_on != 'clean'")["clean test"].mean())
    assert row["diff"] == pytest.approx(row["noisy-trained"] - row["clean-trained"]) and row["n_seeds"] == 2
    clean = frame.query("model == 'dpgdiff' and seed == 1 and trained_on == 'clean'").set_index("domain")["clean test"]
    assert clean.to_numpy() == pytest.approx(trained["dpgdiff"][1].test.table["NDCG@10"].to_numpy())


def test_seed_frames_per_seed_and_retention_tests(seeded, tiny_source):
    out, trained = seeded
    frames = rob.seed_frames(tiny_source, TINY, rob.NoiseGrid(test_noises=(0.0, 0.3), steps=(1, 2)), trained, out)
    assert set(frames) == {"per_seed", "robustness", "retention_test", "steps", "train_noise", "train_noise_tests"}
    per_seed = frames["per_seed"]
    assert list(per_seed.columns) == ["model", "seed", "domain", "NDCG@10", "epochs_run"] and len(per_seed) == 3 * 2 * 2
    assert set(frames["retention_test"]["other"]) == {"sasrec", "diff"}
    assert sorted(frames["steps"]["steps"].unique()) == [1, 2]


def test_the_robustness_command_writes_notebook_07s_folder(tmp_path):
    argv = ["robustness", "--seeds", "0,1", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"),
            "--data", "synthetic:tiny", "--preset", "smoke", "--set", "dim=32", "--epochs", "1", "--quiet"]
    assert main(argv) == 0
    written = {p.stem for p in (tmp_path / "out").glob("*.csv")}
    assert written == {"per_seed", "robustness", "retention_test", "steps", "train_noise", "train_noise_tests"}
    setting = json.loads((tmp_path / "out" / "setting.json").read_text())
    assert list(setting) == ["data", "preset", "models", "epochs", "protocol", "overrides", "device", "seeds",
                             "test_noises", "steps", "noise_seed", "train_noise", "train_noise_models", "seconds"]
    assert setting["overrides"] == ["dim=32"] and setting["epochs"] == 1 and setting["seeds"] == [0, 1]
    assert (tmp_path / "runs" / "dpgdiff-train-noise20" / "seed1" / "metrics.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0,x"], "--seeds must be a comma-separated list of ints, got '0,x'"),
    (["--models", "dpgdiff,nope"], "--models: unknown model 'nope'"),
    (["--models", "diff"], "train-noise model 'dpgdiff' is not among the models (diff)"),
])
def test_the_robustness_command_refuses_bad_options(argv, message, tmp_path, capsys):
    assert main(["robustness", "--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r"), *argv]) == 2
    assert message in capsys.readouterr().err


# --- one model's ranking under test-time noise and its k-step grid ------------------------------
@pytest.fixture(scope="module")
def untrained(tiny):
    """An untrained DPG-Diff on the tiny data (nothing here needs a trained one)."""
    return untrained_model(tiny[0], preset("smoke", model="dpgdiff", dim=16))


def test_steps_table_is_run_evaluation_with_k_reverse_steps_on_the_chosen_split(tiny, untrained):
    dataset, _ = tiny
    model = untrained
    trained = TrainResult(model, model.config, pd.DataFrame(columns=["epoch"]), None, None, 0.0)
    config = model.config
    table = rob.steps_table(trained, dataset, (1, 8))
    assert list(table.index) == [1, 8]
    assert list(table.columns) == ["NDCG@10 X", "NDCG@10 Y", "NDCG@10 mean"]
    for k in (1, 8):
        expected = run_evaluation(model, dataset, config, "valid", steps=k).table["NDCG@10"]
        assert table.loc[k, ["NDCG@10 X", "NDCG@10 Y"]].tolist() == pytest.approx(expected.tolist())
        assert table.loc[k, "NDCG@10 mean"] == pytest.approx(expected.mean())
    test = rob.steps_table(trained, dataset, (8,), split="test")
    assert test.loc[8, "NDCG@10 X"] == pytest.approx(run_evaluation(model, dataset, config, "test", steps=8).table.loc["X", "NDCG@10"])
    assert config.inference_steps == 1 and not model.training  # k reaches score as an argument only


def test_noisy_ranking_is_the_clean_one_at_rate_zero_and_grows_with_the_rate(tiny, untrained):
    dataset, truth = tiny
    model, user = untrained, pick_user(dataset, truth, min_len=6, split="test")
    clean = rob.noisy_ranking(model, dataset, truth, user, 0.0)
    assert clean.noisy.tolist() == clean.history.tolist() and not clean.injected.any()
    assert clean.labels.tolist() == truth.test_labels.histories[user].tolist()
    counts = [rob.noisy_ranking(model, dataset, truth, user, r).injected.sum() for r in (0.0, 0.25, 0.5, 1.0)]
    assert counts == sorted(counts) and counts[-1] > 0  # the same uniforms at every rate: nested noise
    noisy = rob.noisy_ranking(model, dataset, truth, user, 0.5)
    assert noisy.noisy.tolist() == inject_noise(clean.history, 0.5, dataset.offsets, np.random.default_rng(0)).tolist()
    assert (noisy.top["item"].tolist() != clean.top["item"].tolist()) or noisy.rank != clean.rank
    top = noisy.top
    assert len(top) == 10 and (np.diff(top["score"]) <= 0).all()
    assert top["target"].any() == (noisy.rank <= 10)
    assert top["topic"].iloc[0].startswith(f"topic {truth.item_topic[top['item'].iloc[0]]} (")


def test_noise_summary_counts_what_the_widget_draws(tiny):
    dataset, truth = tiny
    model = untrained_model(dataset, teaching_config("dpgdiff", epochs=1, dim=16, seed=0))
    user = pick_user(dataset, truth, min_len=4, split="test")
    table = rob.noise_summary(model, dataset, truth, user, (0.0, 1.0), seed=0)
    assert table.loc[0.0, "injected"] == 0 and table.loc[0.0, "top-10 places of injected-only topics"] == 0
    assert table.loc[1.0, "injected"] > 0
    assert table.loc[1.0, "target rank"] == rob.noisy_ranking(model, dataset, truth, user, 1.0, seed=0).rank


def test_describe_train_noise_tests_reads_each_row_in_points_per_cent_and_p():
    tests = pd.DataFrame([{"model": "dpgdiff", "domain": "X", "test": "clean test", "noisy-trained": 9.0,
                           "clean-trained": 10.0, "diff": -1.0, "std": 0.5, "n_seeds": 3, "p": 0.01}])
    assert rob.describe_train_noise_tests(tests) == (
        "dpgdiff X, clean test: noisy-trained 9.00 vs clean-trained 10.00 (-1.00, -10%, std 0.50 over 3 seeds; "
        "paired p = 0.01, significant at 5%)")
    assert rob.describe_train_noise_tests(tests.assign(p=0.2)).endswith("paired p = 0.2, not significant at 5%)")
