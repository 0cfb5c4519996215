"""TrainConfig: every knob of a training run, typed and validated. A preset file
(trainer/presets/NAME.toml) gives the values, CLI flags override them, and the resolved
config is written into run.json so a run can be repeated or resumed exactly."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from builder.config_base import StrictModel


class TinyModelConfig(StrictModel):
    """Shape of the offline `--base tiny` model (Llama architecture, random init)."""

    hidden_size: int = Field(256, ge=32)
    num_layers: int = Field(4, ge=1)
    num_heads: int = Field(4, ge=1)
    num_kv_heads: int = Field(2, ge=1)
    intermediate_size: int = Field(704, ge=32)
    vocab_size: int = Field(4096, ge=300)  # byte-level BPE: 256 bytes + merges + specials
    seed: int = 0


class TrainConfig(StrictModel):
    method: Literal["qlora", "lora", "full"] = "qlora"
    # 4-bit base (qlora only): bitsandbytes nf4, double quantization.
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    bnb_4bit_double_quant: bool = True
    # Compute/training precision; "auto" = bf16 where the device supports it, else fp16 on
    # CUDA, fp32 on CPU.
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"

    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"

    max_length: int = Field(2048, ge=32)
    batch_size: int = Field(1, ge=1)
    grad_accum: int = Field(8, ge=1)
    epochs: float = Field(3.0, gt=0)
    max_steps: int = Field(-1, ge=-1)  # -1: derived from epochs
    lr: float = Field(2e-4, gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup: float = Field(0.03, ge=0)  # < 1: ratio of total steps; >= 1: steps
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)

    train_on: Literal["assistant", "all"] = "assistant"
    packing: bool = True  # padding-free rows of several conversations
    # Activation checkpointing: "auto" turns it off when the memory estimate fits the GPU's
    # free memory without it (it costs ~1/3 more compute), on otherwise; true/false force it.
    gradient_checkpointing: bool | Literal["auto"] = "auto"
    # "auto": keep batch_size x grad_accum rows per optimizer step (the same optimization)
    # but run as many rows per micro-batch as fit in free GPU memory; "fixed": as given.
    micro_batch: Literal["auto", "fixed"] = "auto"
    # Liger kernels (fused linear cross-entropy, RMSNorm, SwiGLU, RoPE) on CUDA: "auto" uses
    # them where liger-kernel is installed and supports the model, "on" requires them.
    fused_kernels: Literal["auto", "on", "off"] = "auto"
    # "auto": with packing, per-conversation attention ("packed": varlen flash attention on
    # CUDA, one causal SDPA per conversation elsewhere), else sdpa.
    attn_implementation: Literal["auto", "packed", "sdpa", "eager", "flash_attention_2"] = "auto"
    chat_template: Literal["auto", "base", "chatml", "llama3"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Several GPUs (`--gpus N`): shard the base over them with FSDP (bases that don't fit
    # one GPU; trainer/fsdp.py) instead of a full copy per GPU (data parallel), and the
    # size of the gradient buckets data parallel all-reduces during the backward.
    fsdp: bool = False
    ddp_bucket_cap_mb: int = Field(25, ge=1)

    eval_steps: int = Field(50, ge=1)  # eval and checkpoint every N optimizer steps
    # Each eval runs on at most this many val records (evenly spaced over the split, the
    # same ones every time), so its cost stays bounded on a large dataset.
    max_eval_records: int = Field(256, ge=1)
    logging_steps: int = Field(1, ge=1)
    early_stopping_patience: int = Field(3, ge=0)  # 0: off
    save_total_limit: int = Field(2, ge=1)
    seed: int = 42

    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.tiny.hidden_size % self.tiny.num_heads:
            raise ValueError("tiny.hidden_size must be a multiple of tiny.num_heads")
        return self

    @property
    def load_in_4bit(self) -> bool:
        return self.method == "qlora"
