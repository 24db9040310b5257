"""Lesson 06 — Table 1 (RQ1): DPG-Diff against its baselines over seeds: the learning curves' seed bands,
the tables' display form, the notebook's summary and its exercise. Training and tables are
:mod:`dpgdiff_lite.experiments.compare` (``python -m dpgdiff_lite compare --seeds``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import pandas as pd
from scipy import stats

from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.evaluation import EvalResult
from dpgdiff_lite.lessons.common import figure, not_attempted, not_attempted_message
from dpgdiff_lite.parameters import ExperimentParams, SeededParams
from dpgdiff_lite.trainer import TrainResult

@dataclass
class TrainingParams(SeededParams):
    """Notebook 06: the models of Table 1, trained to early stopping with every seed of ``seeds``."""

    models: str | tuple[str, ...] = ("dpgdiff", "sasrec", "sasrec-single", "pop")
    output: str = "runs/06_full_training"


# --- the learning curves and tables over seeds -------------------------------------------------------
def best_epochs(curves: pd.DataFrame) -> pd.DataFrame:
    """Per model and seed: the epoch of the best validation NDCG@10 (the one kept), its value, and
    the last epoch run (early stopping ends ``patience`` evaluations after the best)."""
    rows = []
    for (name, seed), part in curves.groupby(["model", "seed"], sort=False):
        best = part.loc[part["valid_NDCG@10"].idxmax()]
        rows.append({"model": name, "seed": seed, "best_epoch": int(best["epoch"]),
                     "best_valid_NDCG@10": float(best["valid_NDCG@10"]), "last_epoch": int(part["epoch"].max())})
    return pd.DataFrame(rows)


def band(curves: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per model and epoch: mean, std (ddof 1; NaN with one seed) and count over the seeds that ran it."""
    grouped = curves.groupby(["model", "epoch"], sort=False)[column]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()


def seeds_table_display(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``table1_seeds.csv`` frame back in the (domain, metric) index of :func:`dpgdiff_lite.experiments.tables.seeds_table`."""
    return frame.set_index(["domain", "metric"])


def mean_std_by_domain(per_seed: pd.DataFrame, metric: str = "NDCG@10") -> pd.DataFrame:
    """From a ``per_seed.csv`` frame: per model, ``metric`` per domain as mean and std over seeds."""
    rows = per_seed[per_seed["metric"] == metric]
    stats_ = rows.groupby(["model", "domain"], sort=False)["value"].agg(["mean", "std"]).unstack("domain")
    stats_.columns = [f"{domain} {what}" for what, domain in stats_.columns]
    domains = list(dict.fromkeys(rows["domain"]))
    return stats_[[f"{d} {w}" for d in domains for w in ("mean", "std")]]


def cold_warm_summary(cold_warm: pd.DataFrame, metric: str = "NDCG@10") -> pd.DataFrame:
    """From a ``cold_warm.csv`` frame: per (domain, cold or warm target) the share of test cases and
    each model's ``metric`` averaged over seeds."""
    means = cold_warm.pivot_table(index=["domain", "target"], columns="model", values=metric, aggfunc="mean", sort=False)
    cases = cold_warm.groupby(["model", "seed", "domain", "target"], sort=False)["cases"].sum()
    first = cases.xs(cases.index[0][:2], level=("model", "seed"))
    share = first / first.groupby(level="domain").transform("sum")
    return means.assign(**{"share of cases": share}).loc[:, ["share of cases", *means.columns]]


# --- the learning curves with seed bands -----------------------------------------------------------
PLOTLY_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def plot_seed_curves(curves: pd.DataFrame, title: str = ""):
    """Learning curves with a mean ± std band over seeds: validation NDCG@10 (left) and the training
    objective (right), one colour per model. Returns (plotly figure, matplotlib figure) for
    :func:`dpgdiff_lite.lessons.common.interactive`; in plotly a legend entry toggles a model's
    line and band together, and hovering shows the mean, the std and how many seeds ran that epoch."""
    from plotly.subplots import make_subplots

    panels = (("valid_NDCG@10", "valid NDCG@10 (×100)"), ("objective", "weighted training loss"))
    plot = make_subplots(rows=1, cols=2, subplot_titles=("model selection (mean of domains)", "training objective (eq. 14)"))
    static = figure(8, 2.9)
    axes = static.subplots(1, 2)
    for i, name in enumerate(dict.fromkeys(curves["model"])):
        colour = PLOTLY_COLOURS[i % len(PLOTLY_COLOURS)]
        for col, (ax, (column, label)) in enumerate(zip(axes, panels), start=1):
            stats_ = band(curves[curves["model"] == name], column)
            x, mean, std = stats_["epoch"].tolist(), stats_["mean"].round(3).tolist(), stats_["std"].fillna(0).round(3)
            low, high = (stats_["mean"] - std).round(3).tolist(), (stats_["mean"] + std).round(3).tolist()
            plot.add_scatter(x=x + x[::-1], y=high + low[::-1], fill="toself", fillcolor=_rgba(colour, 0.2),
                             line={"width": 0}, hoverinfo="skip", legendgroup=name, showlegend=False, row=1, col=col)
            plot.add_scatter(x=x, y=mean, mode="lines+markers", name=name, legendgroup=name, showlegend=col == 1,
                             line={"color": colour}, customdata=list(zip(std.tolist(), stats_["n"].tolist())),
                             hovertemplate=f"{name}<br>epoch %{{x}}<br>mean %{{y:.2f}} ± %{{customdata[0]:.2f}}"
                                           f"<br>%{{customdata[1]}} seed(s)<extra></extra>", row=1, col=col)
            ax.fill_between(x, low, high, color=f"C{i}", alpha=0.2, linewidth=0)
            ax.plot(x, mean, marker=".", color=f"C{i}", label=name)
            ax.set(xlabel="epoch", ylabel=label)
            plot.update_xaxes(title_text="epoch", row=1, col=col)
            plot.update_yaxes(title_text=label, row=1, col=col)
    axes[0].set_title("model selection (mean of domains)")
    axes[1].set_title("training objective (eq. 14)")
    axes[0].legend(fontsize=8)
    if title:
        static.suptitle(title, fontsize=9)
    plot.update_layout(title={"text": title, "font": {"size": 13}}, height=360, width=900,
                       margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return plot, static


# --- display and summary ------------------------------------------------------------------------
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

