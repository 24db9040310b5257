"""Popularity baseline: training counts as scores, and the reference figures on Food–Kitchen."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dpgdiff_lite.data.dataset import CrossDomainDataset, EvalSplit, make_batch, pad_eval
from dpgdiff_lite.evaluation import evaluate
from dpgdiff_lite.popularity import PopularityScorer

FOOD_KITCHEN = Path(__file__).resolve().parents[1].parent / "shared/data/c2dsr/Food-Kitchen"


def counted_dataset() -> CrossDomainDataset:
    """Domain X has items 0–2, domain Y items 3–6; item 1 occurs 3×, item 5 twice."""
    train = [np.array([1, 5, 1]), np.array([0, 5, 1, 6])]
    split = EvalSplit([np.array([1]), np.array([5, 6])], np.array([2, 4]), np.array([0, 1]))
    return CrossDomainDataset("counted", "synthetic", ("X", "Y"), (3, 4), train, split, split, max_len=4)


def test_scores_are_training_counts_for_every_user():
    data = counted_dataset()
    inputs, targets = pad_eval(data.test, data.max_len)
    batch = make_batch(inputs, targets, data.offsets)
    pop = PopularityScorer(data)
    assert torch.equal(pop.score(batch, 0), torch.tensor([[1.0, 3.0, 0.0]] * 2))
    assert torch.equal(pop.score(batch, 1), torch.tensor([[0.0, 0.0, 2.0, 1.0]] * 2))
    assert torch.equal(PopularityScorer().fit(data).score(batch, 1), pop.score(batch, 1))


def test_ranks_follow_counts_with_pessimistic_ties():
    data = counted_dataset()
    result = evaluate(PopularityScorer(data), data, protocol="full")
    # target 2 (count 0) trails items 0 and 1; target 4 (count 0) ties 3, trails 5 and 6
    assert result.per_case["rank"].tolist() == [3, 4]


def test_unfitted_and_bad_domain_raise():
    data = counted_dataset()
    batch = make_batch(*pad_eval(data.test, data.max_len), data.offsets)
    with pytest.raises(RuntimeError, match="not fitted"):
        PopularityScorer().score(batch, 0)
    with pytest.raises(ValueError, match="domain must be in 0…1, got 2"):
        PopularityScorer(data).score(batch, 2)


@pytest.mark.skipif(not FOOD_KITCHEN.is_dir(), reason=f"real Food–Kitchen data not found at {FOOD_KITCHEN}")
def test_popularity_reproduces_reference_on_food_kitchen():
    from dpgdiff_lite.data.c2dsr import load_c2dsr

    data = load_c2dsr(FOOD_KITCHEN, max_len=15)
    start = time.perf_counter()
    result = evaluate(PopularityScorer(data), data, split="test")
    assert time.perf_counter() - start < 60
    assert result.per_case.groupby("domain").size().to_dict() == {"Food": 2747, "Kitchen": 5659}
    # shared/README.md reference: Food 7.59, Kitchen 4.76 (seed 0 here gives 7.48 / 4.54)
    assert result.table.loc["Food", "NDCG@10"] == pytest.approx(7.59, abs=0.3)
    assert result.table.loc["Kitchen", "NDCG@10"] == pytest.approx(4.76, abs=0.3)
