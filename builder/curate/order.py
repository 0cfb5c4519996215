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
    if is_sorted_by(df, major, minor):
        return df
    # Rows already in minor order (a row index, a position) only need a stable sort on
    # the major key: a third of the cost of the two-key sort.
    minor_rising = df.select((pl.col(minor).diff().slice(1) > 0).all(ignore_nulls=False)).item()
    return df.sort(major, maintain_order=True) if minor_rising else df.sort([major, minor])
