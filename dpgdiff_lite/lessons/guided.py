"""Lesson 04 — the guided reverse process (paper §Disentangled Preference Guided Diffusion Process,
eq. 9) and inference (§Optimization and Inference, eq. 15).

The figures, widgets, tables and exercises of ``04_guided_denoising.ipynb``: the decoder's cross-attention
labelled with the planted truth, the reverse trajectory x_T → x̂_0 projected onto the item embeddings,
guided against unguided, and one user under test-time noise. What they draw is read off the model by
:mod:`dpgdiff_lite.readout` and :func:`~dpgdiff_lite.experiments.robustness.noisy_ranking`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor, nn

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import PAD, Batch, CrossDomainDataset, domain_of
from dpgdiff_lite.data.synthetic import INVARIANT, LABEL_NAMES, NOISE, SPECIFIC, SyntheticTruth
from dpgdiff_lite.experiments.robustness import NoisyRanking, noisy_ranking
from dpgdiff_lite.lessons.common import (DOMAIN_COLOURS, LABEL_LETTERS, Projection, event_box, figure, grouped_bars, float_slider, int_slider, not_attempted, not_attempted_message, teaching_config, widget)
from dpgdiff_lite.parameters import CheckedParams, integer
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.readout import ATTENTION_GROUPS, TOKEN_KINDS, item_points, memory_kinds, reverse_trajectory

LABEL_COLOURS = {INVARIANT: "tab:green", SPECIFIC: "tab:purple", NOISE: "tab:red"}


@dataclass(frozen=True)
class LessonParams(CheckedParams):
    """The notebook's papermill parameters, checked at once so a bad value names itself."""

    seed: int = integer(0, 0)
    epochs: int = integer(5, 1)  # training epochs per model (the teaching preset stops early after about 8)
    dim: int = integer(64, 1)  # embedding size (the teaching preset's)
    n_attention: int = integer(1000, 1)  # test users averaged in the attention-by-label table
    steps: tuple[int, ...] = (1, 4, 32)  # reverse steps k measured on the validation split
    test_noise: float = 0.3  # default position of the noise-injection slider

    def check(self) -> None:
        if not 0.0 <= self.test_noise <= 1.0:
            raise ValueError(f"test_noise must lie in [0, 1], got {self.test_noise!r}")
        T = self.config().T
        if not self.steps or any(not isinstance(k, int) or not 1 <= k <= T for k in self.steps):
            raise ValueError(f"steps must be a non-empty tuple of integers in 1..T={T}, got {self.steps!r}")

    def config(self, model: str = "dpgdiff") -> Config:
        """The teaching preset for ``model``, shortened; validated once, after the last epoch."""
        return teaching_config(model, epochs=self.epochs, dim=self.dim, seed=self.seed)


# --- cases and their planted labels ---------------------------------------------------------------
# --- eq. (9): the decoder's cross-attention -----------------------------------------------------


def memory_tokens(batch: Batch, row: int, labels: np.ndarray, offsets: np.ndarray,
                  domain_names: tuple[str, ...] = ("X", "Y")) -> pd.DataFrame:
    """One row per guidance-memory column of batch row ``row``, in memory order: kind (null /
    invariant / specific / noise / padding), domain, item (global id) and tick (a short label).
    ``labels`` is (B, L) as for :func:`memory_kinds`."""
    kinds = memory_kinds(batch, labels)[row]  # (M,)
    records = [dict(kind="null", domain="", item=PAD, tick="null")]
    column = 1
    for d, name in enumerate(domain_names):
        for local in batch.domain_items[d][row].cpu().numpy():
            kind = kinds[column]
            column += 1
            if kind == PAD:
                records.append(dict(kind="padding", domain=name, item=PAD, tick=""))
                continue
            item = int(local + offsets[d])
            records.append(dict(kind=TOKEN_KINDS[kind], domain=name, item=item,
                                tick=f"{name}:{item} {LABEL_LETTERS[int(kind) - 1]}"))
    return pd.DataFrame.from_records(records)


def plot_attention(weights: Tensor, tokens: pd.DataFrame, items: np.ndarray, labels: np.ndarray,
                   title: str = "") -> Figure:
    """Heatmap of one user's cross-attention: query positions (rows) × memory tokens (columns).

    Padding rows and columns are dropped; blocked (future) tokens are blank; tick labels carry the
    item id and planted label (I / S / N), noise events in red.
    """
    rows = np.flatnonzero(items != PAD)
    columns = np.flatnonzero(tokens["kind"].to_numpy() != "padding")
    w = weights.numpy()[np.ix_(rows, columns)]  # (events, tokens)
    blocked = np.isclose(w, 0.0)
    fig = figure(0.36 * len(columns) + 2.4, 0.3 * len(rows) + 1.9)
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_where(blocked, w), cmap="viridis", vmin=0.0, aspect="auto")
    ax.set_xticks(range(len(columns)), tokens["tick"].to_numpy()[columns], rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), [f"{i}: {items[i]} {LABEL_LETTERS[int(labels[i])]}" for i in rows], fontsize=7)
    for tick, kind in zip(ax.get_xticklabels(), tokens["kind"].to_numpy()[columns]):
        tick.set_color(LABEL_COLOURS[NOISE] if kind == "noise" else "black")
    for tick, i in zip(ax.get_yticklabels(), rows):
        tick.set_color(LABEL_COLOURS[NOISE] if labels[i] == NOISE else "black")
    domains = tokens["domain"].to_numpy()[columns]
    for boundary in np.flatnonzero(domains[1:] != domains[:-1]):
        ax.axvline(boundary + 0.5, color="white", linewidth=1.5)
    ax.set(xlabel="memory token (null | Encoder_x events | Encoder_y events)",
           ylabel="query: position, item, label", title=title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    return fig


def attention_figure(weights: Tensor, tokens: pd.DataFrame, items: np.ndarray, labels: np.ndarray,
                     offsets: np.ndarray, domain_names: tuple[str, ...] = ("X", "Y"), title: str = ""):
    """One user's cross-attention as (plotly figure, matplotlib figure) for
    :func:`dpgdiff_lite.lessons.common.interactive`: the heatmap of :func:`plot_attention`, and in plotly
    a hover on every cell naming the query's and the memory token's item, domain and planted label
    and the weight (blocked, future tokens are blank)."""
    import plotly.graph_objects as go

    rows = np.flatnonzero(items != PAD)
    columns = np.flatnonzero(tokens["kind"].to_numpy() != "padding")
    w = weights.numpy()[np.ix_(rows, columns)]  # (events, tokens)
    domains = domain_of(items[rows], offsets)
    queries = [f"query {i}: item {items[i]}, domain {domain_names[d]}, {LABEL_NAMES[int(labels[i])]}"
               for i, d in zip(rows, domains)]
    kept = tokens.iloc[columns]
    keys = ["null token (no guidance)" if kind == "null" else f"item {item}, domain {domain}, {kind}"
            for kind, item, domain in zip(kept["kind"], kept["item"], kept["domain"])]
    z = np.where(np.isclose(w, 0.0), None, w.round(4)).tolist()
    hover = [[f"{q}<br>attends to {k}" for k in keys] for q in queries]
    plot = go.Figure(go.Heatmap(z=z, x=kept["tick"].tolist(), y=[f"{i}: {items[i]} {LABEL_LETTERS[int(labels[i])]}" for i in rows],
                                customdata=hover, colorscale="Viridis", zmin=0.0, colorbar={"title": "weight"},
                                hovertemplate="%{customdata}<br>weight %{z:.3f}<extra></extra>"))
    plot.update_layout(title={"text": title, "font": {"size": 13}}, width=760, height=140 + 26 * len(rows),
                       xaxis={"title": "memory token (null | Encoder_x events | Encoder_y events)", "tickangle": -90},
                       yaxis={"title": "query: position, item, label", "autorange": "reversed"},
                       margin={"l": 120, "r": 20, "t": 50, "b": 110}, template="plotly_white")
    return plot, plot_attention(weights, tokens, items, labels, title=title)


def plot_attention_by_label(table: pd.DataFrame) -> Figure:
    """Grouped bars: the mean weight one memory token of each group receives at the last query, per
    model (rows of :func:`attention_table`), with uniform attention as a dashed line."""
    groups = list(ATTENTION_GROUPS)
    fig = figure(7.0, 2.9)
    ax = fig.subplots()
    grouped_bars(ax, {name: [row[f"per token: {group}"] for group in groups] for name, row in table.iterrows()}, groups,
                 fontsize=8)
    ax.axhline(float(table["uniform per token"].iloc[0]), color="0.3", linestyle="--", linewidth=1,
               label="uniform over allowed tokens")
    ax.axvline(len(TOKEN_KINDS) - 0.5, color="0.6", linewidth=0.8)
    ax.set(xlabel="memory tokens: by planted label  |  by recency", ylabel="mean weight per token")
    ax.legend(fontsize=7, loc="upper left")
    return fig


# --- the reverse trajectory x_T → x̂_0 -----------------------------------------------------------


def target_rank(scores: Tensor, target: int) -> int:
    """Exercise 2 (reference): 1-based rank of ``target`` among all items, ties counted against it
    (pessimistic): every item scoring at least as high as the target, the target included."""
    return int((scores >= scores[target]).sum())


@torch.no_grad()
def plot_trajectories(models: dict[str, DPGDiff], batch: Batch, k: int) -> Figure:
    """One panel per model: items of the target's domain (grey), the eq. (15) top 10 (black rings),
    the target (red star) and the reverse chain x_T → … → x̂_0 in k steps, in one 2-D PCA of the
    items (at the √D scale x_0 lives on) and the chain's points together."""
    domain, target = int(batch.target_domains[0, -1]), int(batch.target_local[0, -1])
    fig = figure(4.0 * len(models), 3.6)
    for ax, (name, model) in zip(np.atleast_1d(fig.subplots(1, len(models))), models.items()):
        items, path = item_points(model, domain), reverse_trajectory(model, batch, k)
        chain = np.vstack([path.states, path.x0_hat[None]])  # (k + 1, D): x_T, …, x_{t_k}, x̂_0
        projection = Projection.fit(np.vstack([items, chain]))
        scores = model.score(batch.to(model.device), domain, steps=k)[0].float().cpu()
        top = scores.topk(10).indices.numpy()
        flat = projection(items)
        ax.scatter(*flat.T, s=4, color="0.75", label="items (x_0)")
        ax.scatter(*flat[top].T, s=30, facecolors="none", edgecolors="black", label="top 10 (eq. 15)")
        ax.scatter(*flat[target], s=160, marker="*", color="tab:red", zorder=4, label="target")
        xy = projection(chain)
        ax.plot(*xy.T, "-", color="tab:blue", linewidth=1.0, zorder=3)
        ax.scatter(*xy[:-1].T, c=path.steps, cmap="Blues", vmin=0, vmax=model.config.T, s=22,
                   edgecolors="tab:blue", zorder=3, label="x_t (darker: larger t)")
        ax.scatter(*xy[-1], marker="D", s=40, color="tab:blue", zorder=5, label="x̂_0")
        ax.annotate("x_T", xy[0], fontsize=8, xytext=(4, 4), textcoords="offset points")
        ax.set_title(f"{name}, k={k}: target rank {target_rank(scores, target)} of {len(scores)}", fontsize=9)
        ax.set_xlabel(f"PC 1 ({projection.explained[0]:.0%} of the variance)", fontsize=8)
        ax.set_ylabel(f"PC 2 ({projection.explained[1]:.0%})", fontsize=8)
    fig.axes[0].legend(fontsize=6, loc="best")
    return fig


@torch.no_grad()
def chain_table(models: dict[str, DPGDiff], batch: Batch, steps: tuple[int, ...]) -> pd.DataFrame:
    """For the first row of ``batch`` and each k: the target's eq. (15) rank and the norm ‖x̂_0‖ of
    each model's k-step x̂_0, next to the norm of the target's own x_0 (what x̂_0 is trained to match)."""
    domain, target = int(batch.target_domains[0, -1]), int(batch.target_local[0, -1])
    first = next(iter(models.values()))
    target_x0 = item_points(first, domain)[target]
    rows = {}
    for k in steps:
        row = {}
        for name, model in models.items():
            scores = model.score(batch.to(model.device), domain, steps=k)[0].float().cpu()
            row[f"{name} rank"] = target_rank(scores, target)
            row[f"{name} ‖x̂_0‖"] = float(np.linalg.norm(reverse_trajectory(model, batch, k).x0_hat))
        row["‖x_0‖ of the target"] = float(np.linalg.norm(target_x0))
        rows[k] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("k")


def trajectory_widget(models: dict[str, DPGDiff], batch: Batch, default: int = 4):
    """An integer slider over k = 1 … T; returns (widget, update), update(k) -> Figure of
    :func:`plot_trajectories`."""
    def update(k: int) -> Figure:
        return plot_trajectories(models, batch, k)

    return widget(update, k=int_slider("steps k", default, 1, next(iter(models.values())).config.T))


# --- test-time noise on one user -----------------------------------------------------------------
def plot_noisy_ranking(result: NoisyRanking, truth: SyntheticTruth, offsets: np.ndarray) -> Figure:
    """Top: the corrupted history (domain colours, injected events outlined red, topic under each).
    Bottom: the top 10 of eq. (15) with their planted topic; bars of a topic the original history
    contains in blue, of a topic only injected events brought in red, others grey; the target hatched."""
    fig = figure(7.2, 4.6)
    strip, bars = fig.subplots(2, 1, height_ratios=[1, 3])
    domains = domain_of(result.noisy, offsets)
    for x, (item, dom, injected, label) in enumerate(zip(result.noisy, domains, result.injected, result.labels)):
        event_box(strip, x, 0, DOMAIN_COLOURS[dom], str(item), edge="red" if injected else "white", fontsize=6)
        letter = "+" if injected else LABEL_LETTERS[int(label)]
        strip.text(x, -0.6, f"t{truth.item_topic[item]} {letter}", ha="center", va="center", fontsize=6)
    strip.set(xlim=(-0.6, max(len(result.noisy), 10) - 0.4), ylim=(-0.8, 0.5), yticks=[])
    strip.set_title(f"r = {result.rate:.2f}: {int(result.injected.sum())} of {len(result.noisy)} events injected "
                    f"(red outline, +); below each: planted topic t·, label I/S/N", fontsize=8)
    strip.tick_params(labelsize=6)
    top = result.top
    topics = truth.item_topic[top["item"].to_numpy()]
    colours = ["tab:blue" if k in result.clean_topics else "tab:red" if k in result.noise_topics else "0.6" for k in topics]
    y = np.arange(len(top))[::-1]
    drawn = bars.barh(y, top["score"], color=colours)
    for patch, is_target in zip(drawn, top["target"]):
        if is_target:
            patch.set(hatch="//", edgecolor="black")
    bars.set_yticks(y, [f"{r}. item {i} · {t}" + ("  ← target" if g else "")
                        for r, i, t, g in zip(top["rank"], top["item"], top["topic"], top["target"])], fontsize=7)
    bars.set_xlabel("score (x̂_0 + ĝ_d)ᵀ E_d  (eq. 15)", fontsize=8)
    handles = [Rectangle((0, 0), 1, 1, color=c, label=text) for c, text in
               (("tab:blue", "topic in the original history"), ("tab:red", "topic only injected events bring"),
                ("0.6", "topic not in the history"))]
    bars.legend(handles=handles, fontsize=7, loc="lower right")
    bars.set_title(f"top 10 — target item {result.target} ({truth.topic_name(result.target)}) "
                   f"at rank {result.rank} of {result.n_items}", fontsize=9)
    bars.tick_params(axis="x", labelsize=7)
    low = float(top["score"].min())
    bars.set_xlim(low - 0.1 * (float(top["score"].max()) - low + 1e-6), None)
    return fig


def noise_widget(model, dataset: CrossDomainDataset, truth: SyntheticTruth, case: int, seed: int = 0,
                 default: float = 0.3):
    """A test-noise slider r ∈ [0, 1]; returns (widget, update), update(r) -> Figure of
    :func:`plot_noisy_ranking` for :func:`noisy_ranking` at rate r."""
    def update(rate: float) -> Figure:
        return plot_noisy_ranking(noisy_ranking(model, dataset, truth, case, rate, seed), truth, dataset.offsets)

    return widget(update, rate=float_slider("noise r", default, 0.0, 1.0))


# --- exercises: reference solutions and checkers -------------------------------------------------
def attention_row_by_hand(mha: nn.MultiheadAttention, query: Tensor, memory: Tensor, allowed: Tensor) -> Tensor:
    """Exercise 1 (reference): one query's attention weights over the memory, averaged over heads.

    query (D,), memory (M, D), allowed (M,) bool → (M,): per head h, softmax over allowed keys of
    q_h·k_h / √d_h with q = W_q query + b_q, k = W_k memory + b_k (the first two thirds of
    ``in_proj_weight``), d_h = D / heads; blocked keys get −∞ before the softmax, so weight 0.
    """
    heads, dim = mha.num_heads, mha.embed_dim
    d_h = dim // heads
    w_q, w_k, _ = mha.in_proj_weight.chunk(3)
    b_q, b_k, _ = mha.in_proj_bias.chunk(3)
    q = (query @ w_q.T + b_q).view(heads, d_h)  # (heads, d_h)
    k = (memory @ w_k.T + b_k).view(len(memory), heads, d_h).transpose(0, 1)  # (heads, M, d_h)
    logits = (k @ q[:, :, None])[..., 0] / math.sqrt(d_h)  # (heads, M)
    return logits.masked_fill(~allowed, float("-inf")).softmax(-1).mean(0)


def check_attention_row(fn: Callable[[nn.MultiheadAttention, Tensor, Tensor, Tensor], Tensor], seed: int = 0) -> str:
    """Compare a reader's ``fn(mha, query, memory, allowed)`` with the weights nn.MultiheadAttention
    returns, for every query of a tiny masked example, with 1 and with 2 heads."""
    errors = []
    for heads in (1, 2):
        with torch.random.fork_rng():  # seed the module's initialisation without touching the caller's stream
            torch.manual_seed(seed)
            mha = nn.MultiheadAttention(8, heads, batch_first=True).eval()
        generator = torch.Generator().manual_seed(seed)
        queries, memory = torch.randn(3, 8, generator=generator), torch.randn(5, 8, generator=generator)
        allowed = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], dtype=torch.bool)
        with torch.no_grad():
            _, expected = mha(queries[None], memory[None], memory[None], attn_mask=~allowed)  # (1, 3, 5)
            for i in range(len(queries)):
                result = fn(mha, queries[i], memory, allowed[i])
                if not_attempted(result):
                    return not_attempted_message("guided.attention_row_by_hand")
                errors.append(float((torch.as_tensor(result) - expected[0, i]).abs().max()))
    if max(errors) < 1e-5:
        return "correct: matches nn.MultiheadAttention's weights for every query, with 1 and 2 heads"
    return f"mismatch: largest |difference| = {max(errors):.4f}"


def check_target_rank(fn: Callable[[Tensor, int], int]) -> str:
    """Compare a reader's ``fn(scores, target)`` with :func:`target_rank` on cases with and without ties."""
    cases = [(torch.tensor([0.1, 0.5, 0.3, 0.9]), 2), (torch.tensor([0.2, 0.7, 0.7, 0.7, 0.1]), 1),
             (torch.tensor([1.0, 1.0, 1.0]), 0), (torch.tensor([3.0, 2.0, 1.0]), 0)]
    for scores, target in cases:
        result = fn(scores, target)
        if not_attempted(result):
            return not_attempted_message("guided.target_rank")
        if int(result) != target_rank(scores, target):
            return (f"mismatch: scores {scores.tolist()}, target {target}: got rank {int(result)}, "
                    f"expected {target_rank(scores, target)} (ties count against the target)")
    return "correct: matches the pessimistic rank on all four cases, ties included"
