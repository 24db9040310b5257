"""Lesson 08 — Table 3 (RQ2): the diffusion variants, one component added at a time, over seeds.

What ``08_ablation.ipynb`` draws and checks beyond :mod:`dpgdiff_lite.experiments.table3` (which builds
Table 3 with paired tests between consecutive rows, over the test cases of one seed or over (seed,
case) pairs): its papermill parameters (with ``seeds``), Table 3 as bars, the steps between rows with
confidence intervals on the teaching data and on the opposed-conflict cell, why ``diff`` collapses on
the regime grid's world, a slider on eq. (15)'s preference weight, the summary and the reference
solution of its exercise. The three-seed results it shows come from ``python -m dpgdiff_lite table3``
(the command in ``notebooks/results/08/README.md``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy import stats

from dpgdiff_lite.config import VARIANT_FLAGS
from dpgdiff_lite.data.dataset import case_batch
from dpgdiff_lite.evaluation import EvalResult, paired_test
from dpgdiff_lite.experiments.eq15 import preference_weight_curve
from dpgdiff_lite.experiments.table3 import ABLATION_ORDER
from dpgdiff_lite.lessons.common import figure, float_slider, not_attempted, not_attempted_message, widget
from dpgdiff_lite.parameters import SeededParams
from dpgdiff_lite.trainer import TrainResult


@dataclass
class AblationParams(SeededParams):
    """Notebook 08: the diffusion variants of Table 3, trained on the same data with every seed of ``seeds``."""

    models: str | tuple[str, ...] = ABLATION_ORDER
    output: str = "runs/08_ablation"

    def check(self) -> None:
        super().check()
        for name in self.models:
            if name not in VARIANT_FLAGS:
                raise ValueError(f"models: {name!r} is not a diffusion variant; Table 3 compares "
                                 f"{', '.join(ABLATION_ORDER)}")
        self.models = tuple(m for m in ABLATION_ORDER if m in self.models)


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


# --- the steps between rows, on two worlds (experiments.table3_paired.table3_steps) --------------------
def plot_table3_steps(steps: pd.DataFrame):
    """Each step between Table 3 rows as its difference with a 95 % interval, one panel per world (own
    x scale), one colour per domain; a line at 0. Returns (plotly figure, matplotlib figure) for
    :func:`dpgdiff_lite.lessons.common.interactive`; hovering shows Δ, the interval and p."""
    from plotly.subplots import make_subplots

    worlds = list(dict.fromkeys(steps["world"]))
    plot = make_subplots(rows=1, cols=len(worlds), subplot_titles=worlds, horizontal_spacing=0.22)
    static = figure(9, 2.9)
    axes = np.atleast_1d(static.subplots(1, len(worlds)))
    for col, (ax, world) in enumerate(zip(axes, worlds), start=1):
        part = steps[steps["world"] == world]
        labels = list(dict.fromkeys(part["step"]))
        for j, (domain, rows) in enumerate(part.groupby("domain", sort=False)):
            y = np.array([labels.index(s) for s in rows["step"]]) + (j - 0.5) * 0.25
            ax.errorbar(rows["Δ"], y, xerr=rows["± 95 %"], fmt="o", color=f"C{j}", capsize=3, label=f"domain {domain}")
            plot.add_scatter(x=rows["Δ"].round(3).tolist(), y=(-y).tolist(), mode="markers", name=f"domain {domain}",
                             legendgroup=domain, showlegend=col == 1, marker={"color": ["#1f77b4", "#ff7f0e"][j % 2]},
                             error_x={"type": "data", "array": rows["± 95 %"].round(3).tolist()},
                             customdata=list(zip(rows["step"], rows["± 95 %"].round(2), rows["p"])),
                             hovertemplate="%{customdata[0]}<br>Δ %{x:+.2f} ± %{customdata[1]}<br>p = %{customdata[2]:.2g}"
                                           f"<br>domain {domain}<extra></extra>", row=1, col=col)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel="Δ test NDCG@10 (×100), 95 % interval", title=world)
        plot.add_vline(x=0, line_width=1, row=1, col=col)
        plot.update_yaxes(tickvals=[-i for i in range(len(labels))], ticktext=labels, row=1, col=col)
        plot.update_xaxes(title_text="Δ test NDCG@10 (×100)", row=1, col=col)
    axes[0].legend(fontsize=7)
    plot.update_layout(title={"text": "Table 3, step by step: each row minus the row it builds on (3 seeds)", "font": {"size": 13}},
                       height=360, width=980, margin={"l": 150, "r": 20, "t": 60, "b": 50})
    return plot, static


# --- why diff collapses on the regime grid's world (experiments.regime_tables.collapse_table) ----------
CONFLICT_CELL = {"conflict_kind": "opposed", "conflict_rate": 1.0, "adhoc_noise": 0.0}
"""The regime grid's most negative cell, where ``results/regimes/ablation/`` trained Table 3."""


def train_on_cell(models: tuple[str, ...], cell: dict = CONFLICT_CELL, seed: int = 0, data_preset: str = "transfer"):
    """Train ``models`` on one regime cell's world and seed with the grid's own config (what
    ``python -m dpgdiff_lite regimes`` trains there); returns (dataset, {model: TrainResult})."""
    from dpgdiff_lite.experiments import regimes
    from dpgdiff_lite.trainer import train

    dataset, _ = regimes.draw_cell(data_preset, cell, seed)
    base = regimes.base_config("teaching", [])
    return dataset, {m: train(dataset, dataclasses.replace(base, model=m, seed=seed), progress=False) for m in models}


@torch.no_grad()
def popular_share(result: TrainResult, dataset, k: int = 10, batch_size: int = 512) -> pd.Series:
    """Per domain, the share of a model's top-k lists (over the test cases of that domain) taken by the
    domain's k most popular training items: 1.0 for the popularity ranking itself."""
    model = result.model.eval()
    counts, offsets = dataset.item_counts(), dataset.offsets
    domains = dataset.domain_of(dataset.test.targets)
    shares = {}
    for d, name in enumerate(dataset.domain_names):
        popular = np.argsort(-counts[offsets[d]:offsets[d + 1]], kind="stable")[:k]
        cases = np.flatnonzero(domains == d)
        hits = 0
        for start in range(0, len(cases), batch_size):
            batch = case_batch(dataset, cases[start:start + batch_size]).to(model.device)
            top = model.score(batch, d).topk(k, dim=1).indices.cpu().numpy()  # (batch, k)
            hits += int(np.isin(top, popular).sum())
        shares[name] = hits / (k * len(cases))
    return pd.Series(shares, name="share of the top-10 that is the 10 most popular items")


def plot_valid_curves(results: dict[str, TrainResult], popularity: float | None = None) -> Figure:
    """Validation NDCG@10 per epoch of each model (the curve early stopping reads), with popularity's level."""
    fig = figure(5.5, 2.7)
    ax = fig.subplots()
    for i, (name, result) in enumerate(results.items()):
        ax.plot(result.history["epoch"], result.history["valid_NDCG@10"], marker=".", color=f"C{i}", label=name)
    if popularity is not None:
        ax.axhline(popularity, color="grey", linestyle=":", label="popularity (test)")
    ax.set(xlabel="epoch", ylabel="valid NDCG@10 (×100)", title="opposed-conflict cell, seed 0")
    ax.legend(fontsize=7)
    return fig


# --- a knob of eq. (15): the weight of ĝ_d (experiments.eq15.preference_weight_curve) ------------------
def weight_widget(result: TrainResult, dataset, curve: pd.DataFrame, value: float = 1.0):
    """A slider on λ in (x̂_0 + λ ĝ_d)ᵀE_d that re-scores the test split of a trained DPG-Diff (a second or two
    on a CPU) and marks it on ``curve`` (:func:`preference_weight_curve`); returns (widget, update)."""
    cache: dict[float, pd.DataFrame] = {}

    def update(weight: float) -> Figure:
        key = round(float(weight), 4)
        if key not in cache:
            cache[key] = preference_weight_curve(result, dataset, [key])
        live = cache[key]
        fig = figure(5.5, 2.7)
        ax = fig.subplots()
        for j, domain in enumerate(curve.columns):
            ax.plot(curve.index, curve[domain], marker="o", color=f"C{j}", label=f"domain {domain}")
            ax.plot([key], live[domain], "*", markersize=13, color=f"C{j}", markeredgecolor="black")
        ax.axvline(1.0, color="grey", linestyle=":", label="eq. (15): λ = 1")
        ax.set(xlabel="λ, the weight of ĝ_d in (x̂_0 + λ ĝ_d)ᵀE_d", ylabel="test NDCG@10 (×100)",
               title=f"λ = {key:g}: " + ", ".join(f"{d} {v:.2f}" for d, v in live.iloc[0].items()))
        ax.legend(fontsize=7)
        return fig

    update.cache = cache
    return widget(update, weight=float_slider("λ (ĝ_d)", value, 0.0, 2.0, step=0.25))


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

