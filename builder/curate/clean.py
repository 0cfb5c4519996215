"""Cleaning at conversation level: exact duplicates on normalised text, near duplicates
with MinHash + LSH (verified by exact Jaccard), token-length filters, and the per-message
character cap for pasted logs."""

from __future__ import annotations

import numpy as np
import polars as pl


def normalized(expr: pl.Expr) -> pl.Expr:
    """Lowercase, punctuation to spaces, whitespace collapsed."""
    return (
        expr.str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}\s<>]+", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def drop_long_messages(messages: pl.LazyFrame, max_chars: int | None) -> pl.LazyFrame:
    if max_chars is None:
        return messages
    return messages.filter(pl.col("text").str.len_chars() <= max_chars)


def conversation_text(turns: pl.DataFrame) -> pl.DataFrame:
    """conv -> normalised text of its dialogue turns (system prompts excluded)."""
    return (
        turns.filter(pl.col("role") != "system")
        .sort(["conv", "pos"])
        .group_by("conv", maintain_order=True)
        .agg(pl.concat_str(pl.col("role"), pl.lit(":"), normalized(pl.col("content"))).str.join("\n").alias("norm"))
    )


def exact_duplicates(turns: pl.DataFrame) -> pl.Series:
    """conv ids whose normalised text equals an earlier (smaller id) conversation's."""
    text = conversation_text(turns)
    return text.filter(pl.col("norm").is_duplicated() & ~pl.col("norm").is_first_distinct())["conv"]


def lsh_params(num_perm: int, threshold: float) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm whose S-curve midpoint (1/b)^(1/r) sits a
    bit below the threshold, so pairs at the threshold are caught with high probability;
    exact Jaccard verification removes the extra candidates."""
    best: tuple[float, int, int] | None = None
    target = threshold * 0.8
    for r in range(1, num_perm + 1):
        b = num_perm // r
        mid = (1 / b) ** (1 / r)
        score = abs(mid - target)
        if best is None or score < best[0]:
            best = (score, b, r)
    assert best is not None
    return best[1], best[2]


def shingles(turns: pl.DataFrame, n_words: int, seed: int = 0) -> pl.DataFrame:
    """Distinct (conv, h) word n-gram hashes; a conversation shorter than n words gets
    one shingle of all its words."""
    words = (
        conversation_text(turns)
        .select("conv", pl.col("norm").str.split(" ").alias("w"))
        .explode("w")
        .filter(pl.col("w").str.len_chars() > 0)
    )
    parts = [pl.col("w").shift(-i) for i in range(n_words)]
    same = pl.col("conv").shift(-(n_words - 1)) == pl.col("conv")
    grams = words.with_columns(g=pl.when(same).then(pl.concat_str(parts, separator=" ")))
    counts = words.group_by("conv").agg(pl.col("w").str.join(" ").alias("all"), pl.len().alias("n"))
    short = counts.filter(pl.col("n") < n_words).select("conv", pl.col("all").alias("g"))
    full = grams.drop_nulls("g").select("conv", "g")
    return (
        pl.concat([full, short])
        .select("conv", h=pl.col("g").hash(seed=seed + 7))
        .unique()
        .sort(["conv", "h"])
    )


def minhash_signatures(sh: pl.DataFrame, num_perm: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(conv ids, signatures [n_conv, num_perm] uint32) with multiply-shift hash
    permutations, vectorised over all shingles at once per permutation."""
    convs = sh["conv"].to_numpy()
    h = sh["h"].to_numpy().astype(np.uint64)
    starts = np.flatnonzero(np.r_[True, convs[1:] != convs[:-1]])
    rng = np.random.default_rng(seed + 1)
    mults = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    xors = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    sig = np.empty((len(starts), num_perm), dtype=np.uint32)
    shift = np.uint64(32)
    for p in range(num_perm):  # per permutation, not per row: each pass is one numpy op over all shingles
        hp = ((h ^ xors[p]) * mults[p]) >> shift
        sig[:, p] = np.minimum.reduceat(hp, starts)
    return convs[starts], sig


def near_duplicates(turns: pl.DataFrame, threshold: float, num_perm: int = 32, n_words: int = 3, seed: int = 0) -> pl.Series:
    """conv ids with Jaccard similarity >= threshold (word n-gram sets) to a conversation
    with a smaller id. LSH proposes candidate pairs; exact Jaccard decides."""
    sh = shingles(turns, n_words, seed)
    if sh.is_empty():
        return pl.Series("conv", [], dtype=pl.Int64)
    ids, sig = minhash_signatures(sh, num_perm, seed)
    bands, rows = lsh_params(num_perm, threshold)
    # one uint64 key per (conversation, band): a wrapping polynomial over the band's rows
    # (a rare collision only adds a candidate pair; exact Jaccard decides)
    weights = np.random.default_rng(seed + 2).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    blocks = sig[:, : bands * rows].astype(np.uint64).reshape(len(ids), bands, rows)
    keys = (blocks * weights).sum(axis=2, dtype=np.uint64)
    buckets = pl.DataFrame({
        "conv": np.repeat(ids, bands),
        "band": np.tile(np.arange(bands, dtype=np.int32), len(ids)),
        "key": keys.ravel(),
    })
    # every member of a bucket paired with the bucket's smallest id and its predecessor
    pairs = (
        buckets.sort(["band", "key", "conv"])
        .with_columns(
            first=pl.col("conv").first().over(["band", "key"]),
            prev=pl.col("conv").shift(1).over(["band", "key"]),
        )
        .unpivot(index="conv", on=["first", "prev"], value_name="a")
        .filter(pl.col("a").is_not_null() & (pl.col("a") < pl.col("conv")))
        .select(pl.col("a").cast(pl.Int64), b=pl.col("conv").cast(pl.Int64))
        .unique()
    )
    if pairs.is_empty():
        return pl.Series("conv", [], dtype=pl.Int64)
    sizes = sh.group_by("conv").agg(pl.len().alias("n"))
    inter = (
        pairs.join(sh.rename({"conv": "a"}), on="a")
        .join(sh.rename({"conv": "b"}), on=["b", "h"])
        .group_by(["a", "b"])
        .agg(pl.len().alias("inter"))
    )
    jac = (
        pairs.join(inter, on=["a", "b"], how="left")
        .with_columns(pl.col("inter").fill_null(0))
        .join(sizes.rename({"conv": "a", "n": "na"}), on="a")
        .join(sizes.rename({"conv": "b", "n": "nb"}), on="b")
        .with_columns(j=pl.col("inter") / (pl.col("na") + pl.col("nb") - pl.col("inter")))
    )
    return jac.filter(pl.col("j") >= threshold - 1e-12)["b"].unique().sort().rename("conv")


def length_filter(convs: pl.DataFrame, min_tokens: int, max_tokens: int | None) -> pl.DataFrame:
    keep = pl.col("n_tokens") >= min_tokens
    if max_tokens is not None:
        keep = keep & (pl.col("n_tokens") <= max_tokens)
    return convs.filter(keep)
