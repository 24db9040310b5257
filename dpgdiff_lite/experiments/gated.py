"""Evidence for ``dpgdiff-gated``, the kit's model beyond the paper: over the seeds of a
``compare --seeds`` run folder, the gated model against the better SASRec (mixed s_c or single-domain
s_d) and against the paper's DPG-Diff, paired by seed and test case, and the mean learned gate γ.

``python -m dpgdiff_lite gated --runs DIR --data SPEC --out FOLDER`` reads the run folders
``DIR/<model>/seed<k>/`` of a ``compare --seeds`` (dpgdiff-gated, dpgdiff, sasrec, sasrec-single and
any others) and writes ``FOLDER/evidence.csv`` and the compare's own tables of those runs,
``FOLDER/table1_seeds.csv`` and ``FOLDER/per_seed.csv`` (the runs reloaded through
:func:`dpgdiff_lite.experiments.runner.train_runs`); with ``--variants`` also ``FOLDER/ablation.csv``.
``python -m dpgdiff_lite gated --grid DIR [--runs RUNS] --out FOLDER`` reads a ``regimes`` folder that ran
dpgdiff-gated (its run folders under RUNS, the grid's ``--runs``, default DIR) and writes its
``summary.csv`` and the learned γ of every cell, seed and domain (``gammas.csv``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dpgdiff_lite.data.dataset import DOMAIN_LETTERS, make_batch, pad_eval
from dpgdiff_lite.experiments import regimes
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.experiments.runner import Run, by_model_and_seed, train_runs
from dpgdiff_lite.experiments.tables import per_seed_frame, seeds_table
from dpgdiff_lite.run_folder import read_config
from dpgdiff_lite.trainer import load_run, run_evaluation
from dpgdiff_lite.evaluation import paired_difference
from dpgdiff_lite.experiments.transfer import gain_over_best, verdict

GATED, PAPER, BASELINES = "dpgdiff-gated", "dpgdiff", ("sasrec", "sasrec-single")
TABLE_ORDER = (GATED, PAPER, *BASELINES)
"""The columns of ``table1_seeds.csv`` begin with these models; any other model of the folder follows, by name."""


def seeds_of(runs: Path, model: str) -> list[int]:
    """The seeds ``runs/<model>/seed<k>/`` holds, sorted; an error names the folder when there are none."""
    seeds = sorted(int(p.name[4:]) for p in (runs / model).glob("seed*") if (p / "metrics.json").exists())
    if not seeds:
        raise FileNotFoundError(f"{runs / model}: no finished seed<k>/ run folders; train them with compare --seeds")
    return seeds


def evidence(runs: str | Path, data: str) -> pd.DataFrame:
    """Per domain: the gated model's NDCG@10 against max(sasrec, sasrec-single) and against dpgdiff
    (mean over seeds, difference, std over seeds, paired p, verdict), its mean γ over the test cases and the
    λ of its score at each seed."""
    runs, source = Path(runs), load_data(data)
    seeds = seeds_of(runs, GATED)
    tests = {model: _tests(runs, model, source) for model in (GATED, PAPER, *BASELINES)}
    gates, weights = [], []
    for seed in seeds:
        scorer, config = load_run(runs / GATED / f"seed{seed}", source.dataset)
        gates.append(mean_gates(scorer, source.dataset))
        weights.append(float(scorer.chosen_score_weight) if config.select_score_weight else config.score_weight)
    best = gain_over_best(tests[GATED], {name: tests[name] for name in BASELINES})
    paper = paired_difference(tests[GATED], tests[PAPER], names=(GATED, PAPER))
    mean_gamma = np.mean(gates, axis=0)  # (domains,) in domain order
    gamma = pd.Series(mean_gamma, index=list(DOMAIN_LETTERS[:len(mean_gamma)]), name="mean_gamma").reindex(best.index)
    return pd.DataFrame({
        "data": data, "gated": best["ours"], "best_sasrec": best["best"], "sasrec_value": best["baseline"],
        "gain_over_sasrec": best["gain"], "gain_std": best["std"], "gain_p": best["p"], "gain_verdict": best["verdict"],
        "dpgdiff": paper["mean_b"], "gain_over_dpgdiff": paper["diff"], "dpgdiff_p": paper["p"],
        "dpgdiff_verdict": [verdict(d, p) for d, p in zip(paper["diff"], paper["p"])], "mean_gamma": gamma,
        "score_weights": ",".join(f"{w:g}" for w in weights), "n_seeds": best["n_seeds"]}).rename_axis("domain").reset_index()


def ablation(runs: str | Path, data: str, variants: dict[str, Path]) -> pd.DataFrame:
    """Each variant (the gated model with one part removed, trained into its own ``compare --seeds``
    folder holding one model) against the full model of ``runs``, per domain, paired by seed and case."""
    source = load_data(data)

    full = _tests(Path(runs), GATED, source)
    rows = []
    for name, folder in variants.items():
        models = [p.name for p in Path(folder).iterdir() if p.is_dir()]
        if len(models) != 1:
            raise ValueError(f"--variants {name}={folder}: expected one model folder, found {sorted(models)}")
        table = paired_difference(_tests(Path(folder), models[0], source), full, names=(name, "full"))
        rows.append(table.reset_index().assign(variant=name, model=models[0]))
    frame = pd.concat(rows, ignore_index=True).rename(columns={"mean_a": "variant_NDCG@10", "mean_b": "full_NDCG@10",
                                                                "diff": "variant_minus_full"})
    return frame[["variant", "model", "domain", "variant_NDCG@10", "full_NDCG@10", "variant_minus_full", "std", "p",
                  "n_seeds"]].assign(data=data)


def _tests(folder: Path, model: str, source) -> dict:
    """{seed: test EvalResult} of ``folder/<model>/seed<k>/``."""
    results = {}
    for seed in seeds_of(folder, model):
        scorer, config = load_run(folder / model / f"seed{seed}", source.dataset)
        results[seed] = run_evaluation(scorer, source.dataset, config, "test")
    return results


def compare_tables(runs: str | Path, data: str) -> dict[str, pd.DataFrame]:
    """``table1_seeds`` and ``per_seed`` of every model with finished ``runs/<model>/seed<k>/`` folders
    (the tables ``compare --seeds`` writes), each run reloaded with its recorded config; a folder
    trained on other data than ``data`` is refused."""
    runs, source = Path(runs), load_data(data)
    found = sorted(p.name for p in runs.iterdir() if p.is_dir() and any(p.glob("seed*/metrics.json")))
    models = [m for m in TABLE_ORDER if m in found] + [m for m in found if m not in TABLE_ORDER]
    if not models:
        raise FileNotFoundError(f"{runs}: no <model>/seed<k>/ run folders; train them with compare --seeds")
    seeds = {model: seeds_of(runs, model) for model in models}
    planned = [Run(read_config(runs / model / f"seed{seed}" / "config.json"), data, runs / model / f"seed{seed}",
                   f"{model} seed{seed}") for model in models for seed in seeds[model]]
    if len({tuple(s) for s in seeds.values()}) != 1:
        raise ValueError(f"{runs}: the models hold different seeds ({seeds}); Table 1 over seeds needs the same")
    results = by_model_and_seed(planned, train_runs(planned, load=lambda spec: source, strict=True, progress=False),
                                models)
    return {"table1_seeds": seeds_table(results), "per_seed": per_seed_frame(results)}


def mean_gates(model, dataset) -> list[float]:
    """Per target domain d, the mean over the test cases of d's gates γ_{d,e} on the other domains e."""
    inputs, targets = pad_eval(dataset.test, dataset.max_len)
    gates = model.last_gates(make_batch(inputs, targets, dataset.offsets, dataset.test.users))  # (B, N, N)
    n = gates.shape[1]
    off = ~np.eye(n, dtype=bool)
    return [float(gates[:, d][:, off[d]].mean()) for d in range(n)]


def grid_gammas(grid_dir: str | Path, runs_dir: str | Path | None = None) -> pd.DataFrame:
    """The mean learned γ of dpgdiff-gated in every cell, seed and domain of a ``regimes`` folder (its
    run folders under ``runs_dir``, the grid's ``--runs``, default the folder): columns the grid's
    knobs, seed, domain, mean_gamma, score_weight (the λ it chose)."""
    grid_dir = Path(grid_dir)
    grid, runs = regimes.read_grid(grid_dir, runs_dir)
    if GATED not in grid["models"]:
        raise ValueError(f"{grid_dir / 'grid.json'}: the grid did not run {GATED} (models {grid['models']})")
    rows = []
    for cell in regimes.grid_cells(grid["grid"]):
        for seed in grid["seeds"]:
            dataset, _ = regimes.draw_cell(grid["data_preset"], cell, seed)
            scorer, config = load_run(regimes.run_dir(runs, cell, seed, GATED), dataset)
            weight = float(scorer.chosen_score_weight) if config.select_score_weight else config.score_weight
            rows += [{**cell, "seed": seed, "domain": DOMAIN_LETTERS[d], "mean_gamma": gamma, "score_weight": weight}
                     for d, gamma in enumerate(mean_gates(scorer, dataset))]
    return pd.DataFrame(rows)


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite gated``."""
    parser.add_argument("--runs", help="the run folders of a compare --seeds holding dpgdiff-gated, dpgdiff, sasrec "
                                       "and sasrec-single (needs --data); with --grid, that grid's --runs "
                                       "(default: the --grid folder)")
    parser.add_argument("--grid", help="a regimes folder that ran dpgdiff-gated")
    parser.add_argument("--data", help="the data spec the --runs were trained on")
    parser.add_argument("--variants", help="with --runs: NAME=DIR,… compare --seeds run folders of the gated model "
                                           "with one part removed each; writes ablation.csv")
    parser.add_argument("--out", required=True, help="folder for evidence.csv, table1_seeds.csv and per_seed.csv "
                                                     "(--runs) or summary.csv and gammas.csv (--grid)")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    out = Path(args.out)
    if args.grid:
        if args.data or args.variants:
            raise ValueError("gated --grid reads the grid's own data; --data and --variants go with --runs alone")
        table = grid_gammas(args.grid, args.runs)
        out.mkdir(parents=True, exist_ok=True)
        pd.read_csv(Path(args.grid) / "summary.csv").to_csv(out / "summary.csv", index=False, float_format="%.6g")
        table.to_csv(out / "gammas.csv", index=False, float_format="%.6g")
        print(table.groupby([*table.columns[:-4], "domain"], sort=False)["mean_gamma"].mean().round(3).to_string())
        return table
    if not args.runs:
        raise ValueError("gated needs --runs (a compare --seeds run folder) or --grid (a regimes folder)")
    if not args.data:
        raise ValueError("gated --runs needs --data, the data spec the runs were trained on")
    table = evidence(args.runs, args.data)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "evidence.csv", index=False, float_format="%.6g")
    tables = compare_tables(args.runs, args.data)
    tables["table1_seeds"].to_csv(out / "table1_seeds.csv")
    tables["per_seed"].to_csv(out / "per_seed.csv", index=False)
    if args.variants:
        variants = dict(item.split("=", 1) for item in args.variants.split(","))
        removed = ablation(args.runs, args.data, {name: Path(folder) for name, folder in variants.items()})
        removed.to_csv(out / "ablation.csv", index=False, float_format="%.6g")
        print(removed.drop(columns="data").round(3).to_string(index=False))
    print(table.round(3).to_string(index=False))
    return table

