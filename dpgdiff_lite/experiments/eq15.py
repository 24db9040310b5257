"""Eq. (15) taken apart: a trained model ranked by x̂_0 alone, by ĝ_d alone and by their sum.

The model owns both parts (:meth:`dpgdiff_lite.model.DPGDiff.score_parts`, which its own
``item_scores`` adds); :class:`PartScorer` ranks by one of them, so the evaluation function scores it
like any model. Notebook 04 shows the table, notebook 08's precomputed ``eq15.csv`` and the regime
grid's shortfall are built from it. :class:`WeightedScorer` weighs ĝ_d by λ (notebook 08's slider).
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor

from dpgdiff_lite.data.dataset import Batch, CrossDomainDataset
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.trainer import TrainResult, run_evaluation


def ndcg_row(ndcg: pd.Series) -> dict[str, float]:
    """NDCG@10 per domain (a Series indexed by domain) and their mean, as one table row."""
    return {**{f"NDCG@10 {d}": float(v) for d, v in ndcg.items()}, "NDCG@10 mean": float(ndcg.mean())}


EQ15_PARTS = ("x̂_0 alone", "ĝ_d alone", "x̂_0 + ĝ_d")
"""The rankings :class:`PartScorer` gives: by x̂_0ᵀE_d (the diffusion part), by ĝ_dᵀE_d (the encoders'
preference, eq. 12's score) and by their sum (eq. 15, the model's own score)."""


class PartScorer:
    """A :class:`~dpgdiff_lite.recommender.Scorer` ranking by one part of eq. (15) of a trained model.

    ``part`` is one of :data:`EQ15_PARTS`. x̂_0 is generated exactly as ``model.score`` does (same
    ``inference_seed``, same k), so the sum reproduces the model's own scores.
    """

    def __init__(self, model: DPGDiff, part: str):
        if part not in EQ15_PARTS:
            raise ValueError(f"part must be one of {', '.join(EQ15_PARTS)}, got {part!r}")
        if part != EQ15_PARTS[0] and not model.config.variant_flags[0]:
            raise ValueError(f"{model.config.model!r} has no Disentangled Encoder, so no ĝ_d: only {EQ15_PARTS[0]!r}")
        self.model, self.part = model, part

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.no_grad()
    def score(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        model = self.model.eval()
        x0_hat, preference = model.score_parts(batch, domain, steps)  # (B, D) each
        if preference is None or self.part == EQ15_PARTS[0]:
            user = x0_hat
        elif self.part == EQ15_PARTS[1]:
            user = preference
        else:
            user = x0_hat + preference
        return user @ model.items.table(domain).T  # (B, n_items[domain])


def eq15_parts(result: TrainResult, dataset: CrossDomainDataset, split: str = "test") -> pd.DataFrame:
    """Test NDCG@10 (×100) per domain when ranking by each part of eq. (15) of a trained model: one
    row per part (:data:`EQ15_PARTS`; only x̂_0 for a model without ĝ_d), columns the domains and
    their mean. The last row equals ``result.test``."""
    parts = EQ15_PARTS if result.config.variant_flags[0] else EQ15_PARTS[:1]
    rows = {part: ndcg_row(run_evaluation(PartScorer(result.model, part), dataset, result.config, split).table["NDCG@10"])
            for part in parts}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("ranked by")


def eq15_table(results: dict[str, TrainResult], dataset: CrossDomainDataset, split: str = "test") -> pd.DataFrame:
    """:func:`eq15_parts` of several trained models, one block of rows per model (index: model, ranked by)."""
    return pd.concat({name: eq15_parts(result, dataset, split) for name, result in results.items()}, names=["model"])


def eq15_gain(table: pd.DataFrame) -> pd.Series:
    """What adding x̂_0 to ĝ_d buys, per column of :func:`eq15_parts`: NDCG@10 of the sum minus that of ĝ_d alone."""
    return table.loc[EQ15_PARTS[2]] - table.loc[EQ15_PARTS[1]]


class WeightedScorer:
    """Ranks by (x̂_0 + λ ĝ_d)ᵀE_d of a trained model: λ = 1 is eq. (15), λ = 0 ranks by x̂_0 alone. x̂_0 is
    generated as ``model.score`` does (same ``inference_seed``), so λ = 1 reproduces the model's scores."""

    def __init__(self, model: DPGDiff, weight: float):
        self.x0, self.g = PartScorer(model, EQ15_PARTS[0]), PartScorer(model, EQ15_PARTS[1])
        self.weight, self.device = float(weight), model.device

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        return self.x0.score(batch, domain, steps) + self.weight * self.g.score(batch, domain, steps)


def preference_weight_curve(result: TrainResult, dataset: CrossDomainDataset, weights, split: str = "test") -> pd.DataFrame:
    """Test NDCG@10 (×100) per domain when ranking by (x̂_0 + λ ĝ_d)ᵀE_d, one row per λ of ``weights``."""
    return pd.DataFrame({float(w): run_evaluation(WeightedScorer(result.model, w), dataset, result.config, split)
                         .table["NDCG@10"] for w in weights}).T.rename_axis("λ")
