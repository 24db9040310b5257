"""lessons/reading.py (notebook 09): the typed tables against the paper's text, the metric bounds on
simulated rankings, the scans of Table 1, the Imp. recomputation, notebook 07's step table, the
eval-split facts, and the exercise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_FOOD_KITCHEN, make_toy_dataset
from dpgdiff_lite import paper
from dpgdiff_lite.lessons import reading as rd
from dpgdiff_lite.parameters import ParameterError

PAPER_TEXT = SHARED_FOOD_KITCHEN.parents[2] / "paper" / "dpg-diff-paper.md"


@pytest.mark.skipif(not PAPER_TEXT.exists(), reason="the paper's text is not beside the repository")
def test_the_typed_tables_are_the_papers():
    rows1, rows3 = rd.tables_from_markdown(PAPER_TEXT.read_text())
    assert rows1 == paper.PAPER["table1"] and rows3 == paper.PAPER["table3"]


def test_tables_from_markdown_reads_bold_underline_and_percent():
    text = ("Data\tMetric\t" + "\t".join(paper.METHODS) + "\tImp.\n"
            "Food\tMRR\t" + "\t".join(["1.00"] * 11) + "\t<u>2.00</u>\t<b>3.00</b>\t50.0%\n"
            "\tN@5\t" + "\t".join(["1.50"] * 13) + "\t0.0%\n"
            "<b>DPG-Diff (Full)</b>\t<b>1.1</b>\t<b>2.2</b>\t<b>3.3</b>\t<b>4.4</b>\n")
    rows1, rows3 = rd.tables_from_markdown(text)
    assert rows1[("Food", "MRR@10")] == (*[1.0] * 11, 2.0, 3.0, 50.0)
    assert rows1[("Food", "NDCG@5")] == (*[1.5] * 13, 0.0)
    assert rows3 == {"DPG-Diff (Full)": {"Food": 1.1, "Kitchen": 2.2, "Movie": 3.3, "Book": 4.4}}


def metrics_of(ranks: np.ndarray) -> dict[str, float]:
    """Table 1's five metrics (×100, rounded like the paper) of one method whose cases have these ranks."""
    r = ranks.astype(float)
    return {"MRR@10": round(100 * np.mean(np.where(r <= 10, 1 / r, 0)), 2),
            "NDCG@5": round(100 * np.mean(np.where(r <= 5, 1 / np.log2(r + 1), 0)), 2),
            "NDCG@10": round(100 * np.mean(np.where(r <= 10, 1 / np.log2(r + 1), 0)), 2),
            "HR@5": round(100 * np.mean(r <= 5), 2), "HR@10": round(100 * np.mean(r <= 10), 2)}


def test_no_real_ranking_breaks_a_bound():
    rng = np.random.default_rng(0)
    rows = {}
    for trial in range(60):  # rankings from nearly perfect to nearly random, some with every hit at rank 1
        n, skill = int(rng.integers(20, 3000)), rng.uniform(0.001, 1)
        ranks = np.minimum(rng.geometric(skill, n), 1000)
        if trial % 10 == 0:
            ranks = np.where(rng.random(n) < 0.05, 1, 500)
        method = paper.METHODS[trial % len(paper.METHODS)]
        for metric, value in metrics_of(ranks).items():
            rows.setdefault(("D", metric), {m: 0.0 for m in paper.METHODS})[method] = value
        if trial % len(paper.METHODS) == len(paper.METHODS) - 1:
            table = pd.DataFrame.from_dict(rows, orient="index")
            table.index = pd.MultiIndex.from_tuples(table.index, names=["domain", "metric"])
            assert rd.impossible_cells(table, ("elementary", "band", "mrr")).empty
            rows = {}


def test_the_scans_of_table1():
    table = paper.table1()
    assert table.shape == (20, 14)
    assert rd.cells_of(rd.impossible_cells(table)) == {("Book", "PCDSR"), ("Kitchen", "TCSR")}
    band = rd.cells_of(rd.impossible_cells(table, ("band",)))
    assert ("Kitchen", "TCSR") in band and all(method != "Our" for _, method in band) and len(band) == 10
    mrr = rd.impossible_cells(table, ("mrr",))
    assert len(mrr) == 8 and (mrr["MRR@10"] > mrr["NDCG@10"]).all()
    # rounding is allowed for: a cell 0.005 past a bound is not flagged, 0.02 past it is
    nudged = table.copy()
    nudged.loc[("Food", "HR@5"), "SAS"] = nudged.loc[("Food", "HR@10"), "SAS"] + 0.005
    assert ("Food", "SAS") not in rd.cells_of(rd.impossible_cells(nudged))
    nudged.loc[("Food", "HR@5"), "SAS"] = nudged.loc[("Food", "HR@10"), "SAS"] + 0.02
    assert ("Food", "SAS") in rd.cells_of(rd.impossible_cells(nudged))


def test_improvements_are_recomputed_from_the_best_baseline():
    imp = rd.improvements(paper.table1())
    assert imp["consistent"].all()
    row = imp.loc[("Movie", "HR@10")]
    assert row["best baseline"] == "DREAM" and row["Imp. recomputed"] == pytest.approx(100 * (21.15 - 16.49) / 16.49)
    wrong = paper.table1()
    wrong.loc[("Movie", "HR@10"), "Imp."] = 20.0
    assert not rd.improvements(wrong).loc[("Movie", "HR@10"), "consistent"]


def test_table3_and_the_rq2_text():
    table3 = paper.table3()
    assert list(table3.index) == list(paper.PAPER["table3"]) and list(table3.columns) == ["Food", "Kitchen", "Movie", "Book"]
    _, before, after = paper.PAPER["text_rq2"]["diff_de"]
    assert (table3.loc["Diff", "Movie"], table3.loc["Diff + DE", "Movie"]) == (before, after) and after < before


def test_kit_step_curve_reads_an_executed_step_table(tmp_path):
    table = ("model   diff       dpgdiff      \ndomain     X     Y       X     Y\nsteps                           \n"
             "1       4.88  5.46    8.32  8.41\n32      4.35  3.62    7.11  7.28")
    notebook = {"cells": [
        {"cell_type": "code", "source": ["x = 1"], "outputs": [{"output_type": "stream", "name": "stdout",
                                                                "text": ["RobustnessParams(epochs=8)\n"]}]},
        {"cell_type": "code", "source": ["step_table = step_curve(trained)\n", "display(step_table)"],
         "outputs": [{"output_type": "execute_result", "data": {"text/plain": table.splitlines(True)}}]}]}
    path = tmp_path / "07.ipynb"
    path.write_text(json.dumps(notebook))
    steps, run = rd.kit_step_curve(path)
    assert run == "RobustnessParams(epochs=8)"
    assert list(steps.index) == [1, 32] and steps.loc[32, ("dpgdiff", "Y")] == 7.28
    assert list(steps.columns) == [("diff", "X"), ("diff", "Y"), ("dpgdiff", "X"), ("dpgdiff", "Y")]
    path.write_text(json.dumps({"cells": notebook["cells"][:1]}))
    with pytest.raises(ValueError, match="no executed step table found"):
        rd.kit_step_curve(path)


def test_a_step_table_with_three_header_levels():
    text = ("model  diff        \nseed      0     1\ndomain    X     X\nsteps             \n1      4.0   5.0\n2      3.0   2.0")
    table = rd.parse_step_table(text)
    assert list(table.columns) == [("diff", "0", "X"), ("diff", "1", "X")] and table.loc[2, ("diff", "1", "X")] == 2.0
    assert rd.parse_step_table("   a  b\n0  1  2") is None


def test_the_committed_notebook_07_has_a_step_table():
    steps, run = rd.kit_step_curve()
    assert run.startswith("RobustnessParams(") and 1 in steps.index and "dpgdiff" in steps.columns.get_level_values(0)


def test_protocol_facts_on_a_toy_split():
    dataset = make_toy_dataset()  # train = each sequence minus its last two events = the validation history
    facts = rd.protocol_facts(dataset)
    assert facts["train_sequences"] == 40 and facts["train_users"] == facts["train_users_evaluated"] == 40
    assert facts["valid_histories_trained_on"] == 40 and facts["test_histories_trained_on"] == 0
    assert facts["valid_test_users_shared"] == 40
    assert facts["avg_length"] == pytest.approx(np.mean([len(h) + 1 for s in (dataset.valid, dataset.test)
                                                         for h in s.histories]))


@pytest.mark.skipif(not SHARED_FOOD_KITCHEN.exists(), reason="Food-Kitchen files not beside the repository")
def test_protocol_facts_on_food_kitchen():
    from dpgdiff_lite.data.sources import load_data

    facts = rd.protocol_facts(load_data(f"c2dsr:{SHARED_FOOD_KITCHEN}").dataset)
    table2 = paper.PAPER["table2_food_kitchen"]
    assert facts["protocol"] == "eval-split" and facts["items"] == table2["items"]
    assert facts["valid"] == table2["valid"] and facts["test"] == table2["test"]
    assert facts["train_sequences"] == sum(table2["valid"]) + sum(table2["test"]) == 16_579
    assert facts["test_histories_trained_on"] == facts["test_cases"] and facts["valid_test_users_shared"] == 0


def test_parameters():
    params = rd.ReadingParams()
    assert params.notebook_07_path.name == "07_robustness_and_steps.ipynb"
    with pytest.raises(ParameterError, match=r"^notebook_07: 'missing.ipynb' not found$"):
        rd.ReadingParams(notebook_07="missing.ipynb")
    assert rd.ReadingParams(food_kitchen="nowhere").food_kitchen_path is None


def test_exercise_scan():
    assert rd.check_scan(rd.reference_scan) == "correct: 2 impossible cells, and the planted one"
    assert rd.check_scan(lambda table: None) == "not attempted yet (reference: reading.reference_scan)"
    assert rd.check_scan(lambda table: {("Book", "PCDSR")}).startswith("mismatch: got [('Book', 'PCDSR')]")
    fixed = {("Book", "PCDSR"), ("Kitchen", "TCSR")}
    assert rd.check_scan(lambda table: fixed) == "your scan misses a planted HR@5 > HR@10 (Food, SAS)"
