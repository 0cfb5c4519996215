"""Seeded train/val split, by conversation or by time (the newest fraction to val)."""

from __future__ import annotations

import numpy as np
import polars as pl


def n_val(n: int, fraction: float) -> int:
    if n < 2 or fraction <= 0:
        return 0
    return min(max(1, round(n * fraction)), n - 1)


def split(convs: pl.DataFrame, val_fraction: float, by: str = "conversation", seed: int = 0) -> pl.DataFrame:
    """Adds ``split`` ("train"|"val"). ``time`` puts the conversations that end last in
    val; conversations without a time (instruction data) are split at random."""
    convs = convs.sort("conv")
    if by == "time":
        timed = convs.filter(pl.col("end").is_not_null())
        untimed = convs.filter(pl.col("end").is_null())
        k = n_val(timed.height, val_fraction)
        newest = timed.sort(["end", "conv"], descending=True).head(k)["conv"]
        timed = timed.with_columns(
            split=pl.when(pl.col("conv").is_in(newest.implode())).then(pl.lit("val")).otherwise(pl.lit("train"))
        )
        return pl.concat([timed, split(untimed, val_fraction, "conversation", seed)]).sort("conv")
    k = n_val(convs.height, val_fraction)
    is_val = np.zeros(convs.height, dtype=bool)
    if k:
        is_val[np.random.default_rng(seed).permutation(convs.height)[:k]] = True
    return convs.with_columns(split=pl.Series(np.where(is_val, "val", "train")))
