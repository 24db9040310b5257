"""Compare over seeds: Table 1 (RQ1) with every model trained with every model seed, and the tables
notebook 06 reads (``python -m dpgdiff_lite compare --seeds``).

The models × seeds train through :func:`dpgdiff_lite.experiments.runner.train_seeds` into
``RUNS/<model>/seed<k>/``; :func:`seed_frames` turns the trained runs into the tables of a results
folder (``per_seed``, ``curves``, ``cold_warm``, ``table1_seeds``, ``transfer``, ``oracle``) and
:func:`precompute` writes them with ``setting.json`` (:class:`Setting`, the record notebooks 06–08
compare their own parameters with).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dpgdiff_lite.config import PRESETS, Config, parse_models, parse_seeds, preset
from dpgdiff_lite.data.sources import DataSource, load_data
from dpgdiff_lite.experiments import sparsity
from dpgdiff_lite.experiments.runner import train_seeds
from dpgdiff_lite.experiments.tables import oracle_fraction, per_seed_frame, seeds_table, write_precomputed
from dpgdiff_lite.experiments.transfer import transfer
from dpgdiff_lite.runtime import get_device
from dpgdiff_lite.trainer import TrainResult

Seeded = Mapping[str, Mapping[int, TrainResult]]
"""``{model: {seed: result}}``, as :func:`~dpgdiff_lite.experiments.runner.train_seeds` returns it."""


@dataclass(frozen=True)
class Setting:
    """What decides the numbers of a comparison over seeds apart from the seeds: the data spec, the
    config preset of every model with ``overrides`` (``key=value``, as the CLI's ``--set``), then
    ``device``, ``protocol`` (evaluation) and ``epochs`` (0: the preset's), which win over them."""

    data: str = "synthetic"
    preset: str = "teaching"
    models: tuple[str, ...] = ("dpgdiff", "sasrec", "pop")
    epochs: int = 0
    protocol: str = "sampled"
    overrides: tuple[str, ...] = ()
    device: str = "auto"

    def config(self, model: str, seed: int = 0) -> Config:
        """The preset for ``model`` with the overrides, then seed, device, protocol and epochs."""
        config = preset(self.preset, model=model).with_overrides(list(self.overrides))
        changes = {"seed": seed, "device": self.device, "eval_protocol": self.protocol}
        if self.epochs:
            changes["epochs"] = self.epochs
        return dataclasses.replace(config, **changes)

    def configs(self, models: Sequence[str] | None = None) -> dict[str, Config]:
        """``{model: config}`` of ``models`` (default: all), seed 0 (the runner sets each seed)."""
        return {name: self.config(name) for name in models or self.models}

    def load(self) -> DataSource:
        """The dataset (and, for synthetic data, the planted truth) the ``data`` spec names."""
        return load_data(self.data, max_len=self.config(self.models[0]).max_len)

    def record(self) -> dict:
        """The setting as ``setting.json`` records it (the device as resolved on this machine)."""
        return {"data": self.data, "preset": self.preset, "models": list(self.models), "epochs": self.epochs,
                "protocol": self.protocol, "overrides": list(self.overrides), "device": get_device(self.device).type}


def of_seed(results: Seeded, seed: int) -> dict[str, TrainResult]:
    """``{model: result}`` of one seed."""
    return {name: runs[seed] for name, runs in results.items()}


def training_objective(result: TrainResult) -> pd.Series:
    """Eq. (14) as trained, per epoch: the history's ``loss_<term>`` columns weighted by the config."""
    history = result.history
    return sum(history[f"loss_{term}"] * w for term, w in result.config.loss_weights.items()
               if f"loss_{term}" in history)


# --- the tables --------------------------------------------------------------------------------------
def curves_frame(results: Seeded) -> pd.DataFrame:
    """Learning curves: one row per (model, seed, epoch) with validation NDCG@10 (mean of domains,
    the model-selection criterion) and the weighted training objective (eq. 14 for DPG-Diff)."""
    rows = []
    for name, runs in results.items():
        for seed, result in runs.items():
            history = result.history
            if not len(history):
                continue  # popularity: nothing trained
            objective = training_objective(result)
            rows += [{"model": name, "seed": seed, "epoch": int(e), "valid_NDCG@10": float(v), "objective": float(o)}
                     for e, v, o in zip(history["epoch"], history["valid_NDCG@10"], objective)]
    return pd.DataFrame(rows, columns=["model", "seed", "epoch", "valid_NDCG@10", "objective"])


def transfer_table(results: Seeded, mixed: str = "sasrec", single: str = "sasrec-single") -> pd.DataFrame:
    """SASRec on the mixed sequence s_c minus SASRec on each domain's own s_d (notebook 02's transfer),
    paired over (seed, test case): :func:`dpgdiff_lite.experiments.transfer.transfer`."""
    return transfer({s: r.test for s, r in results[mixed].items()},
                    {s: r.test for s, r in results[single].items()}).reset_index()


def seeds_table_frame(results: Seeded, ours: str = "dpgdiff") -> pd.DataFrame:
    """:func:`dpgdiff_lite.experiments.tables.seeds_table` (Table 1 as mean and std over seeds, "Imp.",
    paired p) as a flat frame, the layout of ``table1_seeds.csv``."""
    return seeds_table(results, ours=ours).reset_index()


def seed_frames(results: Seeded, source: DataSource) -> dict[str, pd.DataFrame]:
    """Every table of a compare-over-seeds folder, from trained runs: ``per_seed``, ``curves``,
    ``cold_warm`` (test metrics on never-trained and trained targets), ``table1_seeds`` (with two or
    more models), ``transfer`` (when SASRec and sasrec-single ran) and ``oracle`` (synthetic data)."""
    frames = {"per_seed": per_seed_frame(results), "curves": curves_frame(results),
              "cold_warm": sparsity.cold_warm_rows(results, source.dataset)}
    if len(results) > 1:
        frames["table1_seeds"] = seeds_table_frame(results)
    if {"sasrec", "sasrec-single"} <= set(results):
        frames["transfer"] = transfer_table(results)
    fraction = oracle_fraction(of_seed(results, next(iter(next(iter(results.values()))))), source)
    if fraction is not None:
        frames["oracle"] = fraction[["oracle NDCG@10"]].reset_index()
    return frames


def precompute(setting: Setting, seeds: Sequence[int], runs_dir: str | Path, out_dir: str | Path,
               resume: bool = True, strict: bool = False, progress: bool = True,
               configs: Mapping[str, Config] | None = None,
               source: DataSource | None = None) -> tuple[Seeded, dict[str, pd.DataFrame]]:
    """Train every model of ``setting`` with every seed into ``runs_dir/<model>/seed<k>/`` (finished
    runs reloaded; ``strict`` refuses a folder holding another run) and write :func:`seed_frames` and
    ``setting.json`` into ``out_dir``. ``configs`` replaces the setting's own (the CLI's ``--set`` order
    of application), ``source`` its data when already loaded. Returns (the runs, the frames)."""
    started = time.perf_counter()
    source = source or setting.load()
    results = train_seeds(source, dict(configs) if configs is not None else setting.configs(), seeds, runs_dir,
                          setting.data, resume=resume, progress=progress, strict=strict)
    frames = seed_frames(results, source)
    write_precomputed(frames, {**setting.record(), "seeds": list(seeds)}, time.perf_counter() - started, out_dir)
    return results, frames


# --- the options of the experiments over seeds ------------------------------------------------
def seed_arguments(parser: argparse.ArgumentParser, models: Sequence[str]) -> argparse.ArgumentParser:
    """The options of the notebooks' experiments over seeds (``robustness``, ``table3``): seeds, the
    two folders, data, preset, models, overrides, epochs, progress, --fresh."""
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated model seeds")
    parser.add_argument("--out", required=True, help="folder for the CSV files and setting.json")
    parser.add_argument("--runs", required=True, help="folder for the run folders (reused when they hold the same run)")
    parser.add_argument("--data", default="synthetic", help="synthetic[:preset] | c2dsr:PATH | amazon:X.csv,Y.csv[,Z.csv…]")
    parser.add_argument("--preset", default="teaching", choices=list(PRESETS))
    parser.add_argument("--models", default=",".join(models), help="comma-separated model names")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field")
    parser.add_argument("--epochs", type=int, default=0, help="epochs of every run (0: the preset's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--fresh", action="store_true", help="retrain every run")
    return parser


def seed_setting(args: argparse.Namespace) -> tuple[Setting, list[int]]:
    """(the setting, the seeds) of :func:`seed_arguments`' options, every model's config checked."""
    seeds = list(parse_seeds(args.seeds, "--seeds"))
    models = parse_models(args.models, "--models")
    if args.epochs < 0:
        raise ValueError(f"--epochs must be >= 0, got {args.epochs}")
    setting = Setting(data=args.data, preset=args.preset, models=models, epochs=args.epochs,
                      overrides=tuple(args.set or []))
    setting.configs()  # a bad override raises here, naming its key
    return setting, seeds
