"""sparsity.py: never-trained items and targets, the cold / warm split, cold negatives above the target."""

from __future__ import annotations

import numpy as np
import pytest

from dpgdiff_lite.experiments import sparsity
from dpgdiff_lite.data.dataset import CrossDomainDataset, EvalSplit
from dpgdiff_lite.evaluation import evaluate
from dpgdiff_lite.popularity import PopularityScorer


def small() -> CrossDomainDataset:
    """Domain X items 0-3, Y items 4-7; training uses X items 0, 1 and Y item 4 only."""
    train = [np.array([0, 1, 4]), np.array([0, 4]), np.array([1, 0])]
    cases = EvalSplit([np.array([0]), np.array([1]), np.array([4]), np.array([0])],
                      np.array([1, 3, 4, 6]), np.arange(4))  # targets: X warm, X cold, Y warm, Y cold
    return CrossDomainDataset("small", "synthetic", ("X", "Y"), (4, 4), train, cases, cases, max_len=3,
                              train_users=np.arange(3))


def test_catalogue_statistics_count_never_trained_items_and_targets():
    stats = sparsity.catalogue_statistics(small())
    assert stats.loc["X"].tolist() == [4, 0.5, 0.5, 1.0]  # items 2, 3 never trained; target 3 cold; counts 2, 0
    assert stats.loc["Y"].tolist() == [4, 0.75, 0.5, 1.0]  # only item 4 trained; counts 2, 0
    assert sparsity.cold_targets(small()).tolist() == [False, True, False, True]


def test_cold_warm_split_of_popularity():
    data = small()
    result = evaluate(PopularityScorer(data), data, protocol="full")
    table = sparsity.cold_warm({"pop": result}, data)
    last = 100 / np.log2(4 + 1)  # count 0, ties against the target: ranked last of the domain's 4 items
    assert table.loc[("X", "cold"), "pop"] == pytest.approx(last) and table.loc[("Y", "cold"), "pop"] == pytest.approx(last)
    assert table.loc[("Y", "warm"), "pop"] == pytest.approx(100.0)  # item 4 is the most popular of Y
    assert table.loc[("X", "warm"), "pop"] == pytest.approx(100 / np.log2(3))  # item 1 is second after item 0


def test_negatives_above_target_and_norms_of_a_model(tiny):
    from dpgdiff_lite.config import preset
    from dpgdiff_lite.trainer import train

    dataset, _ = tiny
    result = train(dataset, preset("smoke", model="sasrec", epochs=1), progress=False)
    shares = sparsity.negatives_above_target(result.model, dataset, 0, n_cases=50)
    assert 0 <= shares["cold items above target"] <= 1 and 0 <= shares["warm items above target"] <= 1
    assert shares["cases"] == 50
    norms = sparsity.embedding_norms(result.model, dataset)
    assert norms.loc["items"].sum() == sum(dataset.n_items)
