"""Table 3 (RQ2): the five diffusion variants, one component added at a time, over seeds, with eq. (15)
taken apart (``python -m dpgdiff_lite table3``; notebooks 08 and 04 read its folder).

Every variant trains with every model seed through :func:`dpgdiff_lite.experiments.runner.train_seeds`
into ``RUNS/<variant>/seed<k>/``. Each row of Table 3 is tested against the row above (over the test
cases of one seed, or over (seed, case) pairs), DPG-Diff against every other variant, and each run is
ranked by each part of eq. (15) (:mod:`dpgdiff_lite.experiments.eq15`).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dpgdiff_lite.config import VARIANT_FLAGS
from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.evaluation import paired_difference, paired_test
from dpgdiff_lite.experiments.compare import Setting, seed_arguments, seed_setting
from dpgdiff_lite.experiments.eq15 import eq15_parts
from dpgdiff_lite.experiments.runner import train_seeds
from dpgdiff_lite.experiments.tables import write_precomputed
from dpgdiff_lite.trainer import TrainResult

ABLATION_ORDER = tuple(VARIANT_FLAGS)
"""Table 3's rows in the paper's order: diff, diff+de, diff+de+g, diff+de+tricl, dpgdiff."""

Seeded = Mapping[str, Mapping[int, TrainResult]]


def _variants(results: Mapping, who: str) -> list[str]:
    names = [m for m in ABLATION_ORDER if m in results]
    if len(names) != len(results):
        extra = sorted(set(results) - set(names))
        raise ValueError(f"{who} takes the diffusion variants {', '.join(ABLATION_ORDER)}; got {', '.join(extra)}")
    return names


def _components(name: str) -> dict[str, str]:
    de, g, cl = VARIANT_FLAGS[name]
    return {"variant": name, "DE": "✓" if de else "", "G": "✓" if g else "", "Tri-CL": "✓" if cl else ""}


def ablation_table(results: dict[str, TrainResult], metric: str = "NDCG@10") -> pd.DataFrame:
    """Table 3: one row per variant (in the paper's order) with its components, ``metric`` per domain,
    and the change and paired t-test p-value against the row above."""
    names = _variants(results, "ablation_table")
    domains = list(results[names[0]].test.table.index)
    rows = []
    for i, name in enumerate(names):
        row = _components(name)
        test = paired_test(results[name].test, results[names[i - 1]].test, metric) if i else None
        for d in domains:
            row[d] = results[name].test.table.loc[d, metric]
            row[f"{d} Δ"] = test.loc[d, "diff"] if test is not None else np.nan
            row[f"{d} p"] = test.loc[d, "p"] if test is not None else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def ablation_seeds_table(results: Seeded, metric: str = "NDCG@10") -> pd.DataFrame:
    """Table 3 over seeds: per variant (in the paper's order) its components and, per domain, the mean
    and std over seeds of ``metric``, the change Δ against the row above (mean over seeds of each
    seed's difference) and p, the paired t-test over every (seed, test case) pair
    (:func:`dpgdiff_lite.evaluation.paired_difference`)."""
    names = _variants(results, "ablation_seeds_table")
    tests = {name: {s: r.test for s, r in results[name].items()} for name in names}
    domains = list(next(iter(results[names[0]].values())).test.table.index)
    rows = []
    for i, name in enumerate(names):
        row = _components(name)
        values = np.array([[r.test.table.loc[d, metric] for d in domains] for r in results[name].values()])  # (seeds, domains)
        test = paired_difference(tests[name], tests[names[i - 1]], metric, (name, names[i - 1])) if i else None
        for j, d in enumerate(domains):
            row[f"{d} mean"] = values[:, j].mean()
            row[f"{d} std"] = values[:, j].std(ddof=1) if len(values) > 1 else np.nan
            row[f"{d} Δ"] = test.loc[d, "diff"] if test is not None else np.nan
            row[f"{d} p"] = test.loc[d, "p"] if test is not None else np.nan
        row["seeds"] = len(values)
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def variant_runs_frame(results: Seeded) -> pd.DataFrame:
    """Test NDCG@10 per variant, seed and domain, with the epochs run, the epoch of the best validation
    NDCG@10 (the one kept) and the preset's cap on epochs (``per_seed.csv``)."""
    return pd.DataFrame([{"variant": name, "seed": s, "domain": d, "NDCG@10": v, "epochs_run": r.epochs_run,
                          "best_epoch": int(r.history.loc[r.history["valid_NDCG@10"].idxmax(), "epoch"]),
                          "max_epochs": r.config.epochs}
                         for name, runs in results.items() for s, r in runs.items()
                         for d, v in r.test.table["NDCG@10"].items()])


def vs_full_frame(results: Seeded, ours: str = "dpgdiff") -> pd.DataFrame:
    """``ours`` minus each other variant per domain, paired over (seed, case): one block of
    :func:`~dpgdiff_lite.evaluation.paired_difference` rows per other variant (column ``other``)."""
    tests = {name: {s: r.test for s, r in runs.items()} for name, runs in results.items()}
    return pd.concat([paired_difference(tests[ours], tests[name], names=(ours, name)).reset_index().assign(other=name)
                      for name in tests if name != ours], ignore_index=True)


def eq15_frame(results: Seeded, source: DataSource) -> pd.DataFrame:
    """Test NDCG@10 by each part of eq. (15) (:func:`dpgdiff_lite.experiments.eq15.eq15_parts`) per
    variant and seed: columns variant, seed, ranked by, NDCG@10 per domain and mean (``eq15.csv``)."""
    eq15 = pd.concat([eq15_parts(r, source.dataset).reset_index().assign(variant=name, seed=s)
                      for name, runs in results.items() for s, r in runs.items()], ignore_index=True)
    return eq15[["variant", "seed", "ranked by"] + [c for c in eq15.columns if c.startswith("NDCG@10")]]


def seed_frames(source: DataSource, results: Seeded) -> dict[str, pd.DataFrame]:
    """Every table of notebook 08's results folder: ``per_seed`` (:func:`variant_runs_frame`),
    ``table3_seeds`` (:func:`ablation_seeds_table`), ``eq15`` (:func:`eq15_frame`) and, with DPG-Diff
    and another variant, ``vs_full`` (:func:`vs_full_frame`)."""
    frames = {"per_seed": variant_runs_frame(results), "table3_seeds": ablation_seeds_table(results).reset_index(),
              "eq15": eq15_frame(results, source)}
    if "dpgdiff" in results and len(results) > 1:
        frames["vs_full"] = vs_full_frame(results)
    return frames


def precompute(setting: Setting, seeds: Sequence[int], runs_dir: str | Path, out_dir: str | Path,
               resume: bool = True, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Train every variant of ``setting`` with every seed into ``runs_dir`` and write :func:`seed_frames`
    and ``setting.json`` into ``out_dir`` (the variants in Table 3's order)."""
    _variants(dict.fromkeys(setting.models), "table3")
    setting = dataclasses.replace(setting, models=tuple(m for m in ABLATION_ORDER if m in setting.models))
    started = time.perf_counter()
    source = setting.load()
    results = train_seeds(source, setting.configs(), seeds, runs_dir, setting.data, resume=resume, progress=progress)
    frames = seed_frames(source, results)
    write_precomputed(frames, {**setting.record(), "seeds": list(seeds)}, time.perf_counter() - started, out_dir)
    return frames


# --- the command line ------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite table3``."""
    return seed_arguments(parser, ABLATION_ORDER)


def command(args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    """Table 3 over seeds with eq. (15) by part, written to ``--out``."""
    setting, seeds = seed_setting(args)
    started = time.perf_counter()
    frames = precompute(setting, seeds, args.runs, args.out, resume=not args.fresh, progress=not args.quiet)
    print(f"wrote {', '.join(sorted(frames))} to {args.out} in {time.perf_counter() - started:.0f} s")
    return frames
