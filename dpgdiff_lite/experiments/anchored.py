"""Evidence for ``dpgdiff-anchored``, the kit's model beyond the paper, over the seeds of a ``compare --seeds``
run folder: against the better SASRec (mixed s_c or single-domain s_d), the paper's DPG-Diff, its fused
reading and popularity, paired by seed and test case; and each of its parts removed after training.

``python -m dpgdiff_lite anchored --runs DIR --data SPEC --out FOLDER [--fused DIR2]`` reads the run folders
``DIR/<model>/seed<k>/`` of a ``compare --seeds`` (dpgdiff-anchored, dpgdiff, sasrec, sasrec-single, pop) and,
with ``--fused``, DPG-Diff trained with ``--set preference=fused`` in ``DIR2/dpgdiff/seed<k>/``; it writes
``FOLDER/evidence.csv``, ``FOLDER/ablation.csv`` and the compare's ``table1_seeds.csv`` and ``per_seed.csv``.
The ablation needs no training: each variant is the same trained model scored another way (one path alone,
one path left out and the weights refit, equal weights, one weight per domain, the other mixing space).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dpgdiff_lite.anchored import EQUAL, MIX_CHOICES, PATHS, AnchoredDPGDiff, choose_weights
from dpgdiff_lite.config import MIX_SPACES
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.evaluation import EvalResult, paired_difference
from dpgdiff_lite.experiments.runner import Run, by_model_and_seed, train_runs
from dpgdiff_lite.experiments.tables import per_seed_frame, seeds_table
from dpgdiff_lite.experiments.transfer import gain_over_best, verdict
from dpgdiff_lite.run_folder import read_config
from dpgdiff_lite.trainer import evaluation_settings, load_run, run_evaluation

ANCHORED, PAPER, BASELINES = "dpgdiff-anchored", "dpgdiff", ("sasrec", "sasrec-single")
ONE_PATH = {f"{name} path only": tuple(float(k == i) for k in range(len(PATHS))) for i, name in enumerate(PATHS)}
WITHOUT = {f"without the {name} path": i for i, name in enumerate(PATHS)}
REMOVED = (*ONE_PATH, *WITHOUT, "equal weights (no validation fit)", "no user groups (one weight per domain)",
           "the other mixing space")
"""The ablation's variants, each the trained model scored with one part taken away (no retraining)."""
TABLE_ORDER = (ANCHORED, PAPER, *BASELINES)
"""The columns of ``table1_seeds.csv`` begin with these models; any other model of the folder follows, by name."""


def seeds_of(runs: Path, model: str) -> list[int]:
    """The seeds ``runs/<model>/seed<k>/`` holds, sorted; an error names the folder when there are none."""
    seeds = sorted(int(p.name[4:]) for p in (runs / model).glob("seed*") if (p / "metrics.json").exists())
    if not seeds:
        raise FileNotFoundError(f"{runs / model}: no finished seed<k>/ run folders; train them with compare --seeds")
    return seeds


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


def _tests(folder: Path, model: str, dataset) -> dict[int, EvalResult]:
    """{seed: test EvalResult} of ``folder/<model>/seed<k>/``."""
    results = {}
    for seed in seeds_of(folder, model):
        scorer, config = load_run(folder / model / f"seed{seed}", dataset)
        results[seed] = run_evaluation(scorer, dataset, config, "test")
    return results


def _scored(model: AnchoredDPGDiff, dataset, weights=None, space: str | None = None, choices=None) -> EvalResult:
    """The model's test result with ``weights`` ((paths,) or (domains, groups, paths)) or, with ``choices``, the
    weights refit on validation among them; in ``space``. The model is restored after."""
    saved, config = model.mix_weight.clone(), model.config
    try:
        if space is not None:
            model.config = dataclasses.replace(config, mix_space=space)
        if choices is not None:
            model.fit_on_validation(dataset, evaluation_settings(dataset, model.config), choices)
        else:
            model.mix_weight.copy_(torch.as_tensor(weights, dtype=saved.dtype).expand_as(saved))
        return run_evaluation(model, dataset, model.config, "test")
    finally:
        model.mix_weight.copy_(saved)
        model.config = config


def removed_parts(model: AnchoredDPGDiff, dataset) -> dict[str, EvalResult]:
    """The test result of each variant of :data:`REMOVED` for one trained model."""
    config = model.config
    table = validation_table_of(model, dataset)
    pooled = (table.assign(group=0, total=table["NDCG@10"] * table["cases"])
              .groupby(["domain", "group", "choice", *PATHS], as_index=False)[["total", "cases"]].sum())
    pooled["NDCG@10"] = pooled["total"] / pooled["cases"]  # each domain's cases in one group
    per_domain = choose_weights(pooled, dataset.domain_names, 1)  # (domains, 1, paths)
    results = {name: _scored(model, dataset, weights) for name, weights in ONE_PATH.items()}
    for name, path in WITHOUT.items():
        results[name] = _scored(model, dataset, choices=tuple(w for w in MIX_CHOICES if w[path] == 0))
    results["equal weights (no validation fit)"] = _scored(model, dataset, EQUAL)
    results["no user groups (one weight per domain)"] = _scored(model, dataset, per_domain)
    other = next(s for s in MIX_SPACES if s != config.mix_space)
    results["the other mixing space"] = _scored(model, dataset, space=other, choices=MIX_CHOICES)
    return results


def validation_table_of(model: AnchoredDPGDiff, dataset) -> pd.DataFrame:
    """The validation table of the model's own fit (refit, restoring the saved weights, which it reproduces)."""
    saved = model.mix_weight.clone()
    try:
        return model.fit_on_validation(dataset, evaluation_settings(dataset, model.config))
    finally:
        model.mix_weight.copy_(saved)


def evidence(runs: str | Path, data: str, fused: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(evidence, ablation) of one world: per domain the anchored model against the better SASRec, the
    paper's DPG-Diff, the fused reading (with ``fused``) and popularity, with the mean weight of each path;
    and each removed part against the full model. Differences are paired over (seed, test case)."""
    runs, dataset = Path(runs), load_data(data).dataset
    tests = {model: _tests(runs, model, dataset) for model in (ANCHORED, PAPER, *BASELINES, "pop")}
    variants: dict[str, dict[int, EvalResult]] = {name: {} for name in REMOVED}
    weights = []
    for seed in seeds_of(runs, ANCHORED):
        model, _ = load_run(runs / ANCHORED / f"seed{seed}", dataset)
        weights.append(model.mix_weight.numpy().mean(1))  # (domains, paths), mean over the user groups
        for name, result in removed_parts(model, dataset).items():
            variants[name][seed] = result
    ours = tests[ANCHORED]
    best = gain_over_best(ours, {name: tests[name] for name in BASELINES})
    frame = pd.DataFrame({"data": data, "anchored": best["ours"], "best_sasrec": best["best"],
                          "sasrec_value": best["baseline"], "gain_over_sasrec": best["gain"], "gain_std": best["std"],
                          "gain_p": best["p"], "gain_verdict": best["verdict"]})
    others = {"dpgdiff": tests[PAPER], "pop": tests["pop"]}
    if fused is not None:
        others["fused"] = _tests(Path(fused), PAPER, dataset)
    for name, results in others.items():
        table = paired_difference(ours, results, names=(ANCHORED, name))
        frame[name] = table["mean_b"]
        frame[f"gain_over_{name}"] = table["diff"]
        frame[f"{name}_p"] = table["p"]
        frame[f"{name}_verdict"] = [verdict(d, p) for d, p in zip(table["diff"], table["p"])]
    mean_weights = np.mean(weights, axis=0)  # (domains, paths) in domain order, as the frame's rows
    for k, path in enumerate(PATHS):
        frame[f"weight {path}"] = mean_weights[:, k]
    frame["n_seeds"] = best["n_seeds"]
    rows = []
    for name, results in variants.items():
        table = paired_difference(results, ours, names=(name, "full"))
        rows.append(table.reset_index().assign(variant=name))
    ablation = pd.concat(rows, ignore_index=True).rename(columns={"mean_a": "variant_NDCG@10", "mean_b": "full_NDCG@10",
                                                                   "diff": "variant_minus_full"})
    ablation = ablation[["variant", "domain", "variant_NDCG@10", "full_NDCG@10", "variant_minus_full", "std", "p",
                         "n_seeds"]].assign(data=data)
    return frame.rename_axis("domain").reset_index(), ablation


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite anchored``."""
    parser.add_argument("--runs", required=True, help="the run folders of a compare --seeds holding dpgdiff-anchored, "
                                                      "dpgdiff, sasrec, sasrec-single and pop")
    parser.add_argument("--data", required=True, help="the data spec the --runs were trained on")
    parser.add_argument("--fused", help="the run folders of a compare --seeds of dpgdiff with --set preference=fused")
    parser.add_argument("--out", required=True, help="folder for evidence.csv, ablation.csv, table1_seeds.csv and "
                                                     "per_seed.csv")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    table, ablation = evidence(args.runs, args.data, args.fused)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "evidence.csv", index=False, float_format="%.6g")
    ablation.to_csv(out / "ablation.csv", index=False, float_format="%.6g")
    tables = compare_tables(args.runs, args.data)
    tables["table1_seeds"].to_csv(out / "table1_seeds.csv")
    tables["per_seed"].to_csv(out / "per_seed.csv", index=False)
    print(table.drop(columns="data").round(3).to_string(index=False))
    print(ablation.drop(columns="data").round(3).to_string(index=False))
    return table
