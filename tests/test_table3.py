"""experiments/table3.py: Table 3 (one seed and over seeds), DPG-Diff against every variant, eq. (15) by
part per run, and the ``table3`` command that writes notebook 08's results folder."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dpgdiff_lite.cli import main
from dpgdiff_lite.experiments import table3 as t3


def test_ablation_tables_refuse_non_variants(robust_runs):
    _, trained = robust_runs
    with pytest.raises(ValueError, match="ablation_table takes the diffusion variants .*; got sasrec"):
        t3.ablation_table(trained)
    with pytest.raises(ValueError, match="ablation_seeds_table takes the diffusion variants .*; got sasrec"):
        t3.ablation_seeds_table({name: {0: r} for name, r in trained.items()})


def test_variant_runs_frame_and_vs_full(ablation_runs):
    _, results = ablation_runs
    seeded = {name: {0: r} for name, r in results.items()}
    frame = t3.variant_runs_frame(seeded)
    assert list(frame.columns) == ["variant", "seed", "domain", "NDCG@10", "epochs_run", "best_epoch", "max_epochs"]
    assert len(frame) == 5 * 2 and (frame["best_epoch"] == 1).all() and (frame["max_epochs"] == 1).all()
    vs = t3.vs_full_frame(seeded)
    assert vs["other"].tolist() == [n for n in t3.ABLATION_ORDER[:-1] for _ in "XY"]
    row = vs.query("other == 'diff' and domain == 'X'").iloc[0]
    assert row["diff"] == pytest.approx(results["dpgdiff"].test.table.loc["X", "NDCG@10"]
                                        - results["diff"].test.table.loc["X", "NDCG@10"])


def test_the_table3_command_writes_table3_and_eq15(tmp_path):
    argv = ["table3", "--seeds", "0,1", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"),
            "--data", "synthetic:tiny", "--preset", "smoke", "--set", "dim=32", "--epochs", "1",
            "--models", "dpgdiff,diff", "--quiet"]
    assert main(argv) == 0
    out = tmp_path / "out"
    frames = {p.stem: pd.read_csv(p) for p in out.glob("*.csv")}
    assert set(frames) == {"per_seed", "table3_seeds", "eq15", "vs_full"}
    setting = json.loads((out / "setting.json").read_text())
    assert setting["models"] == ["diff", "dpgdiff"] and setting["seeds"] == [0, 1]  # Table 3's order
    assert frames["vs_full"]["other"].tolist() == ["diff", "diff"] and (frames["per_seed"]["max_epochs"] == 1).all()
    eq15 = frames["eq15"]
    assert list(eq15.columns) == ["variant", "seed", "ranked by", "NDCG@10 X", "NDCG@10 Y", "NDCG@10 mean"]
    assert set(eq15.query("variant == 'diff'")["ranked by"]) == {"x̂_0 alone"}  # no encoder, no ĝ_d
    full = eq15.query("variant == 'dpgdiff' and `ranked by` == 'x̂_0 + ĝ_d'").set_index("seed")["NDCG@10 X"]
    own = frames["per_seed"].query("variant == 'dpgdiff' and domain == 'X'").set_index("seed")["NDCG@10"]
    assert full.to_numpy() == pytest.approx(own.to_numpy(), abs=1e-6)  # the sum is the model's own eq. (15)
    assert (tmp_path / "runs" / "diff" / "seed1" / "metrics.json").exists()


def test_the_table3_command_refuses_a_model_that_is_not_a_variant(tmp_path, capsys):
    assert main(["table3", "--models", "diff,sasrec", "--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r")]) == 2
    assert "table3 takes the diffusion variants" in capsys.readouterr().err
