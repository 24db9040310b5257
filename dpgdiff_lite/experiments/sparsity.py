"""Sparse catalogues: how many items and test targets the training data never shows, the cold / warm
split of a result, and what training does to the embeddings of items it never saw.

Under the sampled protocol (999 uniform negatives from the target's domain) most negatives of a
sparse catalogue are *cold*: items that never occur in training. Popularity ranks every cold item
last (count 0, and ties count against the target), so a warm target only competes with the few warm
negatives; a learned model ranks cold items by untrained embeddings, which is noise. A *cold target*
is out of reach of both (NDCG@10 ≈ 0). These functions measure exactly that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from dpgdiff_lite.data.dataset import CrossDomainDataset, make_batch, pad_eval
from dpgdiff_lite.evaluation import EvalResult

if TYPE_CHECKING:
    from dpgdiff_lite.trainer import TrainResult


def catalogue_statistics(dataset: CrossDomainDataset, split: str = "test") -> pd.DataFrame:
    """Per domain: items, share never in training, share of ``split`` targets never in training, and
    the median training count of a target (Movie-Book under eval-split: 39 % / 47 %, 43 %, 1)."""
    counts, offsets = dataset.item_counts(), dataset.offsets
    cases = getattr(dataset, split)
    domains = dataset.domain_of(cases.targets)
    rows = {}
    for d, name in enumerate(dataset.domain_names):
        own = counts[offsets[d]:offsets[d + 1]]
        target_counts = counts[cases.targets[domains == d]]
        rows[name] = {"items": len(own), "items never trained": float(np.mean(own == 0)),
                      "targets never trained": float(np.mean(target_counts == 0)) if len(target_counts) else np.nan,
                      "median target count": float(np.median(target_counts)) if len(target_counts) else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("domain")


def cold_targets(dataset: CrossDomainDataset, split: str = "test") -> np.ndarray:
    """(cases,) True where the case's target never occurs in the training sequences."""
    return dataset.item_counts()[getattr(dataset, split).targets] == 0


def cold_warm(results: dict[str, EvalResult], dataset: CrossDomainDataset, metric: str = "NDCG@10") -> pd.DataFrame:
    """``metric`` of each model per domain on cold and on warm targets, with the share of cold ones."""
    rows = []
    for name, result in results.items():
        cold = cold_targets(dataset, result.split)[result.per_case["case"].to_numpy()]
        frame = result.per_case.assign(target=np.where(cold, "cold", "warm"))
        for (domain, target), group in frame.groupby(["domain", "target"], sort=False):
            rows.append({"model": name, "domain": domain, "target": target, metric: float(group[metric].mean()),
                         "cases": len(group)})
    return pd.DataFrame(rows).pivot_table(index=["domain", "target"], columns="model", values=metric, sort=False)


def cold_warm_rows(results: dict[str, dict[int, "TrainResult"]], dataset: CrossDomainDataset,
                   metrics: tuple[str, ...] = ("NDCG@10", "HR@10")) -> pd.DataFrame:
    """One row per (model, seed, domain, cold or warm target) of ``compare --seeds`` results: the test
    ``metrics`` ×100 over those cases and their number (``DIR/cold_warm.csv``)."""
    cold = cold_targets(dataset, "test")
    rows = []
    for name, runs in results.items():
        for seed, result in runs.items():
            cases = result.test.per_case
            frame = cases.assign(target=np.where(cold[cases["case"].to_numpy()], "cold", "warm"))
            for (domain, target), group in frame.groupby(["domain", "target"], sort=False):
                rows.append({"model": name, "seed": seed, "domain": domain, "target": target, "cases": len(group),
                             **{m: float(group[m].mean()) for m in metrics}})
    return pd.DataFrame(rows)


@torch.no_grad()
def negatives_above_target(model, dataset: CrossDomainDataset, domain: int, n_cases: int = 1000) -> pd.Series:
    """For warm test targets of ``domain``: the mean share of cold items and of (other) warm items that
    score at least as high as the target, and the mean score of each group; a model that leaves
    cold items near their random start ranks many of them above a well-modelled target."""
    counts = dataset.item_counts()[dataset.offsets[domain]:dataset.offsets[domain + 1]]
    cold = counts == 0
    inputs, targets = pad_eval(dataset.test, dataset.max_len)
    rows = np.flatnonzero(dataset.domain_of(dataset.test.targets) == domain)
    rows = rows[~cold[dataset.to_local(dataset.test.targets[rows])]][:n_cases]  # warm targets only
    batch = make_batch(inputs[rows], targets[rows], dataset.offsets, dataset.test.users[rows]).to(model.device)
    scores = model.score(batch, domain).float().cpu().numpy()  # (cases, n_items[domain])
    target = scores[np.arange(len(rows)), dataset.to_local(dataset.test.targets[rows])][:, None]
    warm = ~cold
    return pd.Series({"cold items above target": float((scores[:, cold] >= target).mean()),
                      "warm items above target": float((scores[:, warm] >= target).mean()),
                      "mean score, cold items": float(scores[:, cold].mean()),
                      "mean score, warm items": float(scores[:, warm].mean()),
                      "mean score, target": float(target.mean()), "cases": len(rows)})


@torch.no_grad()
def embedding_norms(model, dataset: CrossDomainDataset) -> pd.DataFrame:
    """Mean norm of the item embeddings E_d by training count (0 = never trained, 1, 2–3, 4+)."""
    counts = dataset.item_counts()
    groups = {"never trained": counts == 0, "1": counts == 1, "2-3": (counts >= 2) & (counts <= 3), "4+": counts >= 4}
    norms = model.items.weight.weight[:len(counts)].norm(dim=1).cpu().numpy()
    return pd.DataFrame({name: [float(norms[mask].mean()) if mask.any() else np.nan, int(mask.sum())]
                         for name, mask in groups.items()}, index=["mean norm", "items"])
