"""The contract between the models, the trainer and the one evaluation.

A :class:`Scorer` is anything :func:`dpgdiff_lite.evaluation.evaluate` can rank with: popularity,
the planted oracle, SASRec and DPG-Diff. A :class:`Recommender` is a trainable scorer: the trainer
minimises the weighted sum of its ``loss_terms`` (eq. 14), and ``score`` always runs in eval mode
without gradients, whatever mode the model was left in.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from dpgdiff_lite.data.dataset import Batch


class Scorer(Protocol):
    """Scores every item of one domain for the last position of each row of a batch."""

    @property
    def device(self) -> torch.device:
        """Where ``score`` wants its batches."""

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """(batch, n_items[domain]) scores; ``steps`` = reverse diffusion steps k (ignored without diffusion)."""


class Recommender(nn.Module):
    """Base of the trainable models: ``loss_terms`` for the trainer, ``item_scores`` for ``score``."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def loss_terms(self, batch: Batch, generator: torch.Generator | None = None,
                   rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        """The named, unweighted terms of the training loss for one batch."""
        raise NotImplementedError

    def item_scores(self, batch: Batch, domain: int, steps: int | None) -> Tensor:
        """The scores behind :meth:`score`, computed in eval mode without gradients."""
        raise NotImplementedError

    def fit_on_validation(self, dataset, settings: dict) -> None:
        """Choose what the model fits on held-out validation cases, before each validation of training
        (``settings``: the evaluation protocol); most models fit nothing."""

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """:class:`Scorer` scores with dropout off; the model's train/eval mode is restored after."""
        training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.item_scores(batch, domain, steps)
        finally:
            self.train(training)
