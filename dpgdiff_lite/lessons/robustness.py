"""Lesson 06 — robustness to noisy histories (Figure 3, RQ3), the number of reverse steps (Figure 4,
RQ4), and the question the paper leaves open: noise in the training sequences.

Everything ``07_robustness_and_steps.ipynb`` computes or draws beyond training: its papermill
parameters, the robustness and step curves, two widgets, the training-noise experiment, the
summary and the reference solution of its exercise.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dpgdiff_lite.config import VARIANT_FLAGS
from dpgdiff_lite.data.augment import inject_noise_split
from dpgdiff_lite.data.dataset import CrossDomainDataset
from dpgdiff_lite.data.sources import DataSource
from dpgdiff_lite.lessons.common import (ExperimentParams, check_int, figure, float_slider, int_slider, names,
                                         not_attempted, not_attempted_message, numbers, widget)
from dpgdiff_lite.runs import train_or_load
from dpgdiff_lite.trainer import TrainResult, run_evaluation


DEFAULT_NOISE_RATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


PAPER_RETENTION = 0.85


@dataclass
class RobustnessParams(ExperimentParams):
    """Notebook 07: test-time noise rates (Figure 3), step counts (Figure 4; empty = 1, 2, 5, 10,
    20, T) and the training-time noise experiment (``train_noise`` on ``train_noise_models``)."""

    models: str | tuple[str, ...] = ("dpgdiff", "sasrec", "diff")
    output: str = "runs/07_robustness_and_steps"
    noise_rates: str | tuple[float, ...] = DEFAULT_NOISE_RATES
    steps: str | tuple[int, ...] = ()
    noise_seed: int = 0
    train_noise: float = 0.2
    train_noise_models: str | tuple[str, ...] = ("dpgdiff", "sasrec")

    def check(self) -> None:
        super().check()
        self.noise_rates = numbers(self.noise_rates, "noise_rates", float)
        if not self.noise_rates or self.noise_rates[0] != 0.0 or list(self.noise_rates) != sorted(set(self.noise_rates)):
            raise ValueError(f"noise_rates must start at 0 (retention is relative to the clean score) and increase, "
                             f"got {self.noise_rates}")
        if self.noise_rates[-1] > 1.0:
            raise ValueError(f"noise_rates must be in [0, 1], got {self.noise_rates}")
        check_int("noise_seed", self.noise_seed, 0)
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

    def step_counts(self, T: int) -> tuple[int, ...]:
        """The k of Figure 4: the ``steps`` parameter, or (1, 2, 5, 10, 20, T)."""
        return tuple(sorted(set(self.steps or [k for k in (1, 2, 5, 10, 20) if k < T] + [T])))


# --- Figure 3: test-time noise (RQ3) ----------------------------------------------------------
def noisy_histories(dataset: CrossDomainDataset, rate: float, seed: int = 0) -> list[np.ndarray]:
    """The test histories with ``rate`` noisy events (half substituted, half inserted), seeded."""
    return inject_noise_split(dataset.test.histories, rate, dataset.offsets, seed=seed)


def robustness_curve(trained: dict[str, TrainResult], dataset: CrossDomainDataset,
                     rates: tuple[float, ...] = DEFAULT_NOISE_RATES, seed: int = 0) -> pd.DataFrame:
    """Test NDCG@10 of every model under test-time noise, and its retention relative to noise 0.

    Every model sees the same noisy histories at a rate. Columns: model, noise_rate, domain,
    NDCG@10, retention.
    """
    if 0.0 not in rates:
        raise ValueError(f"rates must include 0 (retention is relative to the clean score), got {rates}")
    rows = []
    for rate in rates:
        histories = noisy_histories(dataset, rate, seed)  # rate 0 returns the histories unchanged
        for name, result in trained.items():
            scores = run_evaluation(result.model, dataset, result.config, "test", histories=histories)
            rows += [{"model": name, "noise_rate": rate, "domain": d, "NDCG@10": v}
                     for d, v in scores.table["NDCG@10"].items()]
    curve = pd.DataFrame(rows)
    clean = curve[curve["noise_rate"] == 0.0].set_index(["model", "domain"])["NDCG@10"]
    curve["retention"] = curve["NDCG@10"] / clean.loc[list(zip(curve["model"], curve["domain"]))].to_numpy()
    return curve


def plot_robustness(curve: pd.DataFrame) -> Figure:
    """Figure 3: NDCG@10 retention against the test-time noise rate, one panel per domain."""
    domains = list(dict.fromkeys(curve["domain"]))
    fig = figure(4 * len(domains), 2.8)
    axes = np.atleast_1d(fig.subplots(1, len(domains), sharey=True))
    for ax, domain in zip(axes, domains):
        for name, rows in curve[curve["domain"] == domain].groupby("model", sort=False):
            ax.plot(100 * rows["noise_rate"], rows["retention"], marker="o", label=name)
        ax.axhline(PAPER_RETENTION, color="grey", linestyle=":", linewidth=1, label="paper: DPG-Diff at 30%")
        ax.set(xlabel="test-time noise rate (%)", title=f"domain {domain}")
    axes[0].set_ylabel("NDCG@10 / NDCG@10 at noise 0")
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


# --- Figure 4: inference steps (RQ4) ----------------------------------------------------------
def step_curve(trained: dict[str, TrainResult], dataset: CrossDomainDataset, steps: tuple[int, ...],
               split: str = "test") -> pd.DataFrame:
    """NDCG@10 on ``split`` and scoring time with k reverse steps (eq. 15), for each diffusion model.

    Columns: model, steps, domain, NDCG@10, seconds (wall time to score the whole split).
    """
    rows = []
    for name, result in trained.items():
        if result.config.model not in VARIANT_FLAGS:
            continue  # SASRec and popularity have no reverse process
        for k in steps:
            if not 1 <= k <= result.config.T:
                raise ValueError(f"steps must be in 1..T={result.config.T}, got {k}")
            started = time.perf_counter()
            scores = run_evaluation(result.model, dataset, result.config, split, steps=k)
            seconds = time.perf_counter() - started
            rows += [{"model": name, "steps": k, "domain": d, "NDCG@10": v, "seconds": seconds}
                     for d, v in scores.table["NDCG@10"].items()]
    return pd.DataFrame(rows, columns=["model", "steps", "domain", "NDCG@10", "seconds"])


def _plot_steps(ax_ndcg, ax_time, curve: pd.DataFrame) -> None:
    styles = ["-", "--", ":", "-."]
    for i, (name, rows) in enumerate(curve.groupby("model", sort=False)):
        colour = f"C{i}"
        for j, (domain, part) in enumerate(rows.groupby("domain", sort=False)):
            ax_ndcg.plot(part["steps"], part["NDCG@10"], marker="o", color=colour, linestyle=styles[j % 4],
                         label=f"{name} {domain}")
        timing = rows.drop_duplicates("steps")
        ax_time.plot(timing["steps"], timing["seconds"], marker="o", color=colour, label=name)
    for ax in (ax_ndcg, ax_time):
        ax.set_xscale("log")
        ax.set_xlabel("inference steps k (log scale)")
    ax_ndcg.set(ylabel="test NDCG@10 (×100)", title="quality")
    ax_time.set(ylabel="seconds to score the test split", title="cost")
    ax_ndcg.legend(fontsize=7)
    ax_time.legend(fontsize=8)


def plot_steps(curve: pd.DataFrame) -> Figure:
    """Figure 4: NDCG@10 and scoring time against the number of inference steps."""
    fig = figure(8, 2.8)
    _plot_steps(*fig.subplots(1, 2), curve)
    return fig


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


# --- the open question: noise in the training sequences ---------------------------------------
def with_noisy_training(dataset: CrossDomainDataset, rate: float, seed: int = 0) -> CrossDomainDataset:
    """A copy of ``dataset`` whose training sequences carry ``rate`` noise; validation and test stay clean."""
    return dataclasses.replace(dataset, train=inject_noise_split(dataset.train, rate, dataset.offsets, seed=seed))


def train_noise_experiment(source: DataSource, params: RobustnessParams, clean: dict[str, TrainResult],
                           out_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, TrainResult]]:
    """Train ``params.train_noise_models`` again on noisy training sequences; evaluate both twins on
    clean test histories and on test histories with the same noise rate.

    Returns (frame with columns model, trained_on, domain, clean test, noisy test; the noisy-trained runs).
    """
    dataset, rate, seed = source.dataset, params.train_noise, params.noise_seed
    noisy_data = with_noisy_training(dataset, rate, seed)
    noisy_test = noisy_histories(dataset, rate, seed)
    out = Path(out_dir) if out_dir is not None else None
    label = f"noisy {rate:.0%}"
    rows, noisy_runs = [], {}
    for name in params.train_noise_models:
        run_dir = out / f"{name}-train-noise{round(100 * rate)}" if out else None
        noisy_runs[name] = train_or_load(noisy_data, params.config(name), run_dir,
                                         f"{params.data}|train-noise={rate}|seed={seed}", params.resume)
        for trained_on, result in (("clean", clean[name]), (label, noisy_runs[name])):
            scores = {test: run_evaluation(result.model, dataset, result.config, "test", histories=h).table["NDCG@10"]
                      for test, h in (("clean test", None), (f"test {label}", noisy_test))}
            rows += [{"model": name, "trained_on": trained_on, "domain": d,
                      **{test: float(s[d]) for test, s in scores.items()}} for d in dataset.domain_names]
    return pd.DataFrame(rows), noisy_runs


def describe_train_noise(frame: pd.DataFrame) -> str:
    """One sentence per model and domain: what noisy training did to clean and noisy test NDCG@10."""
    tests = [c for c in frame.columns if "test" in c]
    lines = []
    for (name, domain), rows in frame.groupby(["model", "domain"], sort=False):
        clean_row, noisy_row = rows.iloc[0], rows.iloc[1]
        changes = ", ".join(f"{t} {noisy_row[t]:.2f} vs {clean_row[t]:.2f} "
                            f"({100 * (noisy_row[t] / clean_row[t] - 1):+.0f}%)" for t in tests)
        lines.append(f"{name} {domain}: trained on noisy vs clean sequences: {changes}")
    return "\n".join(lines)


def summarize_robustness(curve: pd.DataFrame, steps: pd.DataFrame, train_noise: pd.DataFrame,
                         params: RobustnessParams) -> dict:
    """The numbers notebook 07 ends with (``summary.json``), and a one-line ``headline``."""
    top = curve[curve["noise_rate"] == curve["noise_rate"].max()]
    retention = {m: rows.set_index("domain")["retention"].round(3).to_dict() for m, rows in top.groupby("model")}
    best_k = {m: int(rows.groupby("steps")["NDCG@10"].mean().idxmax()) for m, rows in steps.groupby("model")}
    summary = {
        "notebook": "07_robustness_and_steps", "data": params.data, "preset": params.preset,
        "max_noise_rate": float(curve["noise_rate"].max()), "retention_at_max_noise": retention,
        "step_curve_NDCG@10": {m: rows.groupby("steps")["NDCG@10"].mean().round(3).to_dict()
                               for m, rows in steps.groupby("model")},
        "best_steps": best_k, "train_noise": params.train_noise,
        "train_noise_table": train_noise.round(3).to_dict(orient="records"),
    }
    mean_retention = {m: float(np.mean(list(v.values()))) for m, v in retention.items()}
    summary["headline"] = (f"NDCG@10 retained at {summary['max_noise_rate']:.0%} test noise: "
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
    """Compare a reader's ``fn(rates, retention) -> float`` with the reference on every curve of ``curve``."""
    mismatches, scores = [], []
    for (name, domain), rows in curve.groupby(["model", "domain"], sort=False):
        rates, retention = rows["noise_rate"].to_numpy(), rows["retention"].to_numpy()
        got = fn(rates, retention)
        if not_attempted(got):
            return not_attempted_message("robustness.robustness_score_by_hand")
        want = robustness_score_by_hand(rates, retention)
        scores.append(f"{name} {domain} {want:.3f}")
        if not math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-12):
            mismatches.append(f"{name} {domain}: got {float(got):.4f}, expected {want:.4f}")
    return "mismatch: " + "; ".join(mismatches) if mismatches else "correct: " + ", ".join(scores)
