"""Merge a run's LoRA adapter into an unquantized copy of its base and save a plain
transformers model folder (safetensors, tokenizer with its chat template, a generation
config that stops at the end-of-turn token), loadable by AutoModelForCausalLM, vLLM and
TGI. The base is always loaded unquantized for merging (a QLoRA adapter is merged into
bf16 weights, never into 4-bit ones)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from builder.atomic import atomic_dir
from builder.errors import ClonekitError
from builder.events import NEVER_CANCELLED, CancelToken, OnEvent, Progress, ignore_event

DTYPES = ("bf16", "fp16", "fp32")


def merge_adapter(run, dtype: str = "bf16", on_event: OnEvent = ignore_event,
                  cancel: CancelToken = NEVER_CANCELLED):
    """The run's base loaded unquantized on the CPU with its LoRA adapter merged in (a
    plain transformers model). Also used by ``clonekit gguf``."""
    import torch
    from peft import PeftModel

    from trainer.inference import attach_template_fit, load_base_model, load_tokenizer

    on_event(Progress("merge", 0, 3, "loading base (unquantized)"))
    tokenizer = load_tokenizer(run.adapter_dir)
    attach_template_fit(tokenizer, run.info.get("template_fit"))
    base = load_base_model(run.base_path, "cpu", quantize_4bit=False, dtype=dtype, n_tokens=len(tokenizer))
    cancel.check()  # the base is resized to the tokenizer when training added template tokens
    on_event(Progress("merge", 1, 3, "merging adapter"))
    model = PeftModel.from_pretrained(base, str(run.adapter_dir))
    with torch.no_grad():
        merged = model.merge_and_unload(safe_merge=True)
    cancel.check()
    return merged


def merge_run(run_ref: str | os.PathLike, output: str | os.PathLike, dtype: str = "bf16",
              on_event: OnEvent = ignore_event, cancel: CancelToken = NEVER_CANCELLED) -> Path:
    from trainer.inference import load_tokenizer, open_run, stop_ids

    if dtype not in DTYPES:
        raise ClonekitError(f"--dtype {dtype}: use one of {', '.join(DTYPES)}")
    out = Path(output)
    if out.exists():
        raise ClonekitError(f"{out}: already exists; choose a new folder (merges never overwrite)")
    run = open_run(run_ref)
    if run.method == "full":
        raise ClonekitError(f"{run.path}: a full fine-tune has no adapter; its model/ folder is already a plain model")
    merged = merge_adapter(run, dtype, on_event, cancel)
    tokenizer = load_tokenizer(run.adapter_dir)
    eot = stop_ids(run, tokenizer)
    merged.generation_config.eos_token_id = eot if len(eot) > 1 else eot[0]
    merged.generation_config.pad_token_id = tokenizer.pad_token_id
    on_event(Progress("merge", 2, 3, f"saving to {out}"))
    with atomic_dir(out) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "clonekit_merge.json").write_text(json.dumps({
            "run_id": run.run_id, "run": str(run.path.resolve()), "base": run.info.get("base"),
            "base_path": run.base_path, "method": run.method, "dtype": dtype,
            "dataset_version": run.info.get("dataset_version"), "stop_token_ids": eot,
            "persona": run.persona, "chat_template": run.info.get("chat_template"),
            "template_fit": run.info.get("template_fit"),
        }, indent=2, ensure_ascii=False))
    on_event(Progress("merge", 3, 3, str(out)))
    return out
