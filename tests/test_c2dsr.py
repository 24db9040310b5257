"""C2DSR folder reader: parsing, stable time order, truncation, protocols and every bad input."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from dpgdiff_lite.data.c2dsr import load_c2dsr

REAL_FOOD_KITCHEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "c2dsr" / "Food-Kitchen"

# Food: global ids 0-2, Kitchen: 3-6. Valid line: out of time order, with a tie at t=30 (4 before 2).
VALID = "0\t5\t4|30|2013-01-01 08:00:00|\t1|10|2013-01-01 08:00:00|\t2|30|x|\t5|20|x|"
TEST = "1\t7\t6|1|2013-01-01 08:00:00|\t0|2|x|\t3|2|x|\t"  # trailing tab; tie at t=2 keeps 0 before 3
TRAIN = "2\t9\t0|5|x|\t3|1|x|\t6|9|x|"


def write_folder(root: Path, name: str = "Food-Kitchen", files: dict[str, str | bytes | None] | None = None) -> Path:
    """A small C2DSR folder; ``files`` overrides (or, with None as content, removes) single files."""
    contents = {
        "Alist.txt": "10\tASIN0\t0\n11\tASIN1\t1\n12\tASIN2\t2\n",
        "Blist.txt": "".join(f"{20 + i}\tBSIN{i}\t{i}\n" for i in range(4)),
        "userlist.txt": "ua\t0\nub\t1\nuc\t2\n",
        "validdata_new.txt": VALID + "\n",
        "testdata_new.txt": TEST + "\n",
    }
    contents.update(files or {})
    folder = root / name
    folder.mkdir()
    for filename, text in contents.items():
        if text is not None:
            (folder / filename).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def as_lists(arrays: list[np.ndarray]) -> list[list[int]]:
    return [a.tolist() for a in arrays]


def test_eval_split_protocol_sorts_stably_and_uses_global_ids(tmp_path):
    data = load_c2dsr(write_folder(tmp_path))
    assert data.protocol == "eval-split"
    assert data.name == "Food-Kitchen" and data.domain_names == ("Food", "Kitchen")
    assert data.n_items == (3, 4) and data.max_len == 15
    # valid [1, 5, 4, 2] by time; test [6, 0, 3]; training = each minus its last event
    assert as_lists(data.train) == [[1, 5, 4], [6, 0]]
    assert data.train_users.tolist() == [0, 1]
    assert as_lists(data.valid.histories) == [[1, 5, 4]] and data.valid.targets.tolist() == [2]
    assert as_lists(data.test.histories) == [[6, 0]] and data.test.targets.tolist() == [3]
    assert data.valid.users.tolist() == [0] and data.test.users.tolist() == [1]
    stats = data.statistics()["Food-Kitchen (Food / Kitchen)"]
    assert stats["#Validation"] == "1 / 0" and stats["#Test"] == "0 / 1"


def test_paper_protocol_trains_on_traindata(tmp_path):
    data = load_c2dsr(write_folder(tmp_path, files={"traindata_new.txt": TRAIN + "\n" + VALID + "\n"}))
    assert data.protocol == "paper"
    assert as_lists(data.train) == [[3, 0, 6], [1, 5, 4, 2]]
    assert data.train_users.tolist() == [2, 0]
    assert data.valid.targets.tolist() == [2] and data.test.targets.tolist() == [3]


def test_max_len_keeps_the_most_recent_events(tmp_path):
    long = "0\t1\t" + "\t".join(f"{i}|{i}|x|" for i in range(7))  # events 0 … 6 in time order
    data = load_c2dsr(write_folder(tmp_path, files={"validdata_new.txt": long + "\n"}), max_len=2)
    assert as_lists(data.valid.histories) == [[4, 5]] and data.valid.targets.tolist() == [6]
    assert as_lists(data.train) == [[3, 4, 5], [6, 0]]  # max_len + 1 events: inputs see ≤ max_len
    assert as_lists(data.test.histories) == [[6, 0]]


def test_folder_name_without_two_parts_gives_x_y(tmp_path):
    assert load_c2dsr(write_folder(tmp_path, name="toy")).domain_names == ("X", "Y")


def line3(bad: str) -> str:
    """Two good lines (users 0 and 2), then ``bad`` on line 3."""
    return "".join(f"{u}{TEST[1:]}\n" for u in (0, 2)) + f"{bad}\n"


SEQUENCE = "one 'user_index<TAB>interaction_index<TAB>item|timestamp|date|<TAB>…' sequence a line"
ITEM = "'original_id<TAB>ASIN<TAB>local_index'"


BAD_INPUTS = [
    ("testdata_new.txt", line3("1\t1\t12#3\t0|1|x|"), "testdata_new.txt line 3: expected 'item|timestamp', got '12#3'"),
    ("testdata_new.txt", line3("1\t1\tx|1|\t0|1|x|"), "testdata_new.txt line 3: item id must be an integer, got 'x'"),
    ("testdata_new.txt", line3("1\t1\t2|1.5|\t0|1|x|"),
     "testdata_new.txt line 3: timestamp must be an integer, got '1.5'"),
    ("testdata_new.txt", line3("u\t1\t2|1|\t0|1|x|"),
     "testdata_new.txt line 3: user_index must be an integer, got 'u'"),
    ("testdata_new.txt", line3("1\tk\t2|1|\t0|1|x|"),
     "testdata_new.txt line 3: interaction_index must be an integer, got 'k'"),
    ("testdata_new.txt", line3("1\t1\t2|1|\t7|1|x|"),
     "testdata_new.txt line 3: item id 7 is outside both domains (Food: 0 … 2, Kitchen: 3 … 6)"),
    ("testdata_new.txt", line3("1\t1\t-1|1|\t0|1|x|"),
     "testdata_new.txt line 3: item id -1 is outside both domains (Food: 0 … 2, Kitchen: 3 … 6)"),
    ("testdata_new.txt", line3("1\t1\t2|1|x|\t"), "testdata_new.txt line 3: a sequence needs at least 2 "
     "'item|timestamp' events after user_index and interaction_index, got 1"),
    ("testdata_new.txt", line3("9\t1\t2|1|\t0|1|x|"), "testdata_new.txt line 3: user_index 9 is not in userlist.txt"),
    ("testdata_new.txt", line3(""), f"testdata_new.txt line 3: expected {SEQUENCE}, got an empty line"),
    ("testdata_new.txt", line3("0\t1\t2|1|\t0|1|x|"),
     "testdata_new.txt line 3: expected one sequence per user, got user_index 0 again (first on line 1)"),
    ("testdata_new.txt", line3("1\t1\t2|1|\t0| 1|x|"), "testdata_new.txt line 3: timestamp must be an integer, got ' 1'"),
    ("testdata_new.txt", line3("1\t1\t2|1|\t0|1_0|x|"),
     "testdata_new.txt line 3: timestamp must be an integer, got '1_0'"),
    ("testdata_new.txt", line3("1\t1\t2|1|\t0|" + "9" * 19 + "|x|"),
     f"testdata_new.txt line 3: timestamp must be an integer, got '{'9' * 19}'"),
    ("testdata_new.txt", line3("1\t1\t2|1|\t" + "0" * 70),
     f"testdata_new.txt line 3: expected 'item|timestamp', got '{'0' * 60}'…"),
    ("testdata_new.txt", "", f"testdata_new.txt is empty: expected {SEQUENCE}"),
    ("testdata_new.txt", b"1\t7\t6|1|\t0|2|\xff|", "testdata_new.txt line 1: expected UTF-8 text "
     f"({SEQUENCE}), got byte 0xff at column 14"),
    ("validdata_new.txt", "", f"validdata_new.txt is empty: expected {SEQUENCE}"),
    ("traindata_new.txt", "", f"traindata_new.txt is empty: expected {SEQUENCE}"),
    ("Alist.txt", "", f"Alist.txt is empty: expected one item of domain 'Food' a line, {ITEM}"),
    ("Blist.txt", "1\tB\t0\n\n", f"Blist.txt line 2: expected one item of domain 'Kitchen' a line, {ITEM}, "
     "got an empty line"),
    ("Blist.txt", "1\tB\t0\n2\tC\n", f"Blist.txt line 2: expected {ITEM}, got '2\\tC'"),
    ("Blist.txt", "1\tB\t0\n2\tC\t2\n", "Blist.txt line 2: expected local_index 1 (items are numbered 0, 1, 2, "
     "… in line order), got '2'"),
    ("Blist.txt", "1\tB\t0\n2\tB\t1\n", "Blist.txt line 2: expected each ASIN once, got 'B' again (first on line 1)"),
    ("Blist.txt", "1\tB\t0\n1\tC\t1\n",
     "Blist.txt line 2: expected each original_id once, got '1' again (first on line 1)"),
    ("Alist.txt", "1\t\t0\n", f"Alist.txt line 1: expected {ITEM} with a non-empty ASIN, got '1\\t\\t0'"),
    ("userlist.txt", "ua\t0\nub\t0\n", "userlist.txt line 2: expected each user_index once, got '0' again "
     "(first on line 1)"),
    ("userlist.txt", "ua\t0\nua\t1\n", "userlist.txt line 2: expected each user_key once, got 'ua' again "
     "(first on line 1)"),
    ("userlist.txt", "ua\t0\nub 1\n", "userlist.txt line 2: expected 'user_key<TAB>user_index', got 'ub 1'"),
    ("userlist.txt", "ua\t0\nub\t٣\n", "userlist.txt line 2: user_index must be an integer, got '٣'"),
    ("userlist.txt", "ua\t0\nub\tone\n", "userlist.txt line 2: user_index must be an integer, got 'one'"),
]


@pytest.mark.parametrize("filename, text, message", BAD_INPUTS)
def test_bad_input_names_file_line_and_problem(tmp_path, filename, text, message):
    folder = write_folder(tmp_path, files={filename: text})
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_c2dsr(folder)


@pytest.mark.parametrize("filename", ["Alist.txt", "Blist.txt", "userlist.txt", "validdata_new.txt",
                                      "testdata_new.txt"])
def test_missing_file_names_it_and_the_layout(tmp_path, filename):
    folder = write_folder(tmp_path, files={filename: None})
    expected = (f"{filename} not found in {folder}: a C2DSR folder holds Alist.txt, Blist.txt, userlist.txt, "
                "validdata_new.txt and testdata_new.txt (traindata_new.txt optional)")
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(expected)}$"):
        load_c2dsr(folder)


def test_a_third_item_list_is_refused_not_read_as_two_domains(tmp_path):
    folder = write_folder(tmp_path, "Food-Kitchen-Movies", files={"Clist.txt": "30\tCSIN0\t0\n"})
    message = (f"C2DSR folder {folder} holds Clist.txt, but the C2DSR format has two domains (Alist.txt, "
               "Blist.txt); for three or more domains load ratings CSVs, one per domain (amazon:A.csv,B.csv,C.csv)")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_c2dsr(folder)


def test_missing_folder_and_bad_max_len(tmp_path):
    with pytest.raises(FileNotFoundError, match="C2DSR folder .*nowhere not found: a C2DSR folder holds"):
        load_c2dsr(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="^max_len must be at least 1, got 0$"):
        load_c2dsr(write_folder(tmp_path), max_len=0)


@pytest.mark.skipif(not REAL_FOOD_KITCHEN.is_dir(),
                    reason=f"real C2DSR Food-Kitchen files not found at {REAL_FOOD_KITCHEN} "
                           "(../shared beside the repo root)")
def test_real_food_kitchen_matches_table_2():
    start = time.perf_counter()
    data = load_c2dsr(REAL_FOOD_KITCHEN)
    assert time.perf_counter() - start < 3.0
    assert data.protocol == "eval-split" and data.domain_names == ("Food", "Kitchen")
    stats = data.statistics()["Food-Kitchen (Food / Kitchen)"]
    assert stats["#Items"] == "29,207 / 34,886"
    assert stats["#Validation"] == "2,722 / 5,451"
    assert stats["#Test"] == "2,747 / 5,659"
    assert stats["#Training Sequences"] == "16,579"  # every valid and test user once
    assert set(data.valid.users).isdisjoint(data.test.users)
    assert all(5 <= len(h) <= 14 for h in data.valid.histories + data.test.histories)
