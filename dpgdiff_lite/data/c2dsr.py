"""Reader for the cross-domain sequence files published with C2DSR (Cao et al., CIKM 2022), the
data of the paper's Table 2 (Amazon Food–Kitchen, Movie–Book).

A folder holds ``Alist.txt`` / ``Blist.txt`` (one item a line; domain X owns global ids
``0 … nA-1``, domain Y ``nA … nA+nB-1``), ``userlist.txt`` and one sequence a line in
``validdata_new.txt``, ``testdata_new.txt`` and, in the full download, ``traindata_new.txt``::

    user_index<TAB>interaction_index<TAB>item|unix_ts|date|<TAB>item|unix_ts|date|…

Events are sorted by timestamp (stably) and the last one is the case's target. With
``traindata_new.txt`` the split is the paper's ("paper"); without it, "eval-split": every valid and
test sequence minus its last event is training data (see ``data/README.md``).

Every line is read exactly or refused with a ValueError naming the file, the line and the field:
lines may end in LF, CRLF or CR, and a UTF-8 byte-order mark and a trailing tab are accepted (the
same dataset as the clean file); an empty line, bytes that are not UTF-8, an item list not numbered
0, 1, 2, … in line order, an ASIN, user key or user index given twice, a user with two sequences in
one file, or an integer field holding anything but ASCII digits are refused.

The format holds exactly two domains; a folder with a third item list (``Clist.txt``, …) is refused
rather than read as two (three or more domains come from ratings CSVs: ``amazon:A.csv,B.csv,C.csv``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dpgdiff_lite.data.dataset import CrossDomainDataset, EvalSplit

ITEM_LISTS = ("Alist.txt", "Blist.txt")
SEQUENCE_FILES = ("traindata_new.txt", "validdata_new.txt", "testdata_new.txt")
LAYOUT = ("a C2DSR folder holds Alist.txt, Blist.txt, userlist.txt, validdata_new.txt and "
          "testdata_new.txt (traindata_new.txt optional)")
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, accepted at the start of a file
SHOWN = 60
"""Characters of a bad field or line that a message shows."""


def load_c2dsr(path: str | Path, max_len: int = 15) -> CrossDomainDataset:
    """Load a C2DSR folder; histories keep their latest ``max_len`` events (C2DSR: 15), training
    sequences their latest ``max_len + 1`` so that every input position sees at most ``max_len``."""
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"C2DSR folder {folder} not found: {LAYOUT}")
    extra = sorted(p.name for p in folder.glob("[C-Z]list.txt"))
    if extra:
        raise ValueError(f"C2DSR folder {folder} holds {', '.join(extra)}, but the C2DSR format has two domains "
                         f"(Alist.txt, Blist.txt); for three or more domains load ratings CSVs, one per domain "
                         f"(amazon:A.csv,B.csv,C.csv)")
    name = folder.resolve().name
    parts = name.split("-")
    domain_names = tuple(parts) if len(parts) == 2 and all(parts) else ("X", "Y")
    n_items = tuple(_count_items(_require(folder, f), d) for f, d in zip(ITEM_LISTS, domain_names))
    users = _read_userlist(_require(folder, "userlist.txt"))
    bounds = (n_items[0], sum(n_items), domain_names)
    valid_users, valid = _read_sequences(_require(folder, "validdata_new.txt"), bounds, users)
    test_users, test = _read_sequences(_require(folder, "testdata_new.txt"), bounds, users)
    if (folder / "traindata_new.txt").exists():
        protocol = "paper"
        train_users, train = _read_sequences(folder / "traindata_new.txt", bounds, users)
    else:
        protocol = "eval-split"  # no test target is ever seen in training
        train_users = np.concatenate([valid_users, test_users])
        train = [s[:-1] for s in valid + test]
    return CrossDomainDataset(
        name=name, protocol=protocol, domain_names=domain_names, n_items=n_items,
        train=[s[-(max_len + 1):] for s in train],
        valid=_last_event_cases(valid, valid_users, max_len),
        test=_last_event_cases(test, test_users, max_len),
        max_len=max_len, train_users=train_users,
    )


def _require(folder: Path, filename: str) -> Path:
    path = folder / filename
    if not path.is_file():
        raise FileNotFoundError(f"{filename} not found in {folder}: {LAYOUT}")
    return path


def _lines(path: Path, expected: str):
    """Yield (1-based line number, line without its line ending) of a UTF-8 file; CRLF and CR endings
    and a byte-order mark are accepted, an empty file or line and bytes that are not UTF-8 are errors."""
    number = 0
    with path.open("rb") as handle:
        for raw in handle:
            # a lone CR ends a line too (old Mac files), as in Python's universal newlines
            pieces = raw.rstrip(b"\n").removesuffix(b"\r").split(b"\r")
            for piece in pieces:
                number += 1
                if number == 1:
                    piece = piece.removeprefix(BOM)
                try:
                    line = piece.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(f"{path.name} line {number}: expected UTF-8 text ({expected}), got byte "
                                     f"{piece[error.start]:#04x} at column {error.start + 1}") from None
                if not line.strip():
                    raise ValueError(f"{path.name} line {number}: expected {expected}, got an empty line")
                yield number, line
    if number == 0:
        raise ValueError(f"{path.name} is empty: expected {expected}")


def _shown(text: str) -> str:
    """``repr(text)``, cut to a readable length for a message."""
    return repr(text) if len(text) <= SHOWN else repr(text[:SHOWN]) + "…"


def _fields(line: str, count: int, path: Path, number: int, layout: str) -> list[str]:
    """The ``count`` tab-separated fields of a line (one trailing tab is accepted)."""
    fields = line.removesuffix("\t").split("\t")
    if len(fields) != count:
        raise ValueError(f"{path.name} line {number}: expected {layout}, got {_shown(line)}")
    return fields


def _count_items(path: Path, domain: str) -> int:
    """Items of one domain: one line each (``original_id<TAB>ASIN<TAB>local_index``), the local indices
    0, 1, 2, … in line order (global ids follow the line order), every ASIN and original id once."""
    layout = "'original_id<TAB>ASIN<TAB>local_index'"
    asins: dict[str, int] = {}
    original_ids: dict[str, int] = {}
    count = 0
    for number, line in _lines(path, f"one item of domain {domain!r} a line, {layout}"):
        original, asin, local = _fields(line, 3, path, number, layout)
        for key, what in ((original, "original_id"), (asin, "ASIN")):
            if not key.strip():
                raise ValueError(f"{path.name} line {number}: expected {layout} with a non-empty {what}, "
                                 f"got {_shown(line)}")
        if _integer(local, path, number, "local_index") != count:
            raise ValueError(f"{path.name} line {number}: expected local_index {count} (items are numbered 0, 1, 2, "
                             f"… in line order), got {_shown(local)}")
        _once(asin, asins, "ASIN", path, number)
        _once(original, original_ids, "original_id", path, number)
        count += 1
    return count


def _once(value: str | int, seen: dict, what: str, path: Path, number: int) -> None:
    """Record ``value`` (a key or index of ``what``) as seen on line ``number``, refusing a second time."""
    if value in seen:
        raise ValueError(f"{path.name} line {number}: expected each {what} once, got {_shown(str(value))} again "
                         f"(first on line {seen[value]})")
    seen[value] = number


def _read_userlist(path: Path) -> set[int]:
    """User indices of ``user_key<TAB>user_index`` lines, each key and index once."""
    layout = "'user_key<TAB>user_index'"
    keys: dict[str, int] = {}
    users: dict[int, int] = {}
    for number, line in _lines(path, f"one {layout} a line"):
        key, index = _fields(line, 2, path, number, layout)
        index = _integer(index, path, number, "user_index")
        if not key.strip():
            raise ValueError(f"{path.name} line {number}: expected {layout} with a non-empty user_key, "
                             f"got {_shown(line)}")
        _once(key, keys, "user_key", path, number)
        _once(index, users, "user_index", path, number)
    return set(users)


INTEGER = re.compile(r"-?[0-9]{1,18}")
"""What an integer field holds: ASCII digits with an optional minus, within int64 (no spaces, no
``_``, no other scripts' digits, which ``int()`` would accept)."""


def _integer(text: str, path: Path, number: int, what: str) -> int:
    if INTEGER.fullmatch(text) is None:
        raise ValueError(f"{path.name} line {number}: {what} must be an integer, got {_shown(text)}")
    return int(text)


def _read_sequences(path: Path, bounds: tuple[int, int, tuple[str, ...]],
                    users: set[int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """User index and time-ordered global item ids of every line of a sequence file (each user once)."""
    n_x, total, names = bounds
    line_users, sequences, first_line = [], [], {}
    expected = "one 'user_index<TAB>interaction_index<TAB>item|timestamp|date|<TAB>…' sequence a line"
    for number, line in _lines(path, expected):
        fields = line.rstrip("\t").split("\t")
        user = _integer(fields[0], path, number, "user_index")
        if user not in users:
            raise ValueError(f"{path.name} line {number}: user_index {user} is not in userlist.txt")
        if user in first_line:
            raise ValueError(f"{path.name} line {number}: expected one sequence per user, got user_index {user} "
                             f"again (first on line {first_line[user]})")
        first_line[user] = number
        if len(fields) < 4:
            raise ValueError(f"{path.name} line {number}: a sequence needs at least 2 'item|timestamp' "
                             f"events after user_index and interaction_index, got {max(len(fields) - 2, 0)}")
        _integer(fields[1], path, number, "interaction_index")
        items, stamps = [], []
        for field in fields[2:]:
            item, bar, rest = field.partition("|")
            if not bar:
                raise ValueError(f"{path.name} line {number}: expected 'item|timestamp', got {_shown(field)}")
            items.append(_integer(item, path, number, "item id"))
            stamps.append(_integer(rest.partition("|")[0], path, number, "timestamp"))
        for item in items:
            if not 0 <= item < total:
                raise ValueError(f"{path.name} line {number}: item id {item} is outside both domains "
                                 f"({names[0]}: 0 … {n_x - 1}, {names[1]}: {n_x} … {total - 1})")
        order = sorted(range(len(stamps)), key=stamps.__getitem__)  # stable: ties keep file order
        line_users.append(user)
        sequences.append(np.array([items[i] for i in order], dtype=np.int64))
    return np.array(line_users, dtype=np.int64), sequences


def _last_event_cases(sequences: list[np.ndarray], users: np.ndarray, max_len: int) -> EvalSplit:
    """One case per sequence: its last event, given (at most ``max_len``) events before it."""
    targets = np.array([s[-1] for s in sequences], dtype=np.int64)
    return EvalSplit([s[:-1][-max_len:] for s in sequences], targets, users)
