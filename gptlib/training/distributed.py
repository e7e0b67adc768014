"""Chapter 8: data-parallel training under torchrun: one process per device, one global batch.

Every process holds the whole model and computes the gradient of its share of the batch;
DistributedDataParallel averages the gradients across processes during ``backward``, so every
process takes the same AdamW step as one process on the whole batch would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    """Where this process sits in a torchrun launch (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> Distributed:
    """Join the process group torchrun describes in RANK/WORLD_SIZE (gloo on CPU, nccl on CUDA)."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed()
    info = Distributed(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                       int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def global_mean(value: torch.Tensor, info: Distributed) -> float:
    """A per-process mean (a loss) averaged over all processes: the global batch's mean."""
    if info.enabled:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= info.world_size
    return float(value.item())


def barrier(info: Distributed) -> None:
    """Wait until every process gets here (rank 0 writes files the others then read)."""
    if info.enabled:
        dist.barrier()
