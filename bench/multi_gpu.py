"""Data-parallel scaling of `clonekit train` on one host: the same QLoRA run (a ~1B
Llama-shaped random-init base, the demo dataset, packing, loss on my turns) on 1 GPU and
on N GPUs through torchrun, in one go. Prints effective tokens/s for both and the ratio
against the single-GPU reference measured in the same run (ideal: N).

    python bench/multi_gpu.py --data datasets/demo/v0001 --gpus 2 [--steps 30]

Needs CUDA GPUs; imports no polars/textual/openai (the GPU image lacks them)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_base(data: Path, out: Path, size: str) -> Path:
    from trainer.config import TinyModelConfig
    from trainer.tiny import build_tiny_base

    shapes = {  # hidden, layers, heads, kv heads, intermediate
        "1b": (2048, 16, 16, 8, 5632),
        "tiny": (256, 4, 4, 2, 704),
    }
    h, n, a, kv, i = shapes[size]
    texts = [json.loads(line)["messages"][-1]["content"] for line in (data / "train.jsonl").open()]
    return build_tiny_base(texts, TinyModelConfig(hidden_size=h, num_layers=n, num_heads=a, num_kv_heads=kv,
                                                  intermediate_size=i, vocab_size=8192), out, 4096)


def run(gpus: int, data: Path, base: Path, out: Path, steps: int, max_length: int) -> dict:
    args = ["-m", "clonekit", "train", "--data", str(data), "--base", str(base), "--preset", "qlora",
            "--max-steps", str(steps), "--eval-steps", str(steps * 10), "--max-length", str(max_length),
            "--grad-accum", "1", "--out", str(out), "-q"]
    cmd = [sys.executable, *args] if gpus == 1 else [shutil.which("torchrun") or "torchrun", "--standalone",
                                                       "--nproc-per-node", str(gpus), *args]
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": pythonpath, "CUDA_VISIBLE_DEVICES": ",".join(map(str, range(gpus)))}
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    final = json.loads((out / "run.json").read_text())["final"]
    # Steady state: tokens/s between the first logged step after warmup and the last one.
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r]
    first, last = rows[len(rows) // 4], rows[-1]
    final["steady_tokens_per_s"] = (last["tokens_seen"] - first["tokens_seen"]) / (last["elapsed_s"] - first["elapsed_s"])
    return final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--gpus", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--size", choices=["1b", "tiny"], default="1b")
    a = ap.parse_args()
    import torch

    if torch.cuda.device_count() < a.gpus:
        sys.exit(f"bench/multi_gpu.py needs {a.gpus} CUDA GPUs; found {torch.cuda.device_count()}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = make_base(a.data.resolve(), tmp / "base", a.size)
        one = run(1, a.data.resolve(), base, tmp / "run1", a.steps, a.max_length)
        many = run(a.gpus, a.data.resolve(), base, tmp / f"run{a.gpus}", a.steps, a.max_length)
    print(f"gpu: {torch.cuda.get_device_name(0)} x{a.gpus}; torch {torch.__version__}")
    for label, f in (("1 GPU", one), (f"{a.gpus} GPUs", many)):
        print(f"{label:>7}: {f['steady_tokens_per_s']:,.0f} tokens/s steady, {f['tokens_per_s']:,.0f} whole run  ({f['steps']} steps, {f['tokens_seen']:,} tokens, "
              f"peak {(f['peak_memory_bytes'] or 0) / 2**30:.1f} GiB on rank 0, loss {f['train_loss']:.3f})")
    print(f"scaling: {many['steady_tokens_per_s'] / one['steady_tokens_per_s']:.2f}x of 1 GPU, steady state "
          f"(ideal {a.gpus}x); whole run {many['tokens_per_s'] / one['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
