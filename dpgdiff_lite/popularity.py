"""Most-popular baseline: every user gets the items ranked by their training-set count.

The floor any learned model must clear (shared/README.md: Food 7.59, Kitchen 4.76 test NDCG@10
on Food–Kitchen).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dpgdiff_lite.data.dataset import Batch, CrossDomainDataset


class PopularityScorer:
    """Scores item ``v`` of a domain by how often ``v`` occurs in the training sequences."""

    device = torch.device("cpu")

    def __init__(self, dataset: CrossDomainDataset | None = None) -> None:
        self.counts: list[Tensor] = []  # [domain] (n_items[domain],)
        if dataset is not None:
            self.fit(dataset)

    def fit(self, dataset: CrossDomainDataset) -> "PopularityScorer":
        """Count every item in ``dataset.train``, split by domain."""
        counts, offsets = dataset.item_counts(), dataset.offsets
        self.counts = [
            torch.as_tensor(counts[offsets[d]:offsets[d + 1]], dtype=torch.float32)
            for d in range(dataset.n_domains)
        ]
        return self

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """(batch, n_items[domain]) training counts, the same row for every user (``steps`` is ignored)."""
        if not self.counts:
            raise RuntimeError("PopularityScorer is not fitted: build it with a dataset or call .fit(dataset)")
        if not 0 <= domain < len(self.counts):
            raise ValueError(f"domain must be in 0…{len(self.counts) - 1}, got {domain}")
        return self.counts[domain].to(batch.items.device).expand(len(batch), -1)
