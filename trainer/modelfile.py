"""An Ollama Modelfile for an exported GGUF: FROM the file, a Go TEMPLATE that renders
conversations exactly as the run's chat template did in training, stop PARAMETERs for
the end-of-turn tokens, and the persona's SYSTEM prompt.

The Go template is only written when the run's Jinja template is verified to render a
probe conversation byte for byte like the template's Python twin below; otherwise the
Modelfile leaves TEMPLATE out and Ollama falls back to the chat template stored in the
GGUF (tokenizer.chat_template), which it matches against its known templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from builder.errors import ClonekitError


@dataclass(frozen=True)
class GoTemplate:
    name: str
    go: str  # Ollama's Go text/template
    python: Callable[[list[dict[str, str]]], str]  # what ``go`` renders, with the generation prompt
    stops: tuple[str, ...]


def _chatml(messages: list[dict[str, str]]) -> str:
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"


def _llama3(messages: list[dict[str, str]]) -> str:
    body = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages)
    return "<|begin_of_text|>" + body + "<|start_header_id|>assistant<|end_header_id|>\n\n"


# Ollama puts the Modelfile SYSTEM first in .Messages when a chat has no system message.
CHATML_GO = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
LLAMA3_GO = (
    "<|begin_of_text|>{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)

TEMPLATES = (
    GoTemplate("chatml", CHATML_GO, _chatml, ("<|im_end|>", "<|im_start|>")),
    GoTemplate("llama3", LLAMA3_GO, _llama3, ("<|eot_id|>", "<|start_header_id|>")),
)

PROBE = [
    {"role": "system", "content": "You are Sam.\nKeep it short."},
    {"role": "user", "content": "hey, you free tonight?"},
    {"role": "assistant", "content": "yes! 8pm 🍕"},
    {"role": "user", "content": "great"},
]


def match_template(tokenizer) -> GoTemplate | None:
    """The Go template whose output equals the tokenizer's chat template on a probe
    conversation, or None."""
    try:
        rendered = tokenizer.apply_chat_template(PROBE, tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - any template error means: no verified match
        return None
    for tpl in TEMPLATES:
        if tpl.python(PROBE) == rendered:
            return tpl
    return None


def _quote(text: str) -> str:
    if '"""' in text:
        raise ClonekitError('the persona system prompt contains """, which a Modelfile cannot quote; edit the persona')
    return f'"""{text}"""'


def render_modelfile(gguf_name: str, tokenizer, stop_tokens: list[str], system: str,
                     template_name: str = "") -> tuple[str, GoTemplate | None]:
    """(Modelfile text, the Go template used or None)."""
    tpl = match_template(tokenizer)
    lines = [f"# Written by clonekit gguf{f' (chat template: {template_name})' if template_name else ''}.",
             "# ollama create NAME -f THIS_FILE && ollama run NAME", f"FROM ./{gguf_name}", ""]
    if tpl is not None:
        lines += [f"TEMPLATE {_quote(tpl.go)}", ""]
    else:
        lines += ["# The run's chat template has no verified Go twin here: Ollama reads the one stored",
                  "# in the GGUF (tokenizer.chat_template) instead.", ""]
    stops = list(dict.fromkeys([*stop_tokens, *(tpl.stops if tpl else ())]))
    lines += [f'PARAMETER stop "{s}"' for s in stops if s and '"' not in s]
    if system:
        lines += ["", f"SYSTEM {_quote(system)}"]
    return "\n".join(lines) + "\n", tpl
