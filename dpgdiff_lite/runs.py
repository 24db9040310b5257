"""Run folders and the comparisons printed from them: train-or-reload, several models side by side,
Table 1 and the fraction of the planted oracle.

The trainer writes each run's record; this module decides when a folder can be reused (it holds
the same configuration and data spec) and lays several runs out as the paper's Table 1. The CLI's
``compare`` and the experiment notebooks 06–08 both go through :func:`train_models`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.evaluation import METRICS, results_table
from dpgdiff_lite.run_folder import RunFolderError, read_config
from dpgdiff_lite.trainer import TrainResult, recorded_data, run_evaluation, train
from dpgdiff_lite.transfer import paired_difference

log = logging.getLogger(__name__)


def same_run(run_dir: Path, config: Config, data: str | None) -> bool:
    """True when ``run_dir`` was trained with exactly ``config`` on the data spec ``data``."""
    try:
        return read_config(run_dir / "config.json") == config and recorded_data(run_dir) == data
    except (FileNotFoundError, ValueError):  # no run there, or unreadable files (RunFolderError)
        return False


def train_or_load(dataset: CrossDomainDataset, config: Config, run_dir: Path | None, data: str | None,
                  resume: bool = True, progress: bool = False, truth=None) -> TrainResult:
    """``train`` into ``run_dir``, resuming (or just reloading) it when it holds the same config and
    data, and starting over otherwise (the notebooks' ``resume`` parameter); a checkpoint that no
    longer loads (corrupt, or the model code changed) is retrained from scratch."""
    reusable = resume and run_dir is not None and same_run(run_dir, config, data)
    try:
        return train(dataset, config, run_dir, data=data, truth=truth, progress=progress, resume=reusable)
    except RunFolderError as error:
        if not reusable:
            raise
        log.warning("could not resume %s (%s); training from scratch", run_dir.name, str(error).split("\n")[0])
        return train(dataset, config, run_dir, data=data, truth=truth, progress=progress, resume=False)


def train_models(source: DataSource, configs: dict[str, Config], out_dir: str | Path | None, data: str | None,
                 resume: bool = True, progress: bool = False) -> dict[str, TrainResult]:
    """Train each named config on the same data into ``out_dir/<name>/`` (reusing finished runs)."""
    out = Path(out_dir) if out_dir is not None else None
    results = {}
    for name, config in configs.items():
        started = time.perf_counter()
        results[name] = train_or_load(source.dataset, config, out / name if out else None, data, resume,
                                      progress, source.truth)
        log.info("%s: %.1f s", name, time.perf_counter() - started)
    return results


def table1(results: dict[str, TrainResult], ours: str = "dpgdiff") -> pd.DataFrame:
    """The paper's Table 1: rows (domain, metric), one column per model, then "Imp." and "p" of
    ``ours`` against the best other model (when ``ours`` was trained next to another model)."""
    tests = {name: result.test for name, result in results.items()}
    return results_table(tests, ours=ours if ours in tests and len(tests) > 1 else None)


def oracle_fraction(results: dict[str, TrainResult], source: DataSource) -> pd.DataFrame | None:
    """Test NDCG@10 of each model as a fraction of the planted oracle's (synthetic data only, else None)."""
    if source.truth is None:
        return None
    config = next(iter(results.values())).config
    oracle = run_evaluation(source.truth.oracle_scorer(), source.dataset, config, "test").table["NDCG@10"]
    return pd.DataFrame({"oracle NDCG@10": oracle,
                         **{name: r.test.table["NDCG@10"] / oracle for name, r in results.items()}})


def run_folder_listing(out_dir: str | Path) -> str:
    """The files of a run folder, relative to it (no absolute paths in a notebook's output)."""
    root = Path(out_dir)
    return "\n".join(sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()))


def train_seeds(source: DataSource, configs: dict[str, Config], seeds: list[int], out_dir: str | Path | None,
                data: str | None, resume: bool = True, progress: bool = False) -> dict[str, dict[int, TrainResult]]:
    """Each named config trained with every model seed (same data) into ``out_dir/<name>/seed<k>/``:
    ``{name: {seed: result}}``; finished runs are reloaded."""
    out = Path(out_dir) if out_dir is not None else None
    return {name: {seed: train_or_load(source.dataset, dataclasses.replace(config, seed=seed),
                                       out / name / f"seed{seed}" if out else None, data, resume, progress,
                                       source.truth)
                   for seed in seeds}
            for name, config in configs.items()}


def per_seed_frame(results: dict[str, dict[int, TrainResult]]) -> pd.DataFrame:
    """One row per (model, seed, domain, metric): the test value (×100), epochs run and seconds per
    epoch (the layout of ``compare --seeds``'s ``per_seed.csv``)."""
    return pd.DataFrame([{"model": name, "seed": seed, "domain": d, "metric": m, "value": r.test.table.loc[d, m],
                          "epochs_run": r.epochs_run, "seconds_per_epoch": r.seconds_per_epoch}
                         for name, runs in results.items() for seed, r in runs.items()
                         for d in r.test.table.index for m in r.test.table.columns])


def seeds_table(results: dict[str, dict[int, TrainResult]], ours: str = "dpgdiff",
                metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Table 1 over seeds: rows (domain, metric); per model the mean and std (ddof 1) over seeds of its
    test metric; with ``ours``, "Imp." against the best other model of the row and "p", the paired
    t-test over every (seed, test case) pair against the other model with the best NDCG@10 there."""
    first = next(iter(results.values()))
    domains = list(next(iter(first.values())).test.table.index)
    index = pd.MultiIndex.from_product([domains, list(metrics)], names=["domain", "metric"])
    columns = {}
    for name, runs in results.items():
        values = np.array([[r.test.table.loc[d, m] for d, m in index] for r in runs.values()])  # (seeds, rows)
        columns[f"{name} mean"] = values.mean(0)
        columns[f"{name} std"] = values.std(0, ddof=1) if len(values) > 1 else np.full(len(index), np.nan)
    table = pd.DataFrame(columns, index=index)
    others = [n for n in results if n != ours]
    if ours not in results or not others:
        return table
    best_ndcg = {d: max(others, key=lambda n: table.loc[(d, "NDCG@10"), f"{n} mean"]) for d in domains}
    tests = {}
    improvements, ps = [], []
    for d, m in index:
        best_row = max(others, key=lambda n: table.loc[(d, m), f"{n} mean"])
        ref = table.loc[(d, m), f"{best_row} mean"]
        improvements.append(f"{100 * (table.loc[(d, m), f'{ours} mean'] / ref - 1):.1f}%" if ref else "n/a")
        other = best_ndcg[d]
        if (other, m) not in tests:
            tests[other, m] = paired_difference({s: r.test for s, r in results[ours].items()},
                                                {s: r.test for s, r in results[other].items()}, m, (ours, other))
        ps.append(tests[other, m].loc[d, "p"])
    table["Imp."], table["p"], table["vs"] = improvements, ps, [best_ndcg[d] for d, _ in index]
    return table


def format_seeds_table(table: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """The seeds table for display: "mean ± std" per model, p in two significant digits."""
    names = [c[:-len(" mean")] for c in table.columns if c.endswith(" mean")]
    shown = pd.DataFrame({name: [f"{m:.{decimals}f} ± {s:.{decimals}f}" for m, s in
                                 zip(table[f"{name} mean"], table[f"{name} std"])] for name in names},
                         index=table.index)
    for column in ("Imp.", "vs"):
        if column in table:
            shown[column] = table[column]
    if "p" in table:
        shown["p"] = table["p"].map("{:.2g}".format)
    return shown
