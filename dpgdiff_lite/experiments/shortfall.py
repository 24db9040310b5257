"""Where DPG-Diff falls short: eq. (15)'s parts and the own-domain preference on the most negative cell.

On the one-cell ablation grid (``regimes --most-negative-of``), DPG-Diff is below the better SASRec.
Which reading of eq. (15), ŷ = (x̂_0 + ĝ_d)ᵀE_d, closes the gap? :func:`shortfall` ranks the grid's
trained DPG-Diff runs by each part (:class:`~dpgdiff_lite.experiments.eq15.PartScorer`) and retrains
DPG-Diff with ĝ_d read as the target domain's own encoder output (``preference="own"``, eq. 15
literally) instead of the default fused g_x + g_y; each against the better SASRec, paired over
(seed, case). :func:`own_preference_teaching` trains the same ``preference="own"`` model on the
teaching data (where the domains agree), the comparison notebook 02 makes with notebook 06's fused
DPG-Diff. Both train through :mod:`dpgdiff_lite.experiments.runner`::

    python -m dpgdiff_lite shortfall --ablation DIR [--runs RUNS] [--own-runs OWN]

writes ``DIR/shortfall.csv`` and ``DIR/preference_own_teaching.csv`` (the layout of ``compare
--seeds``'s ``per_seed.csv``); the grid's run folders and per-case files are read from RUNS (its
``--runs``, default DIR), the retrained runs go to OWN (default ``RUNS/preference-own``):
``OWN/seed<k>/dpgdiff-own/`` on the cell and ``OWN/teaching/dpgdiff/seed<k>/`` on the teaching data.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dpgdiff_lite.config import PRESETS, preset
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.experiments import regimes
from dpgdiff_lite.experiments.eq15 import EQ15_PARTS, PartScorer
from dpgdiff_lite.experiments.runner import by_model_and_seed, seed_runs, train_or_load, train_runs
from dpgdiff_lite.experiments.tables import per_seed_frame
from dpgdiff_lite.experiments.table3_paired import BASELINES, one_cell
from dpgdiff_lite.experiments.transfer import gain_over_best
from dpgdiff_lite.trainer import load_run, run_evaluation

OWN = "own ĝ_d, ranked by x̂_0 + ĝ_d"
"""The row of the retrained own-domain DPG-Diff; the fused rows are ``fused ĝ_d, ranked by <part>``."""
TEACHING_DATA = "synthetic"
"""The teaching data's spec (notebook 06's committed DPG-Diff is trained on it)."""
TEACHING_PRESET = "teaching"
"""The config preset of ``compare``, with which notebook 06's per_seed.csv was trained."""


def shortfall(ablation_dir: str | Path, own_dir: str | Path, runs_dir: str | Path | None = None,
              progress: bool = False) -> pd.DataFrame:
    """On a one-cell ablation folder (its run folders and per-case files under ``runs_dir``, default the
    folder): DPG-Diff's gain over the better SASRec (paired over seed and case) when it ranks by each
    part of eq. (15) and when ĝ_d is the target domain's own encoder output (``preference="own"``,
    retrained into ``own_dir/seed<k>/dpgdiff-own``): which reading of eq. (15) closes the gap."""
    folder, own_root = Path(ablation_dir), Path(own_dir)
    grid, runs = regimes.read_grid(folder, runs_dir)
    cell = one_cell(grid, folder.name)
    own_root.mkdir(parents=True, exist_ok=True)
    baselines = {b: {s: pd.read_csv(regimes.per_case_folder(runs, cell, s) / f"{b}.csv.gz") for s in grid["seeds"]}
                 for b in BASELINES}
    variants: dict[str, dict[int, pd.DataFrame]] = {}
    for seed in grid["seeds"]:
        dataset, truth = regimes.draw_cell(grid["data_preset"], cell, seed)
        model, config = load_run(regimes.run_dir(runs, cell, seed, "dpgdiff"), dataset)
        for part in EQ15_PARTS:
            scored = run_evaluation(PartScorer(model, part), dataset, config, "test")
            variants.setdefault(f"fused ĝ_d, ranked by {part}", {})[seed] = scored.per_case
        own = dataclasses.replace(config, preference="own")
        result = train_or_load(dataset, own, own_root / f"seed{seed}" / "dpgdiff-own",
                               regimes.data_spec(grid["data_preset"], cell, seed), progress=progress, truth=truth)
        variants.setdefault(OWN, {})[seed] = result.test.per_case
    rows = []
    for name, by_seed in variants.items():
        gain = gain_over_best(by_seed, baselines)
        rows += [{**cell, "dpgdiff": name, "domain": d, **gain.loc[d].to_dict()} for d in gain.index]
    return pd.DataFrame(rows)


def own_preference_teaching(seeds: Sequence[int], runs_dir: str | Path, data: str = TEACHING_DATA,
                            preset_name: str = TEACHING_PRESET, progress: bool = False) -> pd.DataFrame:
    """DPG-Diff with ``preference="own"`` on the teaching data, one run per seed in
    ``runs_dir/dpgdiff/seed<k>/``: the ``per_seed.csv`` rows of ``compare --data synthetic --models
    dpgdiff --seeds … --set preference=own`` (same configs, same data, same table)."""
    configs = {"dpgdiff": preset(preset_name, model="dpgdiff").with_overrides(["preference=own"])}
    runs = seed_runs(configs, list(seeds), data, runs_dir)
    results = train_runs(runs, load=load_data, progress=progress, desc="preference=own, teaching data")
    return per_seed_frame(by_model_and_seed(runs, results, list(configs)))


# --- the command line ------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite shortfall``."""
    parser.add_argument("--ablation", required=True,
                        help="the one-cell regimes folder of Table 3 on the most negative cell; shortfall.csv "
                             "and preference_own_teaching.csv are written there")
    parser.add_argument("--runs", help="the --runs folder that grid was run with (default: --ablation)")
    parser.add_argument("--own-runs", help="folder for the preference='own' trainings (default: RUNS/preference-own)")
    parser.add_argument("--teaching-data", default=TEACHING_DATA, help="data spec of preference_own_teaching.csv")
    parser.add_argument("--teaching-preset", default=TEACHING_PRESET, choices=list(PRESETS),
                        help="config preset of preference_own_teaching.csv")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    """Write ``shortfall.csv`` and ``preference_own_teaching.csv`` into the ablation folder; print both."""
    folder = Path(args.ablation)
    runs = Path(args.runs) if args.runs else folder
    own_dir = Path(args.own_runs) if args.own_runs else runs / "preference-own"
    table = shortfall(folder, own_dir, runs, progress=not args.quiet)
    table.to_csv(folder / "shortfall.csv", index=False)
    print(table.round(3).to_string(index=False))
    seeds = regimes.read_grid(folder, runs)[0]["seeds"]
    teaching = own_preference_teaching(seeds, own_dir / "teaching", args.teaching_data, args.teaching_preset,
                                       progress=not args.quiet)
    teaching.to_csv(folder / "preference_own_teaching.csv", index=False)
    print(f"preference='own' on the teaching data, test NDCG@10 ×100 per seed "
          f"({folder / 'preference_own_teaching.csv'}):")
    print(teaching[teaching["metric"] == "NDCG@10"].pivot(index="seed", columns="domain", values="value")
          .round(2).to_string())
    return table
