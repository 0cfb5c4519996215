"""A plain-text summary of an IngestResult: one row per chat (messages by kind, senders,
first and last timestamp), instruction records per source, and files that failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from builder.schema import KINDS
from builder.wording import plural

if TYPE_CHECKING:
    from builder.ingest import IngestResult

TS = "%Y-%m-%d %H:%M"


def chat_table(result: IngestResult) -> pl.DataFrame:
    """One row per chat, in order of first appearance."""
    formats: dict[str, str] = {}
    for f in result.files:
        if f.format is not None:
            formats.setdefault(f.path, f.format)
    # One pass over the messages; the format of each chat comes from its few distinct
    # sources afterwards (a join on every message would cost more than all the rest).
    return (
        result.messages.lazy()
        .group_by("chat", maintain_order=True)
        .agg(
            pl.col("source").unique(maintain_order=True).alias("format"),
            *[(pl.col("kind") == kind).sum().alias(kind) for kind in KINDS],
            pl.len().alias("messages"),
            # n_unique counts null as a value; this is faster than drop_nulls().n_unique() here
            (pl.col("sender").n_unique() - (pl.col("sender").null_count() > 0).cast(pl.UInt32)).alias("senders"),
            pl.col("timestamp").min().dt.strftime(TS).alias("first"),
            pl.col("timestamp").max().dt.strftime(TS).alias("last"),
        )
        .with_columns(
            pl.col("format").list.eval(
                pl.element().replace_strict(list(formats), list(formats.values()), default=None,
                                            return_dtype=pl.String)
                .drop_nulls().unique(maintain_order=True)
            ).list.join("+")
        )
        .collect()
    )


def instruction_table(result: IngestResult) -> pl.DataFrame:
    return (
        result.instructions.lazy()
        .group_by("source", maintain_order=True)
        .agg(pl.len().alias("records"), pl.col("messages").list.len().sum().alias("turns"))
        .collect()
    )


def format_summary(result: IngestResult) -> str:
    parts: list[str] = []
    if not result.messages.is_empty():
        chats = chat_table(result)
        if chats.height > 1:
            totals = chats.select(
                pl.lit(f"total ({plural(chats.height, 'chat')})").alias("chat"), pl.lit("").alias("format"),
                *[pl.col(k).sum() for k in (*KINDS, "messages")],
                pl.lit(result.messages.get_column("sender").drop_nulls().n_unique(),
                       dtype=chats.schema["senders"]).alias("senders"),
                pl.col("first").min(), pl.col("last").max(),
            )
            chats = pl.concat([chats, totals])
        parts.append(render_table(chats))
    if not result.instructions.is_empty():
        inst = instruction_table(result)
        parts.append(f"instruction records: {result.instructions.height} "
                     f"from {inst.height} file(s)\n" + render_table(inst))
    failed = [f for f in result.files if f.error]
    if failed:
        parts.append(f"{len(failed)} file(s) could not be read:\n" + "\n".join(f"  {f.error}" for f in failed))
    if not parts:
        return "no messages found"
    return "\n\n".join(parts)


def render_table(df: pl.DataFrame) -> str:
    """Aligned columns: text left, numbers right."""
    columns = df.columns
    cells = [[("" if v is None else str(v)) for v in row] for row in df.iter_rows()]
    numeric = [df.schema[c].is_numeric() for c in columns]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    return "\n".join(out)
