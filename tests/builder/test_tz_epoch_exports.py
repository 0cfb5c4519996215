"""--tz / $CLONEKIT_TZ for the epoch timestamps of Messenger/Instagram JSON (``timestamp_ms``),
Telegram JSON's ``date_unixtime`` fallback and CSV epoch columns: the instant is shown as
wall-clock time in the chosen zone (DST included), like Slack/SMS/WeChat; a written local
time (Telegram's ``date``) is still kept as written."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime

import pytest

from builder.ingest import csv_table, instagram, messenger, telegram
from builder.ingest.base import Document
from clonekit.cli import main

TOKYO, NEW_YORK = "Asia/Tokyo", "America/New_York"


@pytest.fixture(autouse=True)
def utc_env(monkeypatch):
    monkeypatch.setenv("CLONEKIT_TZ", "UTC")  # --tz sets it for the process; monkeypatch restores it


def parsed(mod, doc: Document, zone: str, monkeypatch):
    monkeypatch.setenv("CLONEKIT_TZ", zone)
    warnings: list[str] = []
    df = mod.parse([doc], warnings.append)
    assert warnings == []
    return df


def fixture_doc(root, name: str) -> Document:
    return Document(name=name, text=(root / name).read_text(encoding="utf-8-sig"))


@pytest.mark.parametrize("zone, first, last", [
    # 1415147240411 = 2014-11-05T00:27:20.411Z; New York is on EST (DST ended 2014-11-02)
    ("UTC", datetime(2014, 11, 5, 0, 27, 20, 411000), datetime(2014, 11, 5, 0, 35, 32, 56000)),
    (TOKYO, datetime(2014, 11, 5, 9, 27, 20, 411000), datetime(2014, 11, 5, 9, 35, 32, 56000)),
    (NEW_YORK, datetime(2014, 11, 4, 19, 27, 20, 411000), datetime(2014, 11, 4, 19, 35, 32, 56000)),
])
def test_messenger_fixture_in_the_zone(shared_fixtures, monkeypatch, zone, first, last):
    df = parsed(messenger, fixture_doc(shared_fixtures, "mlomb__chat-analytics__messenger_2A_7M.json"), zone,
                monkeypatch)
    assert df["text"].to_list()[-3:] == ["you what", "Whats up!", "Hello"]  # order is the instants' order
    assert (df["timestamp"][0], df["timestamp"][-1]) == (first, last)


def test_instagram_fixture_matches_chat_miners_berlin_times(shared_fixtures, monkeypatch):
    """chat-miner's own target CSV for this export shows the instants in Europe/Berlin
    (CET in winter, CEST in summer): with --tz Europe/Berlin we read exactly those times."""
    df = parsed(instagram, fixture_doc(shared_fixtures, "joweich__chat-miner__legacy_instagram_testlog.json"),
                "Europe/Berlin", monkeypatch)
    with open(shared_fixtures / "joweich__chat-miner__legacy_instagram_testlog_target.csv", encoding="utf-8") as f:
        target = [datetime.fromisoformat(row["timestamp"]) for row in csv.DictReader(f)]
    assert len(target) == 11 and set(target) <= set(df["timestamp"].to_list())
    assert datetime(2019, 9, 24, 13, 30) in target and datetime(2019, 12, 25, 0, 30) in target  # +2 h and +1 h


@pytest.mark.parametrize("zone, times", [
    (TOKYO, [datetime(2018, 12, 5, 19, 39, 10), datetime(2018, 12, 5, 19, 49, 24)]),
    (NEW_YORK, [datetime(2018, 12, 5, 5, 39, 10), datetime(2018, 12, 5, 5, 49, 24)]),
])
def test_telegram_unixtime_only_fixture_in_the_zone(shared_fixtures, monkeypatch, zone, times):
    doc = fixture_doc(shared_fixtures, "joweich__chat-miner__telegram_test_single_export.json")
    assert parsed(telegram, doc, zone, monkeypatch)["timestamp"].to_list() == times  # 10:39:10Z, 10:49:24Z


@pytest.mark.parametrize("zone, fallback", [
    (TOKYO, datetime(2022, 5, 10, 7, 23, 53)),
    (NEW_YORK, datetime(2022, 5, 9, 18, 23, 53)),  # EDT, UTC-4
])
def test_telegram_written_date_stays_and_only_the_fallback_moves(shared_fixtures, monkeypatch, zone, fallback):
    df = parsed(telegram, fixture_doc(shared_fixtures, "mlomb__chat-analytics__telegram_DM_2A_7M.json"), zone,
                monkeypatch)
    ts = df["timestamp"].to_list()
    assert ts[3] == fallback  # date_unixtime only: 1652135033 = 2022-05-09T22:23:53Z
    assert ts[0] == datetime(2019, 7, 5, 16, 55, 32)  # `date` written by the exporter: kept as is
    assert ts[7] == datetime(2023, 8, 10, 23, 11, 2)  # both: `date` wins, whatever the zone


def _messenger_thread(messages: list[dict]) -> str:
    """A DYI message_1.json as Facebook writes it: newest first, ASCII escapes."""
    return json.dumps({"participants": [{"name": "Alice"}, {"name": "Bob"}], "messages": messages,
                       "title": "Alice", "is_still_participant": True, "thread_path": "inbox/alice_123"}, indent=2)


def test_new_york_daylight_saving_both_sides(monkeypatch):
    july, january = 1720000000000, 1705000000000  # 2024-07-03T09:46:40Z, 2024-01-11T19:06:40Z
    text = _messenger_thread([
        {"sender_name": "Bob", "timestamp_ms": july, "content": "summer", "is_geoblocked_for_viewer": False},
        {"sender_name": "Alice", "timestamp_ms": january, "content": "winter", "is_geoblocked_for_viewer": False},
    ])
    doc = Document(name="inbox/alice_123/message_1.json", text=text, folder="inbox/alice_123")
    df = parsed(messenger, doc, NEW_YORK, monkeypatch)
    assert df["text"].to_list() == ["winter", "summer"]
    assert df["timestamp"].to_list() == [datetime(2024, 1, 11, 14, 6, 40), datetime(2024, 7, 3, 5, 46, 40)]


def test_csv_epoch_column_in_the_zone(monkeypatch):
    doc = Document(name="chat.csv", text="timestamp,sender,text\n1720000000123,Ana,hi\n1720000060000,Bo,hey\n")
    df = parsed(csv_table, doc, TOKYO, monkeypatch)
    assert df["timestamp"].to_list() == [datetime(2024, 7, 3, 18, 46, 40, 123000), datetime(2024, 7, 3, 18, 47, 40)]


def test_ingest_tz_flag_reaches_messenger_and_telegram(shared_fixtures, tmp_path):
    """The command line: a Messenger thread folder and a Telegram result.json, --tz Asia/Tokyo."""
    thread = tmp_path / "facebook" / "messages" / "inbox" / "alice_aaaaaaaaaa"
    thread.mkdir(parents=True)
    shutil.copy(shared_fixtures / "mlomb__chat-analytics__messenger_2A_7M.json", thread / "message_1.json")
    tg = tmp_path / "telegram"
    tg.mkdir()
    shutil.copy(shared_fixtures / "joweich__chat-miner__telegram_test_single_export.json", tg / "result.json")

    def ingest(*flags: str) -> dict[str, str]:
        out = tmp_path / "messages.jsonl"
        assert main(["ingest", str(tmp_path / "facebook"), str(tg), "-o", str(out), "-q", *flags]) == 0
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        return {r["text"]: r["timestamp"] for r in rows}

    utc, tokyo = ingest(), ingest("--tz", TOKYO)
    assert (utc["Hello"], tokyo["Hello"]) == ("2014-11-05T00:35:32", "2014-11-05T09:35:32")
    assert (utc["Minimal Message"], tokyo["Minimal Message"]) == ("2018-12-05T10:39:10", "2018-12-05T19:39:10")
