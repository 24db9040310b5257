"""experiments/compare.py: the setting record, the tables of a compare-over-seeds folder, and
``compare --seeds`` writing that folder (run folders under ``--runs``)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import TINY_EXPERIMENT
from dpgdiff_lite.cli import main
from dpgdiff_lite.config import preset
from dpgdiff_lite.experiments import compare
from dpgdiff_lite.experiments.runner import train_seeds

TINY = compare.Setting(data=TINY_EXPERIMENT["data"], preset=TINY_EXPERIMENT["preset"],
                       models=("dpgdiff", "sasrec", "sasrec-single", "pop"), epochs=TINY_EXPERIMENT["epochs"],
                       overrides=(TINY_EXPERIMENT["overrides"],))
"""Notebook 06's four models on the tiny data, one epoch."""


@pytest.fixture(scope="module")
def seeded(tiny_source, tmp_path_factory):
    """Notebook 06's four models with seeds 0 and 1: {model: {seed: result}}."""
    return train_seeds(tiny_source, TINY.configs(), (0, 1), tmp_path_factory.mktemp("compare"), TINY.data)


def test_setting_config_applies_overrides_then_seed_device_protocol_and_epochs():
    setting = compare.Setting(preset="smoke", models=("sasrec",), epochs=3, protocol="full",
                              overrides=("dim=32", "epochs=7", "eval_protocol=sampled"), device="cpu")
    config = setting.config("sasrec", seed=4)
    assert (config.dim, config.epochs, config.eval_protocol, config.seed, config.device) == (32, 3, "full", 4, "cpu")
    assert compare.Setting(preset="smoke").config("pop") == preset("smoke", model="pop")  # defaults: the preset's
    assert compare.Setting(preset="smoke", epochs=0, overrides=("epochs=7",)).config("pop").epochs == 7
    assert setting.record() == {"data": "synthetic", "preset": "smoke", "models": ["sasrec"], "epochs": 3,
                                "protocol": "full", "overrides": ["dim=32", "epochs=7", "eval_protocol=sampled"],
                                "device": "cpu"}


def test_training_objective_weights_the_loss_columns(seeded):
    result = seeded["dpgdiff"][0]
    by_hand = sum(result.history[f"loss_{t}"] * w for t, w in result.config.loss_weights.items())
    assert compare.training_objective(result).to_numpy() == pytest.approx(by_hand.to_numpy())


def test_seed_frames_of_notebook_06(seeded, tiny_source):
    frames = compare.seed_frames(seeded, tiny_source)
    assert set(frames) == {"per_seed", "curves", "cold_warm", "table1_seeds", "transfer", "oracle"}
    curves = frames["curves"]
    assert list(curves.columns) == ["model", "seed", "epoch", "valid_NDCG@10", "objective"]
    assert set(curves["model"]) == {"dpgdiff", "sasrec", "sasrec-single"} and len(curves) == 3 * 2  # pop: no curve
    row = curves.query("model == 'sasrec' and seed == 1").iloc[0]
    assert row["valid_NDCG@10"] == pytest.approx(seeded["sasrec"][1].history["valid_NDCG@10"].iloc[0])
    transfer = frames["transfer"].set_index("domain")
    assert transfer.loc["X", "transfer"] == pytest.approx(transfer.loc["X", "mixed"] - transfer.loc["X", "single"])
    table = frames["table1_seeds"].set_index(["domain", "metric"])
    ndcg = [seeded["dpgdiff"][s].test.table.loc["X", "NDCG@10"] for s in (0, 1)]
    assert table.loc[("X", "NDCG@10"), "dpgdiff mean"] == pytest.approx(sum(ndcg) / 2)
    assert list(frames["oracle"].columns) == ["domain", "oracle NDCG@10"]
    assert compare.of_seed(seeded, 1)["pop"] is seeded["pop"][1]
    alone = compare.seed_frames({"sasrec": seeded["sasrec"]}, tiny_source)
    assert set(alone) == {"per_seed", "curves", "cold_warm", "oracle"}  # one model: no Table 1, no transfer


def test_compare_seeds_writes_the_folder_with_its_setting_and_runs_apart(tmp_path, capsys):
    out, runs = tmp_path / "out", tmp_path / "runs"
    argv = ["compare", "--data", "synthetic:tiny", "--preset", "smoke", "--models", "dpgdiff,sasrec,sasrec-single,pop",
            "--seeds", "0,1", "--set", "dim=32", "--set", "epochs=1", "--runs", str(runs), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert {p.stem for p in out.glob("*.csv")} == {"per_seed", "curves", "cold_warm", "table1_seeds", "transfer", "oracle"}
    assert not (out / "dpgdiff").exists() and (runs / "sasrec-single" / "seed1" / "metrics.json").exists()
    setting = json.loads((out / "setting.json").read_text())
    assert list(setting) == ["data", "preset", "models", "epochs", "protocol", "overrides", "device", "seeds", "seconds"]
    assert setting["models"] == ["dpgdiff", "sasrec", "sasrec-single", "pop"] and setting["overrides"] == ["dim=32", "epochs=1"]
    per_seed = pd.read_csv(out / "per_seed.csv")
    assert list(dict.fromkeys(per_seed["model"])) == setting["models"]  # the order of --models
    assert "mean ± std over seeds [0, 1]" in capsys.readouterr().out
    # the same command reloads the finished runs and writes the same numbers
    first = per_seed.drop(columns="seconds_per_epoch")
    assert main(argv) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "per_seed.csv").drop(columns="seconds_per_epoch"), first)
    # a run folder holding another run is refused (strict), not silently retrained
    capsys.readouterr()
    assert main([a if a != "dim=32" else "dim=16" for a in argv]) == 2
    assert "--fresh" in capsys.readouterr().err
