"""The training objective: L_rec (eq. 10–12), L_tri-cl (eq. 13) and their sum with L_diff (eq. 14).

L_diff (eq. 6) lives with the diffusion process in :mod:`dpgdiff_lite.diffusion`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dpgdiff_lite.encoders import ItemEmbeddings


def domain_cross_entropy(reps: Tensor, target_local: Tensor, target_domains: Tensor,
                         items: ItemEmbeddings) -> Tensor:
    """Σ_d CE(softmax(repᵀ E_d), v_d) of eq. (11)/(12), averaged over all targets.

    ``reps`` (N, D) are representations at the N positions that have a target; each row is
    scored against its target's own domain only, one domain at a time, so no (N × all-items)
    logit tensor is ever built.

    Implements eq. (11), (12).
    """
    total = reps.new_zeros(())
    for d in range(len(items.offsets) - 1):
        rows = target_domains == d
        if rows.any():
            logits = reps[rows] @ items.table(d).T  # (N_d, n_items[d])
            total = total + F.cross_entropy(logits.float(), target_local[rows], reduction="sum")
    return total / max(len(reps), 1)


def info_nce(a: Tensor, b: Tensor, temperature: float = 1.0) -> Tensor:
    """Eq. (13) for one pair of views: row i of ``a`` and ``b`` is the same user (the positive);
    every other user of the other view is an in-batch negative. Symmetric in a and b.

    Implements eq. (13).
    """
    logits = (a @ b.T).float() / temperature  # (B, B)
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def tri_view_loss(h_c: Tensor, h_d: Tensor, h_aug: Tensor, temperature: float = 1.0,
                  similarity: str = "dot") -> Tensor:
    """L_tri-cl (eq. 13): InfoNCE averaged over the three intra-user pairs (h_c,h_d), (h_c,h_aug),
    (h_d,h_aug); each view is (B, D). ``similarity="cosine"`` L2-normalises the views first.

    Implements eq. (13).
    """
    if similarity not in ("dot", "cosine"):
        raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
    if similarity == "cosine":
        h_c, h_d, h_aug = (F.normalize(v, dim=-1) for v in (h_c, h_d, h_aug))
    return (info_nce(h_c, h_d, temperature) + info_nce(h_c, h_aug, temperature)
            + info_nce(h_d, h_aug, temperature)) / 3


def total_loss(terms: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """L_total (eq. 14) = Σ weight · term over the terms present; weights default to 1.

    Implements eq. (14).
    """
    return sum(weights.get(name, 1.0) * value for name, value in terms.items())
