"""experiments/shortfall.py: DPG-Diff (the paper's own-domain ĝ_d) against the better SASRec by part of
eq. (15) and retrained with the kit's fused ĝ_d on a one-cell ablation (its runs under --runs), and the
fused model on the teaching data as compare --seeds --set preference=fused would train and tabulate it."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from dpgdiff_lite.cli import main
from dpgdiff_lite.config import preset
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.experiments import regimes, shortfall
from dpgdiff_lite.experiments.tables import per_seed_frame
from dpgdiff_lite.trainer import train

CELL = {"conflict_kind": ["opposed"], "conflict_rate": [1.0], "adhoc_noise": [0.1]}
TINY = dict(data_preset="tiny", preset_name="smoke", progress=False)


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    """A one-cell ablation with DPG-Diff and both SASRecs, 2 seeds, tables and runs apart; then the command."""
    root = tmp_path_factory.mktemp("shortfall")
    regimes.run_grid(CELL, 2, root / "out", models=["sasrec", "sasrec-single", "dpgdiff"], runs_dir=root / "runs",
                     **TINY)
    assert main(["shortfall", "--ablation", str(root / "out"), "--runs", str(root / "runs"), "--fused-runs",
                 str(root / "fused"), "--teaching-data", "synthetic:tiny", "--teaching-preset", "smoke", "--quiet"]) == 0
    return root


def test_the_sum_of_the_parts_is_the_model_and_the_fused_preference_is_retrained(ablation):
    table = pd.read_csv(ablation / "out" / "shortfall.csv")
    assert list(dict.fromkeys(table["dpgdiff"])) == [
        "own ĝ_d, ranked by x̂_0 alone", "own ĝ_d, ranked by ĝ_d alone", "own ĝ_d, ranked by x̂_0 + ĝ_d", shortfall.KIT_ROW]
    assert list(table.columns[:3]) == list(CELL) and (table["n_seeds"] == 2).all()
    stored = pd.read_csv(ablation / "out" / "summary.csv")
    summed = table[table["dpgdiff"] == "own ĝ_d, ranked by x̂_0 + ĝ_d"].set_index("domain")
    for domain, row in stored.set_index("domain").iterrows():  # the sum of the parts is the model itself
        assert summed.loc[domain, "ours"] == pytest.approx(row["dpgdiff"])
        assert summed.loc[domain, "gain"] == pytest.approx(row["dpg_gain"])
        # against the mixed SASRec alone: the paired mean is the difference of the two means
        assert row["dpg_vs_mixed"] == pytest.approx(row["dpgdiff"] - row["sasrec"], abs=1e-9)
        assert row["dpg_vs_mixed_vs"] == "sasrec" and 0 <= row["dpg_vs_mixed_p"] <= 1
    fused = json.loads((ablation / "fused" / "seed1" / "dpgdiff-fused" / "config.json").read_text())
    assert fused["preference"] == "fused" and fused["seed"] == 1
    assert table[table["dpgdiff"] == shortfall.KIT_ROW]["ours"].tolist() != summed["ours"].tolist()


def test_the_teaching_runs_are_what_compare_would_train(ablation):
    """preference_fused_teaching.csv: per_seed.csv of dpgdiff with --set preference=fused, trained by hand."""
    written = pd.read_csv(ablation / "out" / "preference_fused_teaching.csv")
    source = load_data("synthetic:tiny")
    config = preset("smoke", model="dpgdiff").with_overrides(["preference=fused"])
    by_hand = {"dpgdiff": {seed: train(source.dataset, dataclasses.replace(config, seed=seed), progress=False)
                           for seed in (0, 1)}}
    expected = per_seed_frame(by_hand)
    columns = ["model", "seed", "domain", "metric", "value", "epochs_run"]
    pd.testing.assert_frame_equal(written[columns], expected[columns], check_dtype=False)
    assert (ablation / "fused" / "teaching" / "dpgdiff" / "seed1" / "metrics.json").exists()


def test_the_grid_runs_are_looked_for_under_runs(ablation):
    with pytest.raises(FileNotFoundError, match="pass --runs"):
        shortfall.shortfall(ablation / "out", ablation / "fused")
