"""Data-parallel training under ``torchrun``: the process group, each rank's shard, rank-0 decisions.

``torchrun --nproc_per_node N -m dpgdiff_lite train …`` starts N copies of the command with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` set. Every rank trains on its own slice of each global
batch and DistributedDataParallel averages the gradients; rank 0 alone evaluates and writes files.
Without those variables every function here is a no-op and training is single-process.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Rank 0 evaluates, logs and writes the run folder."""
    return rank() == 0


@contextmanager
def process_group(device: torch.device) -> Iterator[torch.device]:
    """Join the torchrun group (nccl on CUDA, gloo on CPU) for the duration; yield this rank's device."""
    if world_size() == 1:
        yield device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield device
    finally:
        dist.destroy_process_group()


def local_batch_size(batch_size: int) -> int:
    """Each rank's share of the global ``batch_size``, so a step sees as many sequences as one process."""
    if batch_size % world_size():
        raise ValueError(f"batch_size={batch_size} is split over WORLD_SIZE={world_size()} ranks: "
                         f"make it a multiple of {world_size()}")
    return batch_size // world_size()


def shard(order: np.ndarray) -> np.ndarray:
    """This rank's slice of a permutation shared by all ranks: every ``world_size``-th index, equally many each.

    Taken in batches of :func:`local_batch_size`, the ranks' k-th batches together are exactly the
    k-th global batch of ``order``, and every rank runs the same number of steps (no hung collective).
    """
    return order[rank()::world_size()][:len(order) // world_size()]


def broadcast_from_main(value: Any) -> Any:
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average per-rank numbers (epoch losses) over the ranks, so history.csv shows the global mean."""
    if world_size() == 1:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / world_size()).tolist()))


class LossTerms(nn.Module):
    """Calling this returns ``model.loss_terms(...)``: DDP syncs gradients only for what its forward made."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch, **kwargs) -> dict[str, torch.Tensor]:
        return self.model.loss_terms(batch, **kwargs)


def data_parallel(model: nn.Module, device: torch.device):
    """``model.loss_terms`` itself when single-process, else a DDP module whose call returns it."""
    if world_size() == 1:
        return model.loss_terms
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(LossTerms(model), device_ids=device_ids)
