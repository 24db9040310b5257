"""The 2-D toy diffusion of notebook 01 (paper §Preliminary, eq. 1–6): toy data, an x_0-predicting MLP
f_θ(x_t, t) trained with eq. (6), its reverse-process sampler (eq. 5, via ``NoiseSchedule.sample``), two
sample-quality distances and their curve over the number of reverse steps k. The schedule maths is
:mod:`dpgdiff_lite.diffusion`."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from dpgdiff_lite.diffusion import NoiseSchedule, diffusion_loss

TOY_KINDS = ("gaussians", "moons")
SAMPLERS = {"DDPM (η=1)": 1.0, "DDIM (η=0)": 0.0}
"""The two samplers notebook 01 compares: η of ``NoiseSchedule.sample`` (1 = DDPM, 0 = DDIM)."""


def toy_data(n: int, kind: str = "gaussians", seed: int = 0) -> np.ndarray:
    """``n`` points of a 2-D toy distribution with roughly unit variance per axis, (n, 2) float32.

    ``gaussians``: eight tight Gaussians on a circle of radius √2; ``moons``: two interleaved
    half-circles, centred and scaled.
    """
    if kind not in TOY_KINDS:
        raise ValueError(f"unknown toy data {kind!r}; choose one of {TOY_KINDS}")
    rng = np.random.default_rng(seed)
    if kind == "gaussians":
        angle = rng.integers(0, 8, n) * (2 * np.pi / 8)
        centres = math.sqrt(2) * np.stack([np.cos(angle), np.sin(angle)], 1)
        return (centres + 0.1 * rng.standard_normal((n, 2))).astype(np.float32)
    upper = rng.random(n) < 0.5
    theta = rng.random(n) * np.pi
    x = np.where(upper, np.cos(theta), 1 - np.cos(theta))
    y = np.where(upper, np.sin(theta), 0.5 - np.sin(theta))
    points = np.stack([x, y], 1) + 0.06 * rng.standard_normal((n, 2))
    return ((points - points.mean(0)) / points.std(0)).astype(np.float32)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread: for a 2-D MLP, threads cost more than they save on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ToyDenoiser(nn.Module):
    """An MLP that predicts x̂_0 from (x_t, t) for 2-D data, like DiffuRec's f_θ (eq. 5–6).

    x_t enters raw and through fixed random Fourier features sin/cos(x_t B) (Tancik et al. 2020),
    which let a small MLP draw the sharp curves of the data within a few seconds of training.
    """

    def __init__(self, T: int, hidden: int = 128, n_fourier: int = 32, fourier_scale: float = 3.0,
                 time_dim: int = 16, seed: int = 0):
        super().__init__()
        self.T = T
        fourier = torch.randn(2, n_fourier, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("fourier", fourier_scale * fourier)  # (2, n_fourier)
        # sinusoidal time features at geometric frequencies, as in Transformer positions
        self.register_buffer("freqs", torch.exp(torch.linspace(0, math.log(100.0), time_dim // 2)))
        self.net = nn.Sequential(
            nn.Linear(2 + 2 * n_fourier + time_dim, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 2),
        )

    def forward(self, xt: Tensor, t: Tensor) -> Tensor:
        """(batch, 2) states and (batch,) steps in 1..T → (batch, 2) x̂_0."""
        angle = (t.float() / self.T)[:, None] * self.freqs  # (batch, time_dim/2)
        phase = xt @ self.fourier  # (batch, n_fourier)
        return self.net(torch.cat([xt, phase.sin(), phase.cos(), angle.sin(), angle.cos()], dim=1))


def train_toy_denoiser(data: np.ndarray, schedule: NoiseSchedule, steps: int = 1500, seed: int = 0,
                       batch_size: int = 256, lr: float = 5e-3) -> tuple[ToyDenoiser, list[float]]:
    """Fit f_θ with the x_0-prediction loss of eq. (6) on CPU; returns the model and the loss per step.

    Steps are drawn with P(t) ∝ 1/t rather than uniformly: the best f_θ(·, t) is E[x_0 | x_t] for
    every t either way, but small t, where the loss is tiny and the detail is decided, get more updates.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # nn.Linear initialisation has no generator argument
    model = ToyDenoiser(schedule.T, seed=seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    x_all = torch.as_tensor(data)
    step_weights = 1 / torch.arange(1, schedule.T + 1, dtype=torch.float64)  # P(t) ∝ 1/t
    losses = []
    with one_thread():
        for _ in range(steps):
            x0 = x_all[torch.randint(len(x_all), (batch_size,), generator=generator)]
            t = torch.multinomial(step_weights, batch_size, replacement=True, generator=generator) + 1
            xt = schedule.q_sample(x0, t, generator=generator)  # eq. (4)
            loss = diffusion_loss(model(xt, t), x0)  # ‖f_θ(x_t, t) - x_0‖², eq. (6)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
    model.eval()
    return model, losses


def sample_toy(model: nn.Module, schedule: NoiseSchedule, n: int, k: int | None = None, eta: float = 1.0,
               seed: int = 0, return_trajectory: bool = False):
    """Reverse process (eq. 5) from x_T ~ N(0, I) in ``k`` strided steps via ``NoiseSchedule.sample``.

    Returns (n, 2) samples, or (samples, trajectory) with the trajectory an array
    (k+1, n, 2): the visited x_T, …, x_{t_k} followed by the final x̂_0.
    """
    generator = torch.Generator().manual_seed(seed)
    with one_thread():
        result = schedule.sample(model, (n, 2), k=k, eta=eta, generator=generator,
                                 return_trajectory=return_trajectory)
    if not return_trajectory:
        return result.numpy()
    x0_hat, states = result
    return x0_hat.numpy(), torch.stack([*states, x0_hat]).numpy()


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_projections: int = 64, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance: the mean over random directions of the W1 of the projections.

    Quantiles at 200 common levels stand in for sorted samples, so ``a`` and ``b`` may differ in size.
    """
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((a.shape[1], n_projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)  # (dim, n_projections)
    levels = (np.arange(200) + 0.5) / 200
    qa = np.quantile(a @ directions, levels, axis=0)  # (200, n_projections)
    qb = np.quantile(b @ directions, levels, axis=0)
    return float(np.abs(qa - qb).mean())


def mean_nn_distance(samples: np.ndarray, data: np.ndarray) -> float:
    """Mean distance from each sample to its nearest data point (low = samples lie on the data)."""
    distances = torch.cdist(torch.as_tensor(samples, dtype=torch.float32), torch.as_tensor(data, dtype=torch.float32))
    return float(distances.min(1).values.mean())


def default_step_counts(T: int) -> list[int]:
    """1, 2, 3, 4, 6, 8, 12, 16, 24, 32, … up to T (and T itself): a cheap grid over k."""
    return sorted({k for base in (1, 3) for k in (base * 2 ** i for i in range(12)) if k <= T} | {T})


def step_count_curve(model: nn.Module, schedule: NoiseSchedule, data: np.ndarray, ks: list[int] | None = None,
                     n: int = 1000, seed: int = 0, repeats: int = 3) -> pd.DataFrame:
    """Quality and wall time of sampling with k reverse steps, DDPM (η=1) and DDIM (η=0).

    ``ks`` defaults to :func:`default_step_counts`. Columns: k, sampler, sliced W1, NN distance,
    wall ms (the fastest of ``repeats`` runs).
    """
    rows = []
    for k in ks or default_step_counts(schedule.T):
        for sampler, eta in SAMPLERS.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                samples = sample_toy(model, schedule, n, k=k, eta=eta, seed=seed)
                times.append(time.perf_counter() - start)
            rows.append({"k": k, "sampler": sampler, "sliced W1": sliced_wasserstein(samples, data, seed=seed),
                         "NN distance": mean_nn_distance(samples, data), "wall ms": 1000 * min(times)})
    return pd.DataFrame(rows)
