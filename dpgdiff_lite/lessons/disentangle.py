"""Lesson 03 — the Problem Formulation (s_c, s_x, s_y) and the Disentangled Encoder (paper eq. 8):
figures, widgets and exercises. The split is :func:`dpgdiff_lite.data.dataset.make_batch`, the encoders
``DPGDiff.guidance`` / ``SASRec.represent``, the probes :mod:`dpgdiff_lite.probes`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import PAD, Batch, CrossDomainDataset, domain_of, left_pad, make_batch
from dpgdiff_lite.data.synthetic import LABEL_NAMES, SyntheticTruth
from dpgdiff_lite.lessons.common import (LABEL_COLOURS, Projection, event_box, figure, int_slider, label_legend, not_attempted,
                                         not_attempted_message, teaching_config, widget)
from dpgdiff_lite.model import DPGDiff
from dpgdiff_lite.parameters import CheckedParams, integer
from dpgdiff_lite.probes import chance_agreement, neighbour_agreement
from dpgdiff_lite.sasrec import SASRec


@dataclass(frozen=True)
class LessonParams(CheckedParams):
    """The notebook's papermill parameters, checked at once so a bad value names itself."""

    seed: int = integer(0, 0)
    epochs: int = integer(5, 1)  # DPG-Diff and SASRec training epochs (the teaching preset stops early after about 8)
    dim: int = integer(64, 1)  # embedding size (the teaching preset's)
    probe_alpha: float = 10.0  # ridge penalty of the linear probe (on standardised features)
    test_fraction: float = 0.3  # users held out to score the probe

    def check(self) -> None:
        if not self.probe_alpha >= 0:
            raise ValueError(f"probe_alpha must be >= 0, got {self.probe_alpha!r}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {self.test_fraction!r}")
        self.config()  # the package's own checks (e.g. dim divisible by heads)

    def config(self, model: str = "dpgdiff") -> Config:
        """The teaching preset for ``model``, shortened; validated once, after the last epoch."""
        return teaching_config(model, epochs=self.epochs, dim=self.dim, seed=self.seed)


# --- s_c, s_x and s_y ---------------------------------------------------------------------------
def user_events(dataset: CrossDomainDataset, truth: SyntheticTruth, user: int) -> tuple[np.ndarray, np.ndarray]:
    """A user's training sequence s_c and its planted labels, cut to the ``max_len`` most recent events
    (what a model sees)."""
    return dataset.train[user][-dataset.max_len:], truth.train_labels[user][-dataset.max_len:]


def sequence_batch(seq: np.ndarray, offsets: np.ndarray, max_len: int) -> Batch:
    """A one-row :class:`Batch` of ``seq`` (left-padded, no targets): what ``make_batch`` hands a model."""
    items = left_pad([seq], max_len)  # (1, max_len)
    return make_batch(items, np.full_like(items, PAD), offsets)


def split_sequence(seq: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """Exercise 1 (reference): s_d ⊂ s_c for every domain d, time order kept, as *local* ids of d
    (the Problem Formulation; ``Batch.domain_items[d]`` without its padding)."""
    seq = np.asarray(seq, dtype=np.int64)
    domains = domain_of(seq, offsets)
    return [seq[domains == d] - offsets[d] for d in range(len(offsets) - 1)]


def batch_subsequences(batch: Batch, row: int = 0) -> list[np.ndarray]:
    """``batch.domain_items[d][row]`` with the padding dropped, for every domain d."""
    return [items[row][items[row] != PAD].numpy() for items in batch.domain_items]


def split_table(batch: Batch, domain_names: tuple[str, ...], row: int = 0) -> pd.DataFrame:
    """One column per real mixed position i of ``row``: the event (domain, local id) and, per domain d,
    the column of s_d whose encoder output ĝ_d is read at i (``batch.domain_index``; "-" before the
    first d-event, where the model uses its learned 'empty' vector)."""
    real = (batch.items[row] != PAD).numpy()
    domains = batch.domains[row].numpy()[real]
    local = batch.local_items[row].numpy()[real]
    rows = {"event": [f"{domain_names[d]}{v}" for d, v in zip(domains, local)]}
    for d, name in enumerate(domain_names):
        index = batch.domain_index[d][row].numpy()[real]
        # columns are counted from the left edge of the padded s_d; count from its first real event
        first = int((batch.domain_items[d][row] == PAD).sum())
        rows[f"ĝ_{name.lower()} reads s_{name.lower()}[·]"] = ["-" if k < 0 else str(k - first) for k in index]
    return pd.DataFrame(rows).T.rename_axis("mixed position i", axis=1)


def plot_split(seq: np.ndarray, labels: np.ndarray, offsets: np.ndarray,
               domain_names: tuple[str, ...] = ("X", "Y"), title: str = "") -> Figure:
    """The mixed sequence s_c (top row) and each s_d below it, every event at its time position and
    coloured by its planted label; the text is the domain and the local item id."""
    domains = domain_of(np.asarray(seq), offsets)
    local = np.asarray(seq) - offsets[domains]
    n = len(seq)
    fig = figure(0.42 * max(n, 8) + 1.8, 0.55 * (len(domain_names) + 1) + 0.9)
    ax = fig.subplots()
    for i in range(n):
        event_box(ax, i, 0, LABEL_COLOURS[int(labels[i])], f"{domain_names[domains[i]]}{local[i]}")
        event_box(ax, i, -1 - domains[i], LABEL_COLOURS[int(labels[i])], f"{local[i]}")
    for d in range(len(domain_names)):
        ax.axhline(-1 - d - 0.5, color="0.85", linewidth=0.5)
    names = ["$s_c$ (mixed)"] + [f"$s_{name.lower()}$ (domain {name})" for name in domain_names]
    ax.set(xlim=(-0.7, n - 0.3), ylim=(-len(domain_names) - 0.6, 0.6), xlabel="time (position in $s_c$, oldest first)",
           xticks=range(n), title=title)
    ax.set_yticks([0] + [-1 - d for d in range(len(domain_names))], names)
    ax.tick_params(axis="both", labelsize=8, length=0)
    ax.spines[["top", "right", "left"]].set_visible(False)
    label_legend(ax, loc="lower center", bbox_to_anchor=(0.5, 1.0 if not title else 1.12))
    return fig


def split_widget(dataset: CrossDomainDataset, truth: SyntheticTruth, user: int = 0):
    """A user slider; returns (widget, update), update(user) -> Figure of that user's s_c / s_x / s_y."""
    def update(user: int) -> Figure:
        seq, labels = user_events(dataset, truth, user)
        counts = np.bincount(labels, minlength=len(LABEL_NAMES))
        summary = ", ".join(f"{c} {name}" for c, name in zip(counts, LABEL_NAMES))
        return plot_split(seq, labels, dataset.offsets, dataset.domain_names, title=f"user {user}: {summary}")

    return widget(update, user=int_slider("user", user, 0, len(dataset.train) - 1))


# --- the guidance of eq. (8) --------------------------------------------------------------------
@torch.no_grad()
def _guidance(model: DPGDiff, batch: Batch):
    """``DPGDiff.guidance`` in eval mode: ĝ_x, ĝ_y and the fused g_d of every position."""
    return model.eval().guidance(batch.to(model.device))


def plot_guidance(model: DPGDiff, batch: Batch, domain_names: tuple[str, ...] = ("X", "Y"),
                  n_dims: int = 16) -> Figure:
    """Heatmaps of ĝ_x, ĝ_y and g_d = ĝ_x + ĝ_y (first ``n_dims`` dimensions) at every real mixed
    position of the batch's first row; the domain of each event is the tick label."""
    guidance = _guidance(model, batch)
    real = (batch.items[0] != PAD).numpy()
    ticks = [domain_names[d] for d in batch.domains[0].numpy()[real]]
    panels = [*guidance.per_domain, guidance.fused]
    names = [f"$\\hat g_{name.lower()}$ = Encoder$_{name.lower()}$" for name in domain_names] + ["$g_d$ = sum"]
    fig = figure(3.0 * len(panels), 2.6)
    axes = fig.subplots(1, len(panels), sharey=True)
    limit = max(float(p[0][real].abs().max()) for p in panels)
    for ax, panel, name in zip(axes, panels, names):
        values = panel[0][real][:, :n_dims].float().cpu().numpy().T  # (n_dims, real positions)
        image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(len(ticks)), ticks, fontsize=7)
        ax.set(title=name, xlabel="mixed position i (event's domain)")
    axes[0].set_ylabel(f"dimension (first {n_dims})")
    fig.colorbar(image, ax=axes, shrink=0.8)
    return fig


def last_guidance(model: DPGDiff, batch: Batch) -> dict[str, np.ndarray]:
    """ĝ_x, ĝ_y and g_d at the last position of each row (the user's current preference), (B, D) each."""
    guidance = _guidance(model, batch)
    views = {f"g_{chr(ord('x') + d)}": g[:, -1] for d, g in enumerate(guidance.per_domain)}
    views["g_d"] = guidance.fused[:, -1]
    return {name: v.float().cpu().numpy() for name, v in views.items()}


def sasrec_representation(model: SASRec, batch: Batch) -> np.ndarray:
    """SASRec's causal representation of the mixed sequence at the last position, (B, D)."""
    model.eval()
    with torch.no_grad():
        return model.represent(batch.items.to(model.device))[:, -1].float().cpu().numpy()


def seen_domains(batch: Batch) -> np.ndarray:
    """(B, domains) bool: whether each row's history holds at least one event of each domain."""
    return np.stack([(index[:, -1] >= 0).numpy() for index in batch.domain_index], axis=1)


def latest_labels(dataset: CrossDomainDataset, truth: SyntheticTruth) -> np.ndarray:
    """The planted label (0 invariant, 1 specific, 2 noise) of each user's latest validation-history
    event, ordered as ``dataset.valid.users``: what the guidance at the last position has just read."""
    return np.array([labels[-1] for labels in truth.valid_labels.histories])


def projection_figure_3d(stages: dict[str, dict[str, np.ndarray]], users: np.ndarray, topic: np.ndarray,
                         latest: np.ndarray, max_points: int = 300, seed: int = 0):
    """A 3-D PCA (:class:`~dpgdiff_lite.lessons.common.Projection`, fitted on all users) of each
    representation (columns) at each stage (rows, e.g. before / after training), as (plotly figure,
    matplotlib figure) for :func:`dpgdiff_lite.lessons.common.interactive`. Colour = ``topic`` (the
    user's dominant planted shared topic); in plotly, hovering a point names the user, that topic and
    the planted label of the user's latest event (``latest``), and every panel rotates and zooms.
    ``max_points`` users (the same in every panel) keep the output small."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(next(iter(stages.values())))
    shown = np.sort(np.random.default_rng(seed).permutation(len(users))[:max_points])
    hover = [f"user {users[i]} · shared topic {topic[i]} · latest event {LABEL_NAMES[int(latest[i])]}" for i in shown]
    titles = [f"{name} ({stage})" for stage in stages for name in names]
    plot = make_subplots(rows=len(stages), cols=len(names), specs=[[{"type": "scene"}] * len(names)] * len(stages),
                         subplot_titles=titles, vertical_spacing=0.04, horizontal_spacing=0.01)
    static = figure(2.6 * len(names), 2.6 * len(stages) + 0.3)
    colours = {"colorscale": "Turbo", "cmin": 0, "cmax": int(topic.max())}
    for r, (stage, views) in enumerate(stages.items()):
        for c, name in enumerate(names):
            projection = Projection.fit(views[name], k=3)
            xyz = projection(views[name][shown]).round(2)  # (shown, 3)
            plot.add_trace(go.Scatter3d(x=xyz[:, 0].tolist(), y=xyz[:, 1].tolist(), z=xyz[:, 2].tolist(),
                                        mode="markers", text=hover, hovertemplate="%{text}<extra></extra>",
                                        showlegend=False, marker={"size": 2, "color": topic[shown].tolist(), **colours}),
                           row=r + 1, col=c + 1)
            index = r * len(names) + c + 1
            scene = "scene" if index == 1 else f"scene{index}"  # plotly's names of the 3-D panels
            plot.update_layout(**{scene: {f"{a}axis": {"title": f"PC {k + 1}", "showticklabels": False}
                                          for k, a in enumerate("xyz")}})
            ax = static.add_subplot(len(stages), len(names), r * len(names) + c + 1, projection="3d")
            ax.scatter(*xyz.T, c=topic[shown], cmap="turbo", vmin=0, vmax=int(topic.max()), s=3, linewidths=0)
            ax.set_title(f"{name} ({stage})", fontsize=8)
            ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
            ax.set_xlabel("PC 1", fontsize=7, labelpad=-12), ax.set_ylabel("PC 2", fontsize=7, labelpad=-12)
            ax.set_zlabel("PC 3", fontsize=7, labelpad=-12)
    caption = f"3-D PCA; colour = the user's dominant planted shared topic; {len(shown)} of {len(users)} users drawn"
    static.suptitle(caption, fontsize=9)
    plot.update_layout(title={"text": caption, "font": {"size": 12}}, height=330 * len(stages), width=960,
                       margin={"l": 0, "r": 0, "t": 60, "b": 0})
    return plot, static


def neighbour_table(stages: dict[str, dict[str, np.ndarray]], topic: np.ndarray, latest: np.ndarray,
                    k: int = 10) -> pd.DataFrame:
    """For each stage and representation: how often a user's ``k`` nearest neighbours share its dominant
    shared topic, in the 3-D PCA the figure draws and in all D dimensions, and how often they share the
    planted label of its latest event (3-D PCA), each beside its chance level."""
    rows = {}
    for stage, views in stages.items():
        for name, points in views.items():
            flat = Projection.fit(points, k=3)(points)
            rows[f"{name} ({stage})"] = {
                "topic, 3-D PCA": neighbour_agreement(flat, topic, k), "topic, all dims": neighbour_agreement(points, topic, k),
                "topic, chance": chance_agreement(topic), "latest label, 3-D PCA": neighbour_agreement(flat, latest, k),
                "latest label, chance": chance_agreement(latest)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("representation")


# --- the linear probe (dpgdiff_lite.probes: probe_table, describe_probe) ---------------------------
def planted_targets(truth: SyntheticTruth, users: np.ndarray) -> dict[str, np.ndarray]:
    """What the probe should recover, per user: the shared-topic mix θ_u (invariant preference) and,
    per domain, the specific-topic mix φ_{u,d} (domain-specific preference)."""
    prefs, names = truth.user_preferences, truth.config.domain_names
    targets = {"θ shared": prefs.shared[users]}
    targets |= {f"φ specific {name}": prefs.specific[d][users] for d, name in enumerate(names)}
    return targets


def topic_histogram(dataset: CrossDomainDataset, truth: SyntheticTruth, max_len: int) -> np.ndarray:
    """(users, topics) counts of each planted topic among a user's validation-history events: what a
    reader who knew every item's topic could extract from the same history (a probe reference)."""
    n_topics = len(truth.topic_domain)
    rows = [np.bincount(truth.item_topic[h[-max_len:]], minlength=n_topics) for h in dataset.valid.histories]
    return np.stack(rows).astype(np.float64)


# --- guidance collapse --------------------------------------------------------------------------
def cosine_pairs(gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos(g_x^i, g_y^i) for every user i (same user, (N,)) and cos(g_x^i, g_y^j) for every i ≠ j
    (different users, (N·(N−1),))."""
    a = F.normalize(torch.as_tensor(gx, dtype=torch.float64), dim=1)
    b = F.normalize(torch.as_tensor(gy, dtype=torch.float64), dim=1)
    sim = (a @ b.T).numpy()  # (N, N)
    off = ~np.eye(len(sim), dtype=bool)
    return np.diag(sim).copy(), sim[off]


def collapse_statistic(gx: np.ndarray, gy: np.ndarray) -> float:
    """Exercise 2 (reference): mean over users of cos(g_x^i, g_y^i). 1 when the two encoders say the
    same thing for every user (collapse); ≈ 0 for unrelated directions."""
    a = np.asarray(gx, np.float64)
    b = np.asarray(gy, np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return float(cos.mean())


def centred(gx: np.ndarray, gy: np.ndarray, centre: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """g_x and g_y less each domain's mean over users (when ``centre``): a direction every user shares
    (e.g. a LayerNorm bias) then no longer counts as agreement."""
    return (gx - gx.mean(0), gy - gy.mean(0)) if centre else (gx, gy)


def collapse_report(gx: np.ndarray, gy: np.ndarray, centre: bool = False) -> dict[str, float]:
    """Mean cosine of g_x vs g_y for the same user and for different users, and their gap; ``centre``:
    of :func:`centred` g_x and g_y (the user-specific part)."""
    same, different = cosine_pairs(*centred(gx, gy, centre))
    return {"same user": float(same.mean()), "different users": float(different.mean()),
            "gap": float(same.mean() - different.mean())}


def plot_collapse(stages: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """One column per stage, raw (top) and centred (bottom): histograms of cos(g_x, g_y) for the same
    user and for different users."""
    fig = figure(3.2 * len(stages), 4.4)
    axes = np.array(fig.subplots(2, len(stages), sharex=True, sharey="row")).reshape(2, len(stages))
    bins = np.linspace(-1, 1, 41)
    for c, (stage, (gx, gy)) in enumerate(stages.items()):
        for r, centre in enumerate((False, True)):
            same, different = cosine_pairs(*centred(gx, gy, centre))
            ax = axes[r, c]
            ax.hist(different, bins=bins, density=True, alpha=0.5, color="0.5", label="different users")
            ax.hist(same, bins=bins, density=True, color="tab:red", histtype="step", linewidth=1.5,
                    label="same user")
            ax.set_title(f"{stage}, {'centred' if centre else 'raw'}", fontsize=9)
            if r == 1:
                ax.set_xlabel("cos($\\hat g_x$, $\\hat g_y$)")
        axes[0, 0].set_ylabel("density")
        axes[1, 0].set_ylabel("density")
    axes[0, 0].legend(fontsize=7)
    return fig


def describe_collapse(report: dict[str, float], collapsed: float = 0.9, margin: float = 0.05) -> str:
    """A verdict on :func:`collapse_report`'s numbers: collapse when the same-user cosine exceeds
    ``collapsed``; user-specific agreement when it beats the different-user mean by ``margin``."""
    same, gap = report["same user"], report["gap"]
    if same > collapsed:
        return f"collapse: same-user cosine {same:.2f} > {collapsed:g}, the two encoders say the same thing"
    if gap > margin:
        return f"no collapse, but agreement: a user's g_x and g_y are closer than strangers' (gap {gap:+.2f})"
    return f"no collapse and no user-specific agreement (same user {same:+.2f}, gap to strangers {gap:+.2f})"


# --- exercises: checkers ------------------------------------------------------------------------
def check_split(fn: Callable[[np.ndarray, np.ndarray], list], dataset: CrossDomainDataset,
                n_users: int = 50) -> str:
    """Compare a reader's ``fn(seq, offsets) -> [s_x, s_y]`` (local ids) with ``make_batch``'s
    ``domain_items`` on the first ``n_users`` training sequences."""
    for user, seq in enumerate(dataset.train[:n_users]):
        seq = seq[-dataset.max_len:]
        mine = fn(seq, dataset.offsets)
        if not_attempted(mine):
            return not_attempted_message("disentangle.split_sequence")
        expected = batch_subsequences(sequence_batch(seq, dataset.offsets, dataset.max_len))
        if len(mine) != len(expected) or any(not np.array_equal(np.asarray(m), e) for m, e in zip(mine, expected)):
            return f"mismatch at user {user}: got {[np.asarray(m).tolist() for m in mine]}, " \
                   f"make_batch has {[e.tolist() for e in expected]}"
    return f"correct: matches make_batch's domain_items on {min(n_users, len(dataset.train))} users"


def check_collapse(fn: Callable[[np.ndarray, np.ndarray], float], seed: int = 0) -> str:
    """Compare a reader's ``fn(gx, gy)`` with :func:`collapse_statistic` on identical, scaled and
    independent random inputs."""
    rng = np.random.default_rng(seed)
    gx, gy = rng.normal(size=(64, 16)), rng.normal(size=(64, 16))
    cases = {"identical": (gx, gx), "scaled": (gx, 3 * gx), "independent": (gx, gy)}
    errors = {}
    for name, (a, b) in cases.items():
        result = fn(a, b)
        if not_attempted(result):
            return not_attempted_message("disentangle.collapse_statistic")
        errors[name] = abs(float(result) - collapse_statistic(a, b))
    if max(errors.values()) < 1e-6:
        return "correct: 1 for identical and scaled inputs, near 0 for independent ones"
    return "mismatch: " + ", ".join(f"{k} off by {v:.4f}" for k, v in errors.items())
