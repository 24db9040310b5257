"""lessons/beyond.py (notebook 10): the committed tables it reads, the goal it counts, the exercise checker."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch

from dpgdiff_lite.lessons import beyond


def test_evidence_has_every_world_and_its_domains_with_three_seeds():
    table = beyond.evidence()
    assert sorted(table.index) == sorted([("conflict", "X"), ("conflict", "Y"), ("teaching", "X"), ("teaching", "Y")]
                                         + [(w, d) for w in ("three-domain", "three-domain-conflict") for d in "XYZ"])
    assert (table["n_seeds"] == 3).all() and table["mean_gamma"].between(0, 1).all()
    assert table["gain_over_sasrec"].to_numpy() == pytest.approx((table["gated"] - table["sasrec_value"]).to_numpy(), abs=1e-3)


def test_part_effects_average_the_domains_and_count_significant_ones():
    parts = pd.DataFrame({"world": ["w", "w"], "variant": ["no gate", "no gate"], "domain": ["X", "Y"],
                          "variant_minus_full": [-1.0, -0.5], "p": [0.01, 0.2]})
    effects = beyond.part_effects(parts).loc[("w", "no gate")]
    assert effects["mean"] == pytest.approx(-0.75) and effects["values"] == "-1.00 / -0.50" and effects["significant"] == 1


def grid_rows(verdicts: list[str], rates: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"conflict_rate": rates, "adhoc_noise": 0.0, "domain": "X", "gated_gain_verdict": verdicts,
                         "dpg_gain_verdict": ["negative"] * len(rates)})


def test_goal_counts_below_and_above_the_better_sasrec():
    counts = beyond.goal(grid_rows(["none", "negative", "positive", "positive"], [0.0, 0.5, 1.0, 1.0]))
    assert counts == {"cell_domains": 4, "gated_below": 1, "paper_below": 4, "conflicted": 3,
                      "gated_above_conflicted": 2, "paper_below_conflicted": 3, "gated_below_conflicted": 1}


def test_the_verdict_is_met_only_when_nothing_is_significantly_below():
    evidence = pd.DataFrame({"world": ["teaching", "teaching", "conflict", "conflict"], "domain": ["X", "Y"] * 2,
                             "gain_verdict": ["positive", "none", "none", "positive"]}).set_index(["world", "domain"])
    met = beyond.verdict(evidence, grid_rows(["none", "positive", "positive"], [0.0, 0.5, 1.0]))
    assert met["met"].tolist() == [True, True]
    failed = beyond.verdict(evidence, grid_rows(["none", "negative", "positive"], [0.0, 0.5, 1.0]))
    assert failed["met"].tolist() == [True, False]


def test_the_gate_checker_accepts_the_reference_and_names_a_wrong_gate():
    assert beyond.check_gate(beyond.reference_gate).startswith("correct: γ of 6 users")
    assert beyond.check_gate(lambda *args: None) == "not attempted yet (reference: beyond.reference_gate)"
    no_gain = lambda own, other, a, b: (torch.sigmoid(a * torch.cosine_similarity(own, other, -1) + b), own)  # noqa: E731
    assert beyond.check_gate(no_gain).startswith("γ differs")


@pytest.mark.parametrize("field, value, message", [("widget_users", 10, "widget_users"),
                                                   ("widget_conflict", 1.5, "widget_conflict must lie in [0, 1]")])
def test_bad_parameters_are_named(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        beyond.BeyondParams(**{field: value})
