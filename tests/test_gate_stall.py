"""gate-stall: the forced gates are the paper's two readings of ĝ_d exactly, measured on what the trainer sees."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dpgdiff_lite.experiments.gate_stall import FORCED, stall_table, training_loss
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.trainer import run_evaluation


@pytest.fixture(scope="module")
def table(tmp_path_factory, monkeypatch_module):
    return stall_table("synthetic:tiny", (0,), tmp_path_factory.mktemp("stall"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        # the teaching preset, shortened: two epochs on the tiny data
        from dpgdiff_lite.experiments import gate_stall

        original = gate_stall.preset
        patch.setattr(gate_stall, "preset", lambda name, model, **kw: original("smoke", model, epochs=2, **kw))
        yield patch


def test_the_forced_gates_are_zero_half_and_one_and_the_learned_one_lies_between(table):
    gammas = table.set_index("gate")["mean_gamma"]
    assert list(gammas.index) == [*FORCED, "learned γ"]
    assert gammas.iloc[:3].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert 0.0 < gammas["learned γ"] < 1.0


def test_gamma_one_measures_exactly_the_fused_reading(tiny, tmp_path, monkeypatch_module):
    from dpgdiff_lite.experiments.runner import Run, train_runs
    from dpgdiff_lite.experiments import gate_stall

    dataset, _ = tiny
    config = gate_stall.preset("teaching", "dpgdiff", preference="gated", seed=0)
    result = train_runs([Run(config, "synthetic:tiny", tmp_path / "seed0", "gated")], progress=False)[0]
    gated = result.model
    with torch.no_grad():
        gated.gate_scale.zero_()
        gated.gate_bias.fill_(np.inf)
    fused = DPGDiff(dataset.n_items, dataclasses.replace(config, preference="fused"))
    fused.load_state_dict({k: v for k, v in gated.state_dict().items() if not k.startswith("gate_")})
    assert training_loss(gated, dataset) == pytest.approx(training_loss(fused, dataset), rel=1e-6)
    assert run_evaluation(gated, dataset, config, "valid").table.equals(
        run_evaluation(fused, dataset, config, "valid").table)
