"""Counts in messages: "1 chat", "2 chats", "1,234 messages"."""

from __future__ import annotations

_IRREGULAR = {"is": "are", "was": "were", "this": "these", "person": "people", "reply": "replies", "entry": "entries"}


def plural(n: int, word: str, many: str | None = None, thousands: bool = True) -> str:
    """``n`` and ``word`` in the right number: the plural is ``many`` when given, a known
    irregular form, or ``word + "s"``."""
    count = f"{n:,}" if thousands else str(n)
    if n == 1:
        return f"{count} {word}"
    return f"{count} {many or _IRREGULAR.get(word) or word + 's'}"
