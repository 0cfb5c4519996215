"""The cut of turn texts at spaces (builder/chunks.py) and the steps that share it: the
two-thread cut numbers chunks consistently, and duplicate detection gives the same tokens
from the shared cut as from its own, whatever the block size."""

from __future__ import annotations

import random
import re

import numpy as np
import polars as pl
import pytest

from builder import chunks
from builder.chunks import blocks, cut
from builder.curate import clean

WORDS = ["hi", "Hello,", "there!", "ok", "😀", "?", "lol", "sure thing", "a\nb", "", "Ça", "va"]


def texts(n: int, seed: int = 0, odd: bool = True) -> list[str | None]:
    rng = random.Random(seed)
    out: list[str | None] = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 8))) for _ in range(n)]
    if odd:  # a null and a text with space runs at either end
        out[3], out[7] = None, "  two  spaces "
    return out


@pytest.mark.parametrize("n", [50, chunks._PARALLEL_MIN + 7])  # one thread; two halves merged
def test_cut_gives_back_every_text_with_one_number_per_distinct_chunk(n):
    series = pl.Series(texts(n), dtype=pl.String)
    ch = cut(series)
    assert len(ch) == n and ch.offsets[0] == 0 and ch.offsets[-1] == len(ch.codes)
    assert ch.vocab.n_unique() == ch.vocab.len()  # the halves' numberings were merged
    pieces = ch.vocab.gather(pl.Series(ch.codes)).to_list()
    rebuilt = [" ".join(pieces[a:b]) for a, b in zip(ch.offsets[:-1], ch.offsets[1:])]
    assert rebuilt == [t or "" for t in series.to_list()]


def test_blocks_cover_every_run_once_in_order_and_stay_near_the_size():
    sizes = np.array([5, 1, 300, 2, 2, 2, 0, 40] + [3] * 50)
    got = blocks(sizes, 16)
    assert [a for a, _ in got] == [0] + [b for _, b in got[:-1]] and got[-1][1] == len(sizes)
    assert all(sizes[a:b].sum() <= 16 + sizes[a:b].max() for a, b in got)
    assert len(got) > 5 and blocks(sizes[:0], 16) == []


def dialogue(n_convs: int, seed: int = 1) -> pl.DataFrame:
    rng = random.Random(seed)
    rows, turn, body = [], 0, []
    for conv in range(n_convs):
        # every fifth conversation repeats the one before it
        body = body if conv % 5 == 4 else texts(rng.randint(1, 6), seed=conv, odd=False)
        for pos, text in enumerate(body):
            turn += 1
            rows.append({"conv": conv, "pos": pos, "role": "user" if pos % 2 else "assistant",
                         "content": text or "", "turn": turn})
    return pl.DataFrame(rows)


def truth_exact(turns: pl.DataFrame) -> list[int]:
    """Later conversations whose (role, normalised piece) sequence an earlier one has,
    by the plain definition: lowercase, runs of anything but letters, digits and <> to
    one space, pieces that normalise to nothing left out."""
    seqs: dict[int, list] = {}
    for conv, role, content in turns.sort("conv", "pos").select("conv", "role", "content").iter_rows():
        for piece in content.split(" "):
            norm = " ".join(re.sub(r"[^\w<>]+|_+", " ", piece.lower()).split())
            if norm:
                seqs.setdefault(conv, []).append((role, norm))
    seen, out = set(), []
    for conv, seq in sorted(seqs.items()):
        key = tuple(seq)
        if key in seen:
            out.append(conv)
        seen.add(key)
    return out


def test_tokens_from_the_shared_cut_equal_a_fresh_cut_at_any_block_size(monkeypatch):
    turns = dialogue(400)
    # the cut token counting made: every merged turn, of which the dialogue is a subset
    everything = cut(pl.Series(["dropped turn"] + turns["content"].to_list()))
    shifted = turns.with_columns(pl.col("turn") + 1)
    shared = clean.conversation_words(shifted, 3, everything)
    fresh = clean.conversation_words(turns.drop("turn"), 3)
    assert np.array_equal(shared.conv, fresh.conv) and np.array_equal(shared.w, fresh.w)
    exact = clean.exact_duplicates(words=fresh).to_list()
    assert exact == truth_exact(turns)
    assert {c for c in range(400) if c % 5 == 4} <= set(exact)
    monkeypatch.setattr(chunks, "BLOCK", 7)  # many small blocks: block edges inside conversations
    small = clean.conversation_words(turns.drop("turn"), 3)
    assert np.array_equal(small.conv, fresh.conv) and np.array_equal(small.w, fresh.w)
    assert clean.exact_duplicates(words=small).to_list() == exact


def test_normalised_text_decides_exact_duplicates_not_the_split_pieces():
    turns = pl.DataFrame({"conv": [0, 0, 1, 1], "pos": [0, 1, 0, 1], "role": ["user", "assistant"] * 2,
                          "content": ["Hello,  there!", "ok ?", "hello there", "OK"]})
    assert clean.exact_duplicates(turns).to_list() == [1]
    swapped = turns.with_columns(role=pl.Series(["user", "assistant", "assistant", "user"]))
    assert clean.exact_duplicates(swapped).to_list() == []  # the same words from the other side
