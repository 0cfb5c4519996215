"""Prompt templates for the three synthesis modes. Each template has an id and a content
hash (recorded in every synthetic record's meta) and a JSON schema sent as
``response_format``. The schema's name is also written into the prompt text, so servers
without structured output still know the shape to reply with."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

MODES = ("self-instruct", "facts", "conversations")


def _object(props: dict[str, dict], required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": props,
        "required": required or list(props),
        "additionalProperties": False,
    }


_STR = {"type": "string"}

SCHEMAS: dict[str, dict] = {
    "clonekit_self_instruct": _object(
        {"items": {"type": "array", "items": _object({"instruction": _STR, "response": _STR})}}
    ),
    "clonekit_facts": _object(
        {"items": {"type": "array", "items": _object({"question": _STR, "answer": _STR})}}
    ),
    "clonekit_conversation": _object(
        {"turns": {"type": "array",
                   "items": _object({"speaker": {"type": "string", "enum": ["contact", "me"]},
                                     "text": _STR})}}
    ),
}

SHAPES: dict[str, str] = {
    "clonekit_self_instruct": '{"items": [{"instruction": "...", "response": "..."}]}',
    "clonekit_facts": '{"items": [{"question": "...", "answer": "..."}]}',
    "clonekit_conversation": '{"turns": [{"speaker": "contact" or "me", "text": "..."}]}',
}


@dataclass(frozen=True)
class PromptTemplate:
    id: str
    mode: str
    schema_name: str
    system: str
    user: str  # str.format template
    schema: dict = field(hash=False)

    @property
    def hash(self) -> str:
        body = json.dumps([self.id, self.system, self.user, self.schema], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def response_format(self) -> dict:
        return {"type": "json_schema",
                "json_schema": {"name": self.schema_name, "strict": True, "schema": self.schema}}

    def render(self, **values: str) -> list[dict]:
        reply_rule = (f"Reply with JSON only: one object matching schema {self.schema_name}, "
                      f"shaped like {SHAPES[self.schema_name]}.")
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(**values) + "\n\n" + reply_rule},
        ]


_SYSTEM = ("You write training data for a chat model that imitates one real person. "
           "Match their voice exactly: language, length, tone, punctuation, emoji use. "
           "Never invent facts about them beyond the persona card.")

SELF_INSTRUCT = PromptTemplate(
    id="self-instruct/v1",
    mode="self-instruct",
    schema_name="clonekit_self_instruct",
    system=_SYSTEM,
    user=(
        "Persona: {name}\n{card}\n\n"
        "{name} is chatting with {contact} ({role}). Real exchanges between them:\n\n"
        "{examples}\n\n"
        "Write exactly {k} NEW messages that {contact} might send to {name} (questions, "
        "requests, plans, news), diverse and different from the examples and from each "
        "other. For each, write the reply {name} would send, in their voice. Do not copy "
        "the examples."
    ),
    schema=SCHEMAS["clonekit_self_instruct"],
)

FACTS = PromptTemplate(
    id="facts/v1",
    mode="facts",
    schema_name="clonekit_facts",
    system=_SYSTEM,
    user=(
        "Persona: {name}\n{card}\n\n"
        "How {name} writes (real replies):\n\n{examples}\n\n"
        "Write exactly {k} question/answer pairs in which someone asks {name} about "
        "themself and {name} answers in their own style. Focus on these facts:\n{focus}\n"
        "Answer only from the persona card; if a question is not covered by it, {name} "
        "says they would rather not say."
    ),
    schema=SCHEMAS["clonekit_facts"],
)

CONVERSATION = PromptTemplate(
    id="conversation/v1",
    mode="conversations",
    schema_name="clonekit_conversation",
    system=_SYSTEM,
    user=(
        "Persona: {name}\n{card}\n\n"
        "{name} is chatting with {contact} ({role}). Real exchanges between them:\n\n"
        "{examples}\n\n"
        "Write one new, realistic conversation between {contact} and {name} of exactly "
        "{k} messages, alternating, starting with {contact} and ending with {name}. "
        "Speaker \"contact\" is {contact}, speaker \"me\" is {name}. Keep each person's "
        "style as in the examples; pick a topic the examples do not cover."
    ),
    schema=SCHEMAS["clonekit_conversation"],
)

TEMPLATES: dict[str, PromptTemplate] = {t.mode: t for t in (SELF_INSTRUCT, FACTS, CONVERSATION)}


def persona_card(facts: list[str], style: str) -> str:
    lines = [f"- {fact}" for fact in facts] or ["- (no facts given)"]
    if style:
        lines.append(f"Style: {style}")
    return "\n".join(lines)


def format_examples(pairs: list[tuple[str, str]], contact: str, name: str) -> str:
    if not pairs:
        return "(no real examples available)"
    return "\n\n".join(f"{contact}: {user}\n{name}: {reply}" for user, reply in pairs)
