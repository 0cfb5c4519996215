"""Bases bigger than one GPU: the base sharded over the GPUs with PyTorch FSDP2, one
decoder layer per unit (gathered in full only while it runs), LoRA trained beside it.
Two loaders, because the libraries support each case in one way:

- **LoRA** (bf16/fp32 base): transformers' own sharded loading,
  ``from_pretrained(distributed_config=DistributedConfig(fsdp_size=N))``: every rank
  reads only its shard, each decoder layer is ``fully_shard``-ed by the model's FSDP
  plan; peft adds the LoRA weights after, as replicated tensors, and the Trainer
  broadcasts them from rank 0 and averages their gradients once per optimizer step
  (gradient accumulation defers the reduce-scatter, its ``no_sync``). Runs on CPU
  (gloo) too, which is what the tests exercise.
- **QLoRA** (4-bit base): peft cannot yet put a 4-bit layer on a DTensor, so this is the
  Answer.AI fsdp_qlora recipe as transformers + peft + bitsandbytes + accelerate carry it:
  the 4-bit weights stored in the compute dtype (``bnb_4bit_quant_storage`` = bf16) so
  FSDP flattens and shards them with the bf16 norms and embeddings; the base loaded on
  rank 0's CPU only (``cpu_ram_efficient_loading``); accelerate's FSDP2 plugin wraps every
  decoder layer (auto-wrap by its class) with FSDP's own activation checkpointing; FSDP2
  keeps the original parameters (what FSDP1 called ``use_orig_params``), so the frozen
  4-bit base and the trainable LoRA weights share a unit; checkpoints are sharded (each
  rank writes its own shard). accelerate runs FSDP on GPUs only: CUDA required.

The final adapter is gathered once and written by rank 0. Selected by ``fsdp = true`` in
a preset (trainer/presets/fsdp-qlora.toml) or ``--fsdp``; needs ``--gpus N``, N >= 2.
"""

from __future__ import annotations

import os

from builder.errors import ClonekitError


def decoder_layer_classes(model) -> list[str]:
    """The class names FSDP wraps one unit each: the model's own ``_no_split_modules``
    (the decoder layer, e.g. LlamaDecoderLayer), else the class of the repeated block."""
    names = list(getattr(model, "_no_split_modules", None) or [])
    if not names:
        import torch

        for module in model.modules():
            if isinstance(module, torch.nn.ModuleList) and len(module) > 1:
                names = [type(module[0]).__name__]
                break
    if not names:
        raise ClonekitError("--fsdp: cannot find this model's decoder layer class to shard by; train without --fsdp")
    return names


def through_accelerate(cfg) -> bool:
    """QLoRA shards through accelerate's FSDP plugin; LoRA/full through transformers' loader."""
    return bool(cfg.fsdp and cfg.load_in_4bit)


def loading_arguments(cfg, world_size: int) -> dict:
    """from_pretrained keyword arguments for a sharded base."""
    if through_accelerate(cfg):
        # The environment accelerate's launcher sets: transformers then loads the
        # weights on rank 0 only (the meta device elsewhere) for FSDP to shard.
        os.environ["ACCELERATE_USE_FSDP"] = "true"
        os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = "true"
        return {"device_map": None}
    from transformers.distributed import DistributedConfig

    return {"device_map": None, "distributed_config": DistributedConfig(fsdp_size=world_size)}


def check(cfg, world_size: int, device: str) -> None:
    """One-line refusals for what FSDP cannot do here."""
    if world_size < 2:
        raise ClonekitError("--fsdp shards the base over several processes; add --gpus N (N >= 2) or drop --fsdp")
    if cfg.load_in_4bit and device != "cuda":
        raise ClonekitError("--fsdp with qlora needs CUDA GPUs (accelerate shards 4-bit bases on GPUs only); "
                            "on CPU use a lora preset with --fsdp")


def training_arguments(model, checkpointing: bool) -> dict:
    """TrainingArguments for accelerate's FSDP2 plugin (the QLoRA path): decoder layers
    auto-wrapped, sharded checkpoints, activation checkpointing through FSDP's own wrapper
    (the Trainer's would wrap twice)."""
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "transformer_layer_cls_to_wrap": decoder_layer_classes(model),
            "state_dict_type": "SHARDED_STATE_DICT",
            "cpu_ram_efficient_loading": True,
            "reshard_after_forward": True,
            "activation_checkpointing": checkpointing,
        },
    }


def quant_storage_dtype(cfg, dtype, fsdp: bool):
    """4-bit weights packed into the compute dtype under FSDP (so they shard with the
    rest), into bytes otherwise (bitsandbytes' default)."""
    import torch

    return dtype if fsdp and cfg.load_in_4bit else torch.uint8
