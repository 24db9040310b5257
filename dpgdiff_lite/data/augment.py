"""Sequence augmentations for the tri-view contrastive loss (eq. 13) and the injected noise of RQ3 (``test_noise``
in the test histories; ``train_noise``, a data-spec option of :mod:`dpgdiff_lite.data.sources`, in the training ones).

Every function is pure: it takes an np.int64 array of global item ids (time order, no padding) and
a ``numpy.random.Generator`` and returns a new array. The five operators are those the paper names
for ``s_aug`` — Crop, Mask, Reorder, Substitute, Insert — with CoSeRec's / CL4SRec's default rates
(crop keeps 60 %, mask / reorder span / substitute / insert 30 %). Unlike CoSeRec, substitutes and
insertions are not drawn from an item-similarity model but uniformly from the domain of the item
they replace or follow, so a cross-domain sequence keeps its domain pattern.

Masked events become :data:`MASK`; the model maps it to a learned mask embedding.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from dpgdiff_lite.data.dataset import PAD, domain_of, left_pad

MASK = -2
"""Item id of a masked event (global ids are ≥ 0 and PAD is -1); the model embeds it separately."""

AUGMENTATIONS = ("crop", "mask", "reorder", "substitute", "insert")
DEFAULT_RATES = {"crop": 0.6, "mask": 0.3, "reorder": 0.3, "substitute": 0.3, "insert": 0.3}
"""CoSeRec / CL4SRec defaults: crop keep-ratio, mask rate, reorder span ratio, substitute and
insert rates."""
SHORT_OPS = ("mask", "substitute", "insert")
"""The only operators applied to sequences shorter than :data:`MIN_LEN_CROP_REORDER`."""
MIN_LEN_CROP_REORDER = 4


def _check_rate(rate: float, name: str) -> None:
    if not 0 <= rate <= 1:
        raise ValueError(f"{name} must lie in [0, 1], got {rate}")


def _count(rate: float, n: int) -> int:
    """rate·n rounded half up (not numpy's half-to-even), capped at n."""
    return min(n, int(np.floor(rate * n + 0.5)))


def _same_domain_items(
    items: np.ndarray, offsets: np.ndarray, rng: np.random.Generator, exclude_self: bool
) -> np.ndarray:
    """One uniform random item from the domain of each of ``items`` (a different one if asked
    and the domain has more than one item)."""
    dom = domain_of(items, offsets)
    low, size = offsets[dom], offsets[dom + 1] - offsets[dom]
    if not exclude_self:
        return low + rng.integers(0, size)
    # draw among the size-1 other items, then skip over the item itself
    draw = rng.integers(0, np.maximum(size - 1, 1))
    other = low + draw + (draw >= items - low)
    return np.where(size > 1, other, items)


def crop(seq: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A random contiguous window keeping round(rate·n) events (at least one)."""
    _check_rate(rate, "crop: rate")
    n = len(seq)
    keep = max(1, _count(rate, n))
    start = rng.integers(0, n - keep + 1)
    return seq[start:start + keep].copy()


def mask(seq: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """round(rate·n) events, chosen without replacement, replaced by :data:`MASK`."""
    _check_rate(rate, "mask: rate")
    out = seq.copy()
    out[rng.choice(len(seq), _count(rate, len(seq)), replace=False)] = MASK
    return out


def reorder(seq: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Shuffle a random contiguous span of round(rate·n) events (at least two, so it can move)."""
    _check_rate(rate, "reorder: rate")
    n = len(seq)
    span = min(n, max(2, _count(rate, n)))
    start = rng.integers(0, n - span + 1)
    out = seq.copy()
    out[start:start + span] = rng.permutation(out[start:start + span])
    return out


def substitute(seq: np.ndarray, rate: float, offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """round(rate·n) events (at least one when rate > 0) replaced by a different random item of
    the same domain."""
    _check_rate(rate, "substitute: rate")
    n = len(seq)
    k = min(n, max(int(rate > 0), _count(rate, n)))
    where = rng.choice(n, k, replace=False)
    out = seq.copy()
    out[where] = _same_domain_items(seq[where], offsets, rng, exclude_self=True)
    return out


def insert(seq: np.ndarray, rate: float, offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """After round(rate·n) distinct events (at least one when rate > 0), insert a random item of
    that event's domain; the result has n + k events."""
    _check_rate(rate, "insert: rate")
    n = len(seq)
    k = min(n, max(int(rate > 0), _count(rate, n)))
    after = np.sort(rng.choice(n, k, replace=False))
    return np.insert(seq, after + 1, _same_domain_items(seq[after], offsets, rng, exclude_self=False))


def _check_ops(ops: tuple[str, ...]) -> None:
    unknown = [op for op in ops if op not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; valid ones are {AUGMENTATIONS}")


def apply(seq: np.ndarray, op: str, rate: float, offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The operator named ``op`` (one of :data:`AUGMENTATIONS`) at ``rate``: the dispatch that
    :func:`augment` and the augmentation lesson share."""
    _check_ops((op,))
    seq = np.asarray(seq, dtype=np.int64)
    if op == "substitute":
        return substitute(seq, rate, offsets, rng)
    if op == "insert":
        return insert(seq, rate, offsets, rng)
    return {"crop": crop, "mask": mask, "reorder": reorder}[op](seq, rate, rng)


def augment(
    seq: np.ndarray,
    offsets: np.ndarray,
    rng: np.random.Generator,
    ops: tuple[str, ...] = AUGMENTATIONS,
    rates: Mapping[str, float] | None = None,
) -> np.ndarray:
    """``s_aug`` for the tri-view loss (eq. 13): one operator of ``ops`` picked uniformly and applied.

    Sequences shorter than 4 only get mask / substitute / insert; with none of those allowed (or an
    empty sequence) the sequence comes back unchanged. ``rates`` overrides :data:`DEFAULT_RATES`.

    Implements eq. (13).
    """
    _check_ops(ops)
    rates = {**DEFAULT_RATES, **(rates or {})}
    _check_ops(tuple(rates))
    for op, rate in rates.items():
        _check_rate(rate, f"rates[{op!r}]")
    seq = np.asarray(seq, dtype=np.int64)
    allowed = ops if len(seq) >= MIN_LEN_CROP_REORDER else tuple(op for op in ops if op in SHORT_OPS)
    if not allowed or not len(seq):
        return seq.copy()
    op = allowed[rng.integers(len(allowed))]
    return apply(seq, op, rates[op], offsets, rng)


def augment_batch(
    items: np.ndarray,
    offsets: np.ndarray,
    rng: np.random.Generator,
    ops: tuple[str, ...] = AUGMENTATIONS,
    rates: Mapping[str, float] | None = None,
) -> np.ndarray:
    """:func:`augment` applied to each row of a left-padded (batch, length) array of global ids.

    The result has the same shape, left-padded with PAD; when an insertion makes a row longer,
    its most recent events are kept. All-PAD rows stay all-PAD.
    """
    items = np.asarray(items, dtype=np.int64)
    rows = [augment(row[row != PAD], offsets, rng, ops, rates) for row in items]
    return left_pad(rows, items.shape[1])


def inject_noise(
    seq: np.ndarray, rate: float, offsets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Test-time noise of the robustness study (RQ3): random substitution and insertion at ``rate``.

    Rule: each event is independently substituted, with probability rate/2, by a different random
    item of its own domain; then, after each (original) event, a random item of that event's domain
    is inserted with probability rate/2. A history of n events thus gets rate·n noisy events on
    average (half substitutions, half insertions) and ``rate = 0`` returns it unchanged.
    """
    _check_rate(rate, "inject_noise: rate")
    seq = np.asarray(seq, dtype=np.int64)
    n = len(seq)
    replacements = _same_domain_items(seq, offsets, rng, exclude_self=True)
    substituted = np.where(rng.random(n) < rate / 2, replacements, seq)
    inserted = rng.random(n) < rate / 2
    candidates = _same_domain_items(seq, offsets, rng, exclude_self=False)
    # interleave [event_1, insertion_1, event_2, insertion_2, …] and drop insertions not drawn
    slots = np.stack([substituted, candidates], axis=1)  # (n, 2)
    keep = np.stack([np.ones(n, dtype=bool), inserted], axis=1)
    return slots[keep]


def inject_noise_split(
    histories: list[np.ndarray], rate: float, offsets: np.ndarray, seed: int
) -> list[np.ndarray]:
    """:func:`inject_noise` applied to every history of an evaluation split with one seeded stream
    (targets are left alone)."""
    rng = np.random.default_rng(seed)
    return [inject_noise(history, rate, offsets, rng) for history in histories]


def align_noisy(history: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """For each event of ``noisy``, the index of the clean ``history`` event it keeps, or PAD where it
    was substituted or inserted: a longest-common-subsequence alignment of the two sequences."""
    n, m = len(history), len(noisy)
    common = np.zeros((n + 1, m + 1), dtype=np.int64)  # common[i, j]: LCS length of history[i:], noisy[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            common[i, j] = (common[i + 1, j + 1] + 1 if history[i] == noisy[j]
                            else max(common[i + 1, j], common[i, j + 1]))
    source, i, j = np.full(m, PAD, dtype=np.int64), 0, 0
    while i < n and j < m:
        if history[i] == noisy[j]:
            source[j], i, j = i, i + 1, j + 1
        elif common[i + 1, j] >= common[i, j + 1]:
            i += 1
        else:
            j += 1
    return source
