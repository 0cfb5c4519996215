"""Telegram Desktop HTML export: pages in order, joined messages, service messages,
media, forwarded and replied messages; fuzz."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from builder.ingest import ingest_paths, telegram_html
from builder.ingest.base import Document
from tests.builder.fuzzing import assert_one_line
from tests.builder.world_support import detected, fixture, only_parse_error, run

FOLDER = fixture("telegram_html", "ChatExport_2020-12-09")
PAGE1, PAGE2 = FOLDER / "messages.html", FOLDER / "messages2.html"


def docs() -> list[Document]:
    return [Document(f"ChatExport/{p.name}", p.read_text(encoding="utf-8"), folder="ChatExport") for p in (PAGE2, PAGE1)]


def test_two_pages_in_order_with_joined_senders():
    df, warnings = run(telegram_html.parse, *docs())  # given out of order on purpose
    assert not warnings
    assert df.get_column("chat").unique().to_list() == ["Hiking Club"]
    assert df.get_column("sender").to_list() == [None, "Alice", "Alice", "Bob", "Bob", "Bob", None, "Carol"]
    assert df.get_column("kind").to_list() == ["system", "text", "text", "media", "media", "text", "system", "text"]
    assert df.item(0, "text") == "Alice created group «Hiking Club»"
    assert df.item(1, "text") == "first\nsecond & third"
    assert df.item(3, "text") == "[photo]"  # "In reply to this message" is not text
    assert df.item(4, "text") == "[voice message]"
    assert df.item(7, "text") == "A forwarded tip"
    # the title's wall clock as written; the UTC+03:00 suffix is dropped
    assert df.item(1, "timestamp") == datetime(2020, 12, 8, 3, 41, 7)
    assert df.item(6, "timestamp") == datetime(2020, 12, 8, 3, 47, 30)  # service: the time before it


def test_detected_when_named():
    assert detected("messages.html", PAGE1.read_text(encoding="utf-8")) == "telegram_html"
    assert detected("messages2.html", PAGE2.read_text(encoding="utf-8")) == "telegram_html"
    result = ingest_paths([PAGE1, PAGE2])
    assert [f.format for f in result.files] == ["telegram_html"] * 2 and result.messages.height == 8


def test_old_export_without_offset_and_deleted_account():
    html = ('<div class="page_wrap"><div class="history">'
            '<div class="message default clearfix" id="message1"><div class="body">'
            '<div class="pull_right date details" title="15.01.2024 10:00:00">10:00</div>'
            '<div class="from_name"></div><div class="text">who am I</div></div></div></div></div>')
    df, _ = run(telegram_html.parse, Document("messages.html", html, chat_hint="Old"))
    assert df.item(0, "timestamp") == datetime(2024, 1, 15, 10, 0)
    assert df.item(0, "sender") == "Deleted Account" and df.item(0, "chat") == "Old"


def test_sticker_is_named_by_its_title():
    # stickers come as media_photo whose title is "Sticker" (seen in real exports)
    html = ('<div class="page_wrap"><div class="message default clearfix" id="message1"><div class="body">'
            '<div class="pull_right date details" title="15.01.2024 10:00:00">10:00</div><div class="from_name">A</div>'
            '<div class="media_wrap clearfix"><a class="media clearfix pull_left block_link media_photo" href="stickers/s.webp">'
            '<div class="fill pull_left"></div><div class="body"><div class="title bold">\nSticker\n</div>'
            '<div class="status details">😀, 12.3 KB</div></div></a></div></div></div></div>')
    df, _ = run(telegram_html.parse, Document("messages.html", html))
    assert df.select("kind", "text").rows() == [("media", "[sticker]")]


def test_errors_are_one_line():
    for text in ("", "<html><body><p>hello</p></body></html>",
                 '<div class="message default clearfix" id="message1"><div class="body"><div class="text">x</div></div></div>',
                 '<div class="message default clearfix" id="message1"><div class="pull_right date details" title="99.99.2024 10:00:00"></div>'
                 '<div class="from_name">A</div></div>'):
        with pytest.raises(ParseError) as err:
            telegram_html.parse([Document("messages.html", text)], lambda _m: None)
        assert_one_line(err.value)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    '<div class="message default clearfix" id="message1">', '<div class="message default clearfix joined" id="message2">',
    '<div class="message service" id="message-1">', '<div class="body details">', '<div class="body">',
    '<div class="pull_right date details" title="08.12.2020 03:41:07 UTC+03:00">', '<div class="from_name">',
    '<div class="text">', "Alice", "hi<br>there", "</div>", "<br>", '<a class="photo_wrap" href="p.jpg">', "</a>",
    '<div class="forwarded body">', "&amp;", "<", "",
]) | st.text(max_size=20), max_size=16))
def test_fuzz_only_parse_error(parts):
    only_parse_error(telegram_html.parse, Document("messages.html", '<div class="page_wrap">' + "".join(parts)))
