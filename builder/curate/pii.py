"""PII redaction: e-mails, phone numbers, URLs, payment cards, IBANs and IP addresses
become typed placeholders (``<PHONE>``, or ``<PHONE_1>`` per distinct value when
``consistent``).

How a column is redacted (never a loop over rows):
1. a cheap Polars scan keeps the rows that can hold PII at all (``PREFILTER``);
2. one Polars regex (``pii_detect.CANDIDATE``) cuts those rows into candidates;
3. the national phone regions of each chat are inferred: the ``+CC`` numbers seen in that
   chat, then ``[pii] regions``, then the ``+CC`` numbers seen anywhere, then the machine's
   locale (``LANG=en_GB.UTF-8`` -> GB; a build pins it in the version's config with
   ``pin_locale`` so the same config redacts the same on any machine), and
   ``Scan.region_use`` says which lists were tried and where each region came from;
4. each distinct (regions, candidate) pair is validated once in Python
   (``pii_detect.find_spans``: libphonenumber, Luhn + IIN, IBAN registry + mod-97, the
   Public Suffix List, ``ipaddress``);
5. the rows that hold a confirmed candidate are split at the candidates' positions (the
   same regex, so the pieces are exactly the candidates found in *that* row) and only
   those pieces are replaced. A number found in one message is never cut out of another.

``redact_column`` is the entry point for builds; ``scan`` + ``samples`` serve
``clonekit pii-report`` and the TUI's Filter page."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import polars as pl

from builder.curate.pii_detect import (
    CANDIDATE,
    PREFILTER,
    TYPES,
    Span,
    card_ok,
    find_spans,
    iban_ok,
    luhn_ok,
    region_of,
)

__all__ = ["PLACEHOLDERS", "TYPES", "PiiOptions", "Sample", "Scan", "Span", "card_ok", "detections", "iban_ok",
           "locale_note", "locale_origin", "locale_region", "locale_setting", "luhn_ok", "options_from", "pin_locale",
           "redact_column", "region_use", "samples", "scan"]

PLACEHOLDERS = {"url": "<URL>", "email": "<EMAIL>", "iban": "<IBAN>", "card": "<CARD>", "phone": "<PHONE>", "ip": "<IP>"}
_SENTINELS = ("\x00", "\ufdd0", "\ufdd1", "\U0010fffe")


@dataclass(frozen=True)
class PiiOptions:
    """The ``[pii]`` settings that redaction reads."""

    regions: tuple[str, ...] = ()  # ISO 3166 alpha-2 codes for national phone numbers
    infer_regions: bool = True     # use the +CC numbers seen in a chat (then anywhere)
    locale_region: bool | str = True  # the machine's locale as the last resort; a code: that region, pinned
    consistent: bool = False       # <PHONE_1>, <PHONE_2>: one number per distinct value
    max_chat_regions: int = 3


def options_from(section) -> PiiOptions:
    """PiiOptions from a config's ``[pii]`` section (anything with those attributes)."""
    if section is None:
        return PiiOptions()
    return PiiOptions(regions=tuple(r.upper() for r in section.regions), infer_regions=section.infer_regions,
                      locale_region=section.locale_region, consistent=section.consistent)


def locale_setting(environ=os.environ) -> tuple[str | None, str]:
    """(region, the variable that decided it): ("GB", "LANG=en_GB.UTF-8") from LC_ALL /
    LC_MESSAGES / LANG; (None, "LANG=C.UTF-8") for C/POSIX, (None, "") when none is set."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(var, "")
        if value:
            lang = value.split(".")[0].split("@")[0]
            region = lang.split("_")[1].upper() if "_" in lang else ""
            return (region if len(region) == 2 and region.isalpha() else None), f"{var}={value}"
    return None, ""


def locale_region(environ=os.environ) -> str | None:
    """GB from LC_ALL / LC_MESSAGES / LANG like ``en_GB.UTF-8``; None for C/POSIX."""
    return locale_setting(environ)[0]


def _locale_of(opts: PiiOptions) -> str | None:
    if isinstance(opts.locale_region, str):
        return opts.locale_region.upper()  # pinned by an earlier build
    return locale_region() if opts.locale_region else None


def pin_locale(config):
    """``config`` (a BuildConfig) with ``[pii] locale_region`` resolved from this machine's
    locale to the region it gives (or false where it gives none), so the config recorded
    in a version's manifest redacts the same on any machine. Unchanged when the locale is
    not read (no phone redaction, or ``locale_region`` already false or a code)."""
    if not (config.clean.pii and "phone" in config.clean.pii_types and config.pii.locale_region is True):
        return config
    pinned = config.pii.model_copy(update={"locale_region": locale_region() or False})
    return config.model_copy(update={"pii": pinned})


def region_use(counts: Counter) -> list[dict]:
    """The region lists national numbers were read in (``Scan.region_use``, summed), for
    the manifest: one entry per distinct list, with each region's origin (chat, config,
    export or locale) and how many chats used it (chats holding a candidate; instruction
    records count as one), most used first."""
    return [{"regions": [r for r, _ in use], "from": [o for _, o in use], "chats": n}
            for use, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]


def locale_note(config, used: list[dict]) -> str | None:
    """The log line when the locale supplied a region that some chat's numbers were read in."""
    regions = sorted({r for u in used for r, o in zip(u["regions"], u["from"]) if o == "locale"})
    if not regions:
        return None
    return f"national phone numbers read as {', '.join(regions)} (from the locale {locale_origin(config)}); " \
           "set [pii] regions to pin it"


def locale_origin(config) -> str:
    """Where a "locale" region comes from: ``LANG=en_GB.UTF-8``, or the region a build
    pinned in ``[pii] locale_region`` when this machine's locale says otherwise."""
    region, setting = locale_setting()
    pinned = config.pii.locale_region
    if isinstance(pinned, str) and (pinned.upper() != region or not setting):
        return f"{pinned.upper()} pinned in [pii] locale_region"
    return setting


@dataclass
class Scan:
    """What a column holds: every candidate occurrence (``hits``: row, chat key, candidate,
    in row order) that is PII, and its replacement."""

    text: pl.Series            # the column, unchanged
    hits: pl.DataFrame         # _row, _key, _c (one line per PII-bearing candidate occurrence)
    found: pl.DataFrame        # _key, _c, _out, _kinds: the distinct confirmed candidates
    spans: dict                # (_key, _c) -> tuple[Span, ...]
    regions: dict              # _key -> tuple of regions tried
    sentinel: str
    # ((region, origin), ...) -> number of chats that tried that list; origin: "chat" (its
    # own +CC numbers), "config" ([pii] regions), "export" (+CC numbers anywhere), "locale"
    region_use: Counter = field(default_factory=Counter)

    def counts(self, types: Iterable[str]) -> dict[str, int]:
        if self.hits.is_empty():
            return {k: 0 for k in types}
        kinds = self.hits.join(self.found.select("_key", "_c", "_kinds"), on=["_key", "_c"]).explode("_kinds")
        got = dict(kinds.group_by("_kinds").agg(pl.len()).rows())
        return {k: int(got.get(k, 0)) for k in types}

    def pieces(self) -> pl.DataFrame:
        """The rows with PII cut at their candidates: _row, _pos, _piece, _out (null where
        the piece stays). Even positions are the text between candidates."""
        rows = self.hits.select("_row", "_key").unique("_row").sort("_row")
        s = self.sentinel
        return (
            rows.with_columns(_piece=self.text.gather(rows["_row"]).str.replace_all(CANDIDATE, f"{s}$0{s}").str.split(s))
            .explode("_piece")
            .with_columns(_pos=pl.int_range(pl.len(), dtype=pl.UInt32).over("_row"))
            .join(self.found.select("_key", "_c", "_out"), left_on=["_key", "_piece"], right_on=["_key", "_c"],
                  how="left", maintain_order="left")
            .with_columns(_out=pl.when(pl.col("_pos") % 2 == 1).then(pl.col("_out")))
        )


def _chat_regions(cands: pl.DataFrame, opts: PiiOptions, phones: bool) -> tuple[pl.DataFrame, dict, Counter]:
    """Each chat's key (its regions joined by ','), key -> regions, and how many chats
    tried each list with its regions' origins."""
    chats = cands.select("_chat").unique()
    seen = pl.DataFrame(schema={"_chat": pl.String, "_region": pl.String})
    if phones and opts.infer_regions:
        intl = cands.filter(pl.col("_c").str.contains("+", literal=True))
        distinct = intl["_c"].unique().to_list()
        # one libphonenumber parse per distinct +CC candidate, not per message
        table = pl.DataFrame({"_c": distinct, "_region": [region_of(c) for c in distinct]},
                             schema={"_c": pl.String, "_region": pl.String})
        seen = intl.join(table, on="_c").drop_nulls("_region").select("_chat", "_region")
    top = lambda df: df.group_by("_region").agg(pl.len()).sort(["len", "_region"], descending=[True, False])  # noqa: E731
    anywhere = tuple(top(seen)["_region"].head(opts.max_chat_regions).to_list())
    tail = [(r, "config") for r in opts.regions] + [(r, "export") for r in anywhere]
    loc = _locale_of(opts)
    if loc:
        tail.append((loc, "locale"))
    per_chat = (
        seen.group_by("_chat", "_region").agg(pl.len())
        .sort(["_chat", "len", "_region"], descending=[False, True, False])
        .group_by("_chat", maintain_order=True).agg(pl.col("_region").head(opts.max_chat_regions))
    )
    own = dict(per_chat.rows())
    keys, regions, use = [], {}, Counter()
    for chat in chats["_chat"].to_list():
        origin: dict[str, str] = {}
        for r, o in [(r, "chat") for r in own.get(chat, [])] + tail:
            origin.setdefault(r, o)  # a region counts where it first came from
        rs = tuple(origin)
        key = ",".join(rs)
        regions[key] = rs
        keys.append(key)
        use[tuple(origin.items())] += 1
    return chats.with_columns(_key=pl.Series(keys, dtype=pl.String)), regions, use


def _placeholder(kind: str, value: str, numbers: dict | None) -> str:
    if numbers is None:
        return PLACEHOLDERS[kind]
    return f"<{kind.upper()}_{numbers[(kind, value)]}>"


def _render(candidate: str, spans: tuple[Span, ...], numbers: dict | None) -> str:
    out, at = [], 0
    for s in spans:
        out += [candidate[at:s.start], _placeholder(s.kind, s.value, numbers)]
        at = s.end
    return "".join(out) + candidate[at:]


def scan(df: pl.DataFrame, column: str, types: Iterable[str], *, chat: str | None = "chat",
         options: PiiOptions | None = None) -> Scan:
    """Find the PII in ``df[column]`` (see the module docstring); ``chat`` names the column
    that groups messages into chats (ignored when ``df`` has none)."""
    opts = options or PiiOptions()
    wanted = frozenset(t for t in types if t in TYPES)
    text = df.get_column(column).cast(pl.String)
    sentinel = next(s for s in _SENTINELS if not text.str.contains(s, literal=True).any())
    has_chat = chat is not None and chat in df.columns
    cands = (
        pl.DataFrame({"_text": text})
        .lazy()
        .with_columns(_chat=df.get_column(chat).cast(pl.String).fill_null("") if has_chat else pl.lit(""))
        .with_row_index("_row")
        .filter(pl.col("_text").str.contains(PREFILTER))
        .select("_row", "_chat", _c=pl.col("_text").str.extract_all(CANDIDATE))
        .explode("_c")
        .drop_nulls("_c")
        .collect()
    )
    cands = cands.with_columns(pl.col("_row").cast(pl.UInt32))
    keys, regions, use = _chat_regions(cands, opts, "phone" in wanted)
    cands = cands.join(keys, on="_chat", maintain_order="left")
    pairs = cands.select("_key", "_c").unique(maintain_order=True)
    # Validation needs libphonenumber, Luhn and mod-97 arithmetic that no Polars expression
    # offers; it runs once per distinct (regions, candidate), not per message.
    spans = {(k, c): sp for k, c in pairs.iter_rows() if (sp := find_spans(c, regions[k], wanted))}
    hits = cands.join(pl.DataFrame(list(spans), schema={"_key": pl.String, "_c": pl.String}, orient="row"),
                      on=["_key", "_c"], maintain_order="left").select("_row", "_key", "_c")
    numbers = None
    if opts.consistent:
        values = [(s.kind, s.value) for k, c in hits.select("_key", "_c").iter_rows() for s in spans[(k, c)]]
        numbers, per_kind = {}, Counter()
        for kv in dict.fromkeys(values):  # first appearance order
            per_kind[kv[0]] += 1
            numbers[kv] = per_kind[kv[0]]
    found = pl.DataFrame(
        {"_key": [k for k, _ in spans], "_c": [c for _, c in spans],
         "_out": [_render(c, sp, numbers) for (_, c), sp in spans.items()],
         "_kinds": [[s.kind for s in sp] for sp in spans.values()]},
        schema={"_key": pl.String, "_c": pl.String, "_out": pl.String, "_kinds": pl.List(pl.String)},
    )
    return Scan(text=text, hits=hits, found=found, spans=spans, regions=regions, sentinel=sentinel,
                region_use=use if "phone" in wanted else Counter())


def redact_column(df: pl.DataFrame, column: str, types: list[str], *, chat: str | None = "chat",
                  options: PiiOptions | None = None, used: Counter | None = None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Replace PII in ``df[column]``; returns the new frame and counts per type. ``used``:
    a Counter that gets the scan's ``region_use`` added."""
    s = scan(df, column, types, chat=chat, options=options)
    if used is not None:
        used.update(s.region_use)
    counts = s.counts([t for t in TYPES if t in types])
    if s.hits.is_empty():
        return df, counts
    rebuilt = (
        s.pieces()
        .group_by("_row", maintain_order=True)
        .agg(pl.coalesce("_out", "_piece").str.join(""))
    )
    new = s.text.scatter(rebuilt["_row"], rebuilt["_out"])
    return df.with_columns(new.alias(column)), counts


def detections(s: Scan) -> pl.DataFrame:
    """Every redaction with its place: _row, start, end (characters into that row's text),
    kind, in row order."""
    schema = {"_key": pl.String, "_c": pl.String, "s": pl.Int64, "e": pl.Int64, "kind": pl.String}
    spans = pl.DataFrame([(k, c, sp.start, sp.end, sp.kind) for (k, c), sps in s.spans.items() for sp in sps],
                         schema=schema, orient="row")
    if s.hits.is_empty():
        return pl.DataFrame(schema={"_row": pl.UInt32, "start": pl.Int64, "end": pl.Int64, "kind": pl.String})
    return (
        s.pieces()
        .with_columns(_at=pl.col("_piece").str.len_chars().cast(pl.Int64).cum_sum().over("_row")
                      - pl.col("_piece").str.len_chars().cast(pl.Int64))
        .filter(pl.col("_out").is_not_null())
        .join(spans, left_on=["_key", "_piece"], right_on=["_key", "_c"], maintain_order="left")
        .select("_row", start=pl.col("_at") + pl.col("s"), end=pl.col("_at") + pl.col("e"), kind="kind")
    )


@dataclass(frozen=True)
class Sample:
    kind: str
    original: str      # the PII as written
    placeholder: str
    before: str        # the text just before it in that message
    after: str


def samples(s: Scan, per_type: int = 5, width: int = 40) -> list[Sample]:
    """Up to ``per_type`` redactions of each type with ``width`` characters of context,
    the earliest messages first."""
    if per_type <= 0:  # group_by().head(0) gives one null row per group, not none
        return []
    found = detections(s).group_by("kind", maintain_order=True).head(per_type)
    texts = s.text.gather(found["_row"]).to_list()
    by_kind: dict[str, list[Sample]] = {}
    for (row, a, b, kind), full in zip(found.select("_row", "start", "end", "kind").iter_rows(), texts):
        by_kind.setdefault(kind, []).append(
            Sample(kind, full[a:b], PLACEHOLDERS[kind], full[max(0, a - width):a], full[b:b + width]))
    return [x for kind in TYPES for x in by_kind.get(kind, [])]
