"""QQ message-manager .txt parser: the ChatLab / qq-chat-history forms, quirks, fuzz."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from builder.ingest import ingest_paths, qq
from builder.ingest.base import Document
from tests.builder.fuzzing import assert_one_line
from tests.builder.world_support import detected, fixture, only_parse_error, run

GROUP = fixture("qq", "chatlab_qq_group.txt")


def test_fixture_two_chats_kinds_and_names():
    df, warnings = run(qq.parse, Document(GROUP.name, GROUP.read_text(encoding="utf-8")))
    assert not warnings
    assert df.get_column("chat").to_list() == ["周末爬山群"] * 6 + ["小明"] * 2
    assert df.get_column("kind").to_list() == ["text", "media", "text", "system", "media", "text", "text", "text"]
    # a multi-line body, the 【管理员】 title dropped, the id-only line named from the same id
    assert df.item(0, "text") == "明天几点出发？\n我想早点走"
    assert df.item(1, "sender") == "土豆"
    assert df.item(2, "sender") == "地瓜"
    assert df.item(3, "sender") is None and df.item(3, "text") == "土豆撤回了一条消息"
    assert df.item(5, "text") == "好的[图片]"  # a caption with a picture is still text
    assert df.item(6, "timestamp") == datetime(2020, 1, 2, 9, 3, 11)
    assert "=====" not in "".join(df.get_column("text").to_list())


def test_detected_and_ingested_from_a_folder(tmp_path):
    assert detected(GROUP.name, GROUP.read_text(encoding="utf-8")) == "qq"
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "全部消息记录.txt").write_bytes(GROUP.read_bytes())
    result = ingest_paths([tmp_path / "export"])
    assert result.files[0].format == "qq" and result.messages.height == 8


def test_headerless_discussion_group_and_tim_clock():
    # hikariyo/qq-chat-history's test lines (no header, e-mail ids), and TIM's 上午/下午
    text = ("1883-03-07 11:22:33 A<someone@example.com>\n关注永雏塔菲喵\n关注永雏塔菲谢谢喵\n\n"
            "1883-03-07 12:34:56 B(123123)\nTCG\n\n\n2026-09-15 下午 01:00:00 Alice(1)\n收到\n"
            "2026-09-15 上午 12:30:00 Alice(1)\n早\n")
    assert qq.sniff("chat.txt", text) >= 70
    df, _ = run(qq.parse, Document("chat.txt", text))
    assert df.get_column("sender").to_list() == ["A", "B", "Alice", "Alice"]
    assert df.item(0, "text") == "关注永雏塔菲喵\n关注永雏塔菲谢谢喵"
    assert df.item(1, "text") == "TCG"
    assert df.item(2, "timestamp") == datetime(2026, 9, 15, 13, 0)
    assert df.item(3, "timestamp") == datetime(2026, 9, 15, 0, 30)
    assert df.get_column("chat").unique().to_list() == ["chat"]


def test_errors_are_one_line():
    for text in ("", "just some text\nno headers\n"):
        with pytest.raises(ParseError) as err:
            qq.parse([Document("x.txt", text)], lambda _m: None)
        assert_one_line(err.value)


def test_impossible_time_is_a_body_line_with_a_warning():
    df, warnings = run(qq.parse, Document("x.txt", "2020-01-01 10:00:00 A(1)\nhi\n2020-02-31 10:00:00 B(2)\nyo\n"))
    assert df.height == 1 and warnings and "impossible" in warnings[0]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from([
    "2019-07-16 18:15:05 地瓜(23333233)", "2019-07-16 25:15:05 x(1)", "消息对象:群", "=====" * 4, "[图片]", "",
    "2019-07-16 下午 13:00:00 x(2)", "2019-07-16 18:15:05 系统消息(10000)", "2019-7-6 8:15:05 <a@b>", "\r",
]) | st.text(max_size=30), max_size=12))
def test_fuzz_only_parse_error(lines):
    only_parse_error(qq.parse, Document("x.txt", "\n".join(lines)))


def test_qq_chat_history_file_is_qq_not_whatsapp(tmp_path):
    """hikariyo/qq-chat-history's tests/file.txt: ISO-like headers WhatsApp could also read."""
    path = fixture("qq", "hikariyo__qq-chat-history__file.txt")
    assert detected(path.name, path.read_text(encoding="utf-8")) == "qq"
    df = ingest_paths([path]).messages
    assert df.select("sender", "text").rows() == [("A", "A"), ("B", "B")]
    assert df.item(0, "timestamp") == datetime(1883, 3, 7, 11, 22, 33)


_TEXT = st.text(alphabet="abcXYZ 你好世界。，！？123:()<>", min_size=1, max_size=20).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([("地瓜", "23333233"), ("土豆", "example@xx.com"), ("番茄", "555")]),
                          st.lists(_TEXT, min_size=1, max_size=3), st.integers(0, 10**6)), min_size=1, max_size=8))
def test_round_trip(messages):
    """Messages written in the export's layout come back as written."""
    start = datetime(2019, 7, 16)
    lines, expected, elapsed = ["消息记录（此消息记录为文本格式，不支持重新导入）", "", "消息对象:群", ""], [], 0
    for (nick, uid), body, gap in messages:
        elapsed += gap
        ts = start + timedelta(seconds=elapsed)
        ident = f"<{uid}>" if "@" in uid else f"({uid})"
        lines += [f"{ts:%Y-%m-%d %H:%M:%S} {nick}{ident}", *body, ""]
        expected.append((ts, nick, "\n".join(body)))
    df, _ = run(qq.parse, Document("x.txt", "\n".join(lines)))
    assert df.select("timestamp", "sender", "text").rows() == expected
