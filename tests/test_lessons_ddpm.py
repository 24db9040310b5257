"""Lesson 01 (vanilla diffusion): parameters, tables, exercise solutions, figures and widgets."""

import math

import numpy as np
import pytest
import torch

from dpgdiff_lite.diffusion import NoiseSchedule
from dpgdiff_lite import toy
from dpgdiff_lite.lessons import ddpm_toy


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule("trunc_lin", 32)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return toy.toy_data(600, "gaussians", seed=0)


@pytest.fixture(scope="module")
def trained(data, schedule):
    return toy.train_toy_denoiser(data, schedule, steps=300, seed=0)


def test_lesson_params_reject_bad_values():
    assert ddpm_toy.LessonParams().noise_schedule().T == 32
    with pytest.raises(ValueError, match="only reaches ᾱ_T = 0.4825"):
        ddpm_toy.LessonParams(T=16)
    with pytest.raises(ValueError, match="schedule must be one of"):
        ddpm_toy.LessonParams(schedule="quadratic")
    with pytest.raises(ValueError, match="train_steps must be an integer >= 1, got 0"):
        ddpm_toy.LessonParams(train_steps=0)


def test_exercise_1_q_sample_by_hand_matches_package(schedule):
    x0, noise = torch.randn(32, 5), torch.randn(32, 5)
    t = torch.arange(1, 33)
    torch.testing.assert_close(ddpm_toy.q_sample_by_hand(x0, t, schedule.betas, noise),
                               schedule.q_sample(x0, t, noise=noise), rtol=1e-5, atol=1e-6)
    # closed form at t = 1: ᾱ_1 = 1 - β_1
    beta1 = schedule.betas[0].item()
    expected = math.sqrt(1 - beta1) * x0[0] + math.sqrt(beta1) * noise[0]
    torch.testing.assert_close(ddpm_toy.q_sample_by_hand(x0[:1], t[:1], schedule.betas, noise[:1])[0], expected)
    assert ddpm_toy.check_q_sample(ddpm_toy.q_sample_by_hand, schedule) == "correct: matches NoiseSchedule.q_sample"
    assert ddpm_toy.check_q_sample(lambda x0, t, b, e: None, schedule).startswith("not attempted yet")
    assert ddpm_toy.check_q_sample(lambda x0, t, b, e: x0 + e, schedule).startswith("mismatch")
    assert ddpm_toy.check_q_sample(lambda x0, t, b, e: x0[:1], schedule) == "wrong shape: got (1, 8), expected (64, 8)"


def test_exercise_2_posterior_coefficients_by_hand(schedule):
    c0, ct, var = ddpm_toy.posterior_coefficients_by_hand(schedule.betas)
    # at t = 1 the posterior is the point x_0: c_0 = 1, c_t = 0, β̃ = 0
    assert (c0[0].item(), ct[0].item(), var[0].item()) == (pytest.approx(1.0), pytest.approx(0.0), pytest.approx(0.0))
    # t = 2 by hand: ᾱ_1 = α_1, ᾱ_2 = α_1 α_2
    b1, b2 = schedule.betas[0].item(), schedule.betas[1].item()
    a1, a2 = 1 - b1, 1 - b2
    assert c0[1].item() == pytest.approx(b2 * math.sqrt(a1) / (1 - a1 * a2), rel=1e-5)
    assert ct[1].item() == pytest.approx(math.sqrt(a2) * (1 - a1) / (1 - a1 * a2), rel=1e-5)
    assert var[1].item() == pytest.approx(b2 * (1 - a1) / (1 - a1 * a2), rel=1e-5)
    x0, xt, t = torch.randn(32, 3), torch.randn(32, 3), torch.arange(1, 33)
    mean, variance = schedule.q_posterior(x0, xt, t)
    torch.testing.assert_close(c0[:, None] * x0 + ct[:, None] * xt, mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(var, variance[:, 0])
    assert ddpm_toy.check_posterior(ddpm_toy.posterior_coefficients_by_hand, schedule) == (
        "correct: matches NoiseSchedule.q_posterior")
    assert ddpm_toy.check_posterior(lambda b: None, schedule).startswith("not attempted yet")
    wrong = lambda b: (torch.ones_like(b), torch.zeros_like(b), b)  # noqa: E731
    assert ddpm_toy.check_posterior(wrong, schedule).startswith("mismatch")


def test_alpha_bar_tables(schedule):
    table = ddpm_toy.alpha_bar_table(32, steps=(1, 8, 32))
    assert list(table.columns) == ["trunc_lin", "linear", "cosine"]
    assert table.loc[1, "trunc_lin"] == round(1 - schedule.betas[0].item(), 4)
    assert table.loc[8, "trunc_lin"] == round(schedule.alpha_bars[7].item(), 4)
    final = ddpm_toy.final_alpha_bar_table(Ts=(16, 21))
    assert final.loc[16, "trunc_lin"] == "0.4825, refused"
    assert final.loc[16, "linear"] == "β_t ≥ 1, refused"
    assert final.loc[21, "trunc_lin"].endswith(", ok")


def test_embedding_noise_curve_decays(schedule):
    table = torch.randn(50, 16, generator=torch.Generator().manual_seed(123)) / 4  # not the noise's seed
    curve = ddpm_toy.embedding_noise_curve(table, schedule, draws=2)
    assert list(curve.index) == list(range(33))
    assert curve.loc[0, "cosine to x_0"] == 1.0
    # under the dot product an item is its own best match unless a longer row points its way
    assert curve.loc[0, "top-1 is x_0"] > 0.9
    assert curve["cosine to x_0"].is_monotonic_decreasing  # the same ε at every t
    assert curve.loc[32, "top-1 is x_0"] < 0.1
    step = ddpm_toy.last_recognised_step(curve)
    assert 1 <= step < 32 and curve.loc[step, "top-1 is x_0"] >= 0.5 > curve.loc[step + 1, "top-1 is x_0"]
    # the model's x_0 is scaled to the noise's size (√D · e_v): the item survives many more steps
    scaled = ddpm_toy.embedding_noise_curve(table, schedule, draws=2, scale=16 ** 0.5 * 4)
    assert ddpm_toy.last_recognised_step(scaled) > step


def test_forward_states_follow_eq_4(data, schedule):
    states = ddpm_toy.forward_states(data, schedule, [0, 5], seed=1)
    np.testing.assert_array_equal(states[0], data)
    noise = torch.randn(data.shape, generator=torch.Generator().manual_seed(1)).numpy()
    abar = schedule.alpha_bars[4].item()
    np.testing.assert_allclose(states[5], math.sqrt(abar) * data + math.sqrt(1 - abar) * noise, atol=1e-5)


def test_figures_have_expected_axes_and_lines(data, schedule, trained):
    assert len(ddpm_toy.plot_forward(data, schedule, steps=(0, 4, 32)).axes) == 3
    fig = ddpm_toy.plot_schedules(32)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3 and len(fig.axes[1].lines) == 4  # + limit line
    curve = ddpm_toy.embedding_noise_curve(torch.randn(20, 8, generator=torch.Generator().manual_seed(5)), schedule)
    assert len(ddpm_toy.plot_embedding_noise(curve, 20).axes[0].lines) == 3
    assert len(ddpm_toy.plot_samples(data, data).axes) == 2
    trajectory = np.zeros((5, 7, 2))
    fig = ddpm_toy.plot_trajectories(data, {"a": trajectory, "b": trajectory}, n_paths=3)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3
    steps = toy.step_count_curve(trained[0], schedule, data, ks=[1, 2], n=100, repeats=1)
    fig = ddpm_toy.plot_step_count_curve(steps)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 2 for ax in fig.axes)


def _offsets(fig, axis: int) -> np.ndarray:
    return np.asarray(fig.axes[axis].collections[-1].get_offsets())


def test_forward_widget_update_changes_with_t(data, schedule):
    widgets = pytest.importorskip("ipywidgets")
    view, update = ddpm_toy.forward_widget(data, schedule)
    assert isinstance(view, widgets.VBox)
    (slider,) = view.children[0].children
    assert (slider.description, slider.value, slider.min, slider.max) == ("t", 0, 0, 32)
    at0, at8 = update(0), update(8)
    np.testing.assert_allclose(_offsets(at0, 0), data)
    assert not np.allclose(_offsets(at8, 0), data)
    assert "t=8" in at8.axes[0].get_title()
    started = ddpm_toy.forward_widget(data, schedule, start=8)[0].children[0].children[0]
    assert started.value == 8  # the notebook starts the slider where its static figure is drawn


def test_step_count_widget_update_changes_with_k(data, schedule, trained):
    pytest.importorskip("ipywidgets")
    curve = toy.step_count_curve(trained[0], schedule, data, ks=[1, 4, 32], n=200, repeats=1)
    view, update = ddpm_toy.step_count_widget(trained[0], schedule, data, n=200, curve=curve)
    (slider,) = view.children[0].children
    assert (slider.description, slider.value, slider.min, slider.max) == ("steps k", 32, 1, 32)
    fig1, fig4 = update(1), update(4)
    assert len(fig4.axes) == 4
    assert not np.allclose(_offsets(fig1, 0), _offsets(fig4, 0))
    assert "k=4" in fig4.axes[0].get_title() and "k=4" in fig4.axes[1].get_title()
    assert fig4.axes[2].lines[-1].get_xdata()[0] == 4  # the marker line sits at k
    view4, _ = ddpm_toy.step_count_widget(trained[0], schedule, data, n=200, curve=curve, start=4)
    assert view4.children[0].children[0].value == 4
