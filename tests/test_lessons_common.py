"""lessons/common.py: the papermill parameters of notebooks 06–08, the widget factory, PCA, learning curves."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dpgdiff_lite import claims
from dpgdiff_lite.config import MODELS, preset
from dpgdiff_lite.data.synthetic import INVARIANT, NOISE, PRESETS as SYNTHETIC_PRESETS, SPECIFIC
from dpgdiff_lite.lessons import common
from dpgdiff_lite.parameters import ExperimentParams
from dpgdiff_lite.trainer import setup_training


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
    (dict(data="synthetic:huge"), "data: data spec 'synthetic:huge': unknown synthetic preset 'huge', "
                                  f"choose one of {sorted(SYNTHETIC_PRESETS)}"),
    (dict(data="parquet:x"), "data: data spec 'parquet:x' not understood; valid schemes: "
                             "synthetic[:preset], c2dsr:PATH, amazon:X.csv,Y.csv[,Z.csv…]"),
    (dict(data="c2dsr:/no/such/Food-Kitchen"), "data: data spec 'c2dsr:/no/such/Food-Kitchen': 'Food-Kitchen' not found"),
    (dict(data="amazon:only.csv"), "data: data spec 'amazon:only.csv' not understood; valid schemes: "
                                   "synthetic[:preset], c2dsr:PATH, amazon:X.csv,Y.csv[,Z.csv…]"),
    (dict(resume="yes"), "resume must be True or False, got 'yes'"),
])
def test_experiment_params_errors_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError) as error:
        ExperimentParams(**kwargs)
    assert str(error.value) == message


def test_bad_override_names_its_key():
    with pytest.raises(ValueError, match=r"^unknown config key 'dimm'; known keys: "):
        ExperimentParams(overrides="dimm=32")
    with pytest.raises(ValueError, match=r"^config key 'dim' expects int, got 'wide'$"):
        ExperimentParams(overrides="dim=wide")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_an_error():
    with pytest.raises(ValueError) as error:
        ExperimentParams(device="cuda")
    assert str(error.value) == "device 'cuda' was asked for but this machine has no CUDA GPU; use 'cpu' or 'auto'"


def test_params_normalise_strings_and_build_configs():
    params = ExperimentParams(models=" dpgdiff, pop ", overrides="dim=32,lr=0.001", epochs=3, seed=7,
                                 protocol="full", device="cpu")
    assert params.models == ("dpgdiff", "pop")
    assert params.overrides == ("dim=32", "lr=0.001")
    config = params.config("dpgdiff")
    assert (config.dim, config.lr, config.epochs, config.seed, config.eval_protocol, config.device) == \
           (32, 0.001, 3, 7, "full", "cpu")
    assert ExperimentParams(preset="paper").config("sasrec").epochs == 100  # epochs = 0 keeps the preset's


def test_learning_curves_and_summary_file(robust_runs):
    params, trained = robust_runs
    fig = common.plot_learning_curves(trained)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3
    history = trained["dpgdiff"].history
    weights = trained["dpgdiff"].config.loss_weights
    objective = sum(history[f"loss_{k}"] * w for k, w in weights.items())  # eq. (14) as trained
    assert fig.axes[1].lines[0].get_ydata() == pytest.approx(objective.to_numpy())
    summary = {"headline": "h", "x": [1, 2]}
    assert json.loads(common.write_summary(summary, params.output_path).read_text()) == summary


def test_widget_factory_returns_the_update_it_redraws_with():
    calls = []
    view, update = common.widget(lambda k, r: calls.append((k, r)) or common.figure(2, 2),
                                 k=common.int_slider("steps k", 3, 1, 8), r=common.float_slider("noise r", 0.3, 0, 1))
    assert calls[-1] == (3, 0.3)  # drawn once at the sliders' start values
    slider = view.children[0].children[0]
    assert (slider.description, slider.value, slider.min, slider.max) == ("steps k", 3, 1, 8)
    slider.value = 5
    assert calls[-1] == (5, 0.3)
    assert view.children[0].children[1].readout_format == ".2f"


def test_projection_finds_the_principal_axes():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3)) * np.array([5.0, 1.0, 0.1])
    projection = common.Projection.fit(points)
    assert np.abs(projection.axes[0]) == pytest.approx([1, 0, 0], abs=0.02)
    assert projection.axes[0][np.abs(projection.axes[0]).argmax()] > 0  # sign fixed: re-runs draw the same picture
    assert projection.explained[0] == pytest.approx(25 / 26.01, abs=0.02)
    assert projection(points).shape == (500, 2)
    assert projection(points).mean(0) == pytest.approx([0, 0], abs=1e-9)


def test_not_attempted_convention():
    assert common.not_attempted(None) and common.not_attempted(...)
    assert not common.not_attempted(0.0) and not common.not_attempted(torch.zeros(1))
    assert common.not_attempted_message("guided.target_rank") == "not attempted yet (reference: guided.target_rank)"



def test_untrained_model_has_the_initial_weights_of_train(tiny):
    dataset, _ = tiny
    config = preset("smoke", model="dpgdiff", dim=16, device="cpu")
    untrained = common.untrained_model(dataset, config)
    start = setup_training(dataset, config, torch.device("cpu")).model  # what train() starts from
    assert all(torch.equal(p, q) for p, q in zip(untrained.state_dict().values(), start.state_dict().values()))
    assert not untrained.training


# --- claims in the prose ----------------------------------------------------------------------
def test_a_claim_that_holds_prints_the_statement_and_the_values(capsys):
    claims.claim("DPG-Diff beats popularity by 2.5x", 19.33 > 2.5 * 5.33, dpg=19.33, pop=np.float32(5.33))
    claims.claim("the oracle is the best model", torch.tensor(True), oracle=27, models=["dpgdiff", "sasrec"])
    claims.claim("no values, just a fact", np.bool_(True))
    assert capsys.readouterr().out.splitlines() == [
        "✓ DPG-Diff beats popularity by 2.5x (dpg=19.33, pop=5.33)",
        "✓ the oracle is the best model (oracle=27, models=['dpgdiff', 'sasrec'])",
        "✓ no values, just a fact",
    ]


def test_a_false_claim_raises_naming_the_statement_and_the_values(capsys):
    with pytest.raises(claims.ClaimError) as failure:
        claims.claim("DPG-Diff beats popularity by 5x", 19.33 > 5 * 5.33, dpg=torch.tensor(19.3333), pop=5.33)
    message = "✗ DPG-Diff beats popularity by 5x (dpg=19.33, pop=5.33): the claim does not hold"
    assert str(failure.value) == message and isinstance(failure.value, AssertionError)
    assert failure.value._render_traceback_() == [f"ClaimError: {message}"]  # Jupyter: no traceback
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("condition", [2.5, 0, None, "yes", torch.tensor([True, False]), torch.tensor(1.0)])
def test_a_claim_needs_a_bool(condition):
    with pytest.raises(TypeError, match=r"^claim 'x beats y': condition must be a bool, got "):
        claims.claim("x beats y", condition, x=1)


def test_a_false_claim_stops_the_notebook_without_a_traceback(tmp_path):
    import nbformat
    import papermill

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("from dpgdiff_lite.claims import claim\n"
                                                "claim('2 beats 3', 2 > 3, two=2, three=3.0)"),
                      nbformat.v4.new_code_cell("print('not reached')")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "claim.ipynb")
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(tmp_path / "claim.ipynb"), str(tmp_path / "out.ipynb"), progress_bar=False)
    assert failure.value.ename == "ClaimError"
    assert failure.value.evalue == "✗ 2 beats 3 (two=2, three=3): the claim does not hold"
    assert "Traceback" not in str(failure.value)


def test_interactive_output_carries_plotly_json_and_a_png_fallback(monkeypatch):
    import plotly.graph_objects as go
    from IPython import display as ipython_display

    shown = []
    monkeypatch.setattr(ipython_display, "display", lambda bundle, raw=False: shown.append((bundle, raw)))
    plot = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="model"))
    static = common.figure(2, 2)
    static.subplots().plot([1, 2], [3, 4])
    common.interactive(plot, static)
    (bundle, raw), = shown
    assert raw and set(bundle) == {"application/vnd.plotly.v1+json", "image/png"}
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["y"] == (3, 4) or \
        list(bundle["application/vnd.plotly.v1+json"]["data"][0]["y"]) == [3, 4]
    assert bundle["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert "plotly.js" not in str(bundle)[:100_000] and len(str(bundle)) < 60_000  # no embedded library


# --- the lessons' example user ----------------------------------------------------------------
@pytest.mark.parametrize("split, labels", [("train", (INVARIANT, SPECIFIC, NOISE)), ("train", (NOISE,)),
                                           ("test", (INVARIANT, SPECIFIC, NOISE))])
def test_pick_user_finds_a_long_two_domain_history_with_the_planted_labels(tiny, split, labels):
    dataset, truth = tiny
    user = common.pick_user(dataset, truth, min_len=6, labels=labels, split=split)
    history = (dataset.train if split == "train" else dataset.test.histories)[user][-dataset.max_len:]
    planted = (truth.train_labels if split == "train" else truth.test_labels.histories)[user][-dataset.max_len:]
    assert len(history) >= 6 and set(dataset.domain_of(history).tolist()) == {0, 1}
    assert set(labels) <= set(planted.tolist())
    with pytest.raises(ValueError, match=f"no {split} case has >= 1000 events"):
        common.pick_user(dataset, truth, min_len=1000, labels=labels, split=split)
