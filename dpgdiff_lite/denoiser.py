"""The DPG Denoiser (eq. 9): x̂_0 = Decoder(Encoder_c(x_t), g_d).

Encoder_c is causal self-attention + MLP over the mixed sequence s_c; the noisy target x_t and a
timestep embedding join its output at every position; the Decoder's cross-attention queries come
from there and its keys/values are the guidance memory of the Disentangled Encoder.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dpgdiff_lite.encoders import SequenceEncoder


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of integer timesteps, (B,) → (B, dim); t = 0 means "no noise"."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    emb = torch.cat([angles.sin(), angles.cos()], dim=-1)
    return nn.functional.pad(emb, (0, dim % 2))


class CrossAttentionDecoder(nn.Module):
    """Decoder of eq. (9): cross-attention (queries: Encoder_c, keys/values: guidance) + MLP.

    Implements eq. (9).
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention_layer = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)
        self.heads = heads

    def forward(self, query: Tensor, memory: Tensor, allowed: Tensor,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """query (B, L, D), memory (B, M, D), allowed (B, L, M) → (B, L, D), and with
        ``need_weights`` the attention weights (B, L, M) averaged over heads (else None)."""
        blocked = (~allowed).repeat_interleave(self.heads, dim=0)  # (B·heads, L, M), True = masked
        kv = self.norm_kv(memory)
        out, weights = self.attention_layer(self.norm_q(query), kv, kv, attn_mask=blocked, need_weights=need_weights)
        h = query + self.drop(out)
        return h + self.drop(self.mlp(self.norm_mlp(h))), weights


class DPGDenoiser(nn.Module):
    """f_θ(x_t, g_d) of eq. (9), predicting x_0 (not ε), as DiffuRec does.

    Encoder_c reads the clean mixed sequence once, so the noise, which at high t is far larger
    than an item embedding, never drowns the history, and inference re-runs only the Decoder at
    each reverse step. The Decoder's queries are Encoder_c's output plus a timestep embedding;
    the noisy x_t joins the output through a gated residual (see :meth:`forward`). With
    ``guided=False`` (the `diff` and `diff+de` ablations) the Decoder has no cross-attention.

    Implements eq. (9).
    """

    def __init__(self, dim: int, layers: int, heads: int, dropout: float, guided: bool = True):
        super().__init__()
        self.dim = dim
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.noisy_input = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim))
        self.encoder_c = SequenceEncoder(dim, layers, heads, dropout)
        self.decoder = CrossAttentionDecoder(dim, heads, dropout) if guided else None
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def encode(self, h_c: Tensor, padding: Tensor, last_only: bool = False) -> Tensor:
        """Encoder_c over the sequence representation h_c (B, L, D) → (B, L, D), or (B, 1, D)."""
        return self.encoder_c(h_c, padding, last_only)

    def forward(self, context: Tensor, x_t: Tensor, t: Tensor, signal: Tensor,
                memory: Tensor | None = None, memory_allowed: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x̂_0 (B, L, D) from Encoder_c's output ``context`` and the noisy x_t (B, L, D) at step t (B,),
        with the Decoder's cross-attention weights (B, L, M) when ``need_weights`` (else None).

        ``signal`` (B,) is √ᾱ_t, the share of x_0 in x_t. The projected x_t is layer-normed (so the
        easy low-t cases cannot inflate it) and weighted by √ᾱ_t, so it fades as the noise takes
        over: at high t the prediction rests on the history and the guidance alone, and that path
        is trained at every t instead of being starved by the easy low-t shortcut.
        """
        h = context + self.time_mlp(timestep_embedding(t, self.dim))[:, None, :]
        weights = None
        if self.decoder is not None:
            h, weights = self.decoder(h, memory, memory_allowed, need_weights)
        # x̂_0 = history-and-guidance estimate + √ᾱ_t · (what x_t itself says about x_0)
        return self.head(h) + signal[:, None, None] * self.noisy_input(x_t), weights
