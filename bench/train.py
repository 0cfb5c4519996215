"""Training throughput as users run it: `clonekit train`'s core function against the peer
stack (TRL SFTTrainer, packing + padding-free, with and without Liger), same model, same
data, same GPU, one invocation.

Setup (once, under --work): a dataset version shaped like the seed's job (4,845 train
conversations, 256 val, lengths 100-3,000 tokens, mean ~826, loss on the persona's
turns), a byte-level BPE tokenizer trained on it, and a Mistral-7B-shaped base saved as
random bf16 safetensors, so every arm loads it the way users do
(from_pretrained + BitsAndBytesConfig nf4, double quant, bf16 compute).

Arms (each in its own process, so kernel patches never leak between them):
  clonekit        trainer.train.train(), --preset seed-qlora-7b as shipped (auto plan:
                  checkpointing, rows per micro-batch, Liger kernels, per-conversation
                  attention), the VarlenCollator and the Trainer subclass it ships
  clonekit-today  the same call with the previous defaults forced: checkpointing on,
                  one row per micro-batch, no fused kernels, sdpa attention over the
                  block-diagonal mask (the loss-curve reference)
  clonekit-sdpa, clonekit-nofused, clonekit-b1, clonekit-ckpt
                  the shipped plan with one lever switched off (what each one wins)
  trl-liger, trl  TRL SFTTrainer: packing="bfd" + padding_free, max_length 3000, batch 1
                  x grad-accum 8, gradient checkpointing, LoRA r=32 alpha=64 dropout 0.05
                  all-linear, same tokenized rows and labels, use_liger_kernel on/off
Each arm runs --warmup + --steps optimizer steps; the timed ones are the last --steps:
per-step useful (non-pad) tokens over the step's wall time with the GPU synchronised at
step ends. Reports the median and spread, peak memory, the projected seed job (5 epochs
plus an eval of 256 records every 50 steps), and the loss of clonekit vs clonekit-today
step by step on the same seed and data order.

  python bench/train.py --work /tmp/ckbench --out results.json      # GPU
  python bench/train.py --tiny --work /tmp/ckbench-tiny              # CPU check of the script
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SEED_JOB = {"train": 4845, "val": 256, "mean_tokens": 826, "min": 100, "max": 3000, "epochs": 5, "eval_every": 50}
ARMS = ["clonekit", "trl-liger", "clonekit-today", "trl"]
TODAY = {"gradient_checkpointing": True, "micro_batch": "fixed", "fused_kernels": "off", "attn_implementation": "sdpa"}
# One lever switched off at a time (what each one wins), and the old defaults.
ARM_OVERRIDES = {"clonekit": {}, "clonekit-today": TODAY, "clonekit-sdpa": {"attn_implementation": "sdpa"},
                 "clonekit-nofused": {"fused_kernels": "off"}, "clonekit-ckpt": {"gradient_checkpointing": True},
                 "clonekit-b1": {"micro_batch": "fixed"}}


# ---------------------------------------------------------------- setup
def _words(n: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = set()
    while len(out) < n:
        out.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 8))))
    return sorted(out)


def _record(rng: random.Random, words: list[str], target_tokens: int) -> dict:
    """A conversation of roughly ``target_tokens`` tokens: alternating user/persona turns
    of 8-90 words (about one token a word plus ~5 template tokens a turn)."""
    msgs = [{"role": "system", "content": "You are Sam, texting with a friend. Keep it short."}]
    total = 20
    while total < target_tokens:
        for role in ("user", "assistant"):
            n = max(3, min(rng.randint(8, 90), target_tokens - total))
            msgs.append({"role": role, "content": " ".join(rng.choice(words) for _ in range(n)), **({"name": "Alex"} if role == "user" else {})})
            total += int(n * 1.05) + 6
    return {"messages": msgs, "meta": {"contact": "Alex", "role_tag": "friend", "source": "bench", "start": "", "end": "",
                                       "n_tokens": 0, "synthetic": True}}


def _target_lengths(n: int, rng: random.Random, tiny: bool) -> list[int]:
    lo, hi = (SEED_JOB["min"], SEED_JOB["max"]) if not tiny else (40, 400)
    median = 610 if not tiny else 120
    return [int(min(hi, max(lo, rng.lognormvariate(math.log(median), 0.72)))) for _ in range(n)]


def make_dataset(root: Path, tiny: bool) -> Path:
    vdir = root / "datasets" / "bench" / "v0001"
    if (vdir / "manifest.json").is_file():
        return vdir
    rng = random.Random(0)
    words = _words(4000 if not tiny else 500, rng)
    n_train, n_val = (SEED_JOB["train"], SEED_JOB["val"]) if not tiny else (120, 16)
    vdir.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val)):
        with open(vdir / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for length in _target_lengths(n, rng, tiny):
                fh.write(json.dumps(_record(rng, words, length)) + "\n")
    manifest = {"version": "v0001", "name": "bench", "parent": None,
                "config": {"persona": {"name": "Sam", "facts": [], "style": "", "template": "default"}},
                "counts": {"conversations": n_train + n_val}}
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    return vdir


def make_base(root: Path, data: Path, tiny: bool) -> Path:
    """Tokenizer trained on the data; Mistral-7B-shaped config; random bf16 weights
    written tensor by tensor (generated on the GPU when there is one)."""
    import torch
    from safetensors.torch import save_file
    from transformers import MistralConfig

    from trainer.tiny import train_tokenizer

    base = root / "base"
    if (base / "model.safetensors.index.json").is_file():
        return base
    base.mkdir(parents=True, exist_ok=True)
    texts = (m["content"] for split in ("train", "val") for line in open(data / f"{split}.jsonl", encoding="utf-8")
             for m in json.loads(line)["messages"])
    tok = train_tokenizer(texts, 16000 if not tiny else 1000)
    tok.save_pretrained(base)
    if tiny:
        cfg = MistralConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                            intermediate_size=384, vocab_size=32000, max_position_embeddings=4096, sliding_window=None)
    else:
        cfg = MistralConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                            intermediate_size=14336, vocab_size=32000, max_position_embeddings=32768, sliding_window=None)
    cfg.eos_token_id = tok.eos_token_id
    cfg.pad_token_id = tok.pad_token_id
    cfg.bos_token_id = None
    cfg.tie_word_embeddings = False
    cfg.dtype = "bfloat16"
    cfg.save_pretrained(base)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device=device).manual_seed(0)
    h, i, v, L = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.num_hidden_layers
    kv = h // cfg.num_attention_heads * cfg.num_key_value_heads

    def rnd(*shape):
        return (torch.randn(*shape, generator=gen, device=device, dtype=torch.bfloat16) * 0.02).cpu()

    index = {}
    shards = [("model-embed.safetensors", {"model.embed_tokens.weight": rnd(v, h), "lm_head.weight": rnd(v, h),
                                           "model.norm.weight": torch.ones(h, dtype=torch.bfloat16)})]
    for layer in range(L):
        p = f"model.layers.{layer}."
        shards.append((f"model-layer{layer:02d}.safetensors", {
            p + "self_attn.q_proj.weight": rnd(h, h), p + "self_attn.k_proj.weight": rnd(kv, h),
            p + "self_attn.v_proj.weight": rnd(kv, h), p + "self_attn.o_proj.weight": rnd(h, h),
            p + "mlp.gate_proj.weight": rnd(i, h), p + "mlp.up_proj.weight": rnd(i, h),
            p + "mlp.down_proj.weight": rnd(h, i),
            p + "input_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
            p + "post_attention_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
        }))
    total = 0
    for name, tensors in shards:
        save_file(tensors, str(base / name), metadata={"format": "pt"})
        for k, t in tensors.items():
            index[k] = name
            total += t.numel() * 2
    (base / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": index}))
    return base


# ---------------------------------------------------------------- arms
def _steps_summary(step_s: list[float], step_tokens: list[int], warmup: int) -> dict:
    rates = [n / s for n, s in zip(step_tokens[warmup:], step_s[warmup:]) if s > 0]
    if not rates:
        return {"timed_steps": 0}
    q = statistics.quantiles(rates, n=10) if len(rates) >= 2 else [rates[0]] * 9
    return {
        "timed_steps": len(rates), "median_tokens_per_s": statistics.median(rates), "p10": q[0], "p90": q[-1],
        "min": min(rates), "max": max(rates), "mean_step_s": statistics.mean(step_s[warmup:]),
        "tokens_per_step": statistics.mean(step_tokens[warmup:]),
        "pooled_tokens_per_s": sum(step_tokens[warmup:]) / sum(step_s[warmup:]),
    }


def arm_clonekit(work: Path, name: str, args) -> dict:
    from trainer.train import TrainRequest, train

    overrides = {"max_steps": args.warmup + args.steps, "eval_steps": 10**6, "seed": 42}
    overrides.update(ARM_OVERRIDES[name])
    if args.tiny:
        overrides.update(device="cpu", precision="fp32")
    if args.batch_size:
        overrides.update(batch_size=args.batch_size, micro_batch="fixed", grad_accum=8 // args.batch_size)
    logs: list[str] = []
    t0 = time.perf_counter()
    run_dir = train(TrainRequest(data=str(work / "datasets/bench/v0001"), base=str(work / "base"), preset=args.preset,
                                 overrides=overrides, out=work / "runs" / name),
                    on_event=lambda e: logs.append(getattr(e, "message", "")) if hasattr(e, "message") else None)
    wall = time.perf_counter() - t0
    run = json.loads((run_dir / "run.json").read_text())
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    steps = [r for r in rows if "loss" in r]
    tokens = [b["tokens_seen"] - a["tokens_seen"] for a, b in zip([{"tokens_seen": 0}] + steps, steps)]
    out = _steps_summary([r["step_s"] for r in steps], tokens, args.warmup)
    out.update(
        losses=[r["loss"] for r in steps], plan=run.get("plan"), kernels=run.get("kernels"),
        estimate_seconds_per_epoch=run["estimate"]["seconds_per_epoch"], estimate_steps_per_epoch=run["estimate"]["steps_per_epoch"],
        tokens_per_epoch=run["estimate"]["tokens_per_epoch"], peak_gib=(run["final"].get("peak_memory_bytes") or 0) / 1024**3,
        run_json_tokens_per_s=run["final"].get("tokens_per_s"), run_json_steady=run["final"].get("tokens_per_s_steady"),
        measured_seconds_per_epoch=run["final"].get("measured_seconds_per_epoch"), wall_s=wall, logs=logs[-12:],
    )
    return out


def arm_trl(work: Path, name: str, args) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from trainer.data import encode_all, load_dataset_version
    from trainer.templates import prepare_tokenizer

    ds = load_dataset_version(work / "datasets/bench/v0001")
    tok = AutoTokenizer.from_pretrained(work / "base")
    info = prepare_tokenizer(tok, "auto")
    enc, _ = encode_all(tok, ds.train, info.end_of_turn, 3000, "assistant")
    data = Dataset.from_dict({"input_ids": [e.input_ids for e in enc], "labels": [e.labels for e in enc]})
    cuda = torch.cuda.is_available() and not args.tiny
    kwargs = {"dtype": torch.bfloat16 if cuda else torch.float32, "attn_implementation": "sdpa",
              "device_map": {"": 0} if cuda else "cpu"}
    if cuda:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_storage=torch.uint8)
    model = AutoModelForCausalLM.from_pretrained(work / "base", **kwargs)
    model.config.use_cache = False

    class Steps(TrainerCallback):
        def __init__(self):
            self.s, self.n, self.loss = [], [], []

        def on_step_begin(self, a, state, control, **kw):
            self.t, self.tok = time.perf_counter(), state.num_input_tokens_seen

        def on_step_end(self, a, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            self.s.append(time.perf_counter() - self.t)
            self.n.append(state.num_input_tokens_seen - self.tok)

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.loss.append(logs["loss"])

    cb = Steps()
    cfg = SFTConfig(
        output_dir=str(work / "runs" / name), max_length=3000, packing=True, packing_strategy="bfd", padding_free=True,
        per_device_train_batch_size=1, gradient_accumulation_steps=8, gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False}, bf16=cuda, learning_rate=2e-4, lr_scheduler_type="cosine",
        warmup_steps=0.03, max_steps=args.warmup + args.steps, logging_steps=1, save_strategy="no", eval_strategy="no",
        report_to="none", seed=42, use_liger_kernel=name == "trl-liger", include_num_input_tokens_seen="all",
        dataloader_num_workers=0, use_cpu=not cuda, disable_tqdm=True,
    )
    lora = LoraConfig(r=32, lora_alpha=64, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, peft_config=lora, callbacks=[cb])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    out = _steps_summary(cb.s, cb.n, args.warmup)
    out.update(losses=cb.loss, peak_gib=torch.cuda.max_memory_allocated() / 1024**3 if cuda else None)
    return out


# ---------------------------------------------------------------- driver
def run_arm_process(work: Path, name: str, args, timeout: int) -> dict:
    cmd = [sys.executable, __file__, "--arm", name, "--work", str(work), "--warmup", str(args.warmup),
           "--steps", str(args.steps), "--preset", args.preset]
    if args.tiny:
        cmd.append("--tiny")
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    log = work / f"{name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        try:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    result_file = work / f"{name}.json"
    if rc == 0 and result_file.is_file():
        res = json.loads(result_file.read_text())
    else:
        res = {"error": f"rc={rc}", "log_tail": log.read_text()[-3000:]}
    res["process_s"] = time.perf_counter() - t0
    return res


def project_job(res: dict, tokens_per_epoch: int, steps_per_epoch: int, val_tokens: int) -> float | None:
    """5 epochs of training at the median rate, plus an eval (forward only, ~1/3 of a
    training step's work) every 50 steps."""
    rate = res.get("median_tokens_per_s")
    if not rate:
        return None
    epochs = SEED_JOB["epochs"]
    evals = epochs * steps_per_epoch // SEED_JOB["eval_every"] + 1
    return (epochs * tokens_per_epoch + evals * val_tokens / 3) / rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/clonekit-bench", help="folder for the data, base model and runs")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--arm", help=argparse.SUPPRESS)
    ap.add_argument("--preset", default="seed-qlora-7b")
    ap.add_argument("--batch-size", type=int, help="force clonekit's rows per micro-batch (default: its auto plan)")
    ap.add_argument("--warmup", type=int, default=5, help="optimizer steps before timing")
    ap.add_argument("--steps", type=int, default=20, help="timed optimizer steps per arm")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per arm")
    ap.add_argument("--tiny", action="store_true", help="small shape on CPU (tests the script)")
    ap.add_argument("--out", help="also write the summary JSON here")
    args = ap.parse_args()
    work = Path(args.work)

    if args.arm:  # child process: one arm
        fn = arm_trl if args.arm.startswith("trl") else arm_clonekit
        res = fn(work, args.arm, args)
        (work / f"{args.arm}.json").write_text(json.dumps(res))
        return 0

    import torch

    t0 = time.perf_counter()
    data = make_dataset(work, args.tiny)
    make_base(work, data, args.tiny)
    setup_s = time.perf_counter() - t0
    print(f"setup {setup_s:.0f}s", flush=True)
    results = {}
    arms = args.arms.split(",")
    for name in arms:
        results[name] = run_arm_process(work, name, args, args.timeout)
        if name == "clonekit" and "error" in results[name] and "clonekit-sdpa" not in arms:
            arms.append("clonekit-sdpa")  # per-conversation attention failed here: the rest of the plan still counts
        r = results[name]
        print(f"{name}: {r.get('median_tokens_per_s', 0):,.0f} tok/s median ({r.get('error', 'ok')}, {r['process_s']:.0f}s)",
              flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps({"partial": True, "arms": results}, indent=1))

    ck = results.get("clonekit", {})
    ck_arms = [r for n, r in results.items() if n.startswith("clonekit") and r.get("tokens_per_epoch")]
    tokens_per_epoch = ck_arms[0]["tokens_per_epoch"] if ck_arms else 0
    steps_per_epoch = ck_arms[0]["estimate_steps_per_epoch"] if ck_arms else 0
    val_tokens = int(SEED_JOB["val"] * (tokens_per_epoch / SEED_JOB["train"])) if tokens_per_epoch else 0
    for r in results.values():
        r["projected_job_min"] = (lambda s: s / 60 if s else None)(project_job(r, tokens_per_epoch, steps_per_epoch, val_tokens))
    today = results.get("clonekit-today", {})
    if ck.get("losses") and today.get("losses"):
        pairs = list(zip(ck["losses"], today["losses"]))
        diffs = [abs(a - b) / max(abs(b), 1e-9) for a, b in pairs]
        results["loss_check"] = {"steps": len(pairs), "max_rel_diff": max(diffs), "mean_rel_diff": statistics.mean(diffs)}
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    from importlib import metadata

    for dist in ("peft", "bitsandbytes", "trl", "liger-kernel", "accelerate", "triton"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # a missing peer library is reported, not fatal
            versions[dist] = "not installed"
    summary = {"date": time.strftime("%Y-%m-%d"), "gpu": gpu, "versions": versions, "preset": args.preset,
               "warmup_steps": args.warmup, "timed_steps": args.steps, "setup_s": setup_s,
               "tokens_per_epoch": tokens_per_epoch, "arms": results}
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "arms"}))
    peer = results.get("trl-liger", {}).get("median_tokens_per_s")
    print(f"{'arm':15s} {'median tok/s':>12s} {'p10-p90':>15s} {'peak GiB':>9s} {'job min':>8s}")
    for name, r in results.items():
        if name == "loss_check":
            print(f"loss clonekit vs clonekit-today over {r['steps']} steps: max rel diff {r['max_rel_diff']:.4f}, "
                  f"mean {r['mean_rel_diff']:.4f}")
            continue
        if "median_tokens_per_s" not in r:
            print(f"{name:15s} failed: {r.get('error')}")
            continue
        ratio = f"  {r['median_tokens_per_s'] / peer:.2f}x trl-liger" if peer else ""
        print(f"{name:15s} {r['median_tokens_per_s']:12,.0f} {r['p10']:7,.0f}-{r['p90']:<7,.0f} "
              f"{(r.get('peak_gib') or 0):9.1f} {(r.get('projected_job_min') or 0):8.1f}{ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
