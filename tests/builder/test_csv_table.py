"""CSV mapping (docs/CSV_FORMAT.md): columns by alias, time formats, kinds, errors, fuzz."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from tests.builder.fuzzing import assert_one_line
from builder.ingest import csv_table
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA


def parse(text: str, name: str = "chat.csv", **kw):
    df = csv_table.parse([Document(name=name, text=text, **kw)], lambda w: None)
    assert df.schema == MESSAGE_SCHEMA
    return df


def test_documented_example():
    text = (
        "timestamp,chat,sender,text,kind\n"
        "2024-05-01T14:03:00,Alex,Sam,\"On my way, 10 min\",\n"
        "2024-05-01T14:04:10,Alex,Alex,\"ok!\nsee you\",\n"
        "2024-05-01T14:05:00,Alex,Alex,IMG_0042.jpg,media\n"
        "2024-05-01T14:06:00,Alex,,Alex changed the group name,system\n"
    )
    df = parse(text)
    assert df.rows() == [
        ("Alex", datetime(2024, 5, 1, 14, 3), "Sam", "On my way, 10 min", "text", "chat.csv"),
        ("Alex", datetime(2024, 5, 1, 14, 4, 10), "Alex", "ok!\nsee you", "text", "chat.csv"),
        ("Alex", datetime(2024, 5, 1, 14, 5), "Alex", "IMG_0042.jpg", "media", "chat.csv"),
        ("Alex", datetime(2024, 5, 1, 14, 6), None, "Alex changed the group name", "system", "chat.csv"),
    ]


def test_aliases_semicolons_date_and_time_columns_and_media():
    text = "Date;Time;From;Message;Attachments\n01/02/2023;14:05;Alice;hi;\n13/02/2023;14:06;Bob;;photo.jpg\n"
    df = parse(text, name="exports/family.csv")
    assert df["chat"].to_list() == ["family", "family"]  # from the file name
    assert df["sender"].to_list() == ["Alice", "Bob"]
    # 13/02 forces day-first for the whole file
    assert df["timestamp"].to_list() == [datetime(2023, 2, 1, 14, 5), datetime(2023, 2, 13, 14, 6)]
    assert df["kind"].to_list() == ["text", "media"]
    assert df["text"].to_list() == ["hi", "photo.jpg"]


def test_chat_hint_and_tabs():
    df = parse("Sent At\tAuthor\tBody\n2024-01-01 09:00\tA\tx\n", name="a.tsv", chat_hint="Team")
    assert df.row(0)[:5] == ("Team", datetime(2024, 1, 1, 9, 0), "A", "x", "text")


def test_discord_chat_exporter_csv_reads_as_is():
    text = (
        'AuthorID,Author,Date,Content,Attachments,Reactions\n'
        '"1","mlomb","2019-01-04T17:52:39.7620000+00:00","blah","",""\n'
        '"1","mlomb","2019-01-04T18:00:00.0000000-05:00","","https://cdn/x.png","👍 (2)"\n'
    )
    df = parse(text)
    assert df["timestamp"].to_list() == [datetime(2019, 1, 4, 17, 52, 39, 762000), datetime(2019, 1, 4, 18, 0)]
    assert df["kind"].to_list() == ["text", "media"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-05-01T14:03:00Z", datetime(2024, 5, 1, 14, 3)),
        ("2024-05-01 14:03:00.250", datetime(2024, 5, 1, 14, 3, 0, 250000)),
        ("2024-05-01 14:03", datetime(2024, 5, 1, 14, 3)),
        ("2024-05-01", datetime(2024, 5, 1)),
        ("2024/05/01 14:03:09", datetime(2024, 5, 1, 14, 3, 9)),
        ("01/05/2024, 14:03", datetime(2024, 5, 1, 14, 3)),  # tie -> day-first (documented)
        ("05/31/2024 2:03 pm", datetime(2024, 5, 31, 14, 3)),
        ("31.05.2024 14:03:05", datetime(2024, 5, 31, 14, 3, 5)),
        ("1714572180", datetime(2024, 5, 1, 14, 3)),  # epoch seconds, UTC
        ("1714572180500", datetime(2024, 5, 1, 14, 3, 0, 500000)),  # epoch ms
    ],
)
def test_time_formats(value, expected):
    df = parse(f'timestamp,sender,text\n"{value}",A,x\n')
    assert df["timestamp"].to_list() == [expected]


def test_kind_values_are_checked_and_case_insensitive():
    df = parse("timestamp,sender,text,kind\n2024-01-01 10:00,A,gone,DELETED\n")
    assert df["kind"].to_list() == ["deleted"]
    with pytest.raises(ParseError, match=r"data row 2: kind 'sticker' is not one of text, media, system, deleted"):
        parse("timestamp,sender,text,kind\n2024-01-01 10:00,A,x,text\n2024-01-01 10:00,A,x,sticker\n")
    with pytest.raises(ParseError, match="a text message without a sender"):
        parse("timestamp,sender,text,kind\n2024-01-01 10:00,,x,text\n")


def test_missing_column_names_file_and_columns_seen():
    with pytest.raises(ParseError) as err:
        parse("when,who,what\n2024-01-01,A,x\n", name="my.csv")
    message = str(err.value)
    assert message.startswith("my.csv:1: no sender/text column (the header row has: when, who, what)")
    assert "\n" not in message


def test_unreadable_time_names_row():
    with pytest.raises(ParseError, match=r"data row 2: unreadable time 'soon'"):
        parse("timestamp,sender,text\n2024-01-01 10:00,A,x\nsoon,B,y\n")


def test_header_only_is_empty_and_empty_file_is_error():
    assert parse("timestamp,sender,text\n").height == 0
    with pytest.raises(ParseError, match="empty"):
        parse("")


def test_sniff():
    assert csv_table.sniff("x.csv", "timestamp,sender,text\n") == 85
    assert csv_table.sniff("x.txt", "Date;From;Message\n") == 50
    assert csv_table.sniff("x.csv", "a,b,c\n") == 0
    assert csv_table.sniff("x.json", '{"timestamp": 1}') == 0
    assert csv_table.sniff("_chat.txt", "12/01/2020, 10:00 - A: hi\n") == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["2024-01-01 10:00", "x", "", '"', '""', "\n", "media", "system", "13/13/2013", "1714572180", ";", "\t"])
                         | st.text(max_size=10), max_size=6), max_size=6))
def test_fuzz_rows_only_parse_error(rows):
    text = "timestamp,sender,text,kind,media\n" + "\n".join(",".join(r) for r in rows)
    try:
        parse(text)
    except ParseError as err:
        assert_one_line(err)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(raw):
    try:
        parse(raw.decode("utf-8", "surrogateescape"))
    except ParseError as err:
        assert_one_line(err)


def test_chat_miner_target_tables_read_as_csv(shared_fixtures):
    # chat-miner's expected-output tables (timestamp,author,message,...) are message tables
    # in their own right: every row must come through with its author and time.
    targets = sorted(shared_fixtures.glob("joweich__chat-miner__*_target.csv"))
    assert len(targets) == 8
    for path in targets:
        text = path.read_text(encoding="utf-8")
        df = parse(text, name=path.name)
        assert df.height == len(text.strip().splitlines()) - 1
        assert df["sender"].null_count() == 0 and df["timestamp"].null_count() == 0
    df = parse((shared_fixtures / "joweich__chat-miner__legacy_instagram_testlog_target.csv").read_text(encoding="utf-8"))
    assert df.row(0)[1:4] == (datetime(2022, 2, 28, 6, 25, 43, 621000), "John Doe", "disappearingmessage")
