"""Does another domain help or hurt? The paper's open question 1 (N ≥ 3 domains), measured.

From a synthetic world with three (or more) domains, :func:`third_domain_effect` builds the world
of the same users restricted to the ``kept`` domains (default X and Y: every Z event removed,
:func:`dpgdiff_lite.data.synthetic.restrict_domains`), trains each model on both worlds for each
seed (data seed = model seed), and compares, per kept domain and model,

    effect_d = NDCG@10(trained on every domain) − NDCG@10(trained on the kept domains only),

negative when the extra domain hurts domain d. Paired cases: the split is the full world's; a
user's test case is compared iff its target (the user's last event) lies in a kept domain, and then
it is the same event in both worlds — same item, same place in the user's sequence — ranked after
the latest ``max_len`` events of each world's history (the full world's may hold Z events and so
fewer X/Y ones). Users whose last event is a Z event are tested in neither comparison, and both
worlds train on the same X/Y events (the full world also on Z's). The test is a paired t-test
over every (seed, case) pair (:func:`dpgdiff_lite.evaluation.paired_difference`).

Is a loss negative transfer? ``sasrec-single`` reads each domain's events alone, so the extra
domain reaches it only through the shared position table and the training schedule; a model's
``vs_single`` is its effect minus sasrec-single's, paired over the same (seed, case) pairs — the
part of the effect that comes from reading the other domain's events.

Each (seed, world, model) trains into its own run folder through
:func:`dpgdiff_lite.experiments.runner.train_runs` (several at once with ``$DPGDIFF_WORKERS``), so a killed run
continues where it stopped.
The tables go to the ``--out`` folder OUT, the run folders and per-case pairs to the ``--runs``
folder RUNS (by default OUT itself)::

    OUT/settings.json                          the arguments
    OUT/third_domain.csv                       one row per model × kept domain (the table below)
    RUNS/runs/seed<k>/<XYZ | XY>/<model>/     a run folder (config.json, metrics.json, …)
    RUNS/pairs.csv.gz                          one row per model × seed × compared case
"""

from __future__ import annotations

import argparse
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dpgdiff_lite import run_folder
from dpgdiff_lite.config import PRESETS, with_model
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.data.synthetic import PRESETS as DATA_PRESETS
from dpgdiff_lite.experiments.regimes import _models, _seeds, base_config
from dpgdiff_lite.experiments.runner import Run, train_runs
from dpgdiff_lite.evaluation import paired_difference
from dpgdiff_lite.experiments.transfer import verdict

DEFAULT_MODELS = ("sasrec", "sasrec-single", "dpgdiff")
DEFAULT_SEEDS = 3
METRIC = "NDCG@10"
COLUMNS = ("model", "domain", "ndcg_kept", "ndcg_kept_std", "ndcg_all", "ndcg_all_std", "effect", "effect_std",
           "effect_p", "effect_verdict", "vs_single", "vs_single_std", "vs_single_p", "vs_single_verdict",
           "n_seeds", "n_pairs")
"""Columns of ``third_domain.csv``: NDCG@10 ×100 trained on the kept domains and on all (mean and std
over seeds), their difference all − kept with its std over seeds, paired p and verdict (negative:
the extra domain hurts), the same for the effect minus sasrec-single's, and the pair counts."""


@dataclass
class DomainEffect:
    """What :func:`third_domain_effect` wrote: the table, the per-case pairs, and the folder."""

    table: pd.DataFrame  # one row per model × kept domain, COLUMNS
    pairs: pd.DataFrame  # model, seed, case, user, domain, ndcg_kept, ndcg_all
    out_dir: Path
    runs_dir: Path
    kept: tuple[str, ...]
    all_domains: tuple[str, ...]


def world_specs(data_preset: str, seed: int, kept: Sequence[str]) -> tuple[str, str]:
    """The data specs of one seed's two worlds: (every domain, the kept domains only)."""
    return (f"synthetic:{data_preset}[seed={seed}]",
            f"synthetic:{data_preset}[seed={seed},domains={'+'.join(kept)}]")


def _check_worlds(data_preset: str, kept: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if data_preset not in DATA_PRESETS:
        raise ValueError(f"data_preset: unknown synthetic preset {data_preset!r}; choose one of {sorted(DATA_PRESETS)}")
    names = DATA_PRESETS[data_preset].domain_names
    kept = tuple(kept)
    if len(names) < 3:
        raise ValueError(f"data_preset: {data_preset!r} has {len(names)} domains ({', '.join(names)}); "
                         "comparing with and without an extra domain needs three or more (e.g. 'three-domain')")
    if (len(kept) < 2 or len(set(kept)) != len(kept) or not set(kept) < set(names)
            or list(kept) != [n for n in names if n in kept]):
        raise ValueError(f"kept: two or more of {data_preset!r}'s domains {names}, in that order and not all of "
                         f"them, got {kept}")
    return names, kept


def compared_cases(full: pd.DataFrame, full_users: np.ndarray, restricted: pd.DataFrame,
                   restricted_users: np.ndarray, kept: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two worlds' per-case test results on the cases they share (module docstring), in the same
    order and renumbered 0 … n-1: the full world's cases whose target is in a kept domain, and every
    case of the restricted world. Raises if they are not the same users and domains."""
    rows = np.flatnonzero(full["domain"].isin(kept).to_numpy())
    a, b = full.iloc[rows].reset_index(drop=True), restricted.reset_index(drop=True)
    if not (np.array_equal(full_users[rows], restricted_users)
            and np.array_equal(a["domain"].to_numpy(), b["domain"].to_numpy())):
        raise ValueError(f"the full world has {len(rows)} test cases in {', '.join(kept)} and the restricted world "
                         f"{len(b)}: they are not the same users' cases (was the restricted world drawn from "
                         "another seed or preset?)")
    a["case"] = b["case"] = np.arange(len(b))
    a["user"] = b["user"] = restricted_users
    return a, b


def third_domain_effect(models: str | Sequence[str] = DEFAULT_MODELS, seeds: int | Sequence[int] = DEFAULT_SEEDS,
                        out_dir: str | Path = "runs/third-domain", *, data_preset: str = "three-domain",
                        kept: Sequence[str] = ("X", "Y"), preset_name: str = "teaching",
                        overrides: Sequence[str] = (), resume: bool = True, progress: bool = True,
                        runs_dir: str | Path | None = None) -> DomainEffect:
    """Train ``models`` on the world of ``data_preset`` and on its restriction to ``kept`` for each seed
    (a count: seeds 0 … n-1, or a list) into ``runs_dir`` (default ``out_dir``), compare them and write
    the table into ``out_dir`` (module docstring).

    Every model is the config preset ``preset_name`` with ``overrides`` (``key=value``, as ``--set``)
    and ``seed=seed``; ``resume=False`` retrains every run. Every argument is checked before any
    training. Writes and returns the table (:data:`COLUMNS`) and the per-case pairs.
    """
    seeds, models = _seeds(seeds), _models(models)
    names, kept = _check_worlds(data_preset, kept)
    base = base_config(preset_name, overrides)
    out = Path(out_dir)
    runs_root = Path(runs_dir) if runs_dir is not None else out
    run_folder.ensure_writable(out)
    run_folder.ensure_writable(runs_root)
    run_folder.write_json(out / "settings.json", {
        "models": models, "seeds": seeds, "data_preset": data_preset, "kept": list(kept), "preset": preset_name,
        "overrides": list(overrides)})
    worlds = {"all": "".join(names), "kept": "".join(kept)}
    specs = {seed: dict(zip(worlds, world_specs(data_preset, seed, kept))) for seed in seeds}
    runs = [Run(with_model(base, model, seed=seed), specs[seed][world],
                runs_root / "runs" / f"seed{seed}" / folder / model, f"seed{seed} {folder} {model}")
            for seed in seeds for model in models for world, folder in worlds.items()]
    # every (seed, model, world) through the one runner (several at once with $DPGDIFF_WORKERS)
    results = iter(train_runs(runs, resume=resume, progress=progress, desc="third domain"))
    frames = []
    for seed in seeds:
        sources = {world: load_data(spec, max_len=base.max_len) for world, spec in specs[seed].items()}
        for model in models:
            per_case = {world: next(results).test.per_case for world in worlds}
            full, restricted = compared_cases(per_case["all"], sources["all"].dataset.test.users, per_case["kept"],
                                              sources["kept"].dataset.test.users, kept)
            frames.append(pd.DataFrame({"model": model, "seed": seed, "case": full["case"], "user": full["user"],
                                        "domain": full["domain"], "ndcg_kept": restricted[METRIC],
                                        "ndcg_all": full[METRIC]}))
    pairs = pd.concat(frames, ignore_index=True)
    table = summarise(pairs, models, kept)
    run_folder.write_bytes(runs_root / "pairs.csv.gz", gzip.compress(pairs.to_csv(index=False).encode(), mtime=0))
    run_folder.write_csv(out / "third_domain.csv", table)
    return DomainEffect(table, pairs, out, runs_root, kept, names)


def summarise(pairs: pd.DataFrame, models: Sequence[str], kept: Sequence[str]) -> pd.DataFrame:
    """``third_domain.csv`` from the per-case pairs: one row per model × kept domain (:data:`COLUMNS`)."""

    def by_seed(model: str, column: str) -> dict[int, pd.DataFrame]:
        """{seed: per-case frame (case, domain, NDCG@10 = ``column``)} as the paired test reads it."""
        rows = pairs[pairs["model"] == model]
        return {seed: pd.DataFrame({"case": g["case"].to_numpy(), "domain": g["domain"].to_numpy(),
                                    METRIC: g[column].to_numpy()}) for seed, g in rows.groupby("seed")}

    pairs = pairs.assign(effect=pairs["ndcg_all"] - pairs["ndcg_kept"])
    single = by_seed("sasrec-single", "effect") if "sasrec-single" in models else None
    rows = []
    for model in models:
        effect = paired_difference(by_seed(model, "ndcg_all"), by_seed(model, "ndcg_kept"), METRIC, ("all", "kept"))
        beyond = (paired_difference(by_seed(model, "effect"), single, METRIC, (model, "sasrec-single"))
                  if single is not None and model != "sasrec-single" else None)
        means = pairs[pairs["model"] == model].groupby(["domain", "seed"])[["ndcg_kept", "ndcg_all"]].mean()
        for domain in kept:
            if domain not in effect.index:  # no test case of this domain
                continue
            e, spread = effect.loc[domain], means.loc[domain].std(ddof=1)
            row = {"model": model, "domain": domain, "ndcg_kept": e["mean_b"], "ndcg_kept_std": spread["ndcg_kept"],
                   "ndcg_all": e["mean_a"], "ndcg_all_std": spread["ndcg_all"], "effect": e["diff"],
                   "effect_std": e["std"], "effect_p": e["p"], "effect_verdict": verdict(e["diff"], e["p"]),
                   "n_seeds": int(e["n_seeds"]), "n_pairs": int(e["n_pairs"])}
            if beyond is not None:
                b = beyond.loc[domain]
                row |= {"vs_single": b["diff"], "vs_single_std": b["std"], "vs_single_p": b["p"],
                        "vs_single_verdict": verdict(b["diff"], b["p"])}
            rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def format_effect(result: DomainEffect) -> str:
    """The table as printed: NDCG@10 with the kept domains only and with all, the effect and the part
    beyond sasrec-single's, each ± its std over seeds with its paired p."""
    table = result.table

    def pm(mean: float, std: float) -> str:
        return f"{mean:.2f}" if np.isnan(std) else f"{mean:.2f} ± {std:.2f}"

    shown = pd.DataFrame({"model": table["model"], "domain": table["domain"]})
    shown["".join(result.kept)] = [pm(m, s) for m, s in zip(table["ndcg_kept"], table["ndcg_kept_std"])]
    shown["".join(result.all_domains)] = [pm(m, s) for m, s in zip(table["ndcg_all"], table["ndcg_all_std"])]
    for column, title in (("effect", "effect (p)"), ("vs_single", "effect − single's (p)")):
        shown[title] = [f"{pm(m, s)} ({p:.3g}, {v})" if isinstance(v, str) else ""
                        for m, s, p, v in zip(table[column], table[f"{column}_std"], table[f"{column}_p"],
                                              table[f"{column}_verdict"])]
    return shown.to_string(index=False)


# --- the command line ------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite third-domain``."""
    parser.add_argument("--out", required=True, help="folder for the tables: third_domain.csv, settings.json")
    parser.add_argument("--runs", help="folder for the run folders (runs/) and the per-case pairs.csv.gz "
                                       "(default: --out)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (data seed = model seed)")
    parser.add_argument("--data-preset", default="three-domain", choices=sorted(DATA_PRESETS),
                        help="synthetic preset with three or more domains")
    parser.add_argument("--keep", default="X+Y", help="the domains of the smaller world, joined by '+'")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model names")
    parser.add_argument("--preset", default="teaching", choices=list(PRESETS), help="config preset of every model")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--fresh", action="store_true", help="retrain every run")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    """Train every model on a three-domain world and on its kept domains × seed; print and return the table."""
    result = third_domain_effect(args.models, args.seeds, args.out, data_preset=args.data_preset,
                                kept=tuple(args.keep.split("+")), preset_name=args.preset,
                                overrides=args.set or [], resume=not args.fresh, progress=not args.quiet,
                                runs_dir=args.runs)
    n = result.pairs["seed"].nunique()
    print(f"test NDCG@10 ×100 on the cases of {'+'.join(result.kept)} shared by both worlds, mean ± std over {n} "
          f"seed{'s' if n > 1 else ''} (data {args.data_preset}, config preset {args.preset}); effect = "
          f"{''.join(result.all_domains)} − {''.join(result.kept)}; p: paired t-test over (seed, case)")
    print(format_effect(result))
    print(f"table: {Path(args.out) / 'third_domain.csv'}, pairs: {result.runs_dir / 'pairs.csv.gz'}")
    return result.table
