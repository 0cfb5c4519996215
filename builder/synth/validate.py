"""Never trust model output: dig the JSON out of the reply, check it strictly against
the mode's schema and turn it into clean items. Every rejection is counted by reason."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

MAX_TEXT_CHARS = 4000
_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)

ITEM_KEYS = {
    "clonekit_self_instruct": ("items", ("instruction", "response")),
    "clonekit_facts": ("items", ("question", "answer")),
}


@dataclass
class Parsed:
    items: list[dict] = field(default_factory=list)   # pairs: {"prompt","reply"}; conversation: {"turns"}
    rejected: Counter = field(default_factory=Counter)


def extract_json(text: str) -> object:
    """The JSON value in ``text``: the whole text, a ```json fence, or the first object
    that parses. Raises ValueError when there is none."""
    text = text.strip()
    for candidate in (text, *_FENCE.findall(text)):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
            return value
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON value in the reply")


def _clean_text(value: object) -> tuple[str | None, str | None]:
    """(text, None) or (None, rejection reason)."""
    if not isinstance(value, str):
        return None, "schema:not_string"
    text = value.strip()
    if not text:
        return None, "empty_text"
    if len(text) > MAX_TEXT_CHARS:
        return None, "too_long"
    return text, None


def parse_reply(schema_name: str, content: str, expected: int, finish_reason: str | None = None) -> Parsed:
    out = Parsed()
    try:
        value = extract_json(content)
    except ValueError:
        out.rejected["truncated" if finish_reason == "length" else "not_json"] += 1
        return out
    if not isinstance(value, dict):
        out.rejected["schema:not_object"] += 1
        return out
    if schema_name == "clonekit_conversation":
        _parse_conversation(value, expected, out)
    else:
        _parse_pairs(schema_name, value, expected, out)
    return out


def _parse_pairs(schema_name: str, value: dict, expected: int, out: Parsed) -> None:
    list_key, (prompt_key, reply_key) = ITEM_KEYS[schema_name]
    if set(value) != {list_key}:
        out.rejected["schema:missing_key" if list_key not in value else "schema:extra_key"] += 1
        return
    items = value[list_key]
    if not isinstance(items, list):
        out.rejected["schema:not_array"] += 1
        return
    if len(items) > expected:
        out.rejected["extra_items"] += len(items) - expected
        items = items[:expected]
    for item in items:
        if not isinstance(item, dict):
            out.rejected["schema:not_object"] += 1
            continue
        if set(item) != {prompt_key, reply_key}:
            missing = {prompt_key, reply_key} - set(item)
            out.rejected["schema:missing_key" if missing else "schema:extra_key"] += 1
            continue
        prompt, why = _clean_text(item[prompt_key])
        reply, why2 = _clean_text(item[reply_key])
        if why or why2:
            out.rejected[why or why2] += 1
            continue
        out.items.append({"prompt": prompt, "reply": reply})


def _parse_conversation(value: dict, expected: int, out: Parsed) -> None:
    if set(value) != {"turns"}:
        out.rejected["schema:missing_key" if "turns" not in value else "schema:extra_key"] += 1
        return
    turns = value["turns"]
    if not isinstance(turns, list):
        out.rejected["schema:not_array"] += 1
        return
    merged: list[dict] = []
    for turn in turns:
        if not isinstance(turn, dict) or set(turn) != {"speaker", "text"}:
            out.rejected["schema:bad_turn"] += 1
            return
        if turn["speaker"] not in ("contact", "me"):
            out.rejected["schema:bad_speaker"] += 1
            return
        text, why = _clean_text(turn["text"])
        if why:
            out.rejected[why] += 1
            return
        if merged and merged[-1]["speaker"] == turn["speaker"]:
            merged[-1]["text"] += "\n" + text  # a burst, as curation merges them
        else:
            merged.append({"speaker": turn["speaker"], "text": text})
    while merged and merged[0]["speaker"] == "me":
        merged.pop(0)  # training starts from the contact's message
    while merged and merged[-1]["speaker"] == "contact":
        merged.pop()   # a trailing contact turn teaches nothing
    if len(merged) < 2:
        out.rejected["too_short"] += 1
        return
    out.items.append({"turns": merged})
