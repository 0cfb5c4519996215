"""Real training runs of the tiny model on CPU: 4-bit QLoRA, reload with plain peft,
resume after kill -9, and one-line user errors. Slow (about a minute or two together)."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder.events import Log, Progress
from tests.trainer.conftest import write_dataset
from tests.trainer.run_fixture import load_adapter
from trainer.train import TrainRequest, train

REPO = Path(__file__).resolve().parents[2]
OVERRIDES = {"max_steps": 12, "eval_steps": 4, "max_length": 256, "grad_accum": 1, "batch_size": 1}
CLI_OVERRIDES = ["--max-steps", "12", "--eval-steps", "4", "--max-length", "256", "--grad-accum", "1", "--batch-size", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("ds") / "datasets", n_train=40, n_val=6)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data):
    events = []
    run_dir = train(TrainRequest(data=str(data), base="tiny", preset="tiny-cpu", overrides=OVERRIDES,
                                 out=tmp_path_factory.mktemp("runs") / "full"), on_event=events.append)
    return run_dir, events


@pytest.mark.slow
def test_qlora_run_learns_and_writes_the_run_folder(finished):
    run_dir, events = finished
    from trainer.run_dir import load_run

    run = load_run(run_dir)
    assert run.status == "done" and run.method == "qlora" and run.load_in_4bit
    assert run.chat_template == "chatml" and run.stop_token_ids and run.persona["name"] == "Sam"
    assert run.dataset_version == "sam/v0001" and len(run.manifest_sha256) == 64
    assert run.final["steps"] == 12 and run.final["packing"] is True
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter/tokenizer.json",
                 "base/config.json", "report.md", "loss.png", "metrics.jsonl"):
        assert (run_dir / name).is_file(), name
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3  # it learns
    assert [r["step"] for r in rows if "eval_loss" in r][:3] == [4, 8, 12]
    assert any(isinstance(e, Progress) and e.stage == "train" and "now" in e.detail and "avg" in e.detail for e in events)
    # The fast path is the path under test: per-conversation attention, the plan recorded,
    # the rates labelled (run.json and metrics.jsonl).
    info = run.info
    assert info["kernels"]["attention"] == "clonekit_packed" and info["kernels"]["fused"] == []  # no Liger on CPU
    assert info["plan"]["checkpointing"] is False and info["plan"]["batch_size"] * info["plan"]["grad_accum"] == 1
    assert info["final"]["tokens_per_s"] > 0 and info["final"]["tokens_per_s_steady"] > 0
    assert info["final"]["tokens_per_s_wall"] <= info["final"]["tokens_per_s"] * 1.01  # evals count only in wall time
    step_rows = [r for r in rows if "loss" in r]
    assert all(r["tokens_per_s"] > 0 and r["tokens_per_s_avg"] > 0 and r["step_s"] > 0 for r in step_rows)
    logs = " ".join(e.message for e in events if isinstance(e, Log))
    assert "round-trip check ok" in logs and "estimated peak memory" in logs and "trainable" in logs
    # The quantized base really is 4-bit.
    cfg = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 8


@pytest.mark.slow
def test_adapter_reloads_with_plain_peft_and_generates(finished):
    import torch

    run_dir, _ = finished
    tok, model = load_adapter(run_dir)
    prompt = tok.apply_chat_template([{"role": "user", "content": "hey are you free tonight"}],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]
    assert prompt["input_ids"][0, -1].item() != tok.pad_token_id


def _adapter_tensors(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run_dir / "adapter" / "adapter_model.safetensors")


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted(finished, data, tmp_path):
    run_dir = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CLONEKIT_RUNS": str(tmp_path)}
    cmd = [sys.executable, "-m", "clonekit", "train", "--data", str(data), "--base", "tiny", "--preset", "tiny-cpu",
           *CLI_OVERRIDES, "--out", str(run_dir), "-q"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Kill as soon as the first checkpoint exists: the kill may land mid-save of a later
    # one, which resume must skip.
    ckpt = run_dir / "checkpoints" / "checkpoint-4"
    deadline = time.monotonic() + 240
    while not (ckpt / "trainer_state.json").is_file():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint-4 in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    done = subprocess.run([sys.executable, "-m", "clonekit", "train", "--resume", "--out", str(run_dir), "-q"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "done" and run["final"]["steps"] == 12
    a, b = _adapter_tensors(finished[0]), _adapter_tensors(run_dir)
    assert a.keys() == b.keys()
    for k in a:  # same data order and RNG state: equal up to float summation order, which
        # drifts ~1e-3 relative over the 8 steps redone after checkpoint-4
        rel = (a[k] - b[k]).norm() / a[k].norm().clamp_min(1e-12)
        assert rel < 5e-3, (k, float(rel))


def _cli(args: list[str], capsys) -> tuple[int, str]:
    from clonekit.cli import main

    code = main(["train", *args])
    err = capsys.readouterr().err.strip()
    return code, err


def test_user_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLONEKIT_RUNS", str(tmp_path / "runs"))
    data = write_dataset(tmp_path / "datasets", n_train=4, n_val=1)
    empty = write_dataset(tmp_path / "empty", n_train=1, n_val=0)
    (empty / "train.jsonl").write_text("")
    cases = [
        (["--data", str(data), "--base", str(tmp_path / "no" / "such" / "model")], "--base"),
        (["--data", str(empty), "--base", "tiny"], "no training records"),
        (["--data", str(data), "--base", "tiny", "--preset", "nope"], "unknown preset"),
        (["--base", "tiny"], "--data is required"),
        (["--resume", "--out", str(tmp_path / "nothing")], "--resume"),
    ]
    import torch

    if not torch.cuda.is_available():
        cases.append((["--data", str(data), "--base", "tiny", "--preset", "seed-qlora-7b"], "needs a CUDA GPU"))
    for args, needle in cases:
        code, err = _cli(args, capsys)
        assert code == 2, (args, err)
        assert len(err.splitlines()) == 1 and err.startswith("clonekit: error: ") and needle in err, err
    assert not (tmp_path / "runs").exists()  # nothing half-made


def test_memory_refusal_is_one_line_and_leaves_no_run_folder(tmp_path, capsys, monkeypatch):
    """The estimate refuses a run that will not fit the GPU (faked here: device_info is
    what the estimate reads) and names a max length that fits. A refused new run leaves
    no folder behind: it holds nothing, and `--resume` would otherwise pick it up."""
    import trainer.estimate

    monkeypatch.setenv("CLONEKIT_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(trainer.estimate, "device_info", lambda device: ("Fake GPU", int(1.3 * 1024**3), 100e12))
    data = write_dataset(tmp_path / "datasets", n_train=4, n_val=1)
    code, err = _cli(["--data", str(data), "--base", "tiny", "--preset", "tiny-cpu", "--max-length", "8192", "-q"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    m = re.fullmatch(r"clonekit: error: estimated peak memory [\d.]+ GiB does not fit the 1\.2 GiB usable on the GPU "
                     r"\(Fake GPU, 1\.3 GiB\); try --max-length (\d+)", err)
    assert m, err
    assert 256 <= int(m.group(1)) < 8192 and int(m.group(1)) % 256 == 0
    assert not list((tmp_path / "runs").glob("*"))


@pytest.mark.slow
def test_out_of_memory_is_one_line_and_the_run_is_marked_failed(tmp_path, capsys, monkeypatch):
    """OOM mid-training: one line naming the step and a smaller max length; the run folder
    stays (checkpoints may be there) with status failed and the error in run.json."""
    import torch
    from transformers import Trainer

    real_step = Trainer.training_step
    calls = []

    def step_then_oom(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", step_then_oom)
    data = write_dataset(tmp_path / "datasets", n_train=4, n_val=1)
    run_dir = tmp_path / "runs" / "oom"
    code, err = _cli(["--data", str(data), "--base", "tiny", "--preset", "tiny-cpu", "--max-steps", "3",
                      "--grad-accum", "1", "--max-length", "1024", "--out", str(run_dir), "-q"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err == "clonekit: error: out of GPU memory at step 1 (max length 1024, batch 1); try --max-length 512 or --preset qlora"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "failed" and run["error"].startswith("out of GPU memory at step 1")
