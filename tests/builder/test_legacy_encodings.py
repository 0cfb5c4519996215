"""Exports re-saved in a legacy code page (Excel, old Windows tools): GBK/GB18030 QQ and
WeChat, CP932 LINE, CP949 KakaoTalk, CP950 (Big5) LINE, and Western cp1252 WhatsApp
still read right, through ingest_paths and `clonekit ingest`."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.ingest import ingest_paths
from builder.ingest.legacy_codecs import decode_legacy, pick_codec
from builder.ingest.sources import decode
from clonekit.cli import main
from tests.builder.world_support import fixture

COLUMNS = ["chat", "timestamp", "sender", "text", "kind"]

RESAVED = [
    (("qq", "chatlab_qq_group.txt"), "gbk", "qq"),
    (("qq", "hikariyo__qq-chat-history__file.txt"), "gb18030", "qq"),
    (("line", "line_ja.txt"), "cp932", "line"),
    (("line", "chatlab_line_zh_tw.txt"), "cp950", "line"),
    (("kakaotalk", "pc_ko.txt"), "cp949", "kakaotalk"),
    (("kakaotalk", "mobile_ko.txt"), "euc-kr", "kakaotalk"),
    (("kakaotalk", "kakaotalk_msg_preprocessor.csv"), "cp949", "kakaotalk"),
]


@pytest.mark.parametrize(("parts", "codec", "fmt"), RESAVED, ids=[f"{p[-1]}-{c}" for p, c, _ in RESAVED])
def test_resaved_fixture_reads_like_the_utf8_original(tmp_path, parts, codec, fmt):
    original = fixture(*parts)
    resaved = tmp_path / original.name
    resaved.write_bytes(original.read_text(encoding="utf-8-sig").encode(codec))
    want = ingest_paths([original])
    got = ingest_paths([resaved])
    assert [f.format for f in got.files] == [fmt]
    assert got.messages.height == want.messages.height > 0
    assert got.messages.select(COLUMNS).to_dicts() == want.messages.select(COLUMNS).to_dicts()


QQ = ("消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n"
      "================================================================\r\n"
      "消息分组:我的好友\r\n"
      "================================================================\r\n"
      "消息对象:小王\r\n"
      "================================================================\r\n\r\n"
      "2015-03-04 20:11:05 小王\r\n你好，今天晚上一起吃饭吗？\r\n\r\n"
      "2015-03-04 20:12:40 我自己\r\n好的，我下班以后给你打电话。\r\n\r\n")
LINE_JA = ("[LINE] 田中とのトーク履歴\r\n保存日時：2024/01/02 10:00\r\n\r\n2024/01/02(火)\r\n"
           "10:00\t田中\tおはよう！今日は何時に会える？\r\n10:05\t佐藤\t12時ごろかな。駅の前で待ってるね\r\n")
KAKAO = ("김철수 님과 카카오톡 대화\r\n저장한 날짜 : 2024-01-02 10:00:00\r\n\r\n"
         "--------------- 2024년 1월 2일 화요일 ---------------\r\n"
         "[김철수] [오전 10:00] 안녕하세요! 오늘 시간 괜찮아요?\r\n"
         "[이영희] [오전 10:05] 네 좋아요 ㅋㅋ 점심 같이 먹을까요?\r\n")
WHATSAPP = ("02/01/2024, 10:00 - Zoë: Ça va? On se voit au café à 18h… “d’accord”\r\n"
            "02/01/2024, 10:01 - José: ¡Sí! Mañana también. Größe egal, naïve Idee – €5\r\n")


@pytest.mark.parametrize(("text", "codec", "fmt", "line"), [
    (QQ, "gbk", "qq", "好的，我下班以后给你打电话。"),
    (LINE_JA, "cp932", "line", "おはよう！今日は何時に会える？"),
    (KAKAO, "cp949", "kakaotalk", "네 좋아요 ㅋㅋ 점심 같이 먹을까요?"),
    (WHATSAPP, "cp1252", "whatsapp", "¡Sí! Mañana también. Größe egal, naïve Idee – €5"),
], ids=["qq-gbk", "line-cp932", "kakaotalk-cp949", "whatsapp-cp1252"])
def test_clonekit_ingest_reads_legacy_files(tmp_path, capsys, text, codec, fmt, line):
    path = tmp_path / f"{fmt} chat.txt"
    path.write_bytes(text.encode(codec))
    out = tmp_path / "messages.jsonl"
    assert main(["ingest", str(path), "-o", str(out), "-q"]) == 0
    rows = [json.loads(row) for row in out.read_text(encoding="utf-8").splitlines()]
    assert line in [row["text"] for row in rows]
    assert pick_codec(text.encode(codec)) == {"gbk": "gb18030"}.get(codec, codec)  # GB18030 is a superset of GBK
    assert fmt in capsys.readouterr().out


def test_western_legacy_files_stay_cp1252_or_latin1():
    assert decode("Müller schrieb: Grüße aus Köln, naïve Zoë".encode("cp1252"), "x.txt") == \
        "Müller schrieb: Grüße aus Köln, naïve Zoë"
    assert pick_codec("José: ¿Qué tal? Ça va, à bientôt. Ação, coração".encode("cp1252")) == "cp1252"
    # 0x81 is undefined in cp1252: latin-1 as before
    assert pick_codec(b"caf\xe9 \x81 na\xefve") == "latin-1"
    assert decode(b"caf\xe9 \x81 na\xefve", "x.txt") == "café \x81 naïve"


def test_high_bytes_found_after_a_long_ascii_start():
    """The scored sample is taken where the high-bit bytes are, not only at the top."""
    head = "2015-03-04 20:11:05 Wang (10001)\r\nok ok see you at 8 then\r\n\r\n" * 600  # ~36 KB of ASCII
    text = head + "2015-03-04 20:12:40 小王(10002)\r\n你好，今天晚上一起吃饭吗？我们在老地方见面吧。\r\n"
    assert len(head) > 32768
    assert decode(text.encode("gbk"), "qq.txt") == text


def test_a_stray_bad_byte_costs_one_character_not_the_file():
    good = "你好，今天晚上一起吃饭吗？我下班以后给你打电话。\n".encode("gbk")
    data = good * 20 + b"\xff\xff" + good
    text = decode(data, "chat.txt")
    assert text.count("你好，今天晚上一起吃饭吗？") == 21
    assert "\ufffd" in text


@pytest.mark.parametrize(("text", "codec"), [
    ("聊天記錄\n小明: 你好，今天晚上一起吃飯嗎？\n小華: 好啊，我下班以後給你打電話。\n", "cp950"),
    ("张三: 谢谢你！明天见。\n", "gb18030"),
    ("田中: ありがとう、また明日ね。\n", "cp932"),
    ("민수: 고마워요! 내일 봐요 ㅎㅎ\n", "cp949"),
])
def test_short_samples_pick_their_code_page(text, codec):
    assert pick_codec(text.encode(codec)) == codec
    assert decode(text.encode(codec), "x.txt") == text


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=600))
def test_any_bytes_decode_without_an_exception(data):
    text = decode_legacy(data)
    assert isinstance(text, str)
    assert pick_codec(data) in ("gb18030", "cp932", "cp949", "cp950", "euc_jp", "cp1251", "cp1252", "latin-1")
