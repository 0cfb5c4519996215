"""Several processes: two CPU processes over gloo stand in for two GPUs.

Fast: the data split (no row twice, equal micro-batches per rank), the torchrun command
`--gpus N` builds, complete-marked checkpoints, the FSDP memory split and refusals.
Slow (real tiny-model runs): data parallel through `clonekit train --gpus 2` and FSDP
(LoRA; accelerate shards 4-bit bases on GPUs only) give the single-process losses, one
run folder written by rank 0, one all-reduce per optimizer step under accumulation."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainer.conftest import write_dataset

REPO = Path(__file__).resolve().parents[2]
TINY_CPU = REPO / "trainer" / "presets" / "tiny-cpu.toml"


# ---------------------------------------------------------------- fast
def _rows(sizes: list[int]):
    from trainer.data import Encoded, RowDataset

    n = iter(range(10_000))
    return RowDataset([[Encoded([next(n)] * 3, [1] * 3) for _ in range(k)] for k in sizes])


def _conversation_ids(rows) -> list[int]:
    return [e.input_ids[0] for row in rows.rows for e in row]


@pytest.mark.parametrize("sizes, multiple", [([3, 2, 1, 1, 1], 2), ([2, 2, 2], 4), ([4, 1, 1, 1, 1], 6), ([1, 1], 2)])
def test_balanced_rows_split_rows_never_repeat_a_conversation(sizes, multiple):
    from trainer.distributed import balanced_rows

    rows = _rows(sizes)
    out, dropped = balanced_rows(rows, multiple)
    assert len(out) % multiple == 0 and dropped == 0
    assert sorted(_conversation_ids(out)) == sorted(_conversation_ids(rows))  # each exactly once


def test_balanced_rows_drops_only_what_cannot_be_split():
    from trainer.distributed import balanced_rows

    out, dropped = balanced_rows(_rows([1, 1, 1]), 2)
    assert len(out) == 2 and dropped == 1
    assert len(set(_conversation_ids(out))) == 2


def test_every_rank_gets_distinct_rows_through_the_trainers_sampler():
    """The Trainer shards batches with accelerate's BatchSamplerShard (even_batches pads the
    last global batch by repeating rows): balanced rows leave it nothing to pad."""
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler, SequentialSampler

    from trainer.distributed import balanced_rows

    rows, _ = balanced_rows(_rows([3, 2, 2, 1, 1, 1, 1]), 2 * 2)  # 2 ranks x 2 rows per micro-batch
    seen = []
    per_rank = []
    for rank in range(2):
        shard = BatchSamplerShard(BatchSampler(SequentialSampler(range(len(rows))), 2, False), num_processes=2,
                                  process_index=rank, even_batches=True)
        batches = list(shard)
        per_rank.append(len(batches))
        seen += [i for b in batches for i in b]
    assert per_rank[0] == per_rank[1]
    assert sorted(seen) == list(range(len(rows)))  # no row twice, none left out


def test_gpus_flag_becomes_a_torchrun_command():
    from trainer.launch import strip_gpus, torchrun_command

    argv = ["--data", "d", "--gpus", "4", "--base", "b", "--gpus=2", "-q"]
    assert strip_gpus(argv) == ["--data", "d", "--base", "b", "-q"]
    cmd = torchrun_command(4, argv)
    assert cmd[:7] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4", "-m"]
    assert cmd[7:] == ["clonekit", "train", "--data", "d", "--base", "b", "-q"]


def test_cli_arguments_survive_the_relaunch():
    """`clonekit train … --gpus N` re-runs itself with the same options (defaults left out)."""
    import argparse

    from clonekit.commands import train as cmd

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cmd.register(sub)
    argv = ["train", "--data", "datasets/x/v0001", "--base", "tiny", "--preset", "tiny-cpu", "--max-steps", "3",
            "--no-packing", "--fsdp", "--gpus", "2", "-q"]
    args = parser.parse_args(argv)
    again = parser.parse_args(["train", *cmd._argv_of(args)])
    assert again.gpus is None
    assert {k: v for k, v in vars(again).items() if k != "gpus"} == {k: v for k, v in vars(args).items() if k != "gpus"}


def test_resume_skips_a_multi_rank_checkpoint_without_the_complete_mark(tmp_path):
    from trainer.distributed import COMPLETE_MARK
    from trainer.train import last_complete_checkpoint

    for step, marked in ((2, True), (4, False)):
        ck = tmp_path / f"checkpoint-{step}"
        ck.mkdir()
        (ck / "trainer_state.json").write_text("{}")
        for rank in range(2):
            (ck / f"rng_state_{rank}.pth").write_bytes(b"x")
        if marked:
            (ck / COMPLETE_MARK).write_text(json.dumps({"world_size": 2}))
    single = tmp_path / "checkpoint-6"  # one process: trainer_state.json is enough
    single.mkdir()
    found, partial = last_complete_checkpoint(tmp_path, below_step=6)
    assert Path(found).name == "checkpoint-2" and [p.name for p in partial] == ["checkpoint-4"]
    (single / "trainer_state.json").write_text("{}")
    (single / "rng_state.pth").write_bytes(b"x")
    assert Path(last_complete_checkpoint(tmp_path)[0]).name == "checkpoint-6"


def test_fsdp_estimate_splits_weights_and_optimizer_per_gpu():
    from transformers import LlamaConfig

    from trainer.estimate import GiB, memory_bytes, model_shape, trainable_params
    from trainer.presets import resolve_config

    shape = model_shape(LlamaConfig(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                    num_attention_heads=64, num_key_value_heads=8, vocab_size=128256))
    cfg = resolve_config("fsdp-qlora", {"max_length": 2048})
    n = trainable_params(shape, cfg)
    one = memory_bytes(shape, cfg, n, checkpointing=True)
    two = memory_bytes(shape, cfg, n, checkpointing=True, shards=2)
    four = memory_bytes(shape, cfg, n, checkpointing=True, shards=4)
    assert 38 * GiB < one < 60 * GiB  # a 70B in 4-bit: ~37 GiB of weights alone
    assert four < two < one and two < 0.62 * one  # shards split the weights, one gathered layer stays


def test_fsdp_refusals_name_the_fix():
    from builder.errors import ClonekitError
    from trainer import fsdp
    from trainer.presets import resolve_config

    with pytest.raises(ClonekitError, match="--gpus N"):
        fsdp.check(resolve_config("fsdp-qlora"), 1, "cuda")
    with pytest.raises(ClonekitError, match="CUDA"):
        fsdp.check(resolve_config("fsdp-qlora"), 2, "cpu")
    fsdp.check(resolve_config("lora", {"fsdp": True}), 2, "cpu")  # LoRA shards on CPU too


# ---------------------------------------------------------------- slow: real runs
def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _train(tmp_path: Path, data: Path, out: Path, *extra: str, gpus: int = 1) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "clonekit", "train", "--data", str(data), "--base", "tiny", "--max-steps", "4",
           "--eval-steps", "2", "--max-length", "256", "--out", str(out), "-q", *extra]
    if gpus > 1:
        cmd += ["--gpus", str(gpus)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _losses(run_dir: Path) -> tuple[list[float], dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r], json.loads((run_dir / "run.json").read_text())


@pytest.mark.slow
def test_data_parallel_gpus_2_matches_one_process(tmp_path):
    """`--gpus 2` (1 row x grad-accum 2 per rank) trains the same rows per optimizer step
    as one process with grad-accum 4: the same losses, one run folder, one all-reduce per
    optimizer step (the first micro-step of each runs under no_sync)."""
    data = write_dataset(tmp_path / "datasets", n_train=24, n_val=4)
    one, many = tmp_path / "runs" / "one", tmp_path / "runs" / "ddp"
    _train(tmp_path, data, one, "--preset", "tiny-cpu", "--grad-accum", "4")
    proc = _train(tmp_path, data, many, "--preset", "tiny-cpu", "--grad-accum", "2", gpus=2)
    assert proc.stdout.strip().splitlines()[-1] == str(many)  # one rank prints the run folder
    assert proc.stdout.count(str(many)) == 1
    assert "launching 2 processes" in proc.stderr
    l1, r1 = _losses(one)
    l2, r2 = _losses(many)
    assert r2["status"] == "done" and r2["world_size"] == 2 and r2["final"]["steps"] == 4
    assert l2 == pytest.approx(l1, rel=2e-3)
    assert r2["final"]["eval_loss"] == pytest.approx(r1["final"]["eval_loss"], rel=1e-2)
    assert r2["final"]["tokens_seen"] == r1["final"]["tokens_seen"]  # every row once, summed over ranks
    assert r2["parallel"]["allreduce_syncs"] == 4 and r2["parallel"]["allreduce_buckets"] >= 1
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp", "one"]  # no second folder
    steps = [json.loads(line)["step"] for line in (many / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == sorted(set(steps))  # one writer: no step logged twice
    marks = sorted(p.parent.name for p in (many / "checkpoints").glob("checkpoint-*/clonekit_complete.json"))
    assert marks and all((many / "checkpoints" / m / "rng_state_1.pth").is_file() for m in marks)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(many / "base"), many / "adapter")
    assert sum(p.numel() for n, p in model.named_parameters() if "lora_" in n) > 0


@pytest.mark.slow
def test_fsdp_lora_two_processes_matches_one_process(tmp_path):
    """The base sharded over two gloo processes (transformers' FSDP2 loading, LoRA beside
    it) trains like one process: same losses, a whole adapter written by rank 0."""
    text = TINY_CPU.read_text().replace('method = "qlora"', 'method = "lora"')
    (tmp_path / "lora.toml").write_text(text)
    (tmp_path / "fsdp.toml").write_text(text.replace('method = "lora"', 'method = "lora"\nfsdp = true'))
    data = write_dataset(tmp_path / "datasets", n_train=24, n_val=4)
    one, many = tmp_path / "runs" / "one", tmp_path / "runs" / "fsdp"
    _train(tmp_path, data, one, "--preset", str(tmp_path / "lora.toml"), "--grad-accum", "4")
    _train(tmp_path, data, many, "--preset", str(tmp_path / "fsdp.toml"), "--grad-accum", "2", gpus=2)
    l1, r1 = _losses(one)
    l2, r2 = _losses(many)
    assert r2["status"] == "done" and r2["parallel"] == {"mode": "fsdp", "ranks": 2}
    assert l2 == pytest.approx(l1, rel=2e-3)
    assert r2["final"]["eval_loss"] == pytest.approx(r1["final"]["eval_loss"], rel=1e-2)
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    weights = load_file(many / "adapter" / "adapter_model.safetensors")
    reference = load_file(one / "adapter" / "adapter_model.safetensors")
    assert weights.keys() == reference.keys()  # whole tensors, not shards
    assert all(weights[k].shape == reference[k].shape for k in weights)
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(many / "base"), many / "adapter")


def _rank_pid(marker: str, rank: int) -> int | None:
    """The pid of the training process of ``rank`` whose command line holds ``marker``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in cmdline and f"RANK={rank}".encode() in env and b"torch.distributed.run" not in cmdline:
            return int(proc.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="finds the rank's process through /proc")
def test_kill_9_of_one_rank_then_resume_finishes_the_run(tmp_path):
    """kill -9 of rank 1 mid-run stops the launch; --resume --gpus 2 continues from the last
    checkpoint every rank finished writing and ends with each step logged once."""
    import signal
    import time

    data = write_dataset(tmp_path / "datasets", n_train=24, n_val=4)
    out = tmp_path / "runs" / "killed"
    cmd = [sys.executable, "-m", "clonekit", "train", "--data", str(data), "--base", "tiny", "--preset", "tiny-cpu",
           "--max-steps", "40", "--eval-steps", "2", "--max-length", "256", "--out", str(out), "-q", "--gpus", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("checkpoints/checkpoint-*/clonekit_complete.json")):
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
            time.sleep(0.05)
        pid = _rank_pid(str(out), 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert json.loads((out / "run.json").read_text())["status"] != "done"
    resumed = subprocess.run([sys.executable, "-m", "clonekit", "train", "--resume", "--out", str(out),
                              "--gpus", "2"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    said = resumed.stdout + resumed.stderr
    assert "resuming from" in said and "/checkpoint-" in said, said[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "done" and run["final"]["steps"] == 40
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == list(range(1, 41))  # trimmed back to the checkpoint, then continued once


def test_sigterm_to_the_launcher_reaches_the_launched_processes(tmp_path):
    """The TUI cancels a run by SIGTERM to the process it started: under --gpus that is the
    launcher, which must pass it on rather than leave torchrun's ranks running."""
    import signal
    import threading

    from trainer.launch import _forward_sigterm

    before = signal.getsignal(signal.SIGTERM)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    restore = _forward_sigterm(child)
    try:
        assert threading.current_thread() is threading.main_thread()
        os.kill(os.getpid(), signal.SIGTERM)
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        restore()
        if child.poll() is None:
            child.kill()
    assert signal.getsignal(signal.SIGTERM) == before


def test_launch_prints_per_gpu_memory_for_both_splits(tmp_path):
    """Before launch: the per-GPU estimate of a full copy per GPU and of FSDP, from the
    base's config alone (a 70B-shaped config folder; no weights)."""
    from transformers import LlamaConfig

    from trainer.launch import memory_lines
    from trainer.presets import resolve_config

    LlamaConfig(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                num_key_value_heads=8, vocab_size=128256).save_pretrained(tmp_path / "base70b")
    cfg = resolve_config("fsdp-qlora")
    (line,) = memory_lines(cfg, str(tmp_path / "base70b"), 4)
    dp, sharded = (float(x) for x in re.findall(r"(\d+\.\d) GiB", line))
    assert line.startswith("4 GPUs, fsdp: estimated peak memory per GPU at max length 2048") and sharded < dp / 2
    assert memory_lines(cfg, "tiny", 4) == []


def test_fsdp_qlora_settings_are_what_accelerate_and_bitsandbytes_accept(monkeypatch, tmp_path):
    """The CUDA-only QLoRA path, checked as far as a CPU can: the Trainer's FSDP arguments
    become accelerate's FSDP2 plugin (decoder-layer auto-wrap, sharded checkpoints, FSDP's
    own activation checkpointing, rank-0 loading), and 4-bit weights are stored in bf16."""
    import torch
    from accelerate.utils import FullyShardedDataParallelPlugin
    from transformers import BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM, TrainingArguments

    from trainer import fsdp
    from trainer.presets import resolve_config

    for name in ("ACCELERATE_USE_FSDP", "FSDP_CPU_RAM_EFFICIENT_LOADING"):
        monkeypatch.setenv(name, "false")  # restored after the test
    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2, vocab_size=300))
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, **fsdp.training_arguments(model, True))
    plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
    assert (plugin.fsdp_version, plugin.transformer_cls_names_to_wrap) == (2, ["LlamaDecoderLayer"])
    assert "SHARDED_STATE_DICT" in str(plugin.state_dict_type)
    assert plugin.activation_checkpointing and plugin.cpu_ram_efficient_loading and plugin.reshard_after_forward
    cfg = resolve_config("fsdp-qlora")
    assert fsdp.through_accelerate(cfg) and fsdp.loading_arguments(cfg, 2) == {"device_map": None}
    assert os.environ["ACCELERATE_USE_FSDP"] == "true"
    storage = fsdp.quant_storage_dtype(cfg, torch.bfloat16, True)
    assert BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16,
                              bnb_4bit_quant_storage=storage).bnb_4bit_quant_storage == torch.bfloat16
    assert fsdp.quant_storage_dtype(cfg, torch.bfloat16, False) == torch.uint8  # one GPU: bitsandbytes' default
    lora = resolve_config("lora", {"fsdp": True})
    assert not fsdp.through_accelerate(lora) and fsdp.loading_arguments(lora, 2)["distributed_config"].fsdp_size == 2
