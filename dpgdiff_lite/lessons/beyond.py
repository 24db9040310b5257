"""Notebook 10, beyond the paper: ``dpgdiff-anchored`` (:mod:`dpgdiff_lite.anchored`), the kit's model that trains
SASRec on s_d, SASRec on s_c and the paper's DPG-Diff side by side and mixes their log-probabilities by weights fit
on validation. Not the paper's model: ``dpgdiff`` stays that.

Everything here reads committed tables: ``notebooks/results/anchored/`` (``gate_stall.csv``, one folder per world,
``regimes/``; commands in its README) and, for the three hints, the paper model's ``regimes/``, ``06/`` and ``08/``.
The goal and its verdict are :func:`dpgdiff_lite.experiments.verdicts.anchored_goal` and the ``BEYOND`` row. The
conflict slider is :func:`dpgdiff_lite.lessons.common.conflict_widget` with the anchored model in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from dpgdiff_lite.anchored import MIX_CHOICES, PATHS, mix
from dpgdiff_lite.experiments.shortfall import KIT_ROW, TEACHING_FILE
from dpgdiff_lite.experiments.tables import results_dir
from dpgdiff_lite.experiments.transfer import ALPHA
from dpgdiff_lite.experiments.verdicts import ANCHORED_WORLDS, WEIGHTS, anchored_goal
from dpgdiff_lite.lessons.common import figure, not_attempted, not_attempted_message
from dpgdiff_lite.parameters import CheckedParams, integer

FOLDER = "anchored"
WORLDS = {"teaching": "the teaching data (domains agree)",
          "conflict": "the most conflicted world (every user's tastes opposed, no noise)",
          "held-out-independent": "60 % domain-specific events, half the users' tastes redrawn per domain",
          "held-out-imbalanced": "imbalanced domains, half the users opposed",
          "held-out-flat": "flat item popularity and topics, weaker domain concentration (domains agree)",
          "three-domain": "three domains sharing topics by all, by pairs, by one (domains agree)",
          "three-domain-conflict": "the same with every user's tastes in Y and Z opposed to X",
          "sparse": "a catalogue with Movie–Book's sparsity (domains agree)"}
"""The worlds of ``results/anchored/``, in the order the notebook shows them."""
BLOCKS = {kind: tuple(w for w, (k, _) in ANCHORED_WORLDS.items() if k == kind) for kind in ("tuned", "held out", "further")}
"""The worlds by how the model met them: its defaults were fixed on the tuned ones; the held-out ones were named
before it was designed; the further ones were run after."""
SHORT = {"single-domain SASRec": "s_d SASRec", "mixed SASRec": "s_c SASRec", "DPG-Diff": "DPG-Diff"}
CELL = ["conflict_rate", "adhoc_noise", "domain"]
EVIDENCE_COLUMNS = ["anchored", "best_sasrec", "sasrec_value", "gain_over_sasrec", "gain_p", "gain_verdict", "dpgdiff",
                    "dpgdiff_p", "fused", "fused_p", "pop"]
"""What the evidence table shows: the model, the better SASRec and its gain over it, then DPG-Diff as written, its
fused reading and popularity, each with the paired p of the model against it."""


def hints() -> dict:
    """The three hints of the course, read from the committed tables: the paper grid's conflicted cells
    (the paper's DPG-Diff − the better SASRec), the kit's fused reading of ĝ_d on the most conflicted cell
    and on the teaching data (fused − the paper's own reading), and eq. (15) by part on the teaching data
    (notebook 08's precomputed table)."""
    paper = pd.read_csv(results_dir("regimes") / "summary.csv")
    conflicted = paper[paper["conflict_rate"] > 0]
    shortfall = pd.read_csv(results_dir("regimes") / "ablation" / "shortfall.csv")
    fused = shortfall[shortfall["dpgdiff"] == KIT_ROW].set_index("domain").sort_index()
    own_teaching = pd.read_csv(results_dir("06") / "per_seed.csv").query("model == 'dpgdiff' and metric == 'NDCG@10'")
    fused_teaching = pd.read_csv(results_dir("regimes") / "ablation" / TEACHING_FILE).query("metric == 'NDCG@10'")
    fused_gain = fused_teaching.groupby("domain")["value"].mean() - own_teaching.groupby("domain")["value"].mean()
    parts = pd.read_csv(results_dir("08") / "eq15.csv").query("variant == 'dpgdiff'")
    by_part = parts.groupby("ranked by")["NDCG@10 mean"].mean()
    return {"grid": conflicted[CELL + ["dpgdiff", "dpg_gain_vs", "dpg_gain", "dpg_gain_p", "dpg_gain_verdict"]].round(3),
            "conflicted": len(conflicted), "paper_below_conflicted": int((conflicted["dpg_gain_verdict"] == "negative").sum()),
            "fused_gains": fused["gain"].round(2).to_dict(), "fused_verdicts": fused["verdict"],
            "fused_gain_teaching": fused_gain.round(2), "x0_alone": float(by_part["x̂_0 alone"]),
            "sum": float(by_part["x̂_0 + ĝ_d"])}


# --- why the old gate stalled ---------------------------------------------------------------------
def gate_stall() -> pd.DataFrame:
    """``gate_stall.csv`` (per seed and gate: mean γ, the training loss of eq. 10, validation NDCG@10 per domain)
    with ``valid_NDCG@10``, the mean over domains."""
    table = pd.read_csv(results_dir(FOLDER) / "gate_stall.csv")
    return table.assign(**{"valid_NDCG@10": table.filter(like="valid_NDCG@10_").mean(axis=1)})


def stall_by_seed(table: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the gate with the lowest training loss, the gate with the best validation NDCG@10 in each domain,
    and the learned γ."""
    rows = {}
    for seed, rows_of_seed in table.groupby("seed"):
        by_gate = rows_of_seed.set_index("gate")
        domains = [c for c in by_gate.columns if c.startswith("valid_NDCG@10_")]
        rows[seed] = {"lowest training loss": by_gate["train_rec_loss"].idxmin(),
                      **{f"best validation {c.rsplit('_', 1)[1]}": by_gate[c].idxmax() for c in domains},
                      "learned γ": by_gate.loc["learned γ", "mean_gamma"]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("seed")


def plot_stall(table: pd.DataFrame) -> Figure:
    """Against γ (forced 0, ½, 1: lines; learned: a star at its mean γ), per seed: left the training loss the gate
    was trained by, right validation NDCG@10 (mean of domains), what a held-out user sees."""
    fig = figure(8.5, 2.8)
    axes = fig.subplots(1, 2)
    for ax, column, label in zip(axes, ("train_rec_loss", "valid_NDCG@10"),
                                 ("training loss of eq. (10)", "valid NDCG@10 (mean of domains)")):
        for i, (seed, rows) in enumerate(table.groupby("seed")):
            forced = rows[rows["gate"] != "learned γ"].sort_values("mean_gamma")
            learned = rows[rows["gate"] == "learned γ"]
            ax.plot(forced["mean_gamma"], forced[column], marker="o", color=f"C{i}", label=f"seed {seed}, γ forced")
            ax.scatter(learned["mean_gamma"], learned[column], marker="*", s=120, color=f"C{i}", zorder=3,
                       label=f"seed {seed}, γ learned")
        ax.set(xlabel="γ (0 = own ĝ_d, the paper's; 1 = fused ĝ_d)", ylabel=label)
    axes[0].set_title("what the gate is trained by: lowest near ½")
    axes[1].set_title("what a held-out user sees: best at γ = 0")
    axes[1].legend(fontsize=6, ncol=2, loc="lower left")
    return fig


# --- the evidence ---------------------------------------------------------------------------------
def evidence() -> pd.DataFrame:
    """``evidence.csv`` of every world of :data:`WORLDS` with ``world`` (ordered as :data:`WORLDS`) and ``kind``
    (tuned, held out, further) columns first, domains sorted within a world."""
    frames = [pd.read_csv(results_dir(FOLDER) / world / "evidence.csv").sort_values("domain")
              .assign(world=world, kind=ANCHORED_WORLDS[world][0]) for world in WORLDS]
    table = pd.concat(frames, ignore_index=True)
    table["world"] = pd.Categorical(table["world"], categories=list(WORLDS), ordered=True)
    return table[["world", "kind", *[c for c in table.columns if c not in ("world", "kind")]]]


def shown(table: pd.DataFrame, worlds: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``worlds``, indexed (world, domain), with :data:`EVIDENCE_COLUMNS` rounded for display."""
    rows = table[table["world"].isin(worlds)].set_index(["world", "domain"])
    return rows[EVIDENCE_COLUMNS].round(3)


def tally(table: pd.DataFrame, worlds: tuple[str, ...]) -> dict[str, int]:
    """Over the domains of ``worlds``: how many the model is significantly above / level with / below the better
    SASRec (p < :data:`ALPHA`), and above DPG-Diff as written, its fused reading and popularity."""
    rows = table[table["world"].isin(worlds)]
    counts = {"domains": len(rows)}
    counts |= {f"sasrec_{name}": int((rows["gain_verdict"] == v).sum())
               for name, v in (("above", "positive"), ("level", "none"), ("below", "negative"))}
    counts |= {f"above_{other}": int((rows[f"{other}_verdict"] == "positive").sum()) for other in ("dpgdiff", "fused", "pop")}
    return counts


def path_weights(table: pd.DataFrame) -> pd.DataFrame:
    """The mean weight of each path (over seeds and user groups) per world and domain, short path names."""
    weights = table.set_index(["world", "domain"])[WEIGHTS]
    return weights.rename(columns={f"weight {path}": SHORT[path] for path in PATHS})


def plot_weights(weights: pd.DataFrame) -> Figure:
    """One stacked horizontal bar per world and domain: how much of the score each path carries."""
    fig = figure(7.5, 0.22 * len(weights) + 0.9)
    ax = fig.subplots()
    labels = [f"{world} {domain}" for world, domain in weights.index]
    y, left = np.arange(len(weights)), np.zeros(len(weights))
    for i, column in enumerate(weights.columns):
        ax.barh(y, weights[column], left=left, color=f"C{i}", label=column)
        left += weights[column].to_numpy()
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="mean weight (over seeds and user groups)", title="where the paths carry the score")
    ax.legend(fontsize=7, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.08), frameon=False)
    return fig


# --- the ablation ---------------------------------------------------------------------------------
def ablation() -> pd.DataFrame:
    """``ablation.csv`` of every world (a ``world`` column first): the trained model scored with one part taken
    away (no retraining) against the full one, per domain, paired by seed and case."""
    frames = [pd.read_csv(results_dir(FOLDER) / world / "ablation.csv").assign(world=world) for world in WORLDS]
    table = pd.concat(frames, ignore_index=True)
    return table[["world", *[c for c in table.columns if c not in ("world", "data")]]]


def part_effects(parts: pd.DataFrame) -> pd.DataFrame:
    """Per world and variant: the mean over domains of variant − full, and in how many domains the variant is
    significantly below / above the full model (p < :data:`ALPHA`)."""
    significant = parts.assign(below=(parts["p"] < ALPHA) & (parts["variant_minus_full"] < 0),
                               above=(parts["p"] < ALPHA) & (parts["variant_minus_full"] > 0))
    grouped = significant.groupby(["world", "variant"], sort=False)
    return pd.DataFrame({"mean": grouped["variant_minus_full"].mean(), "domains": grouped.size(),
                         "below": grouped["below"].sum().astype(int), "above": grouped["above"].sum().astype(int)})


# --- the regime grid ------------------------------------------------------------------------------
def grid() -> pd.DataFrame:
    """``regimes/summary.csv`` of the anchored folder: per cell of the regime grid and domain, the anchored model
    and DPG-Diff as written, each against the better SASRec (gain, paired p, verdict), trained on the same data."""
    return pd.read_csv(results_dir(FOLDER) / "regimes" / "summary.csv")


def grid_counts(table: pd.DataFrame) -> dict[str, int]:
    """Over the grid's cell-domains (all, and the conflicted ones): the anchored model and DPG-Diff significantly
    below / above the better SASRec, and the cell-domains where the anchored model's gain is the larger."""
    conflicted = table[table["conflict_rate"] > 0]
    counts = {"cell_domains": len(table), "conflicted": len(conflicted),
              "anchored_higher": int((table["anchored_gain"] > table["dpg_gain"]).sum())}
    for prefix, name in (("anchored_gain", "anchored"), ("dpg_gain", "paper")):
        for scope, rows in (("", table), ("_conflicted", conflicted)):
            counts[f"{name}_below{scope}"] = int((rows[f"{prefix}_verdict"] == "negative").sum())
            counts[f"{name}_above{scope}"] = int((rows[f"{prefix}_verdict"] == "positive").sum())
    return counts


def plot_grid(table: pd.DataFrame) -> Figure:
    """Left: each model's NDCG@10 gain over the better SASRec by opposed-conflict rate (mean ± std of noise rates
    and domains); right: every cell-domain, the anchored model's gain against DPG-Diff's."""
    fig = figure(8.5, 3.0)
    ax, ax_s = fig.subplots(1, 2)
    for column, label, colour in (("dpg_gain", "DPG-Diff (the paper's)", "C2"), ("anchored_gain", "dpgdiff-anchored", "C3")):
        by_rate = table.groupby("conflict_rate")[column]
        ax.errorbar(by_rate.mean().index, by_rate.mean(), yerr=by_rate.std(), marker="o", capsize=3, label=label,
                    color=colour)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(xlabel="opposed conflict rate", ylabel="NDCG@10 − better SASRec",
           title="gain over max(SASRec s_c, SASRec s_d)\n(mean ± std over ad-hoc noise rates and domains)")
    ax.legend(fontsize=7)
    for i, (rate, rows) in enumerate(table.groupby("conflict_rate")):
        ax_s.scatter(rows["dpg_gain"], rows["anchored_gain"], color=f"C{i}", label=f"conflict {rate:g}")
    low = min(table["dpg_gain"].min(), table["anchored_gain"].min()) - 0.3
    high = max(table["dpg_gain"].max(), table["anchored_gain"].max()) + 0.3
    ax_s.plot([low, high], [low, high], color="0.6", linewidth=0.8, label="equal gains")
    ax_s.axhline(0, color="black", linewidth=0.8)
    ax_s.set(xlabel="DPG-Diff − better SASRec", ylabel="dpgdiff-anchored − better SASRec",
             title="each cell-domain (9 cells × 2 domains)")
    ax_s.legend(fontsize=7)
    return fig


# --- the goal -------------------------------------------------------------------------------------
def goal() -> pd.DataFrame:
    """The goal, row by row (:func:`~dpgdiff_lite.experiments.verdicts.anchored_goal` of the committed results)."""
    return anchored_goal(results_dir(FOLDER).parent)


def goal_by_place(rows: pd.DataFrame) -> pd.DataFrame:
    """Per world (and for the grid's cells without and with conflict): domains, how many are significantly below / above the better SASRec,
    the lowest gain, and whether every domain meets the goal."""
    grid_place = np.where(rows["agree"], "regime grid, no conflict", "regime grid, conflict")
    rows = rows.assign(place=np.where(rows["kind"] == "regime grid", grid_place, rows["where"]),
                       below=rows["verdict"] == "negative", above=rows["verdict"] == "positive")
    grouped = rows.groupby("place", sort=False)
    return pd.DataFrame({"kind": grouped["kind"].first(), "domains agree": grouped["agree"].all(),
                         "domains": grouped.size(), "below": grouped["below"].sum().astype(int),
                         "above": grouped["above"].sum().astype(int), "lowest gain": grouped["gain"].min().round(2),
                         "met": grouped["met"].all()})


@dataclass
class BeyondParams(CheckedParams):
    """Notebook 10's parameters: the seed, and the conflict slider's world (users, epochs, start rate)."""

    seed: int = integer(0, 0)
    widget_users: int = integer(1000, 50)
    widget_epochs: int = integer(10, 1)
    widget_conflict: float = 1.0

    def check(self) -> None:
        if (isinstance(self.widget_conflict, bool) or not isinstance(self.widget_conflict, (int, float))
                or not 0.0 <= self.widget_conflict <= 1.0):
            raise ValueError(f"widget_conflict must lie in [0, 1], got {self.widget_conflict!r}")


# --- exercise ----------------------------------------------------------------------------------------
def reference_mix(paths: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Exercise (reference): the anchored model's scores Σ_k w_k·log p_k from the paths' log-probabilities
    ``paths`` (K, B, n) and each user's weights ``weights`` (B, K)."""
    # (B, K) → (K, B, 1), so each user's k-th weight scales that user's row of path k
    return (weights.T[:, :, None] * paths).sum(0)  # (B, n)


def check_mix(fn: Callable) -> str:
    """Compare a reader's ``fn(paths, weights) -> (B, n) scores`` with :func:`dpgdiff_lite.anchored.mix` on random
    log-probabilities of the three paths and per-user weights from the model's grid."""
    generator = torch.Generator().manual_seed(0)
    paths = torch.randn(len(PATHS), 5, 7, generator=generator).log_softmax(-1)  # (K, B, n)
    picks = torch.randint(len(MIX_CHOICES), (5,), generator=generator)
    weights = torch.tensor([MIX_CHOICES[int(k)] for k in picks])  # (B, K), each row on the simplex
    got = fn(paths, weights)
    if not_attempted(got):
        return not_attempted_message("beyond.reference_mix")
    expected = mix(paths, weights, "logit")
    if tuple(got.shape) != tuple(expected.shape):
        return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}: one score per user and item"
    if torch.allclose(got, mix(paths, weights, "prob"), atol=1e-5):
        return "that mixes probabilities (log Σ w·p, the 'prob' space); the model's default sums w·log p"
    if not torch.allclose(got, expected, atol=1e-5):
        return f"scores differ: got {got[0, :3].tolist()}…, expected {expected[0, :3].tolist()}…"
    return f"correct: {expected.shape[0]} users' scores over {expected.shape[1]} items, as anchored.mix gives them"
