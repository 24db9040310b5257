"""Two CPU processes under torchrun (gloo) train one model: same weights on both ranks, one run folder."""

import json
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from dpgdiff_lite import distributed
from dpgdiff_lite.cli import main

TRAIN = ["-m", "dpgdiff_lite", "train", "--data", "synthetic:tiny", "--model", "sasrec", "--preset", "smoke", "--quiet"]

# one evaluation, at the last epoch, so rank 0's best weights are its final weights
SAVE_EACH_RANKS_WEIGHTS = """
import os, sys, torch
from dpgdiff_lite.config import preset
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.trainer import train
result = train(load_data("synthetic:tiny").dataset, preset("smoke", model="sasrec", device="cpu", eval_every=2),
               progress=False)
torch.save(result.model.state_dict(), os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.pt"))
"""


def torchrun(*args: str) -> subprocess.CompletedProcess:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port)]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_processes_match_a_single_process_run(tmp_path):
    two = torchrun(*TRAIN, "--out", str(tmp_path / "two"))
    assert main(TRAIN[2:] + ["--out", str(tmp_path / "one")]) == 0
    assert two.stdout.count("sasrec on synthetic:tiny") == 1  # rank 0 alone writes and prints
    one_m, two_m = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("one", "two"))
    # each step averages two half-batch mean gradients instead of one whole-batch mean: close, not equal
    for domain in ("X", "Y"):
        assert abs(one_m["test"][domain]["NDCG@10"] - two_m["test"][domain]["NDCG@10"]) < 4.0
    history = pd.read_csv(tmp_path / "two" / "history.csv")
    assert history["epoch"].tolist() == pd.read_csv(tmp_path / "one" / "history.csv")["epoch"].tolist() == [1, 2]
    assert history["loss_rec"].iloc[-1] < history["loss_rec"].iloc[0]


def test_ranks_end_with_identical_weights(tmp_path):
    # a second rank that skipped DDP's gradient averaging would end elsewhere: it trains on other rows
    torchrun("--no-python", sys.executable, "-c", SAVE_EACH_RANKS_WEIGHTS, str(tmp_path))
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)


def test_shards_are_disjoint_equal_and_make_up_each_global_batch(monkeypatch):
    order = np.random.default_rng(0).permutation(11)
    monkeypatch.setenv("WORLD_SIZE", "2")
    shards = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        shards.append(distributed.shard(order))
    assert len(shards[0]) == len(shards[1]) == 5 and not set(shards[0]) & set(shards[1])
    # local batches of 2: the ranks' first batches together are the first global batch of 4
    assert set(shards[0][:2]) | set(shards[1][:2]) == set(order[:4])


def test_a_batch_size_the_ranks_cannot_split_is_an_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="batch_size=5 is split over WORLD_SIZE=2 ranks"):
        distributed.local_batch_size(5)
