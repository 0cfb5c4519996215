"""Build the prompt for talking to the clone exactly as training rendered conversations:
the persona system message (same card, same template), the chat so far (user turns carry
the contact's name), rendered with the run's chat template and ending with the persona's
turn header. The history is kept within a token budget: the oldest turns go first, the
system message always stays."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.curate.store import read_records

DEFAULT_CONTACT = "someone"


def persona_system_prompt(persona: dict[str, Any], contact: str, role: str) -> str:
    """The system message for talking as ``contact`` (``role``), from the run's persona card."""
    from builder.curate.persona import PersonaConfig, system_prompt

    return system_prompt(PersonaConfig(**persona), contact, role)


def to_model_messages(record_messages: list[dict]) -> list[dict]:
    """Dataset-record messages -> what the chat template sees. The trainer owns how user
    names are rendered; calling its function keeps inference identical to training."""
    from trainer.templates import to_model_messages as trainer_render

    return trainer_render(record_messages)


@dataclass(frozen=True)
class Prompt:
    input_ids: list[int]
    text: str
    kept_turns: int  # how many history turns fit in the budget
    dropped_turns: int


def render(tokenizer, messages: list[dict]) -> str:
    """The inference prompt: the conversation, then the persona's turn header."""
    from trainer.templates import render as render_template

    return render_template(tokenizer, to_model_messages(messages), add_generation_prompt=True)


def _count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def build_prompt(tokenizer, system: str, history: list[dict], contact: str,
                 history_tokens: int = 3000) -> Prompt:
    """``history``: [{"role": "user"|"assistant", "content"}] oldest first, ending with
    the user's latest message. User turns get ``name=contact`` as in dataset records."""
    turns = [dict(t, name=contact) if t["role"] == "user" and "name" not in t else dict(t) for t in history]
    head = [{"role": "system", "content": system}] if system else []
    system_only = _count(tokenizer, render(tokenizer, head)) if head else 0
    start = 0
    while True:
        kept = turns[start:]
        text = render(tokenizer, head + kept)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) - system_only <= history_tokens or len(kept) <= 1:
            return Prompt(ids, text, len(kept), start)
        start += 1
        while start < len(turns) - 1 and turns[start]["role"] != "user":
            start += 1  # a conversation never starts with the persona's reply


def contact_roles(dataset_dir: str | Path | None) -> Counter:
    """(contact, role_tag) counts over the run's training set, to default --as / --role.
    Empty when the dataset folder is gone (runs may outlive their datasets)."""
    counts: Counter = Counter()
    if not dataset_dir:
        return counts
    train = Path(dataset_dir) / "train.jsonl"
    if not train.is_file():
        return counts
    for record in read_records(train):
        meta = record.get("meta") or {}
        counts[(str(meta.get("contact") or ""), str(meta.get("role_tag") or ""))] += 1
    return counts


def resolve_contact(counts: Counter, contact: str | None, role: str | None) -> tuple[str, str]:
    """Fill in whichever of contact / role was not given, from the training data."""
    if contact and role:
        return contact, role
    if contact:
        for (c, r), _ in counts.most_common():
            if c.lower() == contact.lower() and r:
                return contact, r
        return contact, ""
    if role:
        for (c, r), _ in counts.most_common():
            if r.lower() == role.lower() and c:
                return c, role
        return role, role
    for (c, r), _ in counts.most_common(1):
        return c or DEFAULT_CONTACT, r
    return DEFAULT_CONTACT, ""
