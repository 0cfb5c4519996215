"""The persona card and the system prompt each conversation starts with.

The template takes ``{me}``, ``{contact}``, ``{role}``, ``{facts}`` and ``{style}``. A line
that uses {facts} and/or {style} (but not {contact} or {role}) is left out when they are
empty, so the default template reads well with or without a card."""

from __future__ import annotations

import re
import string

from pydantic import Field, field_validator

from builder.config_base import StrictModel

DEFAULT_TEMPLATE = (
    "You are {me}, chatting with {contact} ({role}). "
    "Reply as {me} would: same language, tone, length and habits; never say you are an AI.\n"
    "About {me}: {facts}\n"
    "How {me} writes: {style}"
)

FIELDS = {"me", "contact", "role", "facts", "style"}


class PersonaConfig(StrictModel):
    name: str = ""  # empty: the first --me alias
    facts: list[str] = Field(default_factory=list)
    style: str = ""
    template: str = DEFAULT_TEMPLATE

    @field_validator("template")
    @classmethod
    def _known_fields(cls, v: str) -> str:
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
        except ValueError as err:
            raise ValueError(f"bad template ({err}); use {{me}} {{contact}} {{role}} {{facts}} {{style}}") from None
        unknown = names - FIELDS
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; use {{me}} {{contact}} {{role}} {{facts}} {{style}}")
        return v


def _render_facts(facts: list[str]) -> str:
    facts = [f.strip().rstrip(".") for f in facts if f.strip()]
    return "; ".join(facts) + "." if facts else ""


def system_prompt(persona: PersonaConfig, contact: str, role: str, me: str | None = None) -> str:
    values = {
        "me": persona.name or me or "me",
        "contact": contact,
        "role": role,
        "facts": _render_facts(persona.facts),
        "style": persona.style.strip(),
    }
    lines = []
    for line in persona.template.split("\n"):
        used = {f for _, f, _, _ in string.Formatter().parse(line) if f}
        optional = used & {"facts", "style"}
        if optional and not any(values[f] for f in optional) and not used & {"contact", "role"}:
            continue  # an optional line ("About me: {facts}") with nothing to say
        lines.append(line.format(**values))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
