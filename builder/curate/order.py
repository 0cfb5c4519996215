"""Skip sorts that would not move a row: a multi-column sort always gathers every
column (all message texts), while checking the order is one pass over two key columns."""

from __future__ import annotations

import polars as pl


def is_sorted_by(df: pl.DataFrame, major: str, minor: str) -> bool:
    """True when rows are in ascending (major, minor) order with no equal keys; null keys
    count as unsorted."""
    if df.height < 2:
        return True
    a, b = pl.col(major), pl.col(minor)
    ok = (a > a.shift(1)) | ((a == a.shift(1)) & (b > b.shift(1)))
    return bool(df.select(ok.slice(1).all(ignore_nulls=False)).item())


def sort_by(df: pl.DataFrame, major: str, minor: str) -> pl.DataFrame:
    return df if is_sorted_by(df, major, minor) else df.sort([major, minor])
