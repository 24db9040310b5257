"""``dpgdiff-anchored`` (anchored.py): each corner of its weights is one of its paths exactly, what it fits on validation is the
best on validation among its choices, and it trains from the CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from dpgdiff_lite.anchored import (EQUAL, MIN_GROUP_CASES, MIX_CHOICES, PATHS, AnchoredDPGDiff, choose_weights,
                                   mix, user_groups)
from dpgdiff_lite.config import MIX_SPACES, Config, preset
from dpgdiff_lite.data.dataset import PAD, make_batch, pad_eval
from dpgdiff_lite.evaluation import evaluate, evaluate_variants
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.sasrec import SASRec, SingleDomainSASRec
from dpgdiff_lite.trainer import evaluation_settings, run_evaluation, train


@pytest.fixture(scope="module")
def trained(tiny):
    """dpgdiff-anchored trained two epochs on the tiny data (its weights fit at each validation)."""
    dataset, _ = tiny
    return dataset, train(dataset, preset("smoke", "dpgdiff-anchored", epochs=2, seed=0), progress=False)


def test_mix_returns_each_path_exactly_where_its_weight_is_one_in_both_spaces():
    torch.manual_seed(0)
    paths = torch.randn(3, 4, 9).log_softmax(-1)
    for space in MIX_SPACES:
        for k in range(3):
            assert torch.equal(mix(paths, tuple(float(i == k) for i in range(3)), space), paths[k])
        per_row = mix(paths, torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]]), space)
        assert torch.equal(per_row[:3], torch.stack([paths[k, k] for k in range(3)])) and torch.equal(per_row[3], paths[0, 3])
    torch.testing.assert_close(mix(paths, (0.5, 0.5, 0.0), "prob").exp(), (paths[0].exp() + paths[1].exp()) / 2)
    torch.testing.assert_close(mix(paths, (0.25, 0.25, 0.5), "logit"), 0.25 * paths[0] + 0.25 * paths[1] + 0.5 * paths[2])
    with pytest.raises(ValueError, match="mix_space"):
        mix(paths, EQUAL, "average")


def test_user_groups_cut_the_target_domains_share_of_the_window_into_equal_bins():
    offsets = torch.tensor([0, 10, 20])  # X: 0-9, Y: 10-19
    items = torch.tensor([[PAD, PAD, 1, 2, 3],  # all X
                          [PAD, 11, 1, 2, 3],  # 1 of 4 in Y
                          [PAD, 11, 12, 2, 3],  # 2 of 4 in Y
                          [11, 12, 13, 14, 3]])  # 4 of 5 in Y
    assert user_groups(items, offsets, 1, 3).tolist() == [0, 0, 1, 2]
    assert user_groups(items, offsets, 0, 3).tolist() == [2, 2, 1, 0]
    assert user_groups(items, offsets, 0, 1).tolist() == [0, 0, 0, 0]


def test_each_corner_scores_exactly_as_its_path_trained_inside(trained):
    dataset, result = trained
    model: AnchoredDPGDiff = result.model.eval()
    inputs, targets = pad_eval(dataset.test, dataset.max_len)
    batch = make_batch(inputs[:32], targets[:32], dataset.offsets, dataset.test.users[:32])
    alone = []
    for part, cls, name in ((model.single, SingleDomainSASRec, "sasrec-single"), (model.mixed, SASRec, "sasrec"),
                            (model.paper, DPGDiff, "dpgdiff")):
        copy = cls(dataset.n_items, dataclasses.replace(model.config, model=name))
        copy.load_state_dict(part.state_dict())
        alone.append(copy.eval())
    saved = model.mix_weight.clone()
    try:
        for k, path in enumerate(alone):
            model.mix_weight.copy_(torch.eye(3)[k].expand_as(saved))
            for domain in range(dataset.n_domains):
                assert torch.equal(model.score(batch, domain), path.score(batch, domain).log_softmax(-1))
    finally:
        model.mix_weight.copy_(saved)


def test_the_fitted_weights_are_the_best_on_validation_among_the_choices(trained):
    dataset, result = trained
    model: AnchoredDPGDiff = result.model
    table = model.fit_on_validation(dataset, evaluation_settings(dataset, model.config))
    chosen = model.mix_weight.double().numpy().round(6)  # float32 buffer: 0.1 is 0.100000001…
    choices = np.round(np.asarray(MIX_CHOICES), 6)
    for d, name in enumerate(dataset.domain_names):
        rows = table[table["domain"] == name]
        for g in range(model.config.mix_groups):
            k = int(np.flatnonzero((choices == chosen[d, g]).all(1))[0])  # the chosen weights are one of the choices
            cell = rows[rows["group"] == g].set_index("choice")
            if len(cell) and cell["cases"].iloc[0] >= MIN_GROUP_CASES:  # fit on the group's own cases
                assert cell.loc[k, "NDCG@10"] == pytest.approx(cell["NDCG@10"].max())
            else:  # too few cases: the domain's best over all its cases
                overall = rows.assign(t=rows["NDCG@10"] * rows["cases"]).groupby("choice")["t"].sum()
                assert overall[k] == pytest.approx(overall.max())
    # the table is what the model scores: equal weights evaluated directly give the same validation NDCG@10
    saved = model.mix_weight.clone()
    try:
        model.mix_weight.copy_(torch.tensor((0.3, 0.3, 0.4)).expand_as(saved))
        direct = run_evaluation(model, dataset, model.config, "valid").table["NDCG@10"]
    finally:
        model.mix_weight.copy_(saved)
    at = table[table["choice"] == int(np.flatnonzero((choices == (0.3, 0.3, 0.4)).all(1))[0])]
    for name in dataset.domain_names:
        rows = at[at["domain"] == name]
        assert np.average(rows["NDCG@10"], weights=rows["cases"]) == pytest.approx(direct[name])


def test_choose_weights_falls_back_to_the_domains_weights_for_a_small_group():
    import pandas as pd

    weights = {0: [0.0, 0.0, 1.0], 1: [1.0, 0.0, 0.0]}
    table = pd.DataFrame({"domain": ["X"] * 4, "group": [0, 0, 1, 1], "choice": [0, 1, 0, 1],
                          "NDCG@10": [10.0, 20.0, 30.0, 5.0], "cases": [MIN_GROUP_CASES - 1] * 2 + [200, 200]})
    table[list(PATHS)] = [weights[k] for k in table["choice"]]
    # group 0 alone prefers choice 1, but it is too small: X over all its cases prefers choice 0
    assert choose_weights(table, ("X",), 2).tolist() == [[weights[0], weights[0]]]
    table["cases"] = 200
    assert choose_weights(table, ("X",), 2).tolist() == [[weights[1], weights[0]]]


def test_evaluate_variants_ranks_one_scoring_pass_several_ways(trained):
    dataset, result = trained
    model = result.model
    settings = evaluation_settings(dataset, model.config)
    plain = evaluate(model, dataset, "valid", **settings)
    negated = evaluate_variants(model, dataset, [lambda s, b, d: s, lambda s, b, d: -s], "valid", **settings)
    assert negated[0].per_case.equals(plain.per_case)
    assert (negated[1].per_case["rank"] != plain.per_case["rank"]).any()


def test_it_trains_from_the_cli_and_records_its_weights(tmp_path):
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "dpgdiff_lite", "train", "--data", "synthetic:tiny", "--model",
                    "dpgdiff-anchored", "--preset", "smoke", "--set", "epochs=1", "--out", str(out)],
                   check=True, capture_output=True, text=True)
    metrics = json.loads((out / "metrics.json").read_text())
    weights = np.array(metrics["mix_weight"]).round(6)
    assert weights.shape == (2, 3, 3)  # (domains, user groups, paths)
    assert {tuple(w) for w in weights.reshape(-1, 3)} <= {tuple(c) for c in np.round(MIX_CHOICES, 6)}


def test_a_bad_mix_setting_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="mix_space"):
        Config(model="dpgdiff-anchored", mix_space="average")
    with pytest.raises(ValueError, match="mix_groups"):
        Config(model="dpgdiff-anchored", mix_groups=0)


@pytest.fixture(scope="module")
def tiny_compare(tmp_path_factory):
    """A compare --seeds 0,1 of the anchored model's evidence models on the tiny data, one epoch each."""
    from dpgdiff_lite.experiments.registry import ANCHORED_MODELS

    root = tmp_path_factory.mktemp("anchored")
    for models, extra, runs in ((ANCHORED_MODELS, [], "runs"), ("dpgdiff", ["--set", "preference=fused"], "fused")):
        subprocess.run([sys.executable, "-m", "dpgdiff_lite", "compare", "--data", "synthetic:tiny", "--preset", "smoke",
                        "--set", "epochs=1", *extra, "--models", models, "--seeds", "0,1", "--runs", str(root / runs),
                        "--out", str(root / f"{runs}-out"), "--quiet"], check=True, capture_output=True, text=True)
    return root


def test_the_evidence_pairs_the_anchored_model_with_each_baseline_and_each_removed_part(tiny_compare):
    from dpgdiff_lite.experiments import anchored as experiment

    table, ablation = experiment.evidence(tiny_compare / "runs", "synthetic:tiny", tiny_compare / "fused")
    per_seed = {}
    for model in ("dpgdiff-anchored", "dpgdiff", "sasrec", "sasrec-single"):
        per_seed[model] = np.mean([json.loads((tiny_compare / "runs" / model / f"seed{k}" / "metrics.json").read_text())
                                   ["test"]["X"]["NDCG@10"] for k in (0, 1)])
    x = table.set_index("domain").loc["X"]
    assert x["anchored"] == pytest.approx(per_seed["dpgdiff-anchored"])
    assert x["gain_over_dpgdiff"] == pytest.approx(per_seed["dpgdiff-anchored"] - per_seed["dpgdiff"])
    best = max(("sasrec", "sasrec-single"), key=per_seed.get)
    assert x["best_sasrec"] == best and x["sasrec_value"] == pytest.approx(per_seed[best])
    assert set(ablation["variant"]) == set(experiment.REMOVED) and (ablation["n_seeds"] == 2).all()
    removed = ablation.set_index(["variant", "domain"])
    assert removed["variant_minus_full"].to_numpy() == pytest.approx(
        (removed["variant_NDCG@10"] - removed["full_NDCG@10"]).to_numpy())
    assert removed["full_NDCG@10"].xs("X", level="domain").to_numpy() == pytest.approx([x["anchored"]] * len(experiment.REMOVED))
    corner = removed.loc[("DPG-Diff path only", "X"), "variant_NDCG@10"]  # the paper's model trained inside
    assert 0 < corner < 100
    assert table[[f"weight {path}" for path in PATHS]].sum(axis=1).to_numpy() == pytest.approx([1.0, 1.0])


def test_dpgdiff_anchored_differs_from_dpgdiff_only_by_its_name_and_builds_the_paper_model_inside(tiny):
    anchored, paper = preset("teaching", "dpgdiff-anchored"), preset("teaching", "dpgdiff")
    differs = {f.name for f in dataclasses.fields(anchored) if getattr(anchored, f.name) != getattr(paper, f.name)}
    assert differs == {"model"}
    dataset, _ = tiny
    inside = AnchoredDPGDiff(dataset.n_items, preset("smoke", "dpgdiff-anchored")).paper
    assert inside.config.model == "dpgdiff" and inside.config.preference == "own"


def test_the_grid_summary_carries_the_anchored_gain(tmp_path):
    from dpgdiff_lite.experiments import regimes

    grid = {"conflict_kind": ["opposed"], "conflict_rate": [0.0, 1.0]}
    out = tmp_path / "grid"
    regimes.run_grid(grid, 1, out, data_preset="tiny", preset_name="smoke",
                     models=["sasrec", "sasrec-single", "dpgdiff-anchored"], progress=False, runs_dir=tmp_path / "runs")
    summary = pd.read_csv(out / "summary.csv")
    assert "anchored_gain" in summary and "dpg_gain" not in summary
    best = summary[["sasrec", "sasrec-single"]].max(axis=1)
    assert summary["anchored_gain"].to_numpy() == pytest.approx((summary["dpgdiff-anchored"] - best).to_numpy(), abs=1e-6)


def test_dpgdiff_anchored_trains_through_papermill(tmp_path):
    from dpgdiff_lite import course

    frame = course.run_course(tmp_path, notebooks=["06"], parameters={"06": {
        "data": "synthetic:tiny", "preset": "smoke", "models": "dpgdiff-anchored,sasrec"}})
    assert frame.loc["06_full_training", "status"] == "ok", frame.loc["06_full_training", "error"]
    record = json.loads((tmp_path / "runs" / "06_full_training" / "dpgdiff-anchored" / "metrics.json").read_text())
    assert record["model"] == "dpgdiff-anchored" and np.asarray(record["mix_weight"]).shape == (2, 3, 3)


def test_in_the_logit_space_the_log_softmax_shifts_each_user_by_a_constant_and_keeps_the_ranking():
    torch.manual_seed(1)
    raw = torch.randn(3, 4, 9) * torch.tensor([1.0, 5.0, 0.2])[:, None, None]  # paths on different scales
    weights = (0.2, 0.3, 0.5)
    shift = mix(raw.log_softmax(-1), weights, "logit") - sum(w * s for w, s in zip(weights, raw))
    torch.testing.assert_close(shift, shift[:, :1].expand_as(shift))  # one number per user
    assert not torch.allclose(mix(raw.log_softmax(-1), weights, "prob").argsort(-1).float(),
                              mix(raw.log_softmax(-1), weights, "logit").argsort(-1).float())
