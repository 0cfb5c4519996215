"""Messages -> turns -> conversations.

1. ``select_messages``: keep the chats and kinds the config wants (media optionally kept
   as a tag), attach each chat's contact and role tag.
2. ``merge_turns``: consecutive messages of one sender within the merge window become one
   turn (joined with "\\n"); a gap of ``gap_minutes`` or more starts a new session.
3. ``count_turn_tokens``: every turn counted in one batch (the cut at spaces it may be
   given is shared with duplicate detection).
4. ``conversations``: drop sessions under ``min_tokens`` or without a turn by me, split
   longer sessions at turn boundaries into chunks of at most ``max_tokens`` (never
   truncating: a single turn over the budget becomes its own chunk, flagged ``oversized``;
   chunks of a split session are kept whatever their length, so the tail is never lost),
   then drop trailing user turns after the last turn by me (they teach the model nothing:
   loss is on "me" turns) and chunks without a turn by me.

Output of step 4 is the shape every later step uses:
  turns: conv, pos, role, name, content, n_tokens, turn (the turn's id from step 2: its
         row is turn - 1, which indexes the chunks step 3 cut; null for other rows)
  convs: conv, kind, chat, contact, role_tag, is_group, source, start, end, n_tokens, n_turns, oversized
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from builder.curate.order import sort_by

if TYPE_CHECKING:
    from builder.chunks import Chunks
    from builder.curate.config import ContactsSection, SessionsSection
    from builder.tokens import TokenCounter


def select_messages(
    messages: pl.LazyFrame,
    chats: pl.LazyFrame,
    contacts: "ContactsSection",
    sessions: "SessionsSection",
    groups: bool = True,
) -> pl.LazyFrame:
    kinds = ["text", "media"] if sessions.keep_media else ["text"]
    lf = messages.with_row_index("order").filter(pl.col("sender").is_not_null() & pl.col("kind").is_in(kinds))
    if sessions.keep_media:
        lf = lf.with_columns(
            text=pl.when(pl.col("kind") == "media").then(pl.lit(sessions.media_tag)).otherwise(pl.col("text"))
        )
    lf = (
        lf.filter(pl.col("text").str.contains(r"\S"))  # not blank; no stripped copy of every text
        .join(chats, on="chat", how="inner", maintain_order="left")  # keeps rows in order: no re-sort later
    )
    if not groups:
        lf = lf.filter(~pl.col("is_group"))
    if contacts.include:
        lf = lf.filter(pl.col("contact").is_in(contacts.include))
    if contacts.exclude:
        lf = lf.filter(~pl.col("contact").is_in(contacts.exclude))
    if contacts.include_chats:
        lf = lf.filter(pl.col("chat").is_in(contacts.include_chats))
    if contacts.exclude_chats:
        lf = lf.filter(~pl.col("chat").is_in(contacts.exclude_chats))
    return lf


def merge_turns(lf: pl.LazyFrame | pl.DataFrame, merge_minutes: float, gap_minutes: float) -> pl.DataFrame:
    """Messages (chat, order, timestamp, sender, text, ...) -> one row per turn with
    session (global id), sender, text, start, end and the chat's columns. A DataFrame
    already in (chat, order) order is not sorted again."""
    df = sort_by(lf, "chat", "order") if isinstance(lf, pl.DataFrame) else lf.sort(["chat", "order"]).collect()
    merge = pl.duration(microseconds=int(merge_minutes * 60e6))
    gap_limit = pl.duration(microseconds=int(gap_minutes * 60e6))
    # Exports can hold slightly out-of-order times (edits, clock changes); a negative gap
    # never starts a session.
    gap = pl.col("timestamp") - pl.col("timestamp").shift(1)
    new_chat = pl.col("chat") != pl.col("chat").shift(1)
    new_session = new_chat.fill_null(True) | (gap >= gap_limit).fill_null(True)
    new_turn = new_session | (pl.col("sender") != pl.col("sender").shift(1)).fill_null(True) | (gap > merge).fill_null(True)
    # Collected once: both branches below read it (a lazy plan computed it twice).
    marked = (
        df.lazy()
        .with_columns(new_session.alias("_ns"), new_turn.alias("_nt"))
        .with_columns(
            session=pl.col("_ns").cum_sum().cast(pl.Int64),
            turn=pl.col("_nt").cum_sum().cast(pl.Int64),
            _last=pl.col("_nt").shift(-1).fill_null(True),  # last message of its turn
        )
        .collect()
        # a cumulative sum of booleans never decreases: flagged, the group_by and the join
        # below take Polars' sorted-key paths (about 1.6x faster each)
        .set_sorted("turn")
    )
    # Most turns are one message: take their first-row columns as they are and join texts
    # only for the turns of several messages (a group_by over every row costs 3x more).
    firsts = marked.filter(pl.col("_nt")).select(
        "turn", "session", "chat", "contact", "role_tag", "is_group", "source", "sender",
        "text", pl.col("timestamp").alias("start"),
    )
    joined = (
        marked.filter(~(pl.col("_nt") & pl.col("_last")))
        .group_by("turn", maintain_order=True)
        .agg(
            pl.col("text").alias("_joined"),  # list.join afterwards: 2x faster than str.join in agg
            # exports can hold slightly out-of-order times: min/max, not first/last
            pl.col("timestamp").min().alias("_min"),
            pl.col("timestamp").max().alias("_max"),
        )
        .with_columns(pl.col("_joined").list.join("\n"))
    )
    del marked
    # turn ids run 1..n over the rows of firsts: the turns of several messages are written
    # in place by row (a join would gather every column of every turn)
    rows = joined.get_column("turn") - 1
    start = firsts.get_column("start")
    return firsts.with_columns(
        text=firsts.get_column("text").scatter(rows, joined.get_column("_joined")),
        start=start.clone().scatter(rows, joined.get_column("_min")),
        end=start.clone().scatter(rows, joined.get_column("_max")),
    )


def count_tokens(texts: pl.Series, counter: "TokenCounter", chunks: "Chunks | None" = None) -> pl.Series:
    """Token counts for a text column: the counter's own Polars path when it has one
    (byte-level BPE: per distinct pre-token; ``chunks``: the texts already cut at spaces),
    else one batched call over the distinct texts (chats repeat "ok", "haha", "<media>" a
    lot), joined back."""
    by_series = getattr(counter, "count_series", None)
    if by_series is not None:
        counts = by_series(texts) if chunks is None else by_series(texts, chunks)
        return counts.cast(pl.Int64).rename("n")
    uniq = texts.unique(maintain_order=True)
    table = pl.DataFrame({"t": uniq, "n": pl.Series(counter.count(uniq.to_list()), dtype=pl.Int64)})
    return pl.DataFrame({"t": texts}).join(table, on="t", how="left", maintain_order="left")["n"]


def count_turn_tokens(turns: pl.DataFrame, counter: "TokenCounter", column: str = "text",
                      chunks: "Chunks | None" = None) -> pl.DataFrame:
    return turns.with_columns(n_tokens=count_tokens(turns[column], counter, chunks))


def split_by_budget(turns: pl.DataFrame, group: str, max_tokens: int) -> pl.Series:
    """Greedy chunk index (within ``group``) for rows in order: a chunk takes rows while
    its token sum stays <= max_tokens; a row over the budget alone is its own chunk.
    Over one cumulative sum, a chunk starting at row s ends before the first row whose
    cumulative sum exceeds cum[s-1] + max_tokens (``np.searchsorted``); each pass closes
    one chunk in every still-open group at once, so the Python loop runs (largest chunk
    count of any group) times, each pass O(open groups * log rows)."""
    import numpy as np

    n = turns.height
    if n == 0:
        return pl.Series("chunk", [], dtype=pl.Int32)
    keys = turns[group].to_numpy()
    tok = turns["n_tokens"].fill_null(0).to_numpy().astype(np.int64)
    # rows of a group contiguous, in row order
    order = None if turns[group].is_sorted() else np.argsort(keys, kind="stable")
    k = keys if order is None else keys[order]
    tok = tok if order is None else tok[order]
    cum = np.cumsum(tok)
    before = np.r_[0, cum[:-1]]  # token sum before each row
    g_start = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    g_end = np.r_[g_start[1:], n]
    chunk_start = np.zeros(n, dtype=np.int32)
    s, end = g_start, g_end
    while len(s):
        chunk_start[s] = 1
        e = np.searchsorted(cum, before[s] + max_tokens, side="right")
        e = np.minimum(np.maximum(e, s + 1), end)
        open_ = e < end
        s, end = e[open_], end[open_]
    group_first = np.repeat(g_start, g_end - g_start)
    cs = np.cumsum(chunk_start)
    chunk_sorted = (cs - cs[group_first]).astype(np.int32)
    if order is None:
        return pl.Series("chunk", chunk_sorted, dtype=pl.Int32)
    chunk = np.empty(n, dtype=np.int32)
    chunk[order] = chunk_sorted
    return pl.Series("chunk", chunk, dtype=pl.Int32)


def _changed(*keys: str) -> pl.Expr:
    """True on the first row and wherever any of ``keys`` differs from the row before."""
    return pl.any_horizontal([(pl.col(k) != pl.col(k).shift(1)).fill_null(True) for k in keys])


def conversations(
    turns: pl.DataFrame, me: list[str], max_tokens: int, min_tokens: int
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Turns with n_tokens -> (turns, convs, counts) in the shape documented above."""
    stats: dict[str, int] = {"sessions": turns["session"].n_unique() if turns.height else 0}
    t = turns.with_columns(is_me=pl.col("sender").is_in(me))
    sess = t.group_by("session").agg(pl.col("n_tokens").sum().alias("_st"), pl.col("is_me").any().alias("_has_me"))
    t = t.join(sess, on="session", how="left", maintain_order="left")
    stats["sessions_without_me"] = sess.filter(~pl.col("_has_me")).height
    stats["sessions_too_short"] = sess.filter(pl.col("_has_me") & (pl.col("_st") < min_tokens)).height
    t = t.filter(pl.col("_has_me") & (pl.col("_st") >= min_tokens)).drop("_st", "_has_me")
    if not t.get_column("session").is_sorted():
        t = t.sort("session", maintain_order=True)
    t = t.with_columns(chunk=split_by_budget(t, "session", max_tokens))
    # Rows in session order, chunks rising within a session: the dense rank of (session,
    # chunk) is a running count of key changes, and a row's position is its distance to
    # the first row of its conversation (no sort, no window over groups).
    first_row = pl.when(pl.col("_new")).then(pl.int_range(pl.len())).forward_fill()
    t = (
        t.with_columns(_new=_changed("session", "chunk"))
        .with_columns(conv=pl.col("_new").cum_sum().cast(pl.Int64) - 1, pos=(pl.int_range(pl.len()) - first_row).cast(pl.Int32))
        .drop("_new")
    )
    # A row is kept when a turn by me comes at or after it in its conversation: the
    # conversation of the next such turn (backward fill) is its own.
    keep = pl.when(pl.col("is_me")).then(pl.col("conv")).backward_fill() == pl.col("conv")
    t = t.with_columns(_keep=keep.fill_null(False))
    has_me = t.group_by("conv").agg(pl.col("is_me").any(), pl.len())
    no_me = has_me.filter(~pl.col("is_me"))
    stats["chunks_without_me"] = no_me.height
    stats["trailing_user_turns_dropped"] = t.height - int(t.get_column("_keep").sum()) - int(no_me.get_column("len").sum())
    t = t.filter(pl.col("_keep")).drop("_keep")
    # re-number after dropping so conv ids stay dense and ordered
    t = t.with_columns(conv=_changed("conv").cum_sum().cast(pl.Int64) - 1).set_sorted("conv")
    convs = (
        t.group_by("conv", maintain_order=True)
        .agg(
            pl.col("chat").first(),
            pl.col("contact").first(),
            pl.col("role_tag").first(),
            pl.col("is_group").first(),
            pl.col("source").first(),
            pl.col("start").min(),
            pl.col("end").max(),
            pl.col("n_tokens").sum(),
            pl.len().alias("n_turns"),
            ((pl.len() == 1) & (pl.col("n_tokens").first() > max_tokens)).alias("oversized"),
            pl.col("session").first(),
        )
        .with_columns(kind=pl.lit("chat"))
    )
    stats["conversations"] = convs.height
    stats["sessions_split"] = convs.group_by("session").len().filter(pl.col("len") > 1).height
    convs = convs.drop("session")
    out_turns = t.select(
        "conv",
        "pos",
        role=pl.when(pl.col("is_me")).then(pl.lit("assistant")).otherwise(pl.lit("user")),
        name=pl.when(pl.col("is_me")).then(pl.lit(None, dtype=pl.String)).otherwise(pl.col("sender")),
        content=pl.col("text"),
        n_tokens=pl.col("n_tokens"),
        turn=pl.col("turn").cast(pl.Int64) if "turn" in t.columns else pl.lit(None, dtype=pl.Int64),
    )
    convs = convs.select(CONV_COLUMNS)
    return out_turns, convs, stats


CONV_COLUMNS = ["conv", "kind", "chat", "contact", "role_tag", "is_group", "source", "start", "end",
                "n_tokens", "n_turns", "oversized"]
