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
    """``df`` in (major, minor) order. Rows that already come in runs of one major key
    each (one chat per export file), with minor rising within each run, are put in order
    by reordering the runs: slices, no row is copied."""
    if is_sorted_by(df, major, minor):
        return df
    a, b = pl.col(major), pl.col(minor)
    new_run = (a != a.shift(1)).fill_null(True) | a.is_null()
    rising, runs, keys = df.select(
        (new_run | (b > b.shift(1))).all(ignore_nulls=False).alias("rising"),
        new_run.sum().alias("runs"),
        a.n_unique().alias("keys"),
    ).row(0)
    if not (rising and runs == keys):
        return df.sort([major, minor])
    starts = df.select(pl.int_range(pl.len()).filter(new_run)).to_series().to_list()
    ends = starts[1:] + [df.height]
    order = df.get_column(major).filter(df.select(new_run).to_series()).arg_sort(nulls_last=False).to_list()
    return pl.concat([df.slice(starts[i], ends[i] - starts[i]) for i in order], rechunk=False)
