"""Data-parallel training across several GPUs (`clonekit train … --gpus N`, which starts
torchrun, see trainer/launch.py; or `torchrun`/`accelerate launch` directly). Every rank
runs the same recipe; rank 0 alone names the run folder, builds the tiny base, writes
run.json, metrics, checkpoints' shared files and the adapter. Single-process runs take
none of these paths.

What makes the data-parallel step cheap (the LoRA gradients are the only thing that
crosses GPUs): gradient accumulation skips the all-reduce on every micro-step but the
last (the Trainer's ``no_sync``), DDP reduces the LoRA gradients in buckets while the
backward still runs (``bucket_cap_mb``, gradients that are views of the buckets, no
unused-parameter search, no buffer broadcast), and nothing reads a GPU value on the host per micro-step
(each rank counts its tokens from shapes; the counts are summed once per optimizer step
over a host-side gloo group, which never waits for a GPU)."""

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


# ---------------------------------------------------------------- the data split
def balanced_rows(rows, multiple: int):
    """``rows`` (a RowDataset) with a row count that is a multiple of ``multiple`` (ranks x
    rows per micro-batch), so every rank gets the same number of micro-batches and the
    sampler never pads the last global batch by repeating rows (a duplicate would train
    twice per epoch). Rows holding several conversations are split in two (the largest
    first) until the count divides; only when no row can be split is the remainder left
    out. Returns (rows, dropped conversations)."""
    from trainer.data import RowDataset

    need = -len(rows.rows) % multiple
    if need == 0:
        return rows, 0
    out = list(rows.rows)
    splittable = sorted((i for i, row in enumerate(out) if len(row) > 1), key=lambda i: (-len(out[i]), i))
    extra = []
    for i in splittable[:need]:
        row = out[i]
        half = len(row) // 2
        out[i], tail = row[:half], row[half:]
        extra.append(tail)
    out += extra
    dropped = 0
    remainder = len(out) % multiple
    if remainder:
        dropped = sum(len(row) for row in out[-remainder:])
        out = out[:-remainder]
    return RowDataset(out), dropped


# ---------------------------------------------------------------- DDP settings
def ddp_arguments(cfg, world_size: int) -> dict:
    """TrainingArguments for the data-parallel wrapper. The LoRA graph is the same every
    step and its frozen base has no gradients: no unused-parameter search, buckets of
    ``ddp_bucket_cap_mb`` all-reduced while the backward still runs, and no buffer
    broadcast (rotary tables are equal on every rank). No static graph: DDP's static
    graph records its first iteration, and a first micro-step under ``no_sync`` (any
    gradient accumulation) trips its internal assert (``expect_autograd_hooks_``, torch
    2.13); without the unused-parameter search it saves nothing more here. Full
    fine-tuning keeps the Trainer's defaults."""
    if world_size <= 1:
        return {}
    if cfg.method == "full":
        return {"ddp_bucket_cap_mb": cfg.ddp_bucket_cap_mb}
    return {"ddp_find_unused_parameters": False, "ddp_bucket_cap_mb": cfg.ddp_bucket_cap_mb,
            "ddp_static_graph": False, "ddp_broadcast_buffers": False}


class AllReduceCounter:
    """A DDP communication hook that does the default all-reduce and counts the backward
    passes that synchronised (bucket 0 is reduced once per synchronising backward). Under
    gradient accumulation that is one per optimizer step: the micro-steps under
    ``no_sync`` never reach it. Counting is host-side only; nothing waits on the GPU."""

    def __init__(self) -> None:
        self.syncs = 0
        self.buckets = 0

    def install(self, model) -> bool:
        """Register on a DDP-wrapped model; False when ``model`` is not DDP (FSDP, 1 process)."""
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
        from torch.nn.parallel import DistributedDataParallel

        if not isinstance(model, DistributedDataParallel):
            return False

        def counting_allreduce_hook(state, bucket):
            if bucket.index() == 0:
                self.syncs += 1
            self.buckets = max(self.buckets, bucket.index() + 1)
            return allreduce_hook(state, bucket)

        model.register_comm_hook(None, counting_allreduce_hook)
        return True


_HOST_GROUP: list = []


def host_group():
    """A gloo process group for host-side counters: summing Python ints across ranks
    through it never touches (or waits for) a GPU. Collective to create: every rank
    calls it at the same point (the Trainer's construction)."""
    import torch.distributed as dist

    if not _HOST_GROUP:
        _HOST_GROUP.append(None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo"))
    return _HOST_GROUP[0]


def all_sum(value: int) -> int:
    """The sum of ``value`` over every rank, on the host (no GPU sync)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(t, group=host_group())
    return int(t.item())


# ---------------------------------------------------------------- complete checkpoints
COMPLETE_MARK = "clonekit_complete.json"


def mark_complete(checkpoint_dir, r: Ranks) -> None:
    """After every rank wrote its part of a checkpoint (rank 0 the adapter, optimizer and
    trainer state, each rank its RNG state), rank 0 marks it complete, atomically. A
    checkpoint written by several ranks without the mark was cut short (a rank killed
    mid-save) and resume skips it."""
    import json

    from builder.atomic import atomic_write_text

    barrier(r)
    if r.main:
        atomic_write_text(checkpoint_dir / COMPLETE_MARK, json.dumps({"world_size": r.world_size}))
    barrier(r)


def checkpoint_complete(checkpoint_dir) -> bool:
    """False for a multi-rank checkpoint (RNG states of ranks > 0) without rank 0's mark."""
    several = any(p.name != "rng_state_0.pth" for p in checkpoint_dir.glob("rng_state_*.pth"))
    return not several or (checkpoint_dir / COMPLETE_MARK).is_file()


def checkpoint_world_size(checkpoint_dir) -> int | None:
    import json

    try:
        return int(json.loads((checkpoint_dir / COMPLETE_MARK).read_text(encoding="utf-8"))["world_size"])
    except (OSError, ValueError, KeyError):
        return None
