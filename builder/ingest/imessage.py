"""iMessage via imessage-exporter (ReagentX) TXT mode, CHAT_FORMATS.md section 6.

One file per conversation; each message is a block ended by a blank line::

    May 17, 2022  5:29:42 PM (Read by them after 1 hour, 49 seconds)
    Me
    Hello world

    May 17, 2022  5:29:42 PM You renamed the conversation to Hello world

- Header: chrono ``%b %d, %Y %l:%M:%S %p`` (two spaces before a one-digit hour), the
  Mac's local time, kept as written; an optional `` (Read by … after …)`` suffix.
- A block starts at a header line that opens the file or follows a blank line, so a body
  may itself hold blank lines. Threaded replies are indented by 4 spaces: the indent of
  their header is removed from the whole block.
- Announcements (text after the date on the header line, no sender line) -> "system".
- ``This message was deleted from the conversation!`` -> "deleted"; bodies made only of
  attachment paths or ``Sticker from …:`` lines -> "media". A trailing ``Reactions:``
  block (indented ``Loved by Me`` lines) is not the sender's text and is removed.
"""

from __future__ import annotations

import re
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest._json_util import scrub
from builder.ingest.base import Document, file_stem
from builder.schema import MESSAGE_SCHEMA, empty_messages

FORMAT = "imessage"
KIND = "messages"
WHAT = "imessage-exporter TXT export"

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_HEADER = (
    rf"^(?P<indent> *)(?P<date>(?:{_MONTHS}) \d{{1,2}}, \d{{4}} +\d{{1,2}}:\d{{2}}:\d{{2}} [AP]M)"
    r"(?: \(Read by [^\n]*? after [^\n]*?\))?(?: (?P<event>.*))?$"
)
_HEADER_RX = re.compile(_HEADER)
_DELETED = "This message was deleted from the conversation!"
# A body line that is an attachment: an absolute/home path with an extension, or a sticker.
_ATTACHMENT_LINE = r"^(?:(?:/|~/)[^\n]*\.[A-Za-z0-9]{1,5}|Sticker from [^\n]*|[^\n]*\.(?:heic|jpe?g|png|gif|mov|mp4|m4a|caf|pdf|webp|pluginPayloadAttachment))$"


def sniff(name: str, head: str) -> int:
    lines = [line for line in head.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines or not _HEADER_RX.match(lines[0]):
        return 0
    headers = sum(1 for line in lines if _HEADER_RX.match(line))
    return 90 if headers >= 2 or len(lines) < 4 else 75


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def _chat_name(doc: Document) -> str:
    if doc.chat_hint:
        return doc.chat_hint
    return file_stem(doc.name) or "iMessage chat"


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    text = scrub(doc.text).lstrip("\ufeff")
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint="export the conversation again with imessage-exporter -f txt")
    line = pl.col("line")
    lines = (
        pl.DataFrame({"line": text.replace("\r\n", "\n").replace("\r", "\n").split("\n")})
        .with_row_index("n", offset=1)
        .with_columns(line.str.extract_groups(_HEADER).alias("h"))
        .unnest("h")
        .with_columns(
            pl.col("date").str.replace_all(r" +", " ").str.to_datetime("%b %d, %Y %I:%M:%S %p", strict=False, time_unit="us").alias("timestamp"),
            blank_before=line.shift(1).str.strip_chars().fill_null("") == "",
        )
    )
    candidates = lines.filter(pl.col("date").is_not_null() & pl.col("blank_before"))
    for n, bad in candidates.filter(pl.col("timestamp").is_null()).select("n", "line").iter_rows():
        warn(f"{doc.name}:{n}: impossible date in {bad.strip()[:40]!r}; kept as part of the previous message")
    lines = lines.with_columns(
        is_header=pl.col("timestamp").is_not_null() & pl.col("blank_before")
    ).with_columns(gid=pl.col("is_header").cum_sum())
    if not lines.get_column("is_header").any():
        raise ParseError(
            doc.name,
            "no iMessage message headers found",
            hint="expected blocks starting with a date like 'May 17, 2022  5:29:42 PM' (imessage-exporter -f txt)",
            line=1,
        )
    preamble = lines.filter((pl.col("gid") == 0) & (line.str.strip_chars() != ""))
    if preamble.height:
        warn(f"{doc.name}:{preamble.item(0, 'n')}: {preamble.height} line(s) before the first message skipped")

    # Strip the block's indent (threaded replies) from every line, but never more than the
    # line's own leading spaces.
    indent = pl.col("indent").first().over("gid").str.len_chars()
    own = line.str.len_chars() - line.str.strip_chars_start(" ").str.len_chars()
    blocks = (
        lines.filter(pl.col("gid") > 0)
        .with_columns(line.str.slice(pl.min_horizontal(indent, own)))
        .group_by("gid", maintain_order=True)
        .agg(
            pl.col("timestamp").first(),
            pl.col("event").first().str.strip_chars(),
            pl.col("line").slice(1).alias("rest"),
        )
        .with_columns(
            sender=pl.col("rest").list.first().str.strip_chars(),
            body=pl.col("rest").list.slice(1).list.join("\n").str.strip_chars_end(),
        )
    )
    body = pl.col("body")
    cleaned = body.str.replace(r"(?s)\n*Reactions:\n(?: {2,}[^\n]*(?:\n|$))+\s*$", "").str.strip_chars_end()
    event = pl.col("event").fill_null("") != ""
    messages = blocks.with_columns(body=cleaned).with_columns(
        kind=pl.when(event)
        .then(pl.lit("system"))
        .when(body.str.starts_with(_DELETED))
        .then(pl.lit("deleted"))
        .when((body != "") & body.str.replace_all(rf"(?m){_ATTACHMENT_LINE}", "").str.strip_chars().eq(""))
        .then(pl.lit("media"))
        .otherwise(pl.lit("text")),
    ).with_columns(
        sender=pl.when(event).then(None).otherwise(pl.col("sender")),
        text=pl.when(event)
        .then(pl.col("event"))
        .when(pl.col("kind") == "deleted")
        .then(
            pl.when(body.str.strip_prefix(_DELETED).str.strip_chars() != "")
            .then(body.str.strip_prefix(_DELETED).str.strip_chars())
            .otherwise(pl.lit(_DELETED))
        )
        .otherwise(body),
        chat=pl.lit(_chat_name(doc)),
        source=pl.lit(doc.name),
    )
    missing = messages.filter(~event & (pl.col("sender").fill_null("") == ""))
    if missing.height:
        n = lines.filter(pl.col("is_header") & (pl.col("gid") == missing.item(0, "gid"))).item(0, "n")
        raise ParseError(doc.name, "a message header is not followed by a sender line", hint="is this an imessage-exporter TXT file?", line=n)
    return messages.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))
