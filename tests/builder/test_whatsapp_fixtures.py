"""WhatsApp parser on the third-party fixtures in ../shared/fixtures (skipped where absent)
and their SOURCES.md expectations, asserted in OUR conventions: continuation lines joined
with "\\n", system lines kept (kind "system", sender None), file order, naive local times.
The *.jsonl case files (Pustur parser.test.ts, rwhatsapp time formats, mtln) run as
parametrized cases."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from builder.errors import ParseError
from builder.ingest import whatsapp
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA
from tests.conftest import SHARED_FIXTURES

def whatsapp_texts() -> list[str]:
    if not SHARED_FIXTURES.is_dir():
        return []
    names = []
    for p in sorted(SHARED_FIXTURES.glob("*.txt")):
        if "imessage" in p.name or "signal" in p.name:
            continue
        names.append(p.name)
    return names


def load(shared: Path, name: str, hint: str | None = None) -> tuple:
    text = (shared / name).read_text(encoding="utf-8-sig")
    warnings: list[str] = []
    df = whatsapp.parse([Document(name=name, text=text, chat_hint=hint or Path(name).stem)], warnings.append)
    return df, warnings


def lines_doc(lines: list[str]) -> Document:
    return Document(name="case.txt", text="\n".join(lines) + "\n", chat_hint="WhatsApp Chat with Case")


@pytest.mark.parametrize("name", whatsapp_texts() or ["(fixtures absent)"])
def test_every_whatsapp_fixture_parses(shared_fixtures: Path, name: str) -> None:
    df, _ = load(shared_fixtures, name)
    assert df.schema == MESSAGE_SCHEMA
    assert df.height >= 2
    assert df["timestamp"].null_count() == 0
    assert set(df["kind"].unique()) <= {"text", "media", "system", "deleted"}
    assert df.filter(df["kind"] == "system")["sender"].null_count() == df.filter(df["kind"] == "system").height
    assert df.filter(df["kind"] != "system")["sender"].null_count() == 0


@pytest.mark.parametrize("zip_name", ["JBGruber__rwhatsapp__sample.zip", "mlomb__chat-analytics__whatsapp_4A_11M.zip",
                                      "sodascience__port-whatsapp-datadonation__whatsapp_chat.zip",
                                      "Pustur__whatsapp-chat-parser-website__whatsapp-chat-parser-example.zip"])
def test_zipped_chats_match_their_text(shared_fixtures: Path, zip_name: str) -> None:
    with zipfile.ZipFile(shared_fixtures / zip_name) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".txt") and not n.startswith("__MACOSX"))
        text = zf.read(member).decode("utf-8-sig")
    df = whatsapp.parse([Document(name=member, text=text, chat_hint=Path(zip_name).stem)], lambda m: None)
    assert df.height >= 5


# --- joweich/chat-miner -------------------------------------------------------------------

CHATMINER_FIVE = ["joweich__chat-miner__test_[mmddyy]_24hrs.txt", "joweich__chat-miner__test_ddmmyy_24hrs.txt",
                  "joweich__chat-miner__test_mmddyy_24hrs.txt", "joweich__chat-miner__test_mmddyyyy_12hrs.txt",
                  "joweich__chat-miner__test_yyyymmdd_24hrs.txt"]


@pytest.mark.parametrize("name", CHATMINER_FIVE)
def test_chatminer_target(shared_fixtures: Path, name: str) -> None:
    df, _ = load(shared_fixtures, name)
    target = json.loads((shared_fixtures / "joweich__chat-miner__whatsapp_target.json").read_text())
    users = df.filter(df["kind"] == "text")
    # chat-miner drops system lines and the "John Doe:." placeholder; we keep them typed.
    assert users.height == 6
    assert set(users["sender"]) == {"John Doe", "Jahn Doe", "John-John Doe", "John Doe 🤓", "🤓"}
    assert df.filter(df["kind"] == "deleted")["sender"].to_list() == ["John Doe"]
    assert df.filter(df["kind"] == "system").height == 2
    assert min(users["timestamp"]) == datetime(2019, 1, 1, 11, 25)
    assert max(users["timestamp"]) == datetime(2021, 12, 30, 22, 1)
    expected = sorted((t["timestamp"][:16], t["author"]) for t in target)
    got = sorted((t.strftime("%Y-%m-%dT%H:%M"), a) for t, a in users.select("timestamp", "sender").rows())
    assert [g[0] for g in got] == [e[0].replace(" ", "T") for e in expected]
    bodies = users["text"].to_list()
    assert "Lorem ipsum dolor sit amet,\nconsectetur adipiscing elit. Duis libero." in bodies  # "\n", not " "
    assert "Lorem ipsum : dolor sit amet." in bodies


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_chatminer_legacy_dateformats(shared_fixtures: Path, n: int) -> None:
    df, _ = load(shared_fixtures, f"joweich__chat-miner__legacy_test_dateformat{n}.txt")
    target = (shared_fixtures / f"joweich__chat-miner__legacy_test_dateformat{n}_target.csv").read_text().splitlines()
    header = target[0].split(",")
    col = header.index("timestamp")
    expected = sorted(line.split(",")[col][:16] for line in target[1:] if line.strip())
    if n == 1:
        # The legacy target has rows for system lines ("System") and the placeholder; so do we.
        assert df.height == len(expected)
    got = sorted(t.strftime("%Y-%m-%d %H:%M") for t in df["timestamp"])
    assert got == expected


def test_chatminer_unicode_nbsp_meridiem(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "joweich__chat-miner__legacy_test_unicode.txt")
    assert df.height == 3
    assert set(df["timestamp"]) == {datetime(2022, 10, 9, 22, 37)}
    assert set(df["sender"]) == {"John Doe", "John Doe 🤓", "🤓"}


# --- Pustur / Go port -------------------------------------------------------------------

def test_pustur_chat_example(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "Pustur__whatsapp-chat-parser__index.test.ts_chatExample.txt")
    assert df.height == 5
    assert set(df["sender"].drop_nulls()) == {"Sample User", "TestBot", "+410123456789"}
    assert df["timestamp"][0] == datetime(2017, 6, 3, 0, 45)  # month first, by the decreasing rule
    assert df["timestamp"][-1] == datetime(2017, 9, 4, 1, 50)
    # Pustur keeps the file's final newline ("...alright?\n"); our convention drops it.
    assert df["text"][4] == "How are you?\n\nIs everything alright?"
    assert df["kind"].to_list()[:2] == ["system", "system"]


def test_pustur_issue237(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "Pustur__whatsapp-chat-parser__index.test.ts_issue237.txt")
    assert df["timestamp"].to_list() == [datetime(2020, 12, 30, 13), datetime(2021, 1, 13, 13)]


def test_pustur_website_example(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "Pustur__whatsapp-chat-parser-website__whatsapp-chat-parser-example_chat.txt")
    assert df.height == 52
    assert df.filter(df["kind"] == "system").height == 4
    assert df.filter(df["kind"] == "media").height == 4
    assert set(df["sender"].drop_nulls()) == {"John", "Loris", "Emily"}
    old, _ = load(shared_fixtures, "Pustur__whatsapp-chat-parser-website__old-example_chat.txt")
    assert old.height == 100 and old.filter(old["kind"] == "system").height == 3


def pustur_cases() -> list[dict]:
    path = SHARED_FIXTURES / "Pustur__whatsapp-chat-parser__parser.test.ts_cases.jsonl"
    if not path.is_file():
        return [{"id": "(fixtures absent)"}]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("case", pustur_cases(), ids=lambda c: c["id"])
def test_pustur_parser_cases(shared_fixtures: Path, case: dict) -> None:
    lines = case["lines"] if "lines" in case else case["line"].split("\n")
    df = whatsapp.parse([lines_doc(lines)], lambda m: None)
    if "expected_single_message" in case:
        assert df.height == 1
        assert df["text"][0] == "one\ntwo\n2016-04-29 10:30:00"
        return
    row = df.row(0, named=True)
    if "expected_date_TZ_UTC" in case:
        assert row["timestamp"] == datetime.fromisoformat(case["expected_date_TZ_UTC"].replace(".000Z", ""))
    if "expected_author" in case:
        assert row["sender"] == case["expected_author"]
    if "expected_message" in case:
        assert row["text"] == case["expected_message"]
    if "expected_system" in case:
        assert (row["kind"] == "system") == case["expected_system"]
    if "expected_attachment_fileName" in case:
        assert row["kind"] == "media"
        assert case["expected_attachment_fileName"] in row["text"]
    if case["id"] == "daysFirst_option":  # ambiguous alone: day first by default
        assert (row["timestamp"].day, row["timestamp"].month) == (3, 6)


# --- rwhatsapp time formats ---------------------------------------------------------------

def rwhatsapp_cases() -> list[dict]:
    path = SHARED_FIXTURES / "JBGruber__rwhatsapp__test-rwhatsapp.R_time_formats.jsonl"
    if not path.is_file():
        return [{"lines": [], "id": "(fixtures absent)"}]
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [c for c in cases if "lines" in c]


@pytest.mark.parametrize("case", rwhatsapp_cases(), ids=lambda c: c["lines"][0][:40] if c["lines"] else c["id"])
def test_rwhatsapp_time_formats(shared_fixtures: Path, case: dict) -> None:
    lines = case["lines"]
    if case.get("expected_times_utc") is None:  # "20 09 17": no recognisable header
        with pytest.raises(ParseError):
            whatsapp.parse([lines_doc(lines)], lambda m: None)
        return
    if case["expected_times_utc"][0].startswith("<current year>"):
        pytest.skip("a two-part date without a year ('07 20') is not a WhatsApp header we accept")
    df = whatsapp.parse([lines_doc(lines)], lambda m: None)
    expected = [datetime.fromisoformat(t) for t in case["expected_times_utc"]][: df.height]
    tolerance = timedelta(seconds=case["tolerance_seconds"])
    assert df.height == len([ln for ln in lines if not ln.startswith("--->")])
    for got, want in zip(df["timestamp"], expected):
        assert abs(got - want) <= tolerance
    if len(lines) == 3:  # "---> Another line - with a dash" is a continuation line
        assert df["text"][0] == "Was it good?\n---> Another line - with a dash"


# --- mtln ---------------------------------------------------------------------------------

def mtln_cases() -> list[dict]:
    path = SHARED_FIXTURES / "mtln__chat-export__tests_cases.jsonl"
    if not path.is_file():
        return [{"test": "(fixtures absent)", "lines": []}]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


_FORMAT_FIRST = {"%d": "day", "%m": "month", "%Y": "year", "%y": "year"}


@pytest.mark.parametrize("case", mtln_cases(), ids=lambda c: c["test"].split("::")[-1] + ":" + (c["lines"][0][:20] if c["lines"] else ""))
def test_mtln_cases(shared_fixtures: Path, case: dict) -> None:
    df = whatsapp.parse([lines_doc(case["lines"])], lambda m: None)
    exp = case["expected"]
    users = df.filter(df["kind"] != "system")
    if "senders_sorted" in exp:
        assert sorted(set(users["sender"])) == exp["senders_sorted"]
    if "senders" in exp:
        got = users["sender"].to_list()
        assert got == [s.replace(":ZWSP:", "\u200b") for s in exp["senders"]]
    if "contents" in exp:
        assert users["text"].to_list() == exp["contents"]
    if "implied_times_local" in exp:
        assert [t.strftime("%Y-%m-%dT%H:%M") for t in users["timestamp"]] == exp["implied_times_local"]
    if "total_count" in exp:
        assert df.height == exp["total_count"]
    if "third_content" in exp:
        assert df["text"][2] == "Hoi\nzweite Zeile"
    if "second_attachment" in exp:
        assert df["kind"][1] == "media"
    if "date_format" in exp:
        fmt = exp["date_format"].split(" ")[0]
        order = [_FORMAT_FIRST[p] for p in fmt.replace(".", "/").replace("-", "/").split("/")]
        first_line = case["lines"][1] if case["lines"][0] == "" else case["lines"][0]
        date = first_line.replace("\u200f", "").replace("\u200e", "").lstrip("[").replace("\u060c", ",")
        date = date.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")).split(",")[0].split(" ")[0]
        parts = [int(x) for x in date.replace(".", "/").replace("-", "/").split("/")]
        ts = df["timestamp"][0]
        for part, what in zip(parts, order):
            if what == "day":
                assert ts.day == part
            elif what == "month":
                assert ts.month == part


# --- other projects -----------------------------------------------------------------------

def test_sodascience_seven_renderings(shared_fixtures: Path) -> None:
    for name in ["sodascience__port-whatsapp-datadonation___chat.txt"] + [
            f"sodascience__port-whatsapp-datadonation___chat_file{i}.txt" for i in range(1, 7)]:
        df, _ = load(shared_fixtures, name)
        users = df.filter(df["kind"] != "system")
        assert Counter(users["sender"]) == {"person1": 3, "person2": 3, "person3": 1, "person4": 2}, name
        per = {s: (g["timestamp"].min(), g["timestamp"].max()) for (s,), g in users.group_by("sender")}
        with_seconds = per["person1"][0].second != 0 or per["person2"][0].second != 0
        fmt = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M"
        assert per["person1"][0].strftime(fmt) == ("2022-03-16 15:20:25" if with_seconds else "2022-03-16 15:20")
        assert per["person4"][0].strftime(fmt) == ("2020-07-14 22:05:54" if with_seconds else "2020-07-14 22:05")
        assert per["person2"][1].strftime(fmt) == ("2022-03-26 18:52:15" if with_seconds else "2022-03-26 18:52")
        assert users.filter(users["kind"] == "media")["sender"].to_list() == ["person1"]  # the location
        assert df["timestamp"][-1].year == 2020  # file order kept: the out-of-order line stays last


def test_dineshkarthik_impossible_times(shared_fixtures: Path) -> None:
    df, warnings = load(shared_fixtures, "Dineshkarthik__Whatsapp-analyzer__chat.txt")
    assert df.height == 359  # 375 header lines, 16 impossible ones kept as continuation text
    assert len(warnings) == 16 and all(w.split(":")[1].isdigit() for w in warnings)
    assert Counter(df["sender"]) == {"asta": 67, "luffy": 63, "vegeta": 62, "goku": 59, "shin": 55, "saitama": 53}
    media = Counter(df.filter(df["kind"] == "media")["sender"])
    assert media == {"asta": 9, "goku": 8, "saitama": 7, "luffy": 5, "vegeta": 4, "shin": 2}


def test_whatstk_pokemon(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "lucasrodes__whatstk__pokemon.txt")
    assert df.height == 20
    assert df["kind"][:2].to_list() == ["system", "system"]  # group-name notice and author-less line
    assert df.select("timestamp", "sender").rows()[2:5] == [
        (datetime(2016, 8, 6, 13, 23), "Ash Ketchum"), (datetime(2016, 8, 6, 13, 25), "Brock"),
        (datetime(2016, 8, 6, 13, 30), "Misty")]
    assert {"Prof. Oak", "Jessie & James"} <= set(df["sender"])


def test_whatstk_lorem(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "lucasrodes__whatstk__lorem.txt")
    assert df.height == 500
    assert df.select("timestamp", "sender").rows()[:3] == [
        (datetime(2020, 1, 15, 2, 22, 56), "Mary"), (datetime(2020, 1, 15, 3, 33, 1), "Mary"),
        (datetime(2020, 1, 15, 4, 18, 42), "+1 123 456 789")]
    assert df["text"][0] == "Nostrud exercitation magna id. "  # the body as written
    big, _ = load(shared_fixtures, "lucasrodes__whatstk__lorem-2000.txt")
    assert big.height == 2000


def test_chat_analytics_samples(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "mlomb__chat-analytics__whatsapp_2A_5M.txt")
    assert df.height == 5 and set(df["sender"]) == {"A", "B"}
    assert df["kind"][3] == "media" and df["text"][-1] == "This message should be reordered"  # file order
    group, warnings = load(shared_fixtures, "mlomb__chat-analytics__whatsapp_4A_11M.txt")
    users = group.filter(group["kind"] != "system")
    assert users.height == 11 and group.height == 14
    assert set(users["sender"]) == {"Alice", "Bob", "Eve", "Mallory", "Trent"}
    assert (datetime(2020, 9, 12, 23, 55), "Alice", "boiii") in users.select("timestamp", "sender", "text").rows()
    assert any("day-first" in w for w in warnings)  # 12/9/20 only: unknowable, day first


def test_rwhatsapp_sample(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "JBGruber__rwhatsapp__sample.txt")
    assert df.height == 9
    assert df.filter(df["kind"] == "system").height == 2
    assert set(df["sender"].drop_nulls()) == {"Johannes Gruber", "Test"}
    assert df["timestamp"][0] == datetime(2017, 7, 12, 22, 35)
    assert df["timestamp"][-1] == datetime(2018, 9, 28, 13, 30)


def test_shansabri_corrupted_lrm(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "ShanSabri__WhatsAppVisualizeR__chat.txt", hint="_chat")
    assert df.height == 1814
    assert df["chat"][0] == "The Big Mashallah 🥦"  # the iOS event "author"
    assert set(df["sender"].drop_nulls()) == {"USER A", "USER B", "USER C", "USER D", "USER E"}
    assert df["kind"][:3].to_list() == ["system"] * 3
    assert not df["text"].str.starts_with("\x0e").any()


def test_mixed_platform_file_uses_one_pattern(shared_fixtures: Path) -> None:
    # Synthetic file mixing Android and iOS lines: one header pattern per file (Android
    # here, the majority); the other lines stay message text, nothing is dropped.
    df, _ = load(shared_fixtures, "emmaakachukwu__whatsapp-chat-parser-rb__sample.txt")
    assert df["sender"][0] == "John Doe" and df["timestamp"][0] == datetime(2025, 12, 15, 10, 30)
    assert "[15/12/2025, 10:32:03 AM] Alice: This is an iOS message with brackets." in df["text"][1]
    assert df["kind"][-1] == "system"


def test_arabic_locale_file(shared_fixtures: Path) -> None:
    df, _ = load(shared_fixtures, "mtln__chat-export__test_arabic_locale.txt")
    assert df["sender"].to_list() == ["عمار لبنان", "الحمد الله"]
    assert df["timestamp"].to_list() == [datetime(2022, 4, 24, 14, 7), datetime(2022, 4, 24, 14, 8)]
