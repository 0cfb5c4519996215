"""DiscordChatExporter JSON parser: fixtures, CHAT_FORMATS.md section 3.1 cases, fuzz."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from tests.builder.fuzzing import assert_one_line, mutated_json
from builder.ingest import discord, messenger, telegram
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA


def parse(*docs: Document):
    warnings: list[str] = []
    df = discord.parse(list(docs), warnings.append)
    assert df.schema == MESSAGE_SCHEMA
    return df, warnings


def doc(data, name: str = "export.json", **kw) -> Document:
    return Document(name=name, text=data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), **kw)


def fixture_doc(root, name: str) -> Document:
    return Document(name=name, text=(root / name).read_text(encoding="utf-8-sig"))


# --- fixtures (expectations from the chat-analytics *.json.ts files) ----------------------


def test_dm(shared_fixtures):
    name = "mlomb__chat-analytics__discord_DM_2A_2M.json"
    d = fixture_doc(shared_fixtures, name)
    assert discord.sniff(name, d.text[:8192]) >= 90
    df, warnings = parse(d)
    assert warnings == []
    assert set(df["chat"]) == {"Someones name"}  # a DM is named after the channel
    # chat-analytics names authors "nickname#discriminator"; we use the nickname alone.
    assert df["sender"].to_list() == ["mlomb", "Someones nickname", None]
    assert df["text"].to_list()[:2] == ["blah", "something something text"]
    assert df["kind"].to_list() == ["text", "text", "system"]
    assert df["text"][2] == "Someones nickname: Started a call that lasted 251 minutes"
    # the offset (+00:00) is dropped, the wall-clock time kept
    assert df["timestamp"].to_list() == [
        datetime(2019, 1, 4, 17, 52, 39, 762000),
        datetime(2019, 1, 25, 0, 11, 4, 83000),
        datetime(2020, 7, 17, 17, 3, 14, 366000),
    ]


def test_group_dm(shared_fixtures):
    df, warnings = parse(fixture_doc(shared_fixtures, "mlomb__chat-analytics__discord_GC_3A_5M.json"))
    assert warnings == []
    assert df.height == 6  # messageCount says 5; the array has 6 entries
    assert set(df["chat"]) == {"a group chat"}
    texts = df.filter(df["kind"] == "text")
    assert texts["text"].to_list() == [
        "Should honor nickname over name",
        "hey @mlomb whats up, check out https://chatanalytics.app",
        "woah nice :custom_emoji:",
    ]
    assert texts["sender"].to_list() == ["theplant", "lombi", "mlomb"]  # nickname over name
    assert texts["timestamp"].to_list() == [
        datetime(2023, 1, 17, 19, 33, 19, 87000),
        datetime(2023, 1, 17, 19, 34, 17, 742000),
        datetime(2023, 1, 18, 20, 12, 12, 123000),
    ]
    system = df.filter(df["kind"] == "system")
    assert system["text"].to_list() == [
        "lombi: Changed the channel name",
        "lombi: Changed the channel icon",
        "mlomb: Started a call that lasted 113 minutes",
    ]
    assert system["sender"].to_list() == [None, None, None]


def test_guild_channel(shared_fixtures):
    df, warnings = parse(fixture_doc(shared_fixtures, "mlomb__chat-analytics__discord_SV_5A_5M.json"))
    assert warnings == []
    assert df.height == 4  # 5 entries, 4 unique ids
    assert set(df["chat"]) == {"DefleMask / #general-chiptune"}
    assert df["sender"].to_list() == ["Deleted User", "mlomb", "mlomb", "mlomb"]  # mlomb once without nickname
    assert df["text"][0] == "This message has been edited and written by a deleted user."
    assert df["text"][2] == "This message has attachments and stickers."  # has content -> text
    assert set(df["kind"]) == {"text"}
    assert df["timestamp"][0] == datetime(2018, 5, 20, 16, 9, 44, 209000)


# --- inline exports ---------------------------------------------------------------------


def author(name="alice", nickname=None, **kw):
    a = {"id": "1", "name": name, "discriminator": "0000", "isBot": False, **kw}
    if nickname is not None:
        a["nickname"] = nickname
    return a


def message(i, content="hi", mtype="Default", ts="2024-05-01T10:00:00+02:00", **kw):
    return {"id": str(i), "type": mtype, "timestamp": ts, "content": content, "author": author(), "attachments": [], "embeds": [], **kw}


def export(messages, guild=("0", "Direct Messages"), channel="bob"):
    return {
        "guild": {"id": guild[0], "name": guild[1], "iconUrl": ""},
        "channel": {"id": "42", "type": "DirectTextChat", "name": channel},
        "messages": messages,
        "messageCount": len(messages),
    }


def test_offsets_are_dropped_not_applied():
    msgs = [
        message(1, ts="2024-05-01T10:00:00+02:00"),
        message(2, ts="2024-05-01T10:00:00.1234567-07:00"),
        message(3, ts="2024-05-01T23:59:59Z"),
    ]
    df, _ = parse(doc(export(msgs)))
    assert df["timestamp"].to_list() == [
        datetime(2024, 5, 1, 10, 0),
        datetime(2024, 5, 1, 10, 0, 0, 123456),
        datetime(2024, 5, 1, 23, 59, 59),
    ]


def test_media_without_content():
    msgs = [
        message(1, "", attachments=[{"id": "9", "url": "u", "fileName": "cat.png", "fileSizeBytes": 3}]),
        message(2, "", stickers=[{"id": "8", "name": "Laugh", "format": "Png"}]),
        message(3, "", embeds=[{"title": "A video", "url": "https://x"}]),
        message(4, "look", attachments=[{"id": "7", "url": "u", "fileName": "dog.png"}]),
        message(5, ""),
    ]
    df, _ = parse(doc(export(msgs)))
    assert df["kind"].to_list() == ["media", "media", "media", "text", "media"]
    assert df["text"].to_list() == ["[attachment: cat.png]", "[sticker: Laugh]", "[embed: A video]", "look", "[empty message]"]


def test_system_types_unknown_types_and_replies():
    msgs = [
        message(1, "Added bob to the group.", "RecipientAdd"),
        message(2, "", "ChannelPinnedMessage"),
        message(3, "Joined the server.", "GuildMemberJoin"),
        message(4, "answering", "Reply", reference={"messageId": "1"}),
        message(5, "???", "SomethingNew"),
        message(6, "/roll", "ChatInputCommand"),
    ]
    df, warnings = parse(doc(export(msgs)))
    assert df["kind"].to_list() == ["system", "system", "system", "text", "text"]
    assert df["text"].to_list() == ["alice: Added bob to the group", "alice: pinned a message", "alice: Joined the server", "answering", "/roll"]
    assert df["sender"].to_list() == [None, None, None, "alice", "alice"]
    assert len(warnings) == 1 and "SomethingNew" in warnings[0]


def test_guild_chat_name_and_nickname_fallback():
    msgs = [message(1, author=author("alice", nickname="Al")), message(2, author=author("bob"))]
    df, _ = parse(doc(export(msgs, guild=("77", "Cool Server"), channel="general")))
    assert df["chat"].unique().to_list() == ["Cool Server / #general"]
    assert df["sender"].to_list() == ["Al", "bob"]


def test_partitions_are_ordered_and_deduplicated():
    part1 = export([message(1, "one", ts="2024-05-01T10:00:00+00:00"), message(2, "two", ts="2024-05-01T10:01:00+00:00")])
    part2 = export([message(2, "two", ts="2024-05-01T10:01:00+00:00"), message(3, "three", ts="2024-05-01T10:02:00+00:00")])
    df, _ = parse(doc(part2, name="chat [part 2].json"), doc(part1, name="chat [part 1].json"))
    assert df["text"].to_list() == ["one", "two", "three"]


@pytest.mark.parametrize(
    "data, problem",
    [
        ('{"guild": {"id": "0"}, "channel": {"id": "1", "name": "x"}, "messages": [{"id": "1", "type": "Def', "truncated"),
        ('{"guild": {}}', "not a DiscordChatExporter export"),
        ('"just a string"', "expected an object"),
        (json.dumps(export([{"id": "1", "type": "Default", "timestamp": "2024-01-01T00:00:00+00:00", "content": "x"}])), "has no 'author'"),
        (json.dumps(export([message(1, ts="last tuesday")])), "message id 1 has an unreadable time 'last tuesday'"),
        (json.dumps(export([message(1, ts=None)])), "message id 1 has no time"),
        (json.dumps({**export([]), "messages": "nope"}), "expected a list"),
    ],
)
def test_bad_input_is_one_parse_error(data, problem):
    with pytest.raises(ParseError) as err:
        parse(doc(data, name="bad.json"))
    assert str(err.value).startswith("bad.json") and problem in str(err.value) and "\n" not in str(err.value)


def test_sniff_is_specific(shared_fixtures):
    text = (shared_fixtures / "mlomb__chat-analytics__discord_GC_3A_5M.json").read_text(encoding="utf-8-sig")[:8192]
    assert discord.sniff("x.json", text) >= 90
    assert telegram.sniff("x.json", text) == 0
    assert messenger.sniff("x.json", text) == 0
    for other in ("mlomb__chat-analytics__telegram_DM_2A_7M.json", "mlomb__chat-analytics__messenger_2A_7M.json", "la-ninpre__tg2md__result.json"):
        assert discord.sniff(other, (shared_fixtures / other).read_text(encoding="utf-8-sig")[:8192]) == 0


# --- fuzz -------------------------------------------------------------------------------

BASE = export([
    message(1, "hello"),
    message(2, "", attachments=[{"id": "9", "fileName": "a.png"}], stickers=[{"name": "s"}]),
    message(3, "Started a call.", "Call"),
])



ODD_VALUES = [None, True, 0, 7, -1, 10**20, 1.5, "", "x", "2024-13-45T99:99:99", [], [1, "a"], {}, {"text": 3}]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_json(BASE, ODD_VALUES))
def test_fuzz_mutated_exports_only_raise_parse_error(text):
    try:
        parse(doc(text))
    except ParseError as err:
        assert_one_line(err)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_only_raise_parse_error(raw):
    try:
        parse(doc(raw.decode("utf-8", "replace")))
    except ParseError as err:
        assert_one_line(err)
