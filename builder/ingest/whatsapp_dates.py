"""Dates and times of WhatsApp headers, decided once per file and computed column-wise.

``infer_order`` looks at every header of the file (not line by line) and decides which of
the three date parts is the year, the month and the day (CHAT_FORMATS.md §1.9):

1. the year: an era-marked part ("R4", "2565 BE"), else a part written with 3-4 digits, else
   a part above 31, else the last part;
2. of the other two, a part above 12 anywhere in the file is the day; when both parts
   exceed 12 somewhere (a file mixing orders) the first such line decides;
3. else the monotonic rule: within one year, the part that ever decreases between
   consecutive distinct dates is the day (months do not go backwards within a year);
4. else the part that changes more in total between consecutive dates is the day;
5. else day-first, with a warning when some date reads differently month-first.

``timestamp_exprs`` then builds the naive timestamp and a validity flag as expressions."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from builder.ingest.whatsapp_locale import PM_KEYS

# Japanese era offsets: year = offset + era year (Reiwa 1 = 2019).
ERA_OFFSETS = {"M": 1867, "T": 1911, "S": 1925, "H": 1988, "R": 2018}
BUDDHIST_OFFSET = 543  # Thai solar calendar: 2565 BE = 2022 CE


@dataclass(frozen=True)
class DateOrder:
    year: str  # column names "p1", "p2", "p3": the date parts in written order
    month: str
    day: str
    rule: str  # which rule decided, for tests and logs
    ambiguous: bool  # day-first was a guess that changes some dates


def part_values(col: str) -> pl.Expr:
    """A date part as an integer (era letter removed); null when not numeric."""
    return pl.col(col).str.strip_chars_start("MTSHR").cast(pl.Int32, strict=False)


def infer_order(parts: pl.DataFrame) -> DateOrder:
    """``parts`` has string columns p1, p2, p3 (ASCII digits, era letter kept) and a
    boolean column ``era`` (a "BE" marker), one row per header in file order."""
    cols = ["p1", "p2", "p3"]
    stats = parts.select(
        *[pl.col(c).str.contains(r"^[MTSHR]").any().alias(f"{c}_era") for c in cols],
        *[pl.col(c).str.len_chars().max().alias(f"{c}_len") for c in cols],
        *[part_values(c).max().alias(f"{c}_max") for c in cols],
        pl.col("era").any().alias("be"),
    ).row(0, named=True)

    year = None
    if stats["be"] or stats["p3_era"]:
        year, rule = "p3", "era"
    if year is None:
        for c in ("p1", "p3", "p2"):
            if (stats[f"{c}_len"] or 0) >= 3:
                year, rule = c, "four-digit year"
                break
    if year is None:
        for c in ("p1", "p3", "p2"):
            if (stats[f"{c}_max"] or 0) > 31:
                year, rule = c, "year above 31"
                break
    if year is None:
        year, rule = "p3", "year last by default"
    a, b = [c for c in cols if c != year]

    va, vb = part_values(a), part_values(b)
    over = parts.with_row_index("i").select(
        (va > 12).sum().alias("na"),
        (vb > 12).sum().alias("nb"),
        pl.col("i").filter(va > 12).min().alias("fa"),
        pl.col("i").filter(vb > 12).min().alias("fb"),
    ).row(0, named=True)
    if over["na"] and not over["nb"]:
        return DateOrder(year, month=b, day=a, rule="day above 12", ambiguous=False)
    if over["nb"] and not over["na"]:
        return DateOrder(year, month=a, day=b, rule="day above 12", ambiguous=False)
    if over["na"] and over["nb"]:
        if over["fa"] < over["fb"]:
            return DateOrder(year, month=b, day=a, rule="first day above 12", ambiguous=False)
        return DateOrder(year, month=a, day=b, rule="first day above 12", ambiguous=False)

    # Distinct consecutive dates, in file order.
    dates = (
        parts.select(part_values(year).alias("y"), va.alias("a"), vb.alias("b"))
        .filter(
            (pl.col("y") != pl.col("y").shift())
            | (pl.col("a") != pl.col("a").shift())
            | (pl.col("b") != pl.col("b").shift())
            | pl.int_range(pl.len()).eq(0)
        )
        .with_columns(same_year=pl.col("y") == pl.col("y").shift())
    )
    trend = dates.select(
        ((pl.col("a") < pl.col("a").shift()) & pl.col("same_year")).any().alias("a_dec"),
        ((pl.col("b") < pl.col("b").shift()) & pl.col("same_year")).any().alias("b_dec"),
        (pl.col("a") - pl.col("a").shift()).abs().sum().alias("a_change"),
        (pl.col("b") - pl.col("b").shift()).abs().sum().alias("b_change"),
        (pl.col("a") != pl.col("b")).any().alias("differ"),
    ).row(0, named=True)
    if trend["a_dec"] and not trend["b_dec"]:
        return DateOrder(year, month=b, day=a, rule="decreasing day", ambiguous=False)
    if trend["b_dec"] and not trend["a_dec"]:
        return DateOrder(year, month=a, day=b, rule="decreasing day", ambiguous=False)
    if (trend["a_change"] or 0) > (trend["b_change"] or 0):
        return DateOrder(year, month=b, day=a, rule="day changes more", ambiguous=False)
    if (trend["b_change"] or 0) > (trend["a_change"] or 0):
        return DateOrder(year, month=a, day=b, rule="day changes more", ambiguous=False)
    return DateOrder(year, month=b, day=a, rule="day first by default", ambiguous=bool(trend["differ"]))


def year_expr(col: str) -> pl.Expr:
    """Gregorian year from a written year part: "22" -> 2022, "R4" -> 2022, "2565" -> 2022."""
    raw = pl.col(col)
    digits = raw.str.strip_chars_start("MTSHR")
    value = digits.cast(pl.Int32, strict=False)
    era = raw.str.slice(0, 1)
    expr = pl.when(digits.str.len_chars() <= 2).then(value + 2000).otherwise(value)
    for letter, offset in ERA_OFFSETS.items():
        expr = pl.when(era == letter).then(value + offset).otherwise(expr)
    # Buddhist years: marked "BE", or simply far in the future (Thai Android writes 2565).
    expr = pl.when(pl.col("era") | (expr >= 2400)).then(expr - BUDDHIST_OFFSET).otherwise(expr)
    return expr


def timestamp_exprs(order: DateOrder) -> tuple[pl.Expr, pl.Expr]:
    """(timestamp, valid) for header rows with columns p1..p3, era, h, mi, s, mer.
    ``valid`` is false for impossible dates or times (24:35, 10:60, 31/02); those rows keep
    a placeholder timestamp and must not start messages."""
    y = year_expr(order.year)
    mo = part_values(order.month)
    d = part_values(order.day)
    h = pl.col("h").cast(pl.Int32, strict=False)
    mi = pl.col("mi").cast(pl.Int32, strict=False)
    s = pl.col("s").cast(pl.Int32, strict=False).fill_null(0)
    mer_key = pl.col("mer").str.to_lowercase().str.replace_all(r"[\s.\u00a0\u202f]", "")
    pm = mer_key.is_in(list(PM_KEYS)).fill_null(False)
    am = pl.col("mer").is_not_null() & ~pm
    # 12 AM is midnight; PM adds 12 only below 12 ("13:37 p.m." stays 13:37).
    hour = pl.when(am & (h == 12)).then(0).when(pm & (h < 12)).then(h + 12).otherwise(h)
    month_ok = mo.is_between(1, 12)
    first = pl.date(y.clip(1, 9999), mo.clip(1, 12), 1)
    month_len = first.dt.month_end().dt.day().cast(pl.Int32)
    valid = (
        month_ok
        & d.is_between(1, 31)
        & (d <= month_len)
        & h.is_between(0, 23)
        & mi.is_between(0, 59)
        & s.is_between(0, 59)
        & y.is_between(1, 9999)
    ).fill_null(False)
    ts = first.cast(pl.Datetime("us")) + pl.duration(
        days=d.clip(1, 31) - 1, hours=hour.clip(0, 23), minutes=mi.clip(0, 59), seconds=s.clip(0, 59)
    )
    return ts, valid
