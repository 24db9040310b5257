"""The regime grid: when does DPG-Diff beat both a mixed-sequence and a single-domain model?

For every cell of a grid of synthetic-generator knobs (default: opposed conflict at rates
{0, 0.5, 1} × ad-hoc noise η ∈ {0, 0.1, 0.3}) and every seed (data seed = model seed), the data is
drawn from a base synthetic preset with the cell's knobs, each model is trained with one config
preset, and the planted oracle and the history-only Bayes predictor give the two ceilings. Each
(cell, seed, model) trains into its own run folder through :func:`dpgdiff_lite.experiments.runner.train_runs`
(several at once with ``$DPGDIFF_WORKERS``), so a killed grid continues where it stopped. The tables go to the ``--out`` folder OUT, the run
folders and per-case files to the ``--runs`` folder RUNS (by default OUT itself)::

    OUT/grid.json                                     the settings of the grid
    OUT/regimes.csv                                   one row per cell × model × seed × domain
    OUT/summary.csv                                   per cell × domain: mean ± std over seeds, the
                                                      transfer of SASRec and DPG-Diff's gain (paired p)
    RUNS/runs/<cell>/seed<k>/<model>/                 a run folder (config.json, metrics.json, …)
    RUNS/per_case/<cell>/seed<k>/<name>.csv.gz        test per-case metrics of a model, oracle or bayes
    RUNS/per_case/<cell>/seed<k>/<name>.json          what produced it (data spec, config) and its cost

``grid.json`` does not record RUNS (a committed table names no scratch folder): every later reader of
the per-case files or run folders (:mod:`.table3_paired`, :mod:`.shortfall`) takes
the same ``--runs`` (default: the grid folder).

A (cell, seed, name) whose per-case file was written for the same data and settings (and, for a
trained model, whose run folder holds the same run) is only re-read. The summary is computed from
the per-case files, so a resumed grid writes the same CSVs. The transfer is that of
:mod:`dpgdiff_lite.experiments.transfer` (Challenge 2 of the paper): ``sasrec`` − ``sasrec-single``; DPG-Diff's
gain is ``dpgdiff`` − the better of the two.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dpgdiff_lite import run_folder
from dpgdiff_lite.config import MODELS, PRESETS as CONFIG_PRESETS, Config, parse_models, parse_seeds, preset, with_model
from dpgdiff_lite.data.bayes import DEFAULT_BAYES_SAMPLES, BayesPredictor
from dpgdiff_lite.data.synthetic import PRESETS as DATA_PRESETS, generate, knob_value
from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.experiments.runner import Run, same_run, train_runs
from dpgdiff_lite.trainer import TrainResult, run_evaluation
from dpgdiff_lite.experiments.transfer import gain_over_best, transfer

DEFAULT_GRID: dict[str, tuple] = {"conflict_kind": ("opposed",), "conflict_rate": (0.0, 0.5, 1.0),
                                  "adhoc_noise": (0.0, 0.1, 0.3)}
"""Conflict × noise, 3 × 3; a one-value knob just fixes it (and is still a column of the CSV)."""
DEFAULT_MODELS = ("pop", "sasrec", "sasrec-single", "diff", "dpgdiff")
GAIN_COLUMNS = {"dpgdiff": "dpg_gain", "dpgdiff-anchored": "anchored_gain"}
MIXED_COLUMNS = {"dpgdiff": "dpg_vs_mixed", "dpgdiff-anchored": "anchored_vs_mixed"}
"""Prefixes of each model's gain over the mixed SASRec alone (does it mitigate what mixing costs?)."""
"""summary.csv's columns of each DPG-Diff's gain over the better SASRec (when the grid ran it)."""
DEFAULT_SEEDS = 3
REFERENCES = ("oracle", "bayes")
"""The two ceilings evaluated in every (cell, seed): the planted oracle and the history-only Bayes predictor."""
ROW_METRICS = ("NDCG@10", "HR@10", "MRR@10")
ROW_COLUMNS = ("model", "seed", "domain", *ROW_METRICS, "oracle_NDCG@10", "bayes_NDCG@10", "epochs_run",
               "train_seconds")
"""Columns of ``regimes.csv`` after the grid knobs."""
NOT_KNOBS = {"name": "it names the dataset", "seed": "seeds come from the seeds argument (--seeds)",
             "domain_names": "it names the domains"}


@dataclass
class GridResult:
    """What :func:`run_grid` wrote: the rows of ``regimes.csv`` and ``summary.csv``, and the folder."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    out_dir: Path
    knobs: list[str]
    models: list[str]
    seeds: list[int]
    runs_dir: Path

    def per_case_folder(self, cell: Mapping, seed: int) -> Path:
        """The per-case files of one cell and seed (``<model>.csv.gz``, ``oracle.csv.gz``, …)."""
        return per_case_folder(self.runs_dir, cell, seed)

    def run_dir(self, cell: Mapping, seed: int, model: str) -> Path:
        """The run folder of one model in one cell and seed."""
        return run_dir(self.runs_dir, cell, seed, model)


# --- the grid -------------------------------------------------------------------------------------
def _knob(knob: str, where: str) -> str:
    """``knob`` if it can vary over the grid (a scalar SyntheticConfig field other than name and seed)."""
    if knob in NOT_KNOBS:
        raise ValueError(f"{where}: {knob!r} cannot be a grid knob ({NOT_KNOBS[knob]})")
    return knob


def parse_grid(assignments: Sequence[str]) -> dict[str, tuple]:
    """The grid of the CLI's ``--grid knob=v1,v2,…`` strings (one knob each, any scalar
    :class:`~dpgdiff_lite.data.synthetic.SyntheticConfig` field), values parsed to the field's type."""
    grid: dict[str, tuple] = {}
    for assignment in assignments:
        where = f"--grid {assignment!r}"
        knob, sep, raw = assignment.partition("=")
        knob = knob.strip()
        if not sep or not knob:
            raise ValueError(f"{where}: expected knob=value[,value…], e.g. conflict_rate=0,0.5,1")
        _knob(knob, where)
        if knob in grid:
            raise ValueError(f"{where}: knob {knob!r} given twice")
        values = [v.strip() for v in raw.split(",")]
        if not all(values):
            raise ValueError(f"{where}: give at least one value, separated by commas")
        grid[knob] = tuple(knob_value(knob, v, where) for v in values)
    return grid


def check_grid(grid: Mapping[str, Sequence]) -> dict[str, tuple]:
    """``grid`` with every knob checked (a scalar SyntheticConfig field) and its values typed."""
    if not grid:
        raise ValueError("grid: give at least one knob with at least one value")
    checked = {}
    for knob, values in grid.items():
        _knob(knob, "grid")
        values = [values] if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") else list(values)
        if not values:
            raise ValueError(f"grid: knob {knob!r} has no values")
        checked[knob] = tuple(dict.fromkeys(knob_value(knob, v, "grid", parse=False) for v in values))
    return checked


def grid_cells(grid: Mapping[str, Sequence]) -> list[dict]:
    """Every combination of the grid's values, the last knob varying fastest."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def cell_id(cell: Mapping) -> str:
    """A cell's folder name, e.g. ``conflict_kind=opposed__conflict_rate=0.5__adhoc_noise=0.1``."""
    return "__".join(f"{knob}={value!r}" if isinstance(value, float) else f"{knob}={value}"
                     for knob, value in cell.items())


def _plain(value):
    """A numpy scalar read from a CSV as the Python value (a cell's folder name and grid.json use those)."""
    return value.item() if hasattr(value, "item") else value


def per_case_folder(runs_dir: str | Path, cell: Mapping, seed: int) -> Path:
    """``RUNS/per_case/<cell>/seed<k>/``: the test per-case files of one cell and seed."""
    return Path(runs_dir) / "per_case" / cell_id({k: _plain(v) for k, v in cell.items()}) / f"seed{seed}"


def run_dir(runs_dir: str | Path, cell: Mapping, seed: int, model: str) -> Path:
    """``RUNS/runs/<cell>/seed<k>/<model>/``: the run folder of one model in one cell and seed."""
    return Path(runs_dir) / "runs" / cell_id({k: _plain(v) for k, v in cell.items()}) / f"seed{seed}" / model


def read_grid(folder: str | Path, runs_dir: str | Path | None = None) -> tuple[dict, Path]:
    """(grid.json of a regimes folder, its runs folder): ``runs_dir`` or else the folder itself
    (today's layout); a FileNotFoundError naming ``--runs`` when the per-case files are not there."""
    folder = Path(folder)
    grid = run_folder.read_json(folder / "grid.json")
    runs = Path(runs_dir) if runs_dir is not None else folder
    if not (runs / "per_case").is_dir():
        raise FileNotFoundError(f"{runs / 'per_case'} not found: pass --runs, the folder the grid of {folder} "
                                f"was run with (python -m dpgdiff_lite regimes --runs DIR)")
    return grid, runs


def most_negative_cell(summary: pd.DataFrame) -> dict:
    """The cell of a ``summary.csv`` whose SASRec transfer, averaged over the domains, is the most
    negative: {knob: value} (the knobs are the columns before ``domain``)."""
    if "transfer" not in summary:
        raise ValueError("summary.csv has no transfer column: the grid needs both sasrec and sasrec-single")
    knobs = list(summary.columns[:list(summary.columns).index("domain")])
    means = summary.groupby(knobs, sort=False)["transfer"].mean()
    worst = means.idxmin() if len(knobs) > 1 else (means.idxmin(),)
    return dict(zip(knobs, [_plain(v) for v in worst]))


def data_spec(data_preset: str, cell: Mapping, seed: int) -> str:
    """The data spec recorded in a run folder: the base preset, the cell's knobs and the seed."""
    return f"synthetic:{data_preset}[{cell_id(cell).replace('__', ',')},seed={seed}]"


def draw_cell(data_preset: str, cell: Mapping, seed: int) -> tuple:
    """(dataset, truth) of one cell and seed: the synthetic preset with the cell's knobs and ``seed``."""
    return generate(dataclasses.replace(DATA_PRESETS[data_preset], **cell, seed=seed))


def _seeds(seeds: int | str | Sequence[int]) -> list[int]:
    """A count n (seeds 0 … n-1, the Python API's shorthand) or the seeds themselves, as a command line
    writes them ("0,1,2") or a list (:func:`~dpgdiff_lite.config.parse_seeds`)."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        return list(range(int(seeds)))
    return list(parse_seeds(seeds if isinstance(seeds, (str, list, tuple)) else list(seeds), "seeds"))


def _models(models: str | Sequence[str]) -> list[str]:
    """The grid's model rows (:func:`~dpgdiff_lite.config.parse_models`; the oracle is a column of every row)."""
    if "oracle" in (models.split(",") if isinstance(models, str) else models):
        raise ValueError("models: 'oracle' is not a model row; every row carries it as oracle_NDCG@10")
    return list(parse_models(models, "models", [m for m in MODELS if m != "oracle"]))


def base_config(preset_name: str, overrides: Sequence[str]) -> Config:
    """The config preset with ``--set`` overrides, refusing ``model`` and ``seed`` (the experiment's
    models and seeds arguments set them)."""
    if preset_name not in CONFIG_PRESETS:
        raise ValueError(f"preset: unknown config preset {preset_name!r}; choose one of {', '.join(CONFIG_PRESETS)}")
    for assignment in overrides:
        key = assignment.partition("=")[0].strip()
        if key in ("model", "seed"):
            raise ValueError(f"--set {assignment!r}: {key!r} is set by the models and seeds arguments, not by --set")
    return preset(preset_name).with_overrides(list(overrides))


# --- one (cell, seed) ---------------------------------------------------------------------------------
def _write_gz_csv(path: Path, frame: pd.DataFrame) -> None:
    run_folder.write_bytes(path, gzip.compress(frame.to_csv(index=False).encode(), mtime=0))


def _read_record(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    if not path.exists() or not (folder / f"{name}.csv.gz").exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _eval_settings(config: Config) -> dict:
    return {"eval_protocol": config.eval_protocol, "eval_negatives": config.eval_negatives,
            "eval_seed": config.eval_seed}


def _model_record(config: Config, spec: str) -> dict:
    """What a model's per-case record must hold to be reused: its data spec and config."""
    return {"data": spec, "config": dataclasses.asdict(config)}


def _is_recorded(config: Config, spec: str, run_dir: Path, folder: Path) -> bool:
    """True when ``folder`` holds this model's per-case record for ``spec`` and ``run_dir`` its run."""
    key = _model_record(config, spec)
    record = _read_record(folder, config.model)
    return record is not None and {k: record.get(k) for k in key} == key and same_run(run_dir, config, spec)


def _write_model_record(result: TrainResult, spec: str, folder: Path) -> None:
    """A trained model's test per-case metrics and cost into ``folder``."""
    history = result.history
    _write_gz_csv(folder / f"{result.config.model}.csv.gz", result.test.per_case)
    run_folder.write_json(folder / f"{result.config.model}.json", {
        **_model_record(result.config, spec), "epochs_run": result.epochs_run,
        "train_seconds": float(history["seconds"].sum()) if len(history) else 0.0})


def _run_reference(source, name: str, config: Config, spec: str, folder: Path, resume: bool,
                   bayes_samples: int) -> None:
    """Evaluate the oracle or the Bayes predictor on the test split, cached like a model."""
    key = {"data": spec, "scorer": name, "eval": _eval_settings(config),
           **({"n_samples": bayes_samples} if name == "bayes" else {})}
    record = _read_record(folder, name) if resume else None
    if record is not None and {k: record.get(k) for k in key} == key:
        return
    data = source()
    dataset, truth = data.dataset, data.truth
    scorer = truth.oracle_scorer() if name == "oracle" else BayesPredictor(truth, n_samples=bayes_samples)
    started = time.perf_counter()
    result = run_evaluation(scorer, dataset, config, "test")
    _write_gz_csv(folder / f"{name}.csv.gz", result.per_case)
    run_folder.write_json(folder / f"{name}.json", {**key, "seconds": time.perf_counter() - started})


def read_per_case(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv.gz")


# --- the whole grid -----------------------------------------------------------------------------------
def run_grid(grid: Mapping[str, Sequence] | None = None, seeds: int | Sequence[int] = DEFAULT_SEEDS,
             out_dir: str | Path = "runs/regimes", *, data_preset: str = "transfer", preset_name: str = "teaching",
             overrides: Sequence[str] = (), models: str | Sequence[str] = DEFAULT_MODELS,
             bayes_samples: int = DEFAULT_BAYES_SAMPLES, resume: bool = True, progress: bool = True,
             runs_dir: str | Path | None = None) -> GridResult:
    """Train ``models`` in every cell of ``grid`` × seed into ``runs_dir`` (default ``out_dir``) and
    write the tables into ``out_dir`` (module docstring).

    ``grid`` maps SyntheticConfig knobs to their values (default :data:`DEFAULT_GRID`); ``seeds`` is a
    count (seeds 0 … n-1) or a list; the data is ``data_preset`` (a synthetic preset) with the cell's
    knobs and ``seed=seed``; every model is the config preset ``preset_name`` with ``overrides``
    (``key=value``, as ``--set``) and ``seed=seed``. ``resume=False`` retrains every run.
    Every argument is checked before any training.
    """
    grid = check_grid(DEFAULT_GRID if grid is None else grid)
    seeds, models = _seeds(seeds), _models(models)
    if data_preset not in DATA_PRESETS:
        raise ValueError(f"data_preset: unknown synthetic preset {data_preset!r}; choose one of {sorted(DATA_PRESETS)}")
    if isinstance(bayes_samples, bool) or not isinstance(bayes_samples, int) or bayes_samples < 1:
        raise ValueError(f"bayes_samples must be an int ≥ 1, got {bayes_samples!r}")
    base = base_config(preset_name, overrides)
    cells = grid_cells(grid)
    for cell in cells:  # a bad value fails here, naming the SyntheticConfig field, before any training
        try:
            dataclasses.replace(DATA_PRESETS[data_preset], **cell)
        except ValueError as error:
            raise ValueError(f"grid cell {cell_id(cell)}: {error}") from None
    out = Path(out_dir)
    runs = Path(runs_dir) if runs_dir is not None else out
    run_folder.ensure_writable(out)
    run_folder.ensure_writable(runs)
    run_folder.write_json(out / "grid.json", {
        "grid": {k: list(v) for k, v in grid.items()}, "seeds": seeds, "models": models,
        "data_preset": data_preset, "preset": preset_name, "overrides": list(overrides),
        "bayes_samples": bayes_samples})

    tasks = [(cell, seed) for cell in cells for seed in seeds]
    cases = {data_spec(data_preset, cell, seed): (cell, seed) for cell, seed in tasks}
    for cell, seed in tasks:
        per_case_folder(runs, cell, seed).mkdir(parents=True, exist_ok=True)
    # every model of every cell and seed through the one runner (in parallel with $DPGDIFF_WORKERS)
    planned = [Run(config, spec, run_dir(runs, cell, seed, name), f"{cell_id(cell)} seed{seed} {name}")
               for spec, (cell, seed) in cases.items() for name in models
               for config in [with_model(base, name, seed=seed)]
               if not (resume and _is_recorded(config, spec, run_dir(runs, cell, seed, name),
                                               per_case_folder(runs, cell, seed)))]
    drawn = functools.cache(lambda spec: DataSource(*draw_cell(data_preset, *cases[spec])))
    for run, result in zip(planned, train_runs(planned, load=drawn, resume=resume, progress=progress, desc="regimes")):
        _write_model_record(result, run.data, per_case_folder(runs, *cases[run.data]))
    bar = tqdm(total=len(tasks) * len(REFERENCES), desc="oracle and Bayes", disable=not progress)
    for spec, (cell, seed) in cases.items():
        for name in REFERENCES:
            bar.set_postfix_str(f"{cell_id(cell)} seed{seed} {name}")
            config = with_model(base, "oracle", seed=seed)
            _run_reference(functools.partial(drawn, spec), name, config, spec, per_case_folder(runs, cell, seed), resume,
                           bayes_samples)
            bar.update()
    bar.close()
    domains = list(DATA_PRESETS[data_preset].domain_names)
    rows = collect_rows(runs, cells, seeds, models, domains)
    summary = summarise(runs, cells, seeds, models, domains)
    run_folder.write_csv(out / "regimes.csv", rows)
    run_folder.write_csv(out / "summary.csv", summary)
    return GridResult(rows, summary, out, list(grid), models, seeds, runs)


def collect_rows(runs_dir: Path, cells: list[dict], seeds: list[int], models: list[str],
                 domains: list[str]) -> pd.DataFrame:
    """``regimes.csv``: one row per cell × model × seed × domain (in that order), from the per-case files
    under ``runs_dir``."""

    def domain_means(folder: Path, name: str, columns: list[str]) -> pd.DataFrame:
        return read_per_case(folder, name).groupby("domain")[columns].mean().reindex(domains)

    rows = []
    for cell in cells:
        folders = {seed: per_case_folder(runs_dir, cell, seed) for seed in seeds}
        ceilings = {seed: {name: domain_means(folder, name, ["NDCG@10"])["NDCG@10"] for name in REFERENCES}
                    for seed, folder in folders.items()}
        for model, seed in itertools.product(models, seeds):
            record = json.loads((folders[seed] / f"{model}.json").read_text())
            for domain, metrics in domain_means(folders[seed], model, list(ROW_METRICS)).iterrows():
                rows.append({**cell, "model": model, "seed": seed, "domain": domain, **metrics.to_dict(),
                             **{f"{name}_NDCG@10": ceilings[seed][name][domain] for name in REFERENCES},
                             "epochs_run": record["epochs_run"], "train_seconds": record["train_seconds"]})
    return pd.DataFrame(rows, columns=[*cells[0], *ROW_COLUMNS])


def summarise(runs_dir: Path, cells: list[dict], seeds: list[int], models: list[str],
              domains: list[str]) -> pd.DataFrame:
    """``summary.csv``: per cell × domain, each model's mean and std over seeds of NDCG@10, the two
    ceilings, the transfer of SASRec (sasrec − sasrec-single) and the gain of DPG-Diff and of dpgdiff-anchored
    over the better SASRec and over the mixed SASRec (:data:`MIXED_COLUMNS`), each with its paired p over
    (seed, case) and its verdict (when those models were run)."""
    rows = []
    for cell in cells:
        folders = {seed: per_case_folder(runs_dir, cell, seed) for seed in seeds}
        per_case = {name: {seed: read_per_case(folder, name) for seed, folder in folders.items()}
                    for name in [*models, *REFERENCES]}
        ndcg = {name: pd.DataFrame({seed: frame.groupby("domain")["NDCG@10"].mean().reindex(domains)
                                    for seed, frame in by_seed.items()})  # (domains, seeds)
                for name, by_seed in per_case.items()}
        sasrecs = [m for m in ("sasrec", "sasrec-single") if m in models]
        moved = transfer(per_case["sasrec"], per_case["sasrec-single"]) if len(sasrecs) == 2 else None
        gains = {prefix: gain_over_best(per_case[ours], {m: per_case[m] for m in sasrecs})
                 for ours, prefix in GAIN_COLUMNS.items() if ours in models and sasrecs}
        gains |= {prefix: gain_over_best(per_case[ours], {"sasrec": per_case["sasrec"]})
                  for ours, prefix in MIXED_COLUMNS.items() if ours in models and "sasrec" in models}
        for domain in domains:
            row = {**cell, "domain": domain}
            for name in models:
                row[name] = ndcg[name].loc[domain].mean()
                row[f"{name}_std"] = ndcg[name].loc[domain].std(ddof=1) if len(seeds) > 1 else np.nan
            row |= {name: ndcg[name].loc[domain].mean() for name in REFERENCES}
            if moved is not None and domain in moved.index:
                t = moved.loc[domain]
                row |= {"transfer": t["transfer"], "transfer_std": t["std"], "transfer_p": t["p"],
                        "transfer_verdict": t["verdict"]}
            for prefix, gain in gains.items():
                if domain in gain.index:
                    g = gain.loc[domain]
                    row |= {prefix: g["gain"], f"{prefix}_std": g["std"], f"{prefix}_p": g["p"],
                            f"{prefix}_vs": g["best"], f"{prefix}_verdict": g["verdict"]}
            rows.append(row)
    return pd.DataFrame(rows)


def format_summary(result: GridResult) -> str:
    """The summary as printed: NDCG@10 mean ± std per model, the ceilings, transfer and gain with p."""
    summary, knobs, models = result.summary, result.knobs, result.models

    def pm(mean: float, std: float) -> str:
        return f"{mean:.2f}" if np.isnan(std) else f"{mean:.2f} ± {std:.2f}"

    table = summary[[*knobs, "domain"]].copy()
    for name in models:
        table[name] = [pm(m, s) for m, s in zip(summary[name], summary[f"{name}_std"])]
    for name in REFERENCES:
        table[name] = summary[name].map("{:.2f}".format)
    for column, title in (("transfer", "sasrec − single (p)"), ("dpg_gain", "dpgdiff − best SASRec (p)")):
        if column in summary:
            table[title] = [f"{pm(m, s)} ({p:.3g}, {v})" for m, s, p, v in
                            zip(summary[column], summary[f"{column}_std"], summary[f"{column}_p"],
                                summary[f"{column}_verdict"])]
    return table.to_string(index=False)


# --- the command line ------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite regimes``."""
    parser.add_argument("--out", required=True, help="folder for the tables: grid.json, regimes.csv, summary.csv")
    parser.add_argument("--runs", help="folder for the run folders (runs/) and per-case files (per_case/) "
                                       "(default: --out); give the same --runs to every later reader")
    parser.add_argument("--grid", action="append", metavar="KNOB=V1,V2,…",
                        help="one SyntheticConfig knob and its values, repeatable; replaces the default grid "
                        + " × ".join(f"{k}={','.join(map(str, v))}" for k, v in DEFAULT_GRID.items()))
    parser.add_argument("--most-negative-of", metavar="SUMMARY_CSV",
                        help="instead of --grid: the one cell of a regimes summary.csv whose SASRec transfer "
                             "(mean over domains) is the most negative")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (data seed = model seed)")
    parser.add_argument("--data-preset", default="transfer", choices=sorted(DATA_PRESETS),
                        help="base synthetic preset the knobs are applied to")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model names")
    parser.add_argument("--preset", default="teaching", choices=list(CONFIG_PRESETS), help="config preset of every model")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--fresh", action="store_true", help="retrain every run, re-evaluate the oracle and Bayes")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    """Train every model in every cell of a generator-knob grid × seed; print and return the summary."""
    if args.most_negative_of and args.grid:
        raise ValueError("give either --grid or --most-negative-of, not both")
    if args.most_negative_of:
        grid = {knob: (value,) for knob, value in most_negative_cell(pd.read_csv(args.most_negative_of)).items()}
    else:
        grid = parse_grid(args.grid) if args.grid else None
    result = run_grid(grid, args.seeds, args.out, data_preset=args.data_preset, preset_name=args.preset,
                      overrides=args.set or [], models=args.models, resume=not args.fresh,
                      progress=not args.quiet, runs_dir=args.runs)
    seeds = f"{len(result.seeds)} seed{'s' if len(result.seeds) > 1 else ''}"
    print(f"test NDCG@10 ×100, mean ± std over {seeds} (data {args.data_preset} + grid, "
          f"config preset {args.preset}); p: paired t-test over (seed, case)")
    print(format_summary(result))
    print(f"rows: {Path(args.out) / 'regimes.csv'}, summary: {Path(args.out) / 'summary.csv'}")
    return result.summary
