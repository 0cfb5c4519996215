"""A plain CSV/TSV table of messages: the escape hatch for any exporter we do not know.
The mapping (column names and aliases, time formats, kinds) is documented in
docs/CSV_FORMAT.md; keep the two in step."""

from __future__ import annotations

import csv
import io
import re
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest import epoch_zone
from builder.ingest._json_util import scrub
from builder.ingest.base import Document
from builder.schema import KINDS, MESSAGE_SCHEMA, empty_messages

FORMAT = "csv"
KIND = "messages"
HINT = "see docs/CSV_FORMAT.md for the columns clonekit reads"

# Normalised header name (lower case, letters and digits only) -> role. Order matters
# within a role: the first alias present wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "datetime", "sentat", "createdat", "sent", "when"),
    "date": ("date", "day"),
    "time": ("time", "hour"),
    "sender": ("sender", "author", "from", "name", "sendername", "authorname", "user", "username", "speaker"),
    "text": ("text", "message", "content", "body", "msg", "messagetext"),
    "chat": ("chat", "conversation", "chatname", "channel", "thread", "room", "group"),
    "kind": ("kind",),
    "media": ("attachments", "attachment", "media", "file", "files"),
}

# Tried in order; the format that reads the most rows wins, ties go to the earlier one
# (ISO first, then day-first before month-first: write ISO to avoid the ambiguity).
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %I:%M:%S %p",
    "%d/%m/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%d/%m/%y %H:%M:%S",
    "%d/%m/%y %H:%M",
    "%m/%d/%y %H:%M:%S",
    "%m/%d/%y %H:%M",
    "%m/%d/%y %I:%M %p",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%y %H:%M",
)
_INVISIBLE = "[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _separator(name: str, header: str) -> str:
    if name.lower().endswith((".tsv", ".tab")):
        return "\t"
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def roles(columns: list[str]) -> dict[str, str]:
    """Role -> the column that plays it, from the header names."""
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(_norm(col), col)
    found = {}
    for role, aliases in ALIASES.items():
        for alias in aliases:
            if alias in by_norm and by_norm[alias] not in found.values():
                found[role] = by_norm[alias]
                break
    return found


def _has_time(found: dict[str, str]) -> bool:
    return "timestamp" in found or "date" in found or "time" in found


def sniff(name: str, head: str) -> int:
    head = head.lstrip("\ufeff")
    first = head.split("\n", 1)[0].rstrip("\r")
    if not first or first.lstrip().startswith(("{", "[")):
        return 0
    try:
        columns = next(csv.reader([first], delimiter=_separator(name, first)))
    except (csv.Error, StopIteration):
        return 0
    found = roles(columns)
    complete = _has_time(found) and "sender" in found and "text" in found
    is_table = name.lower().endswith((".csv", ".tsv", ".tab"))
    if complete:
        return 85 if is_table else 50
    return 20 if is_table and len(found) >= 2 else 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def _read(doc: Document) -> pl.DataFrame:
    text = scrub(doc.text).lstrip("\ufeff")
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint=HINT)
    header = text.split("\n", 1)[0].rstrip("\r")
    try:
        return pl.read_csv(
            io.BytesIO(text.encode("utf-8", "surrogatepass")),
            separator=_separator(doc.name, header),
            infer_schema=False,
            empty_string_is_null=False,
            raise_if_empty=True,
        )
    except (pl.exceptions.PolarsError, UnicodeError, ValueError, OverflowError) as exc:
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ParseError(doc.name, f"not a readable CSV table: {detail}", hint=HINT) from None


def _parse_doc(doc: Document) -> pl.DataFrame:
    df = _read(doc)
    found = roles(df.columns)
    missing = [role for role, ok in (("timestamp", _has_time(found)), ("sender", "sender" in found), ("text", "text" in found)) if not ok]
    if missing:
        raise ParseError(
            doc.name,
            f"no {'/'.join(missing)} column (the header row has: {', '.join(df.columns) or 'nothing'})",
            hint="name the columns timestamp, sender and text, or an alias; " + HINT,
            line=1,
        )
    if df.height == 0:
        return empty_messages()
    raw_time = _time_expr(found).alias("_raw")
    df = df.with_columns(raw_time).with_row_index("_row", offset=1)
    timestamp, fmt = _pick_time_format(df)
    df = df.with_columns(timestamp.alias("timestamp"))
    bad = df.filter(pl.col("timestamp").is_null())
    if bad.height:
        row, value = bad.item(0, "_row"), bad.item(0, "_raw")
        raise ParseError(
            doc.name,
            f"data row {row}: unreadable time {value!r}"
            + (f" (the other rows use {fmt!r})" if fmt else ""),
            hint="write times as ISO 8601, e.g. 2024-05-01T14:03:00; " + HINT,
        )
    return _to_messages(doc, df, found)


def _time_expr(found: dict[str, str]) -> pl.Expr:
    if "timestamp" in found:
        return pl.col(found["timestamp"])
    if "date" in found and "time" in found:
        return pl.concat_str(pl.col(found["date"]), pl.lit(" "), pl.col(found["time"]))
    return pl.col(found.get("date") or found["time"])


def _pick_time_format(df: pl.DataFrame) -> tuple[pl.Expr, str | None]:
    raw = (
        pl.col("_raw")
        .str.strip_chars()
        .str.replace(r"(?:[Zz]|\s?[+-]\d{2}:?\d{2}|\s?UTC|\s?GMT)$", "")  # wall-clock as written
        .str.replace(r"^(\d{4}-\d{2}-\d{2})T", "$1 ")
        .str.replace(r"^([^,]+), ", "$1 ")
        .str.replace_all(r"[\u00a0\u202f]", " ")
        .str.to_uppercase()
    )
    digits = pl.col("_raw").str.strip_chars()
    if df.select(digits.str.contains(r"^-?\d{9,13}$").all()).item():
        n = digits.cast(pl.Int64, strict=False)
        secs = pl.when(digits.str.len_chars() >= 12).then(n / 1000).otherwise(n)
        return epoch_zone.wall_clock(secs), "Unix epoch"  # out of range: null, reported per row
    parsed = [raw.str.to_datetime(fmt, strict=False, time_unit="us") for fmt in TIME_FORMATS]
    counts = df.select([p.is_not_null().sum().alias(str(i)) for i, p in enumerate(parsed)]).row(0)
    best = max(range(len(TIME_FORMATS)), key=lambda i: (counts[i], -i))
    if counts[best] == 0:
        return pl.lit(None, dtype=pl.Datetime("us")), None
    return parsed[best], TIME_FORMATS[best]


def _to_messages(doc: Document, df: pl.DataFrame, found: dict[str, str]) -> pl.DataFrame:
    default_chat = doc.chat_hint or re.sub(r"\.(csv|tsv|tab|txt)$", "", doc.name.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1], flags=re.I) or "CSV chat"
    sender = pl.col(found["sender"]).str.replace_all(_INVISIBLE, "").str.strip_chars()
    sender = pl.when(sender == "").then(None).otherwise(sender)
    text = pl.col(found["text"]).fill_null("")
    media = pl.col(found["media"]).fill_null("").str.strip_chars() if "media" in found else pl.lit("")
    chat = pl.col(found["chat"]).str.strip_chars() if "chat" in found else pl.lit(None, dtype=pl.String)
    given = pl.col(found["kind"]).str.strip_chars().str.to_lowercase() if "kind" in found else pl.lit(None, dtype=pl.String)
    given = pl.when(given == "").then(None).otherwise(given)
    derived = (
        pl.when(sender.is_null())
        .then(pl.lit("system"))
        .when((text.str.strip_chars() == "") & (media != ""))
        .then(pl.lit("media"))
        .otherwise(pl.lit("text"))
    )
    out = df.with_columns(
        chat=pl.when(chat.is_null() | (chat == "")).then(pl.lit(default_chat)).otherwise(chat),
        _sender=sender,
        _kind=pl.coalesce(given, derived),
        _text=pl.when((text.str.strip_chars() == "") & (media != "")).then(media).otherwise(text),
    )
    bad = out.filter(~pl.col("_kind").is_in(KINDS))
    if bad.height:
        raise ParseError(
            doc.name,
            f"data row {bad.item(0, '_row')}: kind {bad.item(0, '_kind')!r} is not one of {', '.join(KINDS)}",
            hint=HINT,
        )
    orphan = out.filter(pl.col("_sender").is_null() & (pl.col("_kind") != "system"))
    if orphan.height:
        raise ParseError(
            doc.name,
            f"data row {orphan.item(0, '_row')}: a {orphan.item(0, '_kind')} message without a sender",
            hint="fill in the sender, or set kind to system; " + HINT,
        )
    return out.select(
        pl.col("chat"),
        pl.col("timestamp"),
        pl.when(pl.col("_kind") == "system").then(None).otherwise(pl.col("_sender")).alias("sender"),
        pl.col("_text").alias("text"),
        pl.col("_kind").alias("kind"),
        pl.lit(doc.name).alias("source"),
    ).cast(dict(MESSAGE_SCHEMA))
