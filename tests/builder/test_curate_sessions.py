"""Sessions: merge window, gap split, token budget split, min tokens, me-less sessions,
group names, trailing user turns."""

from __future__ import annotations

import datetime as dt

import polars as pl

from builder.curate import identity, sessions
from builder.curate.config import ContactsSection, SessionsSection
from builder.schema import MESSAGE_SCHEMA

T0 = dt.datetime(2024, 3, 1, 9, 0)


class WordCounter:
    name = "words"

    def count(self, texts):
        return [len(t.split()) for t in texts]


def frame(rows):
    return pl.DataFrame(
        [dict(chat=c, timestamp=T0 + dt.timedelta(minutes=m), sender=s, text=t, kind=k, source="t.txt")
         for c, m, s, t, k in rows],
        schema=MESSAGE_SCHEMA,
    )


def run(rows, me=("Sam",), **sess):
    s = SessionsSection(**{"min_tokens": 0, **sess})
    msgs = frame(rows)
    chats = identity.chat_table(msgs, list(me), ContactsSection())
    sel = sessions.select_messages(msgs.lazy(), chats, ContactsSection(), s)
    turns = sessions.count_turn_tokens(sessions.merge_turns(sel, s.merge_minutes, s.gap_minutes), WordCounter())
    return sessions.conversations(turns, list(me), s.max_tokens, s.min_tokens)


def dialog(turns, convs):
    return [
        [(r["role"], r["name"], r["content"]) for r in turns.filter(pl.col("conv") == c).sort("pos").iter_rows(named=True)]
        for c in convs["conv"].to_list()
    ]


def test_merge_window_joins_bursts_of_one_sender_with_newlines():
    rows = [("A", 0, "Ann", "one", "text"), ("A", 4, "Ann", "two", "text"), ("A", 10, "Ann", "three", "text"),
            ("A", 11, "Sam", "ok", "text")]
    turns, convs, _ = run(rows, merge_minutes=5)
    assert dialog(turns, convs) == [[("user", "Ann", "one\ntwo"), ("user", "Ann", "three"), ("assistant", None, "ok")]]


def test_gap_starts_a_new_conversation_exactly_at_the_gap():
    rows = [("A", 0, "Ann", "a", "text"), ("A", 1, "Sam", "b", "text"),
            ("A", 60, "Ann", "c", "text"), ("A", 61, "Sam", "d", "text"),  # gap of 59 min: same session
            ("A", 121, "Ann", "e", "text"), ("A", 122, "Sam", "f", "text")]  # gap of exactly 60: new
    turns, convs, _ = run(rows, gap_minutes=60)
    assert [len(d) for d in dialog(turns, convs)] == [4, 2]


def test_media_system_deleted_dropped_and_media_kept_as_tag_when_asked():
    rows = [("A", 0, "Ann", "pic", "media"), ("A", 1, None, "Ann joined", "system"), ("A", 2, "Ann", "x", "deleted"),
            ("A", 3, "Ann", "hello", "text"), ("A", 4, "Sam", "hi", "text")]
    turns, convs, _ = run(rows, merge_minutes=0)
    assert dialog(turns, convs) == [[("user", "Ann", "hello"), ("assistant", None, "hi")]]
    turns, convs, _ = run(rows, merge_minutes=10, keep_media=True)
    assert dialog(turns, convs) == [[("user", "Ann", "<media>\nhello"), ("assistant", None, "hi")]]


def test_budget_split_at_turn_boundaries_keeps_the_tail_and_flags_oversized():
    w = lambda n: " ".join(["w"] * n)  # noqa: E731
    rows = [("A", 0, "Ann", w(4), "text"), ("A", 1, "Sam", w(4), "text"), ("A", 2, "Ann", w(3), "text"),
            ("A", 3, "Sam", w(12), "text"),  # over the budget of 10: alone, flagged
            ("A", 4, "Ann", w(2), "text"), ("A", 5, "Sam", w(1), "text")]  # tail: kept though tiny
    turns, convs, stats = run(rows, merge_minutes=0, max_tokens=10, min_tokens=5)
    assert [[len(c.split()) for _, _, c in d] for d in dialog(turns, convs)] == [[4, 4], [12], [2, 1]]
    assert convs["oversized"].to_list() == [False, True, False]
    # Ann's 3 words opened a chunk of their own (3 + 12 > 10) with no reply of mine: dropped
    assert stats["chunks_without_me"] == 1
    assert convs["n_tokens"].to_list() == [8, 12, 3]


def test_min_tokens_and_sessions_without_me_are_dropped():
    rows = [("A", 0, "Ann", "tiny", "text"), ("A", 1, "Sam", "yo", "text"),
            ("B", 0, "Bob", "a long message from bob here", "text"), ("B", 1, "Sam", "and my long answer here", "text"),
            ("C", 0, "Cat", "nobody answers me", "text"), ("C", 1, "Dan", "in this chat with many words", "text")]
    turns, convs, stats = run(rows, min_tokens=5)
    assert convs["contact"].to_list() == ["Bob"]
    assert stats["sessions_too_short"] == 1
    assert stats["sessions_without_me"] == 1


def test_group_turns_keep_names_and_separate_speakers_and_trailing_user_turns_dropped():
    rows = [("G", 0, "Ann", "hi all", "text"), ("G", 1, "Bob", "hey", "text"), ("G", 2, "Sam", "hello both", "text"),
            ("G", 3, "Ann", "bye", "text")]
    turns, convs, _ = run(rows)
    assert dialog(turns, convs) == [[("user", "Ann", "hi all"), ("user", "Bob", "hey"), ("assistant", None, "hello both")]]
    assert convs.row(0, named=True)["is_group"] is True
    assert convs.row(0, named=True)["contact"] == "G"


def test_split_by_budget_passes_equal_max_chunks():
    turns = pl.DataFrame({"g": [1, 1, 1, 1, 2, 2], "n_tokens": [5, 5, 5, 20, 3, 3]})
    assert sessions.split_by_budget(turns, "g", 10).to_list() == [0, 0, 1, 2, 0, 0]


def _greedy_chunks(groups, tokens, budget):
    """The plain row loop split_by_budget replaces."""
    out, state = [], {}
    for g, n in zip(groups, tokens):
        if g not in state:
            chunk, size = 0, 0
        else:
            chunk, size = state[g]
            if size + n > budget:  # a non-empty chunk is full: start the next one
                chunk, size = chunk + 1, 0
        out.append(chunk)
        state[g] = (chunk, size + n)
    return out


def test_split_by_budget_matches_a_greedy_row_loop():
    import random

    rng = random.Random(3)
    for _ in range(30):
        n = rng.randint(1, 80)
        groups = sorted(rng.randint(0, 5) for _ in range(n)) if rng.random() < 0.5 else [rng.randint(0, 5) for _ in range(n)]
        toks = [rng.choice([0, 1, 3, 7, 12, 25]) for _ in range(n)]
        df = pl.DataFrame({"g": groups, "n_tokens": toks})
        assert sessions.split_by_budget(df, "g", 10).to_list() == _greedy_chunks(groups, toks, 10)
