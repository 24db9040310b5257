"""Table 3 on one regime cell, paired: does each component of DPG-Diff add NDCG@10 where SASRec's
transfer is most negative?

The paper's Table 3 trains five variants (``diff`` … ``dpgdiff``, :data:`dpgdiff_lite.config.VARIANT_FLAGS`);
a one-cell ``regimes`` grid that ran them beside both SASRecs (``regimes --most-negative-of
SUMMARY_CSV``) gives, per variant and domain, the mean and std over seeds of its test NDCG@10, the
change against its *parent* (the variant it extends by one component, :data:`ADDS`) and against the
better SASRec, each with its paired p over every (seed, test case) pair
(:mod:`dpgdiff_lite.experiments.transfer`). ``python -m dpgdiff_lite table3-paired --ablation DIR
[--runs RUNS]`` writes ``DIR/paired.csv`` from the per-case files under RUNS (the grid's ``--runs``).
:func:`table3_steps` sets its steps beside those of the teaching data's Table 3 (notebook 08).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from dpgdiff_lite.config import VARIANT_FLAGS
from dpgdiff_lite.data.synthetic import PRESETS as DATA_PRESETS
from dpgdiff_lite.experiments import regimes
from dpgdiff_lite.evaluation import paired_difference
from dpgdiff_lite.experiments.transfer import gain_over_best

ABLATION_ORDER = tuple(VARIANT_FLAGS)
"""The Table 3 variants in the paper's order."""
ADDS = {"diff+de": ("diff", "DE"), "diff+de+g": ("diff+de", "G"), "diff+de+tricl": ("diff+de", "Tri-CL"),
        "dpgdiff": ("diff+de+g", "Tri-CL on top of G")}
"""Each Table 3 variant's parent (the variant it extends by one component) and that component."""
BASELINES = ("sasrec", "sasrec-single")
"""The two SASRecs: on the mixed sequence s_c and on the domain's own s_d."""


def one_cell(grid: dict, where: str) -> dict:
    """The one cell of an ablation's ``grid.json``; a ValueError naming ``where`` otherwise."""
    cells = regimes.grid_cells(grid["grid"])
    if len(cells) != 1:
        raise ValueError(f"{where}: the ablation is one cell, got {len(cells)}")
    return cells[0]


def ablation_paired(ablation_dir: str | Path, runs_dir: str | Path | None = None) -> pd.DataFrame:
    """From a one-cell regimes folder with the Table 3 variants (and both SASRecs), its per-case files
    under ``runs_dir`` (default: the folder): per variant and domain the mean and std over seeds of
    NDCG@10, the change against its parent variant (:data:`ADDS`) and against the better SASRec, each
    with its paired p over (seed, case) pairs."""
    out = Path(ablation_dir)
    grid, runs = regimes.read_grid(out, runs_dir)
    cell = one_cell(grid, out.name)
    variants = [m for m in ABLATION_ORDER if m in grid["models"]]
    baselines = [m for m in BASELINES if m in grid["models"]]
    if not variants or not baselines:
        raise ValueError(f"{out.name}: needs Table 3 variants and sasrec / sasrec-single, got {grid['models']}")
    per = {m: {s: pd.read_csv(regimes.per_case_folder(runs, cell, s) / f"{m}.csv.gz") for s in grid["seeds"]}
           for m in grid["models"]}
    domains = list(DATA_PRESETS[grid["data_preset"]].domain_names)
    rows = []
    for variant in variants:
        own = paired_difference(per[variant], per[baselines[0]], names=(variant, baselines[0]))
        best = gain_over_best(per[variant], {b: per[b] for b in baselines})
        parent, component = ADDS.get(variant, (None, ""))
        step = paired_difference(per[variant], per[parent], names=(variant, parent)) if parent in per else None
        for domain in [d for d in domains if d in own.index]:
            rows.append({**cell, "variant": variant, "domain": domain, "NDCG@10": own.loc[domain, "mean_a"],
                         "std": per_seed_std(per[variant], domain), "n_seeds": int(own.loc[domain, "n_seeds"]),
                         "adds": component, "parent": parent or "",
                         "vs parent": step.loc[domain, "diff"] if step is not None else np.nan,
                         "vs parent p": step.loc[domain, "p"] if step is not None else np.nan,
                         "best SASRec": best.loc[domain, "best"], "vs best SASRec": best.loc[domain, "gain"],
                         "vs best SASRec p": best.loc[domain, "p"]})
    return pd.DataFrame(rows)


def per_seed_std(by_seed: dict[int, pd.DataFrame], domain: str) -> float:
    """The std (ddof 1) over seeds of a model's mean NDCG@10 in ``domain``; NaN for one seed."""
    values = [frame.loc[frame["domain"] == domain, "NDCG@10"].mean() for frame in by_seed.values()]
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


# --- the command line ------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite table3-paired``."""
    parser.add_argument("--ablation", required=True,
                        help="a one-cell regimes folder that ran the Table 3 variants and both SASRecs; "
                             "paired.csv is written there")
    parser.add_argument("--runs", help="the --runs folder that grid was run with (default: --ablation)")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    """Write ``ABLATION/paired.csv`` and print it."""
    table = ablation_paired(args.ablation, args.runs)
    table.to_csv(Path(args.ablation) / "paired.csv", index=False)
    shown = table.set_index(["variant", "domain"])[["NDCG@10", "std", "adds", "vs parent", "vs parent p",
                                                     "best SASRec", "vs best SASRec", "vs best SASRec p"]]
    print(shown.round(4).to_string())
    return table


# --- the steps between Table 3 rows, on two worlds (notebook 08) ---------------------------------------
Z95 = float(stats.norm.isf(0.025))
"""z_{0.025}: the half-width of a 95 % normal interval in standard errors."""


def _interval(delta: pd.Series, p: pd.Series) -> pd.Series:
    """Half-width of the 95 % interval implied by a paired test's difference and two-sided p, with the normal
    approximation (thousands of (seed, case) pairs): |Δ| / z_{p/2} × 1.96."""
    z = pd.Series(stats.norm.isf(p.to_numpy(dtype=float) / 2), index=p.index)
    return (delta.abs() / z * Z95).where(z > 0)


def table3_steps(teaching: pd.DataFrame, conflict: pd.DataFrame) -> pd.DataFrame:
    """One row per step between Table 3 rows, per world and domain: from, to, Δ NDCG@10, p and the 95 %
    interval. ``teaching`` is ``results/08/table3_seeds.csv`` (each row against the row above), ``conflict``
    is ``results/regimes/ablation/paired.csv`` (each variant against the one it adds a component to)."""
    rows = []
    order = list(teaching["variant"])
    for i, row in teaching.iloc[1:].iterrows():
        for d in [c[:-len(" Δ")] for c in teaching.columns if c.endswith(" Δ")]:
            rows.append({"world": "teaching data", "from": order[i - 1], "to": row["variant"], "domain": d,
                         "Δ": row[f"{d} Δ"], "p": row[f"{d} p"]})
    for _, row in conflict.dropna(subset=["parent"]).iterrows():
        rows.append({"world": "opposed conflict", "from": row["parent"], "to": row["variant"], "domain": row["domain"],
                     "Δ": row["vs parent"], "p": row["vs parent p"]})
    steps = pd.DataFrame(rows)
    steps["± 95 %"] = _interval(steps["Δ"], steps["p"])
    steps["step"] = steps["from"] + " → " + steps["to"]
    return steps
