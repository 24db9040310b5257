"""``dpgdiff-anchored``, the kit's model beyond the paper: DPG-Diff beside a SASRec on each domain alone and a
SASRec on the mixed sequence, their scores mixed by weights fit on validation.

Three paths score every candidate item of the target domain d:

- the **single-domain path**: SASRec on s_d alone (:class:`~dpgdiff_lite.sasrec.SingleDomainSASRec`), which never
  reads another domain, so nothing transfers into it, good or bad;
- the **mixed path**: SASRec on the mixed sequence s_c (:class:`~dpgdiff_lite.sasrec.SASRec`), the naive mixing
  whose negative transfer the paper's title is about;
- the **DPG-Diff path**: the paper's model exactly as written (eq. 15 with the own-domain ĝ_d).

Each path's scores become log-probabilities over the domain's items (log-softmax) and the model scores with
their weighted sum (:func:`mix`), the weights w on a grid of the simplex (:data:`MIX_CHOICES`) chosen by
validation NDCG@10 per target domain and per user group (how much of the user's window is the target domain,
:func:`user_groups`), at every validation of training: a path joins only as far as held-out cases say it
helps. A weight of 1 on one path scores exactly as that path. The paths share no parameter, only the batches
and the epoch early stopping keeps (the one with the best mixed score on validation).

In the default ``"logit"`` space the log-softmax does not change the ranking: a path's normaliser is one number per
user, so Σ_k w_k·log p_k ranks items as Σ_k w_k·s_k over the raw scores s_k does; it makes the weights read as a
product of distributions, and matters in the ``"prob"`` space.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from dpgdiff_lite.config import MIX_SPACES, Config
from dpgdiff_lite.data.dataset import PAD, Batch, CrossDomainDataset, pad_eval
from dpgdiff_lite.evaluation import evaluate_variants
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.recommender import Recommender
from dpgdiff_lite.sasrec import SASRec, SingleDomainSASRec

PATHS = ("single-domain SASRec", "mixed SASRec", "DPG-Diff")
"""The model's paths, in the order of its weights."""
MIX_STEP = 10
MIX_CHOICES = tuple((a / MIX_STEP, b / MIX_STEP, (MIX_STEP - a - b) / MIX_STEP)
                    for a in range(MIX_STEP + 1) for b in range(MIX_STEP + 1 - a))
"""The weights (single, mixed, DPG-Diff) validation chooses from: the simplex in steps of 0.1 (66 points)."""
EQUAL = (1 / 3, 1 / 3, 1 / 3)
MIN_GROUP_CASES = 100
"""A (domain, user group) with fewer validation cases than this takes its domain's weight."""


def mix(paths: Tensor, weights, space: str = "logit") -> Tensor:
    """Scores from the paths' log-probabilities ``paths`` (K, B, n) and their weights (K,) or one row per
    user (B, K), summing to 1.

    ``"logit"``: Σ_k w_k·log p_k, a product of the distributions; ``"prob"``: log Σ_k w_k·p_k, a mixture of
    them, where the more confident path dominates each user's ranking. Either way a weight of 1 on one path
    returns its log-probabilities exactly.
    """
    if space not in MIX_SPACES:
        raise ValueError(f"mix_space must be one of {MIX_SPACES}, got {space!r}")
    w = torch.as_tensor(weights, dtype=paths.dtype, device=paths.device)
    w = w[:, None, None] if w.dim() == 1 else w.T[:, :, None]  # (K, 1 or B, 1)
    if space == "logit":
        return (w * paths).sum(0)
    return torch.logsumexp(paths + torch.log(w), dim=0)


def target_share(items: Tensor, offsets: Tensor, domain: int) -> Tensor:
    """(B,) share of each row's non-padding events that belong to ``domain`` (0 for an empty row)."""
    real = items != PAD
    own = real & (items >= offsets[domain]) & (items < offsets[domain + 1])
    return own.sum(1) / real.sum(1).clamp(min=1)


def user_groups(items: Tensor, offsets: Tensor, domain: int, groups: int) -> Tensor:
    """(B,) group of each row: the share of ``domain`` in its window cut into ``groups`` equal bins
    (with 3: mostly other domains, mixed, mostly the target domain)."""
    share = target_share(items, offsets, domain)
    return (share * groups).long().clamp(max=groups - 1)


class AnchoredDPGDiff(Recommender):
    """SASRec on s_d, SASRec on s_c and DPG-Diff, mixed by ``mix_weight[d, group]`` (K = 3 weights) fit on
    validation (:meth:`fit_on_validation`)."""

    def __init__(self, n_items: tuple[int, ...], config: Config):
        super().__init__()
        self.config = config
        self.single = SingleDomainSASRec(n_items, config)
        self.mixed = SASRec(n_items, config)
        self.paper = DPGDiff(n_items, dataclasses.replace(config, model="dpgdiff"))
        # the weights per (target domain, user group), saved with the model; equal until the first validation
        self.register_buffer("mix_weight", torch.tensor(EQUAL).repeat(len(n_items), config.mix_groups, 1))

    def loss_terms(self, batch: Batch, generator: torch.Generator | None = None,
                   rng: np.random.Generator | None = None) -> dict[str, Tensor]:
        """DPG-Diff's terms of eq. (14) plus each SASRec's cross-entropy (``single``, ``mixed``)."""
        return {**self.paper.loss_terms(batch, generator, rng), "single": self.single.loss_terms(batch)["rec"],
                "mixed": self.mixed.loss_terms(batch)["rec"]}

    def path_scores(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """(3, B, n_items[domain]): the log-probabilities of the paths of :data:`PATHS`."""
        return torch.stack([self.single.item_scores(batch, domain).log_softmax(-1),
                            self.mixed.item_scores(batch, domain).log_softmax(-1),
                            self.paper.item_scores(batch, domain, steps).log_softmax(-1)])

    def weights(self, batch: Batch, domain: int) -> Tensor:
        """(B, 3) the fitted weights of each row's user group."""
        groups = user_groups(batch.items, self.paper.items.offsets, domain, self.config.mix_groups)
        return self.mix_weight[domain, groups]

    def item_scores(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        return mix(self.path_scores(batch, domain, steps), self.weights(batch, domain), self.config.mix_space)

    def fit_on_validation(self, dataset: CrossDomainDataset, settings: dict,
                          choices: tuple[tuple[float, ...], ...] = MIX_CHOICES) -> pd.DataFrame:
        """Set each (domain, user group)'s weights to those of ``choices`` with the best validation NDCG@10
        of its cases (the most even on a tie; a group under :data:`MIN_GROUP_CASES` cases takes its domain's
        choice). ``settings``: the evaluation protocol (``trainer.evaluation_settings``). Returns the
        validation NDCG@10 and case count of every (domain, group, choice)."""
        training = self.training
        self.eval()
        variants = [(lambda scores, batch, d, w=w: mix(scores, w, self.config.mix_space)) for w in choices]
        try:
            results = evaluate_variants(_Paths(self), dataset, variants, "valid", **settings)
        finally:
            self.train(training)
        table = validation_table(results, choices, dataset, self.config.mix_groups)
        self.mix_weight.copy_(torch.as_tensor(choose_weights(table, dataset.domain_names, self.config.mix_groups)))
        return table


class _Paths:
    """The scorer :func:`evaluate_variants` runs once per batch: both paths' log-probabilities."""

    def __init__(self, model: AnchoredDPGDiff):
        self.model = model

    @property
    def device(self) -> torch.device:
        return self.model.device

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        return self.model.path_scores(batch, domain, steps)


def validation_table(results, choices, dataset: CrossDomainDataset, groups: int) -> pd.DataFrame:
    """Validation NDCG@10 and case count per (domain, group, choice) from one result per choice; the
    choice's weights are the columns of :data:`PATHS` and ``choice`` its index."""
    cases = dataset.valid
    domains = dataset.domain_of(cases.targets)
    offsets = torch.as_tensor(dataset.offsets)
    inputs, _ = pad_eval(cases, dataset.max_len)
    group = np.zeros(len(cases), dtype=np.int64)
    for d in range(dataset.n_domains):
        rows = domains == d
        group[rows] = user_groups(torch.as_tensor(inputs[rows]), offsets, d, groups).numpy()
    frames = []
    for k, result in enumerate(results):
        per_case = result.per_case.assign(group=group, choice=k)
        frames.append(per_case.groupby(["domain", "group", "choice"])["NDCG@10"].agg(["mean", "size"]).reset_index())
    table = pd.concat(frames, ignore_index=True).rename(columns={"mean": "NDCG@10", "size": "cases"})
    weights = pd.DataFrame(np.asarray(choices)[table["choice"]], columns=list(PATHS))
    return pd.concat([table, weights], axis=1)


def choose_weights(table: pd.DataFrame, domain_names: tuple[str, ...], groups: int) -> np.ndarray:
    """(domains, groups, paths) weights: each (domain, group)'s best choice in ``table`` (the most even on a
    tie), its domain's best over all its cases where the group has fewer than MIN_GROUP_CASES cases."""

    def best(rows: pd.DataFrame) -> np.ndarray:
        sums = rows.assign(total=rows["NDCG@10"] * rows["cases"]).groupby("choice")[["total", "cases"]].sum()
        score = (sums["total"] / sums["cases"]).round(9)  # NDCG@10 over all the cases of ``rows``, per choice
        weights = rows.drop_duplicates("choice").set_index("choice").loc[score.index, list(PATHS)]
        spread = weights.max(axis=1)  # the most even weights have the smallest largest weight
        order = sorted(score.index, key=lambda k: (-score[k], spread[k], k))
        return weights.loc[order[0]].to_numpy(float)

    chosen = np.zeros((len(domain_names), groups, len(PATHS)))
    for d, name in enumerate(domain_names):
        rows = table[table["domain"] == name]
        overall = best(rows) if len(rows) else np.asarray(EQUAL)
        for g in range(groups):
            cell = rows[rows["group"] == g]
            enough = len(cell) and cell["cases"].iloc[0] >= MIN_GROUP_CASES
            chosen[d, g] = best(cell) if enough else overall
    return chosen
