"""The data-spec parser: synthetic presets, C2DSR folders, cached Amazon preparation, bad specs."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from dpgdiff_lite.data.augment import inject_noise_split
from dpgdiff_lite.data.sources import load_data, parse_spec, with_options
from dpgdiff_lite.data.synthetic import PRESETS, SyntheticTruth


def test_synthetic_default_preset_and_max_len():
    source = load_data("synthetic")
    assert source.dataset.name == "synthetic-teaching" and source.dataset.protocol == "synthetic"
    assert isinstance(source.truth, SyntheticTruth)
    tiny = load_data("synthetic:tiny", max_len=4).dataset
    assert tiny.name == "synthetic-tiny" and tiny.max_len == 4
    assert max(len(h) for h in tiny.test.histories) == 4


def test_c2dsr_folder(tmp_path):
    folder = tmp_path / "Books-Movies"
    folder.mkdir()
    for name, text in {"Alist.txt": "a\t0\t0\n", "Blist.txt": "b\t0\t0\nc\t1\t1\n", "userlist.txt": "u\t0\n",
                       "validdata_new.txt": "0\t1\t0|1|\t1|2|\n", "testdata_new.txt": "0\t1\t2|1|\t0|2|\n"}.items():
        (folder / name).write_text(text)
    source = load_data(f"c2dsr:{folder}")
    assert source.truth is None
    assert source.dataset.protocol == "eval-split" and source.dataset.domain_names == ("Books", "Movies")
    assert source.dataset.valid.targets.tolist() == [1] and source.dataset.test.targets.tolist() == [0]


def write_ratings(path: Path, prefix: str) -> Path:
    """Ten users who each rate five items: every user and item passes the default filters."""
    path.write_text("".join(f"u{u},{prefix}{i},5.0,{10 * i + u}\n" for u in range(10) for i in range(5)))
    return path


def test_amazon_caches_the_filtered_events_once_and_loads_them(tmp_path):
    x, y = write_ratings(tmp_path / "Grocery-Food.csv", "a"), write_ratings(tmp_path / "Kitchen.csv", "b")
    dataset = load_data(f"amazon:{x},{y}").dataset
    cache = tmp_path / "amazon-cache" / "Grocery_Food-Kitchen.npz"
    assert dataset.name == "Grocery_Food-Kitchen" and dataset.domain_names == ("Grocery_Food", "Kitchen")
    assert dataset.protocol == "paper" and dataset.n_items == (5, 5) and len(dataset.test) == 10
    stamp = cache.stat().st_mtime_ns
    assert load_data(f"amazon:{x},{y}").dataset.test.targets.tolist() == dataset.test.targets.tolist()
    assert cache.stat().st_mtime_ns == stamp  # read from the cache, not rebuilt
    # other files under the same stems are not mistaken for the cached ones
    (tmp_path / "other").mkdir()
    y2 = tmp_path / "other" / "Kitchen.csv"
    y2.write_text("".join(f"u{u},c{i},5.0,{10 * i + u}\n" for u in range(10) for i in range(6)))
    assert load_data(f"amazon:{x},{y2}").dataset.n_items == (5, 6)


def test_amazon_three_csvs_give_three_domains(tmp_path):
    csvs = [write_ratings(tmp_path / f"{name}.csv", name[0]) for name in ("Food", "Kitchen", "Movies")]
    source = load_data("amazon:" + ",".join(map(str, csvs)) + "[users=0.5]")
    dataset = source.dataset
    assert source.truth is None and dataset.domain_names == ("Food", "Kitchen", "Movies")
    assert dataset.n_items == (5, 5, 5) and dataset.protocol == "paper" and len(dataset.test) == 5
    assert (tmp_path / "amazon-cache" / "Food-Kitchen-Movies.npz").exists()
    assert not list(tmp_path.glob("**/Alist.txt"))  # no C2DSR files, which could hold only two domains
    assert set(dataset.domain_of(np.concatenate(dataset.train)).tolist()) == {0, 1, 2}


def test_synthetic_domains_option_keeps_those_domains_of_the_drawn_world():
    from dpgdiff_lite.data.synthetic import restrict_domains

    source = load_data("synthetic:tiny-three-domain[seed=2,domains=X+Z]")
    expected = restrict_domains(dataclasses.replace(PRESETS["tiny-three-domain"], seed=2), ("X", "Z"))
    assert source.truth is None and source.dataset.domain_names == ("X", "Z")
    assert source.dataset.name == "synthetic-tiny-three-domain-XZ" and source.dataset.n_items == (60, 80)
    assert all(np.array_equal(a, b) for a, b in zip(source.dataset.train, expected.train))


@pytest.mark.parametrize("spec", ["csv:a.csv", "amazon:only.csv", "amazon:a.csv,", "amazon:a.csv,,c.csv", "c2dsr:",
                                  "Food-Kitchen"])
def test_unknown_scheme_lists_the_valid_ones(spec):
    message = (f"data spec {spec!r} not understood; valid schemes: synthetic[:preset], c2dsr:PATH, "
               "amazon:X.csv,Y.csv[,Z.csv…]")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_data(spec)


def test_unknown_preset_lists_the_presets():
    message = f"data spec 'synthetic:huge': unknown synthetic preset 'huge', choose one of {sorted(PRESETS)}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_data("synthetic:huge")


def test_synthetic_options_set_generator_knobs_and_are_what_the_grid_records():
    import dataclasses

    from dpgdiff_lite.experiments import regimes
    from dpgdiff_lite.data.synthetic import PRESETS, generate

    spec = regimes.data_spec("tiny", {"conflict_kind": "opposed", "conflict_rate": 1.0}, 3)
    assert spec == "synthetic:tiny[conflict_kind=opposed,conflict_rate=1.0,seed=3]"
    source = load_data(spec)
    expected, _ = generate(dataclasses.replace(PRESETS["tiny"], conflict_kind="opposed", conflict_rate=1.0, seed=3))
    assert all(np.array_equal(a, b) for a, b in zip(source.dataset.train, expected.train))
    assert source.truth.config.conflict_rate == 1.0 and source.truth.config.seed == 3


@pytest.mark.parametrize("spec, message", [
    ("synthetic:tiny[adhoc_noise=high]", "data spec 'synthetic:tiny[adhoc_noise=high]': knob 'adhoc_noise' expects float, "
                                        "got 'high'"),
    ("synthetic:tiny[n_items=3]", "data spec 'synthetic:tiny[n_items=3]': knob 'n_items' holds one value per domain; "
                                  "only scalar knobs can be set here"),
    ("synthetic:tiny[adhoc_noise]", "data spec 'synthetic:tiny[adhoc_noise]': expected key=value in brackets, "
                                   "got 'adhoc_noise'"),
    ("c2dsr:somewhere[users=1.5]", "data spec 'c2dsr:somewhere[users=1.5]': users must be a fraction in (0, 1], got 1.5"),
    ("c2dsr:somewhere[items=3]", "data spec 'c2dsr:somewhere[items=3]': unknown option(s) items; real data takes "
                                 "users: a fraction in (0, 1] of the users to keep; seed: an integer seed of that draw; "
                                 "train_noise: a rate in [0, 1] of noise injected into the training sequences; "
                                 "train_noise_seed: an integer seed >= 0 of that noise (default 0)"),
    ("synthetic:tiny[noise_rate=0.1]", "data spec 'synthetic:tiny[noise_rate=0.1]': unknown knob 'noise_rate' "
                                       "(renamed 'adhoc_noise')"),
    ("synthetic:tiny[train_noise_rate=0.3]", "data spec 'synthetic:tiny[train_noise_rate=0.3]': unknown knob "
                                             "'train_noise_rate' (renamed 'train_adhoc_noise')"),
    ("synthetic:three-domain[domains=X]", "data spec 'synthetic:three-domain[domains=X]': domains must name two or "
                                          "more distinct domains of the preset, joined by '+' (e.g. X+Y), got 'X'"),
    ("synthetic:three-domain[domains=Z+X]", "data spec 'synthetic:three-domain[domains=Z+X]': list the domains in the "
                                            "preset's order (X+Z), got 'Z+X'"),
])
def test_bad_options_name_the_spec(spec, message):
    with pytest.raises(ValueError) as error:
        load_data(spec)
    assert str(error.value) == message


def test_subsampled_users_keep_their_sequences_and_cases(toy_dataset):
    half = toy_dataset.subsample_users(0.5, seed=1)
    kept = set(half.train_users.tolist())
    assert len(kept) == 20 and half.n_items == toy_dataset.n_items
    assert set(half.valid.users.tolist()) == set(half.test.users.tolist()) == kept
    for user, sequence in zip(half.train_users, half.train):
        assert np.array_equal(sequence, toy_dataset.train[int(np.flatnonzero(toy_dataset.train_users == user)[0])])
    assert half.train_users.tolist() != toy_dataset.subsample_users(0.5, seed=2).train_users.tolist()


def test_train_noise_option_injects_seeded_noise_into_the_training_split_only():
    clean = load_data("synthetic:tiny")
    noisy = load_data("synthetic:tiny[train_noise=0.2,train_noise_seed=3]")
    expected = inject_noise_split(clean.dataset.train, 0.2, clean.dataset.offsets, seed=3)
    assert len(noisy.dataset.train) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(noisy.dataset.train, expected))
    assert sum(map(len, noisy.dataset.train)) > sum(map(len, clean.dataset.train))  # insertions happened
    for split in ("valid", "test"):
        a, b = getattr(clean.dataset, split), getattr(noisy.dataset, split)
        assert all(np.array_equal(x, y) for x, y in zip(a.histories, b.histories))
        assert np.array_equal(a.targets, b.targets)
    assert noisy.truth is not None and noisy.truth.config == clean.truth.config  # the planted truth is kept
    default_seed = load_data("synthetic:tiny[train_noise=0.2]").dataset.train
    assert all(np.array_equal(a, b) for a, b in zip(default_seed, inject_noise_split(
        clean.dataset.train, 0.2, clean.dataset.offsets, seed=0)))


@pytest.mark.parametrize("spec, scheme", [("synthetic:tiny", "synthetic"), ("c2dsr:somewhere", "c2dsr"),
                                          ("amazon:a.csv,b.csv[users=0.5]", "amazon")])
def test_every_scheme_takes_the_train_noise_option(spec, scheme):
    noisy = with_options(spec, train_noise=0.1, train_noise_seed=4)
    parsed_scheme, _, options = parse_spec(noisy)
    assert parsed_scheme == scheme and options["train_noise"] == (0.1, 4)


def test_with_options_adds_to_the_brackets_a_spec_may_already_have():
    assert with_options("synthetic:teaching[conflict_rate=1.0]", train_noise=0.2, train_noise_seed=0) == \
        "synthetic:teaching[conflict_rate=1.0,train_noise=0.2,train_noise_seed=0]"
    assert with_options("synthetic", train_noise=0.2) == "synthetic[train_noise=0.2]"
    with pytest.raises(ValueError, match=re.escape("data spec 'synthetic[train_noise=0.1]' already sets train_noise")):
        with_options("synthetic[train_noise=0.1]", train_noise=0.2)
