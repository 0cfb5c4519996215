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


def render_messages(turns: pl.DataFrame) -> pl.DataFrame:
    """(conv, m): each conversation's messages as the inside of a JSON array, in conv order."""
    # One encode with name for every turn; turns without a name (null) lose the trailing
    # ',"name":null' (content is escaped, so that text can only be the name field). A
    # when/then over two encodes would build both forms for every turn.
    enc = pl.struct("role", "content", "name").struct.json_encode()
    msg = pl.when(pl.col("name").is_null()).then(enc.str.strip_suffix(',"name":null}') + pl.lit("}")).otherwise(enc)
    # Rows are encoded flat on the streaming engine (every core), then joined per
    # conversation; both steps keep row order.
    return (
        sort_by(turns, "conv", "pos").lazy()
        .select("conv", m=msg)
        .group_by("conv", maintain_order=True)
        .agg(pl.col("m").str.join(","))
        .collect(engine="streaming")
    )


def render_lines(turns: pl.DataFrame, convs: pl.DataFrame, messages: pl.DataFrame | None = None) -> pl.DataFrame:
    """(conv, split, line) for every conversation in ``convs``, sorted by conv.
    ``messages``: a ready ``render_messages`` of these turns (or of a superset of them)."""
    if messages is None:
        messages = render_messages(turns.join(convs.select("conv"), on="conv", how="semi"))
    ts = "%Y-%m-%dT%H:%M:%S"
    meta = convs.with_columns(
        pl.col("start").dt.strftime(ts),
        pl.col("end").dt.strftime(ts),
        synthetic=pl.lit(False),
    ).select("conv", "split", pl.struct(META_FIELDS).struct.json_encode().alias("meta"))
    return (
        meta.join(messages, on="conv", how="inner")
        .sort("conv")
        .select(
            "conv",
            "split",
            line=pl.concat_str(pl.lit('{"messages":['), pl.col("m"), pl.lit('],"meta":'), pl.col("meta"), pl.lit("}")),
        )
    )


def jsonl_text(lines: pl.DataFrame, split: str) -> str:
    return jsonl_bytes(lines, split).decode("utf-8")


def jsonl_bytes(lines: pl.DataFrame, split: str) -> bytes:
    """The split's lines as JSONL bytes, written by Polars (no Python string of the whole
    file). A one-column CSV without quoting is exactly line + "\n": the lines are JSON, so
    they hold no raw newline."""
    import io

    buf = io.BytesIO()
    lines.filter(pl.col("split") == split).select("line").write_csv(buf, include_header=False, quote_style="never")
    return buf.getvalue()
