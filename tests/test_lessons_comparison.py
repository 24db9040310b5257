"""lessons/comparison.py (notebook 06): Table 1 for display, the summary, the exercise."""

from __future__ import annotations

import json


from dpgdiff_lite import claims, parameters
from dpgdiff_lite.experiments import compare, registry, reproduce, tables
from dpgdiff_lite.lessons import comparison


def test_table1_display_and_summary(robust_runs, tiny_source):
    params, trained = robust_runs
    table = tables.table1(trained)
    alone = tables.table1({"sasrec": trained["sasrec"], "diff": trained["diff"]})
    assert list(comparison.format_table1(alone).columns) == ["sasrec", "diff"]
    shown = comparison.format_table1(table)
    assert shown.loc[("X", "NDCG@10"), "p"] == f"{table.loc[('X', 'NDCG@10'), 'p']:.2g}"
    assert shown.loc[("X", "NDCG@10"), "dpgdiff"] == round(table.loc[("X", "NDCG@10"), "dpgdiff"], 2)
    summary = comparison.summarize_table1(trained, table, tiny_source.dataset, params)
    assert set(summary["best_by_domain"]) == {"X", "Y"} and summary["headline"].startswith("test NDCG@10 X: dpgdiff")
    assert set(summary["p_NDCG@10"]) == {"X", "Y"}
    assert summary["epochs_run"] == {"dpgdiff": 1, "sasrec": 1, "diff": 1}
    assert comparison.describe_table1(summary).count("\n") == 1
    assert json.loads(json.dumps(summary)) == summary


# --- exercises ----------------------------------------------------------------------------------
def test_exercise_improvement_and_p(robust_runs):
    _, trained = robust_runs
    table = tables.table1(trained)
    assert comparison.check_improvement(comparison.improvement_and_p_by_hand, trained, table).startswith("correct: X NDCG@10 vs ")
    assert comparison.check_improvement(lambda *a: None, trained, table).startswith("not attempted yet")
    assert comparison.check_improvement(lambda *a: (0.0, 0.5), trained, table).startswith("mismatch")


# --- several seeds (notebook 06's `seeds` parameter) -----------------------------------------------
import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from conftest import TINY_EXPERIMENT  # noqa: E402
from dpgdiff_lite.lessons import common  # noqa: E402


@pytest.fixture(scope="module")
def seeded(tiny_source, tmp_path_factory):
    """Notebook 06's four models with seeds 0 and 1, one epoch on the tiny data: (params, results)."""
    params = comparison.TrainingParams(**TINY_EXPERIMENT, seeds="0,1", output=str(tmp_path_factory.mktemp("s")))
    return params, params.train_seeds(tiny_source)


@pytest.mark.parametrize("seeds, message", [
    ("", "seeds must be distinct integers >= 0, e.g. '0' or '0,1,2'; got ''"),
    ("0,0", "seeds must be distinct integers >= 0, e.g. '0' or '0,1,2'; got '0,0'"),
    ("0,-1", "seeds must be distinct integers >= 0, e.g. '0' or '0,1,2'; got '0,-1'"),
    ("0,a", "seeds must be a comma-separated list of ints, got '0,a'"),
])
def test_seeds_parameter_is_checked(seeds, message):
    with pytest.raises(parameters.ParameterError) as error:
        comparison.TrainingParams(seeds=seeds)
    assert str(error.value) == message


def test_training_params_defaults_and_run_folders(tmp_path):
    params = comparison.TrainingParams(seeds="2, 5", output=str(tmp_path))
    assert params.models == ("dpgdiff", "sasrec", "sasrec-single", "pop")
    assert (params.seeds, params.seed) == ((2, 5), 2)
    assert params.run_dir("sasrec", 5) == tmp_path / "sasrec" / "seed5"
    assert comparison.TrainingParams(output=str(tmp_path)).run_dir("sasrec", 0) == tmp_path / "sasrec"
    assert params.setting()["models"] == list(params.models) and "seeds" not in params.setting()


def test_seed_runs_are_the_runs_of_one_seed(seeded, tiny_source):
    params, results = seeded
    assert {name: sorted(runs) for name, runs in results.items()} == {m: [0, 1] for m in params.models}
    assert (params.output_path / "dpgdiff" / "seed1" / "metrics.json").exists()
    # seed 0 over two seeds is the single-seed run of seed 0: same numbers, another folder
    single = dataclasses.replace(params, seeds=(0,), output=str(params.output_path / "single"))
    alone = single.train_seeds(tiny_source, ("dpgdiff",))["dpgdiff"][0]
    pd.testing.assert_frame_equal(alone.test.table, results["dpgdiff"][0].test.table)


def test_seed_frames_best_epochs_and_the_seed_band_figure(seeded, tiny_source):
    _, results = seeded
    frames = compare.seed_frames(results, tiny_source)
    assert set(frames) == {"per_seed", "curves", "cold_warm", "table1_seeds", "transfer", "oracle"}
    per_seed = frames["per_seed"]
    assert list(per_seed.columns) == ["model", "seed", "domain", "metric", "value", "epochs_run", "seconds_per_epoch"]
    row = per_seed.query("model == 'sasrec' and seed == 1 and domain == 'Y' and metric == 'NDCG@10'")
    assert row["value"].item() == pytest.approx(results["sasrec"][1].test.table.loc["Y", "NDCG@10"])
    curves = frames["curves"]
    assert set(curves["model"]) == {"dpgdiff", "sasrec", "sasrec-single"}  # popularity has no curve
    assert len(curves) == 3 * 2 * 1  # models × seeds × epochs
    table = comparison.seeds_table_display(frames["table1_seeds"])
    assert table.loc[("X", "NDCG@10"), "dpgdiff mean"] == pytest.approx(
        per_seed.query("model == 'dpgdiff' and domain == 'X' and metric == 'NDCG@10'")["value"].mean())
    transfer = frames["transfer"].set_index("domain")
    assert transfer.loc["X", "transfer"] == pytest.approx(transfer.loc["X", "mixed"] - transfer.loc["X", "single"])
    assert comparison.best_epochs(curves)["best_epoch"].tolist() == [1] * 6
    plot, static = comparison.plot_seed_curves(curves, title="two seeds")
    lines = [t for t in plot.data if t.mode == "lines+markers"]
    bands = [t for t in plot.data if t.fill == "toself"]
    assert len(lines) == len(bands) == 3 * 2  # per model, in each of the two panels
    assert {t.legendgroup for t in lines} == {t.legendgroup for t in bands} == {"dpgdiff", "sasrec", "sasrec-single"}
    assert sum(t.showlegend for t in lines) == 3  # one legend entry per model toggles both panels
    assert len(static.axes) == 2 and len(static.axes[0].lines) == 3


def test_the_precomputed_folder_is_what_the_notebook_reads(tmp_path):
    out = tmp_path / "results"
    params = comparison.TrainingParams(**TINY_EXPERIMENT, models="dpgdiff,sasrec", seeds="0,1", output=str(tmp_path / "runs"))
    _, frames = compare.precompute(params.experiment(), params.seeds, params.output_path, out, progress=False)
    setting = common.json.loads((out / "setting.json").read_text())
    assert setting["seeds"] == [0, 1] and setting["models"] == ["dpgdiff", "sasrec"] and setting["seconds"] >= 0
    written = {p.stem for p in out.glob("*.csv")}
    assert written == set(frames) == {"per_seed", "curves", "cold_warm", "table1_seeds", "oracle"}
    read = pd.read_csv(out / "per_seed.csv")
    assert read["value"].to_numpy() == pytest.approx(frames["per_seed"]["value"].to_numpy(), abs=1e-6)
    # the notebook's live run with the same setting and seed 0 reproduces the seed-0 rows
    live = comparison.TrainingParams(**TINY_EXPERIMENT, models="dpgdiff,sasrec", output=str(tmp_path / "live"))
    assert parameters.same_setting(live, setting)
    live_frame = tables.per_seed_frame(live.train_seeds(live.load()))
    assert claims.largest_difference(live_frame, read, ["model", "seed", "domain", "metric"], "value") < 1e-5
    assert not parameters.same_setting(dataclasses.replace(live, epochs=2), setting)


# --- the committed precomputed results and the helpers notebooks 06-08 share --------------------------
@pytest.mark.parametrize("notebook, params_class, frames", [
    ("06", comparison.TrainingParams, {"per_seed", "curves", "table1_seeds", "transfer", "oracle", "cold_warm"}),
    ("07", "robustness.RobustnessParams", {"per_seed", "robustness", "retention_test", "steps", "train_noise",
                                          "train_noise_tests"}),
    ("08", "ablation.AblationParams", {"per_seed", "table3_seeds", "eq15", "vs_full"}),
])
def test_committed_precomputed_results_match_the_notebooks_defaults(notebook, params_class, frames):
    import importlib

    if isinstance(params_class, str):
        module, name = params_class.split(".")
        params_class = getattr(importlib.import_module(f"dpgdiff_lite.lessons.{module}"), name)
    setting, read = tables.read_precomputed(notebook)
    assert parameters.same_setting(params_class(device="cpu"), setting), setting  # the notebook's default parameters
    assert setting["seeds"] == [0, 1, 2] and setting["seconds"] > 0 and set(read) == frames
    readme = reproduce.updated_readme((tables.results_dir(notebook) / "README.md").read_text(), registry.folder(notebook))
    assert readme.count(f"--out notebooks/results/{notebook}") == 1  # its commands come from the registry
    assert sorted(read["per_seed"]["seed"].unique()) == [0, 1, 2]


def test_checked_claims_only_for_the_committed_setting(capsys):
    claims.checked(True, "two beats one", 2 > 1, two=2)
    claims.checked(False, "one beats two", 1 > 2, one=1.23456)  # not the committed run: printed, never raised
    assert capsys.readouterr().out.splitlines() == [
        "✓ two beats one (two=2)",
        "· not checked (other parameters than the committed run's): one beats two (one=1.235)"]
    with pytest.raises(claims.ClaimError):
        claims.checked(True, "one beats two", 1 > 2)


def test_largest_difference_joins_on_keys():
    a = pd.DataFrame({"model": ["m", "m"], "seed": [0, 1], "value": [1.0, 2.0]})
    b = pd.DataFrame({"model": ["m", "m"], "seed": [1, 2], "value": [2.5, 9.0]})
    assert claims.largest_difference(a, b, ["model", "seed"], "value") == pytest.approx(0.5)  # seed 1 only
    assert np.isnan(claims.largest_difference(a, b.assign(seed=[5, 6]), ["model", "seed"], "value"))


def test_mean_std_by_domain_and_cold_warm_summary_on_hand_made_frames():
    per_seed = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4, "seed": [0, 1] * 4, "domain": ["X", "X", "Y", "Y"] * 2,
                             "metric": "NDCG@10", "value": [1.0, 3, 2, 2, 5, 5, 6, 8]})
    table = comparison.mean_std_by_domain(per_seed)
    assert list(table.columns) == ["X mean", "X std", "Y mean", "Y std"]
    assert table.loc["a"].round(4).tolist() == [2.0, 1.4142, 2.0, 0.0] and table.loc["b", "Y mean"] == 7.0
    cold_warm = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4, "seed": 0, "domain": ["X", "X", "Y", "Y"] * 2,
                              "target": ["cold", "warm"] * 4, "cases": [1, 3, 2, 2] * 2,
                              "NDCG@10": [0.0, 10, 0, 20, 1, 11, 2, 22]})
    summary = comparison.cold_warm_summary(cold_warm)
    assert summary["share of cases"].tolist() == [0.25, 0.75, 0.5, 0.5]
    assert summary.loc[("Y", "warm"), "b"] == 22 and summary.loc[("X", "cold"), "a"] == 0


@pytest.mark.parametrize("folder, readme", [("food-kitchen", "food-kitchen"), ("sparse/synthetic", "sparse"),
                                            ("sparse/synthetic-wd0", "sparse"), ("sparse/food-kitchen-users40", "sparse")])
def test_notebook_06_real_and_sparse_tables_are_three_seeds_with_their_command(folder, readme):
    setting, read = tables.read_precomputed(folder)
    assert setting["seeds"] == [0, 1, 2] and setting["preset"] == "teaching" and setting["epochs"] == 0
    assert {"per_seed", "curves", "cold_warm", "table1_seeds"} <= set(read)
    assert sorted(read["per_seed"]["seed"].unique()) == [0, 1, 2]
    assert set(read["per_seed"]["model"]) == set(setting["models"])
    cases = read["cold_warm"].groupby(["model", "seed"])["cases"].sum()
    assert cases.nunique() == 1  # every model and seed ranked the same test cases
    text = (tables.results_dir(readme) / "README.md").read_text()
    assert f"--out notebooks/results/{folder}" in reproduce.updated_readme(text, registry.folder(readme))
    assert "run time" in text.lower()
