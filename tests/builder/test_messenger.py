"""Messenger and Instagram DYI JSON parsers: fixtures, CHAT_FORMATS.md section 4, fuzz."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from tests.builder.fuzzing import assert_one_line, mutated_json
from builder.ingest import discord, instagram, messenger, telegram
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA


def parse(*docs: Document, mod=messenger):
    warnings: list[str] = []
    df = mod.parse(list(docs), warnings.append)
    assert df.schema == MESSAGE_SCHEMA
    return df, warnings


def mojibake(s: str) -> str:
    """What the DYI exporter does to every string."""
    return s.encode("utf-8").decode("latin-1")


def doc(data, name="inbox/alice_1/message_1.json", folder="inbox/alice_1", **kw) -> Document:
    text = data if isinstance(data, str) else json.dumps(data)  # ASCII escapes, like the real files
    return Document(name=name, text=text, folder=folder, **kw)


def fixture_doc(root, name: str) -> Document:
    return Document(name=name, text=(root / name).read_text(encoding="utf-8-sig"))


# --- fixtures ---------------------------------------------------------------------------


def test_chat_analytics_messenger(shared_fixtures):
    name = "mlomb__chat-analytics__messenger_2A_7M.json"
    d = fixture_doc(shared_fixtures, name)
    assert messenger.sniff(name, d.text[:8192]) >= 90
    assert instagram.sniff(name, d.text[:8192]) < messenger.sniff(name, d.text[:8192])
    df, warnings = parse(d)
    assert warnings == []
    # messenger_2A_7M.json.ts lists the messages oldest-first with these attachments
    assert df["sender"].to_list() == ["Bob", "Bob", "Alice", "Bob", "Bob", "Bob", "Alice"]
    assert df["kind"].to_list() == ["media"] * 4 + ["text"] * 3
    assert df["text"].to_list() == ["[photo]", "[sticker]", "[audio]", "[file]", "you what", "Whats up!", "Hello"]
    # timestamp_ms rendered as UTC wall clock: 1415147240411 = 2014-11-05T00:27:20.411Z
    assert df["timestamp"][0] == datetime(2014, 11, 5, 0, 27, 20, 411000)
    assert df["timestamp"][-1] == datetime(2014, 11, 5, 0, 35, 32, 56000)
    assert set(df["chat"]) == {"Alice"}


def test_chat_miner_instagram(shared_fixtures):
    name = "joweich__chat-miner__instagram_test_export.json"
    d = fixture_doc(shared_fixtures, name)
    assert instagram.sniff(name, d.text[:8192]) >= 90
    assert messenger.sniff(name, d.text[:8192]) < 90
    df, _ = parse(d, mod=instagram)
    # instagram_target.json lists newest-first; we keep chronological order. Times in UTC.
    assert df["sender"].to_list() == ["Jane Doe", "John Doe"]
    assert df["text"].to_list() == ["Hello John!", "Hello Jane!"]
    assert df["timestamp"].to_list() == [datetime(2019, 12, 24, 11, 23), datetime(2020, 1, 17, 20, 49)]


def test_chat_miner_legacy_instagram(shared_fixtures):
    name = "joweich__chat-miner__legacy_instagram_testlog.json"
    df, warnings = parse(fixture_doc(shared_fixtures, name), mod=instagram)
    assert warnings == []
    assert df.height == 13
    assert set(df["chat"]) == {"Test Log"}
    # mojibake repaired in names and content (SOURCES.md: J❤️hn Doe and sender ❤️)
    senders = set(df["sender"].drop_nulls())
    assert {"John Doe", "J❤️hn Doe", "Jane Doe", "Lionel Messi", "❤️"} == senders
    assert "Testing message with emoji: ❤️" in df["text"].to_list()
    assert "Testing username with emoji: J❤️hn Doe" in df["text"].to_list()
    # the file is not sorted; we are (min 2014-12-24T17:08Z, max 2022-09-10T22:37Z, UTC).
    # chat-miner's target CSV shows the same instants in Europe/Berlin (+1 h).
    assert df["timestamp"].is_sorted()
    assert df["timestamp"][0] == datetime(2014, 12, 24, 17, 8)
    assert df["timestamp"][-1] == datetime(2022, 9, 10, 22, 37)
    by_text = dict(zip(df["text"], df["kind"]))
    assert by_text["Jane Doe joined the group."] == "system"
    assert by_text["John Doe's poll has multiple updates."] == "system"
    assert by_text["This poll is no longer available."] == "system"
    assert by_text["[audio]"] == "media" and by_text["[video]"] == "media" and by_text["[photo]"] == "media"
    assert by_text["[shared: https://www.instagram.com/p/CmUv48DLvxd/?feed_type=reshare_chaining]"] == "media"
    # the reactions-only entry (chat-miner: "disappearingmessage") has nothing left
    assert by_text["(message not available)"] == "deleted"
    assert df.filter(df["kind"] == "system")["sender"].null_count() == 3


# --- inline exports ---------------------------------------------------------------------


def m(ms, sender="Alice", content=None, **kw):
    out = {"sender_name": mojibake(sender), "timestamp_ms": ms, **kw}
    if content is not None:
        out["content"] = mojibake(content)
    return out


def thread(messages, title="Alice", **kw):
    return {"participants": [{"name": mojibake("Alice")}, {"name": "Sam"}], "messages": messages,
            "title": mojibake(title), "thread_path": "inbox/alice_1", **kw}


def test_mojibake_repaired_everywhere_and_idempotent():
    d = doc(thread([m(1_700_000_000_000, "Radosław", "Cześć 💖 ’quoted’")], title="Radosław"))
    df, _ = parse(d)
    assert df.row(0)[:5] == ("Radosław", datetime(2023, 11, 14, 22, 13, 20), "Radosław", "Cześć 💖 ’quoted’", "text")
    assert messenger.repair("café") == "café"  # clean latin-1 text is left alone
    assert messenger.repair(messenger.repair(mojibake("J❤️hn"))) == "J❤️hn"


def test_several_files_merge_oldest_first():
    # message_1 is the newest; each file is newest-first
    f1 = doc(thread([m(4000, content="four"), m(3000, "Sam", "three")]), name="inbox/alice_1/message_1.json")
    f2 = doc(thread([m(2000, "Sam", "two"), m(1000, content="one")]), name="inbox/alice_1/message_2.json")
    other = doc(thread([m(1500, "Bo", "other chat")], title="Bo") | {"thread_path": "inbox/bo_2"},
                name="inbox/bo_2/message_1.json", folder="inbox/bo_2")
    df, _ = parse(f1, other, f2)
    assert df.filter(df["chat"] == "Alice")["text"].to_list() == ["one", "two", "three", "four"]
    assert df.filter(df["chat"] == "Bo")["text"].to_list() == ["other chat"]
    assert df.filter(df["chat"] == "Alice")["timestamp"][0] == datetime(1970, 1, 1, 0, 0, 1)


def test_equal_times_keep_oldest_first():
    df, _ = parse(doc(thread([m(5000, content="second"), m(5000, content="first")])))
    assert df["text"].to_list() == ["first", "second"]


def test_kinds():
    msgs = [
        m(9, content="hello", is_unsent=True),
        m(8, "Bo", content="Bo left the group."),
        m(7, content="Alice named the group Trip."),
        m(6, content="Alice sent an attachment.", share={"link": "https://example.com/x"}),
        m(5, content="check this https://example.com", share={"link": "https://example.com"}),
        m(4, gifs=[{"uri": "a.gif"}], photos=[{"uri": "a.jpg"}, {"uri": "b.jpg"}]),
        m(3, content="Alice started a video call.", call_duration=0),
        m(2, type="Subscribe", users=[{"name": "Bo"}]),
        m(1, content="Liked a message"),
    ]
    df, _ = parse(doc(thread(msgs)))
    assert df["kind"].to_list() == ["system", "system", "system", "media", "text", "media", "system", "system", "deleted"]
    assert df["text"].to_list() == [
        "Liked a message",
        "Alice added Bo",
        "Alice started a video call.",
        "[photo] [photo] [GIF]",
        "check this https://example.com",
        "[shared: https://example.com/x]",
        "Alice named the group Trip.",
        "Bo left the group.",
        "hello",
    ]
    assert df["sender"].to_list() == [None, None, None, "Alice", "Alice", "Alice", None, None, "Alice"]


def test_older_export_with_seconds_and_e2ee_export_untouched():
    old = doc(thread([{"sender_name": "Alice", "timestamp": 1_500_000_000, "content": "old"}]))
    df, _ = parse(old)
    assert df["timestamp"][0] == datetime(2017, 7, 14, 2, 40)
    e2ee = {"participants": ["Alice", "Sam"], "threadName": "Alice", "messages": [
        {"senderName": "Zoë", "text": "héllo ’", "timestamp": 1_700_000_000_000, "type": "text", "isUnsent": False, "media": []},
        {"senderName": "Sam", "text": "", "timestamp": 1_700_000_001_000, "type": "media", "media": [{"uri": "x.jpg"}]},
    ]}
    # text already proper UTF-8 (e2ee export): must not be "repaired"
    df, _ = parse(Document(name="e2ee/alice.json", text=json.dumps(e2ee, ensure_ascii=False)))
    assert df["text"].to_list() == ["héllo ’", "[media]"]
    assert df["sender"].to_list() == ["Zoë", "Sam"]


def test_sniff_messenger_vs_instagram():
    text = json.dumps(thread([m(1, content="x")]))[:8192]
    assert messenger.sniff("your_facebook_activity/messages/inbox/a/message_1.json", text) == 90
    assert instagram.sniff("your_facebook_activity/messages/inbox/a/message_1.json", text) == 30
    assert instagram.sniff("your_instagram_activity/messages/inbox/a/message_1.json", text) == 90
    assert messenger.sniff("your_instagram_activity/messages/inbox/a/message_1.json", text) == 30
    ig = json.dumps(thread([m(1, content="x", share={"link": "https://www.instagram.com/p/1"})]))
    assert instagram.sniff("export.zip!/messages/inbox/a/message_1.json", ig) == 90
    assert messenger.sniff("export.zip!/messages/inbox/a/message_1.json", ig) == 30
    assert telegram.sniff("message_1.json", text) == 0 and discord.sniff("message_1.json", text) == 0


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"participants": [], "messages": [{"sender_name": "A", "timestamp_ms": 14', "truncated"),
        ('{"participants": []}', "no 'messages' list"),
        ('{"messages": [{"sender_name": "A", "content": "x"}]}', "message #1 has no time"),
        ('{"messages": [{"timestamp_ms": 1, "content": "x"}]}', "no 'sender_name'"),
        ('{"messages": [{"sender_name": "A", "timestamp_ms": 99999999999999999999, "content": "x"}]}', "unreadable time"),
        ("[]", "expected an object"),
        ("", "empty"),
    ],
)
def test_bad_input_is_one_parse_error(text, problem):
    with pytest.raises(ParseError) as err:
        parse(doc(text, name="bad.json"))
    assert str(err.value).startswith("bad.json") and problem in str(err.value) and "\n" not in str(err.value)


# --- fuzz -------------------------------------------------------------------------------

BASE = thread([
    m(5, content="hello ❤️"), m(4, "Bo", content="Bo left the group."), m(3, photos=[{"uri": "x"}]),
    m(2, is_unsent=True), m(1, type="Subscribe", users=[{"name": "Bo"}]), m(0, call_duration=5),
])
ODD_VALUES = [None, True, 0, 7, -1, 10**20, 1.5, "", "x", "\u00e2\u009d", [], [1, "a"], {}, {"name": 3}]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_json(BASE, ODD_VALUES), st.sampled_from([messenger, instagram]))
def test_fuzz_mutated_exports_only_raise_parse_error(text, mod):
    try:
        parse(doc(text), mod=mod)
    except ParseError as err:
        assert_one_line(err)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_only_raise_parse_error(raw):
    try:
        parse(doc(raw.decode("utf-8", "replace")))
    except ParseError as err:
        assert_one_line(err)
