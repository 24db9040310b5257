"""The one dataset type every data source produces, and the batches the models read.

Global item ids put domain 0 (X) first: domain ``d`` owns ids ``offsets[d] … offsets[d+1]-1``
(the C2DSR convention). A training sequence ``[v_1 … v_n]`` is used SASRec/C2DSR style: at every
position ``i < n`` the model sees ``v_1 … v_i`` (the mixed sequence s_c of the Problem
Formulation) and predicts ``v_{i+1}`` (eq. 7). An evaluation case is one history and one target.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor

PAD = -1
"""Padding value for item ids, domains and targets in every array and tensor."""
DOMAIN_LETTERS = "XYZABCDEFGHIJKLMNOPQRSTUVW"
"""Letters of the metrics record's domain keys and of the default names of N domains (X, Y, Z, A, …)."""


@dataclass(frozen=True)
class EvalSplit:
    """Validation or test cases: ``histories[i]`` (time-ordered global ids) precede ``targets[i]``."""

    histories: list[np.ndarray]
    targets: np.ndarray  # (cases,) global item ids
    users: np.ndarray  # (cases,) user index of each case

    def __len__(self) -> int:
        return len(self.targets)


@dataclass
class CrossDomainDataset:
    """Sequences over N ≥ 2 domains with a fixed train / validation / test split.

    ``protocol`` names how the split was made ("paper", "eval-split", "synthetic",
    "leave-one-out") and travels into every result.
    """

    name: str
    protocol: str
    domain_names: tuple[str, ...]
    n_items: tuple[int, ...]
    train: list[np.ndarray]
    valid: EvalSplit
    test: EvalSplit
    max_len: int = 15
    train_users: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if len(self.n_items) != len(self.domain_names) or len(self.n_items) < 2:
            raise ValueError(
                f"dataset {self.name!r}: need one item count per domain and at least two domains, "
                f"got n_items={self.n_items}, domain_names={self.domain_names}"
            )
        for name, count in zip(self.domain_names, self.n_items):
            if count <= 0:
                raise ValueError(f"dataset {self.name!r}: domain {name!r} has no items")

    @property
    def n_domains(self) -> int:
        return len(self.n_items)

    @property
    def offsets(self) -> np.ndarray:
        """``offsets[d]`` is the first global id of domain d; ``offsets[-1]`` the total item count."""
        return np.concatenate([[0], np.cumsum(self.n_items)]).astype(np.int64)

    def domain_of(self, ids: np.ndarray) -> np.ndarray:
        """Domain index of each global item id (PAD stays PAD)."""
        return domain_of(np.asarray(ids), self.offsets)

    def to_local(self, ids: np.ndarray) -> np.ndarray:
        """Index of each global id inside its own domain's table (PAD stays PAD)."""
        ids = np.asarray(ids)
        dom = self.domain_of(ids)
        return np.where(ids == PAD, PAD, ids - self.offsets[np.maximum(dom, 0)])

    def item_counts(self) -> np.ndarray:
        """How often each global item occurs in the training sequences, shape (total items,)."""
        flat = np.concatenate(self.train) if self.train else np.zeros(0, dtype=np.int64)
        return np.bincount(flat, minlength=int(self.offsets[-1]))

    def subsample_users(self, fraction: float, seed: int = 0) -> "CrossDomainDataset":
        """The same catalogue with a random ``fraction`` of the users (their training sequences and
        their validation and test cases): fewer events per item, a sparser catalogue."""
        users = np.unique(np.concatenate([self.train_users, self.valid.users, self.test.users]))
        rng = np.random.default_rng(seed)
        kept = rng.choice(users, size=max(1, round(fraction * len(users))), replace=False)

        def cases(split: EvalSplit) -> EvalSplit:
            rows = np.flatnonzero(np.isin(split.users, kept))
            return EvalSplit([split.histories[r] for r in rows], split.targets[rows], split.users[rows])

        train_rows = np.flatnonzero(np.isin(self.train_users, kept))
        return dataclasses.replace(self, name=f"{self.name}-users{fraction:g}",
                                   train=[self.train[r] for r in train_rows], valid=cases(self.valid),
                                   test=cases(self.test), train_users=self.train_users[train_rows])

    def statistics(self) -> pd.DataFrame:
        """Dataset statistics in the layout of the paper's Table 2 (one column per dataset)."""

        def per_domain(values: list[int]) -> str:
            return " / ".join(f"{v:,}" for v in values)

        def split_counts(split: EvalSplit) -> list[int]:
            dom = self.domain_of(split.targets)
            return [int((dom == d).sum()) for d in range(self.n_domains)]

        lengths = [len(s) for s in self.train]
        rows = {
            "#Items": per_domain(list(self.n_items)),
            "Avg. Sequence Length": f"{np.mean(lengths):.2f}" if lengths else "0.00",
            "#Training Sequences": f"{len(self.train):,}",
            "#Validation": per_domain(split_counts(self.valid)),
            "#Test": per_domain(split_counts(self.test)),
        }
        column = f"{self.name} ({' / '.join(self.domain_names)})"
        return pd.DataFrame({column: rows}).rename_axis("Statistic")


def domain_of(ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Domain of each global id given the domain ``offsets``; PAD maps to PAD."""
    dom = np.searchsorted(offsets[1:], ids, side="right")
    return np.where(ids == PAD, PAD, dom)


def left_pad(sequences: list[np.ndarray], length: int) -> np.ndarray:
    """Stack sequences into a (len(sequences), length) array, keeping the most recent events."""
    out = np.full((len(sequences), length), PAD, dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = np.asarray(seq, dtype=np.int64)[-length:] if length else seq[:0]
        if len(tail):
            out[row, length - len(tail):] = tail
    return out


@dataclass
class Batch:
    """Tensors for one mini-batch; every sequence is left-padded so position -1 is the latest event.

    ``domain_items[d]`` is the subsequence s_d of eq. (8) as local ids of domain d, compacted and
    left-padded; ``domain_positions[d]`` holds each of its events' position in the mixed sequence
    (see :func:`positions`); ``domain_index[d][b, i]`` is the column of ``domain_items[d]`` holding the latest
    domain-d event at or before mixed position i (PAD if the user has none yet), so a per-domain
    encoder's output can be read off causally at every mixed position.
    """

    items: Tensor  # (batch, length) global ids
    local_items: Tensor  # (batch, length) ids inside each event's own domain
    domains: Tensor  # (batch, length)
    targets: Tensor  # (batch, length) global id of the next item, PAD where no target
    target_local: Tensor  # (batch, length)
    target_domains: Tensor  # (batch, length)
    domain_items: list[Tensor]  # [domain] (batch, length_d) local ids
    domain_index: list[Tensor]  # [domain] (batch, length)
    domain_positions: list[Tensor]  # [domain] (batch, length_d) mixed-sequence position of each event
    users: Tensor  # (batch,) user index of each row, PAD when unknown

    @property
    def padding_mask(self) -> Tensor:
        """True at padded positions, shape (batch, length)."""
        return self.items == PAD

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        move = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Batch(
            items=move(self.items),
            local_items=move(self.local_items),
            domains=move(self.domains),
            targets=move(self.targets),
            target_local=move(self.target_local),
            target_domains=move(self.target_domains),
            domain_items=[move(t) for t in self.domain_items],
            domain_index=[move(t) for t in self.domain_index],
            domain_positions=[move(t) for t in self.domain_positions],
            users=move(self.users),
        )

    def __len__(self) -> int:
        return self.items.shape[0]


def make_batch(
    items: np.ndarray, targets: np.ndarray, offsets: np.ndarray, users: np.ndarray | None = None
) -> Batch:
    """Build a :class:`Batch` from left-padded (batch, length) arrays of global ids (vectorised)."""
    items = np.asarray(items, dtype=np.int64)
    users = np.full(len(items), PAD, dtype=np.int64) if users is None else np.asarray(users, np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    domains = domain_of(items, offsets)
    target_domains = domain_of(targets, offsets)
    local = np.where(items == PAD, PAD, items - offsets[np.maximum(domains, 0)])
    target_local = np.where(targets == PAD, PAD, targets - offsets[np.maximum(target_domains, 0)])
    mixed_positions = positions(items)
    domain_items, domain_index, domain_positions = [], [], []
    for d in range(len(offsets) - 1):
        in_d = domains == d  # (batch, length)
        running = np.cumsum(in_d, axis=1)  # events of domain d up to and including each position
        count = running[:, -1:]  # (batch, 1)
        width = max(int(count.max(initial=0)), 1)
        column = width - count + running - 1  # column of the latest d-event in the compact layout
        compact = np.full((items.shape[0], width), PAD, dtype=np.int64)
        r, c = np.nonzero(in_d)
        compact[r, column[r, c]] = local[r, c]
        compact_positions = np.zeros_like(compact)
        compact_positions[r, column[r, c]] = mixed_positions[r, c]
        domain_items.append(torch.from_numpy(compact))
        domain_positions.append(torch.from_numpy(compact_positions))
        domain_index.append(torch.from_numpy(np.where(running > 0, column, PAD)))
    return Batch(
        items=torch.from_numpy(items),
        local_items=torch.from_numpy(local),
        domains=torch.from_numpy(domains),
        targets=torch.from_numpy(targets),
        target_local=torch.from_numpy(target_local),
        target_domains=torch.from_numpy(target_domains),
        domain_items=domain_items,
        domain_index=domain_index,
        domain_positions=domain_positions,
        users=torch.from_numpy(users),
    )


def positions(items: np.ndarray | Tensor):
    """Position of each event counted from the oldest kept event (0, 1, …; padding gets 0).

    Counting from the start rather than from the end means a position never reveals how many
    events follow it, so training at every position leaks nothing about the targets.
    """
    real = items != PAD
    count = real.cumsum(1) if isinstance(items, np.ndarray) else real.long().cumsum(1)
    return (count - 1).clip(0) if isinstance(items, np.ndarray) else (count - 1).clamp(min=0)


def pad_training(sequences: list[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``v_1 … v_{n-1}`` and next-item targets ``v_2 … v_n`` of every training sequence,
    each left-padded to ``max_len`` (the most recent events kept)."""
    inputs = left_pad([s[:-1] for s in sequences], max_len)
    targets = left_pad([s[1:] for s in sequences], max_len)
    return inputs, targets


def pad_eval(split: EvalSplit, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Histories left-padded to ``max_len`` and a target only at the last position."""
    inputs = left_pad(split.histories, max_len)
    targets = np.full_like(inputs, PAD)
    targets[:, -1] = split.targets
    return inputs, targets


def case_batch(dataset: CrossDomainDataset, cases, split: str = "test",
               histories: list[np.ndarray] | None = None) -> Batch:
    """One batch of evaluation cases (target at the last position), with their user indices.

    ``histories`` replaces the cases' histories (e.g. noisy copies), one per case.
    """
    split_cases: EvalSplit = getattr(dataset, split)
    cases = np.atleast_1d(np.asarray(cases, dtype=np.int64))
    chosen = [split_cases.histories[c] for c in cases] if histories is None else list(histories)
    inputs, targets = pad_eval(EvalSplit(chosen, split_cases.targets[cases], split_cases.users[cases]), dataset.max_len)
    return make_batch(inputs, targets, dataset.offsets, split_cases.users[cases])


def iterate_batches(
    inputs: np.ndarray,
    targets: np.ndarray,
    offsets: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    users: np.ndarray | None = None,
):
    """Yield :class:`Batch` objects over padded arrays, shuffled when ``rng`` is given."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = rng.permutation(len(inputs)) if rng is not None else np.arange(len(inputs))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield make_batch(inputs[idx], targets[idx], offsets, None if users is None else users[idx])
