"""experiments/table3_paired.py: Table 3 on a one-cell regimes folder, each variant paired against its
parent and the better SASRec, computed by hand from the per-case files; the command line finds the
per-case files under the grid's --runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dpgdiff_lite.cli import main
from dpgdiff_lite.experiments import regimes, table3_paired

CELL = {"conflict_kind": ["opposed"], "conflict_rate": [1.0], "adhoc_noise": [0.1]}
TINY = dict(data_preset="tiny", preset_name="smoke", progress=False)


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    """A one-cell ablation: two Table 3 variants and both SASRecs, 2 seeds, tables and runs apart."""
    root = tmp_path_factory.mktemp("ablation")
    regimes.run_grid(CELL, 2, root / "out", models=["sasrec", "sasrec-single", "diff", "diff+de"],
                     runs_dir=root / "runs", **TINY)
    assert main(["table3-paired", "--ablation", str(root / "out"), "--runs", str(root / "runs")]) == 0
    return root / "out", root / "runs"


def test_the_paired_table_by_hand(ablation):
    out, runs = ablation
    paired = pd.read_csv(out / "paired.csv")
    assert list(paired["variant"]) == ["diff", "diff", "diff+de", "diff+de"]
    assert list(paired["domain"]) == ["X", "Y", "X", "Y"]
    folder = runs / "per_case" / "conflict_kind=opposed__conflict_rate=1.0__adhoc_noise=0.1"
    read = {(m, s): pd.read_csv(folder / f"seed{s}" / f"{m}.csv.gz") for m in ("diff", "diff+de", "sasrec",
                                                                               "sasrec-single") for s in (0, 1)}
    row = paired.query("variant == 'diff+de' and domain == 'Y'").iloc[0]
    a = np.concatenate([read[("diff+de", s)].query("domain == 'Y'")["NDCG@10"] for s in (0, 1)])
    b = np.concatenate([read[("diff", s)].query("domain == 'Y'")["NDCG@10"] for s in (0, 1)])
    assert row["adds"] == "DE" and row["parent"] == "diff"
    assert row["vs parent p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    per_seed = [read[("diff+de", s)].query("domain == 'Y'")["NDCG@10"].mean() for s in (0, 1)]
    assert row["NDCG@10"] == pytest.approx(np.mean(per_seed)) and row["std"] == pytest.approx(np.std(per_seed, ddof=1))
    best = max(("sasrec", "sasrec-single"), key=lambda m: np.mean([read[(m, s)].query("domain == 'Y'")["NDCG@10"].mean()
                                                                    for s in (0, 1)]))
    assert row["best SASRec"] == best
    assert np.isnan(paired.query("variant == 'diff'")["vs parent"]).all()  # the base variant has no parent


def test_the_per_case_files_are_looked_for_under_runs(ablation):
    out, runs = ablation
    with pytest.raises(FileNotFoundError, match="pass --runs"):
        table3_paired.ablation_paired(out)
    assert table3_paired.ablation_paired(out, runs).to_csv(index=False) == (out / "paired.csv").read_text()


def test_a_grid_of_several_cells_is_refused(tmp_path):
    grid = {"conflict_kind": ["opposed"], "conflict_rate": [0.0, 1.0]}
    regimes.run_grid(grid, 1, tmp_path, models=["sasrec", "sasrec-single", "diff"], **TINY)
    assert main(["table3-paired", "--ablation", str(tmp_path)]) == 2
    with pytest.raises(ValueError, match="the ablation is one cell, got 2"):
        table3_paired.ablation_paired(tmp_path)
