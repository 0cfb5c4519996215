"""Style statistics of a set of chat replies, as Polars expressions: length distribution,
emoji rate, lowercase rate, messages per turn (bursts are joined with "\\n", so each
non-empty line is one message), distinct words, loop rate; and vocabulary overlap
between two sets."""

from __future__ import annotations

import polars as pl

EMOJI = r"\p{Extended_Pictographic}"
WORD = r"[\p{L}\p{N}']+"
LOOP_MIN_WORDS = 6
LOOP_DISTINCT_TRIGRAMS = 0.5  # under half the word 3-grams distinct: the reply repeats itself


def _words() -> pl.Expr:
    return pl.col("text").str.to_lowercase().str.extract_all(WORD)


def style_stats(replies: list[str]) -> dict[str, float]:
    lf = pl.LazyFrame({"text": replies}, schema={"text": pl.String}).with_row_index("id")
    per_reply = lf.select(
        "id",
        pl.col("text").str.len_chars().alias("chars"),
        pl.col("text").str.contains(EMOJI).alias("emoji"),
        pl.when(pl.col("text").str.contains(r"\p{Lu}|\p{Ll}"))
        .then(pl.col("text") == pl.col("text").str.to_lowercase()).alias("lowercase"),
        pl.col("text").str.split("\n").list.eval(pl.element().str.strip_chars().str.len_chars() > 0)
        .list.sum().alias("messages"),
        _words().alias("words"),
    )
    trigrams = (
        per_reply.select("id", "words").explode("words").drop_nulls("words")
        .with_columns(pl.concat_str([pl.col("words"), pl.col("words").shift(-1).over("id"),
                                     pl.col("words").shift(-2).over("id")], separator=" ").alias("tri"))
        .group_by("id")
        .agg(pl.len().alias("n_words"), pl.col("tri").drop_nulls().n_unique().alias("uniq"),
             pl.col("tri").drop_nulls().len().alias("n_tri"), pl.col("words").n_unique().alias("distinct"))
        .select("id", "n_words", "distinct",
                ((pl.col("n_words") >= LOOP_MIN_WORDS)
                 & (pl.col("uniq") / pl.col("n_tri") < LOOP_DISTINCT_TRIGRAMS)).alias("loop"))
    )
    out = (
        per_reply.join(trigrams, on="id", how="left")
        .select(
            pl.len().alias("replies"),
            pl.col("chars").mean().alias("chars_mean"),
            pl.col("chars").median().alias("chars_median"),
            pl.col("chars").quantile(0.9, "nearest").alias("chars_p90"),
            pl.col("emoji").mean().alias("emoji_rate"),
            pl.col("lowercase").mean().alias("lowercase_rate"),
            pl.col("messages").mean().alias("messages_per_turn"),
            (pl.col("distinct").sum() / pl.col("n_words").sum()).alias("distinct_words"),
            pl.col("loop").fill_null(False).mean().alias("loop_rate"),
            (pl.col("chars") == 0).mean().alias("empty_rate"),
        )
        .collect()
    )
    row = out.row(0, named=True)
    return {k: (float(v) if v is not None else float("nan")) for k, v in row.items()}


def vocabulary(replies: list[str]) -> set[str]:
    words = pl.LazyFrame({"text": replies}, schema={"text": pl.String}).select(_words().alias("w"))
    return set(words.explode("w").drop_nulls().unique().collect()["w"].to_list())


def vocabulary_overlap(generated: list[str], real: list[str]) -> float:
    """Jaccard overlap of the two word vocabularies (0 = nothing shared, 1 = identical)."""
    a, b = vocabulary(generated), vocabulary(real)
    return len(a & b) / len(a | b) if a | b else float("nan")
