"""The canonical message table (DESIGN.md, Message contract) as a Polars schema."""

from __future__ import annotations

import polars as pl

KINDS = ("text", "media", "system", "deleted")

MESSAGE_SCHEMA = pl.Schema(
    {
        "chat": pl.String,
        "timestamp": pl.Datetime("us"),  # naive wall-clock time as written in the export
        "sender": pl.String,  # null for system lines
        "text": pl.String,
        "kind": pl.String,  # one of KINDS
        "source": pl.String,
    }
)


def empty_messages() -> pl.DataFrame:
    return pl.DataFrame(schema=MESSAGE_SCHEMA)


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Select and cast to the canonical column order and types."""
    return df.select([pl.col(name).cast(dtype) for name, dtype in MESSAGE_SCHEMA.items()])


def to_contract_rows(df: pl.DataFrame) -> pl.DataFrame:
    """The JSONL form of the contract: timestamp as ``YYYY-MM-DDTHH:MM:SS``."""
    return conform(df).with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S"))


INSTRUCTION_SCHEMA = pl.Schema(
    {
        "source": pl.String,
        "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String})),
    }
)


def empty_instructions() -> pl.DataFrame:
    return pl.DataFrame(schema=INSTRUCTION_SCHEMA)
