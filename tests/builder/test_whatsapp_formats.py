"""WhatsApp header formats of issue 12: old Android with the time first and the month as a
word, exports without a year (dated from --year-end or the file's date, never silently),
and files that switch between 12- and 24-hour clocks part-way. Plus property tests."""

from __future__ import annotations

import os
import zipfile
from datetime import datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import ParseError
from builder.ingest import ingest_paths, whatsapp
from builder.ingest.sources import DatedDocument
from builder.schema import KINDS, MESSAGE_SCHEMA
from tests.builder.test_ingest_cli import clonekit


def parse(text: str, modified: datetime | None = None, year_end: int | None = None):
    warnings: list[str] = []
    df = whatsapp.parse([DatedDocument("chat.txt", text, modified=modified, year_end=year_end)], warnings.append)
    return df, warnings


def stamps(df: pl.DataFrame) -> list[datetime]:
    return df["timestamp"].to_list()


# --- old Android, time first --------------------------------------------------------------

def test_old_android_time_first_with_month_word():
    text = ("19:23, 28 Aug 2013 - Ana: one\n19:25, 28 Aug 2013 - Ben: two\nsecond line\n"
            "08:01, 1 Sep 2013 - Ana: <Media omitted>\n08:02, 1 Sep 2013 - Ben added Cleo\n")
    assert whatsapp.sniff("chat.txt", text) >= 80
    df, warnings = parse(text)
    assert warnings == []
    assert stamps(df) == [datetime(2013, 8, 28, 19, 23), datetime(2013, 8, 28, 19, 25),
                          datetime(2013, 9, 1, 8, 1), datetime(2013, 9, 1, 8, 2)]
    assert df["text"].to_list() == ["one", "two\nsecond line", "<Media omitted>", "Ben added Cleo"]
    assert df["kind"].to_list() == ["text", "text", "media", "system"]
    assert df["sender"].to_list() == ["Ana", "Ben", "Ana", None]


def test_old_android_group_events_attributed_to_the_exporter_are_events():
    # 2013 exports write group events as lines of the exporting user (real shape, names made up)
    df, _ = parse("19:23, 28 Aug 2013 - Tanay: Viresh changed the subject to “Class of 2016”\n"
                  "19:07, 20 Sep 2013 - Tanay: Dheeraj joined\n19:08, 20 Sep 2013 - Tanay: Changed the group icon\n"
                  "19:09, 20 Sep 2013 - Tanay: Ana was removed\n19:10, 20 Sep 2013 - Ana: I joined the gym today\n")
    assert df["kind"].to_list() == ["system", "system", "system", "system", "text"]
    # numeric headers (newer exports) write events without an author: no such guessing there
    df, _ = parse("20/09/2013, 19:07 - Ana: Dheeraj joined\n")
    assert df["kind"].to_list() == ["text"]


def test_month_word_with_year_date_first_and_12h():
    df, _ = parse("Mar 5, 2019, 8:11 PM - Ana: hi\nMar 6, 2019, 12:05 AM - Ben: yo\n")
    assert stamps(df) == [datetime(2019, 3, 5, 20, 11), datetime(2019, 3, 6, 0, 5)]


def test_impossible_day_in_named_header_is_kept_as_a_line():
    df, warnings = parse("28 Feb 2013, 19:23 - Ana: one\n30 Feb 2013, 19:24 - Ana: two\n")
    assert df["text"].to_list() == ["one\n30 Feb 2013, 19:24 - Ana: two"]
    assert any("impossible date" in w for w in warnings)


# --- no year -------------------------------------------------------------------------------

NO_YEAR_MD = ("Dec 30, 8:11 PM - Ana: one\nDec 31, 11:59 PM - Ben: two\nJan 2, 9:05 AM - Ana: three\n"
              "Mar 5, 8:11 PM - Ben: four\n")
NO_YEAR_DM = "30 Dec 22:00 - Ana: one\n18 Mar 12:14 - Ana: two\n19 Mar 07:00 - Ben: three\n"


def test_no_year_refused_in_one_line_without_year_end_or_file_date():
    with pytest.raises(ParseError) as err:
        parse(NO_YEAR_MD)
    assert "--year-end" in str(err.value) and "\n" not in str(err.value)


def test_no_year_with_an_impossible_file_date_is_refused():
    with pytest.raises(ParseError, match=r"1980-01-01.*--year-end"):
        parse(NO_YEAR_MD, modified=datetime(1980, 1, 1))


def test_no_year_with_year_end_counts_back_over_new_year():
    df, warnings = parse(NO_YEAR_MD, year_end=2020)
    assert warnings == []
    assert stamps(df) == [datetime(2019, 12, 30, 20, 11), datetime(2019, 12, 31, 23, 59),
                          datetime(2020, 1, 2, 9, 5), datetime(2020, 3, 5, 20, 11)]


def test_no_year_day_first_from_file_date_says_so():
    df, warnings = parse(NO_YEAR_DM, modified=datetime(2021, 4, 1, 10, 0))
    assert stamps(df) == [datetime(2020, 12, 30, 22, 0), datetime(2021, 3, 18, 12, 14), datetime(2021, 3, 19, 7, 0)]
    assert len(warnings) == 1 and "2021-04-01" in warnings[0] and "--year-end" in warnings[0]


def test_no_year_last_message_after_the_file_date_is_the_year_before():
    # a file copied on 1 Feb: its last message (19 Mar) cannot be from that year
    df, _ = parse(NO_YEAR_DM, modified=datetime(2021, 2, 1))
    assert stamps(df)[-1] == datetime(2020, 3, 19, 7, 0)


def test_small_disorder_is_not_a_new_year():
    df, _ = parse("Mar 18, 9:00 AM - X: notice\nMar 10, 8:00 AM - Ana: a\nMar 11, 8:00 AM - Ben: b\n", year_end=2025)
    assert {t.year for t in stamps(df)} == {2025}


def test_year_end_and_file_date_reach_the_parser_through_ingest(tmp_path):
    path = tmp_path / "WhatsApp Chat with Ana.txt"
    path.write_text(NO_YEAR_DM)
    stamp = datetime(2022, 6, 1, 12, 0).timestamp()
    os.utime(path, (stamp, stamp))
    assert stamps(ingest_paths([path]).messages)[-1] == datetime(2022, 3, 19, 7, 0)
    assert stamps(ingest_paths([path], year_end=2018).messages)[-1] == datetime(2018, 3, 19, 7, 0)
    z = tmp_path / "WhatsApp Chat - Ana.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(zipfile.ZipInfo("WhatsApp Chat with Ana.txt", date_time=(2016, 5, 2, 8, 0, 0)), NO_YEAR_DM)
    assert stamps(ingest_paths([z]).messages)[-1] == datetime(2016, 3, 19, 7, 0)


def test_cli_year_end(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text(NO_YEAR_MD)
    out = tmp_path / "m.jsonl"
    proc = clonekit("ingest", str(path), "--year-end", "2001", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert '"2001-03-05T20:11:00"' in out.read_text()
    proc = clonekit("ingest", str(path))  # the file's date (today): a warning, not silence
    assert proc.returncode == 0 and "--year-end" in proc.stderr


# --- 12- and 24-hour clocks in one file ------------------------------------------------------

def test_android_switches_clock_part_way():
    df, _ = parse("23/03/2022, 13:31 - Ana: one\n23/03/2022, 1:32 PM - Ben: two\n"
                  "24/03/2022, 12:05 AM - Ana: three\n24/03/2022, 09:00 - Ben: am I late\n")
    assert stamps(df) == [datetime(2022, 3, 23, 13, 31), datetime(2022, 3, 23, 13, 32),
                          datetime(2022, 3, 24, 0, 5), datetime(2022, 3, 24, 9, 0)]
    assert df["text"].to_list() == ["one", "two", "three", "am I late"]


def test_ios_switches_clock_part_way():
    df, _ = parse("[3/18/22, 2:56:01\u202fPM] Ana: one\n[3/18/22, 2:57:01\u202fPM] Ana: two\n"
                  "[3/18/22, 14:58:01] Ben: three\n[3/19/22, 9:00:00\u202fAM] Ana: PM me\n")
    assert stamps(df) == [datetime(2022, 3, 18, 14, 56, 1), datetime(2022, 3, 18, 14, 57, 1),
                          datetime(2022, 3, 18, 14, 58, 1), datetime(2022, 3, 19, 9, 0)]
    assert df["text"].to_list() == ["one", "two", "three", "PM me"]


# --- property tests --------------------------------------------------------------------------

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@st.composite
def no_year_export(draw: st.DrawFn) -> tuple[str, list[datetime]]:
    """A chronological export without years, and its true timestamps."""
    start = draw(st.datetimes(min_value=datetime(2012, 1, 1), max_value=datetime(2024, 1, 1)))
    steps = draw(st.lists(st.integers(0, 150 * 24 * 60), min_size=1, max_size=25))  # minutes, < half a year
    order = draw(st.sampled_from(["md12", "dm24", "time_first"]))
    truth, lines, t = [], [], start.replace(second=0, microsecond=0)
    from datetime import timedelta
    for i, step in enumerate(steps):
        t += timedelta(minutes=step)
        truth.append(t)
        mon = MONTHS[t.month - 1]
        if order == "md12":
            head = f"{mon} {t.day}, {(t.hour % 12) or 12}:{t.minute:02d} {'PM' if t.hour >= 12 else 'AM'}"
        elif order == "dm24":
            head = f"{t.day} {mon} {t.hour:02d}:{t.minute:02d}"
        else:
            head = f"{t.hour:02d}:{t.minute:02d}, {t.day} {mon}"
        lines.append(f"{head} - P{i % 3}: message {i}")
    return "\n".join(lines) + "\n", truth


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(no_year_export())
def test_no_year_exports_recover_every_timestamp(case):
    text, truth = case
    df, warnings = parse(text, year_end=truth[-1].year)
    assert stamps(df) == truth and warnings == []


SEEDS = ["19:23, 28 Aug 2013 - Ana: one", "Mar 5, 8:11 PM - Ana: hi", "18 Mar 12:14 - Ben: yo",
         "23/03/2022, 1:32 PM - Ben: two", "23/03/2022, 13:31 - Ana: one", "28 Feb 2013, 25:23 - Ana: x",
         "continued", ""]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=10))
    out = []
    for line in lines:
        if line and draw(st.booleans()):
            i = draw(st.integers(0, len(line) - 1))
            line = line[:i] + draw(st.characters()) + line[i + 1:]
        out.append(line)
    return "\n".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.one_of(st.none(), st.integers(1990, 2030)), st.booleans())
def test_mutated_new_formats_never_crash(text, year_end, dated):
    try:
        df, _ = parse(text, modified=datetime(2020, 6, 1) if dated else None, year_end=year_end)
    except ParseError as err:
        assert "\n" not in str(err)
        return
    assert df.schema == MESSAGE_SCHEMA
    assert df["timestamp"].null_count() == 0
    assert set(df["kind"].unique()) <= set(KINDS)
