"""Negative transfer, measured: does a model gain or lose on domain d by also reading the other domain?

The paper's title and its Challenge 2 ("Negative transfer from contextually conflicting
domain-specific behaviors"): naively aggregating the mixed sequence s_c can make a domain worse
than modelling its own subsequence s_d alone. For a model family the transfer on domain d is

    transfer_d = NDCG@10(trained on s_c) − NDCG@10(trained on s_d),

for SASRec ``sasrec`` − ``sasrec-single``. It is *negative transfer* when below zero with a paired
t-test over every (seed, test case) pair at p < 0.05: each seed is one dataset (data seed = model
seed) on which both models rank the same test cases. :func:`~dpgdiff_lite.evaluation.paired_difference`
is the same comparison for any two models, :func:`gain_over_best` that of DPG-Diff against the better
of several baselines.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from dpgdiff_lite.evaluation import EvalResult, paired_difference

ALPHA = 0.05
"""Significance level of the verdicts."""
VERDICTS = ("negative", "positive", "none")
PerCase = EvalResult | pd.DataFrame
"""An :class:`~dpgdiff_lite.evaluation.EvalResult` or its ``per_case`` table (case, domain, metrics ×100)."""


def verdict(diff: float, p: float, alpha: float = ALPHA) -> str:
    """The verdict on a difference: "negative" or "positive" when significant at ``alpha``, else "none"."""
    if not p < alpha:  # NaN (a single pair) is never significant
        return "none"
    return "negative" if diff < 0 else "positive" if diff > 0 else "none"


def transfer(mixed: Mapping[int, PerCase], single: Mapping[int, PerCase], metric: str = "NDCG@10",
             alpha: float = ALPHA) -> pd.DataFrame:
    """Transfer per domain: NDCG@10 of the model trained on s_c (``mixed``) − the one trained on s_d
    (``single``), each a ``{seed: test result}``; columns mixed, single, transfer (mean over seeds),
    std (over seeds), p (paired over (seed, case)), n_seeds, n_pairs, verdict (negative / positive /
    none at p < ``alpha``)."""
    table = paired_difference(mixed, single, metric, names=("mixed", "single"))
    table = table.rename(columns={"mean_a": "mixed", "mean_b": "single", "diff": "transfer"})
    table["verdict"] = [verdict(d, p, alpha) for d, p in zip(table["transfer"], table["p"])]
    return table


def gain_over_best(ours: Mapping[int, PerCase], baselines: Mapping[str, Mapping[int, PerCase]],
                   metric: str = "NDCG@10", alpha: float = ALPHA) -> pd.DataFrame:
    """Per domain, ``ours`` − the baseline with the highest mean ``metric`` over seeds in that domain
    (e.g. DPG-Diff − max(sasrec, sasrec-single)), paired by seed and case; columns best (its name),
    ours, baseline, gain, std, p, n_seeds, n_pairs, verdict."""
    if not baselines:
        raise ValueError("gain_over_best needs at least one baseline")
    tables = {name: paired_difference(ours, results, metric, names=("ours", name))
              for name, results in baselines.items()}
    rows = {}
    for domain in next(iter(tables.values())).index:
        best = max(tables, key=lambda name: tables[name].loc[domain, "mean_b"])
        row = tables[best].loc[domain]
        rows[domain] = {"best": best, "ours": row["mean_a"], "baseline": row["mean_b"], "gain": row["diff"],
                        "std": row["std"], "p": row["p"], "n_seeds": int(row["n_seeds"]),
                        "n_pairs": int(row["n_pairs"]), "verdict": verdict(row["diff"], row["p"], alpha)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("domain")
