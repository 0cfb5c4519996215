"""Trainer throughput: the seed recipe vs clonekit's default, same model, same run.

Builds a Mistral-7B-shaped model from its config (random init, no download), quantizes
every decoder Linear to 4-bit nf4 with double quantization (bitsandbytes Linear4bit, the
modules from_pretrained(quantization_config=...) would create), adds LoRA r=32 alpha=64
on all linear layers, and trains on a realistic chat length mix (log-normal, 100-3000
tokens) with:
  (a) seed: every conversation padded to max length 3000, batch 1, grad-accum 8, loss on
      every token;
  (b) clonekit: conversations packed padding-free into rows of <= 3000 tokens
      (trainer.data.pack + PackedCollator: position_ids restart, block-diagonal
      attention), batch 1, grad-accum 8, loss on the persona's turns only.
Both use bf16 autocast, gradient checkpointing, AdamW on the LoRA weights. Reports
effective (non-pad) tokens/s, peak GPU memory and MFU (6N + attention FLOPs per useful
token over the GPU's dense bf16 peak) for both, and the ratio.

  python bench/train.py            # on a GPU (H200: ~3 minutes)
  python bench/train.py --tiny     # a few-million-parameter shape on CPU, to test the script
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.data import IGNORE, PackedCollator, PaddedCollator, pack  # noqa: E402  (no polars, no torch at import)

PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12}


def lengths_mix(n: int, max_len: int, seed: int) -> list[int]:
    """Chat conversation lengths: log-normal around ~600 tokens, clipped to [100, max_len]."""
    rng = random.Random(seed)
    return [int(min(max_len, max(100, rng.lognormvariate(math.log(600), 0.85)))) for _ in range(n)]


def make_conversation(length: int, vocab: int, rng: random.Random) -> tuple[list[int], list[int], list[int]]:
    """Random tokens; persona turns ~40% of tokens in 3-6 spans. Returns ids, labels on
    persona turns, labels on everything."""
    ids = [rng.randrange(3, vocab) for _ in range(length)]
    persona = [IGNORE] * length
    turns = rng.randint(3, 6)
    for t in range(turns):
        start = int(length * (t + 0.6) / turns)
        end = min(length, int(length * (t + 1) / turns))
        persona[start:end] = ids[start:end]
    everything = [IGNORE] + ids[1:]
    persona[0] = IGNORE
    return ids, persona, everything


def build_model(args, device: str):
    import torch
    import bitsandbytes as bnb
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    if args.tiny:
        cfg = MistralConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
                            intermediate_size=896, vocab_size=32000, max_position_embeddings=4096)
    else:
        cfg = MistralConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                            intermediate_size=14336, vocab_size=32000, max_position_embeddings=32768)
    cfg._attn_implementation = "sdpa"
    cfg.use_cache = False
    dtype = torch.bfloat16
    with torch.device("meta"):
        model = MistralForCausalLM(cfg)
    # Materialize layer by layer so the full bf16 model never sits on the GPU at once.
    gen = torch.Generator(device=device).manual_seed(0)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear) and child_name != "lm_head":
                w = torch.empty(child.out_features, child.in_features, dtype=dtype, device=device)
                w.normal_(0, 0.02, generator=gen)
                q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=False, compute_dtype=dtype,
                                      compress_statistics=True, quant_type="nf4", device="meta")
                q.weight = bnb.nn.Params4bit(w, requires_grad=False, compress_statistics=True, quant_type="nf4")
                q.weight = q.weight._quantize(device) if hasattr(q.weight, "_quantize") else q.weight.to(device)
                setattr(module, child_name, q)
                del w
    for name, p in list(model.named_parameters()) + list(model.named_buffers()):
        if p.device.type == "meta":
            owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            leaf = name.rsplit(".", 1)[-1]
            t = torch.empty(p.shape, dtype=dtype if p.is_floating_point() else p.dtype, device=device)
            if p.is_floating_point():
                t.normal_(0, 0.02, generator=gen) if p.dim() > 1 else t.fill_(1.0)
            if isinstance(p, torch.nn.Parameter):
                setattr(owner, leaf, torch.nn.Parameter(t, requires_grad=False))
            else:
                owner.register_buffer(leaf, t)
    model.model.rotary_emb = type(model.model.rotary_emb)(cfg).to(device)  # real inv_freq, not the random fill
    model.requires_grad_(False)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    lora = LoraConfig(r=32, lora_alpha=64, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    return model, cfg


def count_params(cfg) -> int:
    h, i, L, v = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.vocab_size
    kv = h // cfg.num_attention_heads * cfg.num_key_value_heads
    return L * (2 * h * h + 2 * h * kv + 3 * h * i + 2 * h) + 2 * v * h + h


def run_arm(model, batches, grad_accum: int, warmup_steps: int, steps: int, device: str, flops_per_token_fn) -> dict:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    it = iter(batches)

    def optimizer_step() -> tuple[int, float]:
        tokens, flops = 0, 0.0
        n_items = 0
        micro = [next(it) for _ in range(grad_accum)]
        n_items = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro)
        for b in micro:
            b = {k: v.to(device) for k, v in b.items()}
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                out = model(**b, num_items_in_batch=torch.tensor(n_items, device=device))
            out.loss.backward()
            real = int(b["attention_mask"].sum()) if "attention_mask" in b else b["input_ids"].numel()
            tokens += real
            flops += flops_per_token_fn(b) * 1.0
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return tokens, flops

    for _ in range(warmup_steps):
        optimizer_step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    tokens = 0
    flops = 0.0
    for _ in range(steps):
        t, f = optimizer_step()
        tokens += t
        flops += f
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    opt.zero_grad(set_to_none=True)
    del opt
    return {
        "tokens": tokens, "seconds": dt, "tokens_per_s": tokens / dt, "model_flops_per_s": flops / dt,
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="small shape on CPU (tests the script)")
    ap.add_argument("--max-length", type=int, default=3000)
    ap.add_argument("--grad-accum", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1, help="optimizer steps before timing")
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps per arm")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    import torch
    import transformers

    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    max_len = 512 if args.tiny and args.max_length == 3000 else args.max_length
    t_build = time.perf_counter()
    model, cfg = build_model(args, device)
    build_s = time.perf_counter() - t_build
    n_params = count_params(cfg)
    L, h = cfg.num_hidden_layers, cfg.hidden_size

    def flops_fn(b) -> float:
        """6N per real token + causal attention 6*L*h*s per token of an s-token conversation."""
        if "attention_mask" in b:
            lens = [int(x) for x in b["attention_mask"].sum(dim=1)]
        else:
            pos = b["position_ids"][0].tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
            lens = [starts[i + 1] - starts[i] for i in range(len(starts) - 1)]
        return sum(6 * n_params * s + 6 * L * h * s * s for s in lens)

    vocab = cfg.vocab_size
    rng = random.Random(1)
    needed = args.grad_accum * (args.warmup + args.steps)
    lens = lengths_mix(max(40 * needed, 400), max_len, seed=0)
    convs = [make_conversation(n, vocab, rng) for n in lens]

    # (a) seed: one conversation per row, padded to max length, loss on all tokens.
    padded = PaddedCollator(pad_token_id=0, pad_to=max_len)
    seed_batches = (padded([{"input_ids": [c[0]], "labels": [c[2]]}]) for c in convs)
    # (b) clonekit: packed rows, loss on persona turns.
    bins = pack([len(c[0]) for c in convs], max_len)
    rng.shuffle(bins)
    packed = PackedCollator()
    ck_batches = (packed([{"input_ids": [convs[i][0] for i in b], "labels": [convs[i][1] for i in b]}]) for b in bins)

    results = {}
    for name, batches in (("seed", seed_batches), ("clonekit", ck_batches)):
        results[name] = run_arm(model, batches, args.grad_accum, args.warmup, args.steps, device, flops_fn)
        if device == "cuda":
            torch.cuda.empty_cache()

    gpu = torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "CPU"
    peak = next((v for k, v in PEAK_BF16.items() if k in gpu), None)
    for r in results.values():
        r["mfu"] = r["model_flops_per_s"] / peak if peak else None
    ratio = results["clonekit"]["tokens_per_s"] / results["seed"]["tokens_per_s"]
    mean_len = sum(lens) / len(lens)
    summary = {
        "date": time.strftime("%Y-%m-%d"), "gpu": gpu, "torch": torch.__version__, "transformers": transformers.__version__,
        "bitsandbytes": __import__("bitsandbytes").__version__, "peft": __import__("peft").__version__,
        "params": n_params, "max_length": max_len, "grad_accum": args.grad_accum, "timed_steps": args.steps,
        "mean_conversation_tokens": round(mean_len, 1), "padding_efficiency_seed": round(mean_len / max_len, 3),
        "conversations_per_packed_row": round(len(convs) / len(bins), 2), "build_seconds": round(build_s, 1),
        "seed": results["seed"], "clonekit": results["clonekit"], "ratio_tokens_per_s": ratio,
    }
    print(json.dumps(summary, indent=2))
    for name in ("seed", "clonekit"):
        r = results[name]
        mem = f"{r['peak_mem_gib']:.1f} GiB" if r["peak_mem_gib"] is not None else "n/a"
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] else "n/a"
        print(f"{name:9s} effective {r['tokens_per_s']:9,.0f} tok/s  peak {mem:>9s}  MFU {mfu}")
    print(f"ratio clonekit/seed effective tokens/s: {ratio:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
