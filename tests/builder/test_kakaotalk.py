"""KakaoTalk exports: PC (Korean, English), phone (Korean) .txt and the Date,User,Message
CSV; quirks, fuzz."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from builder.ingest import ingest_paths, kakaotalk
from builder.ingest.base import Document
from tests.builder.fuzzing import assert_one_line
from tests.builder.world_support import detected, fixture, only_parse_error, run


def load(name: str) -> Document:
    return Document(name, fixture("kakaotalk", name).read_text(encoding="utf-8"))


def test_pc_korean():
    df, _ = run(kakaotalk.parse, load("pc_ko.txt"))
    assert df.get_column("chat").unique().to_list() == ["홍길동"]
    assert df.get_column("kind").to_list() == ["text", "text", "media", "system", "deleted", "media"]
    assert df.item(1, "text") == "네 안녕하세요!\n두 줄로 씁니다"
    assert df.item(2, "timestamp") == datetime(2024, 12, 9, 12, 5)  # 오후 12:05 is noon
    assert df.item(3, "sender") is None and df.item(3, "timestamp") == datetime(2024, 12, 9, 12, 5)
    assert df.item(4, "timestamp") == datetime(2024, 12, 9, 0, 10)  # 오전 12:10
    assert df.item(5, "timestamp") == datetime(2024, 12, 10, 8, 0)


def test_pc_english():
    df, _ = run(kakaotalk.parse, load("pc_en.txt"))
    assert df.get_column("chat").unique().to_list() == ["John"]
    assert df.get_column("kind").to_list() == ["text", "text", "media", "system"]
    assert df.item(0, "timestamp") == datetime(2024, 12, 9, 14, 30)
    assert df.item(2, "timestamp") == datetime(2024, 12, 9, 0, 5)


def test_phone_korean():
    df, _ = run(kakaotalk.parse, load("mobile_ko.txt"))
    assert df.get_column("chat").unique().to_list() == ["제주도 여행 21"]
    assert df.get_column("kind").to_list() == ["system", "text", "media", "media"]
    assert df.item(0, "sender") is None
    assert df.item(1, "text") == "초대 고마워\n다들 언제 와?"
    assert df.item(1, "timestamp") == datetime(2026, 2, 1, 20, 27)


def test_csv_english_and_korean_headers():
    df, _ = run(kakaotalk.parse, load("kakaotalk_msg_preprocessor.csv"))
    assert df.get_column("kind").to_list() == ["media", "text", "text"]
    assert df.item(2, "text") == "여러 줄\n메시지"
    korean = "날짜,사용자,메시지\n2020-06-28 01:01:00,\"김한길\",\"안녕\"\n"
    assert detected("talk.csv", korean) == "kakaotalk"
    df, _ = run(kakaotalk.parse, Document("talk.csv", korean))
    assert df.item(0, "sender") == "김한길" and df.item(0, "timestamp") == datetime(2020, 6, 28, 1, 1)


@pytest.mark.parametrize("name", ["pc_ko.txt", "pc_en.txt", "mobile_ko.txt", "kakaotalk_msg_preprocessor.csv"])
def test_detected_not_as_csv_or_whatsapp(name, tmp_path):
    assert detected(name, load(name).text) == "kakaotalk"
    (tmp_path / name).write_bytes(fixture("kakaotalk", name).read_bytes())
    assert ingest_paths([tmp_path]).files[0].format == "kakaotalk"


def test_errors_are_one_line():
    for name, text in (("x.txt", ""), ("x.txt", "홍길동 님과 카카오톡 대화\n아무것도 없음\n"),
                       ("x.csv", "Date,User,Message\nyesterday,a,b\n")):
        with pytest.raises(ParseError) as err:
            kakaotalk.parse([Document(name, text)], lambda _m: None)
        assert_one_line(err.value)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from([
    "--------------- 2024년 12월 9일 월요일 ---------------", "[홍길동] [오후 2:30] 안녕", "[A] [13:70 PM] x",
    "2026. 2. 2. 오전 7:33, 홍길동 : 사진", "2026. 2. 1. 오후 8:26: 홍길동님이 나갔습니다.", "김영희님이 들어왔습니다.",
    "--------------- Monday, December 9, 2024 ---------------", "[John] [2:30 PM] Hi", "", "\r", "Date,User,Message",
]) | st.text(max_size=30), max_size=12))
def test_fuzz_only_parse_error(lines):
    only_parse_error(kakaotalk.parse, Document("x.txt", "\n".join(lines)))


def test_talk_parser_sample_export():
    """es5es5/talk-parser's KakaoTalk.txt (PC, Korean), copied byte for byte."""
    name = "es5es5__talk-parser__KakaoTalk.txt"
    df, warnings = run(kakaotalk.parse, load(name))
    assert not warnings and detected(name, load(name).text) == "kakaotalk"
    assert df.height == 21 and set(df.get_column("kind")) == {"text"}
    assert df.get_column("chat").unique().to_list() == ["상대방"]
    assert df.get_column("sender").value_counts().sort("sender").rows() == [("나", 10), ("상대방", 11)]
    assert df.item(4, "text") == "아ㅎ전또실수하신줄알고ㅎㅎㅎ\n근데저금욜에시간안되눈데ㅠ"
    assert df.item(0, "timestamp") == datetime(2021, 4, 6, 18, 42)
    assert df.item(12, "timestamp") == datetime(2021, 4, 7, 23, 46)  # 오후 11:46, after the day banner


@pytest.mark.parametrize(("text", "expected"), [
    # forms quoted in public KakaoTalk parsers' tests and comments
    ("Talk_2026.2.10 08:50-1.txt\r\n저장한 날짜 : 2026. 2. 10. 오후 12:16\r\n꿀성경 - 교육국 님과 카카오톡 대화\r\n\r\n"
     "2026. 2. 10. 오전 8:50, 김예슬 : 좋은 아침\r\n",
     [("꿀성경 - 교육국", datetime(2026, 2, 10, 8, 50), "김예슬", "좋은 아침", "text")]),
    ("Date Saved : Feb 13, 2026 at 18:42\r\nFeb 1, 2026 at 20:29: 홍길동 invited 김철수.\r\nFeb 1, 2026 at 20:35, 김예슬 : 2/1🐷\r\n",
     [("chat", datetime(2026, 2, 1, 20, 29), None, "홍길동 invited 김철수.", "system"),
      ("chat", datetime(2026, 2, 1, 20, 35), "김예슬", "2/1🐷", "text")]),
    ("UserA chat\nDate Saved : Oct 2, 2026 at 14:23\n\nThursday, October 1, 2026\nOct 1, 2026 at 15:15, UserA : synthetic\n"
     "Jul 16, 2020 22:23, UserB : no at\n",
     [("chat", datetime(2026, 10, 1, 15, 15), "UserA", "synthetic", "text"),
      ("chat", datetime(2020, 7, 16, 22, 23), "UserB", "no at", "text")]),
    ("저장한 날짜 : 2026-05-27 오후 4:13\n\n2019년 3월 30일 토요일\n2019-03-30 오전 4:39, 민수 : 일찍 일어났네\n"
     "2026년 10월 1일 오후 3:15, UserA : 헤더 없는 단일 줄\n",
     [("chat", datetime(2019, 3, 30, 4, 39), "민수", "일찍 일어났네", "text"),
      ("chat", datetime(2026, 10, 1, 15, 15), "UserA", "헤더 없는 단일 줄", "text")]),
])
def test_phone_variants(text, expected):
    assert detected("chat.txt", text) == "kakaotalk"
    df, _ = run(kakaotalk.parse, Document("chat.txt", text))
    assert df.select("chat", "timestamp", "sender", "text", "kind").rows() == expected


_TEXT = st.text(alphabet="abcXYZ 가나다라 .,!?123:", min_size=1, max_size=20).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["홍길동", "김 철수", "John"]), st.lists(_TEXT, min_size=1, max_size=3),
                          st.integers(0, 4000)), min_size=1, max_size=8))
def test_round_trip_pc(messages):
    """Messages written in the PC layout (day banners, 오전/오후 clocks, continuation lines)
    come back as written."""
    lines, expected = ["홍길동 님과 카카오톡 대화", "저장한 날짜 : 2024-12-10 09:00:01", ""], []
    ts, day = datetime(2024, 12, 9), None
    for sender, body, gap in messages:
        ts += timedelta(minutes=gap)
        if ts.date() != day:
            day = ts.date()
            lines.append(f"--------------- {ts.year}년 {ts.month}월 {ts.day}일 월요일 ---------------")
        lines.append(f"[{sender}] [{'오후' if ts.hour >= 12 else '오전'} {ts.hour % 12 or 12}:{ts:%M}] {body[0]}")
        lines += body[1:]
        expected.append((ts, sender, "\n".join(body)))
    df, _ = run(kakaotalk.parse, Document("x.txt", "\n".join(lines)))
    assert df.select("timestamp", "sender", "text").rows() == expected
