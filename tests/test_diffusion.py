import math

import pytest
import torch

from dpgdiff_lite.diffusion import NoiseSchedule, beta_schedule, diffusion_loss


@pytest.fixture
def schedule() -> NoiseSchedule:
    return NoiseSchedule("trunc_lin", 32)


def test_trunc_lin_and_linear_end_points():
    betas = beta_schedule("trunc_lin", 32)
    assert betas.dtype == torch.float64 and betas.shape == (32,)
    # scale = 1000/32 = 31.25
    assert betas[0].item() == pytest.approx(31.25e-4 + 0.01)
    assert betas[-1].item() == pytest.approx(31.25 * 0.02 + 0.01)
    linear = beta_schedule("linear", 100)
    assert (linear[0].item(), linear[-1].item()) == (pytest.approx(1e-3), pytest.approx(0.2))


def test_alpha_bars_are_cumulative_products(schedule):
    alphas = 1 - beta_schedule("trunc_lin", 32)
    expected = torch.tensor([math.prod(alphas[:t].tolist()) for t in range(1, 33)], dtype=torch.float64)
    torch.testing.assert_close(schedule.alpha_bars.double(), expected, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(schedule.alphas, 1 - schedule.betas)
    assert schedule.alpha_bars_prev[0].item() == 1.0
    assert schedule.alpha_bars.dtype == torch.float32


def test_cosine_alpha_bar_follows_its_formula():
    s = NoiseSchedule("cosine", 50)
    f = lambda t: math.cos((t / 50 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    expected = torch.tensor([f(t) / f(0) for t in range(1, 50)], dtype=torch.float32)
    torch.testing.assert_close(s.alpha_bars[:-1], expected, rtol=1e-4, atol=1e-6)
    assert s.betas[-1].item() == pytest.approx(0.999)  # the clipped last step


def test_refuses_schedule_that_never_reaches_noise():
    with pytest.raises(ValueError) as err:
        NoiseSchedule("trunc_lin", 16)
    assert str(err.value) == (
        "noise schedule 'trunc_lin' with T=16 only reaches ᾱ_T = 0.4825 > max_alpha_bar_T = 0.05: "
        "x_T would still carry x_0, so sampling from N(0, I) would not match training; use a larger T "
        "or another schedule ('trunc_lin', 'linear', 'cosine')"
    )
    with pytest.raises(ValueError, match=r"'linear' with T=20 has β_t outside \(0, 1\)"):
        NoiseSchedule("linear", 20)
    with pytest.raises(ValueError, match="T must be at least 1, got T=0"):
        NoiseSchedule("cosine", 0)
    with pytest.raises(ValueError, match="unknown noise schedule 'quadratic'"):
        NoiseSchedule("quadratic", 32)
    assert NoiseSchedule("trunc_lin", 21).T == 21  # the smallest T trunc_lin accepts


def test_q_sample_with_fixed_noise_is_exact(schedule):
    x0, eps = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    t = torch.tensor([1, 16, 32])
    xt = schedule.q_sample(x0, t, noise=eps)
    abar = schedule.alpha_bars[t - 1].view(3, 1, 1)
    torch.testing.assert_close(xt, abar.sqrt() * x0 + (1 - abar).sqrt() * eps)
    with pytest.raises(ValueError, match="steps must lie in 1..32, got values from 0 to 32"):
        schedule.q_sample(x0, torch.tensor([0, 5, 32]))


def test_q_sample_moments(schedule):
    n = 200_000
    x0 = torch.full((n, 1), 2.0)
    t = torch.full((n,), 8)
    xt = schedule.q_sample(x0, t, generator=torch.Generator().manual_seed(0))
    abar = schedule.alpha_bars[7].item()
    assert xt.mean().item() == pytest.approx(2 * math.sqrt(abar), abs=0.01)
    assert xt.var().item() == pytest.approx(1 - abar, abs=0.01)


def test_q_posterior_matches_ddpm_closed_form(schedule):
    x0, xt = torch.randn(4, 6), torch.randn(4, 6)
    t = torch.tensor([1, 2, 10, 32])
    mean, var = schedule.q_posterior(x0, xt, t)
    b = beta_schedule("trunc_lin", 32)
    abar = torch.cumprod(1 - b, 0)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    i = t - 1
    coef_x0 = b[i] * abar_prev[i].sqrt() / (1 - abar[i])
    coef_xt = (1 - abar_prev[i]) * (1 - b[i]).sqrt() / (1 - abar[i])
    expected_mean = coef_x0.float()[:, None] * x0 + coef_xt.float()[:, None] * xt
    torch.testing.assert_close(mean, expected_mean)
    expected_var = (b[i] * (1 - abar_prev[i]) / (1 - abar[i])).float()[:, None].expand(4, 6)
    torch.testing.assert_close(var, expected_var)
    # at t = 1 the posterior collapses onto x_0
    torch.testing.assert_close(mean[0], x0[0])
    assert var[0].abs().max().item() == 0


def test_predict_noise_inverts_q_sample(schedule):
    x0, eps = torch.randn(5, 3), torch.randn(5, 3)
    t = torch.tensor([1, 4, 9, 20, 32])
    xt = schedule.q_sample(x0, t, noise=eps)
    torch.testing.assert_close(schedule.predict_noise(xt, t, x0), eps, rtol=1e-4, atol=1e-4)


def test_ddpm_step_is_a_posterior_sample(schedule):
    x0, xt, z = torch.randn(4, 6), torch.randn(4, 6), torch.randn(4, 6)
    t = torch.tensor([2, 5, 17, 32])
    mean, var = schedule.q_posterior(x0, xt, t)
    stepped = schedule.step(xt, t, t - 1, x0, eta=1.0, noise=z)
    torch.testing.assert_close(stepped, mean + var.sqrt() * z, rtol=1e-4, atol=1e-5)
    # s = 0 returns the prediction itself, whatever the noise
    torch.testing.assert_close(schedule.step(xt, t, 0, x0, noise=z), x0)
    with pytest.raises(ValueError, match="need s < t"):
        schedule.step(xt, t, t, x0)
    with pytest.raises(ValueError, match="eta must lie in"):
        schedule.step(xt, t, t - 1, x0, eta=1.5)


def test_timesteps(schedule):
    assert schedule.timesteps(4) == [32, 24, 16, 8]
    assert schedule.timesteps(3) == [32, 22, 11]
    assert schedule.timesteps(1) == [32]
    assert schedule.timesteps(32) == list(range(32, 0, -1))
    for k in (0, 33):
        with pytest.raises(ValueError, match=f"k must lie in 1..T=32, got k={k}"):
            schedule.timesteps(k)


@pytest.mark.parametrize("k", [1, 3, 8, 32])
def test_deterministic_sampling_with_an_exact_oracle_recovers_x0(schedule, k):
    """η = 0 keeps ε̂ fixed along the chain: an oracle that only knows that ε (not x_0) returns the
    true x_0 at every step, which holds only if each DDIM update is exact."""
    x0 = torch.randn(4, 2, 8)
    x_T = torch.randn(x0.shape, generator=torch.Generator().manual_seed(7))  # what sample() draws
    abar_T = schedule.alpha_bars[-1]
    eps = (x_T - abar_T.sqrt() * x0) / (1 - abar_T).sqrt()
    seen = []

    def oracle(xt, t):
        abar = schedule.alpha_bars[t - 1].view(-1, 1, 1)
        x0_hat = (xt - (1 - abar).sqrt() * eps) / abar.sqrt()
        seen.append(x0_hat)
        return x0_hat

    out, trajectory = schedule.sample(
        oracle, x0.shape, k=k, eta=0.0, generator=torch.Generator().manual_seed(7), return_trajectory=True
    )
    assert len(trajectory) == k and len(seen) == k
    torch.testing.assert_close(trajectory[0], x_T)
    for x0_hat in seen:
        torch.testing.assert_close(x0_hat, x0, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(out, x0, rtol=1e-3, atol=1e-3)


def test_generator_makes_sampling_repeatable(schedule):
    denoise = lambda xt, t: 0.5 * xt  # noqa: E731

    def run(seed):
        return schedule.sample(denoise, (3, 5), k=6, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(run(1), run(1), rtol=0, atol=0)
    assert not torch.equal(run(1), run(2))


def test_diffusion_loss_over_masked_positions():
    x0 = torch.zeros(1, 3, 2)
    x0_hat = torch.tensor([[[1.0, 3.0], [2.0, 2.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    # per position: (1+9)/2 = 5, (4+4)/2 = 4, the masked-out 81 ignored
    assert diffusion_loss(x0_hat, x0, mask).item() == pytest.approx(4.5)
    assert diffusion_loss(x0_hat, x0).item() == pytest.approx((5 + 4 + 81) / 3)
    assert diffusion_loss(x0_hat, x0, torch.zeros(1, 3, dtype=torch.bool)).item() == 0
    with pytest.raises(ValueError, match=r"mask has shape \(3,\), expected \(1, 3\)"):
        diffusion_loss(x0_hat, x0, torch.ones(3, dtype=torch.bool))
