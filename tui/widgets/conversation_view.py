"""A dataset record rendered as training sees it: system prompt, the contact's turns and
the persona's turns (highlighted: the loss is on them), with token counts."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

ROLE_STYLE = {"system": "dim italic", "user": "", "assistant": "bold green"}


class ConversationView(Static):
    def show(self, record: dict | None, persona_name: str = "me") -> None:
        self.update(self.render_record(record, persona_name))

    @staticmethod
    def render_record(record: dict | None, persona_name: str) -> Text:
        if record is None:
            return Text("select a conversation", style="dim")
        meta = record.get("meta", {})
        out = Text()
        when = (f" · {meta['start']} → {meta['end']}" if meta.get("start") and meta.get("end") else "")
        made = f" · synthetic ({meta.get('generator') or '?'})" if meta.get("synthetic") else ""
        out.append(f"{meta.get('contact', '?')} ({meta.get('role_tag', '?')}) · {meta.get('n_tokens', '?')} tokens"
                   f"{when}{made}\n\n", style="bold")
        for m in record.get("messages", []):
            role = m.get("role", "")
            who = {"system": "system", "assistant": persona_name}.get(role, m.get("name") or "user")
            out.append(f"{who}: ", style=("reverse " if role == "assistant" else "bold ") + ("green" if role == "assistant" else ""))
            out.append(m.get("content", "") + "\n", style=ROLE_STYLE.get(role, ""))
        return out
