"""Property-based fuzzing of the C2DSR reader (issue 33): every file and field, benign variations read
as the clean file, anything else refused with one sentence naming file, line and what was expected.

``fuzz_settings`` (tests/test_fuzz_inputs.py) bounds the examples: small by default, 20x with DPGDIFF_SLOW_TESTS=1.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpgdiff_lite.cli import main
from dpgdiff_lite.data.c2dsr import load_c2dsr
from test_fuzz_inputs import NASTY_FIELDS, fuzz_settings, same_dataset

FILES = ("Alist.txt", "Blist.txt", "userlist.txt", "traindata_new.txt", "validdata_new.txt", "testdata_new.txt")
REFUSAL = re.compile(r"^(?P<file>\w+\.txt) (line \d+: .*(expected|must|needs|is not in|outside)|is empty: expected) ")


@st.composite
def c2dsr_worlds(draw) -> dict:
    """A small valid C2DSR folder as data: item counts, users and sequences (with timestamp ties)."""
    n_a, n_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    n_users = draw(st.integers(1, 5))
    event = st.tuples(st.integers(0, n_a + n_b - 1), st.integers(0, 4))
    sequence = st.lists(event, min_size=2, max_size=6)

    def one_file() -> dict[int, list]:
        users = draw(st.lists(st.integers(0, n_users - 1), min_size=1, max_size=n_users, unique=True))
        return {u: draw(sequence) for u in users}

    return {"n": (n_a, n_b), "users": n_users, "valid": one_file(), "test": one_file(),
            "train": one_file() if draw(st.booleans()) else None}


def render(world: dict, newline: str = "\n", bom: bool = False, trailing_tab: bool = False,
           final_newline: bool = True) -> dict[str, bytes]:
    """The folder's files as bytes; the keyword arguments are the benign variations of the format."""
    tab = "\t" if trailing_tab else ""
    n_a, n_b = world["n"]
    lines = {
        "Alist.txt": [f"{100 + i}\tA{i}\t{i}{tab}" for i in range(n_a)],
        "Blist.txt": [f"{200 + i}\tB{i}\t{i}{tab}" for i in range(n_b)],
        "userlist.txt": [f"key{u}\t{u}{tab}" for u in range(world["users"])],
    }
    for split in ("train", "valid", "test"):
        if world[split] is not None:
            lines[f"{split}data_new.txt"] = [
                "\t".join([str(u), str(len(events))] + [f"{i}|{t}|2013-01-01 08:00:00|" for i, t in events]) + tab
                for u, events in world[split].items()]
    files = {}
    for name, rows in lines.items():
        text = newline.join(rows) + (newline if final_newline else "")
        files[name] = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    return files


def write(folder: Path, files: dict[str, bytes | None]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if data is not None:
            (folder / name).write_bytes(data)
    return folder


def check_refusal(error: Exception) -> str:
    """One sentence naming a file and (for a line's fault) the line and what was expected."""
    message = str(error)
    assert "\n" not in message and len(message) < 600, message
    if isinstance(error, FileNotFoundError):
        assert re.match(r"^\w+\.txt not found in ", message), message
    else:
        assert type(error) is ValueError and REFUSAL.match(message), message
    return message


@fuzz_settings(base=25)
@given(world=c2dsr_worlds(), newline=st.sampled_from(["\n", "\r\n", "\r"]), bom=st.booleans(),
       trailing_tab=st.booleans(), final_newline=st.booleans())
def test_benign_variations_read_as_the_clean_folder(world, newline, bom, trailing_tab, final_newline):
    with tempfile.TemporaryDirectory() as tmp:
        clean = load_c2dsr(write(Path(tmp) / "Food-Kitchen", render(world)))
        varied = load_c2dsr(write(Path(tmp) / "v" / "Food-Kitchen",
                                  render(world, newline, bom, trailing_tab, final_newline)))
    assert same_dataset(clean, varied)
    assert len(clean.valid) == len(world["valid"]) and len(clean.test) == len(world["test"])


MUTATIONS = ("truncate", "insert_bytes", "replace_field", "separator", "duplicate_line", "blank_line",
             "huge_line", "empty", "missing", "utf16")


def mutate(data: bytes, kind: str, draw) -> bytes | None:
    """``data`` (one file's bytes) with one fault of ``kind``; None removes the file."""
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
    if kind == "insert_bytes":
        where = draw(st.integers(0, len(data)))
        return data[:where] + draw(st.binary(min_size=1, max_size=6)) + data[where:]
    if kind == "separator":
        return data.replace(b"\t", draw(st.sampled_from([b",", b" ", b";", b"  ", b"\t\t"])))
    if kind == "duplicate_line":
        return b"\n".join(lines[:at + 1] + lines[at:])
    if kind == "blank_line":
        return b"\n".join(lines[:at] + [draw(st.sampled_from([b"", b" ", b"\t", b"\r"]))] + lines[at:])
    if kind == "huge_line":
        return b"\n".join(lines[:at] + [draw(st.sampled_from([b"1\t", b"x|"])) * 100_000] + lines[at:])
    # replace one tab- or bar-separated field of one line with a nasty value
    fields = re.split(rb"([\t|])", lines[at])
    spot = draw(st.integers(0, len(fields) - 1)) // 2 * 2
    fields[spot] = draw(st.sampled_from(NASTY_FIELDS)).encode("utf-8", "surrogatepass")
    lines[at] = b"".join(fields)
    return b"\n".join(lines)


@fuzz_settings(base=120)
@given(world=c2dsr_worlds(), name=st.sampled_from(FILES), kind=st.sampled_from(MUTATIONS), data=st.data())
def test_every_fault_is_read_exactly_or_refused_naming_file_and_line(world, name, kind, data):
    files = render(world)
    if name not in files:
        files[name] = render({**world, "train": world["valid"]})[name]  # give traindata a clean copy first
    files[name] = mutate(files[name], kind, data.draw)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp) / "Food-Kitchen", files)
        try:
            dataset = load_c2dsr(folder)
        except (ValueError, FileNotFoundError) as error:
            check_refusal(error)
            return
    # read: no line was dropped; every sequence line of a file is one case (or one training sequence)
    def count(filename: str) -> int:
        return len(files[filename].replace(b"\r\n", b"\n").replace(b"\r", b"\n").rstrip(b"\n").split(b"\n"))
    assert len(dataset.valid) == count("validdata_new.txt") and len(dataset.test) == count("testdata_new.txt")
    assert dataset.n_items == (count("Alist.txt"), count("Blist.txt"))
    if files.get("traindata_new.txt") is not None:
        assert len(dataset.train) == count("traindata_new.txt")


@fuzz_settings(base=8)
@given(world=c2dsr_worlds(), name=st.sampled_from(FILES), field=st.sampled_from(NASTY_FIELDS), data=st.data())
def test_the_cli_refuses_a_bad_folder_with_one_line_and_no_traceback(world, name, field, data, capsys):
    files = render(world)
    files[name] = files.get(name, files["validdata_new.txt"]) + field.encode("utf-8", "surrogatepass") + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp) / "Food-Kitchen", files)
        try:
            load_c2dsr(folder)
            return  # read: training would start, which is not this test's business
        except (ValueError, FileNotFoundError) as error:
            expected = str(error)
        capsys.readouterr()
        assert main(["train", "--data", f"c2dsr:{folder}", "--out", str(Path(tmp) / "run"), "--quiet"]) == 2
    out = capsys.readouterr()
    assert out.err == f"error: {expected}\n" and "Traceback" not in out.err + out.out


def test_the_real_layout_of_one_line_per_file_kind_is_read():
    """A hand-written folder in the published layout (events out of order, trailing bar and tab)."""
    files = {"Alist.txt": b"6407\tB0028A8ZEI\t0\n15157\tB001D9OVQ6\t1\n",
             "Blist.txt": b"45309\tB001802PIQ\t0\n",
             "userlist.txt": b"A00473363TJ8YSZ3YAGG9\t0\nA04723872DWXDZS7W3251\t1\n",
             "validdata_new.txt": b"0\t10\t2|1393632000|2014-03-01 08:00:00|\t0|1393113600|2014-02-23 08:00:00|\t\n",
             "testdata_new.txt": b"1\t81\t1|5|2014-02-23 08:00:00|\t2|4|2014-03-01 08:00:00|\n"}
    with tempfile.TemporaryDirectory() as tmp:
        data = load_c2dsr(write(Path(tmp) / "Food-Kitchen", files))
    assert data.valid.targets.tolist() == [2] and data.test.targets.tolist() == [1]
    assert [h.tolist() for h in data.train] == [[0], [2]]
    assert np.array_equal(data.train_users, [0, 1])


@pytest.mark.parametrize("text, message", [
    (b"0\t1\t0|1|\t1|2|\r\n\r\n", "validdata_new.txt line 2: expected one 'user_index<TAB>interaction_index<TAB>"
                                  "item|timestamp|date|<TAB>…' sequence a line, got an empty line"),
    (b"0\t1\t0|1|\t1|2|\r0\t1\t0|1|\t1|2|", "validdata_new.txt line 2: expected one sequence per user, got user_index "
                                           "0 again (first on line 1)"),
])
def test_cr_and_crlf_lines_are_numbered_as_lines(tmp_path, text, message):
    world = {"n": (1, 1), "users": 2, "valid": {0: [(0, 1), (1, 2)]}, "test": {1: [(0, 1), (1, 2)]}, "train": None}
    folder = write(tmp_path / "Food-Kitchen", {**render(world), "validdata_new.txt": text})
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_c2dsr(folder)
