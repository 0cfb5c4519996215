"""Cleaning at conversation level: exact duplicates on normalised text, near duplicates
with MinHash + LSH over token n-grams (verified by exact Jaccard), token-length filters,
and the per-message character cap for pasted logs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from builder.chunks import Chunks, blocks, cut
from builder.curate.order import sort_by


def normalized(expr: pl.Expr) -> pl.Expr:
    """Lowercase, punctuation to spaces, whitespace collapsed."""
    # One pass: every run of anything but letters, digits and <> (punctuation and
    # whitespace alike) becomes one space. A run that already is one space is not matched
    # at all (most runs are): replacing it with itself costs 3x the whole pass.
    return (
        expr.str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}<>]{2,}|[^\p{L}\p{N}<> ]", " ")
        .str.strip_chars()
    )


def drop_long_messages(messages: pl.DataFrame, max_chars: int | None) -> tuple[pl.LazyFrame, int]:
    """Messages whose text has at most ``max_chars`` characters (pasted logs left out), and
    how many were left out. Byte lengths come free with the strings: characters are
    counted only when some text is longer than that in bytes (or has no text)."""
    text = pl.col("text")
    if max_chars is None or not messages.select(((text.str.len_bytes() > max_chars) | text.is_null()).any()).item():
        return messages.lazy(), 0
    kept = messages.lazy().filter(text.str.len_chars() <= max_chars)
    return kept, messages.height - kept.select(pl.len()).collect().item()


@dataclass(frozen=True)
class Words:
    """Every conversation's dialogue as token hashes, in conv order (each conversation one
    contiguous run): ``w[i]`` is a token of conversation ``conv[i]``. A token is one
    space-separated piece of a turn, normalised (``normalized``; pieces that normalise to
    nothing, such as "?" or an emoji, are left out), hashed together with the turn's role."""

    conv: np.ndarray  # int64
    w: np.ndarray  # uint64

    def only(self, convs: np.ndarray) -> Words:
        keep = np.isin(self.conv, convs)
        return Words(self.conv[keep], self.w[keep])

    def without(self, convs: pl.Series) -> Words:
        if convs.is_empty():
            return self
        keep = ~np.isin(self.conv, convs.to_numpy())
        return Words(self.conv[keep], self.w[keep])


def conversation_words(turns: pl.DataFrame, seed: int = 0, chunks: Chunks | None = None) -> Words:
    """``Words`` of the dialogue turns (conv, pos, role, content; system prompts left out).

    The texts are cut at spaces (``builder.chunks``), or the cut made for token counting is
    reused (``chunks``, when every turn has its ``turn`` id in it); each distinct piece is
    normalised and hashed once, and the conversations are then put together from integer
    arrays, a block of turns at a time: no normalised copy of the text is built."""
    if turns.get_column("role").eq("system").any():  # persona prompts, or instruction data's own
        turns = turns.filter(pl.col("role") != "system")
    t = sort_by(turns, "conv", "pos")
    if t.is_empty():
        return Words(np.zeros(0, np.int64), np.zeros(0, np.uint64))
    if chunks is not None and "turn" in t.columns and t.get_column("turn").null_count() == 0:
        rows = t.get_column("turn").to_numpy() - 1
    else:
        chunks, rows = cut(t.get_column("content")), np.arange(t.height)
    piece = pl.DataFrame({"p": chunks.vocab}).select(n=normalized(pl.col("p"))).select(
        h=pl.col("n").hash(seed=seed + 7), keep=pl.col("n") != "")
    h, keep = piece.get_column("h").to_numpy(), piece.get_column("keep").to_numpy()
    # the role goes into every token's hash: the same words said by the other side differ
    roles = t.select(pl.col("role").hash(seed=seed + 11)).to_series().to_numpy()
    conv = t.get_column("conv").cast(pl.Int64).to_numpy()
    first, sizes = chunks.offsets[rows], chunks.offsets[rows + 1] - chunks.offsets[rows]
    out_w = np.empty(int(sizes.sum()), dtype=np.uint64)  # pages are touched only as written
    out_c = np.empty(len(out_w), dtype=np.int64)
    n = 0
    for a, b in blocks(sizes):
        sz = sizes[a:b]
        local = np.repeat(first[a:b] - (np.cumsum(sz) - sz), sz) + np.arange(int(sz.sum()))
        codes = chunks.codes[local]
        kept = keep[codes]
        w = (h[codes] ^ np.repeat(roles[a:b], sz))[kept]
        out_w[n:n + len(w)] = w
        out_c[n:n + len(w)] = np.repeat(conv[a:b], sz)[kept]
        n += len(w)
    return Words(out_c[:n], out_w[:n])


def _runs(conv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, size) of each conversation's run."""
    starts = np.flatnonzero(np.r_[True, conv[1:] != conv[:-1]])
    return starts, np.diff(np.r_[starts, len(conv)])


def exact_duplicates(turns: pl.DataFrame | None = None, words: Words | None = None) -> pl.Series:
    """conv ids whose dialogue has the same tokens (``Words``: normalised text, role by
    role) as an earlier (smaller id) conversation's. Each token sequence is keyed by a
    position-weighted sum of its hashes (64 bits: a false match needs a collision, about
    n^2 / 2^64 for n conversations), a block of conversations at a time."""
    words = conversation_words(turns) if words is None else words
    if len(words.w) == 0:
        return pl.Series("conv", [], dtype=pl.Int64)
    starts, sizes = _runs(words.conv)
    weights = np.random.default_rng(5).integers(1, 2**63, size=int(sizes.max()), dtype=np.uint64) | np.uint64(1)
    key = np.empty(len(starts), dtype=np.uint64)
    for a, b in blocks(sizes):
        sz, s0 = sizes[a:b], starts[a]
        local = starts[a:b] - s0
        pos = np.arange(int(sz.sum())) - np.repeat(local, sz)
        key[a:b] = np.add.reduceat(words.w[s0:s0 + len(pos)] * weights[pos], local)
    keyed = pl.DataFrame({"conv": words.conv[starts], "key": key})
    return keyed.filter(pl.col("key").is_duplicated() & ~pl.col("key").is_first_distinct())["conv"]


_MINHASH_BLOCK = 1 << 17  # words (uint64): 1 MiB, fits in L2 with its buffers


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


def _shingle_arrays(words: Words, n_words: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(conv, h) for every word n-gram of every conversation, in conv order (contiguous
    runs per conv, duplicates kept). An n-gram's hash is a wrapping polynomial of its
    words' hashes, so no n-gram string is ever built. A conversation shorter than n words
    gets one shingle of all its words."""
    conv, h = words.conv, words.w
    m = len(h)
    if m == 0:
        return conv, h
    mult = np.random.default_rng(seed + 3).integers(1, 2**63, size=n_words, dtype=np.uint64) | np.uint64(1)
    gram = h * mult[0]
    tmp = np.empty_like(h)
    for j in range(1, min(n_words, m)):  # one vectorised pass per word position of the n-gram
        np.multiply(h[j:], mult[j], out=tmp[: m - j])
        np.add(gram[: m - j], tmp[: m - j], out=gram[: m - j])
    del tmp
    # an n-gram starting at i is whole when its last word is in the same conversation
    keep = np.zeros(m, dtype=bool)
    if m >= n_words:
        keep[: m - n_words + 1] = conv[n_words - 1:] == conv[: m - n_words + 1]
    # conversations shorter than n words: one shingle of their words, at their first row
    starts, sizes = _runs(conv)
    short = starts[sizes < n_words]
    if len(short):
        k = sizes[sizes < n_words]
        g = h[short] * mult[0]
        for j in range(1, n_words):
            has = k > j
            g[has] += h[short[has] + j] * mult[j]
        gram[short] = g
        keep[short] = True
    return conv[keep], gram[keep]


def shingles(turns: pl.DataFrame, n_words: int, seed: int = 0) -> pl.DataFrame:
    """Distinct (conv, h) word n-gram hashes, sorted; see ``_shingle_arrays``."""
    conv, h = _shingle_arrays(conversation_words(turns, seed), n_words, seed)
    return pl.DataFrame({"conv": conv, "h": h}).unique().sort(["conv", "h"])


def minhash_signatures(words: Words, n_words: int, num_perm: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(conv ids, signatures [n_conv, num_perm] uint32) of the word n-gram sets of
    ``words``, with multiply-shift hash permutations: numpy passes over the shingles per
    permutation, ``np.minimum.reduceat`` over the conversation boundaries.

    The words go through in blocks of whole conversations (about ``_MINHASH_BLOCK`` words,
    1 MiB): a block's n-grams are formed and every permutation of them runs while they are
    in cache, rather than each pass streaming all shingles through memory (3x faster on 6M)."""
    conv, h = words.conv, words.w
    starts, sizes = _runs(conv)
    rng = np.random.default_rng(seed + 1)
    mults = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    xors = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    sig = np.empty((len(starts), num_perm), dtype=np.uint32)
    shift = np.uint64(32)

    def run(groups: list[tuple[int, int]]) -> None:
        buf = np.empty(0, dtype=np.uint64)
        for c0, c1 in groups:  # conversations c0..c1
            s0, s1 = starts[c0], starts[c1 - 1] + sizes[c1 - 1]
            # every conversation has a shingle: the runs of the block's shingles are its
            # conversations c0..c1 in order
            sh_conv, seg = _shingle_arrays(Words(conv[s0:s1], h[s0:s1]), n_words, seed)
            if len(buf) < len(seg):
                buf = np.empty(len(seg), dtype=np.uint64)
            b, out = buf[: len(seg)], sig[c0:c1]
            local = np.flatnonzero(np.r_[True, sh_conv[1:] != sh_conv[:-1]])
            for p in range(num_perm):
                np.bitwise_xor(seg, xors[p], out=b)
                np.multiply(b, mults[p], out=b)
                # the shift is monotone, so it commutes with the min: shift the minima only
                out[:, p] = np.minimum.reduceat(b, local) >> shift

    groups = blocks(sizes, _MINHASH_BLOCK)
    # numpy releases the GIL in these loops: two threads halve the wall time on 2 cores
    if len(h) >= 1 << 20 and len(groups) > 1:
        mid = len(groups) // 2
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(run, [groups[:mid], groups[mid:]]))
    else:
        run(groups)
    return conv[starts], sig


def _candidate_pairs(ids: np.ndarray, sig: np.ndarray, bands: int, rows: int, seed: int) -> pl.DataFrame:
    """(a, b) with a < b sharing an LSH band bucket: every bucket member paired with the
    bucket's smallest id and its predecessor."""
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
    return (
        buckets.lazy()
        .filter(pl.len().over(["band", "key"]) > 1)
        .sort(["band", "key", "conv"])
        .with_columns(
            first=pl.col("conv").first().over(["band", "key"]),
            prev=pl.col("conv").shift(1).over(["band", "key"]),
        )
        .unpivot(index="conv", on=["first", "prev"], value_name="a")
        .filter(pl.col("a").is_not_null() & (pl.col("a") < pl.col("conv")))
        .select(pl.col("a").cast(pl.Int64), b=pl.col("conv").cast(pl.Int64))
        .unique()
        .collect()
    )


def near_duplicates(
    turns: pl.DataFrame | None, threshold: float, num_perm: int = 32, n_words: int = 3, seed: int = 0,
    words: Words | None = None,
) -> pl.Series:
    """conv ids with Jaccard similarity >= threshold (word n-gram sets) to a conversation
    with a smaller id. LSH proposes candidate pairs; exact Jaccard decides, computed only
    for candidate pairs whose set sizes allow it (J <= min/max size). ``words``: a ready
    ``conversation_words`` (else built from ``turns``)."""
    none = pl.Series("conv", [], dtype=pl.Int64)
    words = conversation_words(turns, seed) if words is None else words
    if len(words.w) == 0:
        return none
    ids, sig = minhash_signatures(words, n_words, num_perm, seed)
    pairs = _candidate_pairs(ids, sig, *lsh_params(num_perm, threshold), seed)
    if pairs.is_empty():
        return none
    conv, h = _shingle_arrays(words.only(pl.concat([pairs["a"], pairs["b"]]).unique().to_numpy()), n_words, seed)
    sh = pl.DataFrame({"conv": conv, "h": h}).unique()
    sizes = sh.group_by("conv").agg(pl.len().alias("n"))
    pairs = (
        pairs.join(sizes.rename({"conv": "a", "n": "na"}), on="a")
        .join(sizes.rename({"conv": "b", "n": "nb"}), on="b")
        .filter(pl.min_horizontal("na", "nb") >= (threshold - 1e-12) * pl.max_horizontal("na", "nb"))
    )
    if pairs.is_empty():
        return none
    inter = (
        pairs.select("a", "b")
        .join(sh.rename({"conv": "a"}), on="a")
        .join(sh.rename({"conv": "b"}), on=["b", "h"])
        .group_by(["a", "b"])
        .agg(pl.len().alias("inter"))
    )
    jac = (
        pairs.join(inter, on=["a", "b"], how="left")
        .with_columns(pl.col("inter").fill_null(0))
        .with_columns(j=pl.col("inter") / (pl.col("na") + pl.col("nb") - pl.col("inter")))
    )
    return jac.filter(pl.col("j") >= threshold - 1e-12)["b"].unique().sort().rename("conv")


def length_filter(convs: pl.DataFrame, min_tokens: int, max_tokens: int | None) -> pl.DataFrame:
    keep = pl.col("n_tokens") >= min_tokens
    if max_tokens is not None:
        keep = keep & (pl.col("n_tokens") <= max_tokens)
    return convs.filter(keep)
