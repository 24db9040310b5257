import json

import pandas as pd
import pytest
import torch

from dpgdiff_lite.config import preset
from dpgdiff_lite import trainer
from dpgdiff_lite.trainer import NonFiniteLoss, load_run, train
from tests.conftest import make_toy_dataset


def smoke(model="dpgdiff", **overrides):
    return preset("smoke", model=model, device="cpu", **{"eval_negatives": 9, "max_len": 8, **overrides})


def test_run_folder_layout(tmp_path, toy_dataset):
    result = train(toy_dataset, smoke(), tmp_path, progress=False)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "history.csv", "checkpoint.pt", "model.pt", "metrics.json"}
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == "dpgdiff" and metrics["protocol"] == "leave-one-out"
    assert set(metrics["test"]) == {"X", "Y"}
    assert set(metrics["test"]["X"]) == {"MRR@10", "NDCG@5", "NDCG@10", "HR@5", "HR@10"}
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [1, 2] and "valid_NDCG@10" in history
    model, config = load_run(tmp_path, toy_dataset)
    assert config == result.config
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), result.model.state_dict().values()))


def test_two_cpu_runs_with_one_seed_are_identical(toy_dataset):
    a = train(toy_dataset, smoke(), progress=False).metrics()
    b = train(toy_dataset, smoke(), progress=False).metrics()
    assert a["test"] == b["test"] and a["valid"] == b["valid"]


def test_resume_from_checkpoint_equals_an_uninterrupted_run(tmp_path, toy_dataset, monkeypatch):
    whole = train(toy_dataset, smoke(epochs=3, patience=5), tmp_path / "whole", progress=False)
    real_epoch = trainer._train_epoch

    def interrupted(setup, epoch, *args):
        if epoch == 2:
            raise KeyboardInterrupt  # the user stops the run during epoch 2
        return real_epoch(setup, epoch, *args)

    monkeypatch.setattr(trainer, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(toy_dataset, smoke(epochs=3, patience=5), tmp_path / "cut", progress=False)
    monkeypatch.setattr(trainer, "_train_epoch", real_epoch)
    resumed = train(toy_dataset, smoke(epochs=3, patience=5), tmp_path / "cut", progress=False)
    assert resumed.history["epoch"].tolist() == [1, 2, 3]
    assert resumed.metrics()["test"] == whole.metrics()["test"]
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_a_tiny_model_overfits_a_tiny_dataset():
    data = make_toy_dataset(n_users=8, n_items=(6, 6), seed=1)
    data.test = data.valid = type(data.valid)([s[:-1] for s in data.train], [s[-1] for s in data.train], data.train_users)
    import numpy as np
    data.valid = type(data.valid)(data.valid.histories, np.array(data.valid.targets), data.train_users)
    data.test = data.valid
    result = train(data, smoke(model="sasrec", epochs=150, patience=200, dim=32, lr=1e-2, dropout=0.0,
                               eval_negatives=5, eval_every=50, batch_size=8), progress=False)
    losses = result.history["loss_rec"]
    assert losses.iloc[-1] < 0.2 * losses.iloc[0]
    assert result.test.table["HR@5"].min() > 90  # the memorised next items rank in the top 5 of 6


def test_non_finite_loss_stops_with_a_message_naming_epoch_and_term(toy_dataset):
    with pytest.raises(NonFiniteLoss, match=r"epoch 1: loss term '\w+' is nan"):
        train(toy_dataset, smoke(lr=1e30, batch_size=4), progress=False)


def test_popularity_needs_no_training(toy_dataset, tmp_path):
    result = train(toy_dataset, smoke(model="pop"), tmp_path, progress=False)
    assert json.loads((tmp_path / "metrics.json").read_text())["model"] == "pop"
    assert result.history.empty


def test_out_of_memory_names_the_setting_to_lower(toy_dataset, monkeypatch):
    from dpgdiff_lite.model import DPGDiff

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(DPGDiff, "loss_terms", exhausted)
    with pytest.raises(ValueError, match=r"out of device memory with batch_size=128, dim=32: lower --set batch_size"):
        train(toy_dataset, smoke(), progress=False)


def test_the_linear_schedule_lowers_the_learning_rate_epoch_by_epoch(toy_dataset, monkeypatch):
    config = smoke(lr=0.01, epochs=4, patience=9, lr_schedule="linear")
    assert [config.learning_rate(e) for e in (1, 2, 3, 4)] == pytest.approx([0.01, 0.0075, 0.005, 0.0025])
    assert smoke(lr=0.01).learning_rate(3) == 0.01  # constant
    seen = []
    real_step = trainer.train_step
    monkeypatch.setattr(trainer, "train_step", lambda setup, *a: seen.append(setup.optimizer.param_groups[0]["lr"])
                        or real_step(setup, *a))
    train(toy_dataset, config, progress=False)
    assert sorted(set(seen), reverse=True) == pytest.approx([0.01, 0.0075, 0.005, 0.0025])
    with pytest.raises(ValueError, match="'lr_schedule' must be one of constant, linear, got 'cosine'"):
        smoke(lr_schedule="cosine")
