import json

import pandas as pd
import pytest

from dpgdiff_lite.cli import main
from dpgdiff_lite.data.sources import load_data

METRICS = {"MRR@10", "NDCG@5", "NDCG@10", "HR@5", "HR@10"}


def test_train_writes_the_documented_metrics_layout(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "synthetic:tiny", "--model", "sasrec", "--preset", "smoke",
                 "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "synthetic" and metrics["model"] == "sasrec"
    assert metrics["data"] == "synthetic:tiny"
    for split in ("test", "valid"):
        assert set(metrics[split]) == {"X", "Y"}
        assert all(set(v) == METRICS for v in metrics[split].values())
    assert {"config.json", "history.csv", "model.pt"} <= {p.name for p in out.iterdir()}
    assert "sasrec on synthetic:tiny" in capsys.readouterr().out


def test_oracle_beats_popularity_on_synthetic_data(tmp_path):
    for model in ("oracle", "pop"):
        assert main(["train", "--data", "synthetic:tiny", "--model", model, "--preset", "smoke",
                     "--out", str(tmp_path / model)]) == 0
    oracle, pop = (json.loads((tmp_path / m / "metrics.json").read_text())["test"] for m in ("oracle", "pop"))
    for domain in ("X", "Y"):
        assert oracle[domain]["NDCG@10"] > 2 * pop[domain]["NDCG@10"]


def test_evaluate_re_scores_a_run_under_noise_and_steps(tmp_path):
    run = tmp_path / "run"
    main(["train", "--data", "synthetic:tiny", "--model", "dpgdiff", "--preset", "smoke", "--out", str(run), "--quiet"])
    assert main(["evaluate", "--run", str(run), "--test-noise", "0.3", "--steps", "4"]) == 0
    metrics = json.loads((run / "eval-test-noise0.3-steps4.json").read_text())
    assert metrics["test_noise"] == 0.3 and metrics["steps"] == 4 and set(metrics["test"]) == {"X", "Y"}


def test_the_old_test_noise_flag_is_refused_naming_the_new_one(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--run", "somewhere", "--noise-rate", "0.3"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith("error: option --noise-rate was renamed --test-noise\n")


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "ftp:somewhere", "--out", "x"], "ftp:somewhere"),
    (["train", "--data", "synthetic:tiny", "--out", "x", "--set", "dimension=3"], "unknown config key 'dimension'"),
    (["train", "--data", "synthetic:tiny", "--out", "x", "--set", "epochs=many"], "config key 'epochs' expects int"),
    (["train", "--data", "c2dsr:/nonexistent/Food-Kitchen", "--out", "x"], "Alist.txt"),
    (["evaluate", "--run", "/nonexistent/run"], "metrics.json"),
    (["train", "--data", "synthetic:tiny[noise_rate=0.1]", "--out", "x"],
     "data spec 'synthetic:tiny[noise_rate=0.1]': unknown knob 'noise_rate' (renamed 'adhoc_noise')"),
])
def test_bad_input_is_a_clear_error(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_compare_writes_table1_and_the_oracle_fractions(tmp_path, capsys):
    assert main(["compare", "--data", "synthetic:tiny", "--preset", "smoke", "--models", "dpgdiff,pop",
                 "--out", str(tmp_path), "--quiet"]) == 0
    header = (tmp_path / "table1.csv").read_text().splitlines()[0]
    assert header == "domain,metric,dpgdiff,pop,Imp.,p"
    out = capsys.readouterr().out
    assert "NDCG@10 as a fraction of the planted oracle's" in out and "seconds per epoch: dpgdiff" in out


def test_compare_with_seeds_writes_mean_and_std_tables(tmp_path, capsys):
    from dpgdiff_lite.cli import main

    out = tmp_path / "seeds"
    assert main(["compare", "--data", "synthetic:tiny", "--preset", "smoke", "--models", "sasrec,pop",
                 "--seeds", "0,1", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "mean ± std over seeds [0, 1]" in printed and " ± " in printed
    assert {"sasrec mean", "sasrec std", "pop mean", "pop std"} <= set(open(out / "table1_seeds.csv").readline().strip().split(","))
    assert (out / "sasrec" / "seed1" / "metrics.json").exists() and (out / "per_seed.csv").exists()
    cold_warm = pd.read_csv(out / "cold_warm.csv")  # every test case once per (model, seed), cold or warm
    assert list(cold_warm.columns) == ["model", "seed", "domain", "target", "cases", "NDCG@10", "HR@10"]
    assert set(cold_warm.groupby(["model", "seed"])["cases"].sum()) == {len(load_data("synthetic:tiny").dataset.test.targets)}
    assert main(["compare", "--data", "synthetic:tiny", "--models", "pop", "--seeds", "0,x", "--out", str(out)]) == 2
    assert "--seeds must be a comma-separated list of ints, got '0,x'" in capsys.readouterr().err
