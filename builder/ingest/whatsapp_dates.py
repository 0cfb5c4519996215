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

``add_timestamps`` then computes the naive timestamps and a validity flag with integer
column arithmetic (days from civil date, H. Hinnant's algorithm)."""

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


def with_part_values(parts: pl.DataFrame) -> pl.DataFrame:
    """Add integer columns v1..v3 for the written date parts p1..p3 (computed once: eager
    Polars does not share repeated sub-expressions, so every step below uses columns)."""
    return parts.with_columns(part_values(f"p{i}").alias(f"v{i}") for i in (1, 2, 3))


def infer_order(parts: pl.DataFrame) -> DateOrder:
    """``parts`` has string columns p1, p2, p3 (ASCII digits, era letter kept), their
    integer values v1..v3 (``with_part_values``) and a boolean column ``era`` (a "BE"
    marker), one row per header in file order."""
    cols = ["p1", "p2", "p3"]
    val = {"p1": "v1", "p2": "v2", "p3": "v3"}
    stats = parts.select(
        pl.col("p3").str.contains(r"^[MTSHR]").any().alias("p3_era"),
        *[pl.col(c).str.len_bytes().max().alias(f"{c}_len") for c in cols],
        *[pl.col(val[c]).max().alias(f"{c}_max") for c in cols],
        pl.col("era").any().alias("be"),
    ).row(0, named=True)

    year = None
    if stats["be"] or stats["p3_era"]:
        year = "p3"
    if year is None:
        for c in ("p1", "p3", "p2"):
            if (stats[f"{c}_len"] or 0) >= 3:
                year = c
                break
    if year is None:
        for c in ("p1", "p3", "p2"):
            if (stats[f"{c}_max"] or 0) > 31:
                year = c
                break
    if year is None:
        year = "p3"
    a, b = [c for c in cols if c != year]

    day_is_first, rule, ambiguous = day_month_order(
        parts.select(pl.col(val[year]).alias("y"), pl.col(val[a]).alias("a"), pl.col(val[b]).alias("b")))
    if day_is_first:
        return DateOrder(year, month=b, day=a, rule=rule, ambiguous=ambiguous)
    return DateOrder(year, month=a, day=b, rule=rule, ambiguous=ambiguous)


def day_month_order(parts: pl.DataFrame) -> tuple[bool, str, bool]:
    """Rules 2-5 on integer columns y, a, b (year and the two other date parts in written
    order, one row per header in file order). Returns (a is the day, rule, ambiguous)."""
    va, vb = pl.col("a"), pl.col("b")
    over = parts.with_row_index("i").select(
        (va > 12).sum().alias("na"),
        (vb > 12).sum().alias("nb"),
        pl.col("i").filter(va > 12).min().alias("fa"),
        pl.col("i").filter(vb > 12).min().alias("fb"),
    ).row(0, named=True)
    if over["na"] and not over["nb"]:
        return True, "day above 12", False
    if over["nb"] and not over["na"]:
        return False, "day above 12", False
    if over["na"] and over["nb"]:
        return over["fa"] < over["fb"], "first day above 12", False

    # Distinct consecutive dates, in file order.
    dates = (
        parts.select("y", "a", "b")
        .drop_nulls()
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
        return True, "decreasing day", False
    if trend["b_dec"] and not trend["a_dec"]:
        return False, "decreasing day", False
    if (trend["a_change"] or 0) > (trend["b_change"] or 0):
        return True, "day changes more", False
    if (trend["b_change"] or 0) > (trend["a_change"] or 0):
        return False, "day changes more", False
    return True, "day first by default", bool(trend["differ"])


def add_timestamps(heads: pl.DataFrame, order: DateOrder, era_letters: bool) -> pl.DataFrame:
    """Add ``timestamp`` (naive Datetime) and ``valid`` to header rows with columns p1..p3,
    v1..v3, era, h, mi, s, mer. ``valid`` is false for impossible dates or times (24:35,
    10:60, 31/02); such rows keep a placeholder timestamp and must not start messages.
    Computed in stages of plain integer columns."""
    val = {"p1": "v1", "p2": "v2", "p3": "v3"}
    yv = pl.col(val[order.year]).cast(pl.Int64)
    year = pl.when(pl.col(order.year).str.len_bytes() <= 2).then(yv + 2000).otherwise(yv)
    if era_letters:
        letter = pl.col(order.year).str.slice(0, 1)
        for ch, offset in ERA_OFFSETS.items():
            year = pl.when(letter == ch).then(yv + offset).otherwise(year)
    # Few distinct meridiem spellings: classify each once, then map.
    spellings = heads["mer"].drop_nulls().unique()
    is_pm = spellings.str.to_lowercase().str.replace_all(r"[\s.\u00a0\u202f]", "").is_in(list(PM_KEYS))
    out = heads.with_columns(
        year.alias("_y"),
        pl.col(val[order.month]).cast(pl.Int64).alias("_m"),
        pl.col(val[order.day]).cast(pl.Int64).alias("_d"),
        pl.col("h").cast(pl.Int64, strict=False).alias("_h"),
        pl.col("mi").cast(pl.Int64, strict=False).alias("_mi"),
        pl.col("s").cast(pl.Int64, strict=False).fill_null(0).alias("_s"),
        pl.col("mer").replace_strict(spellings, is_pm, default=False, return_dtype=pl.Boolean).alias("_pm"),
        pl.col("mer").is_not_null().alias("_mer"),
    )
    # Buddhist years: marked "BE", or simply far in the future (Thai Android writes 2565).
    y, m, d, h = pl.col("_y"), pl.col("_m"), pl.col("_d"), pl.col("_h")
    out = out.with_columns(
        pl.when(pl.col("era") | (y >= 2400)).then(y - BUDDHIST_OFFSET).otherwise(y).alias("_y"),
        # 12 AM is midnight; PM adds 12 only below 12 ("13:37 p.m." stays 13:37).
        pl.when(pl.col("_mer") & ~pl.col("_pm") & (h == 12)).then(0)
        .when(pl.col("_pm") & (h < 12)).then(h + 12).otherwise(h).alias("_hour"),
    )
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_len = pl.when(m == 2).then(28 + leap.cast(pl.Int64)).when(m.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    out = out.with_columns(
        (m.is_between(1, 12) & (d >= 1) & (d <= month_len) & h.is_between(0, 23)
         & pl.col("_mi").is_between(0, 59) & pl.col("_s").is_between(0, 59) & y.is_between(1, 9999))
        .fill_null(False).alias("valid"),
        (y - (m <= 2).cast(pl.Int64)).alias("_yy"),
        ((153 * ((m.clip(1, 12) + 9) % 12) + 2) // 5 + d - 1).alias("_doy"),
    )
    yy = pl.col("_yy")
    out = out.with_columns((yy // 400).alias("_era"), (yy - (yy // 400) * 400).alias("_yoe"))
    yoe = pl.col("_yoe")
    days = pl.col("_era") * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + pl.col("_doy") - 719468
    micros = (((days * 24 + pl.col("_hour")) * 60 + pl.col("_mi")) * 60 + pl.col("_s")) * 1_000_000
    out = out.with_columns(micros.cast(pl.Datetime("us")).alias("timestamp"))
    return out.drop("_y", "_m", "_d", "_h", "_mi", "_s", "_pm", "_mer", "_hour", "_yy", "_doy", "_era", "_yoe")
