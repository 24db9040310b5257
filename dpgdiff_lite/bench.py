"""``python -m dpgdiff_lite bench``: measured training and scoring speed, memory and FLOPs, and where
a training step's time goes.

Every figure is measured after a warm-up, on the data and preset given, never estimated from
another machine: training throughput (sequences/s, target items/s), one epoch's time, evaluation
throughput (test cases/s) for k = 1, 5 and T reverse steps, peak memory, and the FLOPs of one
training step (counted by ``torch.utils.flop_counter``) with the FLOP/s achieved. With ``--profile``,
:func:`profile_step` splits a step into its parts (``docs/speed.md``).
"""

from __future__ import annotations

import json
import resource
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from dpgdiff_lite.config import Config
from dpgdiff_lite.data.dataset import PAD, Batch, CrossDomainDataset, EvalSplit, iterate_batches
from dpgdiff_lite.denoiser import CrossAttentionDecoder
from dpgdiff_lite.encoders import DisentangledEncoder, SequenceEncoder
from dpgdiff_lite.runtime import explain_out_of_memory, get_device
from dpgdiff_lite.trainer import TrainingSetup, run_evaluation, setup_training, train_step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _batches(setup: TrainingSetup, dataset: CrossDomainDataset, count: int) -> list[Batch]:
    """``count`` training batches as the trainer builds them, epochs back to back so that a small
    dataset still gives enough full batches."""
    def endless():
        while True:
            yield from iterate_batches(setup.inputs, setup.targets, dataset.offsets, setup.config.batch_size, setup.rng)

    return [batch for batch, _ in zip(endless(), range(count))]


def benchmark(dataset: CrossDomainDataset, config: Config, steps: int = 20, eval_cases: int = 2048) -> dict:
    """Measure one model on one dataset with the trainer's own set-up and step; returns a flat dict."""
    if not config.trainable:
        raise ValueError(f"bench: model {config.model!r} has nothing to train; pick a trainable model")
    device = get_device(config.device)
    setup = setup_training(dataset, config, device)
    inputs, targets = setup.inputs, setup.targets
    batches = [b.to(device) for b in _batches(setup, dataset, steps + 3)]
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


PROFILED_MODULES = ((DisentangledEncoder, "forward: Encoder_x, Encoder_y (eq. 8)"),
                    (SequenceEncoder, "forward: encoders of the mixed sequence (Encoder_c over s_c, s_aug)"),
                    (CrossAttentionDecoder, "forward: decoder cross-attention (eq. 9)"))
"""The modules whose forward time :func:`profile_step` reports apart (the first class that matches;
a SequenceEncoder inside the Disentangled Encoder counts as the latter's)."""


def _timed(totals: dict[str, float], part: str, function):
    """``function`` with its wall seconds added to ``totals[part]`` at every call."""
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[part] += time.perf_counter() - started
    return timed


def profile_step(dataset: CrossDomainDataset, config: Config, steps: int = 20) -> pd.DataFrame:
    """Milliseconds per training step by part, on the trainer's own set-up and step (CPU wall time,
    after two warm-up steps): building batches, each encoder's forward, the augmentations of s_aug,
    the rest of the forward (diffusion, scores and losses), backward, the optimiser, and one
    validation pass over the whole validation split (per epoch, not per step).

    Returns one row per part: ``part``, ``ms`` per step, ``share`` of a step's time.
    """
    if not config.trainable:
        raise ValueError(f"bench: model {config.model!r} has nothing to train; pick a trainable model")
    device = get_device(config.device)
    setup = setup_training(dataset, config, device)
    model, totals = setup.model, defaultdict(float)
    owners = {}
    for module in model.modules():  # the outermost profiled module owns every module inside it
        if module in owners:
            continue
        part = next((name for kind, name in PROFILED_MODULES if isinstance(module, kind)), None)
        if part is not None:
            owners.update({inner: part for inner in module.modules()})
            module.forward = _timed(totals, part, module.forward)
    if hasattr(model, "augment"):
        model.augment = _timed(totals, "forward: augmentations of s_aug (NumPy)", model.augment)
    setup.optimizer.step = _timed(totals, "optimiser step (Adam)", setup.optimizer.step)
    forward = _timed(totals, "forward", model.loss_terms)
    started = time.perf_counter()
    batches = [batch.to(device) for batch in _batches(setup, dataset, steps + 2)]
    collation = (time.perf_counter() - started) / len(batches)
    model.train()
    for batch in batches[:2]:
        train_step(setup, batch, forward)
    totals.clear()
    _sync(device)
    started = time.perf_counter()
    for batch in batches[2:]:
        train_step(setup, batch, forward)
    _sync(device)
    step = (time.perf_counter() - started) / max(len(batches) - 2, 1)
    per_step = {part: seconds / max(len(batches) - 2, 1) for part, seconds in totals.items()}
    parts = {"building batches (NumPy)": collation}
    inner = {part: ms for part, ms in per_step.items() if part.startswith("forward: ")}
    parts.update(inner)
    parts["forward: the rest (diffusion, scores, losses)"] = per_step["forward"] - sum(inner.values())
    parts["backward"] = step - per_step["forward"] - per_step.get("optimiser step (Adam)", 0.0)
    parts["optimiser step (Adam)"] = per_step.get("optimiser step (Adam)", 0.0)
    total = collation + step
    started = time.perf_counter()
    run_evaluation(model, dataset, config, "valid")
    validation = time.perf_counter() - started
    rows = [{"part": part, "ms": 1000 * seconds, "share": seconds / total} for part, seconds in parts.items()]
    rows += [{"part": "one training step", "ms": 1000 * total, "share": 1.0},
             {"part": f"one validation pass ({len(dataset.valid)} cases; per epoch)", "ms": 1000 * validation,
              "share": float("nan")}]
    return pd.DataFrame(rows)
