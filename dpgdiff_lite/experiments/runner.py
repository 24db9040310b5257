"""The one runner: models × seeds (× settings) trained into run folders, reused when they hold the
same configuration and data spec.

The trainer writes each run's record; this module decides when a folder can be reused and lays runs
out as ``<root>/<model>/seed<k>/``. Every experiment of :mod:`dpgdiff_lite.experiments` and every
notebook that trains several runs goes through :func:`train_or_load`.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dpgdiff_lite import runtime
from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.data.sources import DataSource, load_data
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


@dataclass(frozen=True)
class Run:
    """One training of an experiment: ``config`` on the data of spec ``data`` into ``run_dir``
    (None: in memory only), shown on the progress bar as ``label``."""

    config: Config
    data: str | None
    run_dir: Path | None
    label: str = ""


WORKERS_VARIABLE = "DPGDIFF_WORKERS"
"""The environment variable that sets how many runs :func:`train_runs` trains at once (default 1)."""


def default_workers() -> int:
    """Runs trained at once when a caller does not say: ``$DPGDIFF_WORKERS``, else 1."""
    value = os.environ.get(WORKERS_VARIABLE, "1")
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise ValueError(f"{WORKERS_VARIABLE} must be a whole number >= 1, got {value!r}")
    return int(value)


def train_runs(runs: Sequence[Run], load: Callable[[str], DataSource] | None = None, resume: bool = True,
               strict: bool = False, progress: bool = True, desc: str = "runs",
               workers: int | None = None) -> list[TrainResult]:
    """Train (or reload) every run under one progress bar, each data spec loaded once; results in
    the order of ``runs``.

    ``load(spec)`` gives a spec's data (default :func:`~dpgdiff_lite.data.sources.load_data` at the
    first run's ``max_len``). With ``strict`` a folder holding another run is refused (the CLI's
    ``--fresh`` starts over); otherwise it is retrained (:func:`train_or_load`). ``workers`` > 1
    (default :func:`default_workers`) trains that many runs at once in worker processes of one
    torch thread each: every run computes exactly what it would alone on one thread (see
    ``docs/speed.md``). The seconds of the whole call are logged.
    """
    if load is None:
        max_len = runs[0].config.max_len if runs else None
        load = functools.cache(lambda spec: load_data(spec, max_len=max_len))
    else:
        load = functools.cache(load)
    workers = min(default_workers() if workers is None else workers, len(runs))
    started = time.perf_counter()
    bar = tqdm(total=len(runs), desc=desc, disable=not progress or len(runs) < 2)
    if workers > 1:
        results = _train_in_workers(runs, load, resume, strict, workers, bar)
    else:
        results = []
        for run in runs:
            bar.set_postfix_str(run.label or f"{run.config.model} seed{run.config.seed}")
            results.append(_train_run(load(run.data), run, resume, strict, progress and len(runs) == 1))
            bar.update()
    bar.close()
    log.info("%s: %d runs in %.1f s", desc, len(runs), time.perf_counter() - started)
    return results


def _train_run(source: DataSource, run: Run, resume: bool, strict: bool, progress: bool) -> TrainResult:
    """One run of :func:`train_runs`: ``train`` (``strict``) or :func:`train_or_load`."""
    if strict:
        return train(source.dataset, run.config, run.run_dir, data=run.data, truth=source.truth,
                     progress=progress, resume=resume)
    return train_or_load(source.dataset, run.config, run.run_dir, run.data, resume, progress, source.truth)


def _train_in_workers(runs: Sequence[Run], load: Callable[[str], DataSource], resume: bool, strict: bool,
                      workers: int, bar: tqdm) -> list[TrainResult]:
    """:func:`_train_run` of every run in ``workers`` spawned processes of one thread each."""
    context = multiprocessing.get_context("spawn")  # fork after torch's thread pools start can hang
    with ProcessPoolExecutor(workers, mp_context=context, initializer=runtime.limit_threads, initargs=(1,)) as pool:
        futures = [pool.submit(_train_run_in_worker, load(run.data), run, resume, strict) for run in runs]
        for future in futures:
            future.add_done_callback(lambda _: bar.update())
        return [torch.load(io.BytesIO(future.result()), weights_only=False) for future in futures]


def _train_run_in_worker(source: DataSource, run: Run, resume: bool, strict: bool) -> bytes:
    """:func:`_train_run` in a worker process; the result comes back serialised by ``torch.save``."""
    buffer = io.BytesIO()
    torch.save(_train_run(source, run, resume, strict, progress=False), buffer)
    return buffer.getvalue()


def train_models(source: DataSource, configs: dict[str, Config], out_dir: str | Path | None, data: str | None,
                 resume: bool = True, progress: bool = False) -> dict[str, TrainResult]:
    """Train each named config on the same data into ``out_dir/<name>/`` (reusing finished runs)."""
    out = Path(out_dir) if out_dir is not None else None
    runs = [Run(config, data, out / name if out else None, name) for name, config in configs.items()]
    return dict(zip(configs, train_runs(runs, load=lambda spec: source, resume=resume, progress=progress)))


def seed_runs(configs: dict[str, Config], seeds: Sequence[int], data: str, runs_dir: str | Path | None,
              one_seed_flat: bool = False) -> list[Run]:
    """Every named config with every model seed on ``data``, in ``runs_dir/<name>/seed<k>/`` (or
    ``runs_dir/<name>/`` for a single seed with ``one_seed_flat``, the layout of ``train``)."""
    root = Path(runs_dir) if runs_dir is not None else None

    def folder(name: str, seed: int) -> Path | None:
        if root is None:
            return None
        return root / name if one_seed_flat and len(seeds) == 1 else root / name / f"seed{seed}"

    return [Run(dataclasses.replace(config, seed=seed), data, folder(name, seed), f"{name} seed{seed}")
            for name, config in configs.items() for seed in seeds]


def by_model_and_seed(runs: Sequence[Run], results: Sequence[TrainResult],
                      names: Sequence[str]) -> dict[str, dict[int, TrainResult]]:
    """The results of :func:`seed_runs`' runs as ``{name: {seed: result}}`` (``names`` in its order)."""
    per_model = len(runs) // len(names)
    return {name: {run.config.seed: result for run, result in
                   zip(runs[i * per_model:(i + 1) * per_model], results[i * per_model:(i + 1) * per_model])}
            for i, name in enumerate(names)}


def train_seeds(source: DataSource, configs: dict[str, Config], seeds: Sequence[int], out_dir: str | Path | None,
                data: str, resume: bool = True, progress: bool = False, strict: bool = False,
                one_seed_flat: bool = False) -> dict[str, dict[int, TrainResult]]:
    """Each named config trained with every model seed on ``source`` (the data of spec ``data``) into
    ``out_dir/<name>/seed<k>/``: ``{name: {seed: result}}``; finished runs are reloaded."""
    runs = seed_runs(configs, seeds, data, out_dir, one_seed_flat)
    results = train_runs(runs, load=lambda spec: source, resume=resume, strict=strict, progress=progress)
    return by_model_and_seed(runs, results, list(configs))


def run_folder_listing(out_dir: str | Path) -> str:
    """The files of a run folder, relative to it (no absolute paths in a notebook's output)."""
    root = Path(out_dir)
    return "\n".join(sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()))


