"""Render a dataset version as plain text records for tools that want them.

  qa       {"text": "### Question:\\n{q}\\n\\n### Answer:\\n{a}"} (one per assistant turn)
  alpaca   {"text": Alpaca prompt (with or without input) + response} and
           {"input": ..., "output": ...} when --fields io
  llama3   {"text": the whole conversation with Llama-3 header tokens}
  chatml   {"text": the whole conversation with <|im_start|> / <|im_end|>}
"""

from __future__ import annotations

from typing import Iterator

TEMPLATES = ("alpaca", "qa", "llama3", "chatml")

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
QA = "### Question:\n{question}\n\n### Answer:\n"


def _turn_text(m: dict) -> str:
    if m["role"] == "user" and m.get("name"):
        return f"{m['name']}: {m['content']}"
    return m["content"]


def pairs(record: dict) -> Iterator[tuple[str, str, str, str]]:
    """(system, context before the last user turn, last user turn, answer) for every
    assistant turn: the prompt is what came right before it."""
    msgs = record["messages"]
    system = "\n".join(m["content"] for m in msgs if m["role"] == "system")
    for i, m in enumerate(msgs):
        if m["role"] != "assistant" or i == 0:
            continue
        prev = [x for x in msgs[:i] if x["role"] != "system"]
        if not prev:
            continue
        users = []
        j = len(prev) - 1
        while j >= 0 and prev[j]["role"] == "user":
            users.insert(0, _turn_text(prev[j]))
            j -= 1
        if not users:
            continue
        context = "\n".join(_turn_text(x) if x["role"] == "user" else f"me: {x['content']}" for x in prev[: j + 1])
        yield system, context, "\n".join(users), m["content"]


def render(record: dict, template: str, io_fields: bool = False) -> list[dict]:
    if template == "qa":
        return [
            ({"input": QA.format(question=q), "output": a} if io_fields else {"text": QA.format(question=q) + a})
            for _s, _c, q, a in pairs(record)
        ]
    if template == "alpaca":
        out = []
        for system, context, q, a in pairs(record):
            instruction = q
            extra = "\n\n".join(x for x in (system, context) if x)
            prompt = ALPACA_WITH_INPUT.format(instruction=instruction, input=extra) if extra else ALPACA_NO_INPUT.format(instruction=instruction)
            out.append({"input": prompt, "output": a} if io_fields else {"text": prompt + a})
        return out
    if template == "llama3":
        role_of = {"system": "system", "user": "user", "assistant": "assistant"}
        text = "<|begin_of_text|>" + "".join(
            f"<|start_header_id|>{role_of[m['role']]}<|end_header_id|>\n\n{_turn_text(m)}<|eot_id|>" for m in record["messages"]
        )
        return [{"text": text}]
    if template == "chatml":
        text = "".join(f"<|im_start|>{m['role']}\n{_turn_text(m)}<|im_end|>\n" for m in record["messages"])
        return [{"text": text}]
    raise ValueError(f"unknown template {template!r}")
