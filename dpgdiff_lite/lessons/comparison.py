"""Lesson 05 — Table 1 (RQ1): DPG-Diff against its baselines, trained to early stopping.

What ``06_full_training.ipynb`` computes beyond :mod:`dpgdiff_lite.runs` (which trains the models
and lays out Table 1): the display form of the table, the summary the notebook ends with, and the
reference solution of its exercise.
"""

from __future__ import annotations

import math
from typing import Callable

import pandas as pd
from scipy import stats

from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.evaluation import EvalResult
from dpgdiff_lite.lessons.common import ExperimentParams, not_attempted, not_attempted_message
from dpgdiff_lite.trainer import TrainResult


def format_table1(table: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Table 1 for display: metrics rounded, p-values in two significant digits (when present)."""
    shown = table.round(decimals)
    if "p" in table.columns:
        shown["p"] = table["p"].map("{:.2g}".format)
    return shown


def summarize_table1(results: dict[str, TrainResult], table: pd.DataFrame, dataset: CrossDomainDataset,
                     params: ExperimentParams, ours: str = "dpgdiff") -> dict:
    """The numbers notebook 06 ends with (``summary.json``), and a one-line ``headline``."""
    ndcg = {name: r.test.table["NDCG@10"].round(3).to_dict() for name, r in results.items()}
    domains = list(dataset.domain_names)
    best = {d: max(ndcg, key=lambda n: ndcg[n][d]) for d in domains}
    summary = {
        "notebook": "06_full_training", "data": params.data, "dataset": dataset.name,
        "protocol": dataset.protocol, "eval_protocol": next(iter(results.values())).test.protocol,
        "preset": params.preset, "models": list(results), "test_NDCG@10": ndcg, "best_by_domain": best,
        "seconds_per_epoch": {n: round(r.seconds_per_epoch, 3) for n, r in results.items()},
        "epochs_run": {n: r.epochs_run for n, r in results.items()},
    }
    if "Imp." in table.columns:
        row = table.xs("NDCG@10", level="metric")
        summary["improvement_NDCG@10"] = row["Imp."].to_dict()
        summary["p_NDCG@10"] = {d: round(float(p), 6) for d, p in row["p"].items()}
    per_domain = "; ".join(f"{d}: " + " / ".join(f"{n} {ndcg[n][d]:.2f}" for n in ndcg) for d in domains)
    summary["headline"] = f"test NDCG@10 {per_domain}; best: {', '.join(best[d] for d in domains)}"
    return summary


def describe_table1(summary: dict, ours: str = "dpgdiff") -> str:
    """Plain sentences on who wins where, from a :func:`summarize_table1` summary."""
    lines = []
    for domain, winner in summary["best_by_domain"].items():
        line = f"{domain}: best NDCG@10 is {winner} ({summary['test_NDCG@10'][winner][domain]:.2f})"
        if "improvement_NDCG@10" in summary:
            p = summary["p_NDCG@10"][domain]
            verdict = "significant at 5%" if p < 0.05 else "not significant at 5%"
            line += f"; {ours} vs the best other model: {summary['improvement_NDCG@10'][domain]} (paired t-test p = {p:.3g}, {verdict})"
        lines.append(line)
    return "\n".join(lines)



# --- exercise -------------------------------------------------------------------------------------
def improvement_and_p_by_hand(ours: EvalResult, other: EvalResult, domain: str,
                              metric: str = "NDCG@10") -> tuple[float, float]:
    """Exercise (06): Table 1's "Imp." (%) and paired t-test p of ``ours`` vs ``other`` on one row,
    from the per-case metrics alone."""
    mask_ours = ours.per_case["domain"] == domain
    x = ours.per_case.loc[mask_ours, metric].to_numpy()
    y = other.per_case.loc[other.per_case["domain"] == domain, metric].to_numpy()
    return 100 * (x.mean() / y.mean() - 1), float(stats.ttest_rel(x, y).pvalue)


def check_improvement(fn: Callable, results: dict[str, TrainResult], table: pd.DataFrame,
                      ours: str = "dpgdiff", metric: str = "NDCG@10") -> str:
    """Compare a reader's ``fn(ours, other, domain, metric) -> (imp %, p)`` with Table 1's first domain."""
    if "Imp." not in table.columns:
        return f"needs a table with {ours!r} and at least one other model"
    domain = table.index[0][0]
    other = max((n for n in results if n != ours), key=lambda n: results[n].test.table.loc[domain, metric])
    answer = fn(results[ours].test, results[other].test, domain, metric)
    if not_attempted(answer):
        return not_attempted_message("comparison.improvement_and_p_by_hand")
    imp, p = (float(v) for v in answer)
    want_imp = float(table.loc[(domain, metric), "Imp."].rstrip("%"))
    want_p = float(table.loc[(domain, metric), "p"])
    ok = abs(imp - want_imp) < 0.05 + 1e-9 and math.isclose(p, want_p, rel_tol=1e-6, abs_tol=1e-12)
    return (f"correct: {domain} {metric} vs {other}: Imp. {imp:.1f}%, p = {p:.3g}" if ok else
            f"mismatch: got Imp. {imp:.2f}%, p = {p:.4g}; Table 1 says {want_imp:.1f}%, p = {want_p:.4g}")
