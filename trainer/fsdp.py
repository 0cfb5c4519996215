"""Bases bigger than one GPU: FSDP (PyTorch FSDP2 through the Trainer's accelerate
plugin) with LoRA or QLoRA, the approach of Answer.AI's fsdp_qlora as it now lives in
transformers, peft and bitsandbytes:

- 4-bit weights are stored in the compute dtype (``bnb_4bit_quant_storage`` = bf16), so
  FSDP can flatten and shard them together with the bf16 norms and embeddings;
- every decoder layer is its own FSDP unit (auto-wrap by the model's decoder-layer
  class), so one layer at a time is gathered in full;
- the base loads on rank 0's CPU only (``cpu_ram_efficient_loading``: the other ranks
  build it on the meta device and receive their shards), so host memory holds one copy;
- FSDP2 shards parameters as DTensors of the original modules (what FSDP1 called
  ``use_orig_params``): the frozen base and the trainable LoRA weights sit side by side
  in one unit and the optimizer sees the original LoRA parameters;
- checkpoints are sharded (each rank writes its own shard, no gather onto rank 0); the
  final adapter is gathered once and written by rank 0.

Selected by ``fsdp = true`` in a preset (trainer/presets/fsdp-qlora.toml) or ``--fsdp``;
it needs several processes (``--gpus N``)."""

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


def prepare_loading(world_size: int) -> None:
    """Before from_pretrained: tell transformers the run is FSDP with rank-0-only loading
    (the same environment accelerate's launcher sets)."""
    if world_size > 1:
        os.environ["ACCELERATE_USE_FSDP"] = "true"
        os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = "true"


def check(cfg, world_size: int, device: str) -> None:
    """One-line refusals for what FSDP cannot do here."""
    if world_size < 2:
        raise ClonekitError("--fsdp shards the base over several processes; add --gpus N (N >= 2) or drop --fsdp")
    if cfg.load_in_4bit and device != "cuda":
        raise ClonekitError("--fsdp with qlora needs CUDA GPUs (bitsandbytes' 4-bit weights shard only there); "
                            "on CPU use --preset lora --fsdp")


def training_arguments(model, checkpointing: bool) -> dict:
    """TrainingArguments for FSDP2 over decoder layers, sharded checkpoints, activation
    checkpointing through FSDP's own wrapper (the Trainer's would wrap twice)."""
    return {
        "fsdp": "full_shard auto_wrap",
        "fsdp_config": {
            "version": 2,
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
