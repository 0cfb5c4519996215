"""Event (system) texts lose the bidi marks iOS puts inside them; user texts keep theirs."""

from __future__ import annotations

from builder.ingest import whatsapp
from builder.ingest.base import Document


def _rows(name: str, text: str) -> list[tuple[str, str]]:
    return whatsapp.parse([Document(name=name, text=text)], lambda m: None).select("kind", "text").rows()


def test_ios_event_text_without_inner_marks() -> None:
    text = ("[4/28/22, 20:17:31] Elon Musk: \u200e\u200eYour security code with Elon changed. "
            "\u200eTap to learn more.\n"
            "[4/28/22, 20:18:31] Kim: hi \u200ethere\n")
    assert _rows("_chat.txt", text) == [
        ("system", "Your security code with Elon changed. Tap to learn more."),
        ("text", "hi \u200ethere"),
    ]


def test_android_event_text_without_inner_marks() -> None:
    text = "28/04/2022, 20:19 - Kim \u200eleft\n28/04/2022, 20:20 - Kim: a \u200eb\n"
    assert _rows("a.txt", text) == [("system", "Kim left"), ("text", "a \u200eb")]
