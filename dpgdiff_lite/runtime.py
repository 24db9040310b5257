"""The one place that seeds random number generators, picks the compute device and its CPU threads."""

from __future__ import annotations

import os
import random
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch


def set_seed(seed: int) -> None:
    """Seed Python, numpy's legacy global state and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_device(name: str = "auto") -> torch.device:
    """``auto``: cuda, then mps, then cpu. Asking for an absent accelerator is an error, not a CPU run."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but this machine has no CUDA GPU; use 'cpu' or 'auto'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but is not available here; use 'cpu' or 'auto'")
    if name.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps")
    return torch.device(name)


@contextmanager
def explain_out_of_memory(batch_size: int, dim: int) -> Iterator[None]:
    """Turn a device out-of-memory error into a message naming the settings to lower."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise ValueError(f"out of device memory with batch_size={batch_size}, dim={dim}: lower "
                         f"--set batch_size=… (or dim)") from None


LARGE_CATALOGUE = 5_000
"""Items in a domain from which the scoring GEMMs are large enough to split across CPU threads."""


_thread_limit: int | None = None


def limit_threads(threads: int) -> None:
    """Cap this process's torch threads at ``threads`` from now on, whatever a config asks (a
    worker of :func:`dpgdiff_lite.experiments.runner.train_runs`, beside others on the same cores)."""
    global _thread_limit
    _thread_limit = threads
    torch.set_num_threads(threads)


def cpu_threads(requested: int, n_items: tuple[int, ...], dim: int) -> int:
    """The torch thread count for training on the CPU, at most :func:`limit_threads`' cap: see
    :func:`_chosen_threads`."""
    chosen = _chosen_threads(requested, n_items, dim)
    return chosen if _thread_limit is None else min(chosen, _thread_limit)


def _chosen_threads(requested: int, n_items: tuple[int, ...], dim: int) -> int:
    """The torch thread count for training on the CPU: ``requested`` when > 0, else chosen by workload.

    Small catalogues (every domain under :data:`LARGE_CATALOGUE` items, the synthetic data) get one
    thread: their matrices are too small to split, and one thread is immune to a busy neighbour.
    For large ones the scoring GEMM (64 rows × ``dim`` against the largest table) is timed on one
    thread and on all cores, and the faster wins. Measured on a 2-core CPU (Food-Kitchen, DPG-Diff,
    batch 256): 2 threads 0.85 s per step against 1.46 s on one when the machine is idle, but
    2.45 s against 1.30 s when another process keeps one core busy: OpenMP threads that wait for a
    descheduled sibling stall, so the choice is made by measurement, not by core count.
    """
    if requested > 0:
        return requested
    cores = os.cpu_count() or 1
    if cores == 1 or max(n_items) < LARGE_CATALOGUE:
        return 1
    rows, table = torch.randn(64, dim), torch.randn(max(n_items), dim)

    def seconds(threads: int) -> float:
        torch.set_num_threads(threads)
        rows @ table.T  # warm-up
        started = time.perf_counter()
        for _ in range(3):
            rows @ table.T
        return time.perf_counter() - started

    return min((1, cores), key=seconds)
