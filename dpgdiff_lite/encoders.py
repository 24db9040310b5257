"""Item embeddings, causal self-attention encoders and the Disentangled Encoder (eq. 8).

Shapes: B = batch, L = mixed-sequence length, L_d = length of domain d's subsequence, D = dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dpgdiff_lite.data.augment import MASK
from dpgdiff_lite.data.dataset import PAD, Batch, positions


class ItemEmbeddings(nn.Module):
    """The per-domain item tables E_x, E_y, … of eq. (8), stored as row blocks of one table.

    Domain d owns rows ``offsets[d] … offsets[d+1]-1`` (its global ids), so ``table(d)`` is exactly
    E_d and no row is shared between domains. Two extra rows hold the padding (always zero) and
    the mask token used by the Mask augmentation.

    Lookups are scaled by √D (as in the Transformer and SASRec), so an embedded item has unit
    variance per dimension, like the positional embedding and the N(0, I) diffusion noise;
    scores use the unscaled tables.

    Implements eq. (8).
    """

    def __init__(self, n_items: tuple[int, ...], dim: int):
        super().__init__()
        self.bounds = [0, *torch.tensor(n_items).cumsum(0).tolist()]  # python ints: no device sync
        self.register_buffer("offsets", torch.tensor(self.bounds))
        total = self.bounds[-1]
        self.pad_row, self.mask_row = total, total + 1
        self.scale = dim ** 0.5
        self.weight = nn.Embedding(total + 2, dim, padding_idx=self.pad_row)
        nn.init.normal_(self.weight.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.weight.weight[self.pad_row].zero_()

    def forward(self, items: Tensor) -> Tensor:
        """Embed global ids (PAD → zero vector, MASK → the mask embedding); (…,) → (…, D)."""
        rows = torch.where(items == PAD, self.pad_row, torch.where(items == MASK, self.mask_row, items))
        return self.weight(rows) * self.scale

    def table(self, domain: int) -> Tensor:
        """E_d: the (n_items[d], D) embedding matrix of one domain."""
        return self.weight.weight[self.bounds[domain]:self.bounds[domain + 1]]


class SelfAttentionBlock(nn.Module):
    """Pre-norm causal self-attention (SA) followed by an MLP, the block of every encoder here."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.norm_attn, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        # dropout on the two residual branches only: on a CPU, drawing dropout masks for the
        # attention probabilities and the 4·D-wide MLP hidden layer took a fifth of a training step
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, allowed: Tensor, last_only: bool = False) -> Tensor:
        """``allowed`` (B, 1, L, L) is True where a query position may attend to a key position.

        With ``last_only`` only the last position is computed (its keys and values still come from
        every position): (B, 1, D), what inference and the h_aug view need.
        """
        b, length, dim = x.shape
        q, k, v = self.qkv(self.norm_attn(x)).view(b, length, 3, self.heads, dim // self.heads).unbind(2)
        if last_only:
            q, x, allowed = q[:, -1:], x[:, -1:], allowed[:, :, -1:]
        # (B, heads, L or 1, D/heads) each
        attended = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=allowed
        )
        x = x + self.drop(self.out(attended.transpose(1, 2).reshape(b, x.shape[1], dim)))
        return x + self.drop(self.mlp(self.norm_mlp(x)))


def causal_mask(padding: Tensor) -> Tensor:
    """(B, L) padding flags → (B, 1, L, L) causal attention mask over non-padded keys.

    Every position may always see itself, so a padded (empty) query row never becomes all-masked.
    """
    length = padding.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=padding.device).tril()
    allowed = causal & ~padding[:, None, None, :]
    return allowed | torch.eye(length, dtype=torch.bool, device=padding.device)


class SequenceEncoder(nn.Module):
    """A stack of causal :class:`SelfAttentionBlock` s with a final LayerNorm."""

    def __init__(self, dim: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(SelfAttentionBlock(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, h: Tensor, padding: Tensor, last_only: bool = False) -> Tensor:
        """h (B, L, D), padding (B, L) → (B, L, D), or (B, 1, D) for the last position only;
        position i only sees positions ≤ i."""
        allowed = causal_mask(padding)
        for i, block in enumerate(self.blocks):
            h = block(h, allowed, last_only=last_only and i == len(self.blocks) - 1)
        return self.norm(h)


@dataclass
class Guidance:
    """What the Disentangled Encoder hands to the denoiser and the losses.

    ``per_domain[d]`` is ĝ_d read off at every mixed position (the single-domain preference of
    eq. 12 and 15); ``fused`` is g_d = Σ_d ĝ_d, the pooled fused preference (the ĝ_d view of
    eq. 13); ``memory`` and ``memory_allowed`` are the guidance tokens the denoiser's
    cross-attention reads (eq. 9) and which of them each mixed position may see.
    """

    per_domain: list[Tensor]  # [domain] (B, L, D)
    fused: Tensor  # (B, L, D)
    memory: Tensor | None  # (B, M, D)
    memory_allowed: Tensor | None  # (B, L, M) bool


class DisentangledEncoder(nn.Module):
    """Encoder_x, Encoder_y, … (eq. 8): one causal Transformer per domain over its own subsequence.

    Fusion (the paper leaves the operator open; ``fusion`` picks it):
    - ``"memory"`` (default): the per-position outputs of every domain encoder, tagged with a
      learned domain embedding, form the guidance memory for cross-attention, so the denoiser
      chooses per query which domain's events to trust; the pooled g_d = g_x + g_y is kept for the
      contrastive view.
    - ``"pooled"``: the memory is the single pooled token g_x + g_y at each position.
    A learned "null" token is always in the memory so attention can ignore the guidance.
    With ``memory=False`` (ablations without guidance) no memory is built at all.

    Implements eq. (8).
    """

    FUSIONS = ("memory", "pooled")

    def __init__(self, items: ItemEmbeddings, position: nn.Embedding, n_domains: int, dim: int,
                 layers: int, heads: int, dropout: float, fusion: str = "memory", memory: bool = True,
                 own_positions: bool = False):
        super().__init__()
        if fusion not in self.FUSIONS:
            raise ValueError(f"fusion must be one of {self.FUSIONS}, got {fusion!r}")
        self.items, self.position, self.fusion = items, position, fusion
        self.encoders = nn.ModuleList(SequenceEncoder(dim, layers, heads, dropout) for _ in range(n_domains))
        self.empty = nn.Parameter(torch.zeros(n_domains, dim))  # ĝ_d before any domain-d event
        self.with_memory = memory
        self.own_positions = own_positions  # Pos = position within s_d (single-domain SASRec), not in s_c
        if memory:
            self.domain_tag = nn.Parameter(torch.randn(n_domains, dim) * dim ** -0.5)
            self.null = nn.Parameter(torch.zeros(1, 1, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, batch: Batch) -> Guidance:
        """Encode each s_d, then read ĝ_d off causally at every mixed position."""
        offsets = self.items.offsets
        per_domain, tokens, allowed = [], [], []
        for d, encoder in enumerate(self.encoders):
            local = batch.domain_items[d]  # (B, L_d)
            width = local.shape[1]
            padding = local == PAD
            # h_d = Emb(s_d) + Pos(s_d); Pos embeds each event's mixed position (own_positions: its index in s_d)
            pos = positions(local) if self.own_positions else batch.domain_positions[d]  # (B, L_d)
            h = self.items(torch.where(padding, PAD, local + offsets[d])) + self.position(pos)
            g = encoder(self.drop(h), padding)  # (B, L_d, D)
            index = batch.domain_index[d]  # (B, L)
            seen = index >= 0
            gathered = torch.gather(g, 1, index.clamp(min=0)[..., None].expand(-1, -1, g.shape[-1]))
            per_domain.append(torch.where(seen[..., None], gathered, self.empty[d]))
            tokens.append(g)
            # query i sees column c of domain d iff c is a real event at or before position i
            column = torch.arange(width, device=local.device)
            allowed.append((column <= index[..., None]) & ~padding[:, None, :])  # (B, L, L_d)
        fused = torch.stack(per_domain).sum(0)
        b, length, dim = fused.shape
        if not self.with_memory:
            return Guidance(per_domain, fused, None, None)
        if self.fusion == "memory":
            tokens = [g + self.domain_tag[d] for d, g in enumerate(tokens)]
            memory = torch.cat([self.null.expand(b, 1, dim), *tokens], dim=1)
            memory_allowed = torch.cat([torch.ones(b, length, 1, dtype=torch.bool, device=fused.device), *allowed], 2)
        else:
            memory = torch.cat([self.null.expand(b, 1, dim), fused], dim=1)
            own = torch.eye(length, dtype=torch.bool, device=fused.device).expand(b, -1, -1)
            memory_allowed = torch.cat([torch.ones(b, length, 1, dtype=torch.bool, device=fused.device), own], 2)
        return Guidance(per_domain, fused, memory, memory_allowed)
