"""Why the gate of the kit's first model beyond the paper stalled near ½ (``Config.preference="gated"``).

The gate γ = σ(G·(a·cos(ĝ_d, ĝ_e) + b)) mixed the other domain's preference into ĝ_d of eq. (12) and (15) and
was learned by the training loss. For each seed this trains DPG-Diff with the gate, then forces γ to 0 (the
paper's own-domain ĝ_d), ½ and 1 (the fused ĝ_d) and measures, beside the learned gate, what the trainer
sees (the recommendation loss of eq. 10 on the training sequences) and what a held-out user sees
(validation NDCG@10): where the two disagree, a gate trained on the loss settles where the loss is lowest.

``python -m dpgdiff_lite gate-stall --data SPEC --seeds 0,1,2 --runs DIR --out FILE.csv``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dpgdiff_lite.config import parse_seeds, preset
from dpgdiff_lite.data.dataset import DOMAIN_LETTERS, PAD, make_batch, pad_eval, pad_training
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.experiments.runner import Run, train_runs
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.trainer import run_evaluation

FORCED = {"γ = 0 (own ĝ_d)": -np.inf, "γ = 1/2": 0.0, "γ = 1 (fused ĝ_d)": np.inf}
"""The gate's bias for each forced γ (its scale set to 0); the learned gate is the fourth row."""


def training_loss(model: DPGDiff, dataset, seed: int = 0, batch_size: int = 512) -> float:
    """The recommendation loss of eq. (10) on the training sequences, dropout off, diffusion steps drawn
    from ``seed``: what the trainer minimises, of which the gate's gradient is a part."""
    inputs, targets = pad_training(dataset.train, dataset.max_len)
    generator, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    model.eval()
    total, weight = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = make_batch(inputs[start:start + batch_size], targets[start:start + batch_size], dataset.offsets)
            rows = int((batch.targets != PAD).sum())
            total += float(model.loss_terms(batch, generator, rng)["rec"]) * rows
            weight += rows
    return total / weight


def mean_gamma(model: DPGDiff, dataset) -> float:
    """The learned γ of the other domain, averaged over the validation users and both directions."""
    inputs, targets = pad_eval(dataset.valid, dataset.max_len)
    gates = model.last_gates(make_batch(inputs, targets, dataset.offsets))  # (B, N, N)
    off = ~torch.eye(gates.shape[1], dtype=torch.bool)
    return float(gates[:, off].mean())


def stall_table(data: str, seeds: tuple[int, ...], runs: Path) -> pd.DataFrame:
    """One row per seed and gate (forced or learned): the training loss, validation NDCG@10 per domain, mean γ."""
    source = load_data(data)
    dataset = source.dataset
    planned = [Run(preset("teaching", "dpgdiff", preference="gated", seed=seed), data, runs / f"seed{seed}",
                   f"gated seed{seed}") for seed in seeds]
    results = train_runs(planned, load=lambda spec: source, progress=False)
    rows = []
    for seed, result in zip(seeds, results):
        model = result.model
        learned = (model.gate_scale.detach().clone(), model.gate_bias.detach().clone())
        for name, bias in [*FORCED.items(), ("learned γ", None)]:
            with torch.no_grad():
                if bias is None:
                    model.gate_scale.copy_(learned[0])
                    model.gate_bias.copy_(learned[1])
                else:
                    model.gate_scale.zero_()
                    model.gate_bias.fill_(bias)
            valid = run_evaluation(model, dataset, result.config, "valid").table["NDCG@10"]
            rows.append({"seed": seed, "gate": name, "mean_gamma": mean_gamma(model, dataset),
                         "train_rec_loss": training_loss(model, dataset, seed),
                         **{f"valid_NDCG@10_{DOMAIN_LETTERS[d]}": float(v) for d, v in enumerate(valid)}})
    return pd.DataFrame(rows)


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite gate-stall``."""
    parser.add_argument("--data", required=True, help="data spec (e.g. the regime grid's most conflicted cell)")
    parser.add_argument("--seeds", default="0,1,2", help="model seeds (default 0,1,2)")
    parser.add_argument("--runs", required=True, help="folder for the run folders seed<k>/")
    parser.add_argument("--out", required=True, help="the CSV to write")
    return parser


def command(args: argparse.Namespace) -> pd.DataFrame:
    table = stall_table(args.data, parse_seeds(args.seeds), Path(args.runs))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6g")
    print(table.groupby("gate", sort=False).mean(numeric_only=True).drop(columns="seed").round(3).to_string())
    return table
