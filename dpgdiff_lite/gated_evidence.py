"""Evidence for ``dpgdiff-gated``, the kit's model beyond the paper: over the seeds of a
``compare --seeds`` run folder, the gated model against the better SASRec (mixed s_c or single-domain
s_d) and against the paper's DPG-Diff, paired by seed and test case, and the mean learned gate γ.

``python -m dpgdiff_lite gated --runs DIR --data SPEC --out FOLDER`` reads ``DIR/<model>/seed<k>/``
(dpgdiff-gated, dpgdiff, sasrec, sasrec-single) and writes ``FOLDER/evidence.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dpgdiff_lite.data.dataset import DOMAIN_LETTERS, make_batch, pad_eval
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.trainer import load_run, run_evaluation
from dpgdiff_lite.transfer import gain_over_best, paired_difference, verdict

GATED, PAPER, BASELINES = "dpgdiff-gated", "dpgdiff", ("sasrec", "sasrec-single")


def seeds_of(runs: Path, model: str) -> list[int]:
    """The seeds ``runs/<model>/seed<k>/`` holds, sorted; an error names the folder when there are none."""
    seeds = sorted(int(p.name[4:]) for p in (runs / model).glob("seed*") if (p / "metrics.json").exists())
    if not seeds:
        raise FileNotFoundError(f"{runs / model}: no finished seed<k>/ run folders; train them with compare --seeds")
    return seeds


def evidence(runs: str | Path, data: str) -> pd.DataFrame:
    """Per domain: the gated model's NDCG@10 against max(sasrec, sasrec-single) and against dpgdiff
    (mean over seeds, difference, std over seeds, paired p, verdict) and its mean γ over the test cases."""
    runs, source = Path(runs), load_data(data)
    seeds = seeds_of(runs, GATED)
    tests, gates = {}, []
    for model in (GATED, PAPER, *BASELINES):
        tests[model] = {}
        for seed in seeds:
            scorer, config = load_run(runs / model / f"seed{seed}", source.dataset)
            tests[model][seed] = run_evaluation(scorer, source.dataset, config, "test")
            if model == GATED:
                gates.append(mean_gates(scorer, source.dataset))
    best = gain_over_best(tests[GATED], {name: tests[name] for name in BASELINES})
    paper = paired_difference(tests[GATED], tests[PAPER], names=(GATED, PAPER))
    mean_gamma = np.mean(gates, axis=0)  # (domains,) in domain order
    gamma = pd.Series(mean_gamma, index=list(DOMAIN_LETTERS[:len(mean_gamma)]), name="mean_gamma").reindex(best.index)
    return pd.DataFrame({
        "data": data, "gated": best["ours"], "best_sasrec": best["best"], "sasrec_value": best["baseline"],
        "gain_over_sasrec": best["gain"], "gain_std": best["std"], "gain_p": best["p"], "gain_verdict": best["verdict"],
        "dpgdiff": paper["mean_b"], "gain_over_dpgdiff": paper["diff"], "dpgdiff_p": paper["p"],
        "dpgdiff_verdict": [verdict(d, p) for d, p in zip(paper["diff"], paper["p"])], "mean_gamma": gamma,
        "n_seeds": best["n_seeds"]}).rename_axis("domain").reset_index()


def mean_gates(model, dataset) -> list[float]:
    """Per target domain d, the mean over the test cases of d's gates γ_{d,e} on the other domains e."""
    inputs, targets = pad_eval(dataset.test, dataset.max_len)
    gates = model.last_gates(make_batch(inputs, targets, dataset.offsets, dataset.test.users))  # (B, N, N)
    n = gates.shape[1]
    off = ~np.eye(n, dtype=bool)
    return [float(gates[:, d][:, off[d]].mean()) for d in range(n)]


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--runs", required=True, help="a compare --seeds folder holding dpgdiff-gated, dpgdiff, "
                                                      "sasrec and sasrec-single")
    parser.add_argument("--data", required=True, help="the data spec the runs were trained on")
    parser.add_argument("--out", required=True, help="folder for evidence.csv")
    return parser


def command_gated(args: argparse.Namespace) -> pd.DataFrame:
    table = evidence(args.runs, args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "evidence.csv", index=False, float_format="%.6g")
    print(table.round(3).to_string(index=False))
    return table

