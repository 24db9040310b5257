"""Turn two Amazon ratings-only CSVs into a C2DSR folder (the paper's Experiment settings).

The paper's pipeline: drop users and items with fewer than 10 interactions, keep users with at
least 3 items in each domain, merge each user's two domains chronologically, and split
leave-one-out (last event = test, second-to-last = validation, the rest = training). The folder
written here is read back by :func:`dpgdiff_lite.data.c2dsr.load_c2dsr` with protocol "paper";
``data/README.md`` gives the exact line formats.
"""

from __future__ import annotations

import csv
import logging
import time
from array import array
from pathlib import Path

import numpy as np

COLUMNS = ("user", "item", "rating", "timestamp")
log = logging.getLogger(__name__)


def prepare_amazon(x_csv: str | Path, y_csv: str | Path, out_dir: str | Path, min_interactions: int = 10,
                   min_items_per_domain: int = 3, names: tuple[str, str] = ("X", "Y")) -> Path:
    """Filter, merge and split two ``user,item,rating,timestamp`` CSVs into C2DSR files in ``out_dir``.

    Choices: a user's interaction count is taken over both domains, an item's within its own
    domain (the same ASIN in both files is two items); "items in a domain" counts the user's
    interactions there. The three filters are repeated until none removes anything, which yields
    the largest subset meeting all three at once (independent of the order they are applied in).
    Events with equal timestamps keep their file order, X's before Y's. ``names`` label messages.
    """
    if min(min_interactions, min_items_per_domain) < 1 or max(min_interactions, 2 * min_items_per_domain) < 4:
        raise ValueError(f"min_interactions={min_interactions}, min_items_per_domain={min_items_per_domain}: "
                         "both must be ≥ 1 and guarantee every user ≥ 4 events (2 to train on, validation, test)")
    user_codes: dict[str, int] = {}
    parts = [_read_ratings(Path(p), user_codes) for p in (x_csv, y_csv)]
    user = np.concatenate([p[0] for p in parts])
    domain = np.concatenate([np.full(len(p[0]), d) for d, p in enumerate(parts)])
    n_x_codes = len(parts[0][3])
    item = np.concatenate([parts[0][1], parts[1][1] + n_x_codes])  # codes over both domains
    stamp = np.concatenate([p[2] for p in parts])

    n_users, n_codes = len(user_codes), n_x_codes + len(parts[1][3])
    keep = _paper_filter(user, domain, item, n_users, n_codes, min_interactions, min_items_per_domain)
    user, domain, item, stamp = user[keep], domain[keep], item[keep], stamp[keep]
    if len(user) == 0:
        raise ValueError(f"filtering {Path(x_csv).name} and {Path(y_csv).name} left no users (so no items in "
                         f"either domain): none has ≥ {min_interactions} interactions and ≥ "
                         f"{min_items_per_domain} items in each of {names[0]!r} and {names[1]!r}")

    user_keys = list(user_codes)  # codes were handed out in insertion order
    item_keys = parts[0][3] + parts[1][3]
    kept_users = sorted(np.unique(user).tolist(), key=user_keys.__getitem__)
    user_index = np.zeros(n_users, dtype=np.int64)
    user_index[kept_users] = np.arange(len(kept_users))
    item_lists, global_id, offset = [], np.zeros(n_codes, dtype=np.int64), 0
    for d in (0, 1):
        codes = sorted(np.unique(item[domain == d]).tolist(), key=item_keys.__getitem__)
        global_id[codes] = offset + np.arange(len(codes))
        item_lists.append([f"{offset + i}\t{item_keys[c]}\t{i}" for i, c in enumerate(codes)])
        offset += len(codes)

    # np.lexsort is stable: events with equal (user, time) keep file order, X's before Y's
    order = np.lexsort((stamp, user_index[user]))
    sequences = np.split(np.stack([global_id[item[order]], stamp[order]], 1),
                         np.flatnonzero(np.diff(user_index[user[order]])) + 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "Alist.txt", item_lists[0])
    _write(out / "Blist.txt", item_lists[1])
    _write(out / "userlist.txt", [f"{user_keys[c]}\t{i}" for i, c in enumerate(kept_users)])
    for filename, drop in (("traindata_new.txt", 2), ("validdata_new.txt", 1), ("testdata_new.txt", 0)):
        _write(out / filename, [_sequence_line(u, s[:len(s) - drop]) for u, s in enumerate(sequences)])
    log.info("%s: %d users, %d / %d items, %d events", out, len(kept_users), len(item_lists[0]),
             len(item_lists[1]), len(stamp))
    return out


def _paper_filter(user: np.ndarray, domain: np.ndarray, item: np.ndarray, n_users: int, n_codes: int,
                  min_interactions: int, min_items_per_domain: int) -> np.ndarray:
    """Mask of the events left once every user has ≥ ``min_interactions`` events over both domains and
    ≥ ``min_items_per_domain`` in each, and every item ≥ ``min_interactions`` (repeated to a fixed point)."""
    keep = np.ones(len(user), dtype=bool)
    while True:
        per_domain = np.stack([np.bincount(user[keep & (domain == d)], minlength=n_users) for d in (0, 1)])
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
