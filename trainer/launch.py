"""`clonekit train … --gpus N`: the same command, re-run as N processes under torchrun
(``python -m torch.distributed.run --standalone --nproc-per-node N -m clonekit train …``
with the same arguments minus ``--gpus``), so nobody has to learn torchrun for one host.
Several hosts use torchrun's own rendezvous directly (README, "Several GPUs").

Before launching it prints the per-GPU memory estimate for both ways of spreading the run:
data parallel (a full copy of the base per GPU) and FSDP (the base sharded over the GPUs)."""

from __future__ import annotations

import os
import subprocess
import sys

from builder.errors import ClonekitError


def under_launcher() -> bool:
    """True inside a process that torchrun/accelerate started (it sets WORLD_SIZE)."""
    return "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def strip_gpus(argv: list[str]) -> list[str]:
    """``argv`` without ``--gpus N`` / ``--gpus=N``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--gpus":
            skip = True
            continue
        if arg.startswith("--gpus="):
            continue
        out.append(arg)
    return out


def torchrun_command(gpus: int, train_argv: list[str]) -> list[str]:
    """The command that runs ``clonekit train`` + ``train_argv`` on ``gpus`` local processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(gpus),
            "-m", "clonekit", "train", *strip_gpus(train_argv)]


def check_gpus(gpus: int, cfg) -> None:
    """Refuse more processes than GPUs (CUDA runs) and what FSDP cannot do, once, before
    any process starts. On CPU the processes share the cores over gloo (the tests)."""
    import torch

    from trainer import fsdp

    if gpus < 1:
        raise ClonekitError(f"--gpus {gpus}: must be 1 or more")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ClonekitError("--gpus: no CUDA GPU found on this machine")
    cuda = cfg.device != "cpu" and torch.cuda.is_available()
    if cuda and gpus > torch.cuda.device_count():
        raise ClonekitError(f"--gpus {gpus}: this machine has {torch.cuda.device_count()} CUDA GPU(s); "
                            f"pass --gpus {torch.cuda.device_count()} or fewer")
    if cfg.fsdp:
        fsdp.check(cfg, gpus, "cuda" if cuda else "cpu")


def memory_lines(cfg, base: str, gpus: int) -> list[str]:
    """Per-GPU peak-memory estimates for data parallel and FSDP over ``gpus`` (the base's
    config only; no weights are loaded). Empty for the tiny base, whose config is built
    inside the run."""
    if base == "tiny":
        return []
    from transformers import AutoConfig

    from trainer.estimate import GiB, memory_bytes, model_shape, trainable_params

    try:
        config = AutoConfig.from_pretrained(base)
    except (OSError, ValueError) as err:
        raise ClonekitError(f"--base {base}: cannot read its config ({str(err).splitlines()[0][:160]})") from None
    shape = model_shape(config)
    n = trainable_params(shape, cfg)
    ckpt = cfg.gradient_checkpointing is not False
    dp = memory_bytes(shape, cfg, n, checkpointing=ckpt)
    sharded = memory_bytes(shape, cfg, n, checkpointing=ckpt, shards=gpus)
    chosen = "fsdp" if cfg.fsdp else "data parallel"
    lines = [
        f"{gpus} GPUs, {chosen}: estimated peak memory per GPU at max length {cfg.max_length} "
        f"({'with' if ckpt else 'without'} activation checkpointing): data parallel {dp / GiB:.1f} GiB, "
        f"FSDP {sharded / GiB:.1f} GiB",
    ]
    free = _smallest_gpu_bytes(gpus)
    if free and not cfg.fsdp and dp > 0.95 * free >= sharded:
        lines.append(f"a full copy per GPU does not fit {free / GiB:.1f} GiB; sharded it does: add --fsdp")
    return lines


def _smallest_gpu_bytes(gpus: int) -> int | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return min(torch.cuda.get_device_properties(i).total_memory for i in range(min(gpus, torch.cuda.device_count())))


def relaunch(gpus: int, train_argv: list[str], say) -> int:
    """Run ``clonekit train`` + ``train_argv`` as ``gpus`` processes; returns torchrun's
    exit status. ``say`` prints one line (the CLI's stderr)."""
    cmd = torchrun_command(gpus, train_argv)
    say(f"launching {gpus} processes: {' '.join(cmd[1:])}")
    env = {**os.environ}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // gpus)))
    proc = subprocess.Popen(cmd, env=env)
    # A SIGTERM to this process (the TUI's Cancel, a scheduler) goes on to torchrun, which
    # passes it to every rank: they stop like Ctrl-C, and rank 0 records what was kept.
    # Ctrl-C reaches them all directly (one process group); here we only wait.
    forward = _forward_sigterm(proc)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                continue
    finally:
        forward()


def _forward_sigterm(proc: subprocess.Popen):
    """Forward SIGTERM to ``proc`` until the returned function restores the old handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
    return lambda: signal.signal(signal.SIGTERM, previous)
