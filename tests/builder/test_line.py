"""LINE chat-history .txt parser: EN / zh-TW / JA exports (ChatLab's line-native-txt
forms, meyfa/line-chat-parser's 24:MM case), quirks, fuzz."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from builder.ingest import ingest_paths, line
from builder.ingest.base import Document
from tests.builder.fuzzing import assert_one_line
from tests.builder.world_support import detected, fixture, only_parse_error, run


def load(name: str) -> Document:
    path = fixture("line", name)
    return Document(name, path.read_bytes().decode("utf-8"))


def test_english_crlf_quoted_multiline_system_media_unsent():
    df, warnings = run(line.parse, load("chatlab_line_en.txt"))
    assert not warnings
    assert df.get_column("chat").unique().to_list() == ["Alice"]
    assert df.get_column("kind").to_list() == ["text", "text", "system", "media", "deleted"]
    assert df.item(1, "text") == "first line\nsecond line"
    assert df.item(2, "sender") is None
    assert df.item(3, "timestamp") == datetime(2024, 1, 23, 13, 5)


def test_traditional_chinese_prefix_clock_and_group_title():
    df, _ = run(line.parse, load("chatlab_line_zh_tw.txt"))
    assert df.get_column("chat").unique().to_list() == ["測試群組"]
    assert df.get_column("kind").to_list() == ["text", "text", "text", "media", "system", "system", "media"]
    assert df.item(2, "text") == "這是\n多行訊息測試"
    assert df.item(5, "timestamp") == datetime(2022, 3, 31, 19, 4)  # 下午07:04
    assert df.item(6, "timestamp") == datetime(2022, 3, 31, 12, 30)  # 下午12:30 is noon


def test_japanese_and_hour_24():
    df, _ = run(line.parse, load("line_ja.txt"))
    assert df.get_column("chat").unique().to_list() == ["ボブ"]
    assert df.get_column("timestamp").to_list() == [
        datetime(2018, 4, 16, 9, 5), datetime(2018, 4, 16, 23, 59), datetime(2018, 4, 19, 0, 53)]
    assert df.item(1, "kind") == "media"


@pytest.mark.parametrize("name", ["chatlab_line_en.txt", "chatlab_line_zh_tw.txt", "line_ja.txt"])
def test_detected(name):
    assert detected(name, load(name).text) == "line"
    assert detected(f"folder/{name}", load(name).text, named=False) == "line"


def test_ingest_paths(tmp_path):
    target = tmp_path / "[LINE] Chat with Alice.txt"
    target.write_bytes(fixture("line", "chatlab_line_en.txt").read_bytes())
    result = ingest_paths([target])
    assert result.files[0].format == "line" and result.messages.height == 5


def test_errors_are_one_line():
    for text in ("", "[LINE] Chat history with A\nSaved on: 2024/01/01 10:00\n\nno messages here\n"):
        with pytest.raises(ParseError) as err:
            line.parse([Document("x.txt", text)], lambda _m: None)
        assert_one_line(err.value)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from([
    "[LINE] Chat history with A", "2024/01/23(Tue)", "Tue, 1/23/2024", "12:00\tA\thi", "25:00\tA\tx",
    "下午07:04\t\tX joined", '12:01\tB\t"multi', 'end"', "2024/13/40(x)", "", "午後12:00\tC\t[写真]", "\r",
]) | st.text(max_size=30), max_size=12))
def test_fuzz_only_parse_error(lines):
    only_parse_error(line.parse, Document("x.txt", "\n".join(lines)))


def test_old_space_separated_save_chat_is_refused_in_one_line():
    # meyfa/line-chat-parser's form: names can only be told from text with a list of members
    text = "2017.09.02 Saturday\n12:00 foo hello world\ntest\n12:01 foo bar hi\n"
    assert detected("chat.txt", text) == "line"
    with pytest.raises(ParseError, match="separates names from text with spaces") as err:
        line.parse([Document("chat.txt", text)], lambda _m: None)
    assert_one_line(err.value)


_TEXT = st.text(alphabet="abcXYZ 你好こんにちは.,!?123:", min_size=1, max_size=20).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Alice", "Bob Smith", "ボブ"]), st.lists(_TEXT, min_size=1, max_size=3),
                          st.integers(0, 4000)), min_size=1, max_size=8), st.booleans())
def test_round_trip(messages, twelve_hour):
    """Messages written in LINE's layout (date lines, tabs, quoted multi-line bodies,
    24- or 12-hour clocks) come back as written."""
    lines, expected = ["[LINE] Chat history with Alice", "Saved on: 2024/01/23 15:04", ""], []
    ts, day = datetime(2024, 1, 1), None
    for sender, body, gap in messages:
        ts += timedelta(minutes=gap)
        if ts.date() != day:
            day = ts.date()
            lines.append(f"{ts:%a}, {ts.month}/{ts.day}/{ts.year}")
        clock = f"{ts.hour % 12 or 12}:{ts:%M}{'PM' if ts.hour >= 12 else 'AM'}" if twelve_hour else f"{ts:%H:%M}"
        text = "\n".join(body)
        lines.append(f"{clock}\t{sender}\t" + (f'"{text}"' if len(body) > 1 else text))
        expected.append((ts, sender, text))
    df, _ = run(line.parse, Document("x.txt", "\n".join(lines)))
    assert df.select("timestamp", "sender", "text").rows() == expected
