"""Negative transfer, measured: does a model gain or lose on domain d by also reading the other domain?

The paper's title and its Challenge 2 ("Negative transfer from contextually conflicting
domain-specific behaviors"): naively aggregating the mixed sequence s_c can make a domain worse
than modelling its own subsequence s_d alone. For a model family the transfer on domain d is

    transfer_d = NDCG@10(trained on s_c) − NDCG@10(trained on s_d),

for SASRec ``sasrec`` − ``sasrec-single``. It is *negative transfer* when below zero with a paired
t-test over every (seed, test case) pair at p < 0.05: each seed is one dataset (data seed = model
seed) on which both models rank the same test cases. :func:`paired_difference` is the same
comparison for any two models, :func:`gain_over_best` that of DPG-Diff against the better of
several baselines.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from dpgdiff_lite.evaluation import METRICS, EvalResult

ALPHA = 0.05
"""Significance level of the verdicts."""
VERDICTS = ("negative", "positive", "none")

PerCase = EvalResult | pd.DataFrame
"""An :class:`~dpgdiff_lite.evaluation.EvalResult` or its ``per_case`` table (case, domain, metrics ×100)."""


def _per_case(result: PerCase, name: str, seed) -> pd.DataFrame:
    table = result.per_case if isinstance(result, EvalResult) else result
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name}[{seed!r}] must be an EvalResult or a per-case DataFrame, got {type(result).__name__}")
    return table


def _paired_p(diff: np.ndarray) -> float:
    """Two-sided paired t-test p of mean(diff) = 0; a constant difference is exact (p 0, or 1 if zero)."""
    if len(diff) < 2:
        return float("nan")
    if np.ptp(diff) <= 1e-9 * max(1.0, float(np.abs(diff).max())):  # no spread: the t statistic is ±inf or 0/0
        return 0.0 if abs(float(diff.mean())) > 1e-9 else 1.0
    return float(stats.ttest_1samp(diff, 0.0).pvalue)


def paired_difference(a: Mapping[int, PerCase], b: Mapping[int, PerCase], metric: str = "NDCG@10",
                      names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Per domain, model a − model b over several seeds, paired by seed and test case.

    ``a[seed]`` and ``b[seed]`` are the test results of the two models trained on the same seed's data
    (same cases in the same order). Columns: mean_a, mean_b (over seeds), diff (mean over seeds of
    each seed's mean difference), std (of the per-seed differences, ddof 1; NaN for one seed),
    p (paired t-test over all (seed, case) pairs), n_seeds, n_pairs.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not a or set(a) != set(b):
        raise ValueError(f"{names[0]} and {names[1]} need results for the same seeds (at least one), "
                         f"got seeds {sorted(a)} and {sorted(b)}")
    seeds = sorted(a)
    frames = []
    for seed in seeds:
        x, y = _per_case(a[seed], names[0], seed), _per_case(b[seed], names[1], seed)
        if not x[["case", "domain"]].reset_index(drop=True).equals(y[["case", "domain"]].reset_index(drop=True)):
            raise ValueError(f"seed {seed}: {names[0]} and {names[1]} were not evaluated on the same test cases "
                             f"({len(x)} and {len(y)} cases, or a different case/domain order)")
        frames.append(pd.DataFrame({"seed": seed, "domain": x["domain"].to_numpy(),
                                    "a": x[metric].to_numpy(float), "b": y[metric].to_numpy(float)}))
    pairs = pd.concat(frames, ignore_index=True)
    pairs["diff"] = pairs["a"] - pairs["b"]
    rows = {}
    for domain, group in pairs.groupby("domain", sort=False):
        per_seed = group.groupby("seed")[["a", "b", "diff"]].mean()  # (seeds, 3)
        rows[domain] = {"mean_a": per_seed["a"].mean(), "mean_b": per_seed["b"].mean(),
                        "diff": per_seed["diff"].mean(),
                        "std": per_seed["diff"].std(ddof=1) if len(per_seed) > 1 else float("nan"),
                        "p": _paired_p(group["diff"].to_numpy()), "n_seeds": len(per_seed), "n_pairs": len(group)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("domain")


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
