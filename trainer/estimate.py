"""Before training: parameter counts, a peak-GPU-memory estimate, the plan that follows
from it (activation checkpointing and rows per micro-batch), a time-per-epoch estimate,
and the largest max length that fits when nothing does.

Memory model (bytes), T = tokens in one micro-batch (rows x max_length):
  weights     qlora: 0.53/param for decoder linears (nf4 + double-quant absmax), 2/param
              for embeddings, norms and head; lora: 2/param; full: 2/param
  trainable   16/param (fp32 weight, grad, two Adam moments); full bf16: 8/param
  activations per token and layer, bf16: (16*hidden + 6*intermediate)*2 as transformers
              keeps them; (13*hidden + 4*intermediate)*2 with Liger's RMSNorm/SwiGLU/RoPE.
              Checkpointed: each layer's input plus one layer recomputed.
  logits      T*vocab*10 (bf16 logits, fp32 upcast, its gradient); with the fused linear
              cross-entropy only a chunk of them ever exists
  overhead    1 GiB CUDA context + 10% allocator slack
Time: FLOPs/token = 2N forward + 2N input gradients (+2N recompute when checkpointing,
+2N weight grads for full) + attention, at a model-FLOPs utilisation calibrated on an H200
(bench/train.py, bench/RESULTS.md); after a few steps the run measures its own rate and
reports the epoch time from that."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from trainer.config import TrainConfig

GiB = 1024**3
# Dense bf16/fp16 peak FLOP/s by GPU name fragment (vendor datasheets, no sparsity).
PEAK_FLOPS = [
    ("H200", 989e12), ("H100", 989e12), ("H800", 989e12), ("A100", 312e12), ("A800", 312e12),
    ("L40S", 362e12), ("L40", 181e12), ("A6000", 155e12), ("A10", 125e12), ("L4", 121e12),
    ("4090", 165e12), ("3090", 71e12), ("V100", 125e12), ("T4", 65e12),
]
# Model-FLOPs utilisation (the FLOPs counted by flops_per_token over the time). The base is
# the plain transformers path (sdpa over the block-diagonal mask, one row per micro-batch);
# the gains multiply it for per-conversation attention, Liger's kernels and each doubling
# of the rows per micro-batch. qlora's were fitted on an H200 (Mistral-7B shape, seed
# preset, bench/train.py, 2026-12-02: the base predicted the old path within 1%, the gains
# reproduce the four variants measured there within 1%); lora/full are unmeasured guesses.
ASSUMED_MFU = {"qlora": 0.25, "lora": 0.35, "full": 0.35}
PACKED_GAIN = 1.256
FUSED_GAIN = 1.134
BATCH_DOUBLING_GAIN = 0.097
CPU_FLOPS_PER_THREAD = 4e9  # rough, 4-bit dequantization included


@dataclass
class ModelShape:
    total_params: int
    linear_params: int  # decoder-layer Linear weights (quantized under qlora)
    linears: list[tuple[str, int, int]]  # (module name, in, out) of every Linear, lm_head included
    hidden: int
    intermediate: int
    layers: int
    vocab: int


@dataclass
class Estimate:
    total_params: int
    trainable_params: int
    peak_memory_bytes: int
    gpu_memory_bytes: int | None
    device_name: str
    tokens_per_epoch: int
    steps_per_epoch: int
    seconds_per_epoch: float
    fits: bool
    shards: int = 1  # FSDP over this many GPUs (peak memory is per GPU)

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        gpu = f" of {self.gpu_memory_bytes / GiB:.1f} GiB" if self.gpu_memory_bytes else ""
        return [
            f"parameters: {self.total_params / 1e6:,.1f}M total, {self.trainable_params / 1e6:,.2f}M trainable "
            f"({100 * self.trainable_params / max(self.total_params, 1):.2f}%)",
            f"estimated peak memory: {self.peak_memory_bytes / GiB:.1f} GiB{gpu} on {self.device_name}"
            + (f" (per GPU, base sharded over {self.shards} by FSDP)" if self.shards > 1 else ""),
            f"estimated time per epoch: {fmt_duration(self.seconds_per_epoch)} "
            f"({self.steps_per_epoch} steps, {self.tokens_per_epoch:,} tokens; rough)",
        ]


def fmt_duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 86400:
        return f"{s / 86400:.1f} days"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s"


def model_shape(config) -> ModelShape:
    """Exact parameter counts from a model config, built on the meta device (no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    linears = [
        (name, mod.in_features, mod.out_features)
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Linear)
    ]
    linear = sum(i * o for name, i, o in linears if not _is_head(name))
    get = lambda *keys: next((getattr(config, k) for k in keys if getattr(config, k, None)), 0)  # noqa: E731
    hidden = get("hidden_size", "n_embd", "d_model")
    return ModelShape(
        total, linear, linears, hidden, get("intermediate_size", "n_inner", "ffn_dim") or 4 * hidden,
        get("num_hidden_layers", "n_layer"), get("vocab_size"),
    )


def _is_head(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == "lm_head"


def trainable_params(shape: ModelShape, cfg: TrainConfig) -> int:
    """Exact LoRA parameter count: r*(in+out) per targeted Linear."""
    if cfg.method == "full":
        return shape.total_params
    targets = cfg.target_modules
    names = targets if isinstance(targets, list) else [targets]
    chosen = [  # peft's "all-linear" leaves the output layer out; a named lm_head is in
        (i, o) for name, i, o in shape.linears
        if (not _is_head(name) if targets == "all-linear" else name.rsplit(".", 1)[-1] in names)
    ]
    return sum(cfg.lora_r * (i + o) for i, o in chosen)


def act_bytes_per_token_layer(shape: ModelShape, fused: bool) -> int:
    if fused:
        return (13 * shape.hidden + 4 * shape.intermediate) * 2
    return (16 * shape.hidden + 6 * shape.intermediate) * 2


def memory_bytes(shape: ModelShape, cfg: TrainConfig, trainable: int, max_length: int | None = None, *,
                 checkpointing: bool | None = None, batch_size: int | None = None, fused: bool = False,
                 shards: int = 1) -> int:
    """Peak bytes on one GPU. ``shards`` > 1: FSDP over that many GPUs, so weights, LoRA
    weights, gradients and optimizer state are split, plus one decoder layer gathered in
    full (two while the next one prefetches)."""
    T = (batch_size or cfg.batch_size) * (max_length or cfg.max_length)
    ckpt = cfg.gradient_checkpointing is not False if checkpointing is None else checkpointing
    other = shape.total_params - shape.linear_params
    if cfg.method == "qlora":
        weights = 0.53 * shape.linear_params + 2 * other
    else:
        weights = 2 * shape.total_params
    opt = (8 if cfg.method == "full" else 16) * trainable
    gathered = 0
    if shards > 1:
        per_layer = (0.53 if cfg.method == "qlora" else 2) * shape.linear_params / max(shape.layers, 1)
        weights, opt, gathered = weights / shards, opt / shards, 2 * per_layer
    layer_work = T * act_bytes_per_token_layer(shape, fused)
    if ckpt:
        acts = shape.layers * T * shape.hidden * 2 + layer_work
    else:
        acts = shape.layers * layer_work
    logits = min(T, 4096) * shape.vocab * 6 if fused else T * shape.vocab * 10
    dequant = shape.hidden * shape.intermediate * 2 if cfg.method == "qlora" else 0
    return int((weights + opt + gathered + acts + logits + dequant + GiB) * 1.10)


@dataclass
class Plan:
    """What the memory estimate decided: activation checkpointing, rows per micro-batch
    (batch_size x grad_accum stays the configured rows per optimizer step)."""

    checkpointing: bool
    batch_size: int
    grad_accum: int
    fused: bool
    budget_bytes: int | None  # free GPU memory it was fitted into
    reason: str
    packed_attention: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def plan_memory(shape: ModelShape, cfg: TrainConfig, trainable: int, free_bytes: int | None, fused: bool,
                packed_attention: bool = True, shards: int = 1) -> Plan:
    """Checkpointing off whenever the run fits ``free_bytes`` (90% of it) without it, then
    the most rows per micro-batch that still fit (a divisor of the rows per step, so each
    optimizer step sees exactly the same rows). Rows grow only under per-conversation
    attention: over a dense block-diagonal mask a longer micro-batch costs quadratically
    (measured: 4 rows through sdpa ran at half the speed of per-conversation attention).
    Without a GPU nothing changes."""
    rows = cfg.batch_size * cfg.grad_accum
    forced = cfg.gradient_checkpointing if isinstance(cfg.gradient_checkpointing, bool) else None
    if free_bytes is None:
        return Plan(bool(forced), cfg.batch_size, cfg.grad_accum, fused, None, "no GPU: as configured", packed_attention)
    budget = int(0.90 * free_bytes)
    choices = [forced] if forced is not None else [False, True]
    grow = cfg.micro_batch == "auto" and packed_attention
    sizes = [b for b in range(rows, 0, -1) if rows % b == 0] if grow else [cfg.batch_size]
    for ckpt in choices:
        for b in sizes:
            if memory_bytes(shape, cfg, trainable, checkpointing=ckpt, batch_size=b, fused=fused, shards=shards) <= budget:
                why = "forced" if forced is not None else ("fits without it" if not ckpt else "needed to fit")
                return Plan(ckpt, b, rows // b if grow else cfg.grad_accum, fused, free_bytes,
                            f"checkpointing {'on' if ckpt else 'off'} ({why}), {b} row(s) per micro-batch",
                            packed_attention)
    ckpt = True if forced is None else forced
    return Plan(ckpt, cfg.batch_size, cfg.grad_accum, fused, free_bytes, "nothing fits the free memory: as configured",
                packed_attention)


def device_info(device: str) -> tuple[str, int | None, float]:
    """(name, GPU memory in bytes or None, peak FLOP/s)."""
    import torch

    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        peak = next((f for key, f in PEAK_FLOPS if key in props.name), 100e12)
        return props.name, int(props.total_memory), peak
    return "CPU", None, CPU_FLOPS_PER_THREAD * torch.get_num_threads()


def free_gpu_bytes(device: str) -> int | None:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info()[0])
    return None


def flops_per_token(shape: ModelShape, cfg: TrainConfig, checkpointing: bool, mean_seq_len: float) -> float:
    n = shape.total_params
    per_token = 4 * n + (2 * n if checkpointing else 0) + (2 * n if cfg.method == "full" else 0)
    return per_token + 3 * 2 * shape.layers * mean_seq_len * shape.hidden  # causal attention scores + values


def assumed_mfu(method: str, fused: bool, packed_attention: bool, batch_size: int) -> float:
    mfu = ASSUMED_MFU[method] * (FUSED_GAIN if fused else 1.0)
    if packed_attention:
        mfu *= PACKED_GAIN * (1 + BATCH_DOUBLING_GAIN * math.log2(max(batch_size, 1)))
    return mfu


def estimate(shape: ModelShape, cfg: TrainConfig, trainable: int, device: str, tokens_per_epoch: int,
             rows_per_epoch: int, mean_seq_len: float, plan: Plan | None = None, shards: int = 1) -> Estimate:
    name, gpu_mem, peak = device_info(device)
    ckpt = plan.checkpointing if plan else cfg.gradient_checkpointing is not False
    fused = plan.fused if plan else False
    batch = plan.batch_size if plan else cfg.batch_size
    mem = memory_bytes(shape, cfg, trainable, checkpointing=ckpt, batch_size=batch, fused=fused, shards=shards)
    mfu = assumed_mfu(cfg.method, fused, plan.packed_attention if plan else False, batch)
    rate = peak * (mfu if gpu_mem else 1.0)
    steps = max(1, -(-rows_per_epoch // (cfg.batch_size * cfg.grad_accum)))
    fits = gpu_mem is None or mem <= 0.95 * gpu_mem
    seconds = tokens_per_epoch * flops_per_token(shape, cfg, ckpt, mean_seq_len) / rate
    return Estimate(shape.total_params, trainable, mem, gpu_mem, name, tokens_per_epoch, steps, seconds, fits, shards)


def largest_fitting_length(shape: ModelShape, cfg: TrainConfig, trainable: int, gpu_mem: int) -> int | None:
    """The largest max length (multiple of 256) whose estimate fits in 95% of ``gpu_mem``."""
    best = None
    length = 256
    while length <= cfg.max_length:
        ckpt = cfg.gradient_checkpointing if isinstance(cfg.gradient_checkpointing, bool) else True
        if memory_bytes(shape, cfg, trainable, length, checkpointing=ckpt) <= 0.95 * gpu_mem:
            best = length
        length += 256
    return best
