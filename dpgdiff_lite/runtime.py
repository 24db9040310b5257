"""The one place that seeds random number generators and picks the compute device."""

from __future__ import annotations

import random
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
