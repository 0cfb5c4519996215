"""Render conversations as Dataset records (DESIGN.md) — JSON built by Polars, one line
per conversation, in a deterministic order so the same inputs give the same bytes.

  {"messages": [{"role", "content", "name"?}...], "meta": {contact, role_tag, source,
   start, end, n_tokens, synthetic, chat, is_group, n_turns, oversized}}

``name`` is present only on user turns (omitted, not null, elsewhere)."""

from __future__ import annotations

import polars as pl

from builder.curate.order import sort_by

META_FIELDS = ["contact", "role_tag", "source", "start", "end", "n_tokens", "synthetic", "chat",
               "is_group", "n_turns", "oversized"]


# A null name is written by the encoder as this; dropped after (contents are escaped, so
# this text can only be the name field).
_NULL_NAME = ',"name":null'


def render_lines(turns: pl.DataFrame, convs: pl.DataFrame) -> pl.DataFrame:
    """(conv, split, line) for every conversation in ``convs``, sorted by conv; turns of
    other conversations are left out."""
    ts = "%Y-%m-%dT%H:%M:%S"
    meta = convs.sort("conv").with_columns(
        pl.col("start").dt.strftime(ts), pl.col("end").dt.strftime(ts), synthetic=pl.lit(False),
    ).select("conv", "split", meta=pl.struct(META_FIELDS))
    # Messages as structs gathered into a list per conversation, put side by side with the
    # meta (both in conv order; a join would copy every list), then each record encoded
    # in one pass on the streaming engine.
    messages = (
        sort_by(turns, "conv", "pos")
        .group_by("conv", maintain_order=True)
        .agg(pl.struct("role", "content", "name").alias("messages"))
    )
    if not messages.get_column("conv").equals(meta.get_column("conv")):
        messages = messages.filter(pl.col("conv").is_in(meta.get_column("conv").implode()))
        if not messages.get_column("conv").equals(meta.get_column("conv")):
            raise ValueError("render_lines: a conversation has no turns")
    line = pl.struct("messages", "meta").struct.json_encode().str.replace_all(_NULL_NAME, "", literal=True)
    return (
        pl.concat([meta, messages.select("messages")], how="horizontal")
        .lazy()
        .select("conv", "split", line=line)
        .collect(engine="streaming")
    )


def write_jsonl(lines: pl.DataFrame, split: str, path) -> None:
    """The split's lines as a JSONL file, written by Polars. A one-column CSV without
    quoting is exactly line + "\n": the lines are JSON, so they hold no raw newline."""
    lines.filter(pl.col("split") == split).select("line").write_csv(path, include_header=False, quote_style="never")
