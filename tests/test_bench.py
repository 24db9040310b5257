import pytest

from dpgdiff_lite.bench import benchmark
from dpgdiff_lite.config import preset
from dpgdiff_lite.data.synthetic import generate


def test_benchmark_reports_every_figure_and_flops_grow_with_width():
    dataset, _ = generate("tiny")
    small = benchmark(dataset, preset("smoke", model="sasrec", dim=16, device="cpu"), steps=2, eval_cases=64)
    large = benchmark(dataset, preset("smoke", model="sasrec", dim=64, device="cpu"), steps=2, eval_cases=64)
    for key in ("train_sequences_per_s", "train_items_per_s", "epoch_seconds", "achieved_flops_per_s",
                "eval_cases_per_s_k1", "eval_cases_per_s_k5", "eval_cases_per_s_k32", "peak_memory_mb"):
        assert small[key] > 0
    # the item softmax dominates: its FLOPs are linear in the width, the rest at least linear
    assert large["step_flops"] > 3.5 * small["step_flops"]
    assert small["epoch_seconds"] == pytest.approx(small["train_sequences"] / small["train_sequences_per_s"])


def test_benchmark_refuses_a_model_with_nothing_to_train():
    dataset, _ = generate("tiny")
    with pytest.raises(ValueError, match="model 'pop' has nothing to train"):
        benchmark(dataset, preset("smoke", model="pop", device="cpu"))


def test_profile_splits_a_step_into_parts_that_add_up():
    from dpgdiff_lite.bench import profile_step

    dataset, _ = generate("tiny")
    frame = profile_step(dataset, preset("smoke", model="dpgdiff", device="cpu"), steps=2).set_index("part")
    parts = frame.drop(index=[p for p in frame.index if p.startswith(("one training step", "one validation"))])
    assert parts["share"].sum() == pytest.approx(1.0)
    assert parts["ms"].sum() == pytest.approx(frame.loc["one training step", "ms"])
    assert (parts["ms"] > 0).all()
    assert {"forward: Encoder_x, Encoder_y (eq. 8)", "forward: encoders of the mixed sequence (Encoder_c over s_c, s_aug)",
            "forward: decoder cross-attention (eq. 9)", "backward", "optimiser step (Adam)"} <= set(parts.index)
    single = profile_step(dataset, preset("smoke", model="sasrec-single", device="cpu"), steps=2)["part"].tolist()
    assert "forward: decoder cross-attention (eq. 9)" not in single  # SASRec has no decoder
    assert "forward: Encoder_x, Encoder_y (eq. 8)" in single  # its per-domain encoders are DPG-Diff's module


def test_bench_profile_command_writes_the_parts_as_csv(tmp_path, capsys):
    import pandas as pd

    from dpgdiff_lite.cli import main

    out = tmp_path / "profile.csv"
    assert main(["bench", "--data", "synthetic:tiny", "--preset", "smoke", "--model", "sasrec", "--steps", "2",
                 "--profile", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["part", "ms", "share"] and "backward" in frame["part"].tolist()
    assert "one training step" in capsys.readouterr().out
