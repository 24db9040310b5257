"""experiments/reproduce.py and experiments/registry.py: every committed folder is registered, the
READMEs show the registry's commands, a regenerated folder is compared number by number (wall time
aside), and a tiny registered folder regenerates, checks and writes end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dpgdiff_lite.cli import main
from dpgdiff_lite.experiments import registry, reproduce
from dpgdiff_lite.experiments.registry import FOLDERS, RESULTS, Folder


def test_every_folder_under_results_is_registered_and_every_registered_folder_exists():
    on_disk = {p.name for p in RESULTS.iterdir() if p.is_dir()}
    assert on_disk == set(FOLDERS)


def test_every_results_readme_shows_the_registry_commands():
    for name, entry in FOLDERS.items():
        text = (RESULTS / name / "README.md").read_text()
        assert reproduce.readme_block(entry) in text, f"notebooks/results/{name}/README.md: run reproduce --readme"
        assert "python -m dpgdiff_lite.lessons" not in text and "\ncp " not in text


def test_list_names_every_folder_with_its_commands_and_time(capsys):
    assert main(["reproduce", "--list"]) == 0
    shown = capsys.readouterr().out
    for name, entry in FOLDERS.items():
        assert f"{name}  [" in shown
        for line in entry.commands():
            assert line in shown
    assert "06  [06_full_training; last run" in shown


def test_commands_fill_in_out_and_runs_and_quote_what_a_shell_would_split():
    entry = Folder("x", "nb", (("compare", "--data", "c2dsr:a b[users=0.4]", "--runs", "{runs}/r", "--out", "{out}"),))
    assert entry.commands() == ['python -m dpgdiff_lite compare --data "c2dsr:a b[users=0.4]" --runs runs/reproduce/x/runs/r '
                                "--out notebooks/results/x"]
    assert entry.argv("O", "R") == [["compare", "--data", "c2dsr:a b[users=0.4]", "--runs", "R/r", "--out", "O"]]


def test_an_unknown_folder_is_refused_naming_the_folders(capsys):
    assert main(["reproduce", "nope"]) == 2
    assert "unknown results folder 'nope'; choose from 06, 07" in capsys.readouterr().err


def test_compare_frames_reports_numbers_beyond_a_millionth_and_skips_wall_time():
    a = pd.DataFrame({"model": ["x", "y"], "NDCG@10": [10.0, 20.0], "p": [0.01, np.nan], "seconds": [1.0, 2.0]})
    same = a.assign(seconds=[9.0, 9.0], **{"NDCG@10": [10.0 + 1e-9, 20.0]})
    assert reproduce.compare_frames("t.csv", a, same) == []
    moved = a.assign(**{"NDCG@10": [10.0, 20.03]})
    [difference] = reproduce.compare_frames("t.csv", a, moved)
    assert difference.what == "column 'NDCG@10'" and difference.size == pytest.approx(0.03)
    assert difference.within(0.05) and not difference.within(0.01)
    renamed = a.assign(model=["x", "z"])
    assert "column 'model' row 1: committed 'y', regenerated 'z'" in str(reproduce.compare_frames("t.csv", a, renamed)[0])
    assert not reproduce.compare_frames("t.csv", a, a.drop(columns="p"))[0].within(1.0)
    assert "2 committed rows, 1 regenerated" in str(reproduce.compare_frames("t.csv", a, a.head(1))[0])
    nan_moved = a.assign(p=[np.nan, 0.5])
    assert "missing values in different rows" in str(reproduce.compare_frames("t.csv", a, nan_moved)[0])


def test_compare_json_ignores_seconds_and_device():
    a = {"data": "synthetic", "seeds": [0, 1], "seconds": 10.0, "device": "cpu", "grid": {"rate": [0.5]}}
    assert reproduce.compare_json("s.json", a, {**a, "seconds": 99.0, "device": "cuda"}) == []
    [moved] = reproduce.compare_json("s.json", a, {**a, "grid": {"rate": [0.6]}})
    assert moved.what == "grid.rate[0]" and moved.size == pytest.approx(0.1)
    [changed] = reproduce.compare_json("s.json", a, {**a, "data": "c2dsr:x"})
    assert changed.what == "data: committed 'synthetic', regenerated 'c2dsr:x'" and not changed.within(1.0)


def test_compare_folders_names_missing_and_extra_files(tmp_path):
    committed, regenerated = tmp_path / "a", tmp_path / "b"
    for folder in (committed, regenerated):
        (folder / "sub").mkdir(parents=True)
        pd.DataFrame({"v": [1.0]}).to_csv(folder / "sub" / "t.csv", index=False)
    pd.DataFrame({"v": [1.0]}).to_csv(committed / "only_committed.csv", index=False)
    (regenerated / "only_new.json").write_text(json.dumps({"k": 1}))
    shown = [str(d) for d in reproduce.compare_folders(committed, regenerated)]
    assert shown == ["only_committed.csv: committed but not regenerated", "only_new.json: regenerated but not committed"]


def test_the_readme_block_replaces_the_marker_then_itself():
    entry = FOLDERS["06"]
    text = "# title\n\n<!-- commands -->\n\nrest\n"
    once = reproduce.updated_readme(text, entry)
    assert reproduce.readme_block(entry) in once and once.endswith("\n\nrest\n")
    assert reproduce.updated_readme(once, entry) == once
    with pytest.raises(ValueError, match="has no <!-- commands --> line"):
        reproduce.updated_readme("# no marker\n", entry)


def tiny_folder(tmp_path, monkeypatch, models: str, seeds: str) -> tuple[Path, list[str]]:
    """Register a folder "tiny" of one `compare` step on the tiny data (the given models and seeds), with its
    committed tables under ``tmp_path/results``; returns that results folder and the scratch arguments."""
    results = tmp_path / "results"
    entry = Folder("tiny", "none", (("compare", "--data", "synthetic:tiny", "--preset", "smoke", "--set", "dim=16",
                                     "--set", "epochs=1", "--models", models, "--seeds", seeds,
                                     "--runs", "{runs}", "--out", "{out}"),))
    for module in (registry, reproduce):
        monkeypatch.setattr(module, "FOLDERS", {"tiny": entry})
    monkeypatch.setattr(reproduce, "RESULTS", results)
    monkeypatch.setattr(reproduce, "TIMES", results / "times.csv")
    (results / "tiny").mkdir(parents=True)
    return results, ["--scratch", str(tmp_path / "scratch"), "--quiet"]


def test_a_tiny_folder_regenerates_checks_and_writes(tmp_path, monkeypatch, capsys):
    """A registered folder of one `compare` step on the tiny data: regenerate, check against itself
    (reproduced), perturb a committed number (refused, exit 2), then --write restores it and records the time."""
    results, scratch = tiny_folder(tmp_path, monkeypatch, "sasrec,pop", "0,1")
    assert main(["reproduce", "tiny", "--write", *scratch]) == 0
    written = sorted(p.name for p in (results / "tiny").iterdir())
    assert {"per_seed.csv", "setting.json"} <= set(written)
    assert pd.read_csv(results / "times.csv")["folder"].tolist() == ["tiny"]
    capsys.readouterr()
    assert main(["reproduce", "tiny", "--check", *scratch]) == 0
    assert "tiny: reproduced" in capsys.readouterr().out
    per_seed = pd.read_csv(results / "tiny" / "per_seed.csv")
    per_seed.loc[0, "value"] += 1.0
    per_seed.to_csv(results / "tiny" / "per_seed.csv", index=False)
    assert main(["reproduce", "tiny", "--check", *scratch]) == 2
    out, err = capsys.readouterr()
    assert "✗  per_seed.csv: column 'value' (largest difference 1)" in out
    assert "not reproduced within 0.05: tiny" in err


def test_set_trains_every_step_with_an_option_apart_and_says_what_it_moves(tmp_path, monkeypatch, capsys):
    """`reproduce NAME --check --set KEY=VALUE`: every step that takes --set gets the override, the run folders go
    apart (scratch/NAME[KEY=VALUE]/), the recorded override is no difference, a moved number is; --write refuses."""
    _, scratch = tiny_folder(tmp_path, monkeypatch, "dpgdiff", "0")
    assert main(["reproduce", "tiny", "--write", *scratch]) == 0
    assert main(["reproduce", "tiny", "--write", "--set", "preference=fused", *scratch]) == 2
    assert "--set cannot be combined with --write" in capsys.readouterr().err
    assert main(["reproduce", "tiny", "--check", "--set", "preference=own", *scratch]) == 0  # the default: no move
    assert "tiny: reproduced" in capsys.readouterr().out
    assert main(["reproduce", "tiny", "--check", "--set", "preference=fused", *scratch]) == 2
    out = capsys.readouterr().out
    assert "--set preference=fused" in out and "per_seed.csv: column 'value'" in out and "overrides" not in out
    config = json.loads((tmp_path / "scratch" / "tiny[preference=fused]" / "runs" / "dpgdiff" / "seed0" / "config.json")
                        .read_text())
    assert config["preference"] == "fused" and config["dim"] == 16
