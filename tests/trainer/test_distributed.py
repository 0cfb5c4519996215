"""Data-parallel training through torchrun: two CPU processes (gloo) stand in for two
GPUs. One run folder, written by rank 0 only, with a working adapter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainer.conftest import write_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_run_writes_one_run_folder(tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    data = write_dataset(tmp_path / "datasets", n_train=24, n_val=4)
    out = tmp_path / "runs" / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "clonekit", "train", "--data", str(data),
         "--base", "tiny", "--preset", "tiny-cpu", "--max-steps", "4", "--eval-steps", "2", "--max-length", "256",
         "--out", str(out), "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "done" and run["world_size"] == 2 and run["final"]["steps"] == 4
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]  # no second run folder
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == sorted(set(steps))  # one writer: no step logged twice
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(out / "base")
    model = PeftModel.from_pretrained(base, out / "adapter")
    assert sum(p.numel() for n, p in model.named_parameters() if "lora_" in n) > 0
