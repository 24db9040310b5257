"""The training objective: L_rec (eq. 10–12), L_tri-cl (eq. 13) and their sum with L_diff (eq. 14).

L_diff (eq. 6) lives with the diffusion process in :mod:`dpgdiff_lite.diffusion`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dpgdiff_lite.encoders import ItemEmbeddings


LOGITS_PER_CHUNK = {"cpu": 2**21, "cuda": 2**27}
"""Logits scored at once by :func:`domain_cross_entropy`: 8 MB of float32 on a CPU (a chunk stays in
cache: measured 35 % faster than one (N × items) matrix on Food-Kitchen's 32k-item domains), and
whole batches on a GPU."""


class _LinearCrossEntropy(torch.autograd.Function):
    """Σ_rows CE(softmax(rep · E_dᵀ), v) for the rows of each domain d, differentiated on the fly.

    A chunk of rows is scored against its domain's table, soft-maxed and turned into its gradients
    ((p − onehot) E_d for the rows, (p − onehot)ᵀ rep for the table) while it is in cache; only those
    gradients are kept for backward, never a (rows × items) logit matrix. The matrix products run in
    the autocast dtype when autocast is on, the softmax and the gradients' sums in float32.
    """

    @staticmethod
    def forward(ctx, reps: Tensor, weight: Tensor, bounds: tuple[int, ...], target_local: Tensor,
                target_domains: Tensor) -> Tensor:
        device = reps.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else reps.dtype
        grad_reps = torch.zeros(reps.shape, dtype=torch.float32, device=reps.device)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        total = torch.zeros((), dtype=torch.float32, device=reps.device)
        with torch.autocast(device, enabled=False):
            for d in range(len(bounds) - 1):
                rows = (target_domains == d).nonzero(as_tuple=True)[0]
                table = weight[bounds[d]:bounds[d + 1]].to(dtype)  # E_d, (n_items[d], D)
                chunk = max(1, LOGITS_PER_CHUNK.get(device, 2**21) // len(table))
                for start in range(0, len(rows), chunk):
                    index = rows[start:start + chunk]
                    rep, target = reps[index].to(dtype), target_local[index]
                    logits = (rep @ table.T).float()  # (chunk, n_items[d])
                    top = logits.amax(1, keepdim=True)
                    picked = logits.gather(1, target[:, None])[:, 0]
                    p = logits.sub_(top).exp_()  # one exp pass, in place: softmax numerators
                    z = p.sum(1, keepdim=True)
                    total += (z.log() + top)[:, 0].sub_(picked).sum()  # log Σ exp − logit of v
                    p.div_(z)[torch.arange(len(index), device=p.device), target] -= 1  # ∂CE/∂logits
                    p = p.to(dtype)
                    grad_reps[index] = (p @ table).float()
                    g_table = grad_weight[bounds[d]:bounds[d + 1]]
                    if dtype == torch.float32:
                        g_table.addmm_(p.T, rep)  # in place: no (n_items × D) temporary per chunk
                    else:
                        g_table += (p.T @ rep).float()
        ctx.save_for_backward(grad_reps.to(reps.dtype), grad_weight.to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx, grad_total: Tensor):
        grad_reps, grad_weight = ctx.saved_tensors
        return grad_reps * grad_total, grad_weight * grad_total, None, None, None


def domain_cross_entropy(reps: Tensor, target_local: Tensor, target_domains: Tensor,
                         items: ItemEmbeddings) -> Tensor:
    """Σ_d CE(softmax(repᵀ E_d), v_d) of eq. (11)/(12), averaged over all rows.

    ``reps`` (N, D) are representations at positions that have a target; each row is scored
    against its target's own domain only, a chunk of rows at a time, so no (N × all-items) nor
    (N × domain items) logit tensor is ever built. Stacking the rows of two views (x̂_0 and ĝ_d,
    each with its targets) scores both in one pass over each table.

    Implements eq. (11), (12).
    """
    total = _LinearCrossEntropy.apply(reps, items.weight.weight, tuple(items.bounds), target_local, target_domains)
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
