"""The training recipe, top to bottom: dataset -> run folder -> base and tokenizer ->
chat template + round-trip check -> encode and pack -> estimate (and refuse what will not
fit) -> load model (4-bit) + LoRA -> transformers Trainer -> adapter, run.json, report.

``train(request, on_event, cancel) -> Path`` is the one core function; `clonekit train`
and the TUI (in a subprocess, reading --events-jsonl) call it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.errors import Cancelled, ClonekitError, ConfigError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, ignore_event
from builder.config_base import validate
from trainer import distributed
from trainer.config import TrainConfig
from trainer.presets import DEFAULT_PRESET, resolve_config
from trainer.run_dir import (Heartbeat, effective_status, latest_unfinished_run, new_run_id, process_fields, read_run_json,
                             resume_command, runs_root, write_run_json)

BIG_FOR_CPU = 1_500_000_000  # parameters; beyond this a CPU run would take days


@dataclass
class TrainRequest:
    data: str | None = None  # dataset version folder or NAME/vNNNN
    base: str | None = None  # HF id, local folder, or "tiny"
    preset: str = DEFAULT_PRESET
    overrides: dict[str, Any] = field(default_factory=dict)
    out: Path | None = None  # the run folder (default runs/<run-id>)
    resume: bool = False


def quiet_libraries() -> None:
    """A normal run shows our own progress and warnings only. Silenced: Hugging Face
    progress bars ("Loading weights", "Writing model shards"), bitsandbytes' notice that
    its optional hub-downloaded CPU kernel is missing (it falls back to its own), and a
    deprecation warning transformers raises inside peft. Library warnings about the
    user's model or data still show. Call it before anything imports transformers: that
    import loads bitsandbytes, which logs its notice at import time."""
    import logging
    import warnings

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    # peft saves the (frozen) head weights next to a LoRA on lm_head; tiny-cpu targets it
    # on purpose, and the warning would repeat at every checkpoint.
    warnings.filterwarnings("ignore", message=r"Setting `save_embedding_layers` to `True`", category=UserWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _neutralize_datasets_shadow() -> None:
    """The project's ./datasets folder (no __init__.py) is importable as a namespace
    package when the current directory is on sys.path (python -m, pytest). transformers
    then believes Hugging Face `datasets` is installed and evaluates
    ``isinstance(ds, datasets.Dataset)`` on our folder. Give that empty namespace the
    class names it asks for, so those checks are simply False. A real install is untouched."""
    import importlib
    import importlib.util

    spec = importlib.util.find_spec("datasets")
    if spec is None or spec.origin not in (None, "namespace"):
        return
    module = importlib.import_module("datasets")
    if getattr(module, "__file__", None) is None:
        for name in ("Dataset", "IterableDataset", "DatasetDict", "IterableDatasetDict"):
            if not hasattr(module, name):
                setattr(module, name, type(name, (), {}))


# ---------------------------------------------------------------- run folder and config
def _prepare_run(req: TrainRequest) -> tuple[Path, TrainConfig, dict]:
    """New run: resolve the config, make the folder. Resume: reread run.json."""
    if req.resume:
        run_dir = req.out or latest_unfinished_run()
        if run_dir is None or not (Path(run_dir) / "run.json").is_file():
            raise ClonekitError(f"--resume: no unfinished run found under {runs_root()} (pass --out RUN_DIR)")
        run_dir = Path(run_dir)
        run = read_run_json(run_dir)
        if run.get("status") == "done":
            raise ClonekitError(f"--resume: {run_dir} already finished; start a new run instead")
        if effective_status(run_dir, run) == "running":
            raise ClonekitError(f"--resume: {run_dir} is still training (pid {run.get('pid')}); wait for it or stop it first")
        cfg = validate(TrainConfig, run["config"], where=f"{run_dir / 'run.json'}", prefix="config")
        return run_dir, cfg, run
    if not req.data:
        raise ConfigError("--data is required (a dataset version folder like datasets/NAME/v0001)")
    if not req.base:
        raise ConfigError("--base is required (a Hugging Face id, a local model folder, or 'tiny')")
    cfg = resolve_config(req.preset, req.overrides)
    return Path(req.out) if req.out else None, cfg, {}  # type: ignore[return-value]


def _device(cfg: TrainConfig) -> str:
    import torch

    has_cuda = torch.cuda.is_available()
    if cfg.device == "cuda" and not has_cuda:
        raise ClonekitError(
            "this preset needs a CUDA GPU and none was found (4-bit training of a real base on CPU would take days); "
            "run on a GPU machine, or try --base tiny --preset tiny-cpu"
        )
    return "cuda" if has_cuda and cfg.device != "cpu" else "cpu"


def _dtype(cfg: TrainConfig, device: str):
    import torch

    if cfg.precision == "bf16" or (cfg.precision == "auto" and device == "cuda" and torch.cuda.is_bf16_supported()):
        if device == "cuda" and not torch.cuda.is_bf16_supported():
            raise ClonekitError("precision bf16: this GPU has no bf16 support; use --precision fp16")
        return torch.bfloat16
    if cfg.precision == "fp16" or (cfg.precision == "auto" and device == "cuda"):
        return torch.float16
    return torch.float32


# ---------------------------------------------------------------- base and tokenizer
def _load_tokenizer(base_path: str, base: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(base_path)
    except (OSError, ValueError) as err:
        reason = str(err).splitlines()[0][:160]
        raise ClonekitError(
            f"--base {base}: cannot load a tokenizer from it ({reason}); pass a local model folder, "
            "a Hugging Face id you can download, or 'tiny'"
        ) from None


def _attention(cfg: TrainConfig, model_config, device: str) -> str:
    """The attention implementation to load: per-conversation ("packed") for packed rows
    where it can replace the model's, else sdpa (or what the config names)."""
    from trainer import packed_attention

    if cfg.attn_implementation in ("auto", "packed") and cfg.packing and packed_attention.supported(model_config, device):
        return packed_attention.register()
    if cfg.attn_implementation == "packed":
        raise ClonekitError("attn_implementation = packed needs packing on, a model without attention dropout and, on "
                            "CUDA, torch's varlen attention (torch >= 2.10, Ampere or newer); use --attention auto")
    return "sdpa" if cfg.attn_implementation == "auto" else cfg.attn_implementation


def _load_model(base_path: str, cfg: TrainConfig, device: str, dtype, n_tokens: int, local_rank: int = 0,
                attn: str = "sdpa", fused: bool = False, fsdp_world: int = 0) -> tuple[Any, list[str]]:
    """The base (4-bit under qlora), Liger's kernels patched in when ``fused``, then LoRA.
    ``fsdp_world``: FSDP over that many ranks (rank 0 loads, trainer/fsdp.py).
    Returns the model and the fused kernels applied."""
    from transformers import AutoModelForCausalLM

    from trainer import fsdp

    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "attn_implementation": attn,
        "device_map": {"": local_rank} if device == "cuda" else "cpu",
    }
    if fsdp_world:
        kwargs.update(fsdp.loading_arguments(cfg, fsdp_world))
    if cfg.load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ClonekitError("4-bit (qlora) training needs bitsandbytes: pip install bitsandbytes, or use --preset lora") from None
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=cfg.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=cfg.bnb_4bit_double_quant,
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_storage=fsdp.quant_storage_dtype(cfg, dtype, bool(fsdp_world)),
        )
    model = AutoModelForCausalLM.from_pretrained(base_path, **kwargs)
    old_rows = model.get_input_embeddings().weight.shape[0]
    if old_rows < n_tokens:
        model.resize_token_embeddings(n_tokens)
    model.config.use_cache = False
    applied: list[str] = []
    if fused:
        from trainer import kernels

        applied = kernels.apply(model, cfg, head_rows_trained=old_rows < n_tokens)
    if cfg.method == "full":
        return model, applied
    from peft import LoraConfig, get_peft_model

    from trainer.template_fit import new_rows_trainable

    lora = LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules, task_type="CAUSAL_LM",
        **new_rows_trainable(model, old_rows, n_tokens, cfg.target_modules),  # rows of tokens clonekit added
    )
    return get_peft_model(model, lora), applied


def _packing_supported(model, cfg: TrainConfig) -> bool:
    """Padding-free rows need transformers' packed-sequence masks: every attention
    implementation routed through masking_utils (sdpa, eager, flash, flex) detects the
    restarting position_ids; a model with its own legacy masking would attend across."""
    from trainer.packed_attention import ATTN_NAME

    impl = getattr(model.config, "_attn_implementation", None)
    return cfg.packing and impl in {ATTN_NAME, "sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention"}


# ---------------------------------------------------------------- the recipe
def train(req: TrainRequest, on_event: OnEvent = ignore_event, cancel: CancelToken = NEVER_CANCELLED) -> Path:
    from trainer.data import load_dataset_version

    _neutralize_datasets_shadow()
    quiet_libraries()
    run_dir, cfg, previous = _prepare_run(req)
    data_ref = previous.get("dataset") or req.data
    base = previous.get("base") or req.base
    ds = load_dataset_version(data_ref)
    device = _device(cfg)
    r = distributed.init(device)
    if cfg.fsdp:
        from trainer import fsdp

        fsdp.check(cfg, r.world_size, device)
    if not r.main:
        on_event = ignore_event  # rank 0 reports for everyone

    # A bad --base fails here, before a run folder exists.
    tokenizer = None if base == "tiny" else _load_tokenizer(base, base)
    if run_dir is None:
        run_dir = distributed.share(runs_root() / new_run_id(ds.version_id), r)
    if r.main and not req.resume and run_dir.exists() and any(run_dir.iterdir()):
        raise ClonekitError(f"--out {run_dir}: folder exists and is not empty; pick another or add --resume")
    distributed.barrier(r)
    created = not run_dir.exists() or not any(run_dir.iterdir())
    run_dir.mkdir(parents=True, exist_ok=True)
    run: dict[str, Any] = {
        "run_id": run_dir.name, "status": "running", "base": base, "base_path": None,
        "method": cfg.method, "load_in_4bit": cfg.load_in_4bit, "dataset": str(ds.path),
        "dataset_version": ds.version_id, "manifest_sha256": ds.manifest_sha256, "persona": ds.persona,
        "chat_template": None, "stop_token_ids": [], "config": cfg.model_dump(), "preset": previous.get("preset") or req.preset,
        "plan": previous.get("plan"), "best_checkpoint": None, "final": {}, "started": previous.get("started") or time.strftime("%Y-%m-%dT%H:%M:%S"),
        **process_fields(),
    }
    save_run(run_dir, run, r)
    training = [False]  # set once trainer.train starts
    try:
        if not r.main:
            return _train_in(run_dir, run, cfg, ds, base, tokenizer, device, req.resume, r, on_event, cancel, training)
        with Heartbeat(run_dir):
            return _train_in(run_dir, run, cfg, ds, base, tokenizer, device, req.resume, r, on_event, cancel, training)
    except BaseException as err:
        stopped = isinstance(err, (KeyboardInterrupt, Cancelled))
        if created and not training[0] and isinstance(err, (ClonekitError, KeyboardInterrupt)):
            # Refused or stopped before any training (round trip, empty data, memory
            # estimate): a new run folder holds nothing worth keeping, and left behind
            # --resume would pick it.
            distributed.barrier(r)
            if r.main:
                import shutil

                shutil.rmtree(run_dir, ignore_errors=True)
            if isinstance(err, KeyboardInterrupt):
                raise Cancelled(f"interrupted before training started; {run_dir} was removed, nothing was kept") from None
            raise
        run["status"] = "interrupted" if stopped else "failed"
        if stopped:
            run["stopped"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            run["error"] = str(err).splitlines()[0] if str(err) else type(err).__name__
        save_run(run_dir, run, r)
        if stopped:
            raise Cancelled(stopped_message(run_dir)) from None
        raise


def stopped_message(run_dir: Path) -> str:
    """What an interrupted run kept, and the one command that continues it."""
    checkpoint, _ = last_complete_checkpoint(Path(run_dir) / "checkpoints")
    kept = (f"kept {run_dir} with its last checkpoint ({Path(checkpoint).name})" if checkpoint
            else f"kept {run_dir} (no checkpoint saved yet: resuming starts from step 0)")
    return f"training interrupted; {kept}; continue with: {resume_command(run_dir)}"


def save_run(run_dir: Path, run: dict, r: distributed.Ranks) -> None:
    if r.main:
        write_run_json(run_dir, run)


def _eval_subset(val_enc: list, limit: int) -> list:
    """At most ``limit`` records, evenly spaced over the val split (deterministic)."""
    if len(val_enc) <= limit:
        return val_enc
    return [val_enc[i * len(val_enc) // limit] for i in range(limit)]


def _train_in(run_dir: Path, run: dict, cfg: TrainConfig, ds, base: str, tokenizer, device: str, resume: bool,
              r: distributed.Ranks, on_event: OnEvent, cancel: CancelToken, training: list[bool]) -> Path:
    import torch
    from transformers import AutoConfig

    from trainer.callbacks import EventsCallback, trim_metrics
    from trainer.data import PackedCollator, PaddedCollator, make_rows
    from trainer import fsdp, kernels
    from trainer.estimate import (Plan, estimate, free_gpu_bytes, largest_fitting_length, model_shape, plan_memory,
                                  trainable_params)
    from trainer.packed_attention import ATTN_NAME, VarlenCollator
    from trainer.template_check import encode_dataset, verdict_lines
    from trainer.templates import prepare_tokenizer
    from trainer.tiny import build_tiny_base

    on_event(Log(f"run {run_dir} · dataset {ds.version_id} ({len(ds.train)} train / {len(ds.val)} val records) · {device}"))

    # Base model and tokenizer. `tiny` is built here, from the dataset's own text.
    if base == "tiny":
        base_dir = run_dir / "base"
        if r.main and not (base_dir / "config.json").is_file():
            texts = (m["content"] for rec in ds.train + ds.val for m in rec["messages"])
            build_tiny_base(texts, cfg.tiny, base_dir, cfg.max_length)
            on_event(Log(f"built the tiny base model and tokenizer in {base_dir}"))
        distributed.barrier(r)
        base_path = str(base_dir.resolve())
        tokenizer = _load_tokenizer(base_path, base)
    else:
        base_path = base
    info = prepare_tokenizer(tokenizer, cfg.chat_template)
    run.update(base_path=base_path, chat_template=info.name, stop_token_ids=info.stop_token_ids, template_fit=info.fit)
    save_run(run_dir, run, r)

    # Every record checked and encoded (problems counted, round trip on the first good one).
    for line in verdict_lines(info):
        on_event(Log(line))
    train_enc, val_enc, stats = encode_dataset(tokenizer, ds, info, cfg.max_length, cfg.train_on, on_event)
    if len(val_enc) > cfg.max_eval_records:
        on_event(Log(f"eval uses {cfg.max_eval_records} of {len(val_enc)} val records (max_eval_records)"))
        val_enc = _eval_subset(val_enc, cfg.max_eval_records)
    if stats["truncated"]:
        on_event(Log(f"{stats['truncated']} of {stats['records']} records are longer than max length "
                     f"{cfg.max_length} tokens and were cut; raise --max-length or rebuild with a smaller token budget",
                     level="warning"))

    # Estimate before loading anything big.
    model_config = AutoConfig.from_pretrained(base_path)
    shape = model_shape(model_config)
    n_trainable = trainable_params(shape, cfg)
    rows_probe = make_rows(train_enc, cfg.max_length, cfg.packing)
    mean_len = stats["tokens"] / len(train_enc)
    fused = kernels.wanted(cfg, device) and not cfg.fsdp  # Liger's patches are unproven on sharded weights
    attn = _attention(cfg, model_config, device)
    # A resumed run keeps its plan: the rows per micro-batch decide where the data order resumes.
    shards = r.world_size if cfg.fsdp else 1
    plan = Plan(**run["plan"]) if run.get("plan") else plan_memory(
        shape, cfg, n_trainable, free_gpu_bytes(device), fused, packed_attention=attn == ATTN_NAME, shards=shards)
    plan = distributed.share(plan, r)  # every rank runs rank 0's plan (free memory differs a little per GPU)
    # Per rank: each one trains on its share of the rows, in parallel.
    est = estimate(shape, cfg, n_trainable, device, stats["tokens"] // r.world_size,
                   -(-len(rows_probe) // r.world_size), mean_len, plan, shards=shards)
    for line in est.lines():
        on_event(Log(line))
    on_event(Log(f"plan: {plan.reason}; {plan.batch_size} x grad-accum {plan.grad_accum} rows per optimizer step"))
    run["estimate"] = est.as_dict()
    run["plan"] = plan.as_dict()
    save_run(run_dir, run, r)
    if device == "cpu" and shape.total_params > BIG_FOR_CPU:
        raise ClonekitError(
            f"no CUDA GPU found, and training this {shape.total_params / 1e9:.1f}B-parameter base on CPU would take "
            f"~{est.lines()[2].split(': ', 1)[1].split(' (')[0]} per epoch; run on a GPU machine or use --base tiny"
        )
    if not est.fits:
        fit = largest_fitting_length(shape, cfg, n_trainable, est.gpu_memory_bytes or 0)
        hint = f"--max-length {fit}" if fit else "a smaller base model"
        if cfg.method != "qlora":
            hint += " or --preset qlora"
        if r.distributed and not cfg.fsdp:
            hint += f" or --fsdp (the base sharded over the {r.world_size} GPUs)"
        gpu_gib = (est.gpu_memory_bytes or 0) / 1024**3
        raise ClonekitError(
            f"estimated peak memory {est.peak_memory_bytes / 1024**3:.1f} GiB does not fit the {0.95 * gpu_gib:.1f} GiB "
            f"usable on the GPU ({est.device_name}, {gpu_gib:.1f} GiB); try {hint}"
        )

    dtype = _dtype(cfg, device)
    model, applied = _load_model(base_path, cfg, device, dtype, len(tokenizer), r.local_rank, attn, plan.fused,
                                 fsdp_world=shards if cfg.fsdp else 0)
    kind = {"cuda": "varlen flash attention"}.get(device, "one SDPA per conversation")
    on_event(Log(f"attention: {f'per conversation ({kind})' if attn == ATTN_NAME else attn} · "
                 f"fused kernels: {', '.join(applied) if applied else 'none'}"))
    run["kernels"] = {"attention": attn, "fused": applied}
    packing = _packing_supported(model, cfg)
    if cfg.packing and not packing:
        on_event(Log("this model's attention cannot keep packed conversations apart; using dynamic padding", level="warning"))
    train_rows = make_rows(train_enc, cfg.max_length, packing)
    val_rows = make_rows(val_enc, cfg.max_length, packing) if val_enc else None
    if r.distributed:
        # Equal micro-batches on every rank, no row repeated to pad the last global batch.
        train_rows, dropped = distributed.balanced_rows(train_rows, r.world_size * plan.batch_size)
        if val_rows is not None:
            val_rows, _ = distributed.balanced_rows(val_rows, r.world_size * plan.batch_size)
        on_event(Log(f"{r.world_size} ranks ({'FSDP' if cfg.fsdp else 'data parallel'}): {len(train_rows)} rows, "
                     f"{len(train_rows) // r.world_size} per rank per epoch"
                     + (f"; {dropped} conversation(s) left out to keep the ranks even" if dropped else "")))
    if packing:
        collator = VarlenCollator() if attn == ATTN_NAME else PackedCollator()
    else:
        collator = PaddedCollator(tokenizer.pad_token_id)

    run_cfg = cfg.model_copy(update={"batch_size": plan.batch_size, "grad_accum": plan.grad_accum,
                                     "gradient_checkpointing": plan.checkpointing})
    trainer = _make_trainer(model, tokenizer, run_cfg, run_dir, train_rows, val_rows, collator, device, dtype, on_event,
                            cancel, tokens_per_epoch=stats["tokens"], world_size=r.world_size)
    events_cb = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, EventsCallback))

    checkpoint = None
    if resume and cfg.fsdp and not fsdp.through_accelerate(cfg):
        raise ClonekitError(f"--resume: {run_dir} is an FSDP LoRA run, whose checkpoints hold the adapter but no "
                            "optimizer state (transformers' sharded loading); start a new run, or use data parallel "
                            "(no --fsdp) or qlora with --fsdp, which resume")
    if resume:
        # A checkpoint at the final step would make the Trainer take one step too many:
        # redo the last stretch from the one before (same data order, same result).
        last = cfg.max_steps if cfg.max_steps and cfg.max_steps > 0 else None
        checkpoint, partial = last_complete_checkpoint(run_dir / "checkpoints", below_step=last)
        for p in partial:
            on_event(Log(f"{p} was being written when the run stopped; skipping it", level="warning"))
    if checkpoint:
        step = int(Path(checkpoint).name.split("-")[-1])
        saved_world = distributed.checkpoint_world_size(Path(checkpoint))
        if saved_world and saved_world != r.world_size:
            on_event(Log(f"{checkpoint} was written by {saved_world} ranks and this run has {r.world_size}: the data "
                         "order after it differs from the interrupted run's", level="warning"))
        if r.main:
            trim_metrics(run_dir / "metrics.jsonl", step)
        on_event(Log(f"resuming from {checkpoint} (step {step})"))
    elif resume:
        on_event(Log("no checkpoint saved yet: starting from step 0", level="warning"))
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.monotonic()
    training[0] = True
    try:
        result = trainer.train(resume_from_checkpoint=checkpoint)
    except torch.OutOfMemoryError:
        raise ClonekitError(
            f"out of GPU memory at step {trainer.state.global_step} (max length {cfg.max_length}, batch {cfg.batch_size}); "
            f"try --max-length {max(256, cfg.max_length // 2)} or --preset qlora"
        ) from None
    seconds = time.monotonic() - t0
    if events_cb.cancelled:
        raise Cancelled(f"training cancelled at step {trainer.state.global_step}")  # train() says what was kept

    # With load_best_model_at_end this evaluates the best checkpoint's weights.
    events_cb.final_eval = True
    final_eval = trainer.evaluate() if val_rows is not None else {}
    out_dir = run_dir / ("model" if cfg.method == "full" else "adapter")
    if attn == ATTN_NAME:
        trainer.model.config._attn_implementation = "sdpa"  # a saved config must load without clonekit
    if cfg.fsdp:
        # Every rank hands its shard over; rank 0 writes the whole adapter.
        plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
        if plugin is not None:
            plugin.set_state_dict_type("FULL_STATE_DICT")
        trainer.save_model(str(out_dir))
    elif r.main:
        trainer.model.save_pretrained(out_dir)
    if r.main:
        tokenizer.save_pretrained(out_dir)

    state = trainer.state
    evals = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
    run.update(
        status="done",
        best_checkpoint=str(Path(state.best_model_checkpoint).relative_to(run_dir)) if state.best_model_checkpoint else None,
        final={
            "steps": state.global_step, "epoch": state.epoch, "train_loss": result.training_loss,
            "eval_loss": final_eval.get("eval_loss"), "best_eval_loss": min(evals) if evals else None,
            "tokens_seen": state.num_input_tokens_seen, "train_seconds": seconds,
            # Cumulative over the optimizer steps only (evals and checkpoints left out), and
            # over the whole wall time of trainer.train(); the steady rate is the median of
            # the windowed rates after the first steps.
            "tokens_per_s": events_cb.cumulative_rate(),
            "tokens_per_s_wall": (state.num_input_tokens_seen - events_cb.tokens0) / max(seconds, 1e-9),
            "tokens_per_s_steady": events_cb.steady_rate(),
            "measured_seconds_per_epoch": events_cb.measured_epoch_seconds,
            "peak_memory_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None,
            "packing": packing, "train_records": len(train_enc), "val_records": len(val_enc),
            "trained_tokens_per_epoch": stats["trained_tokens"],
        },
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
        world_size=r.world_size,
        parallel=_parallel_facts(trainer, r, cfg),
    )
    save_run(run_dir, run, r)
    if r.main:
        from trainer.report import write_report

        write_report(run_dir, run)
    distributed.barrier(r)
    on_event(Log(f"done: {state.global_step} steps; adapter in {out_dir}"))
    return run_dir


def last_complete_checkpoint(folder: Path, below_step: int | None = None) -> tuple[str | None, list[Path]]:
    """The newest checkpoint that was fully written (before ``below_step`` when given), and
    the newer partial ones. The Trainer writes trainer_state.json last, so a kill -9
    mid-save leaves a folder without a readable one."""
    import json

    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()
             and (below_step is None or int(p.name.rsplit("-", 1)[-1]) < below_step)]
    partial: list[Path] = []
    for p in sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[-1]), reverse=True):
        try:
            json.loads((p / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            partial.append(p)
            continue
        if not distributed.checkpoint_complete(p):  # a rank died while the others saved
            partial.append(p)
            continue
        return str(p), partial
    return None, partial


def _checkpointing_args(enabled: bool) -> dict:
    """transformers 5.2x renamed gradient_checkpointing to activation_checkpointing."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {key: enabled, f"{key}_kwargs": {"use_reentrant": False}}


def _make_trainer(model, tokenizer, cfg: TrainConfig, run_dir: Path, train_rows, val_rows, collator, device, dtype,
                  on_event: OnEvent, cancel: CancelToken, tokens_per_epoch: int = 0, world_size: int = 1):
    import torch
    from transformers import EarlyStoppingCallback, PrinterCallback, TrainingArguments

    from trainer import fsdp
    from trainer.callbacks import EventsCallback

    has_val = val_rows is not None
    parallel: dict = {
        # Under DDP a LoRA model's frozen base has no gradients by design: skip the
        # per-step search for unused parameters (and its warning).
        "ddp_find_unused_parameters": False if cfg.method != "full" else None,
        **distributed.ddp_arguments(cfg, world_size),
    }
    sharded = fsdp.through_accelerate(cfg) and world_size > 1
    if sharded:  # FSDP checkpoints activations with its own wrapper, per decoder layer
        parallel = fsdp.training_arguments(model, bool(cfg.gradient_checkpointing))
    elif cfg.fsdp and world_size > 1:
        parallel = {"save_only_model": True}  # transformers' sharded loading checkpoints no optimizer state
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.lr,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        **_checkpointing_args(bool(cfg.gradient_checkpointing) and not sharded),
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if has_val else "no",
        eval_steps=cfg.eval_steps,
        save_strategy="steps",
        save_steps=cfg.eval_steps,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss" if has_val else None,
        greater_is_better=False if has_val else None,
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=device == "cpu",
        remove_unused_columns=False,
        label_names=["labels"],
        include_num_input_tokens_seen="non_padding",
        # Its NaN check reads the loss on the host after every micro-batch; a NaN still
        # shows in the logged loss.
        logging_nan_inf_filter=False,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        optim="adamw_torch",
        **parallel,
    )
    callbacks = [EventsCallback(on_event, cancel, run_dir / "metrics.jsonl", tokens_per_epoch=tokens_per_epoch)]
    if has_val and cfg.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = _trainer_class()(
        model=model, args=args, data_collator=collator, train_dataset=train_rows,
        eval_dataset=val_rows, processing_class=tokenizer, callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # core functions never print; EventsCallback reports
    if world_size > 1:
        distributed.host_group()  # collective: created on every rank here
        trainer.callback_handler.callbacks.insert(0, _flush_tokens_callback(trainer))
        if not cfg.fsdp:
            trainer.add_callback(_count_allreduces(trainer))
    return trainer


def _flush_tokens_callback(trainer):
    """First at every step end: the ranks' token counts summed into the Trainer state."""
    from transformers import TrainerCallback

    class FlushTokens(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            trainer._flush_tokens()

    return FlushTokens()


def _count_allreduces(trainer):
    """A callback that installs distributed.AllReduceCounter on the DDP model once the
    Trainer has wrapped it (train begin), before the first backward."""
    from transformers import TrainerCallback

    class InstallCounter(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            counter = distributed.AllReduceCounter()
            if counter.install(trainer.model_wrapped):
                trainer.allreduce_counter = counter

    return InstallCounter()


def _parallel_facts(trainer, r: distributed.Ranks, cfg: TrainConfig) -> dict | None:
    """What the multi-process run did: its mode and, under data parallel, how many
    backward passes all-reduced (one per optimizer step when no_sync works) in how many
    buckets."""
    if not r.distributed:
        return None
    counter = getattr(trainer, "allreduce_counter", None)
    facts: dict[str, Any] = {"mode": "fsdp" if cfg.fsdp else "ddp", "ranks": r.world_size}
    if counter is not None and counter.syncs:
        facts.update(allreduce_syncs=counter.syncs, allreduce_buckets=counter.buckets)
    return facts


def _trainer_class():
    from transformers import Trainer

    class SyncFreeTrainer(Trainer):
        """Counts the tokens of a packed micro-batch from its shape: every token of a
        padding-free row is real, and the stock count reads a GPU sum back to the host
        after every micro-batch (a sync that stalls the launch queue). Under several
        ranks each keeps its own count, summed across ranks on the host at every
        optimizer step (before the rate callbacks read it), log and checkpoint. DDP
        buckets double as the gradients' storage, and a host-side hook counts the
        synchronising backwards; a checkpoint is marked complete once every rank has
        written its part."""

        _pending_tokens = 0
        allreduce_counter = None

        def _track_num_input_tokens(self, inputs):
            if "attention_mask" not in inputs and "input_ids" in inputs:
                if self.args.world_size == 1:
                    self.state.num_input_tokens_seen += inputs["input_ids"].numel()
                else:
                    self._pending_tokens += inputs["input_ids"].numel()
                return
            super()._track_num_input_tokens(inputs)

        def _flush_tokens(self) -> None:
            if self.args.world_size > 1:
                self.state.num_input_tokens_seen += distributed.all_sum(self._pending_tokens)
                self._pending_tokens = 0

        def log(self, logs, *args, **kwargs):
            self._flush_tokens()
            super().log(logs, *args, **kwargs)

        def _save_checkpoint(self, model, trial):
            self._flush_tokens()
            super()._save_checkpoint(model, trial)
            if self.args.world_size > 1:
                folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
                distributed.mark_complete(folder, distributed.ranks())

        def _build_accelerator_args(self, **kwargs):
            args = super()._build_accelerator_args(**kwargs)
            for handler in args.get("kwargs_handlers") or []:
                if type(handler).__name__ == "DistributedDataParallelKwargs":
                    handler.gradient_as_bucket_view = True
            return args


    return SyncFreeTrainer
