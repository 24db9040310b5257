"""experiments/tables.py: the comparison table of trained models beside the planted oracle."""

from __future__ import annotations

import pandas as pd
import pytest

from dpgdiff_lite.config import preset
from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.evaluation import EvalResult
from dpgdiff_lite.experiments import tables
from dpgdiff_lite.lessons.common import untrained_model
from dpgdiff_lite.trainer import TrainResult, run_evaluation


def _trained(model, test: EvalResult | None = None) -> TrainResult:
    """A TrainResult around ``model`` (nothing trained; ``test`` stands in for its test evaluation)."""
    return TrainResult(model, model.config, pd.DataFrame(columns=["epoch"]), None, test, 0.0)


def _result(x: float, y: float) -> EvalResult:
    table = pd.DataFrame({"NDCG@10": [x, y]}, index=["X", "Y"])
    return EvalResult(table, pd.DataFrame(), "test", "full", "synthetic")


def test_comparison_table_divides_by_the_planted_oracle(tiny):
    dataset, truth = tiny
    model = untrained_model(dataset, preset("smoke", model="dpgdiff", dim=16))
    oracle = run_evaluation(truth.oracle_scorer(), dataset, model.config, "test").table["NDCG@10"]
    table = tables.comparison_table({"a": _trained(model, _result(5.0, 3.0))}, DataSource(dataset, truth))
    assert list(table.index) == ["a", "oracle"]
    assert table.loc["oracle", "NDCG@10 X"] == pytest.approx(oracle["X"]) and oracle["X"] > 5.0
    assert table.loc["a", "NDCG@10 mean"] == pytest.approx(4.0)
    assert table.loc["a", "/ oracle X"] == pytest.approx(5.0 / oracle["X"])
    assert table.loc["a", "/ oracle Y"] == pytest.approx(3.0 / oracle["Y"])
    assert table.loc["a", "/ oracle mean"] == pytest.approx(4.0 / oracle.mean())
    assert table.loc["oracle", ["/ oracle X", "/ oracle Y", "/ oracle mean"]].tolist() == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="comparison_table needs synthetic data"):
        tables.comparison_table({"a": _trained(model, _result(5.0, 3.0))}, DataSource(dataset, None))
