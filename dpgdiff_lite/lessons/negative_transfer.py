"""Lesson 02 — negative transfer: when reading the other domain makes a domain worse.

The paper's title claim (Challenge 2 of its Introduction): naively merging a user's domains lets
conflicting domain-specific preferences and ad-hoc noise leak across, and disentangled preference
guidance is said to overcome it. :mod:`dpgdiff_lite.experiments.transfer` defines the measurement,

    transfer_d = NDCG@10(SASRec on s_c) − NDCG@10(SASRec on s_d alone)   (``sasrec`` − ``sasrec-single``),

negative when below zero at p < 0.05 (paired over (seed, test case)). Here: notebook 02's parameters,
the regime map, the ablation's bars, the third domain's bars, the exercise and the summary. The committed tables (``notebooks/results/regimes/README.md``) are read
back, and some cells re-run live, by :mod:`dpgdiff_lite.experiments.regime_tables`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dpgdiff_lite.experiments import regimes, transfer as transfer_module
from dpgdiff_lite.experiments.regime_tables import (LIVE_MODELS, QUANTITIES, Precomputed, describe_cell, largest_step,
                                                  regime_matrices, select)
from dpgdiff_lite.experiments.table3_paired import ABLATION_ORDER
from dpgdiff_lite.lessons.common import MODEL_LABELS, figure, not_attempted, not_attempted_message, resolve
from dpgdiff_lite.parameters import CheckedParams, integer, names, numbers

# --- parameters ------------------------------------------------------------------------------------
@dataclass
class TransferParams(CheckedParams):
    """Notebook 02's papermill parameters, checked at once (a bad value names itself).

    ``results``: the precomputed folder (``regimes.csv``, ``summary.csv``, ``ablation/``);
    ``output``: where the live runs go; the live re-run trains :data:`LIVE_MODELS` in the cells
    (opposed conflict at ``live_conflict_rates``, ad-hoc noise ``live_adhoc_noise``) and ``live_variants``
    on the ablation's cell, all with ``seed``; the widget trains on ``widget_users`` users of the
    tiny world for ``widget_epochs`` epochs, starting at ``widget_conflict``.
    """

    seed: int = integer(0, 0)
    results: str = "results/regimes"
    output: str = "runs/02_negative_transfer"
    live_conflict_rates: str | tuple[float, ...] = (0.0, 1.0)
    live_adhoc_noise: float = 0.1
    live_variants: str | tuple[str, ...] = ("diff",)
    widget_conflict: float = 1.0
    widget_users: int = integer(1000, 100)
    widget_epochs: int = integer(10, 1)
    resume: bool = True

    def check(self) -> None:
        self.live_conflict_rates = numbers(self.live_conflict_rates, "live_conflict_rates", float)
        if len(self.live_conflict_rates) < 2 or not all(0 <= c <= 1 for c in self.live_conflict_rates):
            raise ValueError(f"live_conflict_rates must be two or more rates in [0, 1], got {self.live_conflict_rates}")
        self.live_conflict_rates = tuple(sorted(set(self.live_conflict_rates)))
        for name in ("live_adhoc_noise", "widget_conflict"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
            setattr(self, name, float(value))
        self.live_variants = names(self.live_variants, "live_variants")
        for name in self.live_variants:
            if name not in ABLATION_ORDER:
                raise ValueError(f"live_variants: {name!r} is not a Table 3 variant; "
                                 f"choose from {', '.join(ABLATION_ORDER)}")
        if not isinstance(self.resume, bool):
            raise ValueError(f"resume must be True or False, got {self.resume!r}")
        if not str(self.output).strip():
            raise ValueError("output: name a folder for the live runs")
        for file in ("regimes.csv", "summary.csv"):
            if not (self.results_path / file).exists():
                raise ValueError(f"results: {Path(self.results) / file} not found; write it with "
                                 f"python -m dpgdiff_lite regimes --out {self.results} (see its README.md)")

    @property
    def results_path(self) -> Path:
        return resolve(self.results)

    @property
    def committed(self) -> bool:
        """True with the committed run's live settings: the claims about the live models (the chosen user,
        the widget) are checked then, and only printed for other parameters (``common.checked``)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        live = ("seed", "live_conflict_rates", "live_adhoc_noise", "widget_conflict", "widget_users", "widget_epochs")
        return all(getattr(self, name) == defaults[name] for name in live)

    @property
    def output_path(self) -> Path:
        return Path(self.output)




# --- the regime map ------------------------------------------------------------------------------------
def _cell_text(mean: float, std: float, p: float, verdict: str) -> str:
    spread = "" if np.isnan(std) else f" ± {std:.2f}"
    return f"{mean:+.2f}{spread}<br>p = {p:.2g} ({verdict})"


def regime_map(pre: Precomputed, quantities: tuple[str, ...] = tuple(QUANTITIES)):
    """Heat maps over conflict rate × ad-hoc noise rate, one per quantity (rows) and domain (columns), diverging
    around 0: (plotly figure with mean ± std over seeds and p on hover, matplotlib figure with the same)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    domains = list(dict.fromkeys(pre.summary["domain"]))
    quantities = [q for q in quantities if q in pre.summary]
    cells = {(q, d): regime_matrices(pre.summary, q, d) for q in quantities for d in domains}
    limit = max(float(np.nanmax(np.abs(c[2]))) for c in cells.values()) or 1.0
    titles = [f"{QUANTITIES[q]}, domain {d}" for q in quantities for d in domains]
    plot = make_subplots(rows=len(quantities), cols=len(domains), subplot_titles=titles,
                         horizontal_spacing=0.12, vertical_spacing=0.2)
    fig = figure(4.2 * len(domains), 2.4 * len(quantities) + 0.4)
    axes = np.atleast_2d(fig.subplots(len(quantities), len(domains), squeeze=False))
    n_seeds = len(pre.seeds)
    for (q, d), (conflicts, noises, mean, std, p, verdict) in cells.items():
        r, c = quantities.index(q), domains.index(d)
        text = [[_cell_text(mean[i, j], std[i, j], p[i, j], verdict[i, j]) for j in range(len(noises))]
                for i in range(len(conflicts))]
        plot.add_trace(go.Heatmap(
            z=[[None if np.isnan(v) else round(float(v), 3) for v in row] for row in mean],
            x=[f"η = {n:g}" for n in noises], y=[f"conflict {c_:g}" for c_ in conflicts],
            text=text, coloraxis="coloraxis",
            hovertemplate=f"%{{y}}, %{{x}}<br>{QUANTITIES[q]} ({d}), mean ± std over {n_seeds} seeds:<br>"
                          "%{text}<extra></extra>"), row=r + 1, col=c + 1)
        ax = axes[r, c]
        image = ax.imshow(mean, cmap="RdBu", vmin=-limit, vmax=limit, origin="lower", aspect="auto")
        for i in range(len(conflicts)):
            for j in range(len(noises)):
                star = "*" if verdict[i, j] in ("negative", "positive") else ""
                spread = "" if np.isnan(std[i, j]) else f"\n± {std[i, j]:.2f}"
                ax.text(j, i, f"{mean[i, j]:+.2f}{star}{spread}", ha="center", va="center", fontsize=8,
                        color="white" if abs(mean[i, j]) > 0.6 * limit else "black")
        ax.set_xticks(range(len(noises)), [f"{n:g}" for n in noises])
        ax.set_yticks(range(len(conflicts)), [f"{c_:g}" for c_ in conflicts])
        ax.set(xlabel="ad-hoc noise rate η", ylabel="opposed conflict rate", title=f"{QUANTITIES[q]} ({d})")
        ax.title.set_fontsize(9)
    fig.colorbar(image, ax=axes, label="Δ NDCG@10 (×100); * p < 0.05", shrink=0.8)
    plot.update_layout(coloraxis={"colorscale": "RdBu", "cmin": -limit, "cmax": limit,
                                  "colorbar": {"title": "Δ NDCG@10"}},
                       height=300 * len(quantities) + 60, width=380 * len(domains) + 120,
                       margin={"t": 60, "b": 40, "l": 40, "r": 40}, template="simple_white")
    return plot, fig


# --- Table 3 on the most negative regime -------------------------------------------------------------
def plot_ablation(paired: pd.DataFrame, baselines: pd.DataFrame) -> Figure:
    """Bars: each variant's NDCG@10 (mean ± std over seeds) per domain; lines: the two SASRecs there."""
    domains = list(dict.fromkeys(paired["domain"]))
    fig = figure(8, 3.1)
    axes = fig.subplots(1, len(domains), sharey=True)
    for ax, domain in zip(np.atleast_1d(axes), domains):
        rows = paired[paired["domain"] == domain].set_index("variant").loc[
            [v for v in ABLATION_ORDER if v in set(paired["variant"])]]
        ax.bar(range(len(rows)), rows["NDCG@10"], yerr=rows["std"], color=[f"C{i + 2}" for i in range(len(rows))],
               capsize=3)
        for model, style in zip(LIVE_MODELS, ("--", ":")):
            value = baselines.loc[(baselines["domain"] == domain) & (baselines["model"] == model), "NDCG@10"].mean()
            ax.axhline(value, color="black", linestyle=style, linewidth=1, label=MODEL_LABELS[model])
        ax.set_xticks(range(len(rows)), rows.index, rotation=30, fontsize=7, ha="right")
        ax.set(title=f"domain {domain}", ylabel="test NDCG@10 (×100)")
    fig.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=7)
    return fig


# --- exercise ----------------------------------------------------------------------------------------
def transfer_by_hand(mixed: pd.DataFrame, single: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Exercise (reference): per domain, the mean over test cases of mixed − single NDCG@10 and the
    two-sided paired t-test p, t = mean(d) / (sd(d) / √n) with n − 1 degrees of freedom (one seed)."""
    pairs = mixed[["case", "domain", "NDCG@10"]].merge(single[["case", "domain", "NDCG@10"]], on=["case", "domain"],
                                                       suffixes=("_mixed", "_single"))
    out = {}
    for domain, group in pairs.groupby("domain", sort=False):
        d = (group["NDCG@10_mixed"] - group["NDCG@10_single"]).to_numpy()
        t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
        out[domain] = (float(d.mean()), float(2 * stats.t.sf(abs(t), df=len(d) - 1)))
    return out


def check_transfer(fn: Callable, folder: str | Path) -> str:
    """Compare a reader's ``fn(mixed, single) -> {domain: (transfer, p)}`` on the per-case CSVs of
    ``folder`` with :func:`dpgdiff_lite.experiments.transfer.transfer`."""
    mixed, single = regimes.read_per_case(Path(folder), "sasrec"), regimes.read_per_case(Path(folder), "sasrec-single")
    got = fn(mixed, single)
    if not_attempted(got):
        return not_attempted_message("negative_transfer.transfer_by_hand")
    expected = transfer_module.transfer({0: mixed}, {0: single})
    lines = []
    for domain, row in expected.iterrows():
        if domain not in got:
            return f"no result for domain {domain}"
        value, p = (float(v) for v in got[domain])
        if not (math.isclose(value, row["transfer"], abs_tol=1e-9) and math.isclose(p, row["p"], rel_tol=1e-6,
                                                                                 abs_tol=1e-12)):
            return (f"mismatch in {domain}: got transfer {value:+.4f}, p = {p:.4g}; "
                    f"expected {row['transfer']:+.4f}, p = {row['p']:.4g}")
        lines.append(f"{domain} {value:+.2f} (p = {p:.2g})")
    return "correct: " + "; ".join(lines)


# --- summary -----------------------------------------------------------------------------------------
def summarize(pre: Precomputed, paired: pd.DataFrame | None, live_match: float, seconds: float) -> dict:
    """The numbers notebook 02 ends with (``summary.json``) and a one-line ``headline``."""
    worst = regimes.most_negative_cell(pre.summary)
    rows = select(pre.summary, worst).set_index("domain")
    summary = {"notebook": "02_negative_transfer", "precomputed": pre.label(), "most_negative_cell": worst,
               "transfer": rows["transfer"].round(3).to_dict(), "transfer_p": rows["transfer_p"].to_dict(),
               "live_max_abs_difference": live_match, "seconds": round(seconds, 1)}
    if "dpg_gain" in rows:
        summary |= {"dpg_gain": rows["dpg_gain"].round(3).to_dict(), "dpg_gain_p": rows["dpg_gain_p"].to_dict()}
    if paired is not None:
        summary["largest_step"] = dict(zip(("variant", "adds", "delta"), largest_step(paired)))
    moved = " / ".join(f"{d} {v:+.2f}" for d, v in summary["transfer"].items())
    gain = (" / ".join(f"{d} {v:+.2f}" for d, v in summary["dpg_gain"].items()) if "dpg_gain" in summary else "n/a")
    summary["headline"] = (f"most negative transfer at {describe_cell(worst)}: {moved}; "
                           f"DPG-Diff − best SASRec there: {gain}")
    return summary


# --- a third domain (the paper's open question 1) ---------------------------------------------------
def third_domain_figure(table: pd.DataFrame, all_name: str = "XYZ", kept_name: str = "XY") -> Figure:
    """``third_domain.csv`` as bars: per kept domain, each model's effect of the extra domain
    (NDCG@10 trained on ``all_name`` − on ``kept_name``) ± its std over seeds, with the paired p."""
    domains = list(dict.fromkeys(table["domain"]))
    fig = figure(4.2 * len(domains), 3.2)
    axes = fig.subplots(1, len(domains), sharey=True, squeeze=False)[0]
    for ax, domain in zip(axes, domains):
        rows = table[table["domain"] == domain]
        x = np.arange(len(rows))
        colours = ["tab:red" if v == "negative" else "tab:green" if v == "positive" else "0.6"
                   for v in rows["effect_verdict"]]
        ax.bar(x, rows["effect"], yerr=rows["effect_std"], color=colours, capsize=4)
        for i, (effect, p) in enumerate(zip(rows["effect"], rows["effect_p"])):
            ax.annotate(f"p={p:.2g}", (i, effect), textcoords="offset points", xytext=(0, 6 if effect >= 0 else -14),
                        ha="center", fontsize=8)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, rows["model"], rotation=15)
        ax.set_title(f"domain {domain}")
    axes[0].set_ylabel(f"NDCG@10: {all_name} − {kept_name}")
    fig.suptitle("what a third domain does (red: hurts, green: helps, grey: no significant change; ± std over seeds)",
                 fontsize=9)
    return fig
