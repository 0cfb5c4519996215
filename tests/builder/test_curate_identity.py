from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from builder.curate import identity
from builder.curate.config import ContactsSection
from builder.errors import ClonekitError
from builder.schema import MESSAGE_SCHEMA

T0 = dt.datetime(2024, 3, 1, 9, 0)


class WordCounter:
    name = "words"

    def count(self, texts):
        return [len(t.split()) for t in texts]


def frame(rows):
    return pl.DataFrame(
        [dict(chat=c, timestamp=T0 + dt.timedelta(minutes=m), sender=s, text=t, kind="text", source="t")
         for c, m, s, t in rows],
        schema=MESSAGE_SCHEMA,
    )


MSGS = frame([
    ("Ann", 0, "Ann", "hi sam"), ("Ann", 1, "Sam", "hi ann how are you"), ("Ann", 2, "Ann", "good"),
    ("Bob", 0, "Bob", "yo"), ("Bob", 5, "Sam", "hey"),
    ("Team", 0, "Bob", "meeting at ten today"), ("Team", 1, "Ann", "ok"), ("Team", 2, "Sam", "fine"),
    ("Team", 3, None, "Bob added Cat"),
])


def test_suggest_me_is_the_sender_of_every_one_to_one_chat():
    assert identity.suggest_me(MSGS) == ["Sam"]
    assert identity.suggest_me(MSGS.lazy()) == ["Sam"]


def test_suggest_me_without_one_to_one_chats_falls_back_to_most_chats():
    groups = frame([("G1", 0, "A", "x"), ("G1", 1, "B", "y"), ("G1", 2, "C", "z"), ("G2", 0, "A", "x"),
                    ("G2", 1, "D", "y"), ("G2", 2, "E", "z")])
    assert identity.suggest_me(groups) == ["A"]


def test_check_me_error_lists_close_matches_and_top_senders():
    with pytest.raises(ClonekitError, match=r"matches no sender; close matches: Sam; top senders: Ann, Sam, Bob"):
        identity.check_me(MSGS, ["sam"])
    assert identity.check_me(MSGS, ["Sam", "+1 555"]) == ["Sam"]


def test_chat_table_contacts_roles_and_groups():
    t = identity.chat_table(MSGS, ["Sam"], ContactsSection(roles={"Ann": "partner", "Team": "colleague"})).collect().sort("chat")
    assert t.rows() == [("Ann", False, "Ann", "partner"), ("Bob", False, "Bob", "contact"), ("Team", True, "Team", "colleague")]


def test_contacts_table_counts_tokens_share_and_dates():
    t = identity.contacts_table(MSGS, ["Sam"], WordCounter())
    assert t.columns == ["contact", "chats", "messages", "tokens", "share", "first", "last"]
    assert t.select("contact", "chats", "messages", "tokens").rows() == [("Bob", 2, 2, 5), ("Ann", 2, 3, 4)]
    assert t["share"].to_list() == pytest.approx([5 / 9, 4 / 9])
    assert t.row(1, named=True)["first"] == T0


def test_unknown_contact_in_config_is_named_with_suggestions():
    with pytest.raises(ClonekitError, match=r"contacts.roles.*'Anne'.*did you mean 'Ann'"):
        identity.check_contacts(MSGS, ContactsSection(roles={"Anne": "partner"}))
    with pytest.raises(ClonekitError, match=r"contacts.exclude_chats.*'Nope'"):
        identity.check_contacts(MSGS, ContactsSection(exclude_chats=["Nope"]))
    identity.check_contacts(MSGS, ContactsSection(roles={"Ann": "partner", "Team": "work"}, exclude=["Bob"]))


# Sam is "Sam" on WhatsApp, "Sam Kellett" on Telegram, "samkellett" on Discord: nobody is in
# every 1:1 chat, so the suggestion is whoever is in the most of them.
SPLIT_NAMES = frame([
    ("Ann", 0, "Ann", "hi"), ("Ann", 1, "Sam", "hey ann"), ("Ann", 2, "Sam", "how are you"),
    ("Bob", 0, "Bob", "yo"), ("Bob", 1, "Sam", "hey"),
    ("Cat", 0, "Cat", "hello"), ("Cat", 1, "Sam Kellett", "hi cat"), ("Cat", 2, "Cat", "x"), ("Cat", 3, "Cat", "y"),
    ("Dan", 0, "samkellett", "gg"), ("Dan", 1, "Dan", "wp"),
])


def test_suggest_me_falls_back_to_most_one_to_one_chats():
    assert identity.suggest_me(SPLIT_NAMES) == ["Sam"]


def test_suggest_me_ties_on_one_to_one_chats_broken_by_messages():
    tie = frame([("A", 0, "Me", "x"), ("A", 1, "Ann", "y"), ("B", 0, "Me2", "x"), ("B", 1, "Me2", "z"), ("B", 2, "Bob", "y")])
    assert identity.suggest_me(tie) == ["Me2", "Ann", "Bob", "Me"]


def test_uncovered_chats_list_the_likely_aliases_first():
    assert identity.uncovered_chats(SPLIT_NAMES, ["Sam"]) == [("Cat", ["Sam Kellett", "Cat"]), ("Dan", ["samkellett", "Dan"])]
    assert identity.uncovered_chats(SPLIT_NAMES, ["Sam", "Sam Kellett", "samkellett"]) == []


def test_me_not_set_message_names_the_other_chats_and_how_to_pass_several_me():
    from builder.curate.build import MeNotSet

    err = MeNotSet(identity.suggest_me(SPLIT_NAMES), identity.uncovered_chats(SPLIT_NAMES, ["Sam"]))
    msg = str(err)
    assert "\n" not in msg
    assert "nobody is in every 1:1 chat" in msg and "'Cat': 'Sam Kellett', 'Cat'" in msg
    assert '--me "Sam" --me "Sam Kellett"' in msg
    assert err.suggestions == ["Sam"]
    assert 'confirm with --me "Sam"' in str(MeNotSet(["Sam"]))
