"""The Gaussian diffusion core of DPG-Diff (paper eq. 1–6), in the style of the annotated DDPM.

Forward process (eq. 1–2): every step adds a little Gaussian noise,
``q(x_t | x_{t-1}) = N(√(1-β_t) x_{t-1}, β_t I)``. Writing ``α_t = 1 - β_t`` and
``ᾱ_t = ∏_{s≤t} α_s``, the chain collapses to one jump (eq. 3–4; the paper's "α_t" there is this
cumulative ᾱ_t): ``x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε`` with ``ε ~ N(0, I)``.

Reverse process (eq. 5): like DiffuRec, the denoiser ``f_θ(x_t, t)`` predicts the clean ``x̂_0``
(not the noise) and is trained with the squared error of eq. (6). Plugging ``x̂_0`` into the true
posterior ``q(x_{t-1} | x_t, x_0)`` gives the DDPM step; the DDIM family generalises it to a jump
``t → s`` for any ``s < t``:

    x_s = √ᾱ_s x̂_0 + √(1 - ᾱ_s - σ²) ε̂ + σ z,   ε̂ = (x_t - √ᾱ_t x̂_0) / √(1-ᾱ_t),
    σ = η √((1-ᾱ_s)/(1-ᾱ_t)) √(1 - ᾱ_t/ᾱ_s),

so ``η = 1, s = t-1`` samples the DDPM posterior and ``η = 0`` is deterministic. ``ᾱ_0 = 1``, so
``s = 0`` returns ``x̂_0`` itself.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

SCHEDULES = ("trunc_lin", "linear", "cosine")


def beta_schedule(name: str, T: int) -> Tensor:
    """Noise variances β_1 … β_T of eq. (1) as a float64 tensor of shape (T,).

    ``trunc_lin`` is DiffuRec's (inherited from DiffuSeq), ``linear`` DDPM's rescaled to T steps,
    ``cosine`` Nichol & Dhariwal's (s = 0.008, β clipped at 0.999).

    Implements eq. (1).
    """
    if T < 1:
        raise ValueError(f"number of diffusion steps T must be at least 1, got T={T}")
    scale = 1000 / T
    if name == "trunc_lin":
        end = scale * 0.02 + 0.01
        # DiffuRec/DiffuSeq fall back to a 20x flatter end point when β_T would exceed 1
        end = end if end <= 1 else scale * 0.001 + 0.01
        return torch.linspace(scale * 1e-4 + 0.01, end, T, dtype=torch.float64)
    if name == "linear":
        return torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64)
    if name == "cosine":
        steps = torch.arange(T + 1, dtype=torch.float64)
        # ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2)
        f = torch.cos((steps / T + 0.008) / 1.008 * math.pi / 2) ** 2
        # β_t = 1 - ᾱ(t)/ᾱ(t-1), clipped so the last steps stay finite
        return (1 - f[1:] / f[:-1]).clamp(max=0.999)
    raise ValueError(f"unknown noise schedule {name!r}; choose one of {SCHEDULES}")


def _at(values: Tensor, index: Tensor | int, like: Tensor) -> Tensor:
    """``values[index]`` shaped to broadcast over the trailing dimensions of ``like``."""
    picked = values[torch.as_tensor(index, device=values.device)]
    return picked.reshape(picked.shape + (1,) * (like.dim() - picked.dim()))


class NoiseSchedule:
    """β_t, α_t, ᾱ_t and the posterior coefficients for steps t = 1 … T (stored at index t-1).

    Implements eq. (2).
    """

    def __init__(self, name: str = "trunc_lin", T: int = 32, max_alpha_bar_T: float = 0.05):
        betas = beta_schedule(name, T)  # (T,) float64, so ᾱ_T is not lost to rounding
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError(
                f"noise schedule {name!r} with T={T} has β_t outside (0, 1) "
                f"(max β_t = {betas.max().item():.4f}); use a larger T or another schedule {SCHEDULES}"
            )
        # α_t = 1 - β_t
        alphas = 1 - betas
        # ᾱ_t = ∏_{s=1}^t α_s, with ᾱ_0 = 1 in front so index t is step t
        alpha_bar_by_step = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(alphas, 0)])
        if alpha_bar_by_step[-1] > max_alpha_bar_T:
            raise ValueError(
                f"noise schedule {name!r} with T={T} only reaches ᾱ_T = {alpha_bar_by_step[-1].item():.4f} "
                f"> max_alpha_bar_T = {max_alpha_bar_T}: x_T would still carry x_0, so sampling from "
                f"N(0, I) would not match training; use a larger T or another schedule {SCHEDULES}"
            )
        alpha_bars, alpha_bars_prev = alpha_bar_by_step[1:], alpha_bar_by_step[:-1]
        self.name, self.T = name, T
        self.betas = betas.float()
        self.alphas = alphas.float()
        self.alpha_bars = alpha_bars.float()
        self.alpha_bars_prev = alpha_bars_prev.float()
        self.alpha_bar_by_step = alpha_bar_by_step.float()  # (T+1,) ᾱ_0 = 1, …, ᾱ_T
        self.sqrt_alpha_bars = alpha_bars.sqrt().float()
        self.sqrt_one_minus_alpha_bars = (1 - alpha_bars).sqrt().float()
        # β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t)
        self.posterior_variance = (betas * (1 - alpha_bars_prev) / (1 - alpha_bars)).float()
        # μ̃_t = β_t √ᾱ_{t-1} / (1 - ᾱ_t) · x_0 + (1 - ᾱ_{t-1}) √α_t / (1 - ᾱ_t) · x_t
        self.posterior_coef_x0 = (betas * alpha_bars_prev.sqrt() / (1 - alpha_bars)).float()
        self.posterior_coef_xt = ((1 - alpha_bars_prev) * alphas.sqrt() / (1 - alpha_bars)).float()

    def to(self, device: torch.device | str) -> "NoiseSchedule":
        """Move every tensor to ``device`` (in place, like ``nn.Module.to``) and return self."""
        for key, value in vars(self).items():
            if isinstance(value, Tensor):
                setattr(self, key, value.to(device))
        return self

    def _check_steps(self, t: Tensor | int, lowest: int = 1) -> None:
        t = torch.as_tensor(t)
        if t.numel() and (int(t.min()) < lowest or int(t.max()) > self.T):
            raise ValueError(
                f"diffusion steps must lie in {lowest}..{self.T}, got values from {int(t.min())} "
                f"to {int(t.max())}"
            )

    def q_sample(
        self, x0: Tensor, t: Tensor, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Draw x_t ~ q(x_t | x_0) (eq. 3–4); ``t`` is (batch,) steps in 1..T, x0 is (batch, …).

        Implements eq. (3)–(4).
        """
        self._check_steps(t)
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        # x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε
        mean_coef = _at(self.sqrt_alpha_bars, t - 1, x0)
        return mean_coef * x0 + _at(self.sqrt_one_minus_alpha_bars, t - 1, x0) * noise

    def q_posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean μ̃_t and variance β̃_t of the true posterior q(x_{t-1} | x_t, x_0).

        Implements eq. (5).
        """
        self._check_steps(t)
        mean = _at(self.posterior_coef_x0, t - 1, x0) * x0 + _at(self.posterior_coef_xt, t - 1, xt) * xt
        return mean, _at(self.posterior_variance, t - 1, xt).expand_as(mean)

    def predict_noise(self, xt: Tensor, t: Tensor | int, x0_hat: Tensor) -> Tensor:
        """The ε̂ that, with x̂_0, reproduces x_t through eq. (4)."""
        # ε̂ = (x_t - √ᾱ_t x̂_0) / √(1-ᾱ_t)
        signal = _at(self.sqrt_alpha_bars, t - 1, xt) * x0_hat
        return (xt - signal) / _at(self.sqrt_one_minus_alpha_bars, t - 1, xt)

    def step(
        self,
        xt: Tensor,
        t: Tensor | int,
        s: Tensor | int,
        x0_hat: Tensor,
        eta: float = 1.0,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        """One reverse update x_t → x_s (s < t; s = 0 returns x̂_0) from the predicted x̂_0 (eq. 5).

        ``eta = 1`` with ``s = t-1`` samples the DDPM posterior, ``eta = 0`` is deterministic (DDIM);
        ``noise`` fixes z, otherwise it is drawn with ``generator``.

        Implements eq. (5).
        """
        if not 0 <= eta <= 1:
            raise ValueError(f"eta must lie in [0, 1] (0 = DDIM, 1 = DDPM), got {eta}")
        self._check_steps(t)
        self._check_steps(s, lowest=0)
        if bool((torch.as_tensor(s) >= torch.as_tensor(t)).any()):
            raise ValueError(f"step goes backwards in time: need s < t, got t={t}, s={s}")
        abar_t = _at(self.alpha_bar_by_step, t, xt)
        abar_s = _at(self.alpha_bar_by_step, s, xt)
        eps_hat = self.predict_noise(xt, t, x0_hat)
        # σ = η √((1-ᾱ_s)/(1-ᾱ_t)) √(1 - ᾱ_t/ᾱ_s)
        sigma = eta * ((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)).sqrt()
        if noise is None:
            noise = torch.randn(xt.shape, generator=generator, device=xt.device, dtype=xt.dtype)
        # x_s = √ᾱ_s x̂_0 + √(1-ᾱ_s-σ²) ε̂ + σ z   (clamp: rounding can make 1-ᾱ_s-σ² a hair negative)
        eps_coef = (1 - abar_s - sigma**2).clamp(min=0).sqrt()
        return abar_s.sqrt() * x0_hat + eps_coef * eps_hat + sigma * noise

    def timesteps(self, k: int) -> list[int]:
        """``k`` evenly strided steps from T down to 1, e.g. T=32, k=4 → [32, 24, 16, 8]."""
        if not 1 <= k <= self.T:
            raise ValueError(f"number of sampling steps k must lie in 1..T={self.T}, got k={k}")
        return [self.T - (i * self.T) // k for i in range(k)]

    @torch.no_grad()
    def sample(
        self,
        denoise: Callable[[Tensor, Tensor], Tensor],
        shape: tuple[int, ...],
        k: int | None = None,
        eta: float = 1.0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        return_trajectory: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Run the reverse chain from x_T ~ N(0, I) over ``k`` strided steps (all T by default).

        ``denoise(x_t, t)`` gets (batch, …) states and (batch,) steps and returns x̂_0; the result is
        the last x̂_0, plus the visited states x_T, …, x_{t_k} when ``return_trajectory``. ``generator``
        must live on ``device`` (default: the generator's device, else CPU). Runs without gradients.

        Implements eq. (5).
        """
        steps = self.timesteps(self.T if k is None else k)
        device = device if device is not None else (generator.device if generator is not None else "cpu")
        xt = torch.randn(shape, generator=generator, device=device)  # x_T
        trajectory = []
        for t, s in zip(steps, steps[1:] + [0]):
            trajectory.append(xt)
            x0_hat = denoise(xt, torch.full((shape[0],), t, dtype=torch.long, device=device))
            xt = self.step(xt, t, s, x0_hat, eta=eta, generator=generator)
        return (x0_hat, trajectory) if return_trajectory else x0_hat


def diffusion_loss(x0_hat: Tensor, x0: Tensor, mask: Tensor | None = None) -> Tensor:
    """Eq. (6): squared error averaged over the feature dimension, then over positions in ``mask``.

    ``x0_hat`` and ``x0`` are (…, dim); ``mask`` (…) is True where a position counts (all if None);
    an empty mask gives 0.

    Implements eq. (6).
    """
    if x0_hat.shape != x0.shape:
        raise ValueError(f"diffusion_loss: x0_hat has shape {tuple(x0_hat.shape)}, x0 {tuple(x0.shape)}")
    # ‖f_θ(x_t, t) - x_0‖² / dim at every position
    per_position = (x0_hat - x0).pow(2).mean(-1)
    if mask is None:
        return per_position.mean()
    if mask.shape != per_position.shape:
        raise ValueError(
            f"diffusion_loss: mask has shape {tuple(mask.shape)}, expected {tuple(per_position.shape)}"
        )
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)
