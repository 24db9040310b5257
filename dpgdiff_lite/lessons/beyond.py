"""Notebook 10, beyond the paper: ``dpgdiff-gated``, the kit's DPG-Diff with a learned gate between the
own-domain and the fused preference (``Config.preference="gated"``) and eq. (15)'s score weight λ chosen
on validation (``Config.select_score_weight``). Not the paper's model: ``dpgdiff`` stays that.

Everything here reads committed tables: ``notebooks/results/gated/`` (written by ``compare --seeds``
and ``gated``, commands in its README) and the paper model's ``notebooks/results/regimes/``. The
conflict slider is :func:`dpgdiff_lite.lessons.common.conflict_widget` with the gated model in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd
import torch
from matplotlib.figure import Figure

from dpgdiff_lite.config import preset
from dpgdiff_lite.encoders import Guidance
from dpgdiff_lite.experiments.shortfall import KIT_ROW, TEACHING_FILE
from dpgdiff_lite.experiments.tables import results_dir
from dpgdiff_lite.lessons.common import figure, not_attempted, not_attempted_message
from dpgdiff_lite.parameters import CheckedParams, integer
from dpgdiff_lite.model import GATE_GAIN, DPGDiff

WORLDS = {"teaching": "the teaching data (domains agree)",
          "conflict": "the most conflicted world (every user's tastes opposed, no noise)",
          "three-domain": "three domains sharing topics by all, by pairs, by one",
          "three-domain-conflict": "the same with every user's tastes in Y and Z opposed to X"}
ABLATION_WORLDS = ("teaching", "conflict")
"""The worlds where each part of the gated model was removed in turn."""
CELL = ["conflict_rate", "adhoc_noise", "domain"]


def evidence() -> pd.DataFrame:
    """``evidence.csv`` of each world (a ``world`` column first): the gated model against the better
    SASRec and against DPG-Diff, 3 seeds, paired tests, its mean γ and the λ it chose per seed."""
    return pd.concat([pd.read_csv(results_dir("gated") / world / "evidence.csv").assign(world=world)
                      for world in WORLDS], ignore_index=True).set_index(["world", "domain"]).sort_index()


def ablation() -> pd.DataFrame:
    """``ablation.csv`` of each world (a ``world`` column first): the gated model with one part removed at
    a time against the full one, per domain, paired by seed and case."""
    return pd.concat([pd.read_csv(results_dir("gated") / world / "ablation.csv").assign(world=world)
                      for world in ABLATION_WORLDS], ignore_index=True)


def part_effects(parts: pd.DataFrame) -> pd.DataFrame:
    """Per world and removed part: the mean over domains of variant − full, the per-domain values and in
    how many domains the difference is significant (p < 0.05)."""
    grouped = parts.groupby(["world", "variant"], sort=False)
    return pd.DataFrame({"mean": grouped["variant_minus_full"].mean(),
                         "values": grouped["variant_minus_full"].agg(lambda v: " / ".join(f"{x:+.2f}" for x in v)),
                         "significant": grouped["p"].agg(lambda p: int((p < 0.05).sum()))})


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


def grid() -> pd.DataFrame:
    """Per cell of the regime grid and domain: the paper's DPG-Diff and the gated model, each with its
    gain over the better SASRec (paired p and verdict), from the two committed grids (same cells,
    seeds and data; the SASRecs are retrained in the gated grid and agree with the paper grid's)."""
    paper = pd.read_csv(results_dir("regimes") / "summary.csv")
    gated = pd.read_csv(results_dir("gated") / "regimes" / "summary.csv")
    keep = ["dpgdiff", "dpg_gain", "dpg_gain_p", "dpg_gain_verdict"]
    return gated.merge(paper[CELL + keep], on=CELL, validate="one_to_one")


def gammas() -> pd.DataFrame:
    """The gated model's mean learned γ per cell of the grid and domain, averaged over seeds."""
    table = pd.read_csv(results_dir("gated") / "regimes" / "gammas.csv")
    return table.groupby(CELL, as_index=False)[["mean_gamma", "score_weight"]].mean()


def goal(table: pd.DataFrame) -> dict[str, int]:
    """The issue's goal on the grid, counted over cell-domains: the gated model significantly below
    max(SASRec on s_c, SASRec on s_d) anywhere, and significantly above it in the conflicted ones."""
    conflicted = table[table["conflict_rate"] > 0]
    return {"cell_domains": len(table), "gated_below": int((table["gated_gain_verdict"] == "negative").sum()),
            "paper_below": int((table["dpg_gain_verdict"] == "negative").sum()),
            "conflicted": len(conflicted),
            "gated_above_conflicted": int((conflicted["gated_gain_verdict"] == "positive").sum()),
            "paper_below_conflicted": int((conflicted["dpg_gain_verdict"] == "negative").sum()),
            "gated_below_conflicted": int((conflicted["gated_gain_verdict"] == "negative").sum())}


def verdict(evidence_table: pd.DataFrame, grid_table: pd.DataFrame) -> pd.DataFrame:
    """The issue's goal, claim by claim: per kind of world, whether the gated model is never significantly
    below the better SASRec (and, where domains conflict, significantly above it in at least half the
    cell-domains), with the counts behind each answer."""
    agree = grid_table[grid_table["conflict_rate"] == 0]
    conflicted = grid_table[grid_table["conflict_rate"] > 0]
    teaching = evidence_table.loc["teaching"]
    conflict_world = evidence_table.loc["conflict"]
    rows = {
        "agreeing worlds": {
            "goal": "never significantly below the better SASRec",
            "measured": f"teaching data: {int((teaching['gain_verdict'] == 'positive').sum())} of 2 domains above; "
                        f"grid without conflict: {int((agree['gated_gain_verdict'] == 'negative').sum())} of "
                        f"{len(agree)} cell-domains below",
            "met": bool((teaching["gain_verdict"] != "negative").all() and (agree["gated_gain_verdict"] != "negative").all())},
        "conflicted worlds": {
            "goal": "never significantly below, and significantly above in at least half the cell-domains",
            "measured": f"grid with conflict: {int((conflicted['gated_gain_verdict'] == 'negative').sum())} of "
                        f"{len(conflicted)} below, {int((conflicted['gated_gain_verdict'] == 'positive').sum())} above; "
                        f"fully conflicted world: {int((conflict_world['gain_verdict'] == 'negative').sum())} of 2 below",
            "met": bool((conflicted["gated_gain_verdict"] != "negative").all()
                        and (conflicted["gated_gain_verdict"] == "positive").sum() >= len(conflicted) / 2
                        and (conflict_world["gain_verdict"] != "negative").all())},
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_grid(table: pd.DataFrame, gamma: pd.DataFrame) -> Figure:
    """Left: each model's NDCG@10 gain over the better SASRec by opposed-conflict rate (mean of noise
    rates and domains); right: the gated model's mean γ by conflict rate, one line per ad-hoc noise rate η."""
    fig = figure(8.5, 2.8)
    ax, ax_g = fig.subplots(1, 2)
    for column, label, colour in (("dpg_gain", "DPG-Diff (the paper's)", "C2"), ("gated_gain", "dpgdiff-gated", "C3")):
        by_rate = table.groupby("conflict_rate")[column]
        ax.errorbar(by_rate.mean().index, by_rate.mean(), yerr=by_rate.std(), marker="o", capsize=3, label=label,
                    color=colour)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(xlabel="opposed conflict rate", ylabel="NDCG@10 − better SASRec",
           title="gain over max(SASRec s_c, SASRec s_d)\n(mean ± std over ad-hoc noise rates and domains)")
    ax.legend(fontsize=7)
    for i, (noise, rows) in enumerate(gamma.groupby("adhoc_noise")):
        means = rows.groupby("conflict_rate")["mean_gamma"].mean()
        ax_g.plot(means.index, means, marker="o", label=f"η = {noise:g}", color=f"C{i}")
    ax_g.set(xlabel="opposed conflict rate", ylabel="mean γ (0 = own, 1 = fused)", ylim=(0, 1),
             title="how much of the other domain the gate lets in")
    ax_g.legend(fontsize=7)
    return fig


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
def reference_gate(own: torch.Tensor, other: torch.Tensor, scale: float, bias: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise (reference): for two domains, the gate γ = σ(G·(a·cos(ĝ_own, ĝ_other) + b)) per row and
    the gated preference ĝ_own + γ·ĝ_other; ``own``, ``other`` (B, D), G = ``GATE_GAIN``."""
    agreement = torch.nn.functional.cosine_similarity(own, other, dim=-1)  # (B,)
    gamma = torch.sigmoid(GATE_GAIN * (scale * agreement + bias))
    return gamma, own + gamma[:, None] * other


def check_gate(fn: Callable) -> str:
    """Compare a reader's ``fn(own, other, scale, bias) -> (γ, ĝ_d)`` with the model's own gate
    (:meth:`DPGDiff.preferences`) on random preferences of two domains."""
    generator = torch.Generator().manual_seed(0)
    own, other = torch.randn(6, 8, generator=generator), torch.randn(6, 8, generator=generator)
    got = fn(own, other, 0.7, -0.05)
    if not_attempted(got):
        return not_attempted_message("beyond.reference_gate")
    model = DPGDiff((5, 5), preset("smoke", "dpgdiff-gated", dim=8))
    with torch.no_grad():
        model.gate_scale.fill_(0.7)
        model.gate_bias.fill_(-0.05)
        guidance = Guidance([own[:, None], other[:, None]], (own + other)[:, None], None, None)
        gamma, preference = model.gates(guidance)[0, 1, :, 0], model.preferences(guidance)[0][:, 0]
    if not torch.allclose(got[0], gamma, atol=1e-5):
        return f"γ differs: got {got[0][:3].tolist()}…, expected {gamma[:3].tolist()}…"
    if not torch.allclose(got[1], preference, atol=1e-5):
        return "γ is right, the gated preference ĝ_own + γ·ĝ_other is not"
    return f"correct: γ of {len(gamma)} users (from {float(gamma.min()):.2f} to {float(gamma.max()):.2f}) and their ĝ_d"
