"""Side by side: the same prompts through the base model, the fine-tuned one and,
optionally, an OpenAI-compatible reference model, written as a Markdown and an HTML
table. Base and fine-tuned see the identical prompt (persona system message, chat
template, persona turn header), so the table shows what training changed.

Prompts file: ``.txt`` (one prompt per line) or ``.jsonl`` with ``{"prompt": ...,
"as"?: contact, "role"?: role}`` per line."""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import atomic_write_text
from builder.errors import ClonekitError
from builder.events import NEVER_CANCELLED, CancelToken, OnEvent, Progress, ignore_event
from trainer.generate import SamplingSettings, generate_reply
from trainer.prompting import build_prompt, persona_system_prompt, resolve_contact, to_model_messages


@dataclass
class PromptSpec:
    text: str
    contact: str | None = None
    role: str | None = None


@dataclass
class Row:
    prompt: str
    contact: str
    role: str
    replies: dict[str, str] = field(default_factory=dict)


@dataclass
class Reference:
    model: str
    base_url: str
    api_key_env: str = "OPENAI_API_KEY"


def read_prompts(path: str | os.PathLike) -> list[PromptSpec]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ClonekitError(f"{path}: prompts file not found") from None
    except UnicodeDecodeError:
        raise ClonekitError(f"{path}: not UTF-8 text") from None
    specs: list[PromptSpec] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if path.suffix.lower() != ".jsonl":
            specs.append(PromptSpec(line.strip()))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ClonekitError(f"{path}:{n}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
            raise ClonekitError(f'{path}:{n}: expected {{"prompt": "...", "as"?: "NAME", "role"?: "ROLE"}}')
        specs.append(PromptSpec(obj["prompt"], obj.get("as"), obj.get("role")))
    if not specs:
        raise ClonekitError(f"{path}: no prompts in the file")
    return specs


def _reference_replies(ref: Reference, conversations: list[list[dict]], settings: SamplingSettings) -> list[str]:
    """Through builder.synth.client (retries, rate limits, cache, the only openai user)."""
    import asyncio

    from builder.synth.cache import RequestCache, default_cache_path, request_key
    from builder.synth.client import ChatClient, ChatRequest, describe_request
    from builder.synth.ratelimit import RateLimiter

    api_key = os.environ.get(ref.api_key_env, "")
    if not api_key and not ref.base_url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ClonekitError(f"--reference-api-key-env {ref.api_key_env}: set that environment variable to the API key")
    params = {"temperature": settings.temperature, "max_tokens": settings.max_new_tokens}

    async def run_all() -> list[str]:
        client = ChatClient(base_url=ref.base_url, model=ref.model, api_key=api_key or "none",
                            api_key_env=ref.api_key_env, timeout_s=120.0,
                            cache=RequestCache(default_cache_path()), limiter=RateLimiter())
        try:
            out = []
            for messages in conversations:
                key = request_key(describe_request(ref.base_url, ref.model, messages, params, None))
                est = sum(len(m["content"]) for m in messages) // 3 + settings.max_new_tokens
                result = await client.complete(ChatRequest(key, messages, params, None, est))
                out.append(result.content)
            return out
        finally:
            await client.aclose()

    return asyncio.run(run_all())


def compare_run(run_ref: str, prompts: list[PromptSpec], settings: SamplingSettings,
                reference: Reference | None = None, seed: int = 0, device: str | None = None,
                on_event: OnEvent = ignore_event, cancel: CancelToken = NEVER_CANCELLED) -> list[Row]:
    from collections import Counter

    from trainer.inference import load_base_model, load_model, open_run, pick_device, stop_ids
    from trainer.prompting import contact_roles

    run = open_run(run_ref)
    counts = contact_roles(run.info.get("dataset")) or Counter()
    model, tokenizer = load_model(run, device=device)
    eot = stop_ids(run, tokenizer)
    rows, conversations, prompt_ids = [], [], []
    for spec in prompts:
        contact, role = resolve_contact(counts, spec.contact, spec.role)
        system = persona_system_prompt(run.persona, contact, role)
        turns = [{"role": "user", "name": contact, "content": spec.text}]
        prompt_ids.append(build_prompt(tokenizer, system, turns, contact).input_ids)
        conversations.append(to_model_messages([{"role": "system", "content": system}] + turns))
        rows.append(Row(spec.text, contact, role))

    def run_all(label: str, m) -> None:
        for i, (row, ids) in enumerate(zip(rows, prompt_ids)):
            cancel.check()
            on_event(Progress(f"compare {label}", i, len(rows)))
            row.replies[label] = generate_reply(m, tokenizer, ids, settings, eot, cancel=cancel, seed=seed + i).text
        on_event(Progress(f"compare {label}", len(rows), len(rows)))

    run_all("fine-tuned", model)
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            run_all("base", model)
    else:  # a full fine-tune: the base is a separate model
        del model
        run_all("base", load_base_model(run.base_path, pick_device(device), bool(run.info.get("load_in_4bit")),
                                        n_tokens=len(tokenizer)))
    if reference is not None:
        on_event(Progress(f"compare {reference.model}", 0, len(rows)))
        for row, text in zip(rows, _reference_replies(reference, conversations, settings)):
            row.replies[reference.model] = text
        on_event(Progress(f"compare {reference.model}", len(rows), len(rows)))
    return rows


def _columns(rows: list[Row]) -> list[str]:
    seen: list[str] = []
    for row in rows:
        seen += [k for k in row.replies if k not in seen]
    order = {"base": 0, "fine-tuned": 1}
    return sorted(seen, key=lambda k: order.get(k, 2))


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>") or " "


def to_markdown(rows: list[Row], title: str) -> str:
    cols = _columns(rows)
    out = [f"# {title}", "", "| # | as | prompt | " + " | ".join(cols) + " |",
           "|---|---|---|" + "---|" * len(cols)]
    for i, row in enumerate(rows, 1):
        who = row.contact + (f" ({row.role})" if row.role else "")
        cells = [str(i), _md_cell(who), _md_cell(row.prompt)] + [_md_cell(row.replies.get(c, "")) for c in cols]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def to_html(rows: list[Row], title: str) -> str:
    cols = _columns(rows)
    esc = lambda s: html.escape(s).replace("\n", "<br>")  # noqa: E731
    head = "".join(f"<th>{esc(c)}</th>" for c in ["#", "as", "prompt"] + cols)
    body = []
    for i, row in enumerate(rows, 1):
        who = row.contact + (f" ({row.role})" if row.role else "")
        cells = [str(i), who, row.prompt] + [row.replies.get(c, "") for c in cols]
        body.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + esc(title) + "</title>\n"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.4em .6em;vertical-align:top;text-align:left;max-width:28em}"
        "th{background:#f3f3f3}</style></head><body>\n"
        f"<h1>{esc(title)}</h1>\n<table><thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body) + "\n</tbody></table></body></html>\n")


def write_report(rows: list[Row], output: str | os.PathLike, title: str) -> tuple[Path, Path]:
    """Writes both FILE.md and FILE.html (whichever suffix ``output`` has)."""
    out = Path(output)
    md, htm = out.with_suffix(".md"), out.with_suffix(".html")
    atomic_write_text(md, to_markdown(rows, title))
    atomic_write_text(htm, to_html(rows, title))
    return md, htm
