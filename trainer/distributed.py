"""Data-parallel training across several GPUs (`torchrun --nproc-per-node N -m clonekit
train …` or `accelerate launch`). Every rank runs the same recipe; rank 0 alone names the
run folder, builds the tiny base, writes run.json, metrics and the adapter. Single-process
runs take none of these paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def ranks() -> Ranks:
    return Ranks(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                 int(os.environ.get("WORLD_SIZE", 1)))


def init(device: str) -> Ranks:
    """Join the process group launched by torchrun/accelerate (the Trainer reuses it)."""
    r = ranks()
    if not r.distributed:
        return r
    import torch
    import torch.distributed as dist

    if device == "cuda":
        torch.cuda.set_device(r.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return r


def share(value: Any, r: Ranks) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not r.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(r: Ranks) -> None:
    if r.distributed:
        import torch.distributed as dist

        dist.barrier()
