"""lessons/negative_transfer.py (notebook 02): parameters, the precomputed tables, the live re-run and its
comparison, the chosen user, the regime map, the ablation's paired table, the widget, the exercise; and the
committed results folder the notebook reads."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dpgdiff_lite.cli import main
from dpgdiff_lite.experiments import regime_tables as rt, regimes
from dpgdiff_lite.experiments.registry import FOLDERS
from dpgdiff_lite.evaluation import METRICS
from dpgdiff_lite.lessons import conflicted_user as cu, negative_transfer as nt
from dpgdiff_lite.lessons.common import NOTEBOOKS_DIR
from dpgdiff_lite.parameters import ParameterError
from dpgdiff_lite.experiments.transfer import transfer

GRID = {"conflict_kind": ["opposed"], "conflict_rate": [0.0, 1.0], "adhoc_noise": [0.1]}
TINY = dict(data_preset="tiny", preset_name="smoke", progress=False)
COMMITTED = NOTEBOOKS_DIR / "results" / "regimes"


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory):
    """A precomputed-style folder: 2 cells × 2 seeds of pop, both SASRecs and DPG-Diff on the tiny world
    (smoke preset, a few seconds each), as ``python -m dpgdiff_lite regimes`` writes it."""
    out = tmp_path_factory.mktemp("grid")
    regimes.run_grid(GRID, 2, out, models=["pop", "sasrec", "sasrec-single", "dpgdiff"], **TINY)
    return rt.load_precomputed(out)


@pytest.fixture(scope="module")
def tiny_ablation(tmp_path_factory):
    """A one-cell ablation folder: two Table 3 variants and both SASRecs, 2 seeds, with its paired.csv."""
    out = tmp_path_factory.mktemp("ablation")
    regimes.run_grid({"conflict_kind": ["opposed"], "conflict_rate": [1.0], "adhoc_noise": [0.1]}, 2, out,
                     models=["sasrec", "sasrec-single", "diff", "diff+de"], **TINY)
    assert main(["table3-paired", "--ablation", str(out)]) == 0
    return out


def per_case(ndcg, domains=("X", "Y"), rank=None) -> pd.DataFrame:
    n = len(ndcg)
    frame = pd.DataFrame({"case": np.arange(n), "domain": [domains[i % 2] for i in range(n)],
                          "rank": np.ones(n, dtype=int) if rank is None else rank})
    for metric in METRICS:
        frame[metric] = ndcg
    return frame


# --- parameters -------------------------------------------------------------------------------------
def test_default_parameters_read_the_committed_folder():
    params = nt.TransferParams()
    assert params.live_conflict_rates == (0.0, 1.0) and params.live_variants == ("diff",)
    assert params.results_path == COMMITTED  # "results/regimes" found from notebooks/, wherever pytest runs
    assert nt.TransferParams(live_conflict_rates="1,0,1").live_conflict_rates == (0.0, 1.0)


@pytest.mark.parametrize("field, value, message", [
    ("live_conflict_rates", "0.5", "live_conflict_rates must be two or more rates in [0, 1], got (0.5,)"),
    ("live_conflict_rates", "0,2", "live_conflict_rates must be two or more rates in [0, 1], got (0.0, 2.0)"),
    ("live_adhoc_noise", True, "live_adhoc_noise must be a number in [0, 1], got True"),
    ("live_variants", "diff,sasrec", "live_variants: 'sasrec' is not a Table 3 variant; choose from diff, diff+de, "
                                     "diff+de+g, diff+de+tricl, dpgdiff"),
    ("widget_users", 10, "widget_users must be an integer >= 100, got 10"),
    ("resume", "yes", "resume must be True or False, got 'yes'"),
    ("results", "nowhere", "results: nowhere/regimes.csv not found; write it with python -m dpgdiff_lite regimes "
                           "--out nowhere (see its README.md)"),
])
def test_bad_parameters_name_themselves(field, value, message):
    with pytest.raises(ParameterError) as error:
        nt.TransferParams(**{field: value})
    assert str(error.value) == message


# --- the precomputed tables ----------------------------------------------------------------------------
def test_load_precomputed_knows_knobs_seeds_models_and_settings(tiny_grid):
    assert tiny_grid.knobs == ["conflict_kind", "conflict_rate", "adhoc_noise"]
    assert tiny_grid.seeds == [0, 1] and tiny_grid.models == ["pop", "sasrec", "sasrec-single", "dpgdiff"]
    assert tiny_grid.settings["data_preset"] == "tiny" and tiny_grid.settings["preset"] == "smoke"
    assert tiny_grid.label().startswith("2 cells × 2 seeds (0, 1) × 4 models")


def test_most_negative_cell_and_selection_on_a_known_summary(tiny_grid):
    summary = tiny_grid.summary.copy()
    summary["transfer"] = [1.0, 3.0, -2.0, 0.5]  # cell 0: mean 2, cell 1: mean -0.75
    pre = rt.Precomputed(tiny_grid.rows, summary, tiny_grid.settings, tiny_grid.folder)
    assert regimes.most_negative_cell(summary) == {"conflict_kind": "opposed", "conflict_rate": 1.0, "adhoc_noise": 0.1}
    assert list(rt.select(summary, {"conflict_rate": 1.0})["transfer"]) == [-2.0, 0.5]
    assert rt.describe_cell({"conflict_kind": "opposed", "conflict_rate": 1.0, "adhoc_noise": 0.1}) == \
        "conflict 1.0 (opposed), ad-hoc noise 0.1"
    assert rt.describe_regimes(pre)[0].startswith("most negative transfer: -2.00 ± ")


def test_world_line_names_the_base_worlds_knobs():
    assert rt.world_line("transfer") == ("data preset 'transfer': 2000 users, items 400 / 500, 16 shared and 8 / 8 "
                                         "specific topics, topic concentration 0.1, persistence 0.0 (the grid's knobs "
                                         "set the rest)")


def test_ceiling_table_divides_by_both_ceilings(tiny_grid):
    table = rt.ceiling_table(tiny_grid)
    assert list(table.index.names) == ["conflict_rate", "domain"]
    row = table.iloc[3]
    assert row["sasrec / oracle"] == pytest.approx(row["sasrec"] / row["oracle"])
    assert row["dpgdiff / bayes"] == pytest.approx(row["dpgdiff"] / row["bayes"])
    assert (table["oracle"] > table["bayes"]).all()  # the oracle knows θ_u, Bayes only the history


def test_regime_map_has_one_heatmap_per_quantity_and_domain_with_hover(tiny_grid):
    plot, static = nt.regime_map(tiny_grid)
    heatmaps = [t for t in plot.data if t.type == "heatmap"]
    assert len(heatmaps) == 4 and len(static.axes) == 5  # 2 × 2 panels and the colour bar
    transfer_x = tiny_grid.summary.query("domain == 'X'")["transfer"].round(3).tolist()
    assert [row[0] for row in heatmaps[0].z] == transfer_x
    assert "± " in heatmaps[0].text[1][0] and "p = " in heatmaps[0].text[1][0]
    assert "mean ± std over 2 seeds" in heatmaps[0].hovertemplate
    assert "plotly.js" not in json.dumps(plot.to_plotly_json(), default=str)[:200]


# --- the live re-run ---------------------------------------------------------------------------------
def test_live_cells_must_be_precomputed(tiny_grid):
    params = nt.TransferParams()
    assert rt.live_cells(tiny_grid, params.live_conflict_rates, params.live_adhoc_noise, params.seed) == [{"conflict_kind": "opposed", "conflict_rate": r, "adhoc_noise": 0.1}
                                                for r in (0.0, 1.0)]
    with pytest.raises(ParameterError, match=r"cell conflict 0.5 \(opposed\), ad-hoc noise 0.1 is not in the precomputed grid"):
        rt.live_cells(tiny_grid, (0.0, 0.5), 0.1, 0)
    with pytest.raises(ParameterError, match=r"^seed: 7 was not precomputed \(seeds \[0, 1\]\)$"):
        rt.live_cells(tiny_grid, (0.0, 1.0), 0.1, 7)


def test_a_live_rerun_reproduces_the_precomputed_rows_exactly(tiny_grid, tmp_path):
    params = nt.TransferParams(output=str(tmp_path), seed=1)
    cells = rt.live_cells(tiny_grid, params.live_conflict_rates, params.live_adhoc_noise, params.seed)
    live = rt.run_live(tiny_grid, cells, rt.LIVE_MODELS, params.seed, params.output_path, params.resume)
    match = rt.compare_live(live.rows, tiny_grid.rows, tiny_grid.knobs)
    assert len(match) == 2 * 2 * 2 and match["max |difference|"].max() == 0.0
    assert (tmp_path / "live" / "regimes.csv").exists()
    shifted = live.rows.assign(**{"NDCG@10": live.rows["NDCG@10"] + 0.25})
    assert rt.compare_live(shifted, tiny_grid.rows, tiny_grid.knobs)["max |difference|"].min() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="live rows without a precomputed row"):
        rt.compare_live(live.rows.assign(seed=5), tiny_grid.rows, tiny_grid.knobs)

    # the trained runs reload for the timeline; the chosen case is a conflicted user the single model hits
    cell = cells[-1]
    dataset, truth = rt.live_world(tiny_grid, cell, 1)
    folder = live.per_case_folder(cell, 1)
    tables = {name: regimes.read_per_case(folder, name) for name in ("oracle", *rt.LIVE_MODELS)}
    models = rt.live_models(live, cell, 1, dataset)
    again = rt.run_live(tiny_grid, cells, ("sasrec",), params.seed, params.output_path, params.resume).rows  # re-read, not retrained
    pd.testing.assert_frame_equal(again.reset_index(drop=True), live.rows.query("model == 'sasrec'").reset_index(drop=True))
    case = cu.pick_case(dataset, truth, tables["sasrec"], tables["sasrec-single"])
    assert truth.user_preferences.conflicted[dataset.test.users[case]] and tables["sasrec-single"].loc[case, "rank"] <= 10
    ranks = {name: int(t.loc[case, "rank"]) for name, t in tables.items()}
    view = cu.case_view(dataset, truth, {"oracle": truth.oracle_scorer(), **models}, case, ranks)
    assert len(view.top["oracle"]) == 10 and view.theta.shape == (2, truth.config.n_multi_topics)
    # the oracle ranks by the true law: its top item is the most probable one
    assert view.truth_prob[view.top["oracle"][0]] == pytest.approx(view.truth_prob.max())
    assert sum(cu.events_per_domain(view, truth)) == len(view.history)
    assert 0 <= cu.shared_topic_items(view, truth, "sasrec") <= 10
    assert len(cu.plot_case(view, truth).axes) == 5

    # the oracle's top-10 carries the most true probability, case by case
    cases = np.arange(len(dataset.test.targets))
    best = cu.true_mass_at_k(truth.oracle_scorer(), dataset, truth, cases)
    for scorer in models.values():
        assert (cu.true_mass_at_k(scorer, dataset, truth, cases) <= best + 1e-12).all()

    # the exercise on these per-case files
    assert nt.check_transfer(nt.transfer_by_hand, folder).startswith("correct: ")
    assert nt.check_transfer(lambda m, s: None, folder) == "not attempted yet (reference: negative_transfer.transfer_by_hand)"
    assert nt.check_transfer(lambda m, s: {"X": (0.0, 1.0), "Y": (0.0, 1.0)}, folder).startswith("mismatch in ")


def test_pick_case_and_hit_counts_on_hand_made_ranks(tiny):
    dataset, truth = tiny
    n = len(dataset.test.targets)
    single = per_case(np.zeros(n), rank=np.full(n, 50))
    mixed = per_case(np.zeros(n), rank=np.full(n, 50))
    assert not truth.user_preferences.conflicted.any()  # the tiny preset has no conflict: nobody to choose
    with pytest.raises(ValueError, match="no conflicted user"):
        cu.pick_case(dataset, truth, mixed, single)
    flags = np.zeros_like(truth.user_preferences.conflicted)
    flags[dataset.test.users[[3, 7]]] = True
    conflicted = dataclasses.replace(truth, user_preferences=dataclasses.replace(truth.user_preferences,
                                                                                 conflicted=flags))
    single.loc[[3, 7, 20], "rank"] = 2
    mixed.loc[[3, 7, 20], "rank"] = [30, 90, 400]
    assert cu.pick_case(dataset, conflicted, mixed, single) == 7  # the largest gap among the conflicted users
    assert cu.hit_counts(mixed, single) == {"single only": 3, "mixed only": 0, "both": 0, "neither": n - 3}


# --- the ablation ------------------------------------------------------------------------------------
def test_the_ablation_table_and_figure_of_paired_csv(tiny_ablation):
    """paired.csv (experiments/table3_paired.py, tested by hand there) as the notebook shows it."""
    paired = pd.read_csv(tiny_ablation / "paired.csv")
    table = rt.ablation_table(paired)
    assert list(table.index) == ["diff", "diff+de"] and table.loc["diff", "adds"] == "—"
    assert table.loc["diff", "X Δ parent (p)"] == "" and table.loc["diff+de", "Y Δ parent (p)"].startswith(("+", "-"))
    pre, loaded = rt.load_ablation(tiny_ablation)
    pd.testing.assert_frame_equal(loaded, paired)
    assert len(nt.plot_ablation(paired, pre.rows).axes) == 2


def test_largest_step_averages_the_domains():
    paired = pd.DataFrame({"variant": ["diff+de"] * 2 + ["diff+de+g"] * 2, "adds": ["DE"] * 2 + ["G"] * 2,
                           "vs parent": [1.0, 3.0, 2.5, 2.0], "domain": ["X", "Y"] * 2})
    assert rt.largest_step(paired) == ("diff+de+g", "G", 2.25)


# --- the exercise ------------------------------------------------------------------------------------
def test_transfer_by_hand_matches_the_package_on_known_tables():
    rng = np.random.default_rng(0)
    single = per_case(rng.uniform(0, 100, 60))
    mixed = per_case(single["NDCG@10"].to_numpy() - 2.0 + rng.normal(0, 1, 60))
    got = nt.transfer_by_hand(mixed, single)
    expected = transfer({0: mixed}, {0: single})
    for domain in ("X", "Y"):
        assert got[domain][0] == pytest.approx(expected.loc[domain, "transfer"])
        assert got[domain][1] == pytest.approx(expected.loc[domain, "p"])
    d = (mixed["NDCG@10"] - single["NDCG@10"])[::2].to_numpy()
    assert got["X"][1] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert math.isclose(got["X"][0], d.mean())


# --- the committed results the notebook reads ------------------------------------------------------------
def test_the_committed_results_are_consistent_with_what_the_notebook_claims():
    pre = rt.load_precomputed(COMMITTED)
    ablation, paired = rt.load_ablation(COMMITTED / "ablation")
    assert set(pre.models) >= {"sasrec", "sasrec-single", "dpgdiff"} and len(ablation.seeds) >= 3
    # the ablation was run on the grid's most negative cell, with the same data and config presets
    assert len(rt.select(ablation.summary, regimes.most_negative_cell(pre.summary))) > 0
    assert {k: ablation.settings[k] for k in ("data_preset", "preset")} == \
           {k: pre.settings[k] for k in ("data_preset", "preset")}
    # the notebook's live cells and seed are in the grid
    params = nt.TransferParams()
    rt.live_cells(pre, params.live_conflict_rates, params.live_adhoc_noise, params.seed)
    assert set(paired["variant"]) == set(nt.ABLATION_ORDER)
    # the README's commands come from the registry: the grid, its ablation on the most negative cell, the tables
    assert "<!-- commands" in (COMMITTED / "README.md").read_text()
    steps = [" ".join(step) for step in FOLDERS["regimes"].steps]
    assert [step.split()[0] for step in steps] == ["regimes", "regimes", "table3-paired", "shortfall"]
    assert "--most-negative-of {out}/summary.csv" in steps[1] and "--out {out}/ablation" in steps[1]


def test_third_domain_figure_has_one_panel_per_kept_domain_and_colours_the_verdicts():
    table = pd.DataFrame({"model": ["sasrec", "dpgdiff"] * 2, "domain": ["X", "X", "Y", "Y"],
                          "effect": [-1.0, 0.5, 0.2, 0.0], "effect_std": [0.2, 0.1, 0.3, 0.1],
                          "effect_p": [0.001, 0.02, 0.4, 0.9],
                          "effect_verdict": ["negative", "positive", "none", "none"]})
    fig = nt.third_domain_figure(table)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["domain X", "domain Y"]
    bars = axes[0].patches
    assert [round(b.get_height(), 3) for b in bars] == [-1.0, 0.5]
    assert [b.get_facecolor()[:3] for b in bars] == [(0.8392156862745098, 0.15294117647058825, 0.1568627450980392),
                                                      (0.17254901960784313, 0.6274509803921569, 0.17254901960784313)]
    assert [t.get_text() for t in axes[0].texts] == ["p=0.001", "p=0.02"]


def test_shortfall_view_puts_each_reading_on_one_row():
    table = pd.DataFrame({"dpgdiff": ["a", "a", "b", "b"], "domain": ["Y", "X", "Y", "X"], "best": "sasrec-single",
                          "ours": [1.0, 2.0, 3.0, 4.0], "gain": [-1.0, 0.5, 0.25, 0.0], "std": 0.1,
                          "p": [0.01, 0.5, 0.25, 1.0]})
    view = rt.shortfall_view(table)
    assert list(view.columns) == ["X NDCG@10", "X vs sasrec-single", "Y NDCG@10", "Y vs sasrec-single"]
    assert view.loc["a", "Y vs sasrec-single"] == "-1.00 ± 0.10 (p=0.01)" and view.loc["b", "X NDCG@10"] == 4.0


def test_per_seed_gap_pairs_the_seeds():
    def frame(values):
        return pd.DataFrame({"model": "dpgdiff", "seed": [0, 0, 1, 1], "domain": ["X", "Y"] * 2, "metric": "NDCG@10",
                             "value": values})

    gap = rt.per_seed_gap(frame([3.0, 4.0, 5.0, 8.0]), frame([1.0, 1.0, 1.0, 1.0]))
    assert gap.loc[0].tolist() == [2.0, 3.0] and gap.loc[1].tolist() == [4.0, 7.0]
    assert gap.loc["mean"].tolist() == [3.0, 5.0] and gap.loc["std"].round(4).tolist() == [1.4142, 2.8284]


def test_the_committed_third_domain_table_is_three_seeds_of_every_model_with_its_command():
    folder = NOTEBOOKS_DIR / "results" / "third-domain"
    table = pd.read_csv(folder / "third_domain.csv")
    assert sorted(zip(table["model"], table["domain"])) == sorted(
        (m, d) for m in ("sasrec", "sasrec-single", "dpgdiff") for d in ("X", "Y"))
    assert (table["n_seeds"] == 3).all() and table["vs_single"].isna().tolist() == [m == "sasrec-single" for m in table["model"]]
    assert "<!-- commands" in (folder / "README.md").read_text()
    assert FOLDERS["third-domain"].steps == (("third-domain", "--seeds", "0,1,2", "--runs", "{runs}", "--out", "{out}"),)
