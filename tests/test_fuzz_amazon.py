"""Property-based fuzzing of the Amazon ratings-CSV reader (issue 33): benign variations read as the
clean file, faults refused naming file, line and field, and every line read, refused or counted by
one of the paper's named filters."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpgdiff_lite.cli import main
from dpgdiff_lite.data.amazon import FILTERS, read_amazon
from test_fuzz_inputs import NASTY_FIELDS, fuzz_settings

LOOSE = dict(min_interactions=2, min_items_per_domain=2)  # small worlds keep some users
REFUSAL = re.compile(r"^(x|y)\.csv (line \d+: .*(expected|must|lacks|names column)|is empty \(expected|"
                     r"holds a header but no ratings)|^filtering x\.csv and y\.csv left no users")


@st.composite
def ratings(draw) -> tuple[list, list]:
    """Rows (user, item, rating, timestamp) of two domains: three users who pass every filter, and
    random rows that may be filtered out."""
    rows = []
    for domain in "ab":
        base = [(f"u{u}", f"{domain}{i}", 5, 10 * u + i) for u in range(3) for i in range(2)]
        extra = draw(st.lists(st.tuples(st.sampled_from(["u0", "u3", "u4", "u5"]),
                                        st.sampled_from([f"{domain}{i}" for i in range(4)]),
                                        st.integers(1, 5), st.integers(0, 40)), max_size=8))
        rows.append(base + extra)
    return rows[0], rows[1]


def render(rows: list, header: bool = True, newline: str = "\n", bom: bool = False, trailing_comma: bool = False,
           quote_all: bool = False, float_stamps: bool = False, final_newline: bool = True) -> bytes:
    """One CSV as bytes; the keyword arguments are benign variations of the format."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    tail = [""] if trailing_comma else []
    if header:
        writer.writerow(["user", "item", "rating", "timestamp"] + tail)
    for user, item, rating, stamp in rows:
        writer.writerow([user, item, rating, f"{stamp}.0" if float_stamps else stamp] + tail)
    text = buffer.getvalue()
    if not final_newline:
        text = text.removesuffix(newline)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def read(folder: Path, x: bytes | None, y: bytes | None):
    for name, data in (("x.csv", x), ("y.csv", y)):
        if data is not None:
            (folder / name).write_bytes(data)
    return read_amazon([folder / "x.csv", folder / "y.csv"], **LOOSE)


def same_events(a, b) -> bool:
    return ((a.domain_names, a.user_keys, a.item_keys, a.read, a.dropped) ==
            (b.domain_names, b.user_keys, b.item_keys, b.read, b.dropped)
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("user", "item", "stamp")))


def data_lines(data: bytes) -> int:
    """Physical lines of a CSV, less a header line and a missing final newline's difference."""
    text = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = text.removesuffix(b"\n").split(b"\n")
    first = {field.strip().strip(b'"').lower() for field in lines[0].split(b",")}
    return len(lines) - bool(first & {b"user", b"item", b"rating", b"timestamp"})  # the reader's header rule


@fuzz_settings(base=25)
@given(rows=ratings(), header=st.booleans(), newline=st.sampled_from(["\n", "\r\n", "\r"]), bom=st.booleans(),
       trailing_comma=st.booleans(), quote_all=st.booleans(), float_stamps=st.booleans(),
       final_newline=st.booleans())
def test_benign_variations_read_as_the_clean_csv(rows, header, newline, bom, trailing_comma, quote_all, float_stamps,
                                                 final_newline):
    x, y = rows
    with tempfile.TemporaryDirectory() as tmp:
        clean = read(Path(tmp), render(x), render(y, header=False))
        varied = read(Path(tmp), render(x, header, newline, bom, trailing_comma, quote_all, float_stamps,
                                        final_newline), render(y, header=False))
    assert same_events(clean, varied)


@fuzz_settings(base=25)
@given(rows=ratings())
def test_every_line_is_kept_or_counted_by_a_named_filter(rows):
    x, y = rows
    with tempfile.TemporaryDirectory() as tmp:
        events = read(Path(tmp), render(x), render(y, header=False))
    assert events.read == (len(x), len(y))
    assert set(events.dropped) == set(FILTERS)
    assert sum(events.read) == len(events.item) + sum(events.dropped.values())


def test_the_filters_counts_by_hand(tmp_path):
    """u9 has one rating (user filter), a9 is rated by u9 only; u8 rates a0, a1 and one Y item (domain
    filter: 3 ratings); b9 is rated once, by u0 (item filter)."""
    x = [(f"u{u}", f"a{i}", 5, i) for u in range(3) for i in range(2)] + [("u9", "a9", 5, 0), ("u8", "a0", 5, 1),
                                                                          ("u8", "a1", 5, 2)]
    y = [(f"u{u}", f"b{i}", 5, i) for u in range(3) for i in range(2)] + [("u8", "b0", 5, 3), ("u0", "b9", 5, 4)]
    events = read(tmp_path, render(x), render(y))
    assert events.read == (9, 8) and len(events.item) == 12
    assert events.dropped == {"user_interactions": 1, "user_domain_items": 3, "item_interactions": 1}


MUTATIONS = ("truncate", "insert_bytes", "replace_field", "separator", "duplicate_line", "blank_line",
             "huge_line", "empty", "missing", "utf16", "quote")


def mutate(data: bytes, kind: str, draw) -> bytes | None:
    """``data`` (one CSV's bytes) with one fault of ``kind``; None removes the file."""
    if kind == "missing":
        return None
    if kind == "empty":
        return b""
    if kind == "utf16":
        return data.decode().encode("utf-16")
    lines = data.split(b"\n")
    at = draw(st.integers(0, max(len(lines) - 2, 0)))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    if kind in ("insert_bytes", "quote"):
        where = draw(st.integers(0, len(data)))
        extra = b'"' if kind == "quote" else draw(st.binary(min_size=1, max_size=6))
        return data[:where] + extra + data[where:]
    if kind == "separator":
        return data.replace(b",", draw(st.sampled_from([b";", b"\t", b" ", b",,", b"|"])))
    if kind == "duplicate_line":
        return b"\n".join(lines[:at + 1] + lines[at:])
    if kind == "blank_line":
        return b"\n".join(lines[:at] + [draw(st.sampled_from([b"", b" ", b",", b"\r"]))] + lines[at:])
    if kind == "huge_line":
        return b"\n".join(lines[:at] + [draw(st.sampled_from([b"u1,a1,5,", b"x"])) + b"9" * 200_000] + lines[at:])
    fields = lines[at].split(b",")
    fields[draw(st.integers(0, len(fields) - 1))] = draw(st.sampled_from(NASTY_FIELDS)).encode("utf-8", "surrogatepass")
    lines[at] = b",".join(fields)
    return b"\n".join(lines)


@fuzz_settings(base=120)
@given(rows=ratings(), which=st.sampled_from("xy"), header=st.booleans(), kind=st.sampled_from(MUTATIONS),
       data=st.data())
def test_every_fault_is_read_exactly_or_refused_naming_file_and_line(rows, which, header, kind, data):
    files = {"x": render(rows[0], header), "y": render(rows[1], not header)}
    files[which] = mutate(files[which], kind, data.draw)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            events = read(Path(tmp), files["x"], files["y"])
        except FileNotFoundError as error:
            assert re.match(r"^ratings file .*y?\.csv not found \(expected CSV columns", str(error)), str(error)
            return
        except ValueError as error:
            message = str(error)
            assert type(error) is ValueError and REFUSAL.match(message) and "\n" not in message, message
            assert len(message) < 400, message
            return
    # read: every physical line is one rating (no stray quote merged two), kept or counted by a filter
    assert events.read == (data_lines(files["x"]), data_lines(files["y"]))
    assert sum(events.read) == len(events.item) + sum(events.dropped.values())


@fuzz_settings(base=8)
@given(rows=ratings(), field=st.sampled_from(NASTY_FIELDS), column=st.integers(0, 3))
def test_the_cli_refuses_a_bad_csv_with_one_line_and_no_traceback(rows, field, column, capsys):
    x = [list(r) for r in rows[0]]
    x[0][column] = field
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            bad = "\n".join(",".join(map(str, r)) for r in x).encode("utf-8", "surrogatepass")
            read(folder, bad, render(rows[1]))
            return
        except ValueError as error:
            expected = str(error)
        capsys.readouterr()
        spec = f"amazon:{folder / 'x.csv'},{folder / 'y.csv'}"
        assert main(["train", "--data", spec, "--out", str(folder / "run"), "--quiet"]) == 2
    out = capsys.readouterr()
    # the CLI's filters are the paper's (10 and 3): another error may come first, but never a traceback
    assert out.err.startswith("error: ") and out.err.count("\n") == 1 and "Traceback" not in out.err + out.out
    assert expected.split(":")[0] in out.err or "left no users" in out.err


@pytest.mark.parametrize("line, message", [
    ("u,i,5,1.5", "x.csv line 2: timestamp must be whole unix seconds, got '1.5'"),
    ("u,i,5,1e30", "x.csv line 2: timestamp must be unix seconds within ±2^63, got '1e30'"),
    ("u,i,5,1" + "0" * 30, "x.csv line 2: timestamp must be unix seconds within ±2^63, got '1" + "0" * 30 + "'"),
    ("u,i,5,1_0", "x.csv line 2: timestamp must be a number, got '1_0'"),
    ("u,i,5,nan", "x.csv line 2: timestamp must be a number, got 'nan'"),
    ("u,i,five,1", "x.csv line 2: rating must be a finite number, got 'five'"),
    ("u,i,1e999,1", "x.csv line 2: rating must be a finite number, got '1e999'"),
    (",i,5,1", "x.csv line 2: user must be a non-empty key on one line, got ''"),
    ('u,"i\n",5,1', "x.csv line 3: item must be a non-empty key on one line, got 'i\\n'"),
    ("", "x.csv line 2: expected 4 fields (user,item,rating,timestamp), got an empty line"),
    ("u,i,5,1,2", "x.csv line 2: expected 4 fields (user,item,rating,timestamp), got 5: ['u', 'i', '5', '1', '2']"),
    ("u," + "x" * 200_000 + ",5,1", "x.csv line 2: expected CSV fields (user,item,rating,timestamp), got a row the "
                                     "csv module refuses (field larger than field limit (131072))"),
])
def test_bad_fields_are_refused_naming_file_line_and_field(tmp_path, line, message):
    (tmp_path / "x.csv").write_text(f"u,i,5,0\n{line}\nu,i,5,2\n")
    (tmp_path / "y.csv").write_text("u,j,5,0\n")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_amazon([tmp_path / "x.csv", tmp_path / "y.csv"])


def test_bytes_that_are_not_utf8_name_line_and_column(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"user,item,rating,timestamp\r\nu,i,5,0\r\nu,\xe9t\xe9,5,1\r\n")
    (tmp_path / "y.csv").write_text("u,j,5,0\n")
    message = ("x.csv line 3: expected UTF-8 text (CSV columns user,item,rating,timestamp), got byte 0xe9 at "
               "column 3")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_amazon([tmp_path / "x.csv", tmp_path / "y.csv"])


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    (tmp_path / "x.csv").write_text("user,item,rating,timestamp,user\nu,i,5,0,v\n")
    (tmp_path / "y.csv").write_text("u,j,5,0\n")
    message = ("x.csv line 1: header ['user', 'item', 'rating', 'timestamp', 'user'] names column(s) ['user'] twice; "
               "expected user,item,rating,timestamp")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_amazon([tmp_path / "x.csv", tmp_path / "y.csv"])
