"""experiments/runner.py and experiments/tables.py: training several models into run folders (reused when config and data match), Table 1,
the fraction of the planted oracle."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy import stats

from dpgdiff_lite.experiments import runner, tables
from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.evaluation import METRICS
from dpgdiff_lite.parameters import ExperimentParams
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
    assert runner.same_run(tmp_path / "sasrec", config, "synthetic:tiny")
    assert not runner.same_run(tmp_path / "sasrec", config, "synthetic:teaching")
    assert not runner.same_run(tmp_path / "sasrec", params.config("dpgdiff"), "synthetic:tiny")
    assert not runner.same_run(tmp_path / "missing", config, "synthetic:tiny")


def test_table1_layout(robust_runs):
    _, trained = robust_runs
    table = tables.table1(trained)
    assert table.index.names == ["domain", "metric"]
    assert list(table.index) == [(d, m) for d in ("X", "Y") for m in METRICS]
    assert list(table.columns) == ["dpgdiff", "sasrec", "diff", "Imp.", "p"]
    assert table.loc[("X", "NDCG@10"), "sasrec"] == pytest.approx(trained["sasrec"].test.table.loc["X", "NDCG@10"])
    alone = tables.table1({"sasrec": trained["sasrec"], "diff": trained["diff"]})  # no dpgdiff: no Imp., p
    assert list(alone.columns) == ["sasrec", "diff"]


def test_oracle_fraction(robust_runs, tiny_source):
    _, trained = robust_runs
    fraction = tables.oracle_fraction(trained, tiny_source)
    assert list(fraction.columns) == ["oracle NDCG@10", "dpgdiff", "sasrec", "diff"]
    oracle = fraction["oracle NDCG@10"]
    assert (fraction["sasrec"] * oracle).to_numpy() == pytest.approx(trained["sasrec"].test.table["NDCG@10"].to_numpy())
    assert tables.oracle_fraction(trained, DataSource(tiny_source.dataset, None)) is None


def test_run_folder_listing_is_relative(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text("{}")
    (tmp_path / "table1.csv").write_text("")
    assert runner.run_folder_listing(tmp_path) == "a/metrics.json\ntable1.csv"


def test_seeds_table_means_stds_and_paired_test_over_seed_and_case(tiny_source, tmp_path):
    configs = {name: ExperimentParams(**TINY_EXPERIMENT).config(name) for name in ("sasrec", "pop")}
    results = runner.train_seeds(tiny_source, configs, [0, 1], tmp_path, "synthetic:tiny")
    assert (tmp_path / "sasrec" / "seed1" / "metrics.json").exists()
    table = tables.seeds_table(results, ours="sasrec")
    ndcg = [r.test.table.loc["X", "NDCG@10"] for r in results["sasrec"].values()]
    assert table.loc[("X", "NDCG@10"), "sasrec mean"] == pytest.approx(np.mean(ndcg))
    assert table.loc[("X", "NDCG@10"), "sasrec std"] == pytest.approx(np.std(ndcg, ddof=1))
    assert table.loc[("X", "NDCG@10"), "pop std"] == 0  # popularity does not depend on the seed
    pairs = np.concatenate([results["sasrec"][s].test.per_case.query("domain == 'X'")["NDCG@10"]
                            - results["pop"][s].test.per_case.query("domain == 'X'")["NDCG@10"] for s in (0, 1)])
    assert table.loc[("X", "NDCG@10"), "p"] == pytest.approx(stats.ttest_1samp(pairs, 0).pvalue)
    shown = tables.format_seeds_table(table)
    assert shown.loc[("X", "NDCG@10"), "sasrec"] == f"{np.mean(ndcg):.2f} ± {np.std(ndcg, ddof=1):.2f}"


def test_runs_trained_in_two_worker_processes_equal_those_trained_in_turn(tiny_source, tmp_path):
    params = ExperimentParams(**TINY_EXPERIMENT)
    configs = {name: params.config(name) for name in ("dpgdiff", "sasrec")}
    runs = runner.seed_runs(configs, [0, 1], "synthetic:tiny", tmp_path)
    load = lambda spec: tiny_source  # noqa: E731 (in the parent: each worker receives the loaded data)
    in_turn = runner.train_runs(runs, load=load, resume=False, progress=False, workers=1)
    at_once = runner.train_runs(runs, load=load, resume=False, progress=False, workers=2)
    assert [r.test.to_dict() for r in at_once] == [r.test.to_dict() for r in in_turn]
    assert [r.history["epoch"].tolist() for r in at_once] == [r.history["epoch"].tolist() for r in in_turn]
    assert [r.config.seed for r in at_once] == [0, 1, 0, 1]  # the order of ``runs``
    for run, result in zip(runs, at_once):  # the workers wrote the run folders
        assert json.loads((run.run_dir / "metrics.json").read_text())["test"] == result.test.to_dict()


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "٢"])
def test_a_bad_worker_count_is_named(monkeypatch, value):
    monkeypatch.setenv(runner.WORKERS_VARIABLE, value)
    with pytest.raises(ValueError, match=f"{runner.WORKERS_VARIABLE} must be a whole number >= 1, got {value!r}"):
        runner.default_workers()
