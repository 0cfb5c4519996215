"""Fast path for the commonest headers: plain ASCII, 24-hour or English 12-hour, no era,
date first ("23/03/2022, 13:31 - ", "[3/18/22, 14:56:01] ", "2019-04-26 15:25 - ",
"1/21/19, 8:05\u202fPM - ").

For such files the header ends at the first " - " (Android) or "]" (iOS), and Polars'
strptime (chrono, very fast) parses it with a format string built from the template.
Day/month order is still decided from the whole file: every header is parsed day-first
(and month-first where that fails), and the parsed parts feed the same rules as the
general path (whatsapp_dates.day_month_order).

Rows that neither format parses (an impossible time such as 24:35, "0:05 AM" or "13:37 PM"
which chrono's %I refuses, or a stray invisible mark inside one header) are handed back to the general path, which validates and reports
them. So the fast path changes speed, never results."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from builder.ingest.whatsapp_dates import DateOrder, day_month_order
from builder.ingest.whatsapp_header import Template, line_template

_INVISIBLE_CHARS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\x0e\u061c"


@dataclass(frozen=True)
class FastPlan:
    end: str  # literal that ends the header: " - " or "]"
    year_first: bool
    formats: tuple[str, str]  # (day before month, month before day) strptime formats
    ascii: bool = True  # every sampled header is ASCII (an NNBSP before "PM" is not)


_PROBE_ROWS = 2_000  # headers read both ways to choose the reading tried first

# English 12-hour headers: "8:05 PM", "8:05\u202fpm", "8:05PM" (chrono's %p reads AM/PM in
# any case, and a format space matches any Unicode space or none). Localized meridiems
# ("p. m.", "nachm.") keep to the general path.
_ENGLISH_MERIDIEM = re.compile(r"\d[ \u00a0\u202f]?[AaPp][Mm]$")


def plan(template: Template, sample: list[str]) -> FastPlan | None:
    """A FastPlan when the template and every sampled header allow the fast path."""
    t = template
    if t.time_first or t.meridiem not in ("", "post") or t.era or t.era_letter or t.end not in ("-", "]"):
        return None
    end = " - " if t.end == "-" else "]"
    if end.strip() in t.join or (t.end == "-" and t.date_sep == "-" and " " in t.join and "-" in t.join):
        return None
    year_lens: set[int] = set()
    year_first = None
    ascii_only = True
    for line in sample:
        if line_template(line) != t:
            continue
        line = line.rstrip("\r")
        head = line.lstrip(_INVISIBLE_CHARS).split(end, 1)[0]
        if t.meridiem:
            if not _ENGLISH_MERIDIEM.search(head.rstrip()):
                return None
            ascii_only = ascii_only and head.isascii()
            head = head.replace("\u202f", " ").replace("\u00a0", " ")
        if not head.isascii():
            return None
        parts = re.split(r"\D+", head.lstrip("[").strip())
        if len(parts) < 5 or len(parts[1]) >= 3:  # a year in the middle: general path
            return None
        first_is_year = len(parts[0]) >= 3
        if year_first is None:
            year_first = first_is_year
        elif year_first != first_is_year:
            return None
        year_lens.add(len(parts[0] if first_is_year else parts[2]))
    if year_first is None or len(year_lens) != 1:
        return None
    y = "%Y" if year_lens.pop() >= 3 else "%y"
    sep = t.date_sep.replace("%", "%%") + (" " if t.date_space else "")
    tail = ("." if t.date_dot else "") + t.join.replace("%", "%%")
    hour = "%I" if t.meridiem else "%H"
    tail += f"{hour}{t.time_sep}%M" + (f"{t.time_sep}%S" if t.seconds else "") + ("." if t.time_dot else "")
    tail += " %p" if t.meridiem else ""
    if year_first:
        formats = (f"{y}{sep}%d{sep}%m{tail}", f"{y}{sep}%m{sep}%d{tail}")
    else:
        formats = (f"%d{sep}%m{sep}{y}{tail}", f"%m{sep}%d{sep}{y}{tail}")
    return FastPlan(end=end, year_first=bool(year_first), formats=formats, ascii=ascii_only)


def header_times(heads: pl.DataFrame, p: FastPlan) -> tuple[pl.DataFrame, DateOrder, bool]:
    """Add ``timestamp``, ``valid`` (parsed by the fast path) and ``rest`` to header rows;
    return them with the day/month order and whether that order was a guess."""
    # Cut each line at the byte offset of its header's end. Most exports pad their dates,
    # so every header has the same length and literal offsets apply (views, no copies);
    # otherwise binary slices at per-row offsets (byte-exact, slower).
    # Lines with an invisible mark before the header (iOS media lines) keep it in the
    # header part; that header then fails to parse and the general path redoes the line.
    offsets = heads.select(pl.col("raw").str.find(p.end, literal=True)).to_series()
    lo, hi = offsets.min(), offsets.max()
    skip = 1 if p.end == "]" else len(p.end)
    if lo is not None and lo == hi and p.ascii:
        # Character offsets: a line with a multi-byte character before its header end
        # gets a header that does not parse and goes to the general path too.
        header = pl.col("raw").str.head(lo)
        rest = pl.col("raw").str.slice(lo + skip)
    else:
        raw = pl.col("raw").cast(pl.Binary)
        header = raw.bin.head(offsets).cast(pl.String)
        rest = raw.bin.slice(offsets + skip).cast(pl.String)
    if p.end == "]":
        header = header.str.strip_prefix("[")
        rest = rest.str.strip_prefix(" ")
    heads = heads.with_columns(header.alias("_h"), rest.alias("rest"))
    hdr = heads.get_column("_h")
    if (hdr.str.starts_with(" ") | hdr.str.ends_with(" ")).any():  # "[ 18/03/2022, ...": rare, and a copy
        hdr = hdr.str.strip_chars(" ")
    # Every header is read in the order that suits a sample of the headers best (formats[0]
    # day before month, formats[1] month before day); only the rows that fail are read the
    # other way too. A date valid both ways has the same written parts either way.
    def read(k: int, values: pl.Series) -> pl.Series:
        return values.str.to_datetime(p.formats[k], strict=False, time_unit="us", cache=False)

    probe = hdr.gather_every(max(1, hdr.len() // _PROBE_ROWS))  # spread over the file
    k = 0 if read(0, probe).null_count() <= read(1, probe).null_count() else 1
    main = read(k, hdr)

    def written(d: pl.Series, k: int) -> tuple[pl.Series, pl.Series]:  # (first part, second part)
        return (d.dt.day(), d.dt.month()) if k == 0 else (d.dt.month(), d.dt.day())

    # The order rules only look at which values occur, where first, and at the sequence of
    # distinct consecutive dates: one row per run of equal dates is enough (rows that did
    # not parse are all kept; their parts come from the other reading).
    day = main.dt.date()
    keep = (day.ne_missing(day.shift(1)) | day.is_null()).arg_true()
    kept = main.gather(keep)
    a, b = written(kept, k)
    y = kept.dt.year()
    missing = kept.is_null().arg_true()
    if missing.len():
        alt = read(1 - k, hdr.gather(keep.gather(missing)))
        alt_a, alt_b = written(alt, 1 - k)
        y, a, b = y.scatter(missing, alt.dt.year()), a.scatter(missing, alt_a), b.scatter(missing, alt_b)
    a_is_day, rule, ambiguous = day_month_order(pl.DataFrame({"y": y, "a": a, "b": b}))
    want = 0 if a_is_day else 1
    ts = main if want == k else read(want, hdr)
    heads = heads.drop("_h").with_columns(ts.alias("timestamp"), ts.is_not_null().alias("valid"))
    year, first_part, second_part = ("p1", "p2", "p3") if p.year_first else ("p3", "p1", "p2")
    order = (DateOrder(year, month=second_part, day=first_part, rule=rule, ambiguous=ambiguous) if a_is_day
             else DateOrder(year, month=first_part, day=second_part, rule=rule, ambiguous=ambiguous))
    return heads, order, ambiguous
