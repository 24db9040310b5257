"""The one runner: models × seeds (× settings) trained into run folders, reused when they hold the
same configuration and data spec.

The trainer writes each run's record; this module decides when a folder can be reused and lays runs
out as ``<root>/<model>/seed<k>/``. Every experiment of :mod:`dpgdiff_lite.experiments` and every
notebook that trains several runs goes through :func:`train_or_load`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.run_folder import RunFolderError, read_config
from dpgdiff_lite.trainer import TrainResult, recorded_data, train

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


