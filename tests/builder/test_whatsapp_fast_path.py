"""The fast header path (whatsapp_fast.py) changes speed, never results: the same text
parsed with and without it gives the same messages and warnings."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from builder.ingest import whatsapp, whatsapp_fast
from builder.ingest.base import Document


def _parse(text: str, name: str) -> tuple[pl.DataFrame, list[str]]:
    warnings: list[str] = []
    df = whatsapp.parse([Document(name=name, text=text, chat_hint="WhatsApp Chat with Kim")], warnings.append)
    return df, warnings


def _both_ways(text: str, name: str, monkeypatch: pytest.MonkeyPatch) -> pl.DataFrame:
    fast = _parse(text, name)
    with monkeypatch.context() as m:
        m.setattr(whatsapp_fast, "plan", lambda template, sample: None)
        general = _parse(text, name)
    assert fast[0].equals(general[0])
    assert fast[1] == general[1]
    return fast[0]


ANDROID_12H = (
    "1/21/19, 8:05\u202fPM - Kim: evening\n"
    "1/22/19, 12:00\u202fAM - Kim: midnight\n"
    "1/22/19, 12:30 PM - Sam: noon, plain space\n"
    "1/22/19, 0:05\u202fAM - Sam: zero hour (general path)\n"
    "1/22/19, 13:37\u202fPM - Sam: 13 PM stays 13:37\n"
    "1/23/19, 9:15\u202fam - Kim: lower case\nsecond line\n"
    "1/23/19, 24:15\u202fAM - Kim: impossible, kept as a line\n"
)


def test_english_12_hour_headers_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    sample = ANDROID_12H.split("\n")
    template, _ = whatsapp.detect_template(sample)
    assert template is not None and whatsapp_fast.plan(template, sample) is not None
    df = _both_ways(ANDROID_12H, "a.txt", monkeypatch)
    assert df["timestamp"].to_list() == [
        dt.datetime(2019, 1, 21, 20, 5), dt.datetime(2019, 1, 22, 0, 0), dt.datetime(2019, 1, 22, 12, 30),
        dt.datetime(2019, 1, 22, 0, 5), dt.datetime(2019, 1, 22, 13, 37), dt.datetime(2019, 1, 23, 9, 15),
    ]
    assert df["text"][-1] == "lower case\nsecond line\n1/23/19, 24:15\u202fAM - Kim: impossible, kept as a line"


def test_ios_12_hour_and_24_hour_headers_match_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    ios = ("[8/5/18, 6:01:31 PM] Kim: hi\n\u200e[8/5/18, 6:02:00 PM] Kim: \u200eimage omitted\n"
           "[8/13/18, 7:00:00 AM] Sam: later\n")
    _both_ways(ios, "_chat.txt", monkeypatch)
    android = ("13/03/2022, 09:00 - Kim: a\n14/03/2022, 10:00 - Sam: b\n\n"
               "14/03/2022, 10:01 - Kim: <Media omitted>\n31/02/2022, 10:02 - Kim: bad date\n")
    _both_ways(android, "b.txt", monkeypatch)
    us = "3/13/22, 09:00 - Kim: a\n3/14/22, 10:00 - Sam: b\n3/15/22, 10:01 - Kim: c\n"
    assert _both_ways(us, "c.txt", monkeypatch)["timestamp"][0] == dt.datetime(2022, 3, 13, 9, 0)
