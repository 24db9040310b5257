"""Synthetic cross-domain sequences with the paper's three kinds of signal planted (Fig. 1).

Every domain's items are partitioned into latent topics, and a boolean (topics × domains)
membership matrix (:func:`topic_membership`, ``SyntheticTruth.topic_domains``) says which domains
hold each topic. *Shared* topics own items in every domain (domain-invariant preferences,
"Marvel"), *specific* topics own items in one domain only (conflicting domain-specific
preferences, "Doraemon books"), and with three or more domains *partial* topics
(``partial_topics``) own items in a set H of 2 … N-1 domains ("anime": books and movies, not
food). Topic ids run shared, partial, then each domain's specific ones; M = shared + partial are
the multi-domain topics and M_d ⊆ M those domain d holds. Each user u draws

    θ_u ~ Dir(α·1) over M,  φ_{u,d} ~ Dir(α·1) over domain d's specific topics,
    ρ_{u,d} ~ Beta (mean ``specific_rate``): share of domain d's events taken from specific topics,
    π_u ~ Dir(c·w) over domains: the domain of each next event,

and uses in domain d θ_u restricted to the topics d holds and renormalised,

    θ_{u,d,k} = θ_{u,k} / Σ_{j ∈ M_d} θ_{u,j}  for k ∈ M_d,

unless conflicted (below). So a partial topic joins the shared Dirichlet and each domain sees
only the topics it holds: by the Dirichlet's aggregation property θ_{u,d} ~ Dir(α·1) over M_d in
every domain (the two-domain law), and any two domains agree on the ratio of the user's weights
for two topics both hold (a taste for an X–Z topic over a shared one carries from X to Z, not to
Y). Equivalently a redraw from the multi-domain part draws k ~ θ_u and repeats until d holds k.
Without partial topics every domain holds all of M and θ_{u,d} = θ_u exactly (no renormalisation,
so the two-domain presets keep every array bit-identical).
An event of user u after an item of topic s is generated as

    d ~ π_u;  with prob. η (``adhoc_noise``) the item is uniform over domain d (ad-hoc noise), else
    k = s with prob. p (``persistence``) when s exists in d, otherwise k ~ P_{u,d}(k) where
    P_{u,d}(k) = (1-ρ_{u,d}) θ_{u,d,k} for k ∈ M_d and ρ_{u,d} φ_{u,d,k} for d-specific k;
    the item is drawn from topic k's Zipf-like popularity w_i ∝ rank^(-zipf_exponent).

So the true next-item distribution in domain d is
    P(i | u, s, d) = η/|I_d| + (1-η) w_i [ p·1[k_i = s, s ∈ d] + (1 - p·1[s ∈ d]) P_{u,d}(k_i) ],
which :meth:`SyntheticTruth.next_item_probabilities` returns and the oracle ranks by. The state s is
the topic of the last item whatever produced it, so a noise item can derail the next event too, and
the law depends on the history only through (u, last item). Each event is labelled INVARIANT (drawn
from a multi-domain topic, shared or partial), SPECIFIC (from a domain-specific topic) or NOISE (the
uniform draw).
The split is the paper's leave-one-out (Experiment settings): last event = test, second-to-last =
validation, the rest = training.

Three knobs plant the harder regimes of the paper's Introduction; each is off by default, and off it
leaves every array bit-identical. Conflict and imbalance draw from their own generators
``default_rng([seed, 1])`` and ``default_rng([seed, 2])``, training ad-hoc noise compares each event's
existing noise draw with another threshold, so sweeping one knob keeps every other draw fixed (and a
user conflicted at rate 0.3 is conflicted at 0.6 too):

* **conflict** (``conflict_rate``, ``conflict_kind``; Challenge 2, negative transfer): a conflicted
  user keeps θ_{u,0} = θ_u in the first domain, and every other domain d gets either an independent
  θ_{u,d} ~ Dir(α·1) ("independent") or θ_u re-ranked in reverse ("opposed",
  :func:`reverse_ranks`): the topic with the j-th largest weight in domain 0 gets the j-th
  smallest weight in d, so the most liked shared topic in X is the least liked in Y (the same
  weights, hence still Dir(α·1)-distributed). Both act on the whole vector over M, before the
  restriction to M_d. ``UserPreferences.conflicted`` labels the users.
  Persistence still carries a topic across a switch of domain, so an opposed user's X and Y events
  keep some topics in common.
* **imbalance** (``imbalance_rate``, ``imbalance_share``): an imbalanced user's mix π_u is set to
  exactly ``imbalance_share`` on one uniformly drawn domain (``UserPreferences.sparse_domain``, -1
  for balanced users); the other domains share the rest in their drawn proportions.
* **ad-hoc noise in training** (``train_adhoc_noise``): events in the training part of a sequence (all but the
  last two) are noise with probability ``train_adhoc_noise`` instead of η; the validation and test
  targets keep η, so the oracle (which ranks targets) uses η.

The oracle knows θ_u; the ceiling of a model that sees only the history is
:class:`dpgdiff_lite.data.bayes.BayesPredictor`. :func:`restrict_domains` shows the same world
through fewer domains (the users without their Z events; :mod:`dpgdiff_lite.experiments.third_domain`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from dpgdiff_lite.data.dataset import PAD, Batch, CrossDomainDataset, EvalSplit

INVARIANT, SPECIFIC, NOISE = 0, 1, 2
"""Ground-truth event labels: drawn from a shared topic, from a domain-specific topic, or uniform noise."""
LABEL_NAMES = ("invariant", "specific", "noise")
SHARED_TOPIC = -1
"""``SyntheticTruth.topic_domain`` value of a shared (domain-invariant) topic."""
PARTIAL_TOPIC = -2
"""``SyntheticTruth.topic_domain`` value of a partial topic (held by some domains, not all)."""
CONFLICT_KINDS = ("independent", "opposed")
"""How a conflicted user's shared-topic preference in domains d ≥ 1 relates to domain 0's."""


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generator; checked on construction (a bad value names its field)."""

    name: str = "custom"  # the dataset is called f"synthetic-{name}"
    domain_names: tuple[str, ...] = ("X", "Y")
    n_users: int = 2000
    n_items: tuple[int, ...] = (400, 500)  # items per domain
    n_shared_topics: int = 16  # K_shared: topics with items in every domain
    n_specific_topics: tuple[int, ...] = (8, 8)  # topics existing in one domain only, per domain
    # topics held by some domains but not all: ((domain indices, count), …), e.g. (((0, 2), 4),) for
    # 4 topics shared by X and Z only; they join the shared Dirichlet (module docstring)
    partial_topics: tuple[tuple[tuple[int, ...], int], ...] = ()
    mean_length: float = 12.0  # mean events per user, validation and test targets included
    min_length: int = 5  # events per user at least (≥ 4: every training sequence has one pair)
    adhoc_noise: float = 0.1  # η: probability that an event is a uniform item of its domain
    persistence: float = 0.5  # p: probability that the last item's topic carries on
    specific_rate: float = 0.3  # mean share of a domain's non-noise events from specific topics
    specific_concentration: float = 4.0  # Beta concentration of the per-user specific share ρ
    topic_concentration: float = 0.3  # α of the Dirichlets over topics; small → few topics per user
    domain_weights: tuple[float, ...] | None = None  # mean domain mix w (None: equal)
    domain_concentration: float = 4.0  # c of π_u ~ Dir(c·w); small → users stick to one domain
    zipf_exponent: float = 1.0  # within-topic popularity w_i ∝ rank^(-zipf_exponent); 0 = flat
    conflict_rate: float = 0.0  # share of users whose shared-topic preference differs across domains
    conflict_kind: str = "independent"  # a conflicted user's θ_{u,d}, d ≥ 1: a fresh Dir draw or "opposed"
    imbalance_rate: float = 0.0  # share of users with one sparse domain
    imbalance_share: float = 0.1  # π_u of an imbalanced user's sparse domain
    train_adhoc_noise: float | None = None  # η of the training events (None: adhoc_noise)
    max_len: int = 15  # history length kept (C2DSR)
    seed: int = 0  # the only source of randomness: default_rng(seed), and default_rng([seed, j]) for knob j

    def __post_init__(self) -> None:
        n = len(self.domain_names)

        def bad(field: str, need: str) -> ValueError:
            return ValueError(f"SyntheticConfig.{field} {need}, got {getattr(self, field)!r}")

        if n < 2:
            raise bad("domain_names", "needs at least two domains")
        for field in ("n_items", "n_specific_topics") + (("domain_weights",) if self.domain_weights else ()):
            if len(getattr(self, field)) != n:
                raise bad(field, f"needs one value per domain ({n})")
        if self.n_users < 1:
            raise bad("n_users", "must be at least 1")
        if self.n_shared_topics < 1:
            raise bad("n_shared_topics", "must be at least 1")
        if min(self.n_specific_topics) < 0:
            raise bad("n_specific_topics", "must be non-negative")
        for entry in self.partial_topics:
            try:
                held, count = entry
                fits = (len(set(held)) == len(held) and 2 <= len(held) < n and isinstance(count, int)
                        and count >= 1 and all(isinstance(d, int) and 0 <= d < n for d in held))
            except (TypeError, ValueError):  # not a (domains, count) pair
                fits = False
            if not fits:
                raise bad("partial_topics", f"needs (domains, count) pairs: 2 to {n - 1} distinct domain "
                                            f"indices in 0…{n - 1} and a count ≥ 1")
        if any(i < k for i, k in zip(self.n_items, topic_membership(self).sum(0))):
            raise bad("n_items", "must give every domain at least one item per topic it holds")
        if self.min_length < 4:
            raise bad("min_length", "must be at least 4 (train pair + validation + test)")
        if self.mean_length < self.min_length:
            raise bad("mean_length", f"must be at least min_length={self.min_length}")
        for field in ("adhoc_noise", "persistence", "specific_rate", "conflict_rate", "imbalance_rate") + (
                ("train_adhoc_noise",) if self.train_adhoc_noise is not None else ()):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise bad(field, "must lie in [0, 1]")
        if self.conflict_kind not in CONFLICT_KINDS:
            raise bad("conflict_kind", f"must be one of {CONFLICT_KINDS}")
        if not 0.0 < self.imbalance_share < 1.0:
            raise bad("imbalance_share", "must lie in (0, 1)")
        for field in ("specific_concentration", "topic_concentration", "domain_concentration"):
            if not getattr(self, field) > 0:
                raise bad(field, "must be positive")
        if self.domain_weights is not None and (min(self.domain_weights) <= 0):
            raise bad("domain_weights", "must be positive")
        if self.zipf_exponent < 0:
            raise bad("zipf_exponent", "must be non-negative")
        if self.max_len < 1:
            raise bad("max_len", "must be at least 1")

    @property
    def n_domains(self) -> int:
        return len(self.domain_names)

    @property
    def n_multi_topics(self) -> int:
        """|M|: the topics held by two or more domains (shared, then partial), over which θ_u is drawn."""
        return self.n_shared_topics + sum(count for _, count in self.partial_topics)

    @property
    def train_eta(self) -> float:
        """η of the training events: ``train_adhoc_noise``, or ``adhoc_noise`` when it is None."""
        return self.adhoc_noise if self.train_adhoc_noise is None else self.train_adhoc_noise


def topic_membership(config: SyntheticConfig) -> np.ndarray:
    """(topics, domains) bool: row k says which domains hold topic k. Rows: the shared topics (every
    domain), the partial ones in ``partial_topics`` order, then each domain's specific ones."""
    n = config.n_domains
    rows = [np.ones((config.n_shared_topics, n), dtype=bool)]
    for held, count in config.partial_topics:
        rows.append(np.repeat(np.isin(np.arange(n), held)[None, :], count, 0))
    for d, k in enumerate(config.n_specific_topics):
        rows.append(np.repeat((np.arange(n) == d)[None, :], k, 0))
    return np.concatenate(rows)


SCALAR_KNOBS = {f.name: f.type for f in dataclasses.fields(SyntheticConfig)
                if f.type in ("int", "float", "str", "float | None") and f.name != "name"}
"""The generator's one-value knobs by type: what a data spec (``synthetic:teaching[adhoc_noise=0.2]``)
and the regimes grid may set."""
RENAMED_KNOBS = {"noise_rate": "adhoc_noise", "train_noise_rate": "train_adhoc_noise"}
"""Old knob names refused with their new one (issue 28: test-time and training noise have names of their own)."""


def knob_value(knob: str, value, where: str, parse: bool = True):
    """``value`` — a string to parse when ``parse``, else a value to check — as the type of the
    :class:`SyntheticConfig` field ``knob``; errors name ``where``. Floats must be finite and ``seed``
    at least 0 (numpy's generators refuse a negative seed); the field's range is checked by the config."""
    if knob in RENAMED_KNOBS:
        raise ValueError(f"{where}: unknown knob {knob!r} (renamed {RENAMED_KNOBS[knob]!r})")
    if knob not in SCALAR_KNOBS:
        if knob in {f.name for f in dataclasses.fields(SyntheticConfig)}:
            raise ValueError(f"{where}: knob {knob!r} holds one value per domain; only scalar knobs can be set here")
        raise ValueError(f"{where}: unknown knob {knob!r}; SyntheticConfig fields: {', '.join(sorted(SCALAR_KNOBS))}")
    kind = SCALAR_KNOBS[knob]
    checked = _parsed_knob(knob, kind, value, where) if parse and isinstance(value, str) else _typed_knob(
        knob, kind, value, where)
    if isinstance(checked, float) and not np.isfinite(checked):
        raise ValueError(f"{where}: knob {knob!r} expects a finite {kind}, got {value!r}")
    if knob == "seed" and checked < 0:
        raise ValueError(f"{where}: knob 'seed' expects an integer >= 0, got {value!r}")
    return checked


def _parsed_knob(knob: str, kind: str, value: str, where: str):
    try:
        if kind == "float | None" and value.lower() == "none":
            return None
        return {"int": int, "float": float, "float | None": float, "str": str}[kind](value)
    except ValueError:
        raise ValueError(f"{where}: knob {knob!r} expects {kind}, got {value!r}") from None


def _typed_knob(knob: str, kind: str, value, where: str):
    if value is None and kind == "float | None":
        return None
    if kind in ("int", "float", "float | None") and isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: knob {knob!r} expects {kind}, got {value!r}")
    if kind == "int" and isinstance(value, (int, np.integer)):
        return int(value)
    if kind != "int" and kind != "str" and isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if kind == "str" and isinstance(value, str):
        return value
    raise ValueError(f"{where}: knob {knob!r} expects {kind}, got {value!r}")


PRESETS: dict[str, SyntheticConfig] = {
    # unit tests: generated in a few milliseconds
    "tiny": SyntheticConfig(name="tiny", n_users=200, n_items=(100, 120), n_shared_topics=6,
                            n_specific_topics=(3, 3), mean_length=10.0),
    # the notebooks' default: a small model trains on it on a CPU in well under a minute
    "teaching": SyntheticConfig(name="teaching"),
    # a sparse catalogue like Movie-Book's under the eval-split protocol: more items than training
    # events (42 % / 58 % of the items and 38 % of the test targets never occur in training, a test
    # target's median training count is 1; Movie-Book: 39 % / 47 %, 43 %, 1), flatter within-topic
    # popularity; ranked against 999 sampled negatives, as the real data is
    "sparse": SyntheticConfig(name="sparse", n_users=4000, n_items=(20_000, 32_000), n_shared_topics=80,
                              n_specific_topics=(40, 40), zipf_exponent=0.5),
    # Food / Kitchen sizes of the paper's Table 2: item counts, 34,117 training sequences of mean
    # length ≈ 10, and the validation / test mix (≈ 1/3 of targets in X)
    "paper-scale": SyntheticConfig(name="paper-scale", n_users=34_117, n_items=(29_207, 34_886),
                                   n_shared_topics=120, n_specific_topics=(60, 80),
                                   mean_length=12.0, domain_weights=(1 / 3, 2 / 3)),
}
# the negative-transfer lessons: the teaching world with one hard regime switched on
PRESETS |= {
    # every user loves in Y the shared topics they avoid in X (Challenge 2)
    "conflict": dataclasses.replace(PRESETS["teaching"], name="conflict", conflict_rate=1.0,
                                    conflict_kind="opposed"),
    # every user's shared-topic taste in Y is unrelated to X: nothing shared left to transfer
    "conflict-independent": dataclasses.replace(PRESETS["teaching"], name="conflict-independent",
                                                conflict_rate=1.0, conflict_kind="independent"),
    # every user has one domain holding about 10% of their events (the cold side of transfer)
    "imbalanced": dataclasses.replace(PRESETS["teaching"], name="imbalanced", imbalance_rate=1.0),
    # misclicks in the training sequences only, clean targets (Challenge 3)
    "noisy-train": dataclasses.replace(PRESETS["teaching"], name="noisy-train", train_adhoc_noise=0.3),
    # the base of the regimes grid: no topic persistence (the last item's topic does not carry across
    # a switch of domain, which on its own makes the mixed sequence informative) and users with
    # few topics each (α = 0.1); measured with SASRec: opposed conflict then costs the mixed-sequence
    # model 2-5 NDCG@10 points against the single-domain one, no conflict gains it about 1
    "transfer": dataclasses.replace(PRESETS["teaching"], name="transfer", persistence=0.0, topic_concentration=0.1),
}
# three domains (the paper's open question 1): in each domain 8 shared + 2 × 4 partial = 16 multi-domain
# topics (the teaching world's 16 shared) and 6 specific ones; 4 topics for every pair of domains
PAIRS_OF_THREE = ((0, 1), (0, 2), (1, 2))
PRESETS |= {
    "three-domain": SyntheticConfig(name="three-domain", domain_names=("X", "Y", "Z"), n_users=3000,
                                    n_items=(400, 500, 450), n_shared_topics=8,
                                    partial_topics=tuple((pair, 4) for pair in PAIRS_OF_THREE),
                                    n_specific_topics=(6, 6, 6)),
    # its unit-test size: generated in milliseconds, trained in seconds
    "tiny-three-domain": SyntheticConfig(name="tiny-three-domain", domain_names=("X", "Y", "Z"), n_users=300,
                                         n_items=(60, 70, 80), n_shared_topics=3,
                                         partial_topics=tuple((pair, 2) for pair in PAIRS_OF_THREE),
                                         n_specific_topics=(2, 2, 2), mean_length=10.0),
}


@dataclass(frozen=True)
class UserPreferences:
    """Each user's latent preferences (rows are users)."""

    shared: np.ndarray  # (users, |M|) θ_u over the multi-domain topics (shared, then partial)
    specific: tuple[np.ndarray, ...]  # [domain] (users, K_d) φ_{u,d}
    specificity: np.ndarray  # (users, domains) ρ_{u,d}
    domain: np.ndarray  # (users, domains) π_u
    # [domain] (users, |M|) θ_{u,d}: θ_u (or its conflicted version) restricted to M_d and
    # renormalised, 0 on the topics d lacks; = θ_u when unconflicted and d holds all of M
    shared_by_domain: tuple[np.ndarray, ...]
    conflicted: np.ndarray  # (users,) bool: θ_{u,d} differs from θ_u in domains d ≥ 1
    sparse_domain: np.ndarray  # (users,) the domain holding imbalance_share of π_u, or -1


@dataclass(frozen=True)
class EvalLabels:
    """Ground-truth labels aligned with an :class:`EvalSplit`'s histories and targets."""

    histories: list[np.ndarray]
    targets: np.ndarray


@dataclass
class SyntheticTruth:
    """Everything the generator knew: topics, preferences, labels, and the true next-item law."""

    config: SyntheticConfig
    item_topic: np.ndarray  # (total items,) global topic id of each global item id
    item_weight: np.ndarray  # (total items,) w_i, the item's probability within its topic
    topic_domains: np.ndarray  # (topics, domains) bool: which domains hold each topic
    user_preferences: UserPreferences
    train_labels: list[np.ndarray]  # aligned with dataset.train
    valid_labels: EvalLabels  # aligned with dataset.valid
    test_labels: EvalLabels  # aligned with dataset.test

    @property
    def topic_domain(self) -> np.ndarray:
        """(topics,) SHARED_TOPIC, PARTIAL_TOPIC, or the domain owning a specific topic."""
        held = self.topic_domains.sum(1)
        return np.where(held == self.config.n_domains, SHARED_TOPIC,
                        np.where(held > 1, PARTIAL_TOPIC, self.topic_domains.argmax(1)))

    @property
    def topic_kind(self) -> np.ndarray:
        """INVARIANT for multi-domain topics (shared or partial), SPECIFIC for domain-specific ones,
        shape (topics,)."""
        return np.where(self.topic_domains.sum(1) > 1, INVARIANT, SPECIFIC)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.config.n_items)]).astype(np.int64)

    def domain_topics(self, domain: int) -> np.ndarray:
        """Global ids of the topics that have items in ``domain``: M_d (shared, partial) first, then its own."""
        return np.flatnonzero(self.topic_domains[:, domain])

    def topic_name(self, item: int) -> str:
        """'topic k (shared)', 'topic k (X only)' or, for a partial topic, 'topic k (X + Z)' for a global item id."""
        topic = int(self.item_topic[item])
        held = [name for name, holds in zip(self.config.domain_names, self.topic_domains[topic]) if holds]
        kind = "shared" if len(held) == self.config.n_domains else " + ".join(held) if len(held) > 1 else f"{held[0]} only"
        return f"topic {topic} ({kind})"

    def topic_distribution(self, users: np.ndarray, domain: int) -> np.ndarray:
        """P_{u,d}(k) over :meth:`domain_topics` (the redraw law), shape (cases, topics in d)."""
        prefs = self.user_preferences
        rho = prefs.specificity[users, domain][:, None]  # (cases, 1)
        held = self.topic_domains[:self.config.n_multi_topics, domain]  # M_d within M
        theta = prefs.shared_by_domain[domain][users]  # (cases, |M|) θ_{u,d}
        if not held.all():
            theta = theta[:, held]  # (cases, |M_d|)
        return np.concatenate([(1 - rho) * theta, rho * prefs.specific[domain][users]], 1)

    def _last_topics(self, last_items: np.ndarray) -> np.ndarray:
        last_items = np.asarray(last_items, dtype=np.int64)
        return np.where(last_items == PAD, PAD, self.item_topic[np.maximum(last_items, 0)])

    def next_item_probabilities(self, users: np.ndarray, last_items: np.ndarray, domain: int) -> np.ndarray:
        """True P(next item = i | user, last item, next event in ``domain``) over the domain's local
        items, shape (cases, n_items[domain]); ``last_items`` are global ids (PAD: no history)."""
        users = np.asarray(users, dtype=np.int64)
        return self.next_item_law(self.topic_distribution(users, domain), last_items, domain)

    def next_item_law(self, redraw: np.ndarray, last_items: np.ndarray, domain: int) -> np.ndarray:
        """P(i | u, s, d) of the module docstring from a redraw law ``redraw`` = P_{u,d}(k) over
        :meth:`domain_topics` (cases, topics in d) and the last items (global ids, PAD: no history);
        reads no user preference, so a history-only predictor can pass its posterior mean of P_{u,d}."""
        cfg = self.config
        lo, hi = self.offsets[domain], self.offsets[domain + 1]
        topics = self.domain_topics(domain)
        last = self._last_topics(last_items)
        # persistence only applies when the last topic has items in this domain
        stays = np.isin(last, topics) * cfg.persistence  # (cases,)
        topic_prob = (1 - stays)[:, None] * redraw  # (cases, topics in d)
        topic_prob += stays[:, None] * (topics[None, :] == last[:, None])
        column = np.searchsorted(topics, self.item_topic[lo:hi])  # each item's topic column
        # η/|I_d| + (1-η) w_i P(k_i)
        item_prob = self.item_weight[lo:hi] * topic_prob[:, column]  # (cases, n_items[domain])
        return cfg.adhoc_noise / (hi - lo) + (1 - cfg.adhoc_noise) * item_prob

    def sample_next(self, users: np.ndarray, last_items: np.ndarray, rng: np.random.Generator,
                    domains: np.ndarray | None = None,
                    adhoc_noises: np.ndarray | float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw one next event per case, exactly as the generator does: (global item ids, labels).

        ``domains`` fixes each event's domain; by default it is drawn from the user's π_u.
        ``adhoc_noises`` is each case's η (default ``adhoc_noise``, the law of the targets)."""
        cfg, users = self.config, np.asarray(users, dtype=np.int64)
        n = len(users)
        if domains is None:
            domains = _inverse_cdf(self.user_preferences.domain[users], rng.random(n))
        last = self._last_topics(last_items)
        noisy = rng.random(n) < (cfg.adhoc_noise if adhoc_noises is None else adhoc_noises)
        stay_draw, topic_draw, item_draw = rng.random(n), rng.random(n), rng.random(n)
        items, labels = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        for d in range(cfg.n_domains):
            rows = np.flatnonzero(domains == d)
            topics = self.domain_topics(d)
            lo, n_d = self.offsets[d], cfg.n_items[d]
            stays = (stay_draw[rows] < cfg.persistence) & np.isin(last[rows], topics)
            redrawn = topics[_inverse_cdf(self.topic_distribution(users[rows], d), topic_draw[rows])]
            topic = np.where(stays, last[rows], redrawn)
            item = self._topic_item(d, topic, item_draw[rows])
            # the same draw picks the uniform item: noise is decided independently of it
            uniform = lo + np.minimum((item_draw[rows] * n_d).astype(np.int64), n_d - 1)
            items[rows] = np.where(noisy[rows], uniform, item)
            labels[rows] = np.where(noisy[rows], NOISE, self.topic_kind[topic])
        return items, labels

    @cached_property
    def _item_tables(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per domain: local items grouped by topic column, their sampling keys
        ``column + cumulative within-topic weight`` (topic j spans (j, j + 1]), and each topic's
        first position in that order."""
        tables = []
        for d in range(self.config.n_domains):
            lo, hi = self.offsets[d], self.offsets[d + 1]
            topics = self.domain_topics(d)
            column = np.searchsorted(topics, self.item_topic[lo:hi])
            order = np.argsort(column, kind="stable")
            column = column[order]
            starts = np.searchsorted(column, np.arange(len(topics) + 1))
            cumulative = np.cumsum(self.item_weight[lo:hi][order])
            before = np.concatenate([[0.0], cumulative])[starts[column]]
            total = cumulative[starts[column + 1] - 1] - before
            tables.append((order, column + (cumulative - before) / total, starts))
        return tables

    def _topic_item(self, domain: int, topic: np.ndarray, draw: np.ndarray) -> np.ndarray:
        """Global id of the item of ``topic`` whose cumulative weight first exceeds ``draw`` ∈ [0, 1)."""
        order, keys, starts = self._item_tables[domain]
        column = np.searchsorted(self.domain_topics(domain), topic)
        position = np.searchsorted(keys, column + draw, side="right")
        # the clip only guards against column + draw rounding up to column + 1
        return self.offsets[domain] + order[np.clip(position, starts[column], starts[column + 1] - 1)]

    def oracle_scorer(self) -> OracleScorer:
        """A scorer ranking items by their true next-item probability (an upper reference)."""
        return OracleScorer(self)


class OracleScorer:
    """Scores = true next-item probabilities given the user's latent preferences and last item."""

    device = torch.device("cpu")

    def __init__(self, truth: SyntheticTruth) -> None:
        self.truth = truth

    def score(self, batch: Batch, domain: int, steps: int | None = None) -> Tensor:
        """(batch, n_items[domain]) scores for the last position of each row (``steps`` is ignored)."""
        users = batch.users.cpu().numpy()
        if (users == PAD).any():
            raise ValueError("OracleScorer.score: the batch carries no user index (batch.users is PAD)")
        probs = self.truth.next_item_probabilities(users, batch.items[:, -1].cpu().numpy(), domain)
        return torch.from_numpy(probs)


def _inverse_cdf(probs: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Row-wise categorical sample: first column whose cumulative probability exceeds ``draw``."""
    cdf = np.cumsum(probs, axis=1)  # (cases, categories)
    return np.minimum((cdf < draw[:, None] * cdf[:, -1:]).sum(axis=1), probs.shape[1] - 1)


def generate(config: SyntheticConfig | str = "teaching") -> tuple[CrossDomainDataset, SyntheticTruth]:
    """Draw a leave-one-out :class:`CrossDomainDataset` (protocol "synthetic") and its ground truth
    from a config or the name of one of :data:`PRESETS`; the same config gives identical arrays."""
    config = _config(config, "generate")
    truth, items, labels, lengths = _draw_sequences(config)
    return _leave_one_out(config, truth, items, labels, lengths)


def restrict_domains(config: SyntheticConfig | str, domains: Sequence[str]) -> CrossDomainDataset:
    """The world :func:`generate` draws from ``config``, seen through ``domains`` only (two or more
    names, in the config's order): the same users and their events in those domains, every other
    domain's events removed, global ids renumbered over the kept domains.

    Cases: the split is the full world's, then restricted. A user's validation (test) case exists
    here iff the full world's validation (test) target is in a kept domain; it is the same event
    (same item, same place in the user's sequence), its history the kept-domain events before it,
    the latest ``max_len`` of them. A training sequence is the kept-domain events of the full
    world's training part (its latest ``max_len + 1``; dropped if fewer than 2). So both worlds hold
    the same kept-domain training events and, where a user's last event was dropped, neither tests on
    that user. No oracle applies: the Markov state of the planted law is the last event of any domain.
    """
    config = _config(config, "restrict_domains")
    kept = [config.domain_names.index(name) for name in domains if name in config.domain_names]
    if len(kept) < 2 or len(set(kept)) != len(domains) or kept != sorted(kept):
        raise ValueError(f"restrict_domains: domains must be two or more distinct names of {config.domain_names}, "
                         f"in that order, got {tuple(domains)}")
    _, items, _, lengths = _draw_sequences(config)
    offsets = np.concatenate([[0], np.cumsum(config.n_items)])
    n_items = tuple(config.n_items[d] for d in kept)
    new_id = np.full(offsets[-1], PAD, dtype=np.int64)  # global id in the restricted world, PAD if dropped
    start = 0
    for d in kept:
        new_id[offsets[d]:offsets[d + 1]] = start + np.arange(config.n_items[d])
        start += config.n_items[d]
    keep = config.max_len
    train, train_users, splits = [], [], {"valid": ([], [], []), "test": ([], [], [])}
    for user, (row, n) in enumerate(zip(items, lengths)):
        seq = new_id[row[:n]]  # PAD where the event's domain is dropped
        prefix = seq[:-2][seq[:-2] != PAD]
        if len(prefix) >= 2:
            train.append(prefix[-(keep + 1):])
            train_users.append(user)
        for name, end in (("valid", n - 2), ("test", n - 1)):
            if seq[end] != PAD:
                before = seq[:end][seq[:end] != PAD]
                for column, value in zip(splits[name], (before[-keep:], seq[end], user)):
                    column.append(value)

    def cases(name: str) -> EvalSplit:
        histories, targets, users = splits[name]
        return EvalSplit(histories, np.array(targets, dtype=np.int64), np.array(users, dtype=np.int64))

    return CrossDomainDataset(
        name=f"synthetic-{config.name}-{''.join(domains)}", protocol="synthetic",
        domain_names=tuple(domains), n_items=n_items, train=train, valid=cases("valid"), test=cases("test"),
        max_len=keep, train_users=np.array(train_users, dtype=np.int64),
    )


def _config(config: SyntheticConfig | str, caller: str) -> SyntheticConfig:
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"{caller}: unknown preset {config!r}, choose one of {sorted(PRESETS)}")
        config = PRESETS[config]
    return config


def _draw_sequences(config: SyntheticConfig) -> tuple[SyntheticTruth, np.ndarray, np.ndarray, np.ndarray]:
    """(truth without labels, (users, longest) global ids and labels, PAD-filled, each user's length)."""
    rng = np.random.default_rng(config.seed)
    truth = _draw_world(config, rng)
    lengths = config.min_length + rng.poisson(config.mean_length - config.min_length, config.n_users)
    items = np.full((config.n_users, lengths.max()), PAD, dtype=np.int64)  # (users, longest)
    labels = np.full_like(items, PAD)
    last = np.full(config.n_users, PAD, dtype=np.int64)
    for t in range(items.shape[1]):  # one vectorised step for all users still active at time t
        active = np.flatnonzero(lengths > t)
        # the last two events are the validation and test targets: they keep η
        eta = np.where(t < lengths[active] - 2, config.train_eta, config.adhoc_noise)
        items[active, t], labels[active, t] = truth.sample_next(active, last[active], rng, adhoc_noises=eta)
        last[active] = items[active, t]
    return truth, items, labels, lengths


def restrict_to_domain(theta: np.ndarray, held: np.ndarray) -> np.ndarray:
    """θ_{u,d}: rows of θ over M restricted to the topics ``held`` (|M|,) by domain d and renormalised,
    0 elsewhere; returned as is when d holds every topic of M (so old arrays keep their bits)."""
    if held.all():
        return theta
    kept = np.where(held, theta, 0.0)
    return kept / kept.sum(-1, keepdims=True)


def _draw_world(config: SyntheticConfig, rng: np.random.Generator) -> SyntheticTruth:
    """Topics, each item's topic and within-topic weight, and every user's latent preferences."""
    n_users, multi = config.n_users, config.n_multi_topics
    membership = topic_membership(config)
    item_topic, item_weight = [], []
    for d, n_d in enumerate(config.n_items):
        topics = np.flatnonzero(membership[:, d])
        slot = np.empty(n_d, dtype=np.int64)
        slot[rng.permutation(n_d)] = np.arange(n_d)  # random ids: an item's id says nothing of its topic
        column, rank = slot % len(topics), slot // len(topics) + 1
        weight = rank ** -config.zipf_exponent  # Zipf-like popularity inside each topic
        item_topic.append(topics[column])
        item_weight.append(weight / np.bincount(column, weight)[column])
    alpha = config.topic_concentration
    k_spec = np.array(config.n_specific_topics)
    mean, conc = config.specific_rate, config.specific_concentration
    specificity = (rng.beta(mean * conc, (1 - mean) * conc, (n_users, config.n_domains))
                   if 0 < mean < 1 else np.full((n_users, config.n_domains), mean))
    weights = np.array(config.domain_weights or [1.0] * config.n_domains)
    theta = rng.dirichlet(np.full(multi, alpha), n_users)
    specific = tuple(rng.dirichlet(np.full(k, alpha), n_users) if k else np.zeros((n_users, 0))
                     for k in k_spec)
    domain = rng.dirichlet(config.domain_concentration * weights / weights.sum(), n_users)
    conflicted, by_domain = _draw_conflicts(config, theta)
    shared_by_domain = tuple(restrict_to_domain(t, membership[:multi, d]) for d, t in enumerate(by_domain))
    sparse_domain, domain = _draw_imbalance(config, domain)
    preferences = UserPreferences(
        shared=theta, specific=specific,
        specificity=np.where(k_spec > 0, specificity, 0.0),  # no specific topics: all shared
        domain=domain, shared_by_domain=shared_by_domain, conflicted=conflicted, sparse_domain=sparse_domain,
    )
    no_labels = EvalLabels([], np.zeros(0, dtype=np.int64))
    return SyntheticTruth(config, np.concatenate(item_topic), np.concatenate(item_weight), membership,
                          preferences, [], no_labels, no_labels)


def reverse_ranks(weights: np.ndarray) -> np.ndarray:
    """The "opposed" preference: each row's weights re-assigned in reverse rank order, so the topic
    with the j-th largest weight gets the j-th smallest (an involution; rows along the last axis)."""
    order = np.argsort(weights, axis=-1)  # (…, K) ascending
    opposed = np.empty_like(weights)
    np.put_along_axis(opposed, order, np.take_along_axis(weights, np.flip(order, -1), -1), -1)
    return opposed


def _draw_conflicts(config: SyntheticConfig, theta: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """(conflicted flags, θ_{u,d} per domain over all of M, before the restriction to M_d) from θ_u,
    with the knob's own generator [seed, 1]."""
    knob = np.random.default_rng([config.seed, 1])
    n_users, k = theta.shape
    conflicted = knob.random(n_users) < config.conflict_rate
    by_domain = [theta]
    for _ in range(1, config.n_domains):
        if not conflicted.any():
            other = theta
        elif config.conflict_kind == "opposed":
            other = reverse_ranks(theta)
        else:  # drawn for every user, so a user's draw does not depend on the rate
            other = knob.dirichlet(np.full(k, config.topic_concentration), n_users)
        by_domain.append(np.where(conflicted[:, None], other, theta))
    return conflicted, tuple(by_domain)


def _draw_imbalance(config: SyntheticConfig, domain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sparse domain or -1, π_u) with the knob's own generator [seed, 2]: an imbalanced user's
    π_u is ``imbalance_share`` on the sparse domain, the rest rescaled to share 1 - imbalance_share."""
    knob = np.random.default_rng([config.seed, 2])
    n_users, n_domains = domain.shape
    imbalanced = knob.random(n_users) < config.imbalance_rate
    sparse = np.where(imbalanced, knob.integers(n_domains, size=n_users), PAD)
    rows = np.flatnonzero(imbalanced)
    if len(rows):
        sparse_column = np.arange(n_domains) == sparse[rows][:, None]  # (rows, domains)
        rest = np.where(sparse_column, 0.0, domain[rows])
        total = rest.sum(1, keepdims=True)
        # a user whose draw put everything on the sparse domain spreads the rest evenly
        rest = np.where(total > 0, rest / np.maximum(total, np.finfo(float).tiny), ~sparse_column / (n_domains - 1))
        domain = domain.copy()
        domain[rows] = np.where(sparse_column, config.imbalance_share, (1 - config.imbalance_share) * rest)
    return sparse, domain


def _leave_one_out(config: SyntheticConfig, truth: SyntheticTruth, items: np.ndarray, labels: np.ndarray,
                   lengths: np.ndarray) -> tuple[CrossDomainDataset, SyntheticTruth]:
    """Last event = test target, second-to-last = validation target, the rest = training sequence."""
    keep = config.max_len

    def cut(rows: np.ndarray) -> tuple[list, list, np.ndarray, list, np.ndarray]:
        """(train, valid histories, valid targets, test histories, test targets) of (users, longest) rows."""
        seqs = [row[:n] for row, n in zip(rows, lengths)]
        return ([s[:-2][-(keep + 1):].copy() for s in seqs],
                [s[:-2][-keep:].copy() for s in seqs], np.array([s[-2] for s in seqs]),
                [s[:-1][-keep:].copy() for s in seqs], np.array([s[-1] for s in seqs]))

    users = np.arange(config.n_users, dtype=np.int64)
    train, valid, valid_targets, test, test_targets = cut(items)
    dataset = CrossDomainDataset(
        name=f"synthetic-{config.name}", protocol="synthetic", domain_names=config.domain_names,
        n_items=config.n_items, train=train, valid=EvalSplit(valid, valid_targets, users),
        test=EvalSplit(test, test_targets, users), max_len=keep, train_users=users,
    )
    train, valid, valid_targets, test, test_targets = cut(labels)
    truth = dataclasses.replace(truth, train_labels=train, valid_labels=EvalLabels(valid, valid_targets),
                                test_labels=EvalLabels(test, test_targets))
    return dataset, truth
