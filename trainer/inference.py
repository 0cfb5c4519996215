"""Load a finished run for inference: the base model (4-bit on a GPU when the run was
QLoRA, bf16 on a GPU otherwise, fp32 on CPU) plus the LoRA adapter, a full fine-tune's
model/, or a merged folder from ``clonekit merge``. Run layout: docs/CONTRACTS.md "Runs"."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from builder.errors import ClonekitError
from trainer.run_dir import RunInfo, load_run, runs_root, unfinished_hint


def resolve_run_path(ref: str | os.PathLike) -> Path:
    """A run folder given as a path, or a run id under $CLONEKIT_RUNS / ./runs."""
    path = Path(ref)
    if (path / "run.json").is_file():
        return path
    root = runs_root()
    if not path.is_absolute() and (root / path / "run.json").is_file():
        return root / path
    if path.is_dir() or (root / path).is_dir():
        found = path if path.is_dir() else root / path
        raise ClonekitError(f"{found}: no run.json here; is this a run folder from `clonekit train`?")
    raise ClonekitError(f"{ref}: run not found (looked in . and {root}/; pass a run folder or run id)")


def open_run(ref: str | os.PathLike, require_done: bool = True) -> RunInfo:
    """Read and check a run folder. Raises ClonekitError naming what is wrong."""
    run = load_run(resolve_run_path(ref))
    if require_done and run.status != "done":
        raise ClonekitError(f"{run.path}: run is {run.status}, not done; {unfinished_hint(run.path, run.status)}")
    if require_done and not run.weights_dir.is_dir():
        raise ClonekitError(f"{run.weights_dir}: missing; the run folder is incomplete")
    return run


def pick_device(device: str | None = None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ClonekitError(f"--device {device}: no CUDA GPU is visible; use --device cpu")
    return device


def _needs_gpu_checkpoint(model_path: str) -> bool:
    """True when the checkpoint on disk is itself bitsandbytes-quantized."""
    cfg = Path(model_path) / "config.json"
    if not cfg.is_file():
        return False
    try:
        quant = json.loads(cfg.read_text()).get("quantization_config") or {}
    except (OSError, json.JSONDecodeError):
        return False
    return bool(quant.get("load_in_4bit") or quant.get("load_in_8bit"))


def load_tokenizer(path: str | os.PathLike):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        raise ClonekitError(f"{path}: the tokenizer has no chat template; retrain or merge again")
    return tok


def load_base_model(model_path: str, device: str, quantize_4bit: bool, dtype: str | None = None,
                    n_tokens: int | None = None):
    """The plain base model. 4-bit only on CUDA; unquantized bf16 (GPU) / fp32 (CPU).
    ``n_tokens``: the run's tokenizer size; when training added template tokens (the
    chatml/llama3 fallback) the embeddings and head are resized to it, as training did."""
    import torch
    from transformers import AutoModelForCausalLM

    if device == "cpu" and _needs_gpu_checkpoint(model_path):
        raise ClonekitError(f"{model_path}: this checkpoint is stored in 4/8-bit and needs a CUDA GPU; "
                            "use an unquantized base or run on a GPU machine")
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(
        dtype or "", torch.bfloat16 if device.startswith("cuda") else torch.float32)
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if quantize_4bit and device.startswith("cuda"):
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": device}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    except OSError as err:
        raise ClonekitError(f"{model_path}: cannot load the model ({str(err).splitlines()[0]})") from None
    if n_tokens and model.get_input_embeddings().weight.shape[0] < n_tokens:
        model.resize_token_embeddings(n_tokens)
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    return model


def load_model(run: RunInfo | str | os.PathLike, merged: bool | str | os.PathLike = False,
               device: str | None = None, dtype: str | None = None):
    """(model, tokenizer) ready for generation.

    ``merged`` may be a folder written by ``clonekit merge`` (loaded as a plain model).
    Otherwise the base is loaded (4-bit on a GPU when the run was QLoRA) and the
    adapter attached as a peft model, so ``model.disable_adapter()`` gives the base."""
    device = pick_device(device)
    if merged:
        run_path = run.path if isinstance(run, RunInfo) else Path(run)
        merged_dir = run_path / "merged" if merged is True else Path(merged)
        if not (merged_dir / "config.json").is_file():
            raise ClonekitError(f"{merged_dir}: not a merged model folder (no config.json); "
                                "create it with `clonekit merge RUN -o DIR`")
        tokenizer = load_tokenizer(merged_dir)
        attach_template_fit(tokenizer, _merge_info(merged_dir).get("template_fit"))
        return load_base_model(str(merged_dir), device, False, dtype), tokenizer
    run = run if isinstance(run, RunInfo) else open_run(run)
    tokenizer = load_tokenizer(run.tokenizer_dir)
    attach_template_fit(tokenizer, run.info.get("template_fit"))
    if run.method == "full":
        return load_base_model(str(run.model_dir), device, False, dtype), tokenizer
    base = load_base_model(run.base_path, device, bool(run.info.get("load_in_4bit")), dtype, n_tokens=len(tokenizer))
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, str(run.adapter_dir))
    model.eval()
    return model, tokenizer


def _merge_info(merged_dir: Path) -> dict:
    try:
        return json.loads((Path(merged_dir) / "clonekit_merge.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def attach_template_fit(tokenizer, fit: dict | None) -> None:
    """Render exactly as training did: the template fit recorded in run.json (older runs
    have none: the template is probed now, which gives the same answer for the same template)."""
    from trainer.template_fit import attach

    attach(tokenizer, fit)


def stop_ids(run: RunInfo | None, tokenizer) -> list[int]:
    """End-of-turn ids: run.json's stop_token_ids, else the tokenizer's eos."""
    ids = list(run.stop_token_ids) if run is not None else []
    if not ids and tokenizer.eos_token_id is not None:
        ids = [int(tokenizer.eos_token_id)]
    for extra in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        tid = tokenizer.convert_tokens_to_ids(extra) if extra in tokenizer.get_vocab() else None
        if tid is not None and tid not in ids:
            ids.append(int(tid))
    return ids
