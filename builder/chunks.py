"""Texts cut at single spaces into numbered chunks, once per build: the shared first step
of token counting (``builder.tokens``: each distinct chunk is encoded once) and of
duplicate detection (``builder.curate.clean``: each distinct chunk is normalised once).
Chat repeats its words, so a million turns hold a few thousand to a few hundred thousand
distinct chunks, and the per-text work after the cut is integer arrays."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

_PARALLEL_MIN = 100_000  # texts; below this a second thread costs more than it saves
BLOCK = 1 << 18  # elements a numpy step works on at once: its temporaries stay in cache and
# are reused from block to block (whole-array temporaries of millions of elements are fresh
# memory each time: the page faults cost more than the arithmetic on a small VM)


@dataclass(frozen=True)
class Chunks:
    """Text i is ``vocab[codes[offsets[i]:offsets[i + 1]]]`` joined with " "; every text
    has at least one chunk ("" is one empty chunk)."""

    codes: np.ndarray  # uint32
    offsets: np.ndarray  # int64, one more than there are texts
    vocab: pl.Series  # String: the chunk with code k at index k

    def __len__(self) -> int:
        return len(self.offsets) - 1


def cut(texts: pl.Series) -> Chunks:
    """Split every text (null as "") at single spaces and number the distinct chunks: one
    hash pass, a cast to a fresh Categorical (exact string matching). Large inputs are cut
    as two halves on two threads (Polars releases the GIL), each with its own numbering
    (one shared mapping makes the threads wait on each other), merged after."""
    texts = texts.fill_null("")

    def one(part: pl.Series) -> tuple[np.ndarray, np.ndarray, pl.Series]:
        cats = pl.Categories.random()  # fresh: codes 0..k-1 for exactly these chunks
        pieces = part.str.split(" ")
        chunk = pieces.explode().cast(pl.Categorical(cats))
        # the mapping lives as long as a column uses it: read it while ``chunk`` does
        return pieces.list.len().to_numpy(), chunk.to_physical().to_numpy(), cats.to_series()

    if texts.len() < _PARALLEL_MIN:
        parts = [one(texts.rechunk())]
    else:
        half = texts.len() // 2
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(one, [texts.slice(0, half).rechunk(), texts.slice(half).rechunk()]))
    vocab, codes = parts[0][2], [parts[0][1].astype(np.uint32, copy=False)]
    for _, part_codes, part_vocab in parts[1:]:
        # each of this part's chunks: its number in the vocabulary so far, or a new one
        known = pl.DataFrame({"p": vocab, "i": np.arange(len(vocab), dtype=np.uint32)})
        at = pl.DataFrame({"p": part_vocab}).join(known, on="p", how="left", maintain_order="left").get_column("i")
        new = at.is_null().to_numpy()
        remap = at.fill_null(0).to_numpy().astype(np.uint32)
        remap[new] = np.arange(len(vocab), len(vocab) + int(new.sum()), dtype=np.uint32)
        vocab = pl.concat([vocab, part_vocab.filter(pl.Series(new))])
        codes.append(remap[part_codes])
    offsets = np.zeros(texts.len() + 1, dtype=np.int64)
    np.cumsum(np.concatenate([sizes for sizes, _, _ in parts]), out=offsets[1:])
    return Chunks(np.concatenate(codes), offsets, vocab.rename("chunk"))


def blocks(sizes: np.ndarray, size: int | None = None) -> list[tuple[int, int]]:
    """Consecutive runs of ``sizes`` elements each (the chunks of each text, the words of
    each conversation) grouped into blocks of about ``size`` elements: (first run, end run).
    A block with a run longer than ``size`` in it is that much larger; runs are never split."""
    size = size or BLOCK
    ends = np.cumsum(sizes)
    cuts = np.searchsorted(ends, np.arange(size, int(ends[-1]) if len(ends) else 0, size), side="left")
    cuts = np.unique(np.r_[0, cuts[(cuts > 0) & (cuts < len(sizes))], len(sizes)])
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]
