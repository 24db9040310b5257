"""The gated preference of ``dpgdiff-gated`` (model.py, ``Config.preference="gated"``): its two ends are
the paper's two readings of ĝ_d, it learns, and it lets less of the other domain in where domains conflict."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from dpgdiff_lite.experiments import regimes
from dpgdiff_lite.config import BEYOND_THE_PAPER, SCORE_WEIGHT_CHOICES, preset
from dpgdiff_lite.data.dataset import make_batch, pad_eval
from dpgdiff_lite.data.synthetic import PRESETS, generate
from dpgdiff_lite.experiments.gated import grid_gammas
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.trainer import run_evaluation, train, validation_score


@pytest.fixture(scope="module")
def tiny_batch(tiny):
    dataset, _ = tiny
    inputs, targets = pad_eval(dataset.test, dataset.max_len)
    return dataset, make_batch(inputs[:16], targets[:16], dataset.offsets, dataset.test.users[:16])


def scores(model: DPGDiff, batch, domain: int) -> torch.Tensor:
    return model.eval().item_scores(batch, domain)


@pytest.mark.parametrize("end, reading", [(-np.inf, "own"), (np.inf, "fused")])
def test_the_gates_ends_are_the_own_and_the_fused_preference_exactly(tiny_batch, end, reading):
    dataset, batch = tiny_batch
    torch.manual_seed(0)
    gated = DPGDiff(dataset.n_items, preset("smoke", "dpgdiff-gated"))
    with torch.no_grad():
        gated.gate_scale.uniform_(-1, 1)  # whatever the agreement term, an infinite bias decides
        gated.gate_bias.fill_(end)
    other = DPGDiff(dataset.n_items, preset("smoke", "dpgdiff", preference=reading))
    missing, unexpected = other.load_state_dict(gated.state_dict(), strict=False)
    assert not missing and sorted(unexpected) == ["chosen_score_weight", "gate_bias", "gate_scale"]
    for domain in range(dataset.n_domains):
        torch.testing.assert_close(scores(gated, batch, domain), scores(other, batch, domain), rtol=0, atol=0)


def test_the_gate_is_one_on_its_own_domain_and_between_zero_and_one_elsewhere(tiny_batch):
    dataset, batch = tiny_batch
    torch.manual_seed(0)
    model = DPGDiff(dataset.n_items, preset("smoke", "dpgdiff-gated")).eval()
    gates = model.last_gates(batch)  # (B, N, N)
    assert gates.shape == (16, 2, 2)
    torch.testing.assert_close(gates.diagonal(dim1=1, dim2=2), torch.ones(16, 2))
    torch.testing.assert_close(gates[:, 0, 1], torch.full((16,), 0.5))  # zero parameters: halfway


def test_the_gates_gradient_reaches_its_parameters(tiny_batch):
    dataset, _ = tiny_batch
    torch.manual_seed(0)
    model = DPGDiff(dataset.n_items, preset("smoke", "dpgdiff-gated")).train()
    inputs = np.stack([np.pad(s[:-1], (15 - len(s[:-1]), 0), constant_values=-1)[-15:] for s in dataset.train[:32]])
    targets = np.stack([np.pad(s[1:], (15 - len(s[1:]), 0), constant_values=-1)[-15:] for s in dataset.train[:32]])
    terms = model.loss_terms(make_batch(inputs, targets, dataset.offsets), rng=np.random.default_rng(0))
    sum(terms.values()).backward()
    for parameter in (model.gate_scale, model.gate_bias):
        off_diagonal = parameter.grad[~torch.eye(2, dtype=torch.bool)]
        assert (off_diagonal.abs() > 0).all()


def test_dpgdiff_gated_is_dpgdiff_with_the_gate():
    gated, paper = preset("teaching", "dpgdiff-gated"), preset("teaching", "dpgdiff")
    assert gated.preference == "gated" and paper.preference == "own"
    assert gated.variant_flags == paper.variant_flags == (True, True, True)
    differs = {f.name for f in dataclasses.fields(gated) if getattr(gated, f.name) != getattr(paper, f.name)}
    assert differs == {"model", *BEYOND_THE_PAPER["dpgdiff-gated"]}
    assert preset("teaching", "dpgdiff-gated", preference="fused").preference == "fused"  # one part removed


def mean_gate(world) -> float:
    dataset, _ = generate(world)
    result = train(dataset, preset("teaching", "dpgdiff-gated", dim=32, epochs=10, patience=10, eval_negatives=99))
    inputs, targets = pad_eval(dataset.test, dataset.max_len)
    gates = result.model.last_gates(make_batch(inputs, targets, dataset.offsets, dataset.test.users))
    return float(gates[:, 0, 1].mean() + gates[:, 1, 0].mean()) / 2


@pytest.mark.slow
def test_the_learned_gate_lets_less_of_the_other_domain_in_where_domains_conflict():
    """A small world with every user's tastes opposed across the domains against the same world agreeing:
    the mean γ over the test cases, after ten epochs, is lower in the conflicted one by at least 0.1
    (measured: 0.66 agreeing, 0.37 conflicted)."""
    agreeing = dataclasses.replace(PRESETS["transfer"], n_users=800)
    conflicted = dataclasses.replace(agreeing, conflict_rate=1.0, conflict_kind="opposed")
    assert mean_gate(conflicted) < mean_gate(agreeing) - 0.1


@pytest.mark.slow
def test_dpgdiff_gated_trains_from_the_command_line_and_its_evidence_is_paired(tmp_path):
    runs = tmp_path / "runs"
    compare = subprocess.run([sys.executable, "-m", "dpgdiff_lite", "compare", "--data", "synthetic:tiny", "--preset",
                              "smoke", "--models", "dpgdiff-gated,dpgdiff,sasrec,sasrec-single", "--seeds", "0,1",
                              "--out", str(runs), "--quiet"], capture_output=True, text=True, timeout=600)
    assert compare.returncode == 0, compare.stderr
    assert '"preference": "gated"' in (runs / "dpgdiff-gated" / "seed1" / "config.json").read_text()
    gated = subprocess.run([sys.executable, "-m", "dpgdiff_lite", "gated", "--runs", str(runs), "--data",
                            "synthetic:tiny", "--out", str(tmp_path / "evidence")], capture_output=True, text=True,
                           timeout=600)
    assert gated.returncode == 0, gated.stderr
    table = pd.read_csv(tmp_path / "evidence" / "evidence.csv").set_index("domain")
    per_seed = pd.read_csv(runs / "per_seed.csv").query("metric == 'NDCG@10'")
    means = per_seed.groupby(["model", "domain"])["value"].mean()
    for domain, row in table.iterrows():
        assert row["n_seeds"] == 2 and 0 < row["mean_gamma"] < 1
        assert row["gated"] == pytest.approx(means["dpgdiff-gated", domain], abs=1e-4)
        assert row["best_sasrec"] == max(("sasrec", "sasrec-single"), key=lambda m: means[m, domain])
        assert row["gain_over_sasrec"] == pytest.approx(row["gated"] - row["sasrec_value"], abs=1e-4)
        assert row["gain_over_dpgdiff"] == pytest.approx(row["gated"] - means["dpgdiff", domain], abs=1e-4)
    # the compare's own tables of the same runs, written beside evidence.csv (the runs reloaded, not retrained)
    written = pd.read_csv(tmp_path / "evidence" / "per_seed.csv")
    compared = pd.read_csv(runs / "per_seed.csv")
    pd.testing.assert_frame_equal(written.drop(columns="seconds_per_epoch"), compared.drop(columns="seconds_per_epoch"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "evidence" / "table1_seeds.csv"),
                                  pd.read_csv(runs / "table1_seeds.csv"))


def test_the_score_weight_chosen_on_validation_is_the_best_of_the_choices(tiny):
    dataset, _ = tiny
    result = train(dataset, preset("smoke", "dpgdiff-gated"))
    chosen = float(result.model.chosen_score_weight)
    assert result.metrics()["score_weight"] == chosen
    by_weight = {}
    for weight in SCORE_WEIGHT_CHOICES:
        config = dataclasses.replace(result.config, score_weight=weight, select_score_weight=False)
        result.model.config = config
        by_weight[weight] = validation_score(run_evaluation(result.model, dataset, config, "valid"))
    assert chosen == max(SCORE_WEIGHT_CHOICES, key=lambda w: (by_weight[w], w))
    assert len(set(by_weight.values())) > 1  # the choice is not a tie of equal scores


def test_the_grid_summary_carries_the_gated_gain_and_gammas_are_read_per_cell(tmp_path):
    grid = {"conflict_kind": ["opposed"], "conflict_rate": [0.0, 1.0]}
    out, runs = tmp_path / "grid", tmp_path / "runs"
    regimes.run_grid(grid, 1, out, data_preset="tiny", preset_name="smoke",
                     models=["sasrec", "sasrec-single", "dpgdiff-gated"], progress=False, runs_dir=runs)
    summary = pd.read_csv(out / "summary.csv")
    assert "gated_gain" in summary and "dpg_gain" not in summary
    best = summary[["sasrec", "sasrec-single"]].max(axis=1)
    assert summary["gated_gain"].to_numpy() == pytest.approx((summary["dpgdiff-gated"] - best).to_numpy(), abs=1e-6)
    with pytest.raises(FileNotFoundError, match="pass --runs"):  # the run folders are not beside the tables
        grid_gammas(out)
    gammas = grid_gammas(out, runs)
    assert len(gammas) == 2 * 2 and gammas["mean_gamma"].between(0, 1).all()
    assert set(gammas["score_weight"]) <= set(SCORE_WEIGHT_CHOICES)
    assert list(gammas.columns) == ["conflict_kind", "conflict_rate", "seed", "domain", "mean_gamma", "score_weight"]


def test_dpgdiff_gated_trains_through_papermill(tmp_path):
    from dpgdiff_lite import course

    frame = course.run_course(tmp_path, notebooks=["06"], parameters={"06": {
        "data": "synthetic:tiny", "preset": "smoke", "models": "dpgdiff-gated,sasrec"}})
    assert frame.loc["06_full_training", "status"] == "ok", frame.loc["06_full_training", "error"]
    record = json.loads((tmp_path / "runs" / "06_full_training" / "dpgdiff-gated" / "metrics.json").read_text())
    assert record["model"] == "dpgdiff-gated" and record["score_weight"] in SCORE_WEIGHT_CHOICES
