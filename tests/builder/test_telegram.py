"""Telegram Desktop JSON parser: fixtures, every case of CHAT_FORMATS.md section 2, fuzz."""

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


def parse(*docs: Document) -> tuple:
    warnings: list[str] = []
    df = telegram.parse(list(docs), warnings.append)
    assert df.schema == MESSAGE_SCHEMA
    return df, warnings


def doc(data, name: str = "result.json", **kw) -> Document:
    return Document(name=name, text=data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), **kw)


def fixture_doc(root, name: str) -> Document:
    return Document(name=name, text=(root / name).read_text(encoding="utf-8-sig"))


# --- fixtures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["joweich__chat-miner__telegram_test_single_export.json", "joweich__chat-miner__telegram_test_batch_export.json"]
)
def test_chat_miner_exports(shared_fixtures, name):
    d = fixture_doc(shared_fixtures, name)
    assert telegram.sniff(name, d.text[:8192]) >= 90
    df, warnings = parse(d)
    assert warnings == []
    assert df["sender"].to_list() == ["Author 1", "Author 2"]
    # telegram_target.json has "Link: https://telegram.org/": chat-miner joins entity texts
    # with a space. The format concatenates them without separator (our convention).
    assert df["text"].to_list() == ["Minimal Message", "Link:https://telegram.org/"]
    # Only date_unixtime is present here, so it is rendered in UTC (as the target does).
    assert df["timestamp"].to_list() == [datetime(2018, 12, 5, 10, 39, 10), datetime(2018, 12, 5, 10, 49, 24)]
    assert df["kind"].to_list() == ["text", "text"]
    if "batch" in name:
        assert df["chat"].unique().to_list() == ["Chatname"]


def test_chat_analytics_dm(shared_fixtures):
    name = "mlomb__chat-analytics__telegram_DM_2A_7M.json"
    df, warnings = parse(fixture_doc(shared_fixtures, name))
    assert warnings == []
    assert df.height == 8  # 6 messages + 2 service records (computed in SOURCES.md)
    assert set(df["chat"]) == {"Bob"}
    assert df["kind"].to_list() == ["system", "text", "text", "text", "text", "media", "media", "system"]
    assert df["sender"].to_list() == [None, "Bob", "Alice", "Bob", "Alice", "Alice", "Alice", None]
    # chat-analytics pads links with spaces (" https://google.com  👀"); we concatenate.
    assert df["text"][1] == "https://google.com 👀"
    assert df["text"][0] == "Bob joined Telegram"
    assert df["text"][7] == "Alice called (56 s, hangup)"
    ts = df["timestamp"].to_list()
    assert ts[0] == datetime(2019, 7, 5, 16, 55, 32)
    assert ts[2] == datetime(2022, 3, 8, 13, 7, 42)
    # date_unixtime only -> UTC: 1652135033 = 2022-05-09T22:23:53Z
    assert ts[3] == datetime(2022, 5, 9, 22, 23, 53)
    # Both present: `date` (exporter-local wall clock) wins over date_unixtime (02:11:02Z).
    assert ts[7] == datetime(2023, 8, 10, 23, 11, 2)


def test_tg2md_channel(shared_fixtures):
    df, warnings = parse(fixture_doc(shared_fixtures, "la-ninpre__tg2md__result.json"))
    assert warnings == []
    assert df.height == 19  # 1 service + 18 messages
    assert df.filter(df["kind"] == "system")["text"].to_list() == ["test created channel test"]
    assert set(df.filter(df["kind"] != "system")["sender"]) == {"test"}
    assert df["timestamp"][0] == datetime(2020, 11, 12, 12, 53, 52)
    assert df["timestamp"][-1] == datetime(2021, 7, 14, 19, 20, 23)
    texts = df["text"].to_list()
    assert "bold in text\nbold below\n\nnormal text\n\nbold with one line gap\nnormal text" in texts
    assert "multiline\nbold\n\ntext" in texts
    assert "тестирование utf-8." in texts
    # voice message, audio file, 3 photos without caption
    assert df.filter(df["kind"] == "media")["text"].to_list() == ["[photo]", "[voice message]", "[audio]", "[photo]", "[photo]"]
    # the album keeps three rows with identical timestamps, in export order
    album = df.filter(df["timestamp"] == datetime(2021, 7, 14, 18, 52, 46))
    assert album["text"].to_list() == ["multiple photos", "[photo]", "[photo]"]


# --- inline exports ---------------------------------------------------------------------


def msg(i, text="hi", **kw):
    return {"id": i, "type": "message", "date": f"2024-01-0{i}T10:00:00", "from": "Alice", "from_id": "user1", "text": text, **kw}


def test_whole_account_walks_chats_and_left_chats():
    data = {
        "about": "...",
        "personal_information": {"user_id": 1, "first_name": "Sam"},
        "chats": {
            "about": "",
            "list": [
                {"name": "Alice", "type": "personal_chat", "id": 11, "messages": [msg(1)]},
                {"type": "saved_messages", "id": 12, "messages": [msg(2, "note to self")]},
                {"name": None, "type": "replies", "id": 13, "messages": []},
            ],
        },
        "left_chats": {"about": "", "list": [{"name": "Old group", "type": "private_group", "id": 14, "messages": [msg(3)]}]},
    }
    df, _ = parse(doc(data))
    assert df["chat"].to_list() == ["Alice", "Saved Messages", "Old group"]
    assert df["text"].to_list() == ["hi", "note to self", "hi"]


def test_same_name_chats_are_kept_apart_by_id():
    data = {"chats": {"list": [
        {"name": "Alex", "type": "personal_chat", "id": 1, "messages": [msg(1)]},
        {"name": "Alex", "type": "personal_chat", "id": 2, "messages": [msg(2)]},
    ]}}
    df, _ = parse(doc(data))
    assert df["chat"].to_list() == ["Alex (1)", "Alex (2)"]


def test_single_chat_without_name_uses_hint():
    df, _ = parse(doc({"messages": [msg(1)]}, chat_hint="Export 2024"))
    assert df["chat"].to_list() == ["Export 2024"]


def test_entities_concatenate_without_separator_and_keep_newlines():
    text = [{"type": "link", "text": "https://x.org"}, " 👀\n", {"type": "bold", "text": "bold"}, {"type": "mention", "text": "@bob"}]
    df, _ = parse(doc({"name": "A", "messages": [msg(1, text)]}))
    assert df["text"].to_list() == ["https://x.org 👀\nbold@bob"]


def test_media_placeholders_and_captions():
    msgs = [
        msg(1, "", photo="(File not included. Change data exporting settings to download.)"),
        msg(2, "", file="x.webp", media_type="sticker", sticker_emoji="😀"),
        msg(3, "", file="v.ogg", media_type="voice_message"),
        msg(4, "look at this", photo="photos/p.jpg"),
        msg(5, "", poll={"question": "Pizza?", "closed": False, "answers": []}),
        msg(6, "", location_information={"latitude": 1, "longitude": 2}),
        msg(7, "", contact_information={"first_name": "Bo"}),
    ]
    df, _ = parse(doc({"name": "A", "messages": msgs}))
    assert df["kind"].to_list() == ["media", "media", "media", "text", "media", "media", "media"]
    assert df["text"].to_list() == ["[photo]", "[sticker 😀]", "[voice message]", "look at this", "[poll: Pizza?]", "[location]", "[contact]"]


def test_service_messages_are_readable_system_lines():
    def svc(i, action, **kw):
        return {"id": i, "type": "service", "date": "2024-01-01T10:00:00", "actor": "Alice", "actor_id": "user1", "action": action, "text": "", **kw}

    msgs = [
        svc(1, "create_group", title="Trip", members=["Alice", "Bob"]),
        svc(2, "invite_members", members=["Bob", None]),
        svc(3, "edit_group_title", title="Trip 2"),
        svc(4, "pin_message", message_id=3),
        svc(5, "phone_call", duration_seconds=125, discard_reason="hangup"),
        svc(6, "set_messages_ttl", period=86400),
        {"id": 7, "type": "service", "date": "2024-01-01T10:00:00", "actor": "Bob", "information_text": "Bob did a custom thing"},
        svc(8, "some_future_action"),
        {"id": 9, "type": "service", "date": "2024-01-01T10:00:00", "actor": None, "action": "joined_telegram"},
    ]
    df, _ = parse(doc({"name": "Trip", "messages": msgs}))
    assert df["sender"].to_list() == [None] * 9
    assert set(df["kind"]) == {"system"}
    assert df["text"].to_list() == [
        "Alice created group Trip",
        "Alice added Bob, Deleted Account",
        "Alice changed the group name to Trip 2",
        "Alice pinned a message",
        "Alice called (2 min 5 s, hangup)",
        "Alice set messages to auto-delete after 1440 min 0 s",
        "Bob did a custom thing",
        "Alice: some future action",
        "Deleted Account joined Telegram",
    ]


def test_deleted_account_sender_and_unsupported_type_warns():
    msgs = [msg(1, "hello", **{"from": None}), {"id": 2, "type": "unsupported"}]
    df, warnings = parse(doc({"name": "A", "messages": msgs}))
    assert df["sender"].to_list() == ["Deleted Account"]
    assert len(warnings) == 1 and "unsupported" in warnings[0] and "message id 2" in warnings[0]


def test_date_preferred_over_unixtime_fallback_utc():
    msgs = [
        {"id": 1, "type": "message", "date": "2024-03-01T23:30:00", "date_unixtime": "1709335800", "from": "A", "text": "x"},
        {"id": 2, "type": "message", "date_unixtime": "1709335800", "from": "A", "text": "y"},
    ]
    df, _ = parse(doc({"name": "A", "messages": msgs}))
    assert df["timestamp"].to_list() == [datetime(2024, 3, 1, 23, 30), datetime(2024, 3, 1, 23, 30)]


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"name": "A", "messages": [{"id": 1, "type": "message", "date": "2024', "truncated"),
        ("", "empty"),
        ('{"foo": 1}', "not a Telegram export"),
        ("[1, 2]", "expected an object"),
        ('{"messages": {"a": 1}}', "expected a list"),
        ('{"messages": [{"id": 5, "type": "message", "from": "A", "text": "x"}]}', "message id 5 has no time"),
        ('{"messages": [{"id": 5, "type": "message", "date": "yesterday", "text": "x"}]}', "unreadable time 'yesterday'"),
        ('{"messages": [{"type": "message", "date_unixtime": "99999999999999999", "text": "x"}]}', "unreadable time"),
        ('{"messages": [3]}', "expected an object"),
    ],
)
def test_bad_input_is_one_parse_error(text, problem):
    with pytest.raises(ParseError) as err:
        parse(doc(text, name="bad.json"))
    message = str(err.value)
    assert message.startswith("bad.json") and problem in message and "\n" not in message


def test_truncated_json_names_line():
    text = json.dumps({"name": "A", "messages": [msg(1), msg(2)]}, indent=1)
    with pytest.raises(ParseError) as err:
        parse(doc(text[: len(text) // 2], name="r.json"))
    assert err.value.line is not None and err.value.line > 1
    assert "truncated" in str(err.value)


def test_sniff_does_not_claim_other_formats(shared_fixtures):
    tg = (shared_fixtures / "mlomb__chat-analytics__telegram_DM_2A_7M.json").read_text(encoding="utf-8-sig")
    assert telegram.sniff("result.json", tg[:8192]) >= 90
    assert discord.sniff("result.json", tg[:8192]) == 0
    assert messenger.sniff("result.json", tg[:8192]) == 0
    for other in ("mlomb__chat-analytics__discord_DM_2A_2M.json", "mlomb__chat-analytics__messenger_2A_7M.json"):
        text = (shared_fixtures / other).read_text(encoding="utf-8-sig")
        assert telegram.sniff(other, text[:8192]) == 0
    assert telegram.sniff("chat.txt", "12/01/2020, 10:00 - A: hi") == 0


# --- fuzz -------------------------------------------------------------------------------

def _base() -> dict:
    return {"chats": {"list": [{"name": "A", "type": "personal_chat", "id": 1, "messages": [
        msg(1, [{"type": "bold", "text": "b"}, "x"]),
        {"id": 2, "type": "service", "date": "2024-01-01T00:00:00", "actor": "A", "action": "invite_members", "members": ["B"]},
        msg(3, "", photo="p.jpg"),
    ]}]}}


BASE = _base()


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


def test_lone_surrogate_escapes_do_not_crash():
    text = '{"name": "a\\ud800", "messages": [{"type": "message", "date": "2020-01-01T00:00:00", "from": "B", "text": "x\\udc00"}]}'
    df, _ = parse(doc(text))
    assert df["text"][0].startswith("x") and "\ufffd" in df["text"][0]
