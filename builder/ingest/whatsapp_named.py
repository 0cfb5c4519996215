"""WhatsApp headers that write the month as a word, seen in old Android exports:

    19:23, 28 Aug 2013 - Name: text        (time first)
    28 Aug 2013, 19:23 - Name: text
    Mar 5, 8:11 PM - Name: text            (no year)
    18 Mar 12:14 - Name: text              (no year)

Detection runs on the same line sample as whatsapp_header.py and picks the most frequent
shape (field order, year or not). Timestamps are computed column-wise with Polars.

Exports without a year: the year of each message is counted back from the year of the
last one. Within the file, a date that falls more than half a year before the previous
one starts a new year (exports are nearly chronological: the odd out-of-order line moves
by minutes or days, not months). The last message's year is ``--year-end`` when given,
else the year of the file's date (its mtime, or its zip entry's date) - the previous year
if the last message's day comes after that date - and a warning says so. With neither (or
a file date before WhatsApp existed, such as a zip's default 1980-01-01), the file is
refused with one line asking for ``--year-end``: a year is never invented."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from builder.errors import ParseError
from builder.ingest.whatsapp_dates import DateOrder, add_timestamps
from builder.ingest.whatsapp_header import normalize

# Month words (lower case, without a final dot) of the languages whose Android exports used
# them: English, German, Spanish, French, Italian, Portuguese, Dutch.
MONTHS: dict[str, int] = {}
for _number, _words in enumerate([
    "jan january januar janv janvier ene enero gen gennaio janeiro januari jän",
    "feb february februar févr février febrero febbraio fev fevereiro februari",
    "mar march märz mär mrz mars marzo março mrt maart",
    "apr april avr avril abr abril aprile",
    "may mai mayo mag maggio maio mei",
    "jun june juni juin junio giu giugno junho",
    "jul july juli juil juillet julio lug luglio julho",
    "aug august août ago agosto augustus",
    "sep sept september septembre septiembre set settembre setembro",
    "oct october okt oktober octobre octubre ott ottobre out outubro",
    "nov november novembre noviembre novembro",
    "dec december dez dezember déc décembre dic diciembre dicembre dezembro",
], start=1):
    for _w in _words.split():
        MONTHS[_w] = _number

FIRST_YEAR = 2009  # WhatsApp's first release: a file dated earlier has a wrong date

_MON_PY = r"(?P<mon>[^\W\d_]{3,10})\.?"
_TIME_PY = (r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?"
            r"(?: ?(?P<mer>[AaPp]\.? ?[Mm]\.?))?")
_DM_PY = rf"(?P<day>\d{{1,2}})\.? {_MON_PY}"
_MD_PY = rf"{_MON_PY} (?P<day>\d{{1,2}})"
_YEAR_PY = r"(?P<year>\d{4})"


def _shapes() -> dict[tuple[bool, str, bool], re.Pattern]:
    out = {}
    for time_first in (True, False):
        for order, d in (("dm", _DM_PY), ("md", _MD_PY)):
            for year in (True, False):
                dpart = d + (rf",? {_YEAR_PY}" if year else "")
                body = rf"{_TIME_PY},? {dpart}" if time_first else rf"{dpart},? {_TIME_PY}"
                out[(time_first, order, year)] = re.compile(rf"^{body} - ")
    return out


_SHAPES = _shapes()


@dataclass(frozen=True)
class NamedShape:
    time_first: bool
    order: str  # "dm" (28 Aug) or "md" (Aug 28)
    year: bool


def shape_of(line: str) -> NamedShape | None:
    """The named-month shape of one normalized line, or None."""
    if not line[:1].isalnum():
        return None
    for (time_first, order, year), pattern in _SHAPES.items():
        m = pattern.match(line)
        if m and m.group("mon").lower() in MONTHS:
            return NamedShape(time_first, order, year)
    return None


def detect(lines: list[str]) -> tuple[NamedShape | None, int]:
    counts: Counter[NamedShape] = Counter()
    for line in lines:
        s = shape_of(normalize(line.rstrip("\r")))
        if s is not None:
            counts[s] += 1
    if not counts:
        return None, 0
    return counts.most_common(1)[0]


# --- the Polars side -----------------------------------------------------------------------
_SP = r"[ \u00a0\u202f]"
_I = "[\u200e\u200f\ufeff]*"


def header_regex(s: NamedShape) -> str:
    """One regex (Rust syntax, named groups) matching the header at the start of a line."""
    mon = r"(?P<mon>\p{L}{3,10})\.?"
    time = (rf"(?P<h>\d{{1,2}})[:.](?P<mi>\d{{2}})(?:[:.](?P<s>\d{{2}}))?"
            rf"(?:{_SP}?(?P<mer>[AaPp]\.?{_SP}?[Mm]\.?))?")
    d = rf"(?P<day>\d{{1,2}})\.?{_SP}{mon}" if s.order == "dm" else rf"{mon}{_SP}(?P<day>\d{{1,2}})"
    if s.year:
        d += rf",?{_SP}(?P<year>\d{{4}})"
    body = rf"{time},?{_SP}{d}" if s.time_first else rf"{d},?{_SP}{time}"
    return rf"^{_I}{body}{_SP}+-(?:{_SP}|$)"


def without_groups(regex: str) -> str:
    return re.sub(r"\(\?P<\w+>", "(?:", regex)


def header_times(heads: pl.DataFrame, s: NamedShape, name: str, modified: datetime | None,
                 year_end: int | None, warn) -> pl.DataFrame:
    """Add ``timestamp``, ``valid`` and ``rest`` to header rows (columns line, raw)."""
    regex = header_regex(s)
    months = pl.DataFrame({"word": list(MONTHS), "number": list(MONTHS.values())})
    fields = heads.with_columns(
        pl.col("raw").str.extract_groups(regex).alias("_g"),
        pl.col("raw").str.replace(regex, "").alias("rest"),
    ).unnest("_g")
    fields = fields.with_columns(
        pl.col("mon").str.to_lowercase().str.strip_chars_end(".")
        .replace_strict(months["word"], months["number"], default=None, return_dtype=pl.Int32).alias("_month"),
        pl.col("day").cast(pl.Int32).alias("_day"),
    )
    if s.year:
        year = pl.col("year").cast(pl.Int32)
    else:
        year = _inferred_years(fields, name, modified, year_end, warn)
    parts = fields.with_columns(year.alias("v1")).select(
        "line", "raw", "rest",
        pl.col("v1").cast(pl.String).alias("p1"), pl.col("_month").cast(pl.String).alias("p2"),
        pl.col("_day").cast(pl.String).alias("p3"),
        "v1", pl.col("_month").alias("v2"), pl.col("_day").alias("v3"),
        pl.lit(False).alias("era"), "h", "mi", "s", "mer",
    )
    order = DateOrder("p1", month="p2", day="p3", rule="month written as a word", ambiguous=False)
    return add_timestamps(parts, order, era_letters=False)


def _inferred_years(fields: pl.DataFrame, name: str, modified: datetime | None, year_end: int | None,
                    warn) -> pl.Series:
    """The year of every header of an export that writes none (see the module docstring)."""
    doy = (pl.col("_month") - 1) * 31 + pl.col("_day")  # order within a year is all that matters
    rolls = fields.select(
        ((doy.shift(1) - doy) > 186).fill_null(False).cast(pl.Int32).cum_sum().alias("n")
    ).to_series()
    total = int(rolls[-1]) if rolls.len() else 0
    if year_end is None:
        if modified is None:
            raise ParseError(name, "the message dates have no year and the file's date is unknown",
                             hint="pass --year-end YYYY, the year of the last message")
        if modified.year < FIRST_YEAR:  # a zip entry's default 1980-01-01, a reset clock
            raise ParseError(name, f"the message dates have no year and the file's date "
                             f"({modified.date().isoformat()}) is older than WhatsApp",
                             hint="pass --year-end YYYY, the year of the last message")
        last = fields.select(pl.col("_month").last(), pl.col("_day").last()).row(0)
        file_day = modified.date() if isinstance(modified, datetime) else modified
        after = last[0] is not None and (last[0], last[1] or 0) > (file_day.month, file_day.day)
        year_end = file_day.year - (1 if after else 0)
        warn(f"{name}: the dates have no year; counted back from the file's date "
             f"({file_day.isoformat()}): the last message is in {year_end}"
             + (f", the first in {year_end - total}" if total else "")
             + "; pass --year-end YYYY if that is wrong")
    return (year_end - total + rolls).cast(pl.Int32).alias("v1")


__all__ = ["MONTHS", "NamedShape", "detect", "header_regex", "header_times", "shape_of", "without_groups"]
