"""How close is the clone? ``evaluate_run`` measures, on the run's held-out (val) set:

- perplexity of the base and the fine-tuned model on the persona's turns only, with the
  exact masking training used (trainer.data.encode_record: assistant tokens only);
- style statistics of replies generated for held-out conversations (fine-tuned and
  base) against the real replies: length, emoji, lowercase, messages per turn,
  vocabulary overlap, repetition/loop rate.

Writes ``eval.md`` (and ``eval.json``) into the run folder."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from builder.atomic import atomic_write_text
from builder.curate.store import read_records
from builder.errors import ClonekitError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, Progress, ignore_event
from trainer.generate import SamplingSettings, generate_reply
from trainer.prompting import build_prompt
from trainer.style_stats import style_stats, vocabulary_overlap


@dataclass
class EvalConfig:
    max_records: int = 200  # val records for perplexity
    samples: int = 24  # held-out replies to generate per model
    max_length: int = 2048
    seed: int = 0
    sampling: SamplingSettings | None = None
    device: str | None = None


def read_val(run) -> list[dict]:
    dataset = run.info.get("dataset")
    val = Path(str(dataset or "")) / "val.jsonl"
    if not dataset or not val.is_file():
        raise ClonekitError(f"{val}: the run's validation set is gone; eval needs the dataset version "
                            f"{run.info.get('dataset_version')!r} it was trained on")
    records = read_records(val)
    if not records:
        raise ClonekitError(f"{val}: no validation records; rebuild the dataset with a val split")
    return records


def _nll(model, encoded, device, cancel: CancelToken, on_event: OnEvent, label: str) -> tuple[float, int]:
    """Summed negative log-likelihood and token count over the trained (unmasked) labels."""
    import torch
    import torch.nn.functional as F

    total, count = 0.0, 0
    for i, enc in enumerate(encoded):
        cancel.check()
        on_event(Progress(f"perplexity {label}", i, len(encoded)))
        ids = torch.tensor([enc.input_ids], device=device)
        labels = torch.tensor([enc.labels], device=device)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits.float()
        loss = F.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100, reduction="sum")
        total += float(loss)
        count += int((labels[0, 1:] != -100).sum())
    on_event(Progress(f"perplexity {label}", len(encoded), len(encoded)))
    return total, count


def _held_out_prompts(records: list[dict], n: int) -> list[tuple[dict, str]]:
    """(record cut before its last persona turn, the real reply) for up to n records."""
    out = []
    for rec in records:
        msgs = rec["messages"]
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
        if last > 0 and any(m["role"] == "user" for m in msgs[:last]):
            out.append((dict(rec, messages=msgs[:last]), msgs[last]["content"]))
        if len(out) >= n:
            break
    return out


def _fine_tuned_then_base(run, model, device, on_event: OnEvent):
    """("fine-tuned", model) then ("base", ...): the adapter switched off for LoRA runs; for a
    full fine-tune (no adapter) the base from run.json's base_path, loaded once the
    fine-tuned model is done with (unquantized, same dtype as the fine-tuned one)."""
    import gc

    yield "fine-tuned", model
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield "base", model
        return
    from trainer.inference import load_base_model

    base_path = run.base_path
    if not base_path:
        raise ClonekitError(f"{run.path / 'run.json'}: no 'base_path'; a full fine-tune needs its base for the "
                            "base-model perplexity")
    dtype = {"torch.bfloat16": "bf16", "torch.float16": "fp16", "torch.float32": "fp32"}.get(
        str(next(model.parameters()).dtype))
    n_tokens = model.get_input_embeddings().weight.shape[0]
    del model
    gc.collect()
    on_event(Log(f"loading the base model {base_path}"))
    yield "base", load_base_model(base_path, str(device), False, dtype, n_tokens=n_tokens)


def evaluate_run(run_ref: str | os.PathLike, config: EvalConfig | None = None,
                 on_event: OnEvent = ignore_event, cancel: CancelToken = NEVER_CANCELLED) -> dict:
    from trainer.data import encode_record
    from trainer.inference import load_model, open_run, stop_ids

    config = config or EvalConfig()
    run = open_run(run_ref)
    records = read_val(run)[: config.max_records]
    model, tokenizer = load_model(run, device=config.device)
    device = next(model.parameters()).device
    eot_ids = stop_ids(run, tokenizer)
    end_of_turn = tokenizer.convert_ids_to_tokens(eot_ids[0])
    train_cfg = run.info.get("config") or {}
    max_len = int(train_cfg.get("max_length") or train_cfg.get("max_seq_len") or config.max_length)
    encoded = [e for r in records for e in encode_record(tokenizer, r, end_of_turn, max_len) if e.n_trained]
    if not encoded:
        raise ClonekitError(f"{run.info.get('dataset')}/val.jsonl: no persona turns to score")

    results: dict = {"run_id": run.run_id, "eval_md": str(run.path / "eval.md"), "dataset_version": run.info.get("dataset_version"),
                     "val_records": len(encoded)}
    sampling = config.sampling or SamplingSettings(temperature=0.7, max_new_tokens=128)
    held_out = _held_out_prompts(records, config.samples)
    real = [reply for _, reply in held_out]
    generated: dict[str, list[str]] = {}

    def generate_all(model, label: str) -> None:
        out = []
        for i, (rec, _) in enumerate(held_out):
            cancel.check()
            on_event(Progress(f"generate {label}", i, len(held_out)))
            msgs = rec["messages"]
            system, turns = (msgs[0]["content"], msgs[1:]) if msgs[0]["role"] == "system" else ("", msgs)
            contact = (rec.get("meta") or {}).get("contact") or ""
            prompt = build_prompt(tokenizer, system, turns, contact, history_tokens=max_len)
            out.append(generate_reply(model, tokenizer, prompt.input_ids, sampling, eot_ids,
                                      cancel=cancel, seed=config.seed + i).text)
        on_event(Progress(f"generate {label}", len(held_out), len(held_out)))
        generated[label] = out

    models = _fine_tuned_then_base(run, model, device, on_event)
    del model  # the generator holds it, so a full fine-tune is freed before its base loads
    for label, scored in models:
        nll, n = _nll(scored, encoded, device, cancel, on_event, label)
        generate_all(scored, label)
        del scored
        results[f"perplexity_{label}"] = math.exp(nll / n)
        results[f"loss_{label}"] = nll / n
        results["scored_tokens"] = n
    results["style"] = {"real": style_stats(real)}
    for label, texts in generated.items():
        stats = style_stats(texts)
        stats["vocab_overlap_with_real"] = vocabulary_overlap(texts, real)
        results["style"][label] = stats
    results["examples"] = [{"real": r, **{k: v[i] for k, v in generated.items()}} for i, r in enumerate(real[:5])]
    from trainer.fidelity import fidelity_results

    results["fidelity"] = fidelity_results(run.path)  # the blind test's numbers stay beside these
    atomic_write_text(run.path / "eval.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(run.path / "eval.md", to_markdown(results))
    return results


_STYLE_ROWS = [
    ("replies", "replies compared", "{:.0f}"), ("chars_mean", "length, mean chars", "{:.1f}"),
    ("chars_median", "length, median chars", "{:.1f}"), ("chars_p90", "length, p90 chars", "{:.0f}"),
    ("emoji_rate", "replies with emoji", "{:.0%}"), ("lowercase_rate", "all-lowercase replies", "{:.0%}"),
    ("messages_per_turn", "messages per turn", "{:.2f}"), ("distinct_words", "distinct words / words", "{:.2f}"),
    ("vocab_overlap_with_real", "vocabulary overlap with real", "{:.2f}"),
    ("loop_rate", "repetition loops", "{:.0%}"), ("empty_rate", "empty replies", "{:.0%}"),
]


def _fmt(fmt: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def to_markdown(r: dict) -> str:
    lines = [
        f"# Evaluation of {r['run_id']}", "",
        f"Dataset `{r['dataset_version']}`, {r['val_records']} validation conversations, "
        f"{r['scored_tokens']} persona tokens scored (assistant turns only, masked as in training).", "",
        "## Perplexity on held-out persona turns", "",
        "| model | loss | perplexity |", "|---|---|---|",
        f"| base | {r['loss_base']:.3f} | {r['perplexity_base']:.2f} |",
        f"| fine-tuned | {r['loss_fine-tuned']:.3f} | {r['perplexity_fine-tuned']:.2f} |", "",
        "## Style of generated replies vs the real held-out replies", "",
        "| statistic | real | fine-tuned | base |", "|---|---|---|---|",
    ]
    style = r["style"]
    for key, label, fmt in _STYLE_ROWS:
        cells = [_fmt(fmt, style[col].get(key)) for col in ("real", "fine-tuned", "base")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Loops: replies of 6+ words where under half the word 3-grams are distinct.", "",
              "## Examples", ""]
    for i, ex in enumerate(r["examples"], 1):
        lines.append(f"{i}. real: {json.dumps(ex['real'], ensure_ascii=False)}")
        for key in ("fine-tuned", "base"):
            lines.append(f"   - {key}: {json.dumps(ex.get(key, ''), ensure_ascii=False)}")
    if r.get("fidelity"):
        from trainer.fidelity import fidelity_markdown

        lines += ["", fidelity_markdown(r["fidelity"]).rstrip("\n")]
    return "\n".join(lines) + "\n"
