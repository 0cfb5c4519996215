"""WhatsApp "Export chat" text files (Android and iOS), CHAT_FORMATS.md section 1.

How a file is read
- The header pattern is detected ONCE per file from a sample of lines (whatsapp_header.py)
  and compiled into one regex; only lines matching it exactly start a message. Every other
  line continues the previous message (never dropped), so a body line that merely starts
  with a date ("2016-04-29 10:30:00", a poll option "2:00") stays in its message.
- All lines are then processed column-wise with Polars (split, regex extraction, record
  ids by cumulative sum, continuation lines joined per record, dates computed from integer
  columns). There is no per-line Python loop, so a 1M-message export parses in seconds.
- Day/month order is decided from all headers of the file (whatsapp_dates.py).
- A header with an impossible time or date (24:35, 10:60, 31/02) does not start a message:
  it is reported through ``warn("name:LINE: ...")`` and kept as a line of the previous
  message. Text before the first header (no message to attach it to) is reported and left out.

Conventions of the output (Message contract, DESIGN.md)
- text: continuation lines joined with "\\n"; blank lines inside a body are kept. A body
  never ends with a newline: trailing blank lines (the file's final newline, blank lines
  between messages) are dropped. Leading invisible marks (LRM) and a trailing
  "<This message was edited>" marker are removed; everything else is kept as written.
- sender: the name minus invisible marks (U+200E/F, U+202A-E, U+2066-9, U+FEFF) and minus
  the "~ " (U+202F) prefix newer exports put before non-contacts. None for system lines.
- kind: "system" for events (Android lines without an author; iOS events, whose "author"
  is the chat name and whose body starts with an LRM; known event texts such as the
  encryption notice and missed calls, whoever they are attributed to); "deleted" for
  deleted messages and the ``Name:.`` disappearing-message placeholder (text ""); "media"
  for omitted / attached media, locations and view-once ``null`` bodies; else "text".
- chat: the file or zip name minus its localized "WhatsApp Chat with " prefix; for an iOS
  ``_chat.txt`` without such a name, the name system lines are attributed to.
- Order: the file's order (exports are not always chronological; nothing is sorted)."""

from __future__ import annotations

import re
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest.base import Document
from builder.ingest.whatsapp_dates import infer_order, timestamp_exprs
from builder.ingest.whatsapp_header import (
    DIGIT_MAP,
    INVISIBLE_CLASS,
    Template,
    compile_template,
    detect_template,
    normalize,
    sample_lines,
    template_of,
)
from builder.ingest.whatsapp_locale import (
    ATTACHED_WORDS,
    CHAT_NAME_PREFIXES,
    DELETED,
    EDITED,
    IOS_OMITTED,
    LOCATION_WORDS,
    MEDIA_OMITTED,
    SYSTEM_PREFIXES,
    alternation,
)
from builder.schema import conform, empty_messages

FORMAT = "whatsapp"
KIND = "messages"

MAX_WARNINGS = 20  # per file; the rest are counted in one last warning

_NO_HEADER_HINT = (
    "expected lines like '23/03/2022, 13:31 - Name: text' (Android) or "
    "'[3/18/22, 14:56:01] Name: text' (iOS); export the chat again with WhatsApp's "
    "'Export chat' or pick the right --format"
)

# Body classifiers (Rust regex, case-insensitive), applied to the header line's body with
# invisible marks removed and surrounding spaces stripped.
_SP = r"[\s\u00a0\u202f]"
_DELETED_RE = rf"^{alternation(DELETED)}(?:{_SP}.*)?\.?$"
_MEDIA_RE = "|".join(
    [
        rf"^<{_SP}*{alternation(MEDIA_OMITTED)}{_SP}*>$",  # Android "<Media omitted>"
        rf"(?:^|{_SP}){alternation(IOS_OMITTED)}$",  # iOS "image omitted", "x.pdf document omitted"
        rf"^<{_SP}*{alternation(ATTACHED_WORDS)}{_SP}*:{_SP}*[^<>]+>$",  # "<attached: 0001-PHOTO.jpg>"
        rf"^\S.*{_SP}<{_SP}*{alternation(ATTACHED_WORDS)}{_SP}*>$",  # "2015-08-04-PHOTO-1.jpg <attached>"
        rf"^\S.*{_SP}\({alternation(ATTACHED_WORDS)}\)$",  # "IMG-2021-WA0001.jpg (file attached)"
        rf"^{alternation(LOCATION_WORDS)}:{_SP}*https?://\S+$",  # "location: https://maps..."
        r"^(?i:live location shared)$",
        r"^null$",  # Android view-once media
    ]
)
_SYSTEM_RE = rf"^{alternation(SYSTEM_PREFIXES)}"
_POLL_RE = r"^(?i:POLL|ENCUESTA|UMFRAGE|SONDAGE|SONDAGGIO|ENQUETE|PEILING|ОПРОС):"
_EDITED_RE = rf"(?:{_SP}|{INVISIBLE_CLASS})*<{alternation(EDITED)}>$"
_INVISIBLE_START = f"^{INVISIBLE_CLASS}"
_INVISIBLES = f"{INVISIBLE_CLASS}+"
_HEADER_SNIFF_LINES = 60


def sniff(name: str, head: str) -> int:
    """Confidence that ``head`` (the first ~8 KB) is a WhatsApp export."""
    lower = name.replace("\\", "/").lower()
    base = lower.rsplit("/", 1)[-1].rsplit("!", 1)[-1].lstrip("/")
    named = "whatsapp" in lower or base == "_chat.txt"
    lines = [line for line in head.lstrip("\ufeff").split("\n")[:_HEADER_SNIFF_LINES] if line.strip()]
    if len(head) >= 8000 and len(lines) > 1:
        lines = lines[:-1]  # the cut-off last line
    templates = [template_of(normalize(line.rstrip("\r"))) for line in lines]
    hits = [t for t in templates if t is not None]
    if not hits:
        return 20 if named else 0
    share = len(hits) / len(lines)
    if len(hits) < 2 and share < 0.5 or share < 0.2:
        return 30 if named else 10
    score = 85 if share >= 0.5 else 70
    # "[2019-05-29, 15:04] Name:" (brackets, no seconds) is also signal-export's format;
    # WhatsApp iOS always writes seconds. Leave such files to a more specific parser.
    if all(t.bracket and not t.seconds for t in hits):
        score = 55
    if lower.endswith((".md", ".json", ".csv")):
        score -= 30
    return max(0, min(100, score + (15 if named else 0)))


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def chat_name_from_hint(hint: str | None) -> tuple[str | None, bool]:
    """(chat name, whether the hint carried a WhatsApp prefix) from a file or zip stem."""
    if not hint:
        return None, False
    cleaned = hint.replace("\u00a0", " ").strip()
    for prefix in CHAT_NAME_PREFIXES:
        for variant in (prefix, prefix.replace(" ", "_")):
            if cleaned.lower().startswith(variant.lower()) and len(cleaned) > len(variant):
                rest = cleaned[len(variant):].strip()
                if variant != prefix:
                    rest = rest.replace("_", " ")
                return rest, True
    return cleaned, False


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    text = doc.text
    template, hits = detect_template(sample_lines(text))
    if template is None:
        raise ParseError(doc.name, "no WhatsApp message headers found", hint=_NO_HEADER_HINT)
    regex = compile_template(template)

    lines = (
        pl.Series("raw", [text], dtype=pl.String)
        .str.split("\n")
        .explode()
        .str.strip_suffix("\r")
        .to_frame()
        .with_row_index("line", offset=1)
    )
    if text.endswith("\n"):
        lines = lines.head(lines.height - 1)  # the file's final newline ends the last line

    groups = pl.col("raw").str.extract_groups(regex)
    frame = lines.with_columns(groups.alias("g")).unnest("g")
    if "s" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("s"))
    if "mer" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("mer"))
    if "era" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("era"))
    candidate = pl.col("d1").is_not_null()

    # Date parts renamed to their written position, digits made ASCII.
    digit_from, digit_to = list(DIGIT_MAP), list(DIGIT_MAP.values())
    frame = frame.with_columns(
        [pl.col(src).str.replace_many(digit_from, digit_to).alias(dst)
         for src, dst in (("d1", "p1"), ("d2", "p2"), ("d3", "p3"), ("h", "h"), ("mi", "mi"), ("s", "s"))]
        + [pl.col("era").is_not_null().alias("era")]
    ).drop("d1", "d2", "d3")
    candidate = pl.col("p1").is_not_null()

    heads = frame.filter(candidate)
    if heads.height == 0:
        raise ParseError(doc.name, "no WhatsApp message headers found", hint=_NO_HEADER_HINT)
    order = infer_order(heads.select("p1", "p2", "p3", "era"))
    if order.ambiguous:
        warn(f"{doc.name}: day/month order cannot be told from the dates in this file; "
             "read them day-first (DD/MM)")
    ts, valid = timestamp_exprs(order)
    frame = frame.with_columns(
        pl.when(candidate).then(ts).alias("timestamp"),
        (candidate & pl.when(candidate).then(valid).otherwise(False)).alias("is_header"),
    )
    _report_impossible(doc.name, frame.filter(candidate & ~pl.col("is_header")), warn)
    frame = frame.with_columns(pl.col("is_header").cum_sum().alias("rec"))
    _report_preamble(doc.name, frame.filter(pl.col("rec") == 0), warn)

    headers = frame.filter(pl.col("is_header")).select("rec", "line", "raw", "timestamp", "rest")
    if headers.height == 0:
        raise ParseError(doc.name, "no WhatsApp message headers found",
                         hint="every header line has an impossible date or time")
    continuation = (
        frame.filter(~pl.col("is_header") & (pl.col("rec") > 0))
        .group_by("rec", maintain_order=True)
        .agg(pl.col("raw").str.join("\n").alias("more"))
    )
    records = headers.join(continuation, on="rec", how="left", maintain_order="left")
    messages = _classify(records, template)
    return _finish(messages, doc, template)


def _classify(records: pl.DataFrame, template: Template) -> pl.DataFrame:
    """Split author and body and decide kind, on header rows (one per message)."""
    ios = template.bracket
    split = pl.col("rest").str.splitn(": ", 2)
    records = records.with_columns(split.struct.field("field_0").alias("a0"),
                                   split.struct.field("field_1").alias("b0"))
    rest = pl.col("rest")
    # No ": " at all: "Name:" (empty body, end of line), "Name:." (disappearing
    # placeholder) or an author-less event.
    ends_colon = rest.str.ends_with(":")
    placeholder = rest.str.ends_with(":.") & (rest.str.len_chars() > 2)
    author_less_invisible = rest.str.contains(_INVISIBLE_START)  # iOS "\u200eX created group"
    has_author = pl.col("b0").is_not_null()
    author = (
        pl.when(author_less_invisible & ios).then(None)
        .when(has_author).then(pl.col("a0"))
        .when(placeholder).then(rest.str.strip_suffix(":."))
        .when(ends_colon).then(rest.str.strip_suffix(":"))
    )
    body = (
        pl.when(author_less_invisible & ios).then(rest)
        .when(has_author).then(pl.col("b0"))
        .when(placeholder | ends_colon).then(pl.lit(""))
        .otherwise(rest)
    )
    records = records.with_columns(author.alias("author"), body.alias("body"),
                                   (placeholder & ~has_author).alias("placeholder"))
    clean = pl.col("body").str.replace_all(_INVISIBLES, "").str.strip_chars()
    records = records.with_columns(clean.alias("probe"))
    probe = pl.col("probe")
    deleted = probe.str.contains(_DELETED_RE) | pl.col("placeholder")
    media = probe.str.contains(_MEDIA_RE)
    poll = probe.str.contains(_POLL_RE)
    body_lrm = pl.col("body").str.contains(_INVISIBLE_START)
    line_lrm = pl.col("raw").str.contains(_INVISIBLE_START)
    ios_event = pl.lit(ios) & body_lrm & ~line_lrm & ~poll
    known_event = probe.str.contains(_SYSTEM_RE)
    kind = (
        pl.when(pl.col("author").is_null()).then(pl.lit("system"))
        .when(deleted).then(pl.lit("deleted"))
        .when(media).then(pl.lit("media"))
        .when(ios_event | known_event).then(pl.lit("system"))
        .otherwise(pl.lit("text"))
    )
    sender = (
        pl.col("author").str.replace_all(_INVISIBLES, "").str.strip_chars()
        .str.replace(r"^~[\s\u00a0\u202f]*", "").str.strip_chars()
    )
    text = (
        pl.concat_str([pl.col("body").str.replace(f"^{_INVISIBLES}", ""), pl.col("more")],
                      separator="\n", ignore_nulls=True)
        .str.strip_chars_end("\n")
        .str.replace(_EDITED_RE, "")
    )
    text = pl.when(pl.col("placeholder")).then(pl.lit("")).otherwise(text)
    return records.with_columns(kind.alias("kind"), sender.alias("sender0"), text.alias("text"))


def _finish(messages: pl.DataFrame, doc: Document, template: Template) -> pl.DataFrame:
    name, prefixed = chat_name_from_hint(doc.chat_hint)
    if template.bracket and not prefixed:
        # iOS attributes events to the chat itself: the first event's "author" names it.
        events = messages.filter((pl.col("kind") == "system") & pl.col("sender0").is_not_null())
        if events.height:
            name = events.item(0, "sender0")
    if not name:
        stem = re.sub(r"\.txt$", "", doc.name.replace("\\", "/").rsplit("/", 1)[-1], flags=re.I)
        name = stem or "WhatsApp chat"
    out = messages.select(
        pl.lit(name).alias("chat"),
        pl.col("timestamp"),
        pl.when(pl.col("kind") == "system").then(None).otherwise(pl.col("sender0")).alias("sender"),
        pl.col("text"),
        pl.col("kind"),
        pl.lit(doc.name).alias("source"),
    )
    return conform(out)


def _report_impossible(name: str, bad: pl.DataFrame, warn: Callable[[str], None]) -> None:
    if bad.height == 0:
        return
    shown = bad.head(MAX_WARNINGS).select("line", "raw").rows()
    for line, raw in shown:
        warn(f"{name}:{line}: impossible date or time in header '{raw[:32].strip()}'; "
             "kept as a line of the previous message")
    if bad.height > MAX_WARNINGS:
        warn(f"{name}: {bad.height - MAX_WARNINGS} more lines with impossible dates or times "
             "kept as lines of the previous messages")


def _report_preamble(name: str, pre: pl.DataFrame, warn: Callable[[str], None]) -> None:
    texty = pre.filter(pl.col("raw").str.strip_chars().str.len_chars() > 0)
    if texty.height:
        first, last = texty.item(0, "line"), texty.item(-1, "line")
        where = f"{first}" if first == last else f"{first}-{last}"
        warn(f"{name}:{first}: {texty.height} line(s) ({where}) before the first message header "
             "belong to no message; left out")
