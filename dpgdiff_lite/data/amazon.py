"""Amazon ratings-only CSVs, one per domain, filtered and split as in the paper's Experiment settings.

The paper's pipeline: drop users and items with fewer than 10 interactions, keep users with at
least 3 items in each domain, merge each user's domains chronologically, and split leave-one-out
(last event = test, second-to-last = validation, the rest = training). :func:`read_amazon` does the
filtering and the merge for two or more CSVs (one domain each) and returns the kept events;
:func:`amazon_dataset` splits them into a :class:`CrossDomainDataset` (protocol "paper"), and
:func:`write_c2dsr` writes two domains' events as a C2DSR folder (the format holds exactly two),
read back by :func:`dpgdiff_lite.data.c2dsr.load_c2dsr` into the same dataset. ``data/README.md``
gives the exact line formats.

A CSV is read exactly or refused naming its file, line and field (UTF-8, a byte-order mark and a
trailing comma accepted; a timestamp must be whole unix seconds, never rounded); every rating read
is kept or counted by the filter that dropped it (``AmazonEvents.read`` and ``.dropped``).
"""

from __future__ import annotations

import csv
import logging
import os
import re
import time
import zipfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from dpgdiff_lite.data.dataset import DOMAIN_LETTERS, CrossDomainDataset, EvalSplit

COLUMNS = ("user", "item", "rating", "timestamp")
CACHE_FORMAT = 2
"""Version of the ``.npz`` event cache written by :func:`save_events` (2: with the filters' counts)."""
FILTERS = {
    "user_interactions": "users with fewer than min_interactions ratings over all domains",
    "user_domain_items": "users with fewer than min_items_per_domain ratings in some domain",
    "item_interactions": "items with fewer than min_interactions ratings",
}
"""The paper's three filters, in the order a dropped rating is charged to the first one it fails."""
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
"""A decimal number as the CSVs write it (spaces or tabs around it allowed; no ``_``, no other scripts'
digits, no nan or inf, no line break, so a stray quote cannot merge two lines into one rating)."""
SHOWN = 60
"""Characters of a bad field that a message shows."""
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
    read: tuple[int, ...] = ()  # ratings read from each CSV (every line but the header)
    dropped: dict[str, int] = field(default_factory=dict)  # ratings each of FILTERS removed

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
    if n_domains < 2 or len(names) != n_domains or len(set(names)) != n_domains:
        raise ValueError(f"read_amazon needs at least two CSVs (one per domain) and one distinct name each, "
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
    keep, dropped = _paper_filter(user, domain, item, n_users, int(code_offsets[-1]), n_domains, min_interactions,
                                  min_items_per_domain)
    read = tuple(len(p[0]) for p in parts)
    log.info("%s: %d ratings read, %s dropped, %d kept", _listed([p.name for p in paths]), sum(read),
             ", ".join(f"{n} by {name}" for name, n in dropped.items()), int(keep.sum()))
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
                        global_id[item[order]], stamp[order], read, dropped)


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
                 user=events.user, item=events.item, stamp=events.stamp, read=np.array(events.read, dtype=np.int64),
                 dropped=np.array([events.dropped.get(name, 0) for name in FILTERS], dtype=np.int64))
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
                                saved["user"], saved["item"], saved["stamp"], tuple(saved["read"].tolist()),
                                dict(zip(FILTERS, saved["dropped"].tolist())))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # missing, truncated or foreign: rebuild it
        return None


def _paper_filter(user: np.ndarray, domain: np.ndarray, item: np.ndarray, n_users: int, n_codes: int,
                  n_domains: int, min_interactions: int, min_items_per_domain: int) -> tuple[np.ndarray, dict[str, int]]:
    """Mask of the events left once every user has ≥ ``min_interactions`` events over all domains and
    ≥ ``min_items_per_domain`` in each, and every item ≥ ``min_interactions`` (repeated to a fixed point),
    and how many events each of :data:`FILTERS` removed (an event failing several counts for the first)."""
    keep = np.ones(len(user), dtype=bool)
    dropped = dict.fromkeys(FILTERS, 0)
    while True:
        per_domain = np.stack([np.bincount(user[keep & (domain == d)], minlength=n_users) for d in range(n_domains)])
        enough = per_domain.sum(0) >= min_interactions
        spread = per_domain.min(0) >= min_items_per_domain
        good_item = np.bincount(item[keep], minlength=n_codes) >= min_interactions
        fails = (keep & ~enough[user], keep & enough[user] & ~spread[user],
                 keep & enough[user] & spread[user] & ~good_item[item])
        if not any(f.any() for f in fails):
            return keep, dropped
        for name, fail in zip(FILTERS, fails):
            dropped[name] += int(fail.sum())
            keep = keep & ~fail


def _read_ratings(path: Path, user_codes: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """User codes (shared across files), item codes, timestamps and the item keys of one CSV (UTF-8,
    a byte-order mark and a trailing comma accepted)."""
    if not path.is_file():
        raise FileNotFoundError(f"ratings file {path} not found (expected CSV columns {','.join(COLUMNS)})")
    try:
        return _parse_ratings(path, user_codes)
    except UnicodeDecodeError:
        number, column, byte = _first_bad_byte(path)
        raise ValueError(f"{path.name} line {number}: expected UTF-8 text (CSV columns {','.join(COLUMNS)}), "
                         f"got byte {byte:#04x} at column {column}") from None


def _parse_ratings(path: Path, user_codes: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    item_codes: dict[str, int] = {}
    users, items, stamps = array("q"), array("q"), array("q")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            first = next(reader, None)
            if first is None:
                raise ValueError(f"{path.name} is empty (expected CSV columns {','.join(COLUMNS)})")
            header = _without_trailing_empty([field.strip().lower() for field in first])
            if set(header) & set(COLUMNS):
                missing = [c for c in COLUMNS if c not in header]
                twice = sorted({c for c in COLUMNS if header.count(c) > 1})
                if missing or twice:
                    fault = f"lacks column(s) {missing}" if missing else f"names column(s) {twice} twice"
                    raise ValueError(f"{path.name} line 1: header {_shown(first)} {fault}; expected {','.join(COLUMNS)}")
                columns, rows = [header.index(c) for c in COLUMNS], reader
            else:
                columns, rows = list(range(len(COLUMNS))), _chain(first, reader)
            width = len(header) if rows is reader else len(COLUMNS)
            for row in rows:
                row = row[:width] if len(row) == width + 1 and not row[-1].strip(" \t") else row  # a trailing comma
                if len(row) != width:
                    got = f"{len(row)}: {_shown(row)}" if row else "an empty line"
                    raise ValueError(f"{path.name} line {reader.line_num}: expected {width} fields "
                                     f"({','.join(COLUMNS)}), got {got}")
                user, item, rating, stamp = (row[c] for c in columns)
                where = f"{path.name} line {reader.line_num}"
                _check_key(user, where, "user")
                _check_key(item, where, "item")
                _rating(rating, where)
                stamps.append(_timestamp(stamp, where))
                users.append(user_codes.setdefault(user, len(user_codes)))
                items.append(item_codes.setdefault(item, len(item_codes)))
        except csv.Error as error:
            raise ValueError(f"{path.name} line {reader.line_num}: expected CSV fields ({','.join(COLUMNS)}), "
                             f"got a row the csv module refuses ({error})") from None
    if not stamps:
        raise ValueError(f"{path.name} holds a header but no ratings")
    return (np.frombuffer(users, dtype=np.int64), np.frombuffer(items, dtype=np.int64),
            np.frombuffer(stamps, dtype=np.int64), list(item_codes))


def _without_trailing_empty(fields: list[str]) -> list[str]:
    """A header line's fields without the empty one a trailing comma leaves."""
    return fields[:-1] if len(fields) > 1 and not fields[-1] else fields


def _shown(value) -> str:
    """``repr(value)``, cut to a readable length for a message."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _check_key(key: str, where: str, what: str) -> None:
    """A user or item key: non-empty and on one line (a stray quote would swallow the next lines)."""
    if not key.strip() or "\n" in key or "\r" in key:
        raise ValueError(f"{where}: {what} must be a non-empty key on one line, got {_shown(key)}")


def _rating(text: str, where: str) -> float:
    """The rating is not used (the data is implicit feedback), but a row whose rating is no number is
    not a rating: a shifted or truncated line."""
    if NUMBER.fullmatch(text.strip(" \t")) is None or not np.isfinite(float(text)):
        raise ValueError(f"{where}: rating must be a finite number, got {_shown(text)}")
    return float(text)


def _timestamp(text: str, where: str) -> int:
    """Unix seconds, exactly: ``1393113600``, ``1393113600.0`` or ``1.3931136e9``; never rounded."""
    if NUMBER.fullmatch(text.strip(" \t")) is None:
        raise ValueError(f"{where}: timestamp must be a number, got {_shown(text)}")
    value = Decimal(text.strip(" \t"))
    if value.adjusted() > 18 or not -2 ** 63 <= value < 2 ** 63:
        raise ValueError(f"{where}: timestamp must be unix seconds within ±2^63, got {_shown(text)}")
    if value != value.to_integral_value():
        raise ValueError(f"{where}: timestamp must be whole unix seconds, got {_shown(text)}")
    return int(value)


def _first_bad_byte(path: Path) -> tuple[int, int, int]:
    """(line, column, byte) of the first byte of ``path`` that is not UTF-8 text."""
    number = 0
    with path.open("rb") as handle:
        for raw in handle:
            for piece in raw.rstrip(b"\n").removesuffix(b"\r").split(b"\r"):  # CR ends a line too, as in csv
                number += 1
                try:
                    piece.decode("utf-8")
                except UnicodeDecodeError as error:
                    return number, error.start + 1, piece[error.start]
    return number, 1, 0


def _chain(first: list[str], rest):
    yield first
    yield from rest


def _sequence_line(user: int, events: np.ndarray) -> str:
    """``user_index<TAB>event count<TAB>item|unix_ts|date|…`` (C2DSR's layout, UTC dates)."""
    fields = [f"{item}|{ts}|{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(ts))}|" for item, ts in events.tolist()]
    return "\t".join([str(user), str(len(events))] + fields)


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
