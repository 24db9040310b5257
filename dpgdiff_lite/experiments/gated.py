"""Evidence for ``dpgdiff-gated``, the kit's model beyond the paper: over the seeds of a
``compare --seeds`` run folder, the gated model against the better SASRec (mixed s_c or single-domain
s_d) and against the paper's DPG-Diff, paired by seed and test case, and the mean learned gate γ.

``python -m dpgdiff_lite gated --runs DIR --data SPEC --out FOLDER`` reads ``DIR/<model>/seed<k>/``
(dpgdiff-gated, dpgdiff, sasrec, sasrec-single) and writes ``FOLDER/evidence.csv``;
``python -m dpgdiff_lite gated --grid DIR --out FOLDER`` reads a ``regimes`` folder that ran dpgdiff-gated and
writes its ``summary.csv`` and the learned γ of every cell, seed and domain (``gammas.csv``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dpgdiff_lite.data.dataset import DOMAIN_LETTERS, make_batch, pad_eval
from dpgdiff_lite.experiments import regimes
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.run_folder import read_json
from dpgdiff_lite.trainer import load_run, run_evaluation
from dpgdiff_lite.experiments.transfer import gain_over_best, paired_difference, verdict

GATED, PAPER, BASELINES = "dpgdiff-gated", "dpgdiff", ("sasrec", "sasrec-single")


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


def mean_gates(model, dataset) -> list[float]:
    """Per target domain d, the mean over the test cases of d's gates γ_{d,e} on the other domains e."""
    inputs, targets = pad_eval(dataset.test, dataset.max_len)
    gates = model.last_gates(make_batch(inputs, targets, dataset.offsets, dataset.test.users))  # (B, N, N)
    n = gates.shape[1]
    off = ~np.eye(n, dtype=bool)
    return [float(gates[:, d][:, off[d]].mean()) for d in range(n)]


def grid_gammas(grid_dir: str | Path) -> pd.DataFrame:
    """The mean learned γ of dpgdiff-gated in every cell, seed and domain of a ``regimes`` folder:
    columns the grid's knobs, seed, domain, mean_gamma, score_weight (the λ it chose)."""
    grid_dir = Path(grid_dir)
    grid = read_json(grid_dir / "grid.json")
    if GATED not in grid["models"]:
        raise ValueError(f"{grid_dir / 'grid.json'}: the grid did not run {GATED} (models {grid['models']})")
    rows = []
    for cell in regimes.grid_cells(grid["grid"]):
        for seed in grid["seeds"]:
            dataset, _ = regimes.draw_cell(grid["data_preset"], cell, seed)
            scorer, config = load_run(grid_dir / "runs" / regimes.cell_id(cell) / f"seed{seed}" / GATED, dataset)
            weight = float(scorer.chosen_score_weight) if config.select_score_weight else config.score_weight
            rows += [{**cell, "seed": seed, "domain": DOMAIN_LETTERS[d], "mean_gamma": gamma, "score_weight": weight}
                     for d, gamma in enumerate(mean_gates(scorer, dataset))]
    return pd.DataFrame(rows)


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", help="a compare --seeds folder holding dpgdiff-gated, dpgdiff, sasrec and "
                                       "sasrec-single (needs --data)")
    source.add_argument("--grid", help="a regimes folder that ran dpgdiff-gated")
    parser.add_argument("--data", help="the data spec the --runs were trained on")
    parser.add_argument("--variants", help="with --runs: NAME=DIR,… compare --seeds folders of the gated model with "
                                           "one part removed each; writes ablation.csv")
    parser.add_argument("--out", required=True, help="folder for evidence.csv (--runs) or summary.csv and "
                                                     "gammas.csv (--grid)")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    out = Path(args.out)
    if args.grid:
        table = grid_gammas(args.grid)
        out.mkdir(parents=True, exist_ok=True)
        pd.read_csv(Path(args.grid) / "summary.csv").to_csv(out / "summary.csv", index=False, float_format="%.6g")
        table.to_csv(out / "gammas.csv", index=False, float_format="%.6g")
        print(table.groupby([*table.columns[:-4], "domain"], sort=False)["mean_gamma"].mean().round(3).to_string())
        return table
    if not args.data:
        raise ValueError("gated --runs needs --data, the data spec the runs were trained on")
    table = evidence(args.runs, args.data)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "evidence.csv", index=False, float_format="%.6g")
    if args.variants:
        variants = dict(item.split("=", 1) for item in args.variants.split(","))
        removed = ablation(args.runs, args.data, {name: Path(folder) for name, folder in variants.items()})
        removed.to_csv(out / "ablation.csv", index=False, float_format="%.6g")
        print(removed.drop(columns="data").round(3).to_string(index=False))
    print(table.round(3).to_string(index=False))
    return table

