"""The 2-D toy diffusion: data, sample-quality distances, the denoiser and its sampler."""

import math

import numpy as np
import pytest
import torch

from dpgdiff_lite import toy
from dpgdiff_lite.diffusion import NoiseSchedule


def test_toy_data_shapes_scales_and_seeds():
    for kind in toy.TOY_KINDS:
        points = toy.toy_data(2000, kind, seed=3)
        assert points.shape == (2000, 2) and points.dtype == np.float32
        np.testing.assert_allclose(points.std(0), 1.0, atol=0.1)
        np.testing.assert_array_equal(points, toy.toy_data(2000, kind, seed=3))
    rings = np.linalg.norm(toy.toy_data(500, "gaussians"), axis=1)
    assert abs(rings.mean() - math.sqrt(2)) < 0.05  # eight clusters on a circle of radius √2
    with pytest.raises(ValueError, match="unknown toy data 'spiral'"):
        toy.toy_data(10, "spiral")


def test_sliced_wasserstein_and_nn_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 2))
    assert toy.sliced_wasserstein(a, a) == 0.0
    # a shift by c moves every 1-D projection by |c·θ|; for θ uniform on the circle E|cos| = 2/π
    shifted = toy.sliced_wasserstein(a, a + np.array([1.0, 0.0]), n_projections=2000)
    assert shifted == pytest.approx(2 / math.pi, rel=0.03)
    data = np.array([[0.0, 0.0], [10.0, 0.0]])
    assert toy.mean_nn_distance(np.array([[3.0, 4.0], [10.0, 1.0]]), data) == pytest.approx(3.0)


def test_toy_denoiser_learns_and_samples():
    schedule, data = NoiseSchedule("trunc_lin", 32), toy.toy_data(600, "gaussians", seed=0)
    model, losses = toy.train_toy_denoiser(data, schedule, steps=300, seed=0)
    assert len(losses) == 300 and np.mean(losses[-50:]) < np.mean(losses[:50])
    x0 = torch.as_tensor(data[:200])
    t = torch.full((200,), 2)
    xt = schedule.q_sample(x0, t, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        error = (model(xt, t) - x0).pow(2).mean().item()
    # better than reading x_0 off x_t by rescaling: x_t / √ᾱ_t
    assert error < (xt / schedule.sqrt_alpha_bars[1] - x0).pow(2).mean().item()
    samples, trajectory = toy.sample_toy(model, schedule, 300, k=8, eta=0.0, return_trajectory=True)
    assert samples.shape == (300, 2) and trajectory.shape == (9, 300, 2)
    np.testing.assert_array_equal(trajectory[-1], samples)
    np.testing.assert_array_equal(samples, toy.sample_toy(model, schedule, 300, k=8, eta=0.0))
    noise = np.random.default_rng(0).standard_normal((300, 2))
    assert toy.sliced_wasserstein(samples, data) < toy.sliced_wasserstein(noise, data)


def test_step_count_curve():
    schedule, data = NoiseSchedule("trunc_lin", 32), toy.toy_data(600, "gaussians", seed=0)
    model, _ = toy.train_toy_denoiser(data, schedule, steps=300, seed=0)
    assert toy.default_step_counts(32) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    assert toy.default_step_counts(21)[-1] == 21
    curve = toy.step_count_curve(model, schedule, data, ks=[1, 16], n=300, repeats=1)
    assert list(curve.columns) == ["k", "sampler", "sliced W1", "NN distance", "wall ms"]
    assert len(curve) == 4 and set(curve["sampler"]) == set(toy.SAMPLERS)
    by_k = curve.groupby("k")["sliced W1"].mean()
    assert by_k[16] < by_k[1]
    # with k = 1 the DDPM and DDIM samplers coincide: one call, s = 0 returns x̂_0
    one = curve[curve.k == 1]["sliced W1"].to_numpy()
    assert one[0] == pytest.approx(one[1])
