"""Lesson 05 — the tri-view contrastive loss (paper §Training Objective, eq. 13) and its weight in eq. (14):
figures, widgets, the alignment and uniformity of Wang & Isola (2020) and exercises. The loss is
:mod:`dpgdiff_lite.losses`, the augmentations :mod:`dpgdiff_lite.data.augment`, the views ``DPGDiff.views``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.augment import AUGMENTATIONS, DEFAULT_RATES, MASK, apply
from dpgdiff_lite.data.dataset import Batch, CrossDomainDataset, case_batch, domain_of
from dpgdiff_lite.data.synthetic import NOISE
from dpgdiff_lite.experiments.eq15 import ndcg_row
from dpgdiff_lite.lessons.common import (DOMAIN_COLOURS, LABEL_LETTERS, event_box, figure, grouped_bars, float_slider, not_attempted, not_attempted_message, teaching_config, widget)
from dpgdiff_lite.parameters import CheckedParams, integer
from dpgdiff_lite.losses import info_nce, tri_view_loss
from dpgdiff_lite.model import DPGDiff

VIEWS = ("h_c", "h_d", "h_aug")
PAIRS = (("h_c", "h_d"), ("h_c", "h_aug"), ("h_d", "h_aug"))
"""The three intra-user positive pairs of eq. (13)."""
MASK_COLOUR = "0.8"


@dataclass(frozen=True)
class LessonParams(CheckedParams):
    """The notebook's papermill parameters, checked at once so a bad value names itself."""

    seed: int = integer(0, 0)
    epochs: int = integer(5, 1)  # training epochs per run; the teaching preset trains to early stopping (about 8)
    dim: int = integer(32, 1)  # embedding size (teaching preset: 64)
    weights_cl: tuple[float, ...] = (0.0, 0.1, 1.0)  # weight of L_tri-cl in eq. (14), one run each
    n_show: int = integer(4, 1)  # users in the step-by-step InfoNCE
    n_geometry: int = integer(512, 1)  # validation users for alignment / uniformity

    def check(self) -> None:
        if self.n_show < 2:
            raise ValueError(f"n_show must be at least 2 so there is a negative, got {self.n_show}")
        if not self.weights_cl or any(w < 0 for w in self.weights_cl):
            raise ValueError(f"weights_cl must be a non-empty tuple of weights >= 0, got {self.weights_cl!r}")
        self.config()  # the package's Config raises its own message for a bad dim / steps

    def config(self, weight_cl: float | None = None) -> Config:
        """The teaching preset for DPG-Diff (k = 1 reverse step at inference, the default notebook 04
        measured best), shrunk to run in seconds; validation only after the last epoch."""
        cl = {} if weight_cl is None else {"weight_cl": float(weight_cl)}
        return teaching_config("dpgdiff", epochs=self.epochs, dim=self.dim, seed=self.seed, **cl)


# --- augmentations ------------------------------------------------------------------------------
def layout(original: np.ndarray, augmented: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where to draw each augmented event and whether it differs from the original there.

    A crop is drawn under the window it kept; an insertion's new events are found by matching the
    original as a subsequence; same-length results (mask, reorder, substitute) compare slot by slot.
    Returns (x positions, changed) of length len(augmented).
    """
    n, m = len(original), len(augmented)
    if m == n:
        return np.arange(m, dtype=float), augmented != original
    if m < n:  # crop: a contiguous window
        start = next(s for s in range(n - m + 1) if np.array_equal(original[s:s + m], augmented))
        return np.arange(start, start + m, dtype=float), np.zeros(m, dtype=bool)
    changed, i = np.ones(m, dtype=bool), 0  # insert: greedy subsequence match keeps the originals
    for j, item in enumerate(augmented):
        if i < n and item == original[i]:
            changed[j], i = False, i + 1
    return np.arange(m, dtype=float), changed


def _draw_row(ax, y: float, items: np.ndarray, offsets: np.ndarray, x: np.ndarray,
              changed: np.ndarray | None = None, labels: np.ndarray | None = None) -> None:
    domains = domain_of(items, offsets)
    for k, (item, dom) in enumerate(zip(items, domains)):
        colour = MASK_COLOUR if item == MASK else DOMAIN_COLOURS[dom % len(DOMAIN_COLOURS)]
        event_box(ax, x[k], y, colour, "M" if item == MASK else str(item),
                  edge="red" if changed is not None and changed[k] else "white",
                  text_colour="black" if item == MASK else "white", fontsize=6,
                  hatch="//" if labels is not None and labels[k] == NOISE else None)
        if labels is not None:
            ax.text(x[k], y - 0.55, LABEL_LETTERS[int(labels[k])], ha="center", va="center", fontsize=6)


def _finish_rows(ax, names: list[str], width: int, domain_names: tuple[str, ...]) -> None:
    ax.set(xlim=(-0.7, width - 0.3), ylim=(-len(names) + 0.2, 0.6), xlabel="position in the sequence (oldest first)",
           xticks=range(0, width, 2))
    ax.set_yticks([-i for i in range(len(names))], names)
    ax.tick_params(axis="y", length=0, labelsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.spines[["top", "right", "left"]].set_visible(False)
    handles = [Rectangle((0, 0), 1, 1, facecolor=DOMAIN_COLOURS[d], label=f"domain {name}")
               for d, name in enumerate(domain_names)]
    handles += [Rectangle((0, 0), 1, 1, facecolor=MASK_COLOUR, label="MASK"),
                Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="red", linewidth=2, label="changed"),
                Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="0.3", hatch="//", label="planted noise")]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles),
              fontsize=7, frameon=False)


def plot_augmentations(seq: np.ndarray, labels: np.ndarray, offsets: np.ndarray,
                       domain_names: tuple[str, ...] = ("X", "Y"), ops: tuple[str, ...] = AUGMENTATIONS,
                       rates: dict[str, float] | None = None, seed: int = 0) -> Figure:
    """The original sequence (with its planted labels I/S/N) and one draw of each operator below it."""
    rates = {**DEFAULT_RATES, **(rates or {})}
    rng = np.random.default_rng(seed)
    rows = [(op, apply(seq, op, rates[op], offsets, rng)) for op in ops]
    width = max(len(seq), *(len(a) for _, a in rows))
    fig = figure(0.42 * width + 1.6, 0.55 * (len(rows) + 1) + 0.9)
    ax = fig.subplots()
    _draw_row(ax, 0, seq, offsets, np.arange(len(seq), dtype=float), labels=labels)
    for i, (op, augmented) in enumerate(rows, start=1):
        x, changed = layout(seq, augmented)
        _draw_row(ax, -i, augmented, offsets, x, changed)
    _finish_rows(ax, ["original"] + [f"{op} ({rates[op]:g})" for op, _ in rows], width, domain_names)
    return fig


def augmentation_widget(seq: np.ndarray, labels: np.ndarray, offsets: np.ndarray,
                        domain_names: tuple[str, ...] = ("X", "Y"), seed: int = 0):
    """A dropdown over the five operators and a rate slider; returns (widget, update),
    update(op, rate) -> Figure of the original and its augmented copy (same seed for every move)."""
    import ipywidgets as widgets

    def update(op: str, rate: float) -> Figure:
        return plot_augmentations(seq, labels, offsets, domain_names, ops=(op,), rates={op: rate}, seed=seed)

    return widget(update, op=widgets.Dropdown(options=AUGMENTATIONS, value="mask", description="operator"),
                  rate=float_slider("rate", DEFAULT_RATES["mask"], 0.0, 1.0))


# --- the three views of eq. (13) ---------------------------------------------------------------
@torch.no_grad()
def contrastive_views(model: DPGDiff, batch: Batch, seed: int = 0, steps: int | None = None) -> dict[str, Tensor]:
    """h_c, h_d and h_aug of eq. (13) at the last position of each row, each (B, D), on the CPU.

    ``DPGDiff.views``, as in training, except that h_c = x̂_0 is *generated* from x_T ~ N(0, I)
    (inference, eq. 15) rather than denoised from a noisy copy of the known target (training);
    ``seed`` draws both x_T and s_aug.
    """
    model.eval()
    batch = batch.to(model.device)
    generator = torch.Generator(device=model.device).manual_seed(seed)
    x0_hat, guidance = model.generate(batch, steps=steps, generator=generator)  # (B, D)
    views = model.views(batch, x0_hat, guidance, np.random.default_rng(seed))  # refuses a model without h_d
    return {name: h.float().cpu() for name, h in views.items()}


def plot_similarities(views: dict[str, Tensor], temperature: float = 1.0) -> Figure:
    """One heatmap of h_iᵀh_j / τ per positive pair of views; the diagonal (same user) is boxed."""
    fig = figure(9.0, 3.0)
    for ax, (a, b) in zip(fig.subplots(1, len(PAIRS)), PAIRS):
        sim = (views[a] @ views[b].T / temperature).numpy()  # (B, B)
        image = ax.imshow(sim, cmap="viridis")
        n = len(sim)
        middle = (sim.max() + sim.min()) / 2
        for i in range(n):
            ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
            for j in range(n):
                ax.text(j, i, f"{sim[i, j]:.1f}", ha="center", va="center", fontsize=7,
                        color="black" if sim[i, j] > middle else "white")
        ax.set(title=f"{a}ᵀ {b}", xlabel=f"user j ({b})", ylabel=f"user i ({a})",
               xticks=range(n), yticks=range(n))
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


# --- alignment and uniformity (Wang & Isola 2020) ------------------------------------------------
def alignment(x: Tensor, y: Tensor, alpha: float = 2.0) -> Tensor:
    """Exercise 2 (reference): E‖f(x) − f(y)‖^α over positive pairs (row i of x with row i of y),
    on L2-normalised rows. 0 when the views coincide, 4 when every pair is antipodal (α = 2)."""
    x, y = F.normalize(x.float(), dim=1), F.normalize(y.float(), dim=1)
    return (x - y).norm(dim=1).pow(alpha).mean()


def uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    """Exercise 2 (reference): log E exp(−t‖f(x_i) − f(x_j)‖²) over all pairs i < j of L2-normalised
    rows. 0 when all rows coincide; lower means spread more evenly over the sphere."""
    x = F.normalize(x.float(), dim=1)
    return torch.pdist(x).pow(2).mul(-t).exp().mean().log()


def geometry_table(models: dict[str, DPGDiff], batch: Batch, seed: int = 0) -> pd.DataFrame:
    """Per model: alignment of each positive pair, uniformity of each view and L_tri-cl (eq. 13)."""
    rows = {}
    for name, model in models.items():
        views = contrastive_views(model, batch, seed)
        row = {f"align({a},{b})": alignment(views[a], views[b]).item() for a, b in PAIRS}
        row |= {f"unif({v})": uniformity(views[v]).item() for v in VIEWS}
        row["L_tri-cl"] = tri_view_loss(*(views[v] for v in VIEWS), model.config.temperature,
                                        model.config.cl_similarity).item()
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


TRI_CL_MEASURES = ("inference h_c, all users", "inference h_c, batches of 128", "training h_c, batches of 128")
"""The three ways :func:`tri_cl_breakdown` measures L_tri-cl on the same validation users."""


@torch.no_grad()
def tri_cl_breakdown(model: DPGDiff, dataset: CrossDomainDataset, n_users: int, batch_size: int = 128,
                     seed: int = 0) -> dict[str, float]:
    """L_tri-cl (eq. 13) of the first ``n_users`` validation users, measured the three ways of
    :data:`TRI_CL_MEASURES`: generated h_c with all users as negatives (:func:`geometry_table`'s value), the
    same in batches of ``batch_size``, and ``model.loss_terms`` as training computes it (dropout off)."""
    model.eval()
    views = contrastive_views(model, case_batch(dataset, np.arange(n_users), "valid"), seed)
    tau, similarity = model.config.temperature, model.config.cl_similarity
    starts = range(0, len(views["h_c"]), batch_size)
    chunks = [tri_view_loss(*(views[v][i:i + batch_size] for v in VIEWS), tau, similarity).item() for i in starts]
    generator = torch.Generator(device=model.device).manual_seed(seed)
    rng = np.random.default_rng(seed)
    training = [model.loss_terms(case_batch(dataset, np.arange(i, min(i + batch_size, n_users)), "valid").to(model.device),
                                 generator, rng)["cl"].item() for i in starts]
    return {TRI_CL_MEASURES[0]: tri_view_loss(*(views[v] for v in VIEWS), tau, similarity).item(),
            TRI_CL_MEASURES[1]: float(np.mean(chunks)), TRI_CL_MEASURES[2]: float(np.mean(training))}


def tri_cl_table(results: dict, dataset: CrossDomainDataset, n_users: int, batch_size: int = 128,
                 seed: int = 0) -> pd.DataFrame:
    """:func:`tri_cl_breakdown` of every run (``results`` maps ``weight_cl`` to a ``TrainResult``; rows
    ``w_cl=<weight>``), beside the training history's L_tri-cl of its last epoch."""
    rows = {f"w_cl={w:g}": {**tri_cl_breakdown(r.model, dataset, n_users, batch_size, seed),
                            "last epoch, training": float(r.history["loss_cl"].iloc[-1])} for w, r in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def plot_geometry(table: pd.DataFrame) -> Figure:
    """Grouped bars: alignment per positive pair (left) and uniformity per view (right); lower is better."""
    fig = figure(9.0, 3.0)
    for ax, prefix, title in zip(fig.subplots(1, 2), ("align", "unif"),
                                 ("alignment  E‖f(x)−f(y)‖²  (lower: positives closer)",
                                  "uniformity  log E exp(−2‖f(x)−f(y)‖²)  (lower: more spread)")):
        columns = [c for c in table.columns if c.startswith(prefix)]
        grouped_bars(ax, {name: row[columns] for name, row in table.iterrows()}, [c[len(prefix):] for c in columns], fontsize=8)
        ax.set_xlabel("positive pair" if prefix == "align" else "view", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.axhline(0, color="0.3", linewidth=0.5)
    fig.axes[0].legend(fontsize=7)
    return fig


def describe_geometry(table: pd.DataFrame, baseline: str = "w_cl=0", n_users: int | None = None) -> str:
    """Plain-language comparison of each trained row of ``geometry_table`` with ``baseline`` (the run
    without the contrastive gradient): how many pairs align better, how many views spread more, and
    L_tri-cl against the chance level log B (computed from the table, so the text cannot drift)."""
    if baseline not in table.index:
        raise ValueError(f"baseline {baseline!r} is not a row of the table; rows are {list(table.index)}")
    align = [c for c in table.columns if c.startswith("align")]
    unif = [c for c in table.columns if c.startswith("unif")]
    base = table.loc[baseline]

    def better(row: pd.Series, columns: list[str], prefix: str) -> str:
        names = [c[len(prefix):].strip("()") for c in columns if row[c] < base[c]]
        return f"{len(names)}/{len(columns)}" + (f" ({'; '.join(names)})" if names else "")

    lines = [f"{name} vs {baseline}: closer positives on {better(row, align, 'align')} pairs, "
             f"more spread on {better(row, unif, 'unif')} views; L_tri-cl {row['L_tri-cl']:.2f} vs {base['L_tri-cl']:.2f}"
             for name, row in table.drop(index=baseline).iterrows()]
    if n_users:
        lines.append(f"chance level of L_tri-cl for {n_users} users: log {n_users} = {np.log(n_users):.2f}")
    return "\n".join(lines)


# --- the weight of L_tri-cl in eq. (14) ---------------------------------------------------------
def sweep_table(results: dict) -> pd.DataFrame:
    """Validation NDCG@10 per domain and their mean, the last epoch's L_tri-cl (the mean over that
    epoch's training batches) and seconds per epoch, one row per ``weight_cl`` (``results`` maps the
    weight to a ``TrainResult``)."""
    rows = {}
    for weight, result in results.items():
        rows[weight] = {**ndcg_row(result.valid.table["NDCG@10"]),
                        "L_tri-cl (last epoch, training)": float(result.history["loss_cl"].iloc[-1]),
                        "s/epoch": result.seconds_per_epoch}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("weight_cl")


def plot_weight_sweep(table: pd.DataFrame) -> Figure:
    """Validation NDCG@10 (×100) per domain for each contrastive weight."""
    domains = [c for c in table.columns if c.startswith("NDCG@10 ") and c != "NDCG@10 mean"]
    fig = figure(4.6, 2.8)
    ax = fig.subplots()
    grouped_bars(ax, {f"domain {column.split()[-1]}": table[column] for column in domains}, [f"{w:g}" for w in table.index],
                 [DOMAIN_COLOURS[k % len(DOMAIN_COLOURS)] for k in range(len(domains))])
    ax.set(xlabel="weight_cl (weight of L_tri-cl in eq. 14)", ylabel="validation NDCG@10 (×100)")
    ax.legend(fontsize=8)
    return fig


def describe_sweep(table: pd.DataFrame, noise: float = 0.3) -> str:
    """One line per weight: mean validation NDCG@10 and its difference from the smallest weight,
    flagged as within ``noise`` or not. The default 0.3 is about how far same-seed differences between
    weights moved across seeds 0–3 in our check of the notebook's 5-epoch runs."""
    base_weight = min(table.index)
    base = table.loc[base_weight, "NDCG@10 mean"]
    lines = [f"weight_cl={base_weight:g}: mean NDCG@10 {base:.2f} (reference)"]
    for weight, row in table.drop(index=base_weight).iterrows():
        diff = row["NDCG@10 mean"] - base
        verdict = "within seed noise" if abs(diff) < noise else ("better" if diff > 0 else "worse")
        lines.append(f"weight_cl={weight:g}: mean NDCG@10 {row['NDCG@10 mean']:.2f} ({diff:+.2f}: {verdict})")
    return "\n".join(lines)


# --- exercises: reference solutions and checkers -------------------------------------------------
def info_nce_by_hand(a: Tensor, b: Tensor, temperature: float = 1.0) -> Tensor:
    """Exercise 1 (reference): eq. (13) for one pair of views, both directions averaged.

    For anchor h_i in ``a`` the positive is b_i and the negatives 𝓗_i^- are the other rows of ``b``:
    −log exp(s_ii) / Σ_j exp(s_ij) = logsumexp_j(s_ij) − s_ii with s_ij = a_iᵀ b_j / τ; then the same
    with ``b`` as anchors (the columns of s). logsumexp keeps large dot products from overflowing.
    """
    s = (a.double() @ b.double().T) / temperature  # (B, B)
    positives = s.diagonal()
    rows = (torch.logsumexp(s, dim=1) - positives).mean()
    columns = (torch.logsumexp(s, dim=0) - positives).mean()
    return ((rows + columns) / 2).float()


def check_info_nce(fn: Callable[[Tensor, Tensor, float], Tensor], seed: int = 0) -> str:
    """Compare a reader's ``fn(a, b, temperature)`` with ``losses.info_nce`` at τ = 1 and τ = 0.2."""
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.randn(8, 5, generator=generator), torch.randn(8, 5, generator=generator)
    errors = []
    for tau in (1.0, 0.2):
        result = fn(a, b, tau)
        if not_attempted(result):
            return not_attempted_message("contrast.info_nce_by_hand")
        errors.append(abs(float(result) - info_nce(a, b, tau).item()))
    if max(errors) < 1e-4:
        return "correct: matches losses.info_nce at τ = 1 and τ = 0.2"
    return f"mismatch: |difference| = {errors[0]:.4f} at τ = 1, {errors[1]:.4f} at τ = 0.2"


def check_alignment_uniformity(align_fn: Callable[[Tensor, Tensor], Tensor],
                               unif_fn: Callable[[Tensor], Tensor], seed: int = 0,
                               models: dict[str, DPGDiff] | None = None, batch: Batch | None = None,
                               table: pd.DataFrame | None = None) -> str:
    """Compare a reader's ``align_fn(x, y)`` and ``unif_fn(x)`` with :func:`alignment` / :func:`uniformity`
    on random, deliberately un-normalised embeddings; then, given the ``models``, ``batch`` and ``table``
    of :func:`geometry_table` (same ``seed``), check that they reproduce every alignment and uniformity
    cell of that table from the views of each model."""
    generator = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(32, 6, generator=generator)
    y = x + torch.randn(32, 6, generator=generator)
    mine_align, mine_unif = align_fn(x, y), unif_fn(x)
    if not_attempted(mine_align) or not_attempted(mine_unif):
        return not_attempted_message("contrast.alignment, contrast.uniformity")
    da = abs(float(mine_align) - alignment(x, y).item())
    du = abs(float(mine_unif) - uniformity(x).item())
    if da >= 1e-4 or du >= 1e-4:
        return f"mismatch: |alignment difference| = {da:.4f}, |uniformity difference| = {du:.4f}"
    if models is None or batch is None or table is None:
        return "correct: alignment and uniformity match"
    for name, model in models.items():
        views = contrastive_views(model, batch, seed)
        mine = {f"align({a},{b})": float(align_fn(views[a], views[b])) for a, b in PAIRS}
        mine |= {f"unif({v})": float(unif_fn(views[v])) for v in VIEWS}
        for column, value in mine.items():
            if abs(value - table.loc[name, column]) >= 1e-4:
                return f"mismatch with the table: {name} {column}: yours {value:.4f}, the table {table.loc[name, column]:.4f}"
    return f"correct: matches alignment and uniformity, and reproduces all {len(PAIRS) + len(VIEWS)} columns for {len(models)} models of the table"
