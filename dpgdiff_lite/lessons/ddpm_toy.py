"""Lesson 01 — vanilla diffusion (paper §Preliminary, eq. 1–6) on 2-D toy data and item embeddings.

Everything the notebook ``01_ddpm_basics.ipynb`` computes or draws lives here, so it is tested:
the toy data, the x_0-predicting MLP denoiser, sample-quality metrics, figures, the two widgets and
the reference solutions of the exercises. The diffusion maths itself is :mod:`dpgdiff_lite.diffusion`
(``NoiseSchedule``); this module only calls it.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so nothing is drawn twice in a
notebook and tests can inspect them (axes, lines, scatter offsets).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from dpgdiff_lite.diffusion import SCHEDULES, NoiseSchedule, beta_schedule, diffusion_loss
from dpgdiff_lite.lessons.common import figure, int_slider, not_attempted, not_attempted_message, widget
from dpgdiff_lite.parameters import CheckedParams, check_int

TOY_KINDS = ("gaussians", "moons")
SAMPLERS = {"DDPM (η=1)": 1.0, "DDIM (η=0)": 0.0}


@dataclass(frozen=True)
class LessonParams(CheckedParams):
    """The notebook's papermill parameters, checked at once so a bad value names itself."""

    seed: int = 0
    toy: str = "gaussians"  # one of TOY_KINDS
    n_points: int = 2000  # size of the 2-D toy data set
    schedule: str = "trunc_lin"  # DiffuRec's schedule
    T: int = 32  # DiffuRec's number of diffusion steps
    train_steps: int = 1500  # Adam steps of the toy denoiser
    n_items: int = 200  # rows of the untrained item table
    dim: int = 64  # embedding size

    def check(self) -> None:
        if self.toy not in TOY_KINDS:
            raise ValueError(f"toy must be one of {TOY_KINDS}, got {self.toy!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        check_int("seed", self.seed, 0)
        for name in ("n_points", "train_steps", "n_items", "dim"):
            check_int(name, getattr(self, name), 1)
        check_int("T", self.T, 2, maximum=1000)  # DDPM's own T; beyond it a toy only fills memory
        if self.n_items < 2:
            raise ValueError(f"n_items must be at least 2 so retrieval can go wrong, got {self.n_items}")
        NoiseSchedule(self.schedule, self.T)  # raises the package's own message for a bad T

    def noise_schedule(self) -> NoiseSchedule:
        return NoiseSchedule(self.schedule, self.T)


# --- data ---------------------------------------------------------------------------------
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


# --- forward process (eq. 1–4) --------------------------------------------------------------
def forward_states(data: np.ndarray, schedule: NoiseSchedule, steps: list[int], seed: int = 0) -> dict[int, np.ndarray]:
    """x_t of every point for each t in ``steps`` (0 = the data), one fixed ε shared by all t (eq. 4)."""
    x0 = torch.as_tensor(data)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    states = {}
    for t in steps:
        if t == 0:
            states[t] = data
            continue
        t_batch = torch.full((len(x0),), t, dtype=torch.long)
        states[t] = schedule.q_sample(x0, t_batch, noise=noise).numpy()
    return states


def _scatter(ax, points: np.ndarray, title: str, ghost: np.ndarray | None = None) -> None:
    if ghost is not None:
        ax.scatter(ghost[:, 0], ghost[:, 1], s=2, color="0.8", label="data x_0")
    ax.scatter(points[:, 0], points[:, 1], s=2, color="tab:blue", alpha=0.6)
    ax.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), aspect="equal", title=title)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_forward(data: np.ndarray, schedule: NoiseSchedule, steps: tuple[int, ...] = (0, 1, 4, 8, 16, 32),
                 seed: int = 0) -> Figure:
    """One panel per t: the toy data pushed through q(x_t | x_0) (eq. 3–4)."""
    states = forward_states(data, schedule, list(steps), seed)
    fig = figure(1.9 * len(steps), 2.2)
    for ax, t in zip(fig.subplots(1, len(steps)), steps):
        _scatter(ax, states[t], f"t={t}  ᾱ={schedule.alpha_bar_by_step[t].item():.2f}")
    return fig


def forward_widget(data: np.ndarray, schedule: NoiseSchedule, seed: int = 0, start: int = 0):
    """A slider over t (starting at ``start``) showing x_t of the toy data; returns (widget, update),
    update(t) -> Figure."""
    states = forward_states(data, schedule, list(range(schedule.T + 1)), seed)

    def update(t: int) -> Figure:
        fig = figure(3.4, 3.4)
        ax = fig.subplots()
        abar = schedule.alpha_bar_by_step[t].item()
        _scatter(ax, states[t], f"x_t at t={t}: √ᾱ_t={abar ** 0.5:.2f}, √(1-ᾱ_t)={(1 - abar) ** 0.5:.2f}",
                 ghost=data)
        ax.title.set_fontsize(9)
        return fig

    return widget(update, t=int_slider("t", start, 0, schedule.T))


# --- schedules ------------------------------------------------------------------------------
def plot_schedules(T: int = 32) -> Figure:
    """β_t (log scale) and ᾱ_t of the three schedules at the same T (eq. 1 and 3)."""
    fig = figure(8, 2.8)
    ax_beta, ax_abar = fig.subplots(1, 2)
    steps = np.arange(1, T + 1)
    for name in SCHEDULES:
        schedule = NoiseSchedule(name, T)
        ax_beta.plot(steps, schedule.betas.numpy(), label=name)
        ax_abar.plot(np.arange(T + 1), schedule.alpha_bar_by_step.numpy(), label=name)
    ax_beta.set(yscale="log", xlabel="step t", ylabel="β_t", title=f"noise added per step (T={T})")
    ax_abar.set(xlabel="step t", ylabel="ᾱ_t", title="signal kept: ᾱ_t = ∏ (1-β_s)")
    ax_abar.axhline(0.05, color="0.5", ls=":", lw=1, label="package limit for ᾱ_T")
    ax_abar.legend(fontsize=8)
    return fig


def alpha_bar_table(T: int = 32, steps: tuple[int, ...] = (1, 2, 4, 8, 16, 24, 32)) -> pd.DataFrame:
    """ᾱ_t of each schedule at a few t (rows t, columns schedules), rounded to 4 decimals."""
    table = {name: NoiseSchedule(name, T).alpha_bar_by_step[list(steps)].double().numpy() for name in SCHEDULES}
    return pd.DataFrame(table, index=pd.Index(steps, name="t")).round(4)


def final_alpha_bar_table(Ts: tuple[int, ...] = (8, 16, 20, 21, 32, 64)) -> pd.DataFrame:
    """ᾱ_T of each schedule for several T, and whether ``NoiseSchedule`` accepts it."""
    rows = {}
    for T in Ts:
        row = {}
        for name in SCHEDULES:
            betas = beta_schedule(name, T)
            try:
                NoiseSchedule(name, T)
                verdict = "ok"
            except ValueError:
                verdict = "refused"
            if bool((betas >= 1).any()):
                row[name] = f"β_t ≥ 1, {verdict}"
            else:
                row[name] = f"{torch.prod(1 - betas).item():.4f}, {verdict}"
        rows[T] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("T")


# --- item embeddings under noise ------------------------------------------------------------
def embedding_noise_curve(table: Tensor, schedule: NoiseSchedule, draws: int = 4, seed: int = 0,
                          scale: float = 1.0) -> pd.DataFrame:
    """How recognisable x_t stays as its item x_0 = scale · e_v (rows of ``table``, (n_items, D)).

    Per t: the mean cosine(x_t, x_0) and the share of (item, draw) pairs whose highest-scoring item
    under the dot product x_tᵀ E (the scoring of eq. 15) is still v. ``scale`` = √D is the model's
    x_0 (``ItemEmbeddings`` lookups); 1 is the raw table. ``seed`` draws ε; it must not be the seed
    that drew ``table``, or ε would copy the rows.
    """
    table = table.detach().float()
    x0 = scale * table.repeat(draws, 1)  # (draws · n_items, D)
    target = torch.arange(len(table)).repeat(draws)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    rows = [{"t": 0, "cosine to x_0": 1.0, "top-1 is x_0": float((x0 @ table.T).argmax(1).eq(target).float().mean())}]
    for t in range(1, schedule.T + 1):
        xt = schedule.q_sample(x0, torch.full((len(x0),), t), noise=noise)
        cosine = torch.nn.functional.cosine_similarity(xt, x0, dim=1).mean().item()
        top1 = (xt @ table.T).argmax(1).eq(target).float().mean().item()
        rows.append({"t": t, "cosine to x_0": cosine, "top-1 is x_0": top1})
    return pd.DataFrame(rows).set_index("t")


def last_recognised_step(curve: pd.DataFrame, level: float = 0.5) -> int:
    """The last t at which at least ``level`` of the noisy items still retrieve their own x_0."""
    kept = curve.index[curve["top-1 is x_0"] >= level]
    return int(kept.max())


def plot_embedding_noise(curve: pd.DataFrame, n_items: int) -> Figure:
    """Cosine(x_t, x_0) and the top-1 retrieval rate against t, with the 1/n_items chance level."""
    fig = figure(5, 2.8)
    ax = fig.subplots()
    ax.plot(curve.index, curve["cosine to x_0"], marker=".", label="cosine(x_t, x_0)")
    ax.plot(curve.index, curve["top-1 is x_0"], marker=".", label="argmax_v x_tᵀe_v = x_0")
    ax.axhline(1 / n_items, color="0.5", ls=":", label=f"chance 1/{n_items}")
    ax.set(xlabel="step t", ylabel="value", title="an item embedding under forward noise")
    ax.legend(fontsize=8)
    return fig


# --- the toy denoiser f_θ(x_t, t) -> x̂_0 --------------------------------------------------------
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


def plot_samples(data: np.ndarray, samples: np.ndarray) -> Figure:
    """Data next to generated samples, same axes."""
    fig = figure(5.8, 2.9)
    ax_data, ax_samples = fig.subplots(1, 2)
    _scatter(ax_data, data, "data x_0 ~ q(x_0)")
    _scatter(ax_samples, samples, "samples x̂_0 (reverse process)")
    return fig


def plot_trajectories(data: np.ndarray, trajectories: dict[str, np.ndarray], n_paths: int = 12) -> Figure:
    """One panel per sampler: the first ``n_paths`` points followed from x_T (×) to x̂_0 over the data."""
    fig = figure(2.9 * len(trajectories), 2.9)
    axes = np.atleast_1d(fig.subplots(1, len(trajectories)))
    for ax, (name, trajectory) in zip(axes, trajectories.items()):
        ax.scatter(data[:, 0], data[:, 1], s=2, color="0.8")
        for i in range(min(n_paths, trajectory.shape[1])):
            ax.plot(trajectory[:, i, 0], trajectory[:, i, 1], lw=0.8, color="tab:red")
        ax.scatter(trajectory[0, :n_paths, 0], trajectory[0, :n_paths, 1], s=14, color="black", marker="x",
                   label="x_T", zorder=3)
        ax.scatter(trajectory[-1, :n_paths, 0], trajectory[-1, :n_paths, 1], s=10, color="tab:red", label="x̂_0",
                   zorder=3)
        ax.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), aspect="equal", title=f"{name}: x_T → x̂_0")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, loc="lower right")
    return fig


# --- sample quality ---------------------------------------------------------------------------
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
    grid = sorted({k for base in (1, 3) for k in (base * 2 ** i for i in range(12)) if k <= T} | {T})
    return grid


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


def _plot_curve(ax_quality, ax_time, curve: pd.DataFrame, marker_k: int | None = None) -> None:
    for sampler, group in curve.groupby("sampler", sort=False):
        ax_quality.plot(group["k"], group["sliced W1"], marker=".", label=sampler)
        ax_time.plot(group["k"], group["wall ms"], marker=".", label=sampler)
    ax_quality.set(xlabel="reverse steps k", ylabel="sliced W1 to data (lower = better)", yscale="log")
    ax_time.set(xlabel="reverse steps k", ylabel="wall time (ms)")
    ax_quality.legend(fontsize=8)
    if marker_k is not None:
        for ax in (ax_quality, ax_time):
            ax.axvline(marker_k, color="0.4", ls="--", lw=1)


def plot_step_count_curve(curve: pd.DataFrame) -> Figure:
    """Sample quality and wall time against the number of reverse steps k, one line per sampler."""
    fig = figure(8, 2.8)
    _plot_curve(*fig.subplots(1, 2), curve)
    return fig


def step_count_widget(model: nn.Module, schedule: NoiseSchedule, data: np.ndarray, n: int = 1000, seed: int = 0,
                      curve: pd.DataFrame | None = None, start: int | None = None):
    """A slider over k (starting at ``start``, default T): DDPM and DDIM samples with k steps and where
    k sits on the quality curve.

    Returns (widget, update); update(k) -> Figure with four axes (two sample panels, quality, time).
    """
    curve = curve if curve is not None else step_count_curve(model, schedule, data, n=n, seed=seed)

    def update(k: int) -> Figure:
        fig = figure(11, 2.8)
        axes = fig.subplots(1, 4)
        for ax, (sampler, eta) in zip(axes[:2], SAMPLERS.items()):
            samples = sample_toy(model, schedule, n, k=k, eta=eta, seed=seed)
            _scatter(ax, samples, f"{sampler}, k={k}\nsliced W1={sliced_wasserstein(samples, data, seed=seed):.3f}",
                     ghost=data)
            ax.title.set_fontsize(9)
        _plot_curve(axes[2], axes[3], curve, marker_k=k)
        return fig

    return widget(update, k=int_slider("steps k", schedule.T if start is None else start, 1, schedule.T))


# --- exercises: reference solutions and checkers -------------------------------------------------
def q_sample_by_hand(x0: Tensor, t: Tensor, betas: Tensor, noise: Tensor) -> Tensor:
    """Exercise 1: eq. (4) from the β_t alone. ``t`` (batch,) in 1..T, ``x0``/``noise`` (batch, D)."""
    # ᾱ_t = ∏_{s≤t} (1 - β_s); index t-1 holds step t
    alpha_bar = torch.cumprod(1 - betas.double(), 0)[t - 1].float()[:, None]  # (batch, 1)
    # x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def posterior_coefficients_by_hand(betas: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Exercise 2: (c_0, c_t, β̃) with q(x_{t-1} | x_t, x_0) = N(c_0 x_0 + c_t x_t, β̃ I), each (T,).

    Completing the square in q(x_t | x_{t-1}) q(x_{t-1} | x_0) gives
    c_0 = β_t √ᾱ_{t-1} / (1-ᾱ_t), c_t = √α_t (1-ᾱ_{t-1}) / (1-ᾱ_t), β̃ = β_t (1-ᾱ_{t-1}) / (1-ᾱ_t).
    """
    betas = betas.double()
    alphas = 1 - betas
    alpha_bar = torch.cumprod(alphas, 0)
    alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])  # ᾱ_0 = 1
    c0 = betas * alpha_bar_prev.sqrt() / (1 - alpha_bar)
    ct = alphas.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar)
    variance = betas * (1 - alpha_bar_prev) / (1 - alpha_bar)
    return c0.float(), ct.float(), variance.float()


def check_q_sample(fn: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor], schedule: NoiseSchedule,
                   seed: int = 0) -> str:
    """Compare a reader's ``fn(x0, t, betas, noise)`` with ``NoiseSchedule.q_sample`` on random inputs."""
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.randn(64, 8, generator=generator)
    noise = torch.randn(64, 8, generator=generator)
    t = torch.randint(1, schedule.T + 1, (64,), generator=generator)
    result = fn(x0, t, schedule.betas, noise)
    if not_attempted(result):
        return not_attempted_message("ddpm_toy.q_sample_by_hand")
    expected = schedule.q_sample(x0, t, noise=noise)
    if tuple(result.shape) != tuple(expected.shape):
        return f"wrong shape: got {tuple(result.shape)}, expected {tuple(expected.shape)}"
    error = (result - expected).abs().max().item()
    return "correct: matches NoiseSchedule.q_sample" if error < 1e-5 else f"mismatch: max |difference| = {error:.4f}"


def check_posterior(fn: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]], schedule: NoiseSchedule,
                    seed: int = 0) -> str:
    """Compare a reader's ``fn(betas) -> (c_0, c_t, β̃)`` with ``NoiseSchedule.q_posterior``."""
    result = fn(schedule.betas)
    if not_attempted(result):
        return not_attempted_message("ddpm_toy.posterior_coefficients_by_hand")
    c0, ct, variance = (torch.as_tensor(r, dtype=torch.float32) for r in result)
    generator = torch.Generator().manual_seed(seed)
    x0, xt = torch.randn(schedule.T, 8, generator=generator), torch.randn(schedule.T, 8, generator=generator)
    t = torch.arange(1, schedule.T + 1)
    mean, var = schedule.q_posterior(x0, xt, t)
    mean_error = (c0[:, None] * x0 + ct[:, None] * xt - mean).abs().max().item()
    var_error = (variance - var[:, 0]).abs().max().item()
    if mean_error < 1e-4 and var_error < 1e-5:
        return "correct: matches NoiseSchedule.q_posterior"
    return f"mismatch: max |mean difference| = {mean_error:.4f}, max |variance difference| = {var_error:.4f}"
