"""Amazon ratings-only CSVs, one per domain, filtered and split as in the paper's Experiment settings.

The paper's pipeline: drop users and items with fewer than 10 interactions, keep users with at
least 3 items in each domain, merge each user's domains chronologically, and split leave-one-out
(last event = test, second-to-last = validation, the rest = training). :func:`read_amazon` does the
filtering and the merge for two or more CSVs (one domain each) and returns the kept events;
:func:`amazon_dataset` splits them into a :class:`CrossDomainDataset` (protocol "paper"), and
:func:`write_c2dsr` writes two domains' events as a C2DSR folder (the format holds exactly two),
read back by :func:`dpgdiff_lite.data.c2dsr.load_c2dsr` into the same dataset. ``data/README.md``
gives the exact line formats.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpgdiff_lite.data.dataset import DOMAIN_LETTERS, CrossDomainDataset, EvalSplit

COLUMNS = ("user", "item", "rating", "timestamp")
CACHE_FORMAT = 1
"""Version of the ``.npz`` event cache written by :func:`save_events`."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AmazonEvents:
    """The events left by the paper's filters, sorted by user, then time (ties: domain order, then
    file order). Users are indexed in the order of their keys, each domain's items by their keys;
    global item ids put domain 0 first (the C2DSR convention)."""

    domain_names: tuple[str, ...]
    user_keys: list[str]  # [user index]
    item_keys: tuple[list[str], ...]  # [domain][local index]
    user: np.ndarray  # (events,) user index
    item: np.ndarray  # (events,) global item id
    stamp: np.ndarray  # (events,) unix seconds

    @property
    def n_items(self) -> tuple[int, ...]:
        return tuple(len(keys) for keys in self.item_keys)

    def sequences(self) -> list[np.ndarray]:
        """(events, 2) arrays of (global item id, timestamp), one per user in user order."""
        return np.split(np.stack([self.item, self.stamp], 1), np.flatnonzero(np.diff(self.user)) + 1)


def _listed(words: Sequence[str]) -> str:
    """'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def read_amazon(csvs: Sequence[str | Path], min_interactions: int = 10, min_items_per_domain: int = 3,
                names: Sequence[str] | None = None) -> AmazonEvents:
    """Filter and merge ``user,item,rating,timestamp`` CSVs, one per domain (at least two).

    Choices: a user's interaction count is taken over all domains, an item's within its own domain
    (the same ASIN in two files is two items); "items in a domain" counts the user's interactions
    there. The three filters are repeated until none removes anything, which yields the largest
    subset meeting all three at once (independent of the order they are applied in). Events with
    equal timestamps keep the domain order, then the file order. ``names`` (default X, Y, Z, …) label
    the domains and the messages.
    """
    paths = [Path(p) for p in csvs]
    n_domains = len(paths)
    names = tuple(names) if names is not None else tuple(DOMAIN_LETTERS[:n_domains])
    if n_domains < 2 or len(names) != n_domains:
        raise ValueError(f"read_amazon needs at least two CSVs (one per domain) and one name each, "
                         f"got {n_domains} CSVs and names {names}")
    if (min(min_interactions, min_items_per_domain) < 1
            or max(min_interactions, n_domains * min_items_per_domain) < 4):
        raise ValueError(f"min_interactions={min_interactions}, min_items_per_domain={min_items_per_domain}: "
                         "both must be ≥ 1 and guarantee every user ≥ 4 events (2 to train on, validation, test)")
    user_codes: dict[str, int] = {}
    parts = [_read_ratings(p, user_codes) for p in paths]
    code_offsets = np.cumsum([0] + [len(p[3]) for p in parts])  # item codes over all domains
    user = np.concatenate([p[0] for p in parts])
    domain = np.concatenate([np.full(len(p[0]), d) for d, p in enumerate(parts)])
    item = np.concatenate([p[1] + code_offsets[d] for d, p in enumerate(parts)])
    stamp = np.concatenate([p[2] for p in parts])

    n_users = len(user_codes)
    keep = _paper_filter(user, domain, item, n_users, int(code_offsets[-1]), n_domains, min_interactions,
                         min_items_per_domain)
    user, domain, item, stamp = user[keep], domain[keep], item[keep], stamp[keep]
    if len(user) == 0:
        files = _listed([p.name for p in paths])
        raise ValueError(f"filtering {files} left no users (so no items in {'either' if n_domains == 2 else 'any'} "
                         f"domain): none has ≥ {min_interactions} interactions and ≥ {min_items_per_domain} items "
                         f"in each of {_listed([repr(n) for n in names])}")

    user_keys = list(user_codes)  # codes were handed out in insertion order
    item_keys = [key for p in parts for key in p[3]]
    kept_users = sorted(np.unique(user).tolist(), key=user_keys.__getitem__)
    user_index = np.zeros(n_users, dtype=np.int64)
    user_index[kept_users] = np.arange(len(kept_users))
    kept_items, global_id, offset = [], np.zeros(int(code_offsets[-1]), dtype=np.int64), 0
    for d in range(n_domains):
        codes = sorted(np.unique(item[domain == d]).tolist(), key=item_keys.__getitem__)
        global_id[codes] = offset + np.arange(len(codes))
        kept_items.append([item_keys[c] for c in codes])
        offset += len(codes)
    # np.lexsort is stable: events with equal (user, time) keep domain order, then file order
    order = np.lexsort((stamp, user_index[user]))
    return AmazonEvents(names, [user_keys[c] for c in kept_users], tuple(kept_items), user_index[user[order]],
                        global_id[item[order]], stamp[order])


def amazon_dataset(events: AmazonEvents, max_len: int = 15, name: str | None = None) -> CrossDomainDataset:
    """Leave-one-out split of the kept events (protocol "paper"): per user, the last event is the test
    target, the second-to-last the validation target, the rest the training sequence; histories keep
    their latest ``max_len`` events, training sequences their latest ``max_len + 1`` (what
    :func:`~dpgdiff_lite.data.c2dsr.load_c2dsr` makes of the :func:`write_c2dsr` folder)."""
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    sequences = [s[:, 0] for s in events.sequences()]
    users = np.arange(len(sequences), dtype=np.int64)
    return CrossDomainDataset(
        name=name or "-".join(events.domain_names), protocol="paper", domain_names=events.domain_names,
        n_items=events.n_items, train=[s[:-2][-(max_len + 1):] for s in sequences],
        valid=EvalSplit([s[:-2][-max_len:] for s in sequences], np.array([s[-2] for s in sequences]), users),
        test=EvalSplit([s[:-1][-max_len:] for s in sequences], np.array([s[-1] for s in sequences]), users),
        max_len=max_len, train_users=users,
    )


def write_c2dsr(events: AmazonEvents, out_dir: str | Path) -> Path:
    """Write two domains' events as C2DSR files in ``out_dir``: item lists, users, and the leave-one-out
    sequence files (``data/README.md``). The C2DSR format holds two domains (Alist.txt, Blist.txt)."""
    if len(events.domain_names) != 2:
        raise ValueError(f"the C2DSR format holds two domains (Alist.txt, Blist.txt), got {len(events.domain_names)} "
                         f"({', '.join(events.domain_names)}); amazon_dataset builds an N-domain dataset directly")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    offset = 0
    for filename, keys in zip(("Alist.txt", "Blist.txt"), events.item_keys):
        _write(out / filename, [f"{offset + i}\t{key}\t{i}" for i, key in enumerate(keys)])
        offset += len(keys)
    _write(out / "userlist.txt", [f"{key}\t{i}" for i, key in enumerate(events.user_keys)])
    sequences = events.sequences()
    for filename, drop in (("traindata_new.txt", 2), ("validdata_new.txt", 1), ("testdata_new.txt", 0)):
        _write(out / filename, [_sequence_line(u, s[:len(s) - drop]) for u, s in enumerate(sequences)])
    log.info("%s: %d users, %s items, %d events", out, len(events.user_keys),
             " / ".join(map(str, events.n_items)), len(events.stamp))
    return out


def prepare_amazon(x_csv: str | Path, y_csv: str | Path, out_dir: str | Path, min_interactions: int = 10,
                   min_items_per_domain: int = 3, names: tuple[str, str] = ("X", "Y")) -> Path:
    """Filter, merge and split two ``user,item,rating,timestamp`` CSVs into C2DSR files in ``out_dir``
    (:func:`read_amazon`, then :func:`write_c2dsr`); ``names`` label messages."""
    return write_c2dsr(read_amazon([x_csv, y_csv], min_interactions, min_items_per_domain, names), out_dir)


def save_events(events: AmazonEvents, path: str | Path, sources: Sequence[str]) -> None:
    """Cache ``events`` as one ``.npz`` file (written atomically), with the ``sources`` they came from."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        np.savez(handle, format=CACHE_FORMAT, sources=np.array(list(sources)),
                 domain_names=np.array(events.domain_names), user_keys=np.array(events.user_keys, dtype=str),
                 n_items=np.array(events.n_items), item_keys=np.array([k for ks in events.item_keys for k in ks],
                                                                      dtype=str),
                 user=events.user, item=events.item, stamp=events.stamp)
    os.replace(temporary, path)


def load_events(path: str | Path, sources: Sequence[str]) -> AmazonEvents | None:
    """The events cached at ``path`` by :func:`save_events` from the same ``sources``, else None."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if int(saved["format"]) != CACHE_FORMAT or saved["sources"].tolist() != list(sources):
                return None
            bounds = np.cumsum([0, *saved["n_items"].tolist()])
            keys = saved["item_keys"].tolist()
            return AmazonEvents(tuple(saved["domain_names"].tolist()), saved["user_keys"].tolist(),
                                tuple(keys[a:b] for a, b in zip(bounds[:-1], bounds[1:])),
                                saved["user"], saved["item"], saved["stamp"])
    except (OSError, KeyError, ValueError):  # missing, truncated or foreign: rebuild it
        return None


def _paper_filter(user: np.ndarray, domain: np.ndarray, item: np.ndarray, n_users: int, n_codes: int,
                  n_domains: int, min_interactions: int, min_items_per_domain: int) -> np.ndarray:
    """Mask of the events left once every user has ≥ ``min_interactions`` events over all domains and
    ≥ ``min_items_per_domain`` in each, and every item ≥ ``min_interactions`` (repeated to a fixed point)."""
    keep = np.ones(len(user), dtype=bool)
    while True:
        per_domain = np.stack([np.bincount(user[keep & (domain == d)], minlength=n_users) for d in range(n_domains)])
        good_user = (per_domain.sum(0) >= min_interactions) & (per_domain.min(0) >= min_items_per_domain)
        good_item = np.bincount(item[keep], minlength=n_codes) >= min_interactions
        still = keep & good_user[user] & good_item[item]
        if (still == keep).all():
            return keep
        keep = still


def _read_ratings(path: Path, user_codes: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """User codes (shared across files), item codes, timestamps and the item keys of one CSV."""
    if not path.is_file():
        raise FileNotFoundError(f"ratings file {path} not found (expected CSV columns {','.join(COLUMNS)})")
    item_codes: dict[str, int] = {}
    users, items, stamps = array("q"), array("q"), array("q")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        first = next(reader, None)
        if first is None:
            raise ValueError(f"{path.name} is empty (expected CSV columns {','.join(COLUMNS)})")
        header = [field.strip().lower() for field in first]
        if set(header) & set(COLUMNS):
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise ValueError(f"{path.name} line 1: header {first} lacks column(s) {missing}; "
                                 f"expected {','.join(COLUMNS)}")
            columns, rows = [header.index(c) for c in COLUMNS], reader
        else:
            columns, rows = list(range(len(COLUMNS))), _chain(first, reader)
        width = len(header) if rows is reader else len(COLUMNS)
        for row in rows:
            if len(row) != width:
                raise ValueError(f"{path.name} line {reader.line_num}: expected {width} fields "
                                 f"({','.join(COLUMNS)}), got {len(row)}: {row}")
            try:
                stamps.append(int(float(row[columns[3]])))
            except (ValueError, OverflowError):
                raise ValueError(f"{path.name} line {reader.line_num}: timestamp must be a number, "
                                 f"got {row[columns[3]]!r}") from None
            users.append(user_codes.setdefault(row[columns[0]], len(user_codes)))
            items.append(item_codes.setdefault(row[columns[1]], len(item_codes)))
    if not stamps:
        raise ValueError(f"{path.name} holds a header but no ratings")
    return (np.frombuffer(users, dtype=np.int64), np.frombuffer(items, dtype=np.int64),
            np.frombuffer(stamps, dtype=np.int64), list(item_codes))


def _chain(first: list[str], rest):
    yield first
    yield from rest


def _sequence_line(user: int, events: np.ndarray) -> str:
    """``user_index<TAB>event count<TAB>item|unix_ts|date|…`` (C2DSR's layout, UTC dates)."""
    fields = [f"{item}|{ts}|{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(ts))}|" for item, ts in events.tolist()]
    return "\t".join([str(user), str(len(events))] + fields)


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
