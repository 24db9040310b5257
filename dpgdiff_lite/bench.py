"""``python -m dpgdiff_lite bench``: measured training and scoring speed, memory and FLOPs.

Every figure is measured after a warm-up, on the data and preset given, never estimated from
another machine: training throughput (sequences/s, target items/s), one epoch's time, evaluation
throughput (test cases/s) for k = 1, 5 and T reverse steps, peak memory, and the FLOPs of one
training step (counted by ``torch.utils.flop_counter``) with the FLOP/s achieved.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import PAD, CrossDomainDataset, EvalSplit, iterate_batches
from dpgdiff_lite.runtime import explain_out_of_memory, get_device
from dpgdiff_lite.trainer import run_evaluation, setup_training, train_step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def benchmark(dataset: CrossDomainDataset, config: Config, steps: int = 20, eval_cases: int = 2048) -> dict:
    """Measure one model on one dataset with the trainer's own set-up and step; returns a flat dict."""
    if not config.trainable:
        raise ValueError(f"bench: model {config.model!r} has nothing to train; pick a trainable model")
    device = get_device(config.device)
    setup = setup_training(dataset, config, device)
    inputs, targets = setup.inputs, setup.targets

    def endless():  # epochs back to back, so a small dataset still gives enough full batches
        while True:
            yield from iterate_batches(inputs, targets, dataset.offsets, config.batch_size, setup.rng)

    batches = [b.to(device) for b, _ in zip(endless(), range(steps + 3))]
    setup.model.train()
    with explain_out_of_memory(config.batch_size, config.dim):
        for batch in batches[:2]:  # warm-up
            train_step(setup, batch)
        with FlopCounterMode(display=False) as counter:
            train_step(setup, batches[2])
        _sync(device)
        started = time.perf_counter()
        for batch in batches[3:]:
            train_step(setup, batch)
        _sync(device)
    seconds = (time.perf_counter() - started) / max(len(batches) - 3, 1)
    rows = np.concatenate([b.targets.cpu().numpy() for b in batches[3:]]) if len(batches) > 3 else targets[:0]
    sequences_per_s = np.mean([len(b) for b in batches[3:]]) / seconds
    flops = counter.get_total_flops()
    result = {
        "model": config.model, "data": dataset.name, "device": str(device), "dim": config.dim,
        "batch_size": config.batch_size, "train_sequences": len(inputs),
        "train_sequences_per_s": sequences_per_s,
        "train_items_per_s": float((rows != PAD).sum()) / (seconds * max(len(batches) - 3, 1)),
        "epoch_seconds": len(inputs) / sequences_per_s,
        "step_flops": flops, "achieved_flops_per_s": flops / seconds,
    }
    test = dataset.test
    subset = CrossDomainDataset(dataset.name, dataset.protocol, dataset.domain_names, dataset.n_items,
                                dataset.train[:1], dataset.valid,
                                EvalSplit(test.histories[:eval_cases], test.targets[:eval_cases],
                                          test.users[:eval_cases]), dataset.max_len)
    for k in sorted({1, min(5, config.T), config.T}):
        _sync(device)
        started = time.perf_counter()
        run_evaluation(setup.model, subset, config, "test", steps=k)
        _sync(device)
        result[f"eval_cases_per_s_k{k}"] = len(subset.test) / (time.perf_counter() - started)
    result["peak_memory_mb"] = _peak_memory_mb(device)
    return result


def format_benchmark(result: dict) -> str:
    """The benchmark as a small two-column table."""
    frame = pd.Series(result).to_frame("value")
    return frame.to_string(float_format=lambda v: f"{v:,.1f}")


def write_benchmark(result: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2))
