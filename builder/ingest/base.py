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

Decoding (BOMs, UTF-16, legacy code pages: legacy_codecs.py), zips, folders and
detection live in sources.py and detect.py; parsers only ever see decoded text."""

from __future__ import annotations

from typing import Callable  # noqa: F401  (used in the docstring contract)


class Document:
    """One export file. ``text`` is its decoded text: BOM stripped, UTF-16 and legacy
    code pages (GBK, Shift-JIS, CP949, Big5, cp1252) already handled.

    A file whose start reads as plain UTF-8 (``sources.load_document``) keeps its bytes
    (``raw``) and is decoded only when ``text`` is first read: the WhatsApp parser hands
    the bytes straight to Polars and never builds a str of the whole file. ``raw`` is
    only a claim: a parser that finds invalid UTF-8 in it reads ``text`` instead."""

    __slots__ = ("name", "chat_hint", "folder", "_text", "raw")

    def __init__(self, name: str, text: str | None = None, chat_hint: str | None = None, folder: str = "",
                 *, raw: bytes | None = None) -> None:
        if text is None and raw is None:
            raise ValueError("a Document needs its text or its raw UTF-8 bytes")
        self.name = name  # display path, e.g. "exports/chat.zip!/_chat.txt"
        self.chat_hint = chat_hint  # chat title from the file or zip name, when the format has none inside
        self.folder = folder  # display path of the containing folder or zip: groups multi-file chats
        self._text = text
        self.raw = raw

    @property
    def text(self) -> str:
        if self._text is None:
            from builder.ingest.sources import decode  # sources builds Documents

            self._text = decode(self.raw, self.name)
        return self._text

    def head(self, chars: int) -> str:
        """The first ``chars`` characters of ``text``, without decoding the whole file."""
        if self._text is None:
            head = utf8_prefix(self.raw, chars * 4)
            if head is not None:
                return head[:chars]
            # not UTF-8 after all: decode it all (legacy code pages)
        return self.text[:chars]

    def __repr__(self) -> str:
        return f"Document({self.name!r})"


def file_stem(name: str) -> str:
    """The file's name without folders, zip path ("a.zip!/x/y.txt") or extension."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1].rsplit(".", 1)[0]


def utf8_prefix(data: bytes, limit: int) -> str | None:
    """About the first ``limit`` bytes of ``data`` decoded as UTF-8 (cut back to a character
    boundary), or None when they are not UTF-8."""
    cut = min(len(data), limit)
    while cut < len(data) and (data[cut] & 0xC0) == 0x80:  # inside a character
        cut -= 1
    try:
        return data[:cut].decode("utf-8")
    except UnicodeDecodeError:
        return None
