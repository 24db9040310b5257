"""What a trained DPG-Diff does at inference, read off its public methods (``context``, ``guidance``,
``denoise``, ``generate``): the Decoder's cross-attention over the guidance memory by kind of token
(eq. 9) and the reverse chain x_T → x̂_0 behind eq. (15). Notebook 04 draws them (``lessons.guided``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from dpgdiff_lite.data.dataset import PAD, Batch
from dpgdiff_lite.data.synthetic import INVARIANT, LABEL_NAMES, NOISE, SPECIFIC
from dpgdiff_lite.model import DPGDiff


TOKEN_KINDS = ("null", *LABEL_NAMES)
"""Memory tokens by what they hold: the learned null token, or an event with its planted label."""


def memory_kinds(batch: Batch, labels: np.ndarray) -> np.ndarray:
    """What each guidance-memory column holds, (B, M): an index into :data:`TOKEN_KINDS` (0 null,
    1 + planted label for an event) or PAD for padding.

    The memory is [null, Encoder_x outputs, Encoder_y outputs] (``fusion="memory"``): column c of
    domain d is that domain's c-th event (left-padded). ``labels`` (B, L) holds the planted labels
    aligned with ``batch.items`` (``data.dataset.left_pad``).
    """
    n_pad = (batch.items == PAD).sum(1).cpu().numpy()[:, None]  # (B, 1)
    kinds = [np.zeros((len(batch), 1), dtype=np.int64)]
    for local, where in zip(batch.domain_items, batch.domain_positions):
        local, where = local.cpu().numpy(), where.cpu().numpy()
        column = np.where(local == PAD, 0, n_pad + where)  # column of each event in the mixed row
        kinds.append(np.where(local == PAD, PAD, 1 + np.take_along_axis(labels, column, 1)))
    return np.concatenate(kinds, 1)


@torch.no_grad()
def decoder_attention(model: DPGDiff, batch: Batch, t: int | None = None, seed: int = 0) -> Tensor:
    """The Decoder's cross-attention weights (B, L, M), head-averaged, at diffusion step ``t`` (default T).

    Every position is denoised at once, as in training, from x_t ~ N(0, I); the queries are
    Encoder_c's output plus the timestep embedding, so x_t itself never reaches the weights, only t
    does. The last row equals the weights of the first reverse step of ``model.generate``.
    """
    model.eval()
    device = model.device
    batch = batch.to(device)
    t = model.config.T if t is None else t
    context = model.context(batch)  # (B, L, D)
    x_t = torch.randn(context.shape, generator=torch.Generator(device=device).manual_seed(seed), device=device)
    steps = torch.full((len(batch),), t, device=device)
    _, weights = model.denoise(context, x_t, steps, model.guidance(batch), need_weights=True)  # (B, L, M)
    return weights.float().cpu()


def memory_recency(batch: Batch) -> np.ndarray:
    """How many events back from the latest one each memory column's event is, (B, M): 0 for the most
    recent event of the history, PAD for the null token and padding."""
    length = batch.items.shape[1]
    n_pad = (batch.items == PAD).sum(1).cpu().numpy()[:, None]  # (B, 1)
    recency = [np.full((len(batch), 1), PAD, dtype=np.int64)]
    for local, where in zip(batch.domain_items, batch.domain_positions):
        local, where = local.cpu().numpy(), where.cpu().numpy()
        recency.append(np.where(local == PAD, PAD, length - 1 - (n_pad + where)))
    return np.concatenate(recency, 1)


ATTENTION_GROUPS = ("null", *LABEL_NAMES, "latest event", "older clean", "older noise")
"""The token groups of :func:`attention_by_label`: by planted label, then by recency."""


def attention_by_label(weights: Tensor, kinds: np.ndarray, recency: np.ndarray) -> dict[str, float]:
    """Attention of the last query position (the one inference denoises) per memory token, by group.

    ``weights`` (B, L, M) from :func:`decoder_attention`, ``kinds`` (B, M) from :func:`memory_kinds`,
    ``recency`` (B, M) from :func:`memory_recency`. For null, each planted label, the latest event and
    the older clean (invariant or specific) and older noise events: the mean weight one token of the
    group receives (``per token``); for null and the labels also the share of all attention the group
    collects (``mass``, averaged over rows); and what one token would get under uniform attention over
    the allowed tokens (``uniform per token``).
    """
    w = weights[:, -1].numpy()  # (B, M)
    clean = (kinds == 1 + INVARIANT) | (kinds == 1 + SPECIFIC)
    older = recency > 0
    groups = {kind: kinds == code for code, kind in enumerate(TOKEN_KINDS)}
    groups |= {"latest event": recency == 0, "older clean": older & clean, "older noise": older & (kinds == 1 + NOISE)}
    out = {f"per token: {name}": float(w[mine].sum() / max(mine.sum(), 1)) for name, mine in groups.items()}
    out |= {f"mass: {kind}": float(w[groups[kind]].sum() / len(w)) for kind in TOKEN_KINDS}
    out["uniform per token"] = float(np.mean(1.0 / (kinds != PAD).sum(1)))
    return out


def attention_table(models: dict[str, DPGDiff], batch: Batch, labels: np.ndarray, t: int | None = None) -> pd.DataFrame:
    """:func:`attention_by_label` for each model (rows), plus the older noise / older clean per-token
    ratio (1 means the decoder does not tell planted noise from clean events)."""
    kinds, recency = memory_kinds(batch, labels), memory_recency(batch)
    rows = {}
    for name, model in models.items():
        row = attention_by_label(decoder_attention(model, batch, t), kinds, recency)
        row["older noise / older clean"] = row["per token: older noise"] / row["per token: older clean"]
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


@dataclass
class Trajectory:
    """The states of one user's reverse chain: x_T, …, x_{t_k} at the strided steps, then x̂_0."""

    steps: list[int]  # t of each visited state, e.g. [32, 24, 16, 8] for k = 4
    states: np.ndarray  # (k, D) the visited x_t
    x0_hat: np.ndarray  # (D,) the final denoised x̂_0

    def __len__(self) -> int:
        return len(self.steps)


@torch.no_grad()
def reverse_trajectory(model: DPGDiff, batch: Batch, k: int) -> Trajectory:
    """Run ``model.generate`` with k reverse steps for the first row of ``batch`` and keep every state.

    x_T is drawn with the model's ``inference_seed``, exactly as ``model.score`` (eq. 15) does.
    """
    model.eval()
    device = model.device
    generator = torch.Generator(device=device).manual_seed(model.config.inference_seed)
    x0_hat, trajectory, _ = model.generate(batch.to(device), steps=k, generator=generator, return_trajectory=True)
    states = torch.stack(trajectory)[:, 0].float().cpu().numpy()  # (k, D)
    return Trajectory(model.schedule.timesteps(k), states, x0_hat[0].float().cpu().numpy())


@torch.no_grad()
def item_points(model: DPGDiff, domain: int) -> np.ndarray:
    """x_0 of every item of ``domain``: its embedding at the scale the diffusion runs on, (n_items, D)."""
    lo, hi = model.items.bounds[domain], model.items.bounds[domain + 1]
    return model.target_embedding(torch.arange(lo, hi, device=model.device)).float().cpu().numpy()
