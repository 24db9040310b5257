"""lessons/comparison.py (notebook 06): Table 1 for display, the summary, the exercise."""

from __future__ import annotations

import json


from dpgdiff_lite import runs
from dpgdiff_lite.lessons import comparison


def test_table1_display_and_summary(robust_runs, tiny_source):
    params, trained = robust_runs
    table = runs.table1(trained)
    alone = runs.table1({"sasrec": trained["sasrec"], "diff": trained["diff"]})
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
    table = runs.table1(trained)
    assert comparison.check_improvement(comparison.improvement_and_p_by_hand, trained, table).startswith("correct: X NDCG@10 vs ")
    assert comparison.check_improvement(lambda *a: None, trained, table).startswith("not attempted yet")
    assert comparison.check_improvement(lambda *a: (0.0, 0.5), trained, table).startswith("mismatch")
