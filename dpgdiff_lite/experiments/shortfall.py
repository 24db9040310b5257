"""Where DPG-Diff falls short: eq. (15)'s parts, and the kit's fused reading of ĝ_d, on the most negative cell.

On the one-cell ablation grid (``regimes --most-negative-of``), how does DPG-Diff stand against the better
SASRec, and which part of eq. (15), ŷ = (x̂_0 + ĝ_d)ᵀE_d, carries it? :func:`shortfall` ranks the grid's
trained DPG-Diff runs (the paper's own-domain ĝ_d) by each part
(:class:`~dpgdiff_lite.experiments.eq15.PartScorer`) and retrains DPG-Diff with the kit's other reading of
ĝ_d, the fused g_x + g_y (``preference="fused"``, :data:`KIT_READING`); each against the better SASRec,
paired over (seed, case). :func:`kit_reading_teaching` trains the same fused model on the teaching data
(where the domains agree), the comparison notebook 02 makes with notebook 06's DPG-Diff. Both train
through :mod:`dpgdiff_lite.experiments.runner`::

    python -m dpgdiff_lite shortfall --ablation DIR [--runs RUNS] [--fused-runs FUSED]

writes ``DIR/shortfall.csv`` and ``DIR/preference_fused_teaching.csv`` (the layout of ``compare
--seeds``'s ``per_seed.csv``); the grid's run folders and per-case files are read from RUNS (its
``--runs``, default DIR), the retrained runs go to FUSED (default ``RUNS/preference-fused``):
``FUSED/seed<k>/dpgdiff-fused/`` on the cell and ``FUSED/teaching/dpgdiff/seed<k>/`` on the teaching data.
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

KIT_READING = "fused"
"""The reading of ĝ_d that :func:`shortfall` retrains beside the paper's own-domain one (``Config.preference``)."""
KIT_ROW = f"{KIT_READING} ĝ_d, ranked by x̂_0 + ĝ_d"
"""The row of the retrained fused DPG-Diff; the grid's own rows are ``own ĝ_d, ranked by <part>``."""
TEACHING_FILE = f"preference_{KIT_READING}_teaching.csv"
"""The per-seed table of the fused DPG-Diff on the teaching data, written beside ``shortfall.csv``."""
TEACHING_DATA = "synthetic"
"""The teaching data's spec (notebook 06's committed DPG-Diff is trained on it)."""
TEACHING_PRESET = "teaching"
"""The config preset of ``compare``, with which notebook 06's per_seed.csv was trained."""


def shortfall(ablation_dir: str | Path, fused_dir: str | Path, runs_dir: str | Path | None = None,
              progress: bool = False) -> pd.DataFrame:
    """On a one-cell ablation folder (its run folders and per-case files under ``runs_dir``, default the
    folder): DPG-Diff's gain over the better SASRec (paired over seed and case) when it ranks by each
    part of eq. (15) with the grid's reading of ĝ_d, and when ĝ_d is the fused g_x + g_y
    (:data:`KIT_READING`, retrained into ``fused_dir/seed<k>/dpgdiff-fused``)."""
    folder, fused_root = Path(ablation_dir), Path(fused_dir)
    grid, runs = regimes.read_grid(folder, runs_dir)
    cell = one_cell(grid, folder.name)
    fused_root.mkdir(parents=True, exist_ok=True)
    baselines = {b: {s: pd.read_csv(regimes.per_case_folder(runs, cell, s) / f"{b}.csv.gz") for s in grid["seeds"]}
                 for b in BASELINES}
    variants: dict[str, dict[int, pd.DataFrame]] = {}
    for seed in grid["seeds"]:
        dataset, truth = regimes.draw_cell(grid["data_preset"], cell, seed)
        model, config = load_run(regimes.run_dir(runs, cell, seed, "dpgdiff"), dataset)
        for part in EQ15_PARTS:
            scored = run_evaluation(PartScorer(model, part), dataset, config, "test")
            variants.setdefault(f"{config.preference} ĝ_d, ranked by {part}", {})[seed] = scored.per_case
        fused = dataclasses.replace(config, preference=KIT_READING)
        result = train_or_load(dataset, fused, fused_root / f"seed{seed}" / f"dpgdiff-{KIT_READING}",
                               regimes.data_spec(grid["data_preset"], cell, seed), progress=progress, truth=truth)
        variants.setdefault(KIT_ROW, {})[seed] = result.test.per_case
    rows = []
    for name, by_seed in variants.items():
        gain = gain_over_best(by_seed, baselines)
        rows += [{**cell, "dpgdiff": name, "domain": d, **gain.loc[d].to_dict()} for d in gain.index]
    return pd.DataFrame(rows)


def kit_reading_teaching(seeds: Sequence[int], runs_dir: str | Path, data: str = TEACHING_DATA,
                         preset_name: str = TEACHING_PRESET, progress: bool = False) -> pd.DataFrame:
    """DPG-Diff with the fused ĝ_d (:data:`KIT_READING`) on the teaching data, one run per seed in
    ``runs_dir/dpgdiff/seed<k>/``: the ``per_seed.csv`` rows of ``compare --data synthetic --models
    dpgdiff --seeds … --set preference=fused`` (same configs, same data, same table)."""
    configs = {"dpgdiff": preset(preset_name, model="dpgdiff").with_overrides([f"preference={KIT_READING}"])}
    runs = seed_runs(configs, list(seeds), data, runs_dir)
    results = train_runs(runs, load=load_data, progress=progress, desc=f"preference={KIT_READING}, teaching data")
    return per_seed_frame(by_model_and_seed(runs, results, list(configs)))


# --- the command line ------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite shortfall``."""
    parser.add_argument("--ablation", required=True,
                        help="the one-cell regimes folder of Table 3 on the most negative cell; shortfall.csv "
                             f"and {TEACHING_FILE} are written there")
    parser.add_argument("--runs", help="the --runs folder that grid was run with (default: --ablation)")
    parser.add_argument("--fused-runs", help=f"folder for the preference='{KIT_READING}' trainings "
                                             f"(default: RUNS/preference-{KIT_READING})")
    parser.add_argument("--teaching-data", default=TEACHING_DATA, help=f"data spec of {TEACHING_FILE}")
    parser.add_argument("--teaching-preset", default=TEACHING_PRESET, choices=list(PRESETS),
                        help=f"config preset of {TEACHING_FILE}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    """Write ``shortfall.csv`` and :data:`TEACHING_FILE` into the ablation folder; print both."""
    folder = Path(args.ablation)
    runs = Path(args.runs) if args.runs else folder
    fused_dir = Path(args.fused_runs) if args.fused_runs else runs / f"preference-{KIT_READING}"
    table = shortfall(folder, fused_dir, runs, progress=not args.quiet)
    table.to_csv(folder / "shortfall.csv", index=False)
    print(table.round(3).to_string(index=False))
    seeds = regimes.read_grid(folder, runs)[0]["seeds"]
    teaching = kit_reading_teaching(seeds, fused_dir / "teaching", args.teaching_data, args.teaching_preset,
                                    progress=not args.quiet)
    teaching.to_csv(folder / TEACHING_FILE, index=False)
    print(f"preference='{KIT_READING}' on the teaching data, test NDCG@10 ×100 per seed ({folder / TEACHING_FILE}):")
    print(teaching[teaching["metric"] == "NDCG@10"].pivot(index="seed", columns="domain", values="value")
          .round(2).to_string())
    return table
