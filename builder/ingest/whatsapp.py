"""WhatsApp "Export chat" text files (Android and iOS), CHAT_FORMATS.md section 1.

How a file is read
- The header pattern is detected ONCE per file from a sample of lines (whatsapp_header.py)
  and compiled into one regex; only lines matching it exactly start a message. Every other
  line continues the previous message (never dropped), so a body line that merely starts
  with a date ("2016-04-29 10:30:00", a poll option "2:00") stays in its message.
- All lines are then processed column-wise with Polars (Polars' line reader, one regex
  match per line, record ids by cumulative sum, continuation lines joined per record,
  dates computed from integer columns). "Name: body" is cut with zero-copy slices; the
  rarer lines (no ": ", media / deleted / event markers, multi-line bodies, edits) are
  found by cheap masks and fixed on their own rows, which are scattered back by row
  number (no joins over every message). There is no per-line Python loop: a 1M-message
  export parses in well under a second.
- Day/month order is decided from all headers of the file (whatsapp_dates.py).
- Plain ASCII 24-hour headers (most exports) take a fast path: header offsets found with
  literal search, timestamps parsed by Polars' strptime (whatsapp_fast.py); headers it
  cannot read fall back to the general path, so results are the same either way.
- A header with an impossible time or date (24:35, 10:60, 31/02) does not start a message:
  it is reported through ``warn("name:LINE: ...")`` and kept as a line of the previous
  message. Text before the first header (no message to attach it to) is reported and left out.

Conventions of the output (Message contract, DESIGN.md)
- text: continuation lines joined with "\\n"; blank lines inside a body are kept. A body
  never ends with a newline: trailing blank lines (the file's final newline, blank lines
  between messages) are dropped. Leading invisible marks (LRM) and a trailing
  "<This message was edited>" marker are removed; in event (system) texts every invisible
  bidi mark is removed; everything else is kept as written.
- sender: the name minus invisible marks (U+200E/F, U+202A-E, U+2066-9, U+FEFF) and minus
  the "~ " (U+202F) prefix newer exports put before non-contacts. None for system lines.
- kind (whatsapp_markers.py, every language WhatsApp ships): "system" for events (Android
  lines without an author; iOS events, whose "author" is the chat name and whose body
  starts with an LRM; known event texts such as the encryption notice and missed calls,
  whoever they are attributed to); "deleted" for deleted messages and the ``Name:.``
  disappearing-message placeholder (text ""); "media" for omitted / attached media (iOS
  lines marked by LRMs, Android's bracketed "<Media omitted>" family, WhatsApp's own
  strings), locations and venue shares, and view-once ``null`` bodies; else "text".
- Headers: besides the numeric ones (whatsapp_header.py), old Android headers with the
  month as a word (whatsapp_named.py), with or without a year; a file may switch between
  12- and 24-hour clocks.
- chat: the file or zip name minus its localized "WhatsApp Chat with " prefix; for an iOS
  ``_chat.txt`` without such a name, the name system lines are attributed to.
- Order: the file's order (exports are not always chronological; nothing is sorted)."""

from __future__ import annotations

import re
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest import whatsapp_fast, whatsapp_named
from builder.ingest.base import Document
from builder.ingest.whatsapp_dates import add_timestamps, infer_order, with_part_values
from builder.ingest.whatsapp_header import (
    DIGIT_MAP,
    MERIDIEM_IN_HEADER,
    Template,
    compile_template,
    detect_template,
    meridiem_optional,
    normalize,
    sample_lines,
    template_of,
)
from builder.ingest import whatsapp_markers as mk
from builder.ingest.whatsapp_locale import CHAT_NAME_PREFIXES
from builder.schema import conform, empty_messages

FORMAT = "whatsapp"
KIND = "messages"

MAX_WARNINGS = 20  # per file; the rest are counted in one last warning

_NO_HEADER_HINT = (
    "expected lines like '23/03/2022, 13:31 - Name: text' (Android) or "
    "'[3/18/22, 14:56:01] Name: text' (iOS); export the chat again with WhatsApp's "
    "'Export chat' or pick the right --format"
)

# Body classifiers: whatsapp_markers.py (signals and WhatsApp's own strings, every language).
_STRIP = mk.STRIP
_INVISIBLE_CHARS = mk.INVISIBLE_CHARS
_INVISIBLES = mk.INVISIBLES
_HEADER_SNIFF_LINES = 60


def sniff(name: str, head: str) -> int:
    """Confidence that ``head`` (the first ~8 KB) is a WhatsApp export."""
    lower = name.replace("\\", "/").lower()
    base = lower.rsplit("/", 1)[-1].rsplit("!", 1)[-1].lstrip("/")
    named = "whatsapp" in lower or base == "_chat.txt"
    lines = [line for line in head.lstrip("\ufeff").split("\n")[:_HEADER_SNIFF_LINES] if line.strip()]
    if len(head) >= 8000 and len(lines) > 1:
        lines = lines[:-1]  # the cut-off last line
    normalized = [normalize(line.rstrip("\r")) for line in lines]
    templates = [template_of(line) for line in normalized]
    hits = [t for t in templates if t is not None]
    first_is_header = bool(templates) and templates[0] is not None
    if len(hits) * 2 < len(lines):  # old Android headers with the month as a word
        month_words = [whatsapp_named.shape_of(line) is not None for line in normalized]
        if sum(month_words) > len(hits):
            hits, first_is_header = [_NAMED_TEMPLATE] * sum(month_words), month_words[0]
    if not hits:
        return 20 if named else 0
    share = len(hits) / len(lines)
    # A long forwarded message can fill the first 8 KB with body lines: a file that starts
    # with a header and has a few more is still an export.
    long_body = first_is_header and (len(hits) >= 3 or named and len(hits) >= 2)
    if len(hits) < 2 and share < 0.5 or share < 0.2 and not long_body:
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
    if len(docs) < 2:
        frames = [_parse_doc(doc, warn) for doc in docs]
    else:
        frames = _parse_in_threads(docs, warn)
    return pl.concat(frames) if frames else empty_messages()


def _parse_in_threads(docs: list[Document], warn: Callable[[str], None]) -> list[pl.DataFrame]:
    """One file per thread, two at a time: most of a file's parse is single-threaded Polars
    work on one chunk (the GIL is released), so two files use both cores. Warnings are kept
    per file and passed on in file order, and the first failing file (in order) raises, as
    a sequential parse would."""
    from concurrent.futures import ThreadPoolExecutor

    def one(doc: Document) -> tuple[pl.DataFrame | None, list[str], ParseError | None]:
        notes: list[str] = []
        try:
            return _parse_doc(doc, notes.append), notes, None
        except ParseError as err:
            return None, notes, err

    frames = []
    with ThreadPoolExecutor(2) as pool:
        for frame, notes, err in pool.map(one, docs):
            for note in notes:
                warn(note)
            if err is not None:
                raise err
            frames.append(frame)
    return frames


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


def _read_lines(data: bytes) -> pl.DataFrame:
    # Polars' line reader ends lines at "\n" or "\r\n"; the file's final newline ends the
    # last line (it does not start an empty one). One chunk (the reader makes many): later
    # steps would otherwise re-chunk on every mix.
    return pl.read_lines(data, name="raw", row_index_name="line", row_index_offset=1).rechunk()


def _lines_and_sample(doc: Document) -> tuple[pl.DataFrame, list[str]]:
    """The file's lines, and a sample of them for header detection. A file kept as bytes
    goes to Polars as it is (no str of the whole file is built); if it is not UTF-8 after
    all, its decoded text is read instead."""
    if doc.raw is not None:
        try:
            return _read_lines(doc.raw), sample_lines(doc.raw)
        except pl.exceptions.ComputeError:  # invalid UTF-8: a legacy code page, decoded by doc.text
            pass
    # "replace": a text handed over as str may hold lone surrogates, which UTF-8 can't encode
    return _read_lines(doc.text.encode("utf-8", "replace")), sample_lines(doc.text)


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    frame, sample = _lines_and_sample(doc)
    template, found = detect_template(sample)
    named, named_found = (whatsapp_named.detect(sample) if template is None or found * 2 < len(sample)
                          else (None, 0))
    if named is not None and named_found > found:  # "19:23, 28 Aug 2013 - ", "Mar 5, 8:11 PM - "
        template = _NAMED_TEMPLATE
        header_re = whatsapp_named.without_groups(whatsapp_named.header_regex(named))
    elif template is None:
        raise ParseError(doc.name, "no WhatsApp message headers found", hint=_NO_HEADER_HINT)
    else:
        named = None
        header_re = compile_template(template)
    frame = frame.with_columns(pl.col("raw").str.contains(header_re).alias("candidate"))

    candidates = frame.filter(pl.col("candidate")).select("line", "raw")
    if candidates.height == 0:
        raise ParseError(doc.name, "no WhatsApp message headers found", hint=_NO_HEADER_HINT)
    arabic = _ARABIC_DIGIT.search("\n".join(sample)) is not None  # one search, not one per line
    fast = whatsapp_fast.plan(template, sample) if named is None else None
    if named is not None:
        heads = whatsapp_named.header_times(candidates, named, doc.name, getattr(doc, "modified", None),
                                            getattr(doc, "year_end", None), warn)
        ambiguous = False
    elif fast is not None:
        heads, order, ambiguous = whatsapp_fast.header_times(candidates, fast)
        # Headers the fast formats could not read go through the general path, which
        # validates them (impossible times) with the order decided above.
        if not heads.get_column("valid").all():
            odd = heads.filter(~pl.col("valid")).select("line", "raw")
            odd = add_timestamps(with_part_values(_header_fields(odd, header_re, template, arabic)),
                                 order, era_letters=False)
            heads = heads.join(odd.select("line", "timestamp", "valid", "rest"), on="line", how="left",
                               suffix="_g", maintain_order="left").with_columns(
                pl.coalesce("timestamp_g", "timestamp").alias("timestamp"),
                pl.coalesce("valid_g", "valid").alias("valid"),
                pl.coalesce("rest_g", "rest").alias("rest"),
            ).drop("timestamp_g", "valid_g", "rest_g")
    else:
        heads = with_part_values(_header_fields(candidates, header_re, template, arabic))
        order = infer_order(heads.select("p1", "p2", "p3", "v1", "v2", "v3", "era"))
        ambiguous = order.ambiguous
        heads = add_timestamps(heads, order, era_letters=template.era_letter)
    if ambiguous:
        warn(f"{doc.name}: day/month order cannot be told from the dates in this file; "
             "read them day-first (DD/MM)")
    all_valid = bool(heads.get_column("valid").all())
    if not all_valid:
        _report_impossible(doc.name, heads.filter(~pl.col("valid")), warn)

    starts = (heads if all_valid else heads.filter(pl.col("valid"))).select("line", "raw", "timestamp", "rest")
    if starts.height == 0:
        raise ParseError(doc.name, "no WhatsApp message headers found",
                         hint="every header line has an impossible date or time")
    # Record id of every line: how many message starts are at or above it.
    is_start = pl.col("candidate") if all_valid else pl.col("line").is_in(starts["line"].implode())
    frame = frame.select("raw", is_start.cum_sum().alias("rec"), is_start.alias("start"))
    _report_preamble(doc.name, frame.head(starts.item(0, "line") - 1).with_row_index("line", offset=1), warn)
    # Continuation lines, joined per message. Only a few messages have any, so they are
    # grouped on their own and later put in place by row number (rec - 1).
    continuation = (
        frame.lazy()
        .filter(~pl.col("start") & (pl.col("rec") > 0))
        .with_columns(pl.col("rec").set_sorted())  # a running count: the sorted group_by is faster
        .group_by("rec", maintain_order=True)
        .agg(pl.col("raw"))  # list.join afterwards: far faster than str.join inside agg
        .select((pl.col("rec") - 1).cast(pl.UInt32).alias("row"), pl.col("raw").list.join("\n").alias("more"))
        .collect(engine="in-memory")  # the streaming engine's filter copies every line first: 2x slower
    )
    records = starts.select("raw", "timestamp", "rest")
    del frame, candidates, heads, starts  # free the line table before classifying
    messages = _classify(records, continuation, template)
    return _finish(messages, doc, template)


# Named-month headers are Android's (" - " ends them): the Template the later steps read.
_NAMED_TEMPLATE = Template(bracket=False, time_first=False, date_sep=" ", date_space=False, era=False,
                           date_dot=False, join=", ", time_sep=":", seconds=False, meridiem="",
                           era_letter=False, time_dot=False, end="-")
_ARABIC_DIGIT = re.compile("[\u0660-\u0669\u06f0-\u06f9]")
DIGIT_RUN = "[0-9\u0660-\u0669\u06f0-\u06f9]+"
_HEADER_MAX = 64


def _header_fields(heads: pl.DataFrame, header_re: str, template: Template, arabic_digits: bool) -> pl.DataFrame:
    """Date parts p1..p3 (as written, ASCII digits), era flag, h, mi, s, mer and the rest of
    the line, for lines that start with a header. Uses match spans and digit runs instead of
    capture groups (far faster in Polars' regex engine)."""
    # A header is at most ~50 characters; its 5-6 digit runs come before any in the body.
    head = pl.col("raw").str.slice(0, _HEADER_MAX)
    nums = head.str.extract_all(DIGIT_RUN)
    if arabic_digits:
        nums = nums.list.eval(pl.element().str.replace_many(list(DIGIT_MAP), list(DIGIT_MAP.values())))
    heads = heads.with_columns(pl.col("raw").str.replace(header_re, "").alias("rest"), nums.alias("nums"))
    n = pl.col("nums").list
    if template.time_first:
        time_at, date_at = 0, 3 if template.seconds else 2
    else:
        date_at, time_at = 0, 3
    year = n.get(date_at + 2, null_on_oob=True)
    if template.era_letter:
        year = pl.concat_str([head.str.extract(rf"([MTSHR]){DIGIT_RUN}", 1).fill_null(""), year])
    if template.meridiem == "pre":
        mer = head.str.extract(MERIDIEM_IN_HEADER, 1)
    else:  # filled in below for the headers that carry one
        mer = pl.lit(None, pl.String)
    fields = [
        n.get(date_at, null_on_oob=True).alias("p1"),
        n.get(date_at + 1, null_on_oob=True).alias("p2"),
        year.alias("p3"),
        n.get(time_at, null_on_oob=True).alias("h"),
        n.get(time_at + 1, null_on_oob=True).alias("mi"),
        (n.get(time_at + 2, null_on_oob=True) if template.seconds else pl.lit(None, pl.String)).alias("s"),
        (head.str.contains(r"[0-9\u0660-\u0669\u06f0-\u06f9][\s\u00a0\u202f]?B\.?E\.?") if template.era
         else pl.lit(False)).alias("era"),
        mer.alias("mer"),
    ]
    heads = heads.with_columns(fields).drop("nums")
    if template.meridiem != "pre" and meridiem_optional(template):
        # Read from the header itself (a body may start with "am" or "PM"), and only on the
        # lines whose header has one (a DFA match first: extracting is the costly part).
        rows = heads.get_column("raw").str.contains(compile_template(template, meridiem_required=True)).arg_true()
        if rows.len():
            words = (heads.get_column("raw").gather(rows).str.extract(f"^({header_re.removeprefix('^')})", 1)
                     .str.extract(MERIDIEM_IN_HEADER, 1))
            heads = heads.with_columns(heads.get_column("mer").scatter(rows, words))
    return heads


def _classify(records: pl.DataFrame, continuation: pl.DataFrame, template: Template) -> pl.DataFrame:
    """Split author and body and decide kind, on header rows (one per message, columns raw,
    timestamp, rest); ``continuation`` holds the joined further lines ("more") of the
    messages that have some, by row number ("row")."""
    ios = template.bracket
    # Old Android exports (month-word headers) attribute group events to the exporting
    # user: "Ana: Ben joined", "Ana: Ben changed the subject to “…”".
    old_events = template is _NAMED_TEMPLATE
    n = records.height
    rest = pl.col("rest")
    lrm_start = rest.str.contains("^[\u200e\x0e]") if ios else pl.lit(False)
    # iOS puts an LRM before the "[" of lines with attached or omitted media.
    line_lrm = pl.col("raw").str.starts_with("\u200e") if ios else pl.lit(False)
    # One pass over every message for the common "Name: body" line, split at the first
    # ": " by byte offset (binary slices are views: nothing is copied). Two fail-fast
    # regexes flag the bodies that may be special (deleted, media, events, polls) or start
    # with an invisible mark; everything else is plain text as it stands.
    # (Shared parts are computed as columns first: Polars does not reuse them otherwise.)
    colon, body = pl.col("_colon"), pl.col("_body")
    cols = (
        records.lazy()
        .with_columns(rest.str.find(": ", literal=True).alias("_colon"))
        .with_columns(rest.cast(pl.Binary).bin.slice(colon + 2).cast(pl.String).alias("_body"))
        .select(
            "timestamp",
            rest.cast(pl.Binary).bin.head(colon).cast(pl.String).alias("author"),
            body.alias("text"),
            (
                colon.is_null()
                | lrm_start
                | line_lrm
                | body.str.contains(mk.MAYBE_SPECIAL_START)
                | body.str.contains(mk.MAYBE_SPECIAL_END)
                | body.is_in(mk.EXACT_BODIES)
                | (body.str.contains(mk.OLD_ANDROID_EVENT_RE) if old_events else pl.lit(False))
            ).alias("check"),
        )
        .collect()
    )
    timestamps, author, text = cols.get_column("timestamp"), cols.get_column("author"), cols.get_column("text")
    kind = pl.repeat("text", n, dtype=pl.String, eager=True)
    check_rows = cols.get_column("check").arg_true()
    del cols
    placeholder_rows = pl.Series([], dtype=pl.UInt32)
    if check_rows.len():
        # The flagged few, in detail:
        # - no ": " at all: "Name:" (empty body at the end of the line), "Name:." (disappearing
        #   placeholder), or an author-less event;
        # - iOS events without an author start right after the header with an LRM (or U+000E);
        # - then the detailed matchers for deleted / media / event / poll bodies.
        a0, b0 = pl.col("_a0"), pl.col("_b0")
        no_sep = b0.is_null()
        odd = no_sep | lrm_start
        placeholder, ends_colon = pl.col("placeholder"), pl.col("_ends_colon")
        fixed = (
            records[check_rows].lazy()
            .with_columns(rest.str.splitn(": ", 2).struct.rename_fields(["_a0", "_b0"]).struct.unnest())
            .with_columns(
                (no_sep & rest.str.ends_with(":.") & (rest.str.len_bytes() > 2) & ~lrm_start).alias("placeholder"),
                (no_sep & rest.str.ends_with(":") & (rest.str.len_bytes() > 1) & ~lrm_start).alias("_ends_colon"),
            )
            .select(
                "raw",
                pl.when(~odd).then(a0)
                .when(lrm_start).then(None)
                .when(placeholder).then(rest.str.strip_suffix(":."))
                .when(ends_colon).then(rest.str.strip_suffix(":"))
                .otherwise(None).alias("author"),
                pl.when(~odd).then(b0)
                .when(placeholder | ends_colon).then(pl.lit(""))
                .otherwise(rest).alias("body"),
                "placeholder",
            )
        )
        low = pl.col("_low")
        key = low.str.strip_chars_end(mk.END_MARKS)
        ios_event = (pl.col("body").str.contains(mk.INVISIBLE_START) & ~pl.col("raw").str.contains(mk.INVISIBLE_START)
                     if ios else pl.lit(False))
        # iOS media signal: an LRM before "[" and one inside the body, whatever the language.
        # (An LRM that only sets off a trailing "<This message was edited>" does not count.)
        ios_media = (pl.col("raw").str.starts_with("\u200e")
                     & pl.col("body").str.replace(mk.IOS_EDITED_RE, "").str.contains("\u200e", literal=True)
                     if ios else pl.lit(False))
        # Lookups first (whole lower-cased bodies): they settle the common markers; the
        # detailed regexes run only on what is left.
        fixed = fixed.with_columns(pl.col("body").str.strip_chars(_STRIP).str.to_lowercase().alias("_low")).select(
            "author",
            pl.col("body").str.strip_chars_start(_INVISIBLE_CHARS).alias("text"),
            pl.when(pl.col("author").is_null()).then(pl.lit("system"))
            .when(pl.col("placeholder") | key.is_in(mk.EXACT_DELETED)).then(pl.lit("deleted"))
            .when(ios_media | key.is_in(mk.EXACT_MEDIA)).then(pl.lit("media"))
            .when(key.is_in(mk.EXACT_SYSTEM)).then(pl.lit("system"))
            .otherwise(None).alias("kind"),
            "placeholder", "_low", ios_event.alias("_ios_event"),
        ).collect()
        kinds_now = fixed.get_column("kind")
        open_rows = kinds_now.is_null().arg_true()
        if open_rows.len():
            is_event = fixed.get_column("_ios_event").gather(open_rows)
            # iOS events (an LRM opens the body, none the line) are events unless they are a
            # deleted message with a name in it, a location, an attachment or a poll: small
            # checks instead of the whole tables (the export's many join/leave notices land here).
            events, others = open_rows.filter(is_event), open_rows.filter(~is_event)
            if events.len():
                kinds_now = kinds_now.scatter(events, fixed[events].select(
                    pl.when(low.str.contains(mk.DELETED_TEMPLATE_RE)).then(pl.lit("deleted"))
                    .when(low.str.contains(mk.IOS_EVENT_MEDIA_RE)).then(pl.lit("media"))
                    .when(low.str.contains(mk.POLL_RE)).then(pl.lit("text"))
                    .otherwise(pl.lit("system"))
                ).to_series())
            if others.len():
                kinds_now = kinds_now.scatter(others, fixed[others].select(
                    pl.when(low.str.contains(mk.DELETED_RE)).then(pl.lit("deleted"))
                    .when(low.str.contains(mk.MEDIA_RE)).then(pl.lit("media"))
                    .when(low.str.contains(mk.SYSTEM_RE)
                          | (low.str.contains(mk.OLD_ANDROID_EVENT_RE) if old_events else pl.lit(False)))
                    .then(pl.lit("system"))
                    .otherwise(pl.lit("text"))
                ).to_series())
            fixed = fixed.with_columns(kinds_now.alias("kind"))
        author = author.scatter(check_rows, fixed.get_column("author"))
        text = text.scatter(check_rows, fixed.get_column("text"))
        kind = kind.scatter(check_rows, fixed.get_column("kind"))
        placeholder_rows = check_rows.filter(fixed.get_column("placeholder"))
    del records

    # Few distinct authors: clean each once, then map (a regex over 1M rows is costly).
    authors = author.unique().drop_nulls()
    cleaned = (authors.str.replace_all(_INVISIBLES, "").str.strip_chars()
               .str.strip_prefix("~").str.strip_chars_start(" \u00a0\u202f"))
    if (authors == cleaned).all():  # the usual case: nothing to clean
        sender = author
    else:
        sender = author.replace_strict(authors, cleaned, default=None, return_dtype=pl.String)
    del author
    if continuation.height:
        rows = continuation.get_column("row")
        joined = pl.DataFrame({"first": text.gather(rows), "more": continuation.get_column("more")}).select(
            pl.concat_str(["first", "more"], separator="\n").str.strip_chars_end("\n")).to_series(0)
        text = text.scatter(rows, joined)
        # An Android venue share is three lines: name, address, map link.
        venue = rows.filter(continuation.get_column("more").str.contains(mk.VENUE_MORE_RE)
                            & kind.gather(rows).eq("text"))
        if venue.len():
            kind = kind.scatter(venue, "media")
    if placeholder_rows.len():  # the disappearing-message placeholder has no text at all
        text = text.scatter(placeholder_rows, "")
    # Event texts are WhatsApp's own words: drop the bidi marks iOS leaves inside them
    # ("... changed. \u200eTap to learn more.").
    system_rows = kind.eq("system").arg_true()
    if system_rows.len():
        text = text.scatter(system_rows, text.gather(system_rows).str.replace_all(_INVISIBLES, ""))
    # "<This message was edited>" can only end a body that ends with ">": edit those only.
    edited_rows = (text.str.ends_with(">") & kind.eq("text")).arg_true()
    if edited_rows.len():
        edited = text.gather(edited_rows).str.replace(mk.EDITED_RE, "")
        if ios:  # iOS sets the marker off with an LRM: any language
            edited = edited.str.replace(mk.IOS_EDITED_RE, "")
        text = text.scatter(edited_rows, edited)
    return pl.DataFrame({"timestamp": timestamps, "kind": kind, "sender0": sender, "text": text})


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
