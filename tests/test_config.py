import os

import pytest

from dpgdiff_lite.config import Config, preset


def test_json_round_trip(tmp_path):
    config = preset("paper", model="sasrec")
    config.to_json(tmp_path / "config.json")
    assert Config.from_json(tmp_path / "config.json") == config
    assert config.dim == 512 and config.batch_size == 512 and config.epochs == 100


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown config key 'dimension'"):
        Config.from_dict({"dimension": 3})
    with pytest.raises(ValueError, match="unknown config key 'lrr'"):
        Config().with_overrides(["lrr=0.1"])


def test_ill_typed_values_are_errors_naming_the_key():
    with pytest.raises(ValueError, match="config key 'dim' expects int, got '64.5'"):
        Config.from_dict({"dim": "64.5"})
    with pytest.raises(ValueError, match="config key 'epochs' expects int, got 'ten'"):
        Config().with_overrides(["epochs=ten"])
    with pytest.raises(ValueError, match="--set expects key=value"):
        Config().with_overrides(["epochs"])


def test_overrides_parse_to_the_field_type():
    config = Config().with_overrides(["lr=0.01", "bf16=false", "model=diff", "T=50"])
    assert (config.lr, config.bf16, config.model, config.T) == (0.01, False, "diff", 50)


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="unknown model 'gpt'"):
        Config(model="gpt")
    with pytest.raises(ValueError, match="'inference_steps' must be in 0..T=32"):
        Config(inference_steps=40)
    with pytest.raises(ValueError, match=r"'dim' \(30\) must be divisible by 'heads' \(4\)"):
        Config(dim=30, heads=4)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        preset("huge")


def test_cpu_threads_chosen_by_workload():
    from dpgdiff_lite.runtime import cpu_threads

    assert cpu_threads(3, (100, 100), 64) == 3  # asked for: kept
    assert cpu_threads(0, (400, 500), 64) == 1  # the synthetic data: one thread
    assert cpu_threads(0, (29_207, 34_886), 64) in (1, os.cpu_count())  # timed
    with pytest.raises(ValueError, match="'cpu_threads' must be >= 0"):
        Config(cpu_threads=-1)


def test_a_worker_thread_limit_caps_whatever_a_config_asks(monkeypatch):
    import torch

    from dpgdiff_lite import runtime

    monkeypatch.setattr(runtime, "_thread_limit", None)
    before = torch.get_num_threads()
    try:
        runtime.limit_threads(1)
        assert torch.get_num_threads() == 1
        assert runtime.cpu_threads(3, (100, 100), 64) == 1  # a config asking for 3 gets the worker's 1
        assert runtime.cpu_threads(0, (400, 500), 64) == 1
    finally:
        torch.set_num_threads(before)
    monkeypatch.setattr(runtime, "_thread_limit", None)
    assert runtime.cpu_threads(3, (100, 100), 64) == 3
