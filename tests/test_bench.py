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
