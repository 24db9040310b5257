"""Lesson 07 — Table 3 (RQ2): the diffusion variants, one component added at a time.

Everything ``08_ablation.ipynb`` computes or draws beyond training: its papermill parameters, the
Table 3 layout with paired tests between rows, its bar chart, the summary and the reference
solution of its exercise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dpgdiff_lite.config import VARIANT_FLAGS
from dpgdiff_lite.evaluation import EvalResult, paired_test
from dpgdiff_lite.lessons.common import ExperimentParams, figure, not_attempted, not_attempted_message
from dpgdiff_lite.trainer import TrainResult


ABLATION_ORDER = tuple(VARIANT_FLAGS)


@dataclass
class AblationParams(ExperimentParams):
    """Notebook 08: the diffusion variants of Table 3, trained on the same data with the same seed."""

    models: str | tuple[str, ...] = ABLATION_ORDER
    output: str = "runs/08_ablation"

    def check(self) -> None:
        super().check()
        for name in self.models:
            if name not in VARIANT_FLAGS:
                raise ValueError(f"models: {name!r} is not a diffusion variant; Table 3 compares "
                                 f"{', '.join(ABLATION_ORDER)}")
        self.models = tuple(m for m in ABLATION_ORDER if m in self.models)


def ablation_table(results: dict[str, TrainResult], metric: str = "NDCG@10") -> pd.DataFrame:
    """Table 3: one row per variant (in the paper's order) with its components, ``metric`` per domain,
    and the change and paired t-test p-value against the row above."""
    names = [m for m in ABLATION_ORDER if m in results]
    if len(names) != len(results):
        extra = sorted(set(results) - set(names))
        raise ValueError(f"ablation_table takes the diffusion variants {', '.join(ABLATION_ORDER)}; got {', '.join(extra)}")
    domains = list(results[names[0]].test.table.index)
    rows = []
    for i, name in enumerate(names):
        de, g, cl = VARIANT_FLAGS[name]
        row = {"variant": name, "DE": "✓" if de else "", "G": "✓" if g else "", "Tri-CL": "✓" if cl else ""}
        test = paired_test(results[name].test, results[names[i - 1]].test, metric) if i else None
        for d in domains:
            row[d] = results[name].test.table.loc[d, metric]
            row[f"{d} Δ"] = test.loc[d, "diff"] if test is not None else np.nan
            row[f"{d} p"] = test.loc[d, "p"] if test is not None else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def plot_ablation(table: pd.DataFrame, metric: str = "NDCG@10") -> Figure:
    """Table 3 as bars: one group per domain, one bar per variant (in the paper's order)."""
    domains = [c for c in table.columns if c not in ("DE", "G", "Tri-CL") and " " not in c]
    fig = figure(7, 2.6)
    ax = fig.subplots()
    width = 0.8 / len(table)
    x = np.arange(len(domains))
    for i, name in enumerate(table.index):
        ax.bar(x + i * width, table.loc[name, domains].to_numpy(dtype=float), width, color=f"C{i}", label=name)
    ax.set_xticks(x + width * (len(table) - 1) / 2, [f"domain {d}" for d in domains])
    ax.set(ylabel=f"test {metric} (×100)", title="Table 3: adding components one at a time")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def summarize_ablation(table: pd.DataFrame, params: AblationParams, metric: str = "NDCG@10") -> dict:
    """The numbers notebook 08 ends with (``summary.json``), and a one-line ``headline``."""
    domains = [c for c in table.columns if c not in ("DE", "G", "Tri-CL") and " " not in c]
    best = {d: table[d].idxmax() for d in domains}
    summary = {
        "notebook": "08_ablation", "data": params.data, "preset": params.preset, "metric": metric,
        f"test_{metric}": {d: table[d].round(3).to_dict() for d in domains},
        "p_vs_previous_row": {d: table[f"{d} p"].round(6).dropna().to_dict() for d in domains},
        "best_by_domain": best,
    }
    summary["headline"] = f"test {metric} " + "; ".join(
        f"{d}: " + " < ".join(table[d].sort_values().index) for d in domains) + " (ascending)"
    return summary


# --- exercise -------------------------------------------------------------------------------------
def paired_t_by_hand(x, y) -> tuple[float, float]:
    """Exercise (08): the paired t-test, t = mean(d) / (sd(d) / √n) with d = x − y and n − 1 degrees
    of freedom; returns (t, two-sided p)."""
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    n = len(d)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    return float(t), float(2 * stats.t.sf(abs(t), df=n - 1))


def check_paired_t(fn: Callable, a: EvalResult, b: EvalResult, metric: str = "NDCG@10") -> str:
    """Compare a reader's ``fn(x, y) -> (t, p)`` with :func:`dpgdiff_lite.evaluation.paired_test` per domain."""
    expected = paired_test(a, b, metric)
    lines = []
    for domain, row in expected.iterrows():
        x = a.per_case.loc[a.per_case["domain"] == domain, metric].to_numpy()
        y = b.per_case.loc[b.per_case["domain"] == domain, metric].to_numpy()
        got = fn(x, y)
        if not_attempted(got):
            return not_attempted_message("ablation.paired_t_by_hand")
        t, p = (float(v) for v in got)
        if not (math.isclose(t, row["t"], rel_tol=1e-6) and math.isclose(p, row["p"], rel_tol=1e-6, abs_tol=1e-12)):
            return f"mismatch in {domain}: got t = {t:.4f}, p = {p:.4g}; expected t = {row['t']:.4f}, p = {row['p']:.4g}"
        lines.append(f"{domain} t = {t:.2f}, p = {p:.3g}")
    return "correct: " + "; ".join(lines)
