"""Who is "me", who the contacts are, and which chats are 1:1 or groups."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import polars as pl

from builder.errors import ClonekitError

if TYPE_CHECKING:
    from builder.curate.config import ContactsSection
    from builder.tokens import TokenCounter


def _speakers(messages: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    return messages.lazy().filter(pl.col("sender").is_not_null()).select("chat", "sender")


def _sender_stats(messages: pl.LazyFrame | pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Per sender: 1:1 chats (chats with exactly two senders), chats, messages; and the
    number of 1:1 chats."""
    sp = _speakers(messages)
    per_chat = sp.group_by("chat").agg(pl.col("sender").n_unique().alias("n"))
    stats = (
        sp.join(per_chat, on="chat")
        .group_by("sender")
        .agg(
            pl.col("chat").filter(pl.col("n") == 2).n_unique().alias("one_to_one"),
            pl.col("chat").n_unique().alias("chats"),
            pl.len().alias("messages"),
        )
        .collect()
    )
    return stats, per_chat.filter(pl.col("n") == 2).select(pl.len()).collect().item()


def suggest_me(messages: pl.LazyFrame | pl.DataFrame) -> list[str]:
    """Senders present in every 1:1 chat (a chat with exactly two senders), most active
    first. When nobody is in every 1:1 chat (the user's name differs between exports:
    "Sam" on WhatsApp, "Sam Kellett" on Telegram): the senders of the most 1:1 chats,
    ties broken by message count. Without 1:1 chats: the senders present in the most chats."""
    stats, n_one_to_one = _sender_stats(messages)
    if stats.is_empty():
        return []
    if n_one_to_one:
        best = int(stats["one_to_one"].max())
        pick = stats.filter(pl.col("one_to_one") == best)
        if best == 1 and n_one_to_one == 1 and pick.height > 1:
            # One 1:1 chat: both people qualify; prefer whoever is also in other chats.
            pick = pick.filter(pl.col("chats") == pick["chats"].max())
        if best < n_one_to_one:
            return pick.sort(["messages", "sender"], descending=[True, False])["sender"].to_list()
        return pick.sort(["chats", "messages", "sender"], descending=[True, True, False])["sender"].to_list()
    pick = stats.filter(pl.col("chats") == stats["chats"].max())
    return pick.sort(["chats", "messages", "sender"], descending=[True, True, False])["sender"].to_list()


def has_one_to_one(messages: pl.LazyFrame | pl.DataFrame) -> bool:
    return _sender_stats(messages)[1] > 0


def has_others(messages: pl.LazyFrame | pl.DataFrame, me: list[str]) -> bool:
    """Some message is written by someone other than ``me``."""
    return _speakers(messages).filter(~pl.col("sender").is_in(me)).head(1).collect().height > 0


def uncovered_chats(messages: pl.LazyFrame | pl.DataFrame, me: list[str], per_chat: int = 2) -> list[tuple[str, list[str]]]:
    """1:1 chats where none of ``me`` speaks, each with its senders, the name closest to
    ``me`` first (then most messages): the user's other names ("Sam Kellett") are there."""
    sp = _speakers(messages)
    pairs = sp.group_by("chat").agg(pl.col("sender").n_unique().alias("n")).filter(pl.col("n") == 2)
    rows = (
        sp.join(pairs, on="chat", how="semi")
        .group_by("chat", "sender").agg(pl.len().alias("messages"))
        .filter(~pl.col("sender").is_in(me).any().over("chat"))
        .sort("chat")
        .collect()
    )

    def closeness(name: str) -> float:  # a handful of names: plain Python is fine
        key = name.lower().replace(" ", "")
        return max((difflib.SequenceMatcher(None, key, m.lower().replace(" ", "")).ratio() for m in me), default=0.0)

    out: dict[str, list[tuple[float, int, str]]] = {}
    for chat, sender, n in rows.iter_rows():
        out.setdefault(chat, []).append((-closeness(sender), -n, sender))
    return [(chat, [s for *_, s in sorted(c)][:per_chat]) for chat, c in out.items()]


def top_senders(messages: pl.LazyFrame | pl.DataFrame, n: int = 5) -> list[str]:
    return (
        _speakers(messages).group_by("sender").agg(pl.len().alias("n"))
        .sort(["n", "sender"], descending=[True, False]).head(n).collect()["sender"].to_list()
    )


def _senders(messages: pl.LazyFrame | pl.DataFrame) -> set[str]:
    return set(_speakers(messages).select(pl.col("sender").unique()).collect()["sender"].to_list())


def check_me(messages: pl.LazyFrame | pl.DataFrame, me: list[str]) -> list[str]:
    """``me`` when every alias matches a sender; else a ClonekitError naming the first
    alias that matches nobody (a typo in one alias would silently drop every chat it
    was meant to cover), with close matches."""
    senders = _senders(messages)
    for m in me:
        if m in senders:
            continue
        close = difflib.get_close_matches(m, sorted(senders), n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        others = " (the other aliases do match)" if len(me) > 1 and any(x in senders for x in me) else ""
        raise ClonekitError(
            f"--me / [build] me: {m!r} matches no sender{others}; {hint}"
            f"top senders: {', '.join(top_senders(messages))} (names must match the export exactly)"
        )
    return list(me)


def alias_map(aliases: dict[str, list[str]]) -> dict[str, str]:
    """[contacts] aliases (person -> other names) as other name -> person."""
    return {name: person for person, names in aliases.items() for name in names if name != person}


def check_aliases(messages: pl.LazyFrame | pl.DataFrame, aliases: dict[str, list[str]]) -> None:
    """Every name in [contacts] aliases must be a sender in the data."""
    names = alias_map(aliases)
    if not names:
        return
    senders = _senders(messages)
    for name, person in names.items():
        if name not in senders:
            close = difflib.get_close_matches(name, sorted(senders), n=3)
            hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "check the spelling against `clonekit ingest`'s summary"
            raise ClonekitError(f"config key 'contacts.aliases': {name!r} (listed for {person!r}) is not a sender in the data; {hint}")


def merge_aliases(messages: pl.LazyFrame | pl.DataFrame, aliases: dict[str, list[str]]) -> pl.LazyFrame | pl.DataFrame:
    """One person, one name: every sender listed in [contacts] aliases is renamed to its
    person, so roles, balancing and the contacts table treat them as one contact."""
    names = alias_map(aliases)
    if not names:
        return messages
    return messages.with_columns(pl.col("sender").replace(names))


def suggest_alias_pairs(messages: pl.LazyFrame | pl.DataFrame, me: list[str], limit: int = 10) -> list[tuple[str, str]]:
    """Likely (name, same person's longer name) pairs among the contacts: the shorter name
    is the longer one's first words ("Priya" / "Priya Shah", case aside), and the two
    never write in the same chat (two people in one chat are two people)."""
    sp = _speakers(messages).filter(~pl.col("sender").is_in(me)).unique()
    names = sp.select("sender").unique().with_columns(
        key=pl.col("sender").str.to_lowercase().str.strip_chars(),
    ).with_columns(first=pl.col("key").str.split(" ").list.first())
    pairs = (
        names.join(names, on="first", suffix="_long")
        .filter(pl.col("sender") != pl.col("sender_long"))
        .filter((pl.col("key_long").str.starts_with(pl.col("key") + " "))
                | ((pl.col("key_long") == pl.col("key")) & (pl.col("sender") < pl.col("sender_long"))))
        .select(short="sender", long="sender_long")
    )
    together = (sp.join(sp, on="chat", suffix="_other")
                .select(short="sender", long="sender_other").unique())
    found = pairs.join(together, on=["short", "long"], how="anti").sort("long", "short").collect()
    return list(zip(found["short"].to_list(), found["long"].to_list()))[:limit]


def chat_table(messages: pl.LazyFrame | pl.DataFrame, me: list[str], contacts: "ContactsSection") -> pl.LazyFrame:
    """One row per chat: is_group, contact (the other person of a 1:1 chat, else the chat
    name) and role_tag."""
    sp = _speakers(messages)
    others = sp.filter(~pl.col("sender").is_in(me))
    per_chat = sp.group_by("chat").agg(pl.col("sender").n_unique().alias("n_senders"))
    other = others.group_by("chat").agg(pl.col("sender").unique().sort().alias("others"))
    roles = contacts.roles
    table = (
        per_chat.join(other, on="chat", how="left")
        .with_columns(
            is_group=(pl.col("n_senders") > 2) | (pl.col("others").list.len() > 1),
        )
        .with_columns(
            contact=pl.when(pl.col("is_group")).then(pl.col("chat")).otherwise(pl.col("others").list.first())
        )
        .with_columns(
            role_tag=pl.col("contact").replace_strict(
                list(roles.keys()), list(roles.values()), default=None, return_dtype=pl.String
            )
        )
        .with_columns(
            role_tag=pl.coalesce(
                "role_tag",
                pl.when(pl.col("is_group")).then(pl.lit(contacts.group_role)).otherwise(pl.lit(contacts.default_role)),
            )
        )
        .filter(pl.col("contact").is_not_null())
        .select("chat", "is_group", "contact", "role_tag")
    )
    return table


def check_contacts(messages: pl.LazyFrame | pl.DataFrame, contacts: "ContactsSection") -> None:
    """Every contact or chat named in the config must exist in the data."""
    if not (contacts.roles or contacts.include or contacts.exclude or contacts.include_chats or contacts.exclude_chats):
        return  # ([contacts] aliases are checked by check_aliases, before the merge)
    known = set(_speakers(messages).select(pl.col("sender").unique()).collect()["sender"].to_list())
    chats = set(messages.lazy().select(pl.col("chat").unique()).collect()["chat"].to_list())
    for key, names, pool in (
        ("contacts.roles", list(contacts.roles), known | chats),
        ("contacts.include", contacts.include, known | chats),
        ("contacts.exclude", contacts.exclude, known | chats),
        ("contacts.include_chats", contacts.include_chats, chats),
        ("contacts.exclude_chats", contacts.exclude_chats, chats),
    ):
        for name in names:
            if name not in pool:
                close = difflib.get_close_matches(name, sorted(pool), n=3)
                hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "check the spelling against `clonekit ingest`'s summary"
                raise ClonekitError(f"config key '{key}': '{name}' is not a sender or chat in the data; {hint}")


def contacts_table(messages: pl.LazyFrame | pl.DataFrame, me: list[str], counter: "TokenCounter | None" = None) -> pl.DataFrame:
    """One row per other sender: contact, chats, messages, tokens, share (of all tokens
    written by contacts), first, last. Sorted by tokens, largest first."""
    from builder.tokens import load_counter

    counter = counter or load_counter("builtin")
    lf = messages.lazy().filter(pl.col("sender").is_not_null() & ~pl.col("sender").is_in(me))
    df = lf.select("chat", "sender", "timestamp", "text").collect()
    df = df.with_columns(tokens=pl.Series(counter.count(df["text"].fill_null("").to_list()), dtype=pl.Int64))
    out = (
        df.group_by("sender")
        .agg(
            pl.col("chat").n_unique().alias("chats"),
            pl.len().alias("messages"),
            pl.col("tokens").sum(),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .rename({"sender": "contact"})
        .with_columns(share=pl.col("tokens") / pl.col("tokens").sum().clip(lower_bound=1))
        .select("contact", "chats", "messages", "tokens", "share", "first", "last")
        .sort(["tokens", "contact"], descending=[True, False])
    )
    return out
