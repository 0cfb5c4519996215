"""Signal via signal-export (carderne), ``chat.md`` (older: ``index.md``), CHAT_FORMATS.md
section 5.

Line format: ``[2019-05-29 15:04:05] Alice: text`` (current) or ``[2019-05-29, 15:04]
Alice: text`` (older versions and the README). Lines that match no header continue the
previous message and are joined with "\\n". Times are naive local times, kept as written.

Bodies are cleaned of what signal-export adds around the sender's own text: a leading
reply quote (``> quoted`` lines), trailing reactions ``(- Alice: 👍 -)`` and Markdown
hard-break spaces. Attachments/stickers without text -> "media"; ``(This message was
deleted)`` -> "deleted"; call records (``Missed video call``) -> "system", sender None.
"""

from __future__ import annotations

import re
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest._json_util import scrub
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA, empty_messages

FORMAT = "signal"
KIND = "messages"
WHAT = "signal-export chat.md"

_HEADER = r"^\[(?P<date>\d{4}-\d{2}-\d{2})(?P<sep>, | )(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\] (?P<sender>[^\n]+?):(?: (?P<body>.*))?$"
_HEADER_RX = re.compile(_HEADER, re.MULTILINE)
_ATTACHMENT = r"!?\[[^\]\n]*\]\([^)\n]*\)|\(media not exported\)|\(\( *[^\n]*? *\)\)"
_CALL = r"^(?:Outgoing|Incoming|Missed) (?:voice |video )?call(?: \([^\n]*\))?$"


# What signal-export writes that WhatsApp does not (CHAT_FORMATS.md §5): own messages as
# "Me", reply quotes ("> "), reactions "(- Alice: 👍 -)", Markdown attachment links into
# media/, "(media not exported)", "(This message was deleted)".
_SIGNAL_MARKS = re.compile(
    r"^\[[^\]\n]*\] Me: |^> |\(- [^\n]*?: [^\n]*? -\)|\]\(\./media/|\(media not exported\)"
    r"|\(This message was deleted\)",
    re.MULTILINE,
)
# ...and what WhatsApp iOS writes that signal-export does not (CHAT_FORMATS.md §1.4-1.6):
# invisible bidi marks around headers and bodies, "image omitted", "<attached: ...>".
_WHATSAPP_MARKS = re.compile("[\u200e\u200f\u202f]| omitted$|<attached: |end-to-end encrypted", re.MULTILINE)


def sniff(name: str, head: str) -> int:
    lower = name.lower()
    is_md = lower.endswith((".md", ".markdown"))
    first = next((line for line in head.lstrip("\ufeff").splitlines() if line.strip()), "")
    found = _HEADER_RX.match(first)
    if not found:
        return 0
    if is_md:
        return 95 if lower.rsplit("/", 1)[-1] in ("chat.md", "index.md") else 85
    # A .txt with "[2019-05-29, 15:04] Name:" (signal-export's older form) or
    # "[2019-05-29 15:04:05] Name:" (its current form) may as well be a WhatsApp iOS export;
    # the marks each app leaves decide, then the file name, then the header form (WhatsApp
    # iOS always writes seconds, so the older form without them is taken as Signal's).
    base = lower.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1].lstrip("/")
    whatsapp_named = "whatsapp" in lower or base == "_chat.txt"
    if _WHATSAPP_MARKS.search(head) or whatsapp_named:
        return 25
    if _SIGNAL_MARKS.search(head):
        return 90
    if found.group("sep") == ", " and found.group("time").count(":") == 1:
        return 80
    return 25


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def _chat_name(doc: Document) -> str:
    if doc.chat_hint:
        return doc.chat_hint
    if doc.folder:
        return doc.folder.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "Signal chat"
    stem = doc.name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem if stem not in ("chat", "index", "") else "Signal chat"


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    text = scrub(doc.text).lstrip("\ufeff")
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint="export the conversation again with signal-export")
    lines = (
        pl.DataFrame({"line": text.replace("\r\n", "\n").replace("\r", "\n").split("\n")})
        .with_row_index("n", offset=1)
        .with_columns(pl.col("line").str.extract_groups(_HEADER).alias("h"))
        .unnest("h")
        .with_columns(
            pl.coalesce(
                (pl.col("date") + " " + pl.col("time")).str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"),
                (pl.col("date") + " " + pl.col("time")).str.to_datetime("%Y-%m-%d %H:%M", strict=False, time_unit="us"),
            ).alias("timestamp")
        )
        .with_columns(is_header=pl.col("timestamp").is_not_null())
        .with_columns(gid=pl.col("is_header").cum_sum())
    )
    impossible = lines.filter(pl.col("date").is_not_null() & pl.col("timestamp").is_null())
    for n, line in impossible.select("n", "line").iter_rows():  # only the rare bad lines
        warn(f"{doc.name}:{n}: impossible time in {line[:40]!r}; kept as part of the previous message")
    if not lines.get_column("is_header").any():
        raise ParseError(
            doc.name,
            "no Signal message lines found",
            hint="expected lines like '[2019-05-29 15:04:05] Alice: text' from signal-export's chat.md",
            line=1,
        )
    preamble = lines.filter((pl.col("gid") == 0) & (pl.col("line").str.strip_chars() != ""))
    if preamble.height:
        warn(f"{doc.name}:{preamble.item(0, 'n')}: {preamble.height} line(s) before the first message skipped")
    chat = _chat_name(doc)
    body = pl.col("text")
    messages = (
        lines.filter(pl.col("gid") > 0)
        .group_by("gid", maintain_order=True)
        .agg(
            pl.col("timestamp").first(),
            pl.col("sender").first(),
            pl.when(pl.col("is_header")).then(pl.col("body").fill_null("")).otherwise(pl.col("line")).str.join("\n").alias("text"),
        )
        .with_columns(
            body.str.replace_all(r"(?m) {2,}$", "")
            .str.replace(r"\n\(- [^\n]* -\)\s*$", "")
            .str.replace(r"^\n+(?:>[^\n]*(?:\n|$))+\n*", "")
            .str.strip_chars_end()
        )
        .with_columns(stripped=body.str.replace_all(_ATTACHMENT, "").str.strip_chars())
        .with_columns(
            kind=pl.when(body == "(This message was deleted)")
            .then(pl.lit("deleted"))
            .when(body.str.contains(_CALL))
            .then(pl.lit("system"))
            .when((pl.col("stripped") == "") & body.str.contains(_ATTACHMENT))
            .then(pl.lit("media"))
            .otherwise(pl.lit("text"))
        )
        .with_columns(
            text=pl.when((pl.col("kind") == "text") & body.str.contains(_ATTACHMENT)).then(pl.col("stripped")).otherwise(body),
            sender=pl.when(pl.col("kind") == "system").then(None).otherwise(pl.col("sender").str.strip_chars()),
            chat=pl.lit(chat),
            source=pl.lit(doc.name),
        )
    )
    return messages.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))
