"""imessage-exporter TXT parser: fixtures, CHAT_FORMATS.md section 6, fuzz."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from tests.builder.fuzzing import assert_one_line
from builder.ingest import imessage, signal
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA

WHEN = datetime(2022, 5, 17, 17, 29, 42)  # local wall clock as rendered (the test harness used US Pacific)


def parse(*docs: Document):
    warnings: list[str] = []
    df = imessage.parse(list(docs), warnings.append)
    assert df.schema == MESSAGE_SCHEMA
    return df, warnings


def test_concatenated_expected_outputs(shared_fixtures):
    name = "ReagentX__imessage-exporter__txt.rs_expected_concat.txt"
    text = (shared_fixtures / name).read_text(encoding="utf-8")
    assert imessage.sniff(name, text[:8192]) >= 90
    df, warnings = parse(Document(name=name, text=text, chat_hint="Sample Contact"))
    assert warnings == []
    # SOURCES.md: 7 messages (Me x4, Sample Contact x3) + 2 announcements, all at 17:29:42
    messages = df.filter(df["kind"] != "system")
    assert messages.height == 7
    assert messages["sender"].to_list().count("Me") == 4
    assert messages["sender"].to_list().count("Sample Contact") == 3
    assert df.filter(df["kind"] == "system")["text"].to_list() == [
        "You renamed the conversation to Hello world",
        "Name renamed the conversation to Hello world",
    ]
    assert df.filter(df["kind"] == "system")["sender"].to_list() == [None, None]
    assert set(df["timestamp"]) == {WHEN}
    assert messages["kind"].to_list() == ["text", "deleted", "text", "text", "text", "text", "text"]
    assert messages["text"][6] == "SharePlay Message\nEnded"
    assert set(df["chat"]) == {"Sample Contact"}


def test_each_expected_output_parses_alone(shared_fixtures):
    lines = (shared_fixtures / "ReagentX__imessage-exporter__txt.rs_expected_outputs.jsonl").read_text(encoding="utf-8").splitlines()
    full = [json.loads(line) for line in lines if "message_instant_utc" in json.loads(line)]
    assert len(full) == 9
    for record in full:
        df, _ = parse(Document(name=record["test"] + ".txt", text=record["expected_output"]))
        assert df.height == 1 and df["timestamp"][0] == WHEN
        if "announcement" in record["test"]:
            assert df["kind"][0] == "system"
        elif "deleted" in record["test"]:
            assert df.row(0)[2:5] == ("Me", "Hello world", "deleted")
        else:
            assert df["text"][0] in ("Hello world", "SharePlay Message\nEnded")


INLINE = """Jan 02, 2023  9:05:01 AM
+15555550123
hi there

with a blank line inside
Reactions:
    Loved by Me

    Jan 02, 2023  9:06:00 AM
    Me
    threaded reply
      indented more

Jan 02, 2023 10:06:00 PM
Me
/Users/me/Library/Messages/Attachments/ab/IMG_0001.HEIC

Jan 02, 2023 10:07:00 PM
alex@example.com
Sticker from alex@example.com: /Users/me/Library/Messages/StickerCache/x.png

Jan 03, 2023 12:00:00 AM (Read by you after 2 minutes)
Me
This message was deleted from the conversation!

Jan 03, 2023 12:30:00 PM Alex added Sam to the conversation.
"""


def test_inline_cases():
    df, warnings = parse(Document(name="exports/+15555550123.txt", text=INLINE))
    assert warnings == []
    assert set(df["chat"]) == {"+15555550123"}
    assert df["sender"].to_list() == ["+15555550123", "Me", "Me", "alex@example.com", "Me", None]
    assert df["text"].to_list() == [
        "hi there\n\nwith a blank line inside",  # blank line inside a body; reactions removed
        "threaded reply\n  indented more",  # reply indent removed, inner indent kept
        "/Users/me/Library/Messages/Attachments/ab/IMG_0001.HEIC",
        "Sticker from alex@example.com: /Users/me/Library/Messages/StickerCache/x.png",
        "This message was deleted from the conversation!",
        "Alex added Sam to the conversation.",
    ]
    assert df["kind"].to_list() == ["text", "text", "media", "media", "deleted", "system"]
    assert df["timestamp"].to_list() == [
        datetime(2023, 1, 2, 9, 5, 1),
        datetime(2023, 1, 2, 9, 6),
        datetime(2023, 1, 2, 22, 6),
        datetime(2023, 1, 2, 22, 7),
        datetime(2023, 1, 3, 0, 0),
        datetime(2023, 1, 3, 12, 30),
    ]


def test_impossible_date_is_continuation_with_line_number():
    text = "Feb 01, 2023  1:00:00 PM\nMe\none\n\nFeb 30, 2023  1:00:00 PM\nMe\ntwo\n"
    df, warnings = parse(Document(name="c.txt", text=text))
    assert df.height == 1 and df["text"][0] == "one\n\nFeb 30, 2023  1:00:00 PM\nMe\ntwo"
    assert len(warnings) == 1 and warnings[0].startswith("c.txt:5:")


@pytest.mark.parametrize("text", ["", "hello\nworld\n", "[2023-01-02 10:00:00] Me: hi", "May 17, 2022  5:29:42 PM\n"])
def test_not_imessage_is_one_parse_error(text):
    with pytest.raises(ParseError) as err:
        parse(Document(name="c.txt", text=text))
    assert str(err.value).startswith("c.txt") and "\n" not in str(err.value)


def test_sniff():
    assert imessage.sniff("x.txt", INLINE) == 90
    assert signal.sniff("x.txt", INLINE) == 0
    assert imessage.sniff("_chat.txt", "12/01/2020, 10:00 - A: hi\n") == 0
    assert imessage.sniff("chat.md", "[2023-01-02 10:00:00] Me: hi\n") == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    "May 17, 2022  5:29:42 PM", "    May 17, 2022  5:29:42 PM", "Feb 30, 2022 13:00:00 PM", "Me", "", "Reactions:",
    "    Loved by Me", "This message was deleted from the conversation!", "/a/b.jpg",
    "May 17, 2022  5:29:42 PM (Read by you after 1 second)", "May 17, 2022  5:29:42 PM You left",
]) | st.text(max_size=30), max_size=14))
def test_fuzz_only_parse_error(lines):
    try:
        parse(Document(name="c.txt", text="\n".join(lines)))
    except ParseError as err:
        assert_one_line(err)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(raw):
    try:
        parse(Document(name="c.txt", text=raw.decode("utf-8", "surrogateescape")))
    except ParseError as err:
        assert_one_line(err)
