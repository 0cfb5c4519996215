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
    with pytest.raises(ClonekitError, match=r"'sam' matches no sender; did you mean 'Sam'\? top senders: Ann, Sam, Bob"):
        identity.check_me(MSGS, ["sam"])
    with pytest.raises(ClonekitError, match=r"'\+1 555' matches no sender \(the other aliases do match\)"):
        identity.check_me(MSGS, ["Sam", "+1 555"])


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


# ---------------------------------------------------------------- aliases, one person, plain messages
CROSS = frame([
    ("Priya Shah", 0, "Priya Shah", "hi sam how was the quiz"), ("Priya Shah", 1, "Sam", "we won"),
    ("Quiz / #general", 0, "Priya", "round two starts now"), ("Quiz / #general", 1, "Dev", "ready"),
    ("Quiz / #general", 2, "Sam", "go"),
    ("Dev", 0, "Dev", "beers later"), ("Dev", 1, "Sam", "yes"),
    ("Work", 0, "Ann", "standup"), ("Work", 1, "Ann Lee", "other ann"), ("Work", 2, "Sam", "ok"),
])


def test_every_me_alias_must_match_a_sender():
    assert identity.check_me(MSGS, ["Sam"]) == ["Sam"]
    with pytest.raises(ClonekitError) as err:
        identity.check_me(MSGS, ["Sam", "Sam Kelett"])  # a typo in the second alias
    msg = str(err.value)
    assert "'Sam Kelett' matches no sender (the other aliases do match)" in msg and "\n" not in msg


def test_alias_pairs_are_suggested_across_chats_never_within_one():
    # "Ann" and "Ann Lee" write in the same chat: two people
    assert identity.suggest_alias_pairs(CROSS, ["Sam"]) == [("Priya", "Priya Shah")]


def test_aliases_merge_one_person_for_roles_and_contacts():
    contacts = ContactsSection(aliases={"Priya Shah": ["Priya"]}, roles={"Priya Shah": "friend"})
    identity.check_aliases(CROSS, contacts.aliases)
    merged = identity.merge_aliases(CROSS, contacts.aliases)
    table = identity.contacts_table(merged, ["Sam"], WordCounter())
    priya = table.filter(pl.col("contact") == "Priya Shah").row(0, named=True)
    assert priya["chats"] == 2 and priya["messages"] == 2 and "Priya" not in table["contact"].to_list()
    identity.check_contacts(merged, contacts)
    with pytest.raises(ClonekitError, match=r"contacts.aliases': 'Prya' \(listed for 'Priya Shah'\) is not a sender.*'Priya'"):
        identity.check_aliases(CROSS, {"Priya Shah": ["Prya"]})
    from builder.config_base import validate

    with pytest.raises(ClonekitError, match="key 'aliases': .*'Priya' is listed for both 'Priya Shah' and 'Priya S'"):
        validate(ContactsSection, {"aliases": {"Priya Shah": ["Priya"], "Priya S": ["Priya"]}})


def test_group_only_and_single_sender_messages():
    from builder.curate.build import MeNotSet

    groups = frame([("Team", 0, "Bob", "hi"), ("Team", 1, "Ann", "yo"), ("Team", 2, "Sam", "hey"),
                    ("Club", 0, "Sam", "tonight?"), ("Club", 1, "Cat", "yes"), ("Club", 2, "Dan", "no")])
    msg = str(MeNotSet(identity.suggest_me(groups), [], has_one_to_one=identity.has_one_to_one(groups)))
    assert msg.startswith("who are you? there is no 1:1 chat to tell from") and "every 1:1" not in msg
    assert identity.has_others(MSGS, ["Sam"]) and not identity.has_others(frame([("Notes", 0, "Sam", "todo")]), ["Sam"])


def test_a_chat_with_only_me_says_so(tmp_path):
    from builder.curate.build import curate
    from builder.curate.config import load_build_config
    from builder.curate.sources import Inputs

    cfg = load_build_config(None, {"build.me": ["Sam"], "sessions.min_tokens": 0})
    solo = frame([("Notes", i, "Sam", f"note to self {i}") for i in range(5)])
    inputs = Inputs(messages=solo, instructions=pl.DataFrame(), files=[])
    with pytest.raises(ClonekitError, match="the chats hold only your own messages"):
        curate(inputs, cfg, WordCounter())
