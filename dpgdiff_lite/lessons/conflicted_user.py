"""Lesson 02, one conflicted user: where SASRec on the mixed sequence loses a target the single-domain
SASRec finds, the user's timeline with every event's planted label, and each model's top 10 against the
true next-item probabilities (notebook 02's case study).

:func:`pick_case` chooses the case from the per-case results of a live regime cell, :func:`case_view`
ranks it with each model, :func:`plot_case` draws it and :func:`true_mass_at_k` measures, over many
cases, how much true probability each model's top k holds.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dpgdiff_lite.data.dataset import CrossDomainDataset, case_batch
from dpgdiff_lite.data.synthetic import INVARIANT, NOISE, SyntheticTruth
from dpgdiff_lite.lessons.common import LABEL_COLOURS, MODEL_LABELS, event_box, figure, label_legend
from dpgdiff_lite.recommender import Scorer

def pick_case(dataset: CrossDomainDataset, truth: SyntheticTruth, mixed: pd.DataFrame, single: pd.DataFrame) -> int:
    """The test case of a conflicted user where the single-domain model hits (rank ≤ 10) and the mixed
    one ranks the target furthest below it: the largest rank gap in the single model's favour (ties:
    the first case). A chosen example, not a typical one."""
    conflicted = truth.user_preferences.conflicted[dataset.test.users]
    gap = mixed["rank"].to_numpy() - single["rank"].to_numpy()
    eligible = conflicted & (single["rank"].to_numpy() <= 10)
    if not eligible.any():
        raise ValueError("no conflicted user whose target the single-domain model ranks in its top 10")
    return int(np.flatnonzero(eligible)[np.argmax(gap[eligible])])


def hit_counts(mixed: pd.DataFrame, single: pd.DataFrame, k: int = 10) -> dict[str, int]:
    """How many test cases only the single model hits at k, only the mixed one, both, neither."""
    s, m = single["rank"].to_numpy() <= k, mixed["rank"].to_numpy() <= k
    return {"single only": int((s & ~m).sum()), "mixed only": int((m & ~s).sum()), "both": int((s & m).sum()),
            "neither": int((~s & ~m).sum())}


@dataclass
class CaseView:
    """One test case as the timeline draws it."""

    case: int
    user: int
    history: np.ndarray  # (n,) global ids, oldest first
    labels: np.ndarray  # (n,) planted labels of the history
    target: int  # global id
    domain: int  # the target's domain
    top: dict[str, np.ndarray]  # model → (k,) local ids of its top-k in the target's domain, best first
    truth_prob: np.ndarray  # (n_items[domain],) true P(next item | user, last item, domain)
    theta: np.ndarray  # (domains, shared topics) θ_{u,d}
    ranks: dict[str, int]  # model → rank of the target


def top_k(scorer: Scorer, dataset: CrossDomainDataset, case: int, domain: int, k: int = 10) -> np.ndarray:
    """The ``k`` best local items of ``domain`` for a test case (ties: the lower id first)."""
    scores = scorer.score(case_batch(dataset, [case]).to(scorer.device), domain)[0].cpu().double().numpy()
    return np.lexsort((np.arange(len(scores)), -scores))[:k]


def case_view(dataset: CrossDomainDataset, truth: SyntheticTruth, scorers: dict[str, Scorer], case: int,
              ranks: dict[str, int], k: int = 10) -> CaseView:
    """Everything the timeline of ``case`` shows: history, labels, target, each scorer's top-k, the truth."""
    history = np.asarray(dataset.test.histories[case])
    target, user = int(dataset.test.targets[case]), int(dataset.test.users[case])
    domain = int(dataset.domain_of(np.array([target]))[0])
    n_shared = truth.config.n_multi_topics
    return CaseView(case, user, history, np.asarray(truth.test_labels.histories[case]), target, domain,
                    {name: top_k(scorer, dataset, case, domain, k) for name, scorer in scorers.items()},
                    truth.next_item_probabilities(np.array([user]), history[-1:], domain)[0],
                    np.stack([t[user, :n_shared] for t in truth.user_preferences.shared_by_domain]), ranks)


def shared_topic_items(view: CaseView, truth: SyntheticTruth, model: str) -> int:
    """How many of ``model``'s top-k items belong to shared (domain-invariant) topics."""
    topics = truth.item_topic[truth.offsets[view.domain] + view.top[model]]
    return int((truth.topic_kind[topics] == INVARIANT).sum())


def events_per_domain(view: CaseView, truth: SyntheticTruth) -> list[int]:
    """How many history events of the case fall in each domain."""
    domains = np.searchsorted(truth.offsets, view.history, side="right") - 1
    return np.bincount(domains, minlength=len(truth.offsets) - 1).tolist()


def plot_case(view: CaseView, truth: SyntheticTruth, domain_names: tuple[str, ...] = ("X", "Y")) -> Figure:
    """Top: the user's mixed history (colour = planted label, text = domain and topic) and the target.
    Bottom left: the user's shared-topic taste θ_{u,d} in both domains. Bottom right: the top-10 of the
    oracle and of both SASRecs in the target's domain, each bar the item's true next-item probability,
    the target's bar outlined (a hit)."""
    offsets = truth.offsets
    fig = figure(11, 5.6)
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 2.2])
    ax = fig.add_subplot(grid[0, :])
    events = [*view.history.tolist(), view.target]
    for i, item in enumerate(events):
        d = int(np.searchsorted(offsets, item, side="right") - 1)
        last = i == len(events) - 1
        label = truth.test_labels.targets[view.case] if last else view.labels[i]
        event_box(ax, i, 0, LABEL_COLOURS[int(label)], f"{domain_names[d]}\nt{truth.item_topic[item]}",
                  edge="black" if last else "white", height=0.8, text_colour="white" if int(label) != NOISE else "black")
    ax.set(xlim=(-0.6, len(events) - 0.4), ylim=(-0.6, 0.6), yticks=[],
           title=f"user {view.user}'s mixed sequence $s_c$ (oldest first), then the test target (outlined, "
                 f"domain {domain_names[view.domain]}); text: domain, topic")
    ax.set_xticks(range(len(events)), [*map(str, range(len(events) - 1)), "target"], fontsize=7)
    ax.spines[["top", "right", "left"]].set_visible(False)
    label_legend(ax, loc="upper right", bbox_to_anchor=(1.0, -0.25))

    ax = fig.add_subplot(grid[1, 0])
    topics = np.arange(view.theta.shape[1])
    for d, name in enumerate(domain_names):
        ax.barh(topics + (0.2 if d else -0.2), view.theta[d], 0.4, label=f"θ in {name}", color=f"C{d}")
    ax.invert_yaxis()
    ax.set(xlabel="weight", ylabel="shared topic", title="taste per domain (opposed)", yticks=topics)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=7)
    lo = offsets[view.domain]
    for j, (name, items) in enumerate(view.top.items()):
        ax = fig.add_subplot(grid[1, 1 + j])
        prob = view.truth_prob[items]
        hit = items == view.target - lo
        colours = [LABEL_COLOURS[int(truth.topic_kind[truth.item_topic[lo + i]])] for i in items]
        ax.barh(np.arange(len(items)), prob, color=colours, edgecolor=["black" if h else "none" for h in hit],
                linewidth=2)
        for r, (i, p) in enumerate(zip(items, prob)):
            ax.text(p, r, f" t{truth.item_topic[lo + i]}" + (" ← target" if hit[r] else ""), va="center", fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel="true P(next item)", title=f"{MODEL_LABELS.get(name, name)}\nrank of target {view.ranks[name]}, "
                                                 f"Σ top-10 = {prob.sum():.2f}",
               xlim=(0, max(view.truth_prob[[i for v in view.top.values() for i in v]].max() * 1.6, 1e-3)))
        ax.set_yticks(range(len(items)), [str(r + 1) for r in range(len(items))], fontsize=7)
        ax.title.set_fontsize(8)
    return fig


def true_mass_at_k(scorer: Scorer, dataset: CrossDomainDataset, truth: SyntheticTruth, cases: np.ndarray,
                   k: int = 10, batch_size: int = 512) -> np.ndarray:
    """Per test case, the true next-item probability of the scorer's top-k in the target's domain:
    the planted law's expected HR@k of that list (the oracle's is the largest possible)."""
    cases = np.asarray(cases, dtype=np.int64)
    domains = dataset.domain_of(dataset.test.targets[cases])
    mass = np.zeros(len(cases))
    for d in range(dataset.n_domains):
        for start in range(0, int((domains == d).sum()), batch_size):
            rows = np.flatnonzero(domains == d)[start:start + batch_size]
            chosen = cases[rows]
            scores = scorer.score(case_batch(dataset, chosen).to(scorer.device), d).cpu().double().numpy()
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (rows, k)
            last = np.array([h[-1] for h in (dataset.test.histories[c] for c in chosen)])
            prob = truth.next_item_probabilities(dataset.test.users[chosen], last, d)  # (rows, n_items[d])
            mass[rows] = np.take_along_axis(prob, top, 1).sum(1)
    return mass


# --- the regime map --------------------------------------------------------------------------------
