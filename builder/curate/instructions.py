"""Instruction data (INSTRUCTION_SCHEMA: Alpaca, Q&A, ShareGPT, OpenAI records) in the
turns/convs shape of builder.curate.sessions, so it goes through the same clean, split
and write steps (no sessions, persona or per-contact balancing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from builder.curate.sessions import CONV_COLUMNS

if TYPE_CHECKING:
    from builder.tokens import TokenCounter

CONTACT = "instructions"
ROLE_TAG = "instruction"


def instruction_turns(records: pl.DataFrame, counter: "TokenCounter", first_conv: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    recs = records.with_row_index("conv").with_columns(pl.col("conv").cast(pl.Int64) + first_conv)
    turns = (
        recs.select("conv", "messages")
        .explode("messages")
        .drop_nulls("messages")
        .unnest("messages")
        .with_columns(
            pos=pl.int_range(pl.len()).over("conv").cast(pl.Int32),
            role=pl.col("role").str.to_lowercase(),
            name=pl.lit(None, dtype=pl.String),
            content=pl.col("content").fill_null(""),
        )
    )
    turns = turns.with_columns(n_tokens=pl.Series(counter.count(turns["content"].to_list()), dtype=pl.Int64))
    turns = turns.select("conv", "pos", "role", "name", "content", "n_tokens")
    # a record must end with an assistant turn to teach anything
    last_asst = turns.filter(pl.col("role") == "assistant").group_by("conv").agg(pl.col("pos").max().alias("_la"))
    turns = turns.join(last_asst, on="conv").filter(pl.col("pos") <= pl.col("_la")).drop("_la").sort(["conv", "pos"])
    convs = (
        turns.group_by("conv", maintain_order=True)
        .agg(pl.col("n_tokens").sum(), pl.len().alias("n_turns"))
        .join(recs.select("conv", "source"), on="conv")
        .with_columns(
            kind=pl.lit("instruction"),
            chat=pl.lit(None, dtype=pl.String),
            contact=pl.lit(CONTACT),
            role_tag=pl.lit(ROLE_TAG),
            is_group=pl.lit(False),
            start=pl.lit(None, dtype=pl.Datetime("us")),
            end=pl.lit(None, dtype=pl.Datetime("us")),
            oversized=pl.lit(False),
        )
        .select(CONV_COLUMNS)
    )
    return turns, convs
