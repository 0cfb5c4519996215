"""SMS Backup & Restore XML: SMS, group MMS, MMS text parts and pictures, drafts, the
readable_date vs epoch rule, fuzz."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from builder.ingest import ingest_paths, sms_xml
from builder.ingest.base import Document
from tests.builder.fuzzing import assert_one_line
from tests.builder.world_support import detected, fixture, only_parse_error, run

NAME = "sms-20240102000000.xml"


def load() -> Document:
    return Document(NAME, fixture("sms", NAME).read_text(encoding="utf-8"))


def test_fixture():
    df, warnings = run(sms_xml.parse, load())
    assert warnings == [f"{NAME}: skipped 1 draft(s) (never sent)"]
    assert df.get_column("chat").to_list() == ["Alice", "Alice", "+15555550999", "Alice, Bob", "Alice, Bob", "Alice"]
    assert df.get_column("sender").to_list() == ["Alice", "Me", "+15555550999", "Bob", "Me", "Alice"]
    assert df.get_column("kind").to_list() == ["text", "text", "text", "text", "media", "text"]
    assert df.item(0, "text") == "Happy new year!\nSee you soon"
    assert df.item(1, "text") == "Happy new year Alice & co"
    assert df.item(4, "text") == "[image]"
    assert df.item(5, "text") == "Look at this sunset"  # the picture's caption is the text
    # readable_date is the phone's wall clock (UTC+1 here), not the UTC epoch
    assert df.item(0, "timestamp") == datetime(2024, 1, 1, 1, 0)


def test_epoch_when_readable_date_is_missing_or_disagrees(monkeypatch):
    xml = ('<?xml version="1.0"?><smses count="2">'
           '<sms address="1" date="1704067200000" type="1" body="a" contact_name="A" />'
           '<sms address="1" date="1704067200000" type="1" body="b" readable_date="01/02/2024 00:00:00" contact_name="A" />'
           '</smses>')
    monkeypatch.setenv("CLONEKIT_TZ", "America/New_York")
    df, _ = run(sms_xml.parse, Document("sms.xml", xml))
    # the second one reads as 1 Feb (day-first) or 2 Jan: a month off the epoch, so it is not trusted
    assert df.get_column("timestamp").to_list() == [datetime(2023, 12, 31, 19, 0)] * 2


def test_detected_and_named_file_ingested(tmp_path):
    assert detected(NAME, load().text) == "sms_xml"
    target = tmp_path / NAME
    target.write_bytes(fixture("sms", NAME).read_bytes())
    assert ingest_paths([target]).messages.height == 6


def test_errors_are_one_line():
    for text in ("", "<smses><sms date='1' ", "<calls><call number='1' /></calls>",
                 "<smses><sms address='1' date='soon' type='1' body='x' /></smses>"):
        with pytest.raises(ParseError) as err:
            sms_xml.parse([Document("sms.xml", text)], lambda _m: None)
        assert_one_line(err.value)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    '<sms address="+1" date="1704067200000" type="1" body="hi" readable_date="Jan 1, 2024 1:00:00 AM" contact_name="A" />',
    '<sms address="+1" date="-99999999999999999" type="2" body="x" />', '<sms type="3" />', '<mms msg_box="1">',
    '<part ct="text/plain" text="t" />', '<part ct="image/png" />', "</mms>", '<addr address="+1" type="137" />',
    "&bogus;", "<", "",
]) | st.text(max_size=20), max_size=10))
def test_fuzz_only_parse_error(items):
    only_parse_error(sms_xml.parse, Document("sms.xml", "<smses>" + "".join(items) + "</smses>"))


def test_emoji_written_as_surrogate_references_are_read():
    # "store emojis and special characters": "&#55357;&#56832;" is 😀 as two UTF-16 halves
    xml = ('<?xml version="1.0"?><smses count="2">'
           '<sms address="1" date="1704067200000" type="1" body="hi &#55357;&#56832; &#xD83D;&#xDC4D;" contact_name="A" />'
           '<sms address="1" date="1704067260000" type="2" body="lone &#55357; and &#1;" contact_name="A" />'
           '</smses>')
    df, _ = run(sms_xml.parse, Document("sms.xml", xml))
    assert df.get_column("text").to_list() == ["hi \U0001F600 \U0001F44D", "lone \ufffd and \ufffd"]
