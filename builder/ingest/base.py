"""What every parser module gets and returns.

A parser module (builder/ingest/<format>.py) exposes:

    FORMAT: str                                  # "whatsapp", "telegram", ...
    KIND: str                                    # "messages" or "instructions"
    def sniff(name: str, head: str) -> int       # confidence 0..100 from the file name and
                                                 # the first ~8 KB of decoded text
    def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame
        # warn("name:line: problem") reports recoverable oddities (an impossible time kept
        # as a continuation line, an unknown message type skipped) without failing
        # KIND "messages":     builder.schema.MESSAGE_SCHEMA, in the export's order
        # KIND "instructions": builder.schema.INSTRUCTION_SCHEMA
        # raises builder.errors.ParseError naming doc.name (and the line) on bad input

Decoding (BOMs, UTF-16, latin-1), zips, folders and detection live in sources.py and
detect.py; parsers only ever see decoded text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable  # noqa: F401  (used in the docstring contract)


@dataclass(frozen=True)
class Document:
    name: str  # display path, e.g. "exports/chat.zip!/_chat.txt"
    text: str  # decoded text: BOM stripped, UTF-16 / latin-1 already handled
    chat_hint: str | None = None  # chat title from the file or zip name, when the format has none inside
    folder: str = ""  # display path of the containing folder or zip: groups multi-file chats
