"""SASRec (Kang & McAuley 2018) on the mixed sequence: the self-attentive baseline of Table 1.

Causal self-attention over s_c; the representation at each position is scored against the next
item's own domain only (per-domain cross-entropy), the same harness as DPG-Diff's eq. (11).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import PAD, Batch, positions
from dpgdiff_lite.encoders import ItemEmbeddings, SequenceEncoder
from dpgdiff_lite.losses import domain_cross_entropy
from dpgdiff_lite.recommender import Recommender


class SASRec(Recommender):
    """Item embeddings + positions → causal Transformer → dot product with the domain's items."""

    def __init__(self, n_items: tuple[int, ...], config: Config):
        super().__init__()
        self.config = config
        self.items = ItemEmbeddings(n_items, config.dim)
        self.position = nn.Embedding(config.max_len, config.dim)
        self.drop = nn.Dropout(config.dropout)
        self.encoder = SequenceEncoder(config.dim, config.layers, config.heads, config.dropout)

    def represent(self, items: Tensor) -> Tensor:
        """(B, L) global ids → (B, L, D) causal sequence representations."""
        return self.encoder(self.drop(self.items(items) + self.position(positions(items))), items == PAD)

    def loss_terms(self, batch: Batch, generator: torch.Generator | None = None, rng=None) -> dict[str, Tensor]:
        rows = (batch.targets != PAD).nonzero(as_tuple=True)
        h = self.represent(batch.items)[rows]
        return {"rec": domain_cross_entropy(h, batch.target_local[rows], batch.target_domains[rows], self.items)}

    def item_scores(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """The last position's representation against E_d; ``steps`` is ignored (no diffusion)."""
        return self.represent(batch.items)[:, -1] @ self.items.table(domain).T
