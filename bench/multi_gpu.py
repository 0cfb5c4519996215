"""Multi-GPU scaling of `clonekit train` on one host, as users run it: the same QLoRA
command on 1 GPU and with `--gpus N` (which re-launches itself under torchrun), one
invocation, so the 1-GPU reference is measured on the same machine in the same run.

Setup (once, under --work, shared with bench/train.py): a dataset version shaped like the
seed's job and a Mistral-7B-shaped random bf16 base (bench/train.py's make_dataset /
make_base). Each run: --preset qlora (nf4 + double quant, bf16, LoRA r=16 all-linear,
packing, the auto memory plan), --max-length, batch x grad-accum per GPU as the preset
plans it (so N GPUs train N times the rows per optimizer step: throughput scaling), no
eval or checkpoint inside the timed steps.

Steady state: per optimizer step, the tokens all ranks trained over the step's wall time
(metrics.jsonl, the GPU synchronised at step ends); the first --warmup steps are left out;
median and p10-p90 spread. Scaling = median tokens/s on N GPUs / on 1 GPU (ideal N).
With --fsdp the largest N also runs with the base sharded (`--fsdp`), for its per-GPU
peak memory and speed against data parallel.

  python bench/multi_gpu.py --work /tmp/ckbench --gpus 1,2,4 --fsdp     # GPUs
  python bench/multi_gpu.py --work /tmp/ckbench --gpus 1,4 --big 16384  # + a 70B FSDP+QLoRA run
  python bench/multi_gpu.py --work /tmp/ckbench-tiny --tiny --gpus 1,2  # CPU check (gloo)

Needs CUDA GPUs (except --tiny); imports no polars/textual/openai."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# Llama-3-70B's shape (vocabulary from the bench tokenizer): 4-bit weights ~37 GiB; at a
# long max length a full copy per GPU does not fit 80 GB, sharded over 4 it does.
BIG = {"hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
       "intermediate_size": 28672}


def make_big_base(work: Path, data: Path) -> Path:
    """A random bf16 base of the BIG shape written layer by layer (generated on the GPU),
    with bench/train.py's tokenizer: ~140 GB on disk."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, LlamaConfig

    from bench.train import make_base

    base = work / "base-70b"
    if (base / "model.safetensors.index.json").is_file():
        return base
    tok = AutoTokenizer.from_pretrained(make_base(work, data, False))
    base.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(base)
    cfg = LlamaConfig(**BIG, vocab_size=32000, max_position_embeddings=32768, tie_word_embeddings=False,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    cfg.dtype = "bfloat16"
    cfg.save_pretrained(base)
    gen = torch.Generator(device="cuda").manual_seed(0)
    h, i, v = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    kv = h // cfg.num_attention_heads * cfg.num_key_value_heads

    def rnd(*shape):
        return (torch.randn(*shape, generator=gen, device="cuda", dtype=torch.bfloat16) * 0.02).cpu()

    ones = lambda: torch.ones(h, dtype=torch.bfloat16)  # noqa: E731
    index, total = {}, 0

    def write(name: str, tensors: dict) -> None:
        nonlocal total
        save_file(tensors, str(base / name), metadata={"format": "pt"})
        index.update(dict.fromkeys(tensors, name))
        total += sum(t.numel() * 2 for t in tensors.values())

    write("model-embed.safetensors", {"model.embed_tokens.weight": rnd(v, h), "lm_head.weight": rnd(v, h),
                                      "model.norm.weight": ones()})
    for layer in range(cfg.num_hidden_layers):
        p = f"model.layers.{layer}."
        write(f"model-layer{layer:02d}.safetensors", {
            p + "self_attn.q_proj.weight": rnd(h, h), p + "self_attn.k_proj.weight": rnd(kv, h),
            p + "self_attn.v_proj.weight": rnd(kv, h), p + "self_attn.o_proj.weight": rnd(h, h),
            p + "mlp.gate_proj.weight": rnd(i, h), p + "mlp.up_proj.weight": rnd(i, h),
            p + "mlp.down_proj.weight": rnd(h, i), p + "input_layernorm.weight": ones(),
            p + "post_attention_layernorm.weight": ones(),
        })
    (base / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": index}))
    return base


def run(n: int, data: Path, base: Path, out: Path, args, fsdp: bool = False) -> dict:
    """One `clonekit train` run on ``n`` GPUs; its steady-state numbers from metrics.jsonl."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    preset = "tiny-cpu" if args.tiny else "qlora"
    if args.tiny and fsdp:  # accelerate shards 4-bit bases on GPUs only: LoRA on CPU
        preset = str(out.parent / "tiny-cpu-lora.toml")
        Path(preset).write_text((REPO / "trainer" / "presets" / "tiny-cpu.toml").read_text()
                                .replace('method = "qlora"', 'method = "lora"'))
    cmd = [sys.executable, "-m", "clonekit", "train", "--data", str(data), "--base", str(base), "--preset", preset,
           "--max-steps", str(args.warmup + args.steps), "--eval-steps", str(10 * (args.warmup + args.steps)),
           "--max-length", str(args.max_length), "--out", str(out), "-q"]
    if n > 1:
        cmd += ["--gpus", str(n)]
    if fsdp:
        cmd += ["--fsdp"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[1:])} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    run_json = json.loads((out / "run.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r and r.get("step_s")]
    rates = []
    for prev, row in zip(rows, rows[1:]):
        if row["step"] > args.warmup and row["step"] == prev["step"] + 1:
            rates.append((row["tokens_seen"] - prev["tokens_seen"]) / row["step_s"])
    if not rates:
        sys.exit(f"{out}: no steady-state steps logged (raise --steps)")
    q = statistics.quantiles(rates, n=10) if len(rates) >= 2 else [rates[0]] * 9
    final = run_json["final"]
    return {
        "gpus": n, "mode": "fsdp" if fsdp else ("ddp" if n > 1 else "1 process"),
        "tokens_per_s": statistics.median(rates), "p10": q[0], "p90": q[-1], "steps_timed": len(rates),
        "peak_gib_rank0": (final.get("peak_memory_bytes") or 0) / 2**30, "train_loss": final.get("train_loss"),
        "plan": run_json.get("plan"), "parallel": run_json.get("parallel"), "wall_s": wall,
        "estimate_gib": run_json.get("estimate", {}).get("peak_memory_bytes", 0) / 2**30,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="dataset and base live here (reused across runs)")
    ap.add_argument("--gpus", default="1,2", help="comma-separated GPU counts; 1 is always measured first")
    ap.add_argument("--steps", type=int, default=30, help="timed optimizer steps per run")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--fsdp", action="store_true", help="also run the largest count with the base sharded")
    ap.add_argument("--big", type=int, metavar="LENGTH",
                    help="then FSDP+QLoRA of a Llama-70B-shaped base on the largest count at this max length "
                         "(writes ~140 GB under --work)")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes on CPU (gloo): checks the script, not speed")
    ap.add_argument("--out", type=Path, help="also write the results as JSON here")
    a = ap.parse_args()
    import torch

    from bench.train import make_base, make_dataset

    counts = sorted({1, *(int(x) for x in a.gpus.split(","))})
    if not a.tiny and torch.cuda.device_count() < counts[-1]:
        sys.exit(f"bench/multi_gpu.py --gpus {a.gpus} needs {counts[-1]} CUDA GPUs; found {torch.cuda.device_count()}")
    a.work.mkdir(parents=True, exist_ok=True)
    data = make_dataset(a.work, a.tiny)
    base = make_base(a.work, data, a.tiny)
    results = [run(n, data, base, a.work / f"run-{n}", a) for n in counts]
    if a.fsdp and counts[-1] > 1:
        results.append(run(counts[-1], data, base, a.work / f"run-{counts[-1]}-fsdp", a, fsdp=True))
    if a.big and counts[-1] > 1 and not a.tiny:
        from trainer.launch import memory_lines
        from trainer.presets import resolve_config

        big = make_big_base(a.work, data)
        a.max_length = a.big
        (line,) = memory_lines(resolve_config("qlora", {"max_length": a.big, "fsdp": True}), str(big), counts[-1])
        print(f"70B-shaped, {line}")
        results.append(run(counts[-1], data, big, a.work / f"run-{counts[-1]}-70b-fsdp", a, fsdp=True) | {"base": "70b"})

    import peft
    import transformers

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not a.tiny else "CPU (gloo)"
    print(f"{gpu}; torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}; "
          f"{'tiny' if a.tiny else 'Mistral-7B-shaped'} base, max length {a.max_length}, "
          f"{a.steps} timed steps after {a.warmup}")
    one = results[0]["tokens_per_s"]  # the 7B-shaped 1-GPU run (a 70B row's ratio is not a scaling figure)
    print("| GPUs | mode | tokens/s (median, p10-p90) | scaling vs 1 GPU | peak GiB rank 0 (estimate) | plan |")
    print("|---|---|---|---|---|---|")
    for r in results:
        plan = r["plan"] or {}
        print(f"| {r['gpus']} | {r['mode']}{' 70B' if r.get('base') else ''} | {r['tokens_per_s']:,.0f} ({r['p10']:,.0f}-{r['p90']:,.0f}) | "
              f"{r['tokens_per_s'] / one:.2f}x (ideal {r['gpus']}x) | {r['peak_gib_rank0']:.1f} ({r['estimate_gib']:.1f}) | "
              f"{plan.get('batch_size')} x {plan.get('grad_accum')}, ckpt {'on' if plan.get('checkpointing') else 'off'} |")
    for r in results:
        if r["parallel"] and r["parallel"].get("allreduce_syncs"):
            print(f"{r['gpus']} GPUs: {r['parallel']['allreduce_syncs']} synchronising backwards for "
                  f"{a.warmup + a.steps} optimizer steps, {r['parallel']['allreduce_buckets']} bucket(s) each")
    if a.out:
        a.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
