"""lessons/beyond.py (notebook 10): the committed tables of results/anchored/ it reads, what it counts, the figures
and the exercise checker."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch

from dpgdiff_lite.anchored import PATHS, mix
from dpgdiff_lite.lessons import beyond


def test_the_gate_stall_table_shows_the_loss_lowest_near_a_half_and_validation_best_at_zero():
    table = beyond.gate_stall()
    assert sorted(table["seed"].unique()) == [0, 1, 2] and len(table) == 12
    assert table["valid_NDCG@10"].to_numpy() == pytest.approx(
        ((table["valid_NDCG@10_X"] + table["valid_NDCG@10_Y"]) / 2).to_numpy())
    per_seed = beyond.stall_by_seed(table)
    assert per_seed["lowest training loss"].isin(["γ = 1/2", "learned γ"]).all()
    assert (per_seed[["best validation X", "best validation Y"]] == "γ = 0 (own ĝ_d)").all().all()
    assert per_seed["learned γ"].between(0.3, 0.7).all()
    assert len(beyond.plot_stall(table).axes) == 2


def test_evidence_has_every_world_in_order_with_three_seeds_and_weights_on_the_simplex():
    table = beyond.evidence()
    assert list(table["world"].unique()) == list(beyond.WORLDS)
    domains = table.groupby("world", observed=True)["domain"].apply(list)
    assert domains["three-domain"] == ["X", "Y", "Z"] and domains["teaching"] == ["X", "Y"]
    assert (table["n_seeds"] == 3).all()
    assert table["gain_over_sasrec"].to_numpy() == pytest.approx((table["anchored"] - table["sasrec_value"]).to_numpy(),
                                                                 abs=1e-3)
    weights = beyond.path_weights(table)
    assert list(weights.columns) == ["s_d SASRec", "s_c SASRec", "DPG-Diff"]
    assert weights.sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-4)
    assert weights.loc["teaching"].idxmax(axis=1).eq("s_c SASRec").all()
    assert weights.loc["conflict"].idxmax(axis=1).eq("s_d SASRec").all()
    assert beyond.tally(table, beyond.BLOCKS["tuned"])["sasrec_above"] == 4
    assert len(beyond.plot_weights(weights).axes) == 1


def test_tally_counts_verdicts_against_the_better_sasrec_and_the_others():
    table = pd.DataFrame({"world": ["a", "a", "b"], "gain_verdict": ["positive", "none", "negative"],
                          "dpgdiff_verdict": ["positive"] * 3, "fused_verdict": ["none", "positive", "positive"],
                          "pop_verdict": ["positive"] * 3})
    assert beyond.tally(table, ("a",)) == {"domains": 2, "sasrec_above": 1, "sasrec_level": 1, "sasrec_below": 0,
                                           "above_dpgdiff": 2, "above_fused": 1, "above_pop": 2}


def test_the_ablation_has_every_variant_in_every_world():
    parts = beyond.ablation()
    assert set(parts["world"]) == set(beyond.WORLDS)
    assert parts.groupby("world")["variant"].nunique().eq(9).all()
    teaching = parts[(parts["world"] == "teaching") & (parts["variant"] == "single-domain SASRec path only")]
    assert (teaching["variant_minus_full"] < 0).all()


def test_part_effects_average_the_domains_and_count_significant_ones():
    parts = pd.DataFrame({"world": ["w"] * 3, "variant": ["no groups"] * 3, "domain": ["X", "Y", "Z"],
                          "variant_minus_full": [-1.0, -0.5, 0.3], "p": [0.01, 0.2, 0.03]})
    effects = beyond.part_effects(parts).loc[("w", "no groups")]
    assert effects["mean"] == pytest.approx(-0.4) and effects["domains"] == 3
    assert effects["below"] == 1 and effects["above"] == 1


def test_grid_counts_and_the_committed_grid():
    table = pd.DataFrame({"conflict_rate": [0.0, 0.5, 1.0], "anchored_gain": [1.0, 0.2, -0.1], "dpg_gain": [0.5, 0.4, -0.9],
                          "anchored_gain_verdict": ["positive", "none", "none"],
                          "dpg_gain_verdict": ["positive", "positive", "negative"]})
    counts = beyond.grid_counts(table)
    assert counts == {"cell_domains": 3, "conflicted": 2, "anchored_higher": 2, "anchored_below": 0, "anchored_above": 1,
                      "anchored_below_conflicted": 0, "anchored_above_conflicted": 0, "paper_below": 1, "paper_above": 2,
                      "paper_below_conflicted": 1, "paper_above_conflicted": 1}
    grid = beyond.grid()
    assert len(grid) == 18 and {"anchored_gain", "anchored_gain_verdict", "dpg_gain"} <= set(grid.columns)
    assert len(beyond.plot_grid(grid).axes) == 2


def test_the_goal_per_place_reads_every_world_and_both_halves_of_the_grid():
    rows = beyond.goal()
    places = beyond.goal_by_place(rows)
    assert list(places.index[:len(beyond.WORLDS)]) == list(beyond.WORLDS)
    assert places.loc["regime grid, no conflict", "domains"] == 6 and places.loc["regime grid, conflict", "domains"] == 12
    assert places["met"].tolist() == [bool(rows[rows["where"] == w]["met"].all()) for w in beyond.WORLDS] + [
        bool(rows[(rows["kind"] == "regime grid") & rows["agree"]]["met"].all()),
        bool(rows[(rows["kind"] == "regime grid") & ~rows["agree"]]["met"].all())]


def test_the_mix_checker_accepts_the_reference_and_names_a_wrong_answer():
    assert beyond.check_mix(beyond.reference_mix) == "correct: 5 users' scores over 7 items, as anchored.mix gives them"
    assert beyond.check_mix(lambda paths, weights: None) == "not attempted yet (reference: beyond.reference_mix)"
    probabilities = lambda paths, weights: torch.logsumexp(paths + torch.log(weights.T[:, :, None]), dim=0)  # noqa: E731
    assert beyond.check_mix(probabilities).startswith("that mixes probabilities")
    assert beyond.check_mix(lambda paths, weights: paths.mean(0)).startswith("scores differ")
    assert beyond.check_mix(lambda paths, weights: paths).startswith("shape (3, 5, 7)")


def test_the_reference_mix_gives_each_path_at_its_corner():
    paths = torch.randn(len(PATHS), 4, 6, generator=torch.Generator().manual_seed(1)).log_softmax(-1)
    corner = torch.zeros(4, len(PATHS))
    corner[:, 2] = 1.0
    assert torch.equal(beyond.reference_mix(paths, corner), paths[2])
    weights = torch.tensor([[0.2, 0.3, 0.5]]).repeat(4, 1)
    assert torch.allclose(beyond.reference_mix(paths, weights), mix(paths, torch.tensor([0.2, 0.3, 0.5])))


@pytest.mark.parametrize("field, value, message", [("widget_users", 10, "widget_users"),
                                                   ("widget_conflict", 1.5, "widget_conflict must lie in [0, 1]")])
def test_bad_parameters_are_named(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        beyond.BeyondParams(**{field: value})
