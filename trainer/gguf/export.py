"""`clonekit gguf`: a finished run -> one GGUF file (weights with the adapter merged in,
tokenizer, chat template, stop tokens, persona metadata) plus an Ollama Modelfile beside
it. Written with the `gguf` package llama.cpp publishes (GGUFWriter, TensorNameMap,
SpecialVocab, LlamaHfVocab, gguf.quants); see arch.py / vocab.py / quant.py for what
follows which part of llama.cpp's convert_hf_to_gguf.py.

The weights stream: tensor infos are declared first, then each tensor is converted,
quantized and written one at a time into a temporary file beside the output, which is
renamed into place only when complete (a cancelled or failed export leaves nothing)."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import atomic_path, atomic_write_text
from builder.errors import ClonekitError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, Progress, ignore_event
from trainer.gguf.arch import TensorNamer, arch_for, extra_tensors, write_hparams
from trainer.gguf.quant import check_quant, encode, file_type, plan
from trainer.gguf.vocab import write_vocab

HEADER_SLACK = 64 << 20  # metadata (a 150k-token vocabulary is ~5 MB) and alignment padding


@dataclass
class GgufResult:
    path: Path
    modelfile: Path
    quant: str
    size: int
    tensor_types: dict[str, int] = field(default_factory=dict)  # GGML type -> tensor count
    template: str | None = None  # Go template written into the Modelfile, if any
    system: str = ""


def _template_name(info: dict) -> str:
    """run.json's chat template, recorded as a name or (newer runs) a small dict."""
    value = info.get("chat_template")
    if isinstance(value, dict):
        return str(value.get("name") or value.get("choice") or "")
    return str(value or "")


def template_fit(run) -> dict:
    """How training fitted conversations to the template (run.json "template_fit"); its
    template_kwargs (e.g. Qwen3's enable_thinking=False) must reach the runtime too."""
    fit = run.info.get("template_fit")
    return dict(fit) if isinstance(fit, dict) else {}


def _chat_template_text(tokenizer) -> str:
    tpl = tokenizer.chat_template
    if isinstance(tpl, dict):
        tpl = tpl.get("default") or next(iter(tpl.values()))
    if not isinstance(tpl, str) or not tpl:
        raise ClonekitError("the run's tokenizer has no chat template; retrain or merge again")
    return tpl


def _merge_dtype(n_params: int, requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "bf16"
    return "fp32" if n_params * 4 * 2 < ram else "bf16"  # fp32 merge when it fits twice over


def _meta_model(config):
    """The model's parameter names and shapes without allocating weights."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def _disk_check(out: Path, need: int) -> None:
    free = shutil.disk_usage(out.parent).free
    if free < need:
        raise ClonekitError(f"{out.parent}: {free / 2**30:.1f} GiB free but the export needs about "
                            f"{need / 2**30:.1f} GiB; free some space or pass -o on another disk")


def export_gguf(run_ref: str | os.PathLike, output: str | os.PathLike, quant: str = "q8_0",
                contact: str | None = None, role: str | None = None, merge_dtype: str = "auto",
                on_event: OnEvent = ignore_event, cancel: CancelToken = NEVER_CANCELLED) -> GgufResult:
    import gguf
    import numpy as np
    import torch
    from transformers import AutoConfig

    from trainer.inference import load_base_model, load_tokenizer, open_run, stop_ids
    from trainer.merge import merge_adapter
    from trainer.modelfile import render_modelfile
    from trainer.prompting import contact_roles, persona_system_prompt, resolve_contact

    out = Path(output)
    if out.suffix.lower() != ".gguf":
        raise ClonekitError(f"-o {out}: name the output file *.gguf")
    quant = check_quant(quant, str(out))
    if merge_dtype not in ("auto", "bf16", "fp32"):
        raise ClonekitError(f"--merge-dtype {merge_dtype}: use auto, bf16 or fp32")
    if out.exists():
        raise ClonekitError(f"{out}: already exists; choose a new file name (exports never overwrite)")
    modelfile_path = out.with_suffix(".Modelfile")
    run = open_run(run_ref)
    source = str(run.model_dir) if run.method == "full" else run.base_path
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as err:
        raise ClonekitError(f"{source}: cannot read the model config ({str(err).splitlines()[0]})") from None
    spec = arch_for(config)
    tokenizer = load_tokenizer(run.tokenizer_dir)
    chat_template = _chat_template_text(tokenizer)
    namer = TensorNamer(config, spec)

    # Names, shapes and the output size, before any weight is loaded.
    meta = _meta_model(config)
    shapes = {n: tuple(p.shape) for n, p in meta.state_dict().items() if not namer.skip(n)}
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    del meta
    plans = {n: plan(namer.gguf_name(n), s, quant) for n, s in shapes.items()}
    estimate = sum(p.nbytes for p in plans.values()) + HEADER_SLACK
    out.parent.mkdir(parents=True, exist_ok=True)
    _disk_check(out, estimate)
    cancel.check()

    dtype = _merge_dtype(n_params, merge_dtype)
    if run.method == "full":
        on_event(Progress("merge", 0, 1, "loading the fine-tuned model"))
        model = load_base_model(source, "cpu", quantize_4bit=False, dtype=dtype)
    else:
        model = merge_adapter(run, dtype, on_event, cancel)
    model.eval()
    state = {n: t for n, t in model.state_dict().items() if not namer.skip(n)}
    config = model.config  # the merged model's (a resized vocabulary shows here)
    namer = TensorNamer(config, spec)

    eot = stop_ids(run, tokenizer)
    persona = run.persona or {}
    system = ""
    if persona:
        who, what = resolve_contact(contact_roles(run.info.get("dataset")), contact, role)
        system = persona_system_prompt(persona, who, what)

    writer = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[getattr(gguf.MODEL_ARCH, spec.gguf_arch)])
    writer.add_type(gguf.GGUFType.MODEL)
    label = persona.get("name") or "clone"
    writer.add_name(f"{label} ({run.run_id})")
    writer.add_description(f"clonekit persona clone of {label}, fine-tuned from {run.base} ({run.method})")
    writer.add_base_model_count(1)
    writer.add_base_model_name(0, str(run.base))
    write_hparams(writer, config, spec)
    writer.add_file_type(file_type(quant))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    write_vocab(writer, Path(run.tokenizer_dir), tokenizer, int(config.vocab_size), chat_template,
                        eot[0] if eot else None)
    writer.add_string("clonekit.run_id", run.run_id)
    writer.add_string("clonekit.base", str(run.base))
    writer.add_string("clonekit.method", run.method)
    writer.add_string("clonekit.dataset_version", str(run.dataset_version))
    writer.add_string("clonekit.chat_template", _template_name(run.info))
    writer.add_array("clonekit.stop_token_ids", [int(i) for i in eot])
    writer.add_string("clonekit.persona", json.dumps(persona, ensure_ascii=False))
    writer.add_string("clonekit.system_prompt", system)
    writer.add_string("clonekit.template_fit", json.dumps(template_fit(run), ensure_ascii=False))

    items: list[tuple[str, str, object]] = []  # (gguf name, source name, plan)
    for name, tensor in state.items():
        p = plan(namer.gguf_name(name), tuple(tensor.shape), quant)
        items.append((namer.gguf_name(name), name, p))
    extras = dict(extra_tensors(config, spec))
    for gname, data in extras.items():
        items.append((gname, gname, plan(gname, tuple(data.shape), quant)))
    for gname, _src, p in items:
        if p.qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            np_dtype = np.float32 if p.qtype == gguf.GGMLQuantizationType.F32 else np.float16
            writer.add_tensor_info(gname, p.shape, np.dtype(np_dtype), p.nbytes)
        else:
            byte_shape = gguf.quant_shape_to_byte_shape(p.shape, p.qtype)
            writer.add_tensor_info(gname, byte_shape, np.dtype(np.uint8), p.nbytes, raw_dtype=p.qtype)

    types: Counter = Counter()
    size = 0
    with atomic_path(out) as tmp:
        try:
            writer.write_header_to_file(tmp)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for i, (gname, src, p) in enumerate(items):
                cancel.check()
                on_event(Progress("gguf", i, len(items), f"{gname} -> {p.type_name}"))
                if src in extras:
                    data = extras[src]
                else:
                    with torch.no_grad():
                        data = state.pop(src).detach().to(torch.float32).numpy()
                    data = namer.transform(src, data)
                writer.write_tensor_data(encode(data, p))
                types[p.type_name] += 1
        finally:
            writer.close()
        size = tmp.stat().st_size
    on_event(Progress("gguf", len(items), len(items), str(out)))
    del model, state
    kwargs = template_fit(run).get("template_kwargs") or {}
    if kwargs:
        on_event(Log(f"training rendered the chat template with {json.dumps(kwargs)}: pass the same to the "
                     f"runtime (llama-server --jinja --chat-template-kwargs '{json.dumps(kwargs)}')", level="warning"))

    text, tpl = render_modelfile(out.name, tokenizer, [tokenizer.convert_ids_to_tokens(i) for i in eot],
                                 system, _template_name(run.info))
    atomic_write_text(modelfile_path, text)
    if tpl is None:
        on_event(Log(f"{modelfile_path}: no Go TEMPLATE matches this chat template; Ollama will use the one "
                     "stored in the GGUF", level="warning"))
    fell_back = sum(1 for _g, _s, p in items if p.type_name == "F16") if quant not in ("f16", "f32", "bf16") else 0
    if fell_back:
        on_event(Log(f"{fell_back} tensor(s) have rows not a multiple of the {quant} block and stay f16"))
    return GgufResult(out, modelfile_path, quant, size, dict(types), tpl.name if tpl else None, system)
