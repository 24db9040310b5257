"""runs.py: training several models into run folders (reused when config and data match), Table 1,
the fraction of the planted oracle."""

from __future__ import annotations

import json
import time

import pytest

from dpgdiff_lite import runs
from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.evaluation import METRICS
from dpgdiff_lite.lessons.common import ExperimentParams
from tests.conftest import TINY_EXPERIMENT


def test_train_models_writes_the_documented_layout(tiny_source, tmp_path):
    params = ExperimentParams(**TINY_EXPERIMENT, output=str(tmp_path))
    results = params.train(tiny_source)
    assert list(results) == ["dpgdiff", "sasrec", "pop"]
    for name, result in results.items():
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert {"protocol", "model", "test", "valid", "data"} <= set(metrics)
        assert metrics["model"] == name and metrics["data"] == "synthetic:tiny"
        assert list(metrics["test"]) == ["X", "Y"] and list(metrics["test"]["X"]) == list(METRICS)
        assert metrics["test"] == result.test.to_dict() and metrics == result.metrics()
    assert not (tmp_path / "metrics.json").exists()  # each run writes its own record, nothing aggregates them

    started = time.perf_counter()  # same config and data: the finished runs are reloaded, not retrained
    again = params.train(tiny_source)
    assert time.perf_counter() - started < 5
    assert again["dpgdiff"].test.to_dict() == results["dpgdiff"].test.to_dict()
    assert again["dpgdiff"].history["epoch"].tolist() == [1]

    longer = ExperimentParams(**{**TINY_EXPERIMENT, "epochs": 2}, models="sasrec", output=str(tmp_path))
    assert longer.train(tiny_source)["sasrec"].history["epoch"].tolist() == [1, 2]


def test_a_run_on_other_data_is_not_reused(tiny_source, tmp_path):
    params = ExperimentParams(**TINY_EXPERIMENT, models="sasrec", output=str(tmp_path))
    params.train(tiny_source)
    config = params.config("sasrec")
    assert runs.same_run(tmp_path / "sasrec", config, "synthetic:tiny")
    assert not runs.same_run(tmp_path / "sasrec", config, "synthetic:teaching")
    assert not runs.same_run(tmp_path / "sasrec", params.config("dpgdiff"), "synthetic:tiny")
    assert not runs.same_run(tmp_path / "missing", config, "synthetic:tiny")


def test_table1_layout(robust_runs):
    _, trained = robust_runs
    table = runs.table1(trained)
    assert table.index.names == ["domain", "metric"]
    assert list(table.index) == [(d, m) for d in ("X", "Y") for m in METRICS]
    assert list(table.columns) == ["dpgdiff", "sasrec", "diff", "Imp.", "p"]
    assert table.loc[("X", "NDCG@10"), "sasrec"] == pytest.approx(trained["sasrec"].test.table.loc["X", "NDCG@10"])
    alone = runs.table1({"sasrec": trained["sasrec"], "diff": trained["diff"]})  # no dpgdiff: no Imp., p
    assert list(alone.columns) == ["sasrec", "diff"]


def test_oracle_fraction(robust_runs, tiny_source):
    _, trained = robust_runs
    fraction = runs.oracle_fraction(trained, tiny_source)
    assert list(fraction.columns) == ["oracle NDCG@10", "dpgdiff", "sasrec", "diff"]
    oracle = fraction["oracle NDCG@10"]
    assert (fraction["sasrec"] * oracle).to_numpy() == pytest.approx(trained["sasrec"].test.table["NDCG@10"].to_numpy())
    assert runs.oracle_fraction(trained, DataSource(tiny_source.dataset, None)) is None


def test_run_folder_listing_is_relative(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text("{}")
    (tmp_path / "table1.csv").write_text("")
    assert runs.run_folder_listing(tmp_path) == "a/metrics.json\ntable1.csv"
