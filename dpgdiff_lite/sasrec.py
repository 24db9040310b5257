"""SASRec (Kang & McAuley 2018): on the mixed sequence (Table 1) and on each domain alone.

:class:`SASRec` runs causal self-attention over s_c; :class:`SingleDomainSASRec` (C2DSR's
single-domain rows) runs one causal Transformer per domain over s_d only. Either way the
representation at each position is scored against the next item's own domain only (per-domain
cross-entropy), the same harness as DPG-Diff's eq. (11). Their difference on a domain is the
transfer of :mod:`dpgdiff_lite.experiments.transfer`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import PAD, Batch, positions
from dpgdiff_lite.encoders import DisentangledEncoder, ItemEmbeddings, SequenceEncoder
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

    def represent(self, items: Tensor, last_only: bool = False) -> Tensor:
        """(B, L) global ids → (B, L, D) causal sequence representations, or the last one (B, 1, D)."""
        return self.encoder(self.drop(self.items(items) + self.position(positions(items))), items == PAD, last_only)

    def loss_terms(self, batch: Batch, generator: torch.Generator | None = None, rng=None) -> dict[str, Tensor]:
        rows = (batch.targets != PAD).nonzero(as_tuple=True)
        h = self.represent(batch.items)[rows]
        return {"rec": domain_cross_entropy(h, batch.target_local[rows], batch.target_domains[rows], self.items)}

    def item_scores(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """The last position's representation against E_d; ``steps`` is ignored (no diffusion)."""
        return self.represent(batch.items, last_only=True)[:, 0] @ self.items.table(domain).T


class SingleDomainSASRec(Recommender):
    """SASRec on each domain's own subsequence s_d: one encoder per domain, each seeing only its
    own domain's events (C2DSR's single-domain baselines, trained jointly in one module).

    The encoders are :class:`~dpgdiff_lite.encoders.DisentangledEncoder`'s (eq. 8) without the
    guidance memory and with positions counted inside s_d (0 = the oldest kept d-event), since
    mixed-sequence positions would reveal how many other-domain events came in between. A target
    of domain d at mixed position j is predicted from ĝ_d read off at j: the encoder's output at
    the latest d-event at or before j, or a learned "empty" vector before the first one. The
    position table is the one parameter the domains share; item tables E_d are disjoint. s_d is
    the domain-d part of the kept window of s_c, as in C2DSR's data loader.
    """

    def __init__(self, n_items: tuple[int, ...], config: Config):
        super().__init__()
        self.config = config
        self.items = ItemEmbeddings(n_items, config.dim)
        self.position = nn.Embedding(config.max_len, config.dim)  # positions within s_d
        self.encoder = DisentangledEncoder(self.items, self.position, len(n_items), config.dim, config.layers,
                                           config.heads, config.dropout, memory=False, own_positions=True)

    def represent(self, batch: Batch) -> Tensor:
        """(domains, B, L, D): ĝ_d of every domain read off causally at every mixed position."""
        return torch.stack(self.encoder(batch).per_domain)

    def loss_terms(self, batch: Batch, generator: torch.Generator | None = None, rng=None) -> dict[str, Tensor]:
        rows = (batch.targets != PAD).nonzero(as_tuple=True)
        domains = batch.target_domains[rows]
        h = self.represent(batch)[domains, rows[0], rows[1]]  # (N, D): the target's own domain only
        return {"rec": domain_cross_entropy(h, batch.target_local[rows], domains, self.items)}

    def item_scores(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """ĝ_d at the last position against E_d; ``steps`` is ignored (no diffusion)."""
        return self.encoder(batch).per_domain[domain][:, -1] @ self.items.table(domain).T
