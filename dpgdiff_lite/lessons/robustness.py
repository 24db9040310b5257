"""Lesson 07 — robustness to noisy histories (Figure 3, RQ3), the number of reverse steps (Figure 4,
RQ4), and the question the paper leaves open: noise in the training sequences.

What ``07_robustness_and_steps.ipynb`` draws and checks beyond :mod:`dpgdiff_lite.experiments.robustness`
(which computes the curves, the paired tests and the training-noise experiment over seeds): its
papermill parameters (with ``seeds``), the figures with their seed bands, two widgets, the sentences
and summary, and the reference solution of its exercise. The three-seed results it shows come from
``python -m dpgdiff_lite robustness`` (the command in ``notebooks/results/07/README.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dpgdiff_lite.config import VARIANT_FLAGS
from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.experiments.robustness import (DEFAULT_TEST_NOISES, NoiseGrid, mean_and_std, noisy_histories,
                                                 step_curve)
from dpgdiff_lite.lessons.common import figure, float_slider, int_slider, not_attempted, not_attempted_message, widget
from dpgdiff_lite.parameters import SeededParams, integer, names, numbers
from dpgdiff_lite.trainer import TrainResult, run_evaluation

PAPER_RETENTION = 0.85


@dataclass
class RobustnessParams(SeededParams):
    """Notebook 07: test-time noise rates (Figure 3), step counts (Figure 4; empty = 1, 2, 5, 10,
    20, T) and the training-time noise experiment (``train_noise`` on ``train_noise_models``), for
    every model seed of ``seeds``; ``noise_seed`` fixes the injected noise, the same for every seed."""

    models: str | tuple[str, ...] = ("dpgdiff", "sasrec", "diff")
    output: str = "runs/07_robustness_and_steps"
    test_noises: str | tuple[float, ...] = DEFAULT_TEST_NOISES
    steps: str | tuple[int, ...] = ()
    noise_seed: int = integer(0, 0)
    train_noise: float = 0.2
    train_noise_models: str | tuple[str, ...] = ("dpgdiff", "sasrec")

    def check(self) -> None:
        super().check()
        self.test_noises = numbers(self.test_noises, "test_noises", float)
        if not self.test_noises or self.test_noises[0] != 0.0 or list(self.test_noises) != sorted(set(self.test_noises)):
            raise ValueError(f"test_noises must start at 0 (retention is relative to the clean score) and increase, "
                             f"got {self.test_noises}")
        if self.test_noises[-1] > 1.0:
            raise ValueError(f"test_noises must be in [0, 1], got {self.test_noises}")
        if isinstance(self.train_noise, bool) or not isinstance(self.train_noise, (int, float)) \
                or not 0 < self.train_noise <= 1:
            raise ValueError(f"train_noise must be in (0, 1], got {self.train_noise!r}")
        self.train_noise_models = names(self.train_noise_models, "train_noise_models")
        for name in self.train_noise_models:
            if name not in self.models:
                raise ValueError(f"train_noise_models: {name!r} is not in models ({', '.join(self.models)}); "
                                 "its clean-trained twin is needed")
        self.steps = numbers(self.steps, "steps", int)
        diffusion = [m for m in self.models if m in VARIANT_FLAGS]
        T = self.config(diffusion[0]).T if diffusion else None
        for k in self.steps:
            if T is not None and not 1 <= k <= T:
                raise ValueError(f"steps must be in 1..T={T}, got {k}")

    def grid(self) -> NoiseGrid:
        """The noise rates, step counts and training noise as :mod:`dpgdiff_lite.experiments.robustness` takes them."""
        return NoiseGrid(self.test_noises, self.steps, self.noise_seed, self.train_noise, self.train_noise_models)


def _draw_band(ax, x, stats_: pd.DataFrame, **style) -> None:
    line, = ax.plot(x, stats_["mean"], marker="o", markersize=3, **style)
    if (stats_["n"] > 1).any():
        ax.fill_between(x, stats_["mean"] - stats_["std"], stats_["mean"] + stats_["std"], color=line.get_color(),
                        alpha=0.2, linewidth=0)


def plot_robustness(curve: pd.DataFrame) -> Figure:
    """Figure 3: NDCG@10 retention against the test-time noise rate, one panel per domain; with a
    ``seed`` column, the mean over seeds with a ± std band."""
    domains = list(dict.fromkeys(curve["domain"]))
    fig = figure(4 * len(domains), 2.8)
    axes = np.atleast_1d(fig.subplots(1, len(domains), sharey=True))
    for ax, domain in zip(axes, domains):
        for name, rows in curve[curve["domain"] == domain].groupby("model", sort=False):
            stats_ = mean_and_std(rows, ["test_noise"], "retention")
            _draw_band(ax, 100 * stats_["test_noise"], stats_, label=name)
        ax.axhline(PAPER_RETENTION, color="grey", linestyle=":", linewidth=1, label="paper: DPG-Diff at 30%")
        ax.set(xlabel="test-time noise rate (%)", title=f"domain {domain}")
    axes[0].set_ylabel("NDCG@10 / NDCG@10 at noise 0")
    n_seeds = curve["seed"].nunique() if "seed" in curve else 1
    if n_seeds > 1:
        fig.suptitle(f"mean ± std over {n_seeds} seeds", fontsize=9)
    axes[0].legend(fontsize=8)
    return fig


def noise_widget(trained: dict[str, TrainResult], dataset: CrossDomainDataset, seed: int = 0,
                 max_rate: float = 0.5, value: float = 0.2):
    """A slider over the test-time noise rate re-evaluating the trained models live.

    Returns (widget, update); update(rate) -> Figure: NDCG@10 per domain and model, noisy (solid)
    next to clean (outline).
    """
    clean = {name: r.test.table["NDCG@10"] for name, r in trained.items()}

    def update(rate: float) -> Figure:
        histories = noisy_histories(dataset, rate, seed)
        noisy = {name: run_evaluation(r.model, dataset, r.config, "test", histories=histories).table["NDCG@10"]
                 for name, r in trained.items()}
        fig = figure(6, 2.6)
        ax = fig.subplots()
        width = 0.8 / len(trained)
        x = np.arange(dataset.n_domains)
        for i, name in enumerate(trained):
            ax.bar(x + i * width, noisy[name].to_numpy(), width, color=f"C{i}", label=name)
            ax.bar(x + i * width, clean[name].to_numpy(), width, fill=False, edgecolor=f"C{i}", linestyle="--")
        ax.set_xticks(x + width * (len(trained) - 1) / 2, [f"domain {d}" for d in dataset.domain_names])
        ax.set(ylabel="test NDCG@10 (×100)", title=f"test-time noise {rate:.0%} (dashed outline: clean)")
        ax.legend(fontsize=8, ncol=len(trained))
        return fig

    return widget(update, rate=float_slider("noise rate", value, 0.0, max_rate, percent=True))


def _plot_steps(ax_ndcg, ax_time, curve: pd.DataFrame) -> None:
    styles = ["-", "--", ":", "-."]
    n_domains = curve["domain"].nunique()
    for i, (name, rows) in enumerate(curve.groupby("model", sort=False)):
        colour = f"C{i * n_domains}"
        for j, (domain, part) in enumerate(rows.groupby("domain", sort=False)):
            stats_ = mean_and_std(part, ["steps"], "NDCG@10")  # one colour per (model, domain), one line style per model
            _draw_band(ax_ndcg, stats_["steps"], stats_, color=f"C{i * n_domains + j}", linestyle=styles[i % 4],
                       label=f"{name} {domain}")
        timing = mean_and_std(rows.drop_duplicates(["steps", "seed"] if "seed" in rows else ["steps"]), ["steps"], "seconds")
        _draw_band(ax_time, timing["steps"], timing, color=colour, label=name)
    for ax in (ax_ndcg, ax_time):
        ax.set_xscale("log")
        ax.set_xlabel("inference steps k (log scale)")
    ax_ndcg.set(ylabel="test NDCG@10 (×100)", title="quality")
    ax_time.set(ylabel="seconds to score the test split", title="cost")
    ax_ndcg.legend(fontsize=7)
    ax_time.legend(fontsize=8)


def plot_steps(curve: pd.DataFrame) -> Figure:
    """Figure 4: NDCG@10 and scoring time against the number of inference steps; with a ``seed``
    column, the mean over seeds with a ± std band."""
    fig = figure(8, 2.8)
    _plot_steps(*fig.subplots(1, 2), curve)
    n_seeds = curve["seed"].nunique() if "seed" in curve else 1
    if n_seeds > 1:
        fig.suptitle(f"mean ± std over {n_seeds} seeds", fontsize=9)
    return fig


def plot_steps_interactive(curve: pd.DataFrame):
    """Figure 4 for :func:`dpgdiff_lite.lessons.common.interactive`: (plotly figure, :func:`plot_steps`).
    Hovering a point shows the model, domain, k and the mean ± std of NDCG@10 over seeds."""
    import plotly.graph_objects as go

    plot = go.Figure()
    for name, rows in curve.groupby("model", sort=False):
        for domain, part in rows.groupby("domain", sort=False):
            stats_ = mean_and_std(part, ["steps"], "NDCG@10")
            std = stats_["std"].round(3).tolist()
            plot.add_scatter(x=stats_["steps"].tolist(), y=stats_["mean"].round(3).tolist(), mode="lines+markers",
                             name=f"{name} {domain}", customdata=std,
                             error_y={"type": "data", "array": std, "visible": True},
                             hovertemplate=f"{name} {domain}<br>k = %{{x}}<br>NDCG@10 %{{y:.2f}} ± %{{customdata:.2f}}"
                                           "<extra></extra>")
    plot.update_xaxes(type="log", title_text="inference steps k (log scale)")
    plot.update_yaxes(title_text="test NDCG@10 (×100)")
    plot.update_layout(title={"text": "Figure 4: quality against the number of reverse steps", "font": {"size": 13}},
                       height=360, width=760, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return plot, plot_steps(curve)


def steps_widget(result: TrainResult, dataset: CrossDomainDataset, curve: pd.DataFrame | None = None,
                 value: int = 1):
    """A slider over k re-scoring a trained diffusion model live (about a second at k = T on a CPU).

    Returns (widget, update); update(k) -> Figure: the step curve (when given) with the live
    point at k marked in both panels.
    """
    def update(k: int) -> Figure:
        live = step_curve({result.config.model: result}, dataset, (int(k),))
        fig = figure(8, 2.8)
        ax_ndcg, ax_time = fig.subplots(1, 2)
        if curve is not None:
            _plot_steps(ax_ndcg, ax_time, curve)
        ax_ndcg.plot(live["steps"], live["NDCG@10"], "k*", markersize=12, label=f"live k={k}")
        ax_time.plot(live["steps"][:1], live["seconds"][:1], "k*", markersize=12)
        ax_ndcg.set_title(f"{result.config.model}, k={k}: " + ", ".join(
            f"{d} {v:.2f}" for d, v in zip(live["domain"], live["NDCG@10"])), fontsize=9)
        ax_ndcg.set(xscale="log", xlabel="inference steps k (log scale)", ylabel="test NDCG@10 (×100)")
        return fig

    return widget(update, k=int_slider("steps k", value, 1, result.config.T))


def summarize_robustness(curve: pd.DataFrame, steps: pd.DataFrame, train_noise: pd.DataFrame,
                         params: RobustnessParams) -> dict:
    """The numbers notebook 07 ends with (``summary.json``), and a one-line ``headline`` (means over
    the seeds the frames hold)."""
    top = curve[curve["test_noise"] == curve["test_noise"].max()]
    retention = {m: rows.groupby("domain")["retention"].mean().round(3).to_dict() for m, rows in top.groupby("model")}
    best_k = {m: int(rows.groupby("steps")["NDCG@10"].mean().idxmax()) for m, rows in steps.groupby("model")}
    summary = {
        "notebook": "07_robustness_and_steps", "data": params.data, "preset": params.preset,
        "max_test_noise": float(curve["test_noise"].max()), "retention_at_max_noise": retention,
        "step_curve_NDCG@10": {m: rows.groupby("steps")["NDCG@10"].mean().round(3).to_dict()
                               for m, rows in steps.groupby("model")},
        "best_steps": best_k, "train_noise": params.train_noise,
        "train_noise_table": train_noise.round(3).to_dict(orient="records"),
    }
    mean_retention = {m: float(np.mean(list(v.values()))) for m, v in retention.items()}
    summary["headline"] = (f"NDCG@10 retained at {summary['max_test_noise']:.0%} test noise: "
                           + ", ".join(f"{m} {v:.2f}" for m, v in mean_retention.items())
                           + "; best k: " + ", ".join(f"{m} {k}" for m, k in best_k.items()))
    return summary


# --- exercise -------------------------------------------------------------------------------------
def robustness_score_by_hand(rates, retention) -> float:
    """Exercise (07): one number for a robustness curve, the mean retention over the noise range
    (trapezoid area under retention(rate), divided by the range of rates)."""
    rates, retention = np.asarray(rates, dtype=float), np.asarray(retention, dtype=float)
    area = np.sum((rates[1:] - rates[:-1]) * (retention[1:] + retention[:-1]) / 2)
    return float(area / (rates[-1] - rates[0]))


def check_robustness_score(fn: Callable, curve: pd.DataFrame) -> str:
    """Check a reader's ``fn(rates, retention) -> float`` on the prompt's two closed forms (a flat
    curve scores 1, a linear fall from 1 to 0.7 over 0–30 % scores 0.85), then against the reference
    on every curve of ``curve`` (one per model and domain, and seed when it has one)."""
    rates = np.array([0.0, 0.1, 0.2, 0.3])
    for retention, want in ((np.ones(4), 1.0), (1 - rates, 0.85)):
        got = fn(rates, retention)
        if not_attempted(got):
            return not_attempted_message("robustness.robustness_score_by_hand")
        if not math.isclose(float(got), want, rel_tol=1e-9):
            return f"mismatch: retention {retention.round(2).tolist()} over rates {rates.tolist()} should score {want}, got {float(got):.4f}"
    mismatches, scores = [], []
    keys = ["model", "domain"] + (["seed"] if "seed" in curve and curve["seed"].nunique() > 1 else [])
    for key, rows in curve.groupby(keys, sort=False):
        name = " ".join(str(k) for k in key)
        rates, retention = rows["test_noise"].to_numpy(), rows["retention"].to_numpy()
        got = fn(rates, retention)
        want = robustness_score_by_hand(rates, retention)
        scores.append(f"{name} {want:.3f}")
        if not math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-12):
            mismatches.append(f"{name}: got {float(got):.4f}, expected {want:.4f}")
    return "mismatch: " + "; ".join(mismatches) if mismatches else "correct: " + ", ".join(scores)


