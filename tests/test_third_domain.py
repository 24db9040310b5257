"""domains.third_domain_effect: the same users with and without domain Z, paired case by case, on the
tiny three-domain world (one epoch, two seeds): the folder layout, which cases are compared, the
table's arithmetic, resuming, and every refused argument."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

from dpgdiff_lite.experiments import third_domain as domains
from dpgdiff_lite.cli import main
from dpgdiff_lite.data.synthetic import PRESETS, generate, restrict_domains

ARGS = dict(data_preset="tiny-three-domain", preset_name="smoke", overrides=["epochs=1"], progress=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The command line on two models × two seeds; returns (folder, printed lines)."""
    out = tmp_path_factory.mktemp("third")
    code = main(["third-domain", "--out", str(out), "--seeds", "0,1", "--data-preset", "tiny-three-domain",
                 "--models", "sasrec,sasrec-single", "--preset", "smoke", "--set", "epochs=1", "--quiet"])
    assert code == 0
    return out


def test_layout_and_recorded_specs(run, capsys):
    assert json.loads((run / "settings.json").read_text()) == {
        "models": ["sasrec", "sasrec-single"], "seeds": [0, 1], "data_preset": "tiny-three-domain",
        "kept": ["X", "Y"], "preset": "smoke", "overrides": ["epochs=1"]}
    for seed in (0, 1):
        for world, letters, spec in (("XYZ", "XYZ", f"synthetic:tiny-three-domain[seed={seed}]"),
                                     ("XY", "XY", f"synthetic:tiny-three-domain[seed={seed},domains=X+Y]")):
            for model in ("sasrec", "sasrec-single"):
                metrics = json.loads((run / "runs" / f"seed{seed}" / world / model / "metrics.json").read_text())
                assert metrics["data"] == spec and list(metrics["test"]) == list(letters)
                config = json.loads((run / "runs" / f"seed{seed}" / world / model / "config.json").read_text())
                assert config["seed"] == seed
    table = pd.read_csv(run / "third_domain.csv")
    assert list(table.columns) == list(domains.COLUMNS)
    assert table[["model", "domain"]].values.tolist() == [["sasrec", "X"], ["sasrec", "Y"],
                                                          ["sasrec-single", "X"], ["sasrec-single", "Y"]]
    assert set(table["effect_verdict"]) <= {"negative", "positive", "none"}


def test_the_compared_cases_are_the_same_events(run):
    pairs = pd.read_csv(run / "pairs.csv.gz")
    for seed in (0, 1):
        config = dataclasses.replace(PRESETS["tiny-three-domain"], seed=seed)
        full, _ = generate(config)
        restricted = restrict_domains(config, ("X", "Y"))
        in_xy = full.domain_of(full.test.targets) < 2
        # compared: exactly the users whose last event is an X or Y event, the same target in both worlds
        np.testing.assert_array_equal(full.test.users[in_xy], restricted.test.users)
        np.testing.assert_array_equal(full.test.targets[in_xy], restricted.test.targets)
        # …whose X/Y history is the same events, each world keeping its own latest max_len of them
        for user in restricted.test.users[:50]:
            xy = [i for i in full.test.histories[user] if i < restricted.offsets[-1]]
            mine = restricted.test.histories[np.flatnonzero(restricted.test.users == user)[0]]
            assert mine[-len(xy):].tolist() == xy if xy else len(mine) <= full.max_len
        for model in ("sasrec", "sasrec-single"):
            rows = pairs[(pairs["model"] == model) & (pairs["seed"] == seed)]
            assert rows["user"].tolist() == restricted.test.users.tolist()
            assert rows["case"].tolist() == list(range(len(rows)))
            assert rows["domain"].tolist() == list(np.array(["X", "Y"])[restricted.domain_of(restricted.test.targets)])
            # every X/Y test case of both run folders is in the pairs: the means are the recorded metrics
            for world, column in (("XYZ", "ndcg_all"), ("XY", "ndcg_kept")):
                metrics = json.loads((run / "runs" / f"seed{seed}" / world / model / "metrics.json").read_text())
                means = rows.groupby("domain")[column].mean()
                assert means["X"] == pytest.approx(metrics["test"]["X"]["NDCG@10"])
                assert means["Y"] == pytest.approx(metrics["test"]["Y"]["NDCG@10"])


def test_the_table_is_the_paired_arithmetic(run):
    table = pd.read_csv(run / "third_domain.csv").set_index(["model", "domain"])
    pairs = pd.read_csv(run / "pairs.csv.gz")
    pairs["effect"] = pairs["ndcg_all"] - pairs["ndcg_kept"]
    per_seed = pairs.groupby(["model", "domain", "seed"])[["ndcg_kept", "ndcg_all", "effect"]].mean()
    for (model, domain), row in table.iterrows():
        seeds = per_seed.loc[(model, domain)]
        assert row["ndcg_kept"] == pytest.approx(seeds["ndcg_kept"].mean())
        assert row["ndcg_all"] == pytest.approx(seeds["ndcg_all"].mean())
        assert row["effect"] == pytest.approx(seeds["effect"].mean())
        assert row["effect_std"] == pytest.approx(seeds["effect"].std(ddof=1))
        assert row["n_seeds"] == 2 and row["n_pairs"] == ((pairs["model"] == model) & (pairs["domain"] == domain)).sum()
    for domain in ("X", "Y"):  # the part of SASRec's effect beyond sasrec-single's, over the same pairs
        assert table.loc[("sasrec", domain), "vs_single"] == pytest.approx(
            table.loc[("sasrec", domain), "effect"] - table.loc[("sasrec-single", domain), "effect"])
    assert table.loc["sasrec-single", "vs_single"].isna().all()


def test_a_second_call_resumes_every_run(run):
    checkpoint = run / "runs" / "seed1" / "XY" / "sasrec" / "checkpoint.pt"  # written by every trained epoch
    stamp = checkpoint.stat().st_mtime_ns
    again = domains.third_domain_effect(("sasrec", "sasrec-single"), 2, run, **ARGS)
    assert checkpoint.stat().st_mtime_ns == stamp  # reloaded, not retrained
    pd.testing.assert_frame_equal(again.table, pd.read_csv(run / "third_domain.csv"), check_dtype=False)
    assert "effect − single's (p)" in domains.format_effect(again)


def test_cases_of_another_world_are_refused():
    full, _ = generate("tiny-three-domain")
    other = restrict_domains(dataclasses.replace(PRESETS["tiny-three-domain"], seed=1), ("X", "Y"))
    frame = pd.DataFrame({"case": np.arange(len(full.test)), "domain": np.array(["X", "Y", "Z"])[
        full.domain_of(full.test.targets)], "NDCG@10": 0.0})
    restricted = pd.DataFrame({"case": np.arange(len(other.test)), "domain": np.array(["X", "Y"])[
        other.domain_of(other.test.targets)], "NDCG@10": 0.0})
    with pytest.raises(ValueError, match="they are not the same users' cases"):
        domains.compared_cases(frame, full.test.users, restricted, other.test.users, ("X", "Y"))


@pytest.mark.parametrize("change, message", [
    (dict(data_preset="tiny"), "data_preset: 'tiny' has 2 domains (X, Y); comparing with and without an extra domain "
                               "needs three or more (e.g. 'three-domain')"),
    (dict(data_preset="huge"), "data_preset: unknown synthetic preset 'huge'; choose one of"),
    (dict(kept=("X",)), "kept: two or more of 'tiny-three-domain''s domains ('X', 'Y', 'Z'), in that order and not "
                        "all of them, got ('X',)"),
    (dict(kept=("Y", "X")), "kept: two or more of 'tiny-three-domain''s domains ('X', 'Y', 'Z'), in that order"),
    (dict(kept=("X", "Y", "Z")), "kept: two or more of 'tiny-three-domain''s domains"),
    (dict(models="oracle"), "models: 'oracle' is not a model row"),
    (dict(models="sasrec,bert4rec"), "models: unknown model 'bert4rec'"),
    (dict(seeds=0), "seeds must be at least 1, got 0"),
    (dict(overrides=["seed=3"]), "--set 'seed=3': 'seed' is set by the models and seeds arguments, not by --set"),
    (dict(preset_name="huge"), "preset: unknown config preset 'huge'"),
])
def test_bad_arguments_are_refused_before_any_training(tmp_path, change, message):
    args = {"models": "sasrec", "seeds": 1, **ARGS, **change}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        domains.third_domain_effect(out_dir=tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_runs_go_under_runs_and_the_tables_are_the_same(run, tmp_path):
    """``--runs``: run folders and pairs.csv.gz there, only the tables in ``--out``; the same table as the
    default layout (one folder for both), byte for byte."""
    out, runs = tmp_path / "out", tmp_path / "runs"
    code = main(["third-domain", "--out", str(out), "--runs", str(runs), "--seeds", "0,1", "--data-preset",
                 "tiny-three-domain", "--models", "sasrec,sasrec-single", "--preset", "smoke", "--set", "epochs=1",
                 "--quiet"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["settings.json", "third_domain.csv"]
    assert sorted(p.name for p in runs.iterdir()) == ["pairs.csv.gz", "runs"]
    assert (runs / "runs" / "seed1" / "XY" / "sasrec" / "metrics.json").exists()
    assert (out / "third_domain.csv").read_bytes() == (run / "third_domain.csv").read_bytes()
    assert (out / "settings.json").read_bytes() == (run / "settings.json").read_bytes()
