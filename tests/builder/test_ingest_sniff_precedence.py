"""Signal (signal-export) vs WhatsApp iOS on .txt files whose bracketed ISO headers both
apps can write: each app's own marks decide, then the file name, then the header form."""

from __future__ import annotations

import pytest

from builder.ingest import detect
from builder.ingest.base import Document

OLD_SIGNAL = "[2019-12-24, 12:23] Jane: hi\n[2019-12-24, 12:24] Bob: yo\n"
NEW_FORM = "[2019-12-24 12:23:01] Jane: hi\n[2019-12-24 12:24:00] Bob: yo\n"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("notes.txt", OLD_SIGNAL, "signal"),  # no marks: the form without seconds is Signal's
        ("notes.txt", NEW_FORM, "whatsapp"),  # no marks: WhatsApp iOS writes seconds
        ("notes.txt", "[2019-12-24 12:23:01] Me: hi\n[2019-12-24 12:24:00] Bob: yo\n", "signal"),
        ("notes.txt", NEW_FORM + "(- Bob: \U0001f44d -)\n", "signal"),
        ("notes.txt", "[2019-12-24 12:23:01] Bob: ![IMG_1.jpg](./media/IMG_1.jpg)  \n", "signal"),
        ("notes.txt", "[2019-12-24 12:23:01] Bob: (This message was deleted)\n", "signal"),
        ("WhatsApp Chat - Bob.txt", OLD_SIGNAL, "whatsapp"),
        ("Bob.zip!/_chat.txt", OLD_SIGNAL, "whatsapp"),
        ("notes.txt", OLD_SIGNAL + "\u200e[2019-12-24, 12:25] Bob: \u200eimage omitted\n", "whatsapp"),
        ("notes.txt", "[2019-12-24, 12:25] Bob: <attached: 00000035-PHOTO.jpg>\n" + OLD_SIGNAL, "whatsapp"),
        ("Alice/chat.md", NEW_FORM, "signal"),
    ],
)
def test_each_app_wins_on_its_own_files(name: str, text: str, expected: str) -> None:
    parser = detect.detect(Document(name=name, text=text), named=True)
    assert parser is not None and parser.format == expected
