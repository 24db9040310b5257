"""Amazon ratings → dataset or C2DSR folder: the paper's filters on N domains, chronological merge,
leave-one-out, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dpgdiff_lite.data.amazon import amazon_dataset, prepare_amazon, read_amazon, write_c2dsr
from dpgdiff_lite.data.c2dsr import load_c2dsr

REGULAR = [f"u{i:02d}" for i in range(12)]


def ratings() -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """(user, item, timestamp) rows of X (items a0 … a7) and Y (b0 … b4).

    Twelve regular users rate every item (13 events, 12 per item): a_j at t = 100 j, b_j at 100 j + 50.
    Removed: ``low`` (6 events < 10), ``twoy`` (10 events but only 2 in Y), ``rare`` (3 raters),
    ``casc`` (10 raters, one of them ``low``: drops to 9 only on the second round).
    ``u00`` has ties: b4 at a4's time (X first), a6 and a5 both at 500 with a6 first in the file.
    """
    x = [(u, f"a{j}", 100 * j) for u in REGULAR[1:] for j in reversed(range(8))]  # newest first in the file
    u00_x = ((7, 700), (6, 500), (5, 500), (4, 400), (3, 300), (2, 200), (1, 100), (0, 0))
    x += [("u00", f"a{j}", t) for j, t in u00_x]
    y = [(u, f"b{j}", 100 * j + 50) for u in REGULAR for j in range(5)]
    y[4] = ("u00", "b4", 400)
    x += [("low", "a0", 1), ("low", "a1", 2), ("low", "a2", 3), ("low", "casc", 4)]
    y += [("low", "b0", 1), ("low", "b1", 2)]
    x += [("twoy", f"a{j}", 10 + j) for j in range(8)]
    y += [("twoy", "b0", 5), ("twoy", "b1", 6)]
    x += [(u, "rare", 250) for u in REGULAR[:3]] + [(u, "casc", 260) for u in REGULAR[:9]]
    return x, y


def write_csv(path: Path, rows, header: bool) -> Path:
    lines = (["user,item,rating,timestamp"] if header else []) + [f"{u},{i},5.0,{t}" for u, i, t in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def prepared(tmp_path) -> Path:
    x, y = ratings()
    return prepare_amazon(write_csv(tmp_path / "food.csv", x, header=True),
                          write_csv(tmp_path / "kitchen.csv", y, header=False), tmp_path / "Food-Kitchen")


def test_filters_remove_low_users_items_and_one_sided_users(prepared):
    assert (prepared / "userlist.txt").read_text().splitlines() == [f"{u}\t{i}" for i, u in enumerate(REGULAR)]
    assert (prepared / "Alist.txt").read_text().splitlines() == [f"{j}\ta{j}\t{j}" for j in range(8)]
    assert (prepared / "Blist.txt").read_text().splitlines() == [f"{8 + j}\tb{j}\t{j}" for j in range(5)]


def test_lines_merge_domains_chronologically_and_split_leave_one_out(prepared):
    u00 = [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 6, 5, 7]  # a_j = j, b_j = 8 + j; ties: X first, then file order
    stamps = [0, 50, 100, 150, 200, 250, 300, 350, 400, 400, 500, 500, 700]
    fields = [f"{i}|{t}|1970-01-01 00:{t // 60:02d}:{t % 60:02d}|" for i, t in zip(u00, stamps)]
    expected = "\t".join(["0", "13"] + fields)
    assert (prepared / "testdata_new.txt").read_text().splitlines()[0] == expected
    valid = (prepared / "validdata_new.txt").read_text().splitlines()[0].split("\t")
    train = (prepared / "traindata_new.txt").read_text().splitlines()[0].split("\t")
    assert valid[:2] == ["0", "12"] and train[:2] == ["0", "11"]
    assert valid[2:] == expected.split("\t")[2:-1] and train[2:] == expected.split("\t")[2:-2]


def test_round_trip_through_load_c2dsr(prepared):
    data = load_c2dsr(prepared)
    assert data.protocol == "paper" and data.domain_names == ("Food", "Kitchen") and data.n_items == (8, 5)
    regular = [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 6, 7]
    assert data.train[0].tolist() == [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 6]
    assert all(s.tolist() == regular[:11] for s in data.train[1:])
    assert data.valid.targets.tolist() == [5] + [6] * 11 and data.test.targets.tolist() == [7] * 12
    assert data.valid.histories[0].tolist() == data.train[0].tolist()
    assert np.array_equal(data.train_users, np.arange(12)) and np.array_equal(data.test.users, np.arange(12))


def test_filters_leaving_no_users_are_an_error(tmp_path):
    x, y = ratings()
    args = write_csv(tmp_path / "x.csv", x, True), write_csv(tmp_path / "y.csv", y, True), tmp_path / "out"
    message = ("filtering x.csv and y.csv left no users (so no items in either domain): none has ≥ 10 "
               "interactions and ≥ 6 items in each of 'Food' and 'Kitchen'")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        prepare_amazon(*args, min_items_per_domain=6, names=("Food", "Kitchen"))
    with pytest.raises(ValueError, match=r"^min_interactions=3, min_items_per_domain=1: both must be ≥ 1"):
        prepare_amazon(*args, min_interactions=3, min_items_per_domain=1)


BAD_CSVS = [
    ("user,item,stars,timestamp\nu,i,5,1\n",
     "x.csv line 1: header ['user', 'item', 'stars', 'timestamp'] lacks column(s) ['rating']; "
     "expected user,item,rating,timestamp"),
    ("u,i,5,1\nu,i,5\n", "x.csv line 2: expected 4 fields (user,item,rating,timestamp), got 3: ['u', 'i', '5']"),
    ("user,item,rating,timestamp\nu,i,5,1\nu,i,5,1,9\n",
     "x.csv line 3: expected 4 fields (user,item,rating,timestamp), got 5: ['u', 'i', '5', '1', '9']"),
    ("u,i,5,1\nu,i,5,yesterday\n", "x.csv line 2: timestamp must be a number, got 'yesterday'"),
    ("u,i,5,soon\n", "x.csv line 1: timestamp must be a number, got 'soon'"),
    ("", "x.csv is empty (expected CSV columns user,item,rating,timestamp)"),
    ("timestamp,rating,item,user\n", "x.csv holds a header but no ratings"),
]


@pytest.mark.parametrize("text, message", BAD_CSVS)
def test_bad_csv_names_file_and_line(tmp_path, text, message):
    (tmp_path / "x.csv").write_text(text)
    y = write_csv(tmp_path / "y.csv", ratings()[1], header=False)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        prepare_amazon(tmp_path / "x.csv", y, tmp_path / "out")


def test_header_columns_in_any_order(tmp_path):
    x, y = ratings()
    (tmp_path / "x.csv").write_text("timestamp,item,user,rating\n" + "".join(f"{t},{i},{u},4\n" for u, i, t in x))
    out = prepare_amazon(tmp_path / "x.csv", write_csv(tmp_path / "y.csv", y, False), tmp_path / "A-B")
    assert load_c2dsr(out).test.targets.tolist() == [7] * 12


def test_missing_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv not found"):
        prepare_amazon(tmp_path / "nope.csv", tmp_path / "y.csv", tmp_path / "out")


def three_domain_ratings() -> tuple[list, list, list]:
    """``ratings()`` plus a domain Z (c0 … c3, rated by every regular user at 100 j + 75) and ``twoz``,
    who passes both filters on X and Y alone (8 + 3 events) but has only 2 items in Z.
    ``u00`` ties Z with X (c2 and a2 at 200) and with Y (c3 and b3 at 350)."""
    x, y = ratings()
    z = [(u, f"c{j}", 100 * j + 75) for u in REGULAR[1:] for j in range(4)]
    z += [("u00", "c0", 75), ("u00", "c1", 175), ("u00", "c3", 350), ("u00", "c2", 200)]
    x += [("twoz", f"a{j}", 10 + j) for j in range(8)]
    y += [("twoz", f"b{j}", 5 + j) for j in range(3)]
    z += [("twoz", "c0", 1), ("twoz", "c1", 2)]
    return x, y, z


@pytest.fixture
def three_csvs(tmp_path) -> list[Path]:
    return [write_csv(tmp_path / f"{name}.csv", rows, header=bool(d % 2))
            for d, (name, rows) in enumerate(zip(("food", "kitchen", "movies"), three_domain_ratings()))]


def test_three_domains_filter_each_domain_and_merge_all_three(three_csvs):
    events = read_amazon(three_csvs, names=("Food", "Kitchen", "Movies"))
    assert events.domain_names == ("Food", "Kitchen", "Movies") and events.n_items == (8, 5, 4)
    assert events.user_keys == REGULAR  # twoz has 2 items in Movies: removed
    assert events.item_keys == ([f"a{j}" for j in range(8)], [f"b{j}" for j in range(5)], [f"c{j}" for j in range(4)])
    with_two = read_amazon(three_csvs[:2])  # on Food and Kitchen alone twoz passes every filter
    assert with_two.user_keys == sorted(REGULAR + ["twoz"]) and with_two.domain_names == ("X", "Y")
    data = amazon_dataset(events)
    assert data.protocol == "paper" and data.name == "Food-Kitchen-Movies" and data.n_items == (8, 5, 4)
    # a_j = j, b_j = 8 + j, c_j = 13 + j; equal times keep the domain order (X, Y, Z), then the file's
    u00 = [0, 8, 13, 1, 9, 14, 2, 15, 10, 3, 11, 16, 4, 12, 6, 5, 7]
    assert data.test.targets[0] == 7 and data.valid.targets[0] == 5
    assert data.test.histories[0].tolist() == u00[:-1][-15:] and data.valid.histories[0].tolist() == u00[:-2]
    assert data.train[0].tolist() == u00[:-2]  # 15 events: within max_len + 1
    assert amazon_dataset(events, max_len=4).train[0].tolist() == u00[:-2][-5:]
    assert set(data.domain_of(np.concatenate(data.train)).tolist()) == {0, 1, 2}


def test_the_c2dsr_route_and_the_direct_split_give_the_same_dataset(prepared, tmp_path):
    x, y = ratings()
    csvs = [write_csv(tmp_path / "food.csv", x, header=True), write_csv(tmp_path / "kitchen.csv", y, header=False)]
    direct = amazon_dataset(read_amazon(csvs, names=("Food", "Kitchen")), max_len=5, name="Food-Kitchen")
    via_files = load_c2dsr(prepared, max_len=5)
    assert (direct.name, direct.protocol, direct.domain_names, direct.n_items) == (
        via_files.name, via_files.protocol, via_files.domain_names, via_files.n_items)
    assert as_lists(direct.train) == as_lists(via_files.train)
    for split in ("valid", "test"):
        a, b = getattr(direct, split), getattr(via_files, split)
        assert as_lists(a.histories) == as_lists(b.histories)
        assert a.targets.tolist() == b.targets.tolist() and a.users.tolist() == b.users.tolist()


def test_the_c2dsr_format_refuses_a_third_domain(three_csvs, tmp_path):
    events = read_amazon(three_csvs)
    message = ("the C2DSR format holds two domains (Alist.txt, Blist.txt), got 3 (X, Y, Z); amazon_dataset "
               "builds an N-domain dataset directly")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        write_c2dsr(events, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    message = ("filtering food.csv, kitchen.csv and movies.csv left no users (so no items in any domain): none has "
               "≥ 10 interactions and ≥ 5 items in each of 'X', 'Y' and 'Z'")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_amazon(three_csvs, min_items_per_domain=5)


def as_lists(arrays) -> list[list[int]]:
    return [a.tolist() for a in arrays]


def test_a_header_with_a_huge_field_is_refused_in_a_short_message(tmp_path):
    from dpgdiff_lite.data.amazon import read_amazon

    (tmp_path / "x.csv").write_text("9" * 500 + ",item,rating,timestamp\nu,i,5,1\n")
    (tmp_path / "y.csv").write_text("user,item,rating,timestamp\nu,j,5,1\n")
    with pytest.raises(ValueError, match=r"^x\.csv line 1: header \['9{20,}.*… lacks column\(s\) \['user'\]") as error:
        read_amazon([tmp_path / "x.csv", tmp_path / "y.csv"])
    assert len(str(error.value)) < 200
