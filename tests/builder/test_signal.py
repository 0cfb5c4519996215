"""signal-export chat.md parser: fixture, CHAT_FORMATS.md section 5, fuzz."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from tests.builder.fuzzing import assert_one_line
from builder.ingest import signal
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA


def parse(*docs: Document):
    warnings: list[str] = []
    df = signal.parse(list(docs), warnings.append)
    assert df.schema == MESSAGE_SCHEMA
    return df, warnings


def test_chat_miner_fixture(shared_fixtures):
    name = "joweich__chat-miner__signal_test_export.txt"
    text = (shared_fixtures / name).read_text(encoding="utf-8")
    assert signal.sniff(name, text[:8192]) >= 80
    df, warnings = parse(Document(name=name, text=text))
    assert warnings == []
    # signal_target.json (newest-first there): 2 messages. chat-miner joins the
    # continuation line with a space ("Hello Jane!"); our convention keeps "\n".
    assert df["sender"].to_list() == ["Jane Doe", "John Doe"]
    assert df["text"].to_list() == ["Hello John!", "Hello\nJane!"]
    assert df["timestamp"].to_list() == [datetime(2019, 12, 24, 12, 23), datetime(2020, 1, 17, 21, 49)]
    assert df["kind"].to_list() == ["text", "text"]


NEW_STYLE = """[2023-01-02 10:00:00] Me: hello there  
second line
[2023-01-02 10:01:05] Alice: 

> hello there
> second line

sure thing
(- Me: 👍, Bob: ❤️ -)
[2023-01-02 10:02:00] Alice: ![IMG_1.jpg](./media/IMG_1.jpg)  
[2023-01-02 10:02:30] Alice: ![IMG_2.jpg](./media/IMG_2.jpg)  look at this
[2023-01-02 10:02:40] Alice: [report.pdf](./media/report.pdf)  
[2023-01-02 10:02:50] Bob: (media not exported)  
[2023-01-02 10:03:00] Me: (This message was deleted)
[2023-01-02 10:04:00] Me: Incoming voice call (accepted, 2m 5s)
[2023-01-02 10:05:00] Alice: Missed video call
[2023-01-02 10:06:00] Alice: a: b: c
"""


def test_new_style_cases():
    df, warnings = parse(Document(name="Alice/chat.md", text=NEW_STYLE, folder="signal-chats/Alice"))
    assert warnings == []
    assert set(df["chat"]) == {"Alice"}
    assert df["text"].to_list() == [
        "hello there\nsecond line",  # Markdown hard-break spaces removed
        "sure thing",  # quote and reactions removed
        "![IMG_1.jpg](./media/IMG_1.jpg)",
        "look at this",  # caption beside an attachment
        "[report.pdf](./media/report.pdf)",
        "(media not exported)",
        "(This message was deleted)",
        "Incoming voice call (accepted, 2m 5s)",
        "Missed video call",
        "a: b: c",
    ]
    assert df["kind"].to_list() == ["text", "text", "media", "text", "media", "media", "deleted", "system", "system", "text"]
    assert df["sender"].to_list() == ["Me", "Alice", "Alice", "Alice", "Alice", "Bob", "Me", None, None, "Alice"]
    assert df["timestamp"][1] == datetime(2023, 1, 2, 10, 1, 5)


def test_old_style_and_crlf():
    text = "[2019-05-29, 15:04] Me: How is everyone?\r\n[2019-05-29, 15:05] No-Sender: fine\r\nthanks\r\n"
    df, _ = parse(Document(name="index.md", text=text, chat_hint="Family"))
    assert df["text"].to_list() == ["How is everyone?", "fine\nthanks"]
    assert df["chat"].unique().to_list() == ["Family"]
    assert df["timestamp"][1] == datetime(2019, 5, 29, 15, 5)


def test_impossible_time_is_a_continuation_with_line_number():
    text = "[2023-01-02 10:00:00] Me: one\n[2023-01-02 25:61:00] Me: two\n[2023-01-02 10:02:00] Me: three\n"
    df, warnings = parse(Document(name="chat.md", text=text))
    assert df["text"].to_list() == ["one\n[2023-01-02 25:61:00] Me: two", "three"]
    assert len(warnings) == 1 and warnings[0].startswith("chat.md:2:")


def test_preamble_is_reported():
    df, warnings = parse(Document(name="chat.md", text="# Alice\n\n[2023-01-02 10:00:00] Me: one\n"))
    assert df.height == 1 and len(warnings) == 1 and "chat.md:1:" in warnings[0]


@pytest.mark.parametrize("text", ["", "   \n", "just some notes\nnothing else\n", "12/01/2020, 10:00 - A: hi"])
def test_not_signal_is_one_parse_error(text):
    with pytest.raises(ParseError) as err:
        parse(Document(name="notes.md", text=text))
    assert str(err.value).startswith("notes.md") and "\n" not in str(err.value)


def test_sniff():
    assert signal.sniff("Alice/chat.md", NEW_STYLE) == 95
    assert signal.sniff("x.txt", "[2019-12-24, 12:23] Jane: hi") == 80
    # ISO-locale WhatsApp iOS looks the same in a .txt: only a weak claim
    assert signal.sniff("_chat.txt", "[2019-12-24 12:23:01] Jane: hi") == 25
    assert signal.sniff("_chat.txt", "[24/12/2019, 12:23:01] Jane: hi") == 0
    assert signal.sniff("x.json", '{"messages": []}') == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    "[2023-01-02 10:00:00] Me: hi", "[2023-01-02, 10:00] A: x", "[2023-13-02 10:00:00] B: y", "> quote", "",
    "(- A: 👍 -)", "![a](./media/a)  ", "(This message was deleted)", "Missed call", "\r", "[", "]: :",
"[2023-01-02 10:00:00] Me: ",
]) | st.text(max_size=30), max_size=12))
def test_fuzz_only_parse_error(lines):
    try:
        parse(Document(name="chat.md", text="\n".join(lines)))
    except ParseError as err:
        assert_one_line(err)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(raw):
    try:
        parse(Document(name="chat.md", text=raw.decode("utf-8", "surrogateescape")))
    except ParseError as err:
        assert_one_line(err)
