"""WhatsApp parser on small inline exports written for these tests (one per header variant
of CHAT_FORMATS.md §1), plus sniffing and bad input."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from builder.errors import ParseError
from builder.ingest import whatsapp
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA

LRM, RLM, NNBSP, NBSP = "\u200e", "\u200f", "\u202f", "\u00a0"


def parse(text: str, hint: str | None = "WhatsApp Chat with Robin", name: str = "chat.txt"):
    warnings: list[str] = []
    df = whatsapp.parse([Document(name=name, text=text, chat_hint=hint)], warnings.append)
    return df, warnings


def ts(*parts: int) -> datetime:
    return datetime(*parts)


# (id, export text, expected first timestamp, expected second timestamp)
VARIANTS = [
    ("android en-GB", "23/03/2022, 13:31 - Robin: hi\n24/03/2022, 09:05 - Kim: yo\n", ts(2022, 3, 23, 13, 31), ts(2022, 3, 24, 9, 5)),
    ("android en-US 12h", "3/18/25, 1:49 PM - Robin: hi\n3/19/25, 12:05 AM - Kim: yo\n", ts(2025, 3, 18, 13, 49), ts(2025, 3, 19, 0, 5)),
    ("android NNBSP meridiem", f"3/6/18, 1:55{NNBSP}PM - Robin: hi\n3/7/18, 12:10{NNBSP}PM - Kim: yo\n", ts(2018, 3, 6, 13, 55), ts(2018, 3, 7, 12, 10)),
    ("es p. m. with NBSP", f"09/10/22, 10:37 p.{NBSP}m. - Robin: hola\n13/10/22, 8:01 a.{NBSP}m. - Kim: buenas\n", ts(2022, 10, 9, 22, 37), ts(2022, 10, 13, 8, 1)),
    ("es no comma a. m.", "11/27/2019 9:30 p. m. - Robin: a\n11/28/2019 11:30 a.m. - Kim: b\n", ts(2019, 11, 27, 21, 30), ts(2019, 11, 28, 11, 30)),
    ("de dots 2-digit year", "13.03.24, 10:15 - Robin: Hallo\n14.03.24, 22:01 - Kim: Hoi\n", ts(2024, 3, 13, 10, 15), ts(2024, 3, 14, 22, 1)),
    ("cs no comma", "23.03.22 13:31 - Robin: a\n24.03.22 13:32 - Kim: b\n", ts(2022, 3, 23, 13, 31), ts(2022, 3, 24, 13, 32)),
    ("nl dashes", "23-03-2022 13:31 - Robin: a\n24-03-2022 13:32 - Kim: b\n", ts(2022, 3, 23, 13, 31), ts(2022, 3, 24, 13, 32)),
    ("fi klo dotted time", "13.6.2018 klo 21.25.15 - Robin: a\n14.6.2018 klo 7.05.00 - Kim: b\n", ts(2018, 6, 13, 21, 25, 15), ts(2018, 6, 14, 7, 5)),
    ("fr à", "12/07/2017 à 22:35 - Robin: a\n13/07/2017 à 09:12 - Kim: b\n", ts(2017, 7, 12, 22, 35), ts(2017, 7, 13, 9, 12)),
    ("id dotted time no comma", "30/08/25 18.00 - Robin: halo\n31/08/25 07.30 - Kim: pagi\n", ts(2025, 8, 30, 18, 0), ts(2025, 8, 31, 7, 30)),
    ("year first zh", "2024/10/31 15:50 - Robin: a\n2024/11/01 08:00 - Kim: b\n", ts(2024, 10, 31, 15, 50), ts(2024, 11, 1, 8, 0)),
    ("year first trailing dot", "2022/12/14, 13:34. - Robin: a\n2022/12/21, 17:02. - Kim: b\n", ts(2022, 12, 14, 13, 34), ts(2022, 12, 21, 17, 2)),
    ("en-CA p.m.", "2023-12-20, 5:46 p.m. - Robin: a\n2023-12-21, 9:01 a.m. - Kim: b\n", ts(2023, 12, 20, 17, 46), ts(2023, 12, 21, 9, 1)),
    ("old colon separator", "13.06.18 21.25.15: Robin: a\n14.06.18 08.00.00: Kim: b\n", ts(2018, 6, 13, 21, 25, 15), ts(2018, 6, 14, 8, 0)),
    ("hu dotted trailing dot", "13. 6. 2018. 21:25:15 Robin: a\n14. 6. 2018. 06:00:00 Kim: b\n", ts(2018, 6, 13, 21, 25, 15), ts(2018, 6, 14, 6, 0)),
    ("zh afternoon before time", "2020/12/9 下午11:05 - Robin: a\n2020/12/10 上午9:30 - Kim: b\n", ts(2020, 12, 9, 23, 5), ts(2020, 12, 10, 9, 30)),
    ("ko afternoon before time", "2021. 1. 15. 오후 3:05 - Robin: a\n2021. 1. 16. 오전 12:30 - Kim: b\n", ts(2021, 1, 15, 15, 5), ts(2021, 1, 16, 0, 30)),
    ("ios en-US 24h", "[3/18/22, 14:56:01] Robin: a\n[3/19/22, 08:00:09] Kim: b\n", ts(2022, 3, 18, 14, 56, 1), ts(2022, 3, 19, 8, 0, 9)),
    ("ios NNBSP PM", f"[7/14/25, 11:34:42{NNBSP}PM] Robin: a\n[7/15/25, 12:01:00{NNBSP}AM] Kim: b\n", ts(2025, 7, 14, 23, 34, 42), ts(2025, 7, 15, 0, 1)),
    ("ios de dots", f"{LRM}[20.06.19, 15:58:47] Robin: a\n[21.06.19, 16:00:03] Kim: b\n", ts(2019, 6, 20, 15, 58, 47), ts(2019, 6, 21, 16, 0, 3)),
    ("ios vi time first", "[14:56:01, 3/18/22] Robin: a\n[09:01:02, 3/19/22] Kim: b\n", ts(2022, 3, 18, 14, 56, 1), ts(2022, 3, 19, 9, 1, 2)),
    ("ios id dotted", "[3/18/22 14.56.01] Robin: a\n[3/19/22 08.00.00] Kim: b\n", ts(2022, 3, 18, 14, 56, 1), ts(2022, 3, 19, 8, 0)),
    ("ios buddhist", "[3/18/2565 BE, 14:56:01] Robin: a\n[3/19/2565 BE, 08:00:00] Kim: b\n", ts(2022, 3, 18, 14, 56, 1), ts(2022, 3, 19, 8, 0)),
    ("ios japanese era", "[3/18/R4, 14:56:01] Robin: a\n[4/28/R5, 20:17:31] Kim: b\n", ts(2022, 3, 18, 14, 56, 1), ts(2023, 4, 28, 20, 17, 31)),
    ("ios arabic digits", f"[١٨{RLM}/٣{RLM}/٢٠٢٢، ٢:٥٦:٠٠{NBSP}م] Robin: a\n[١٩{RLM}/٣{RLM}/٢٠٢٢، ٩:٠٥:٠٠{NBSP}ص] Kim: b\n", ts(2022, 3, 18, 14, 56), ts(2022, 3, 19, 9, 5)),
    ("ios arabic latin digits", f"{RLM}[{RLM}18{RLM}/3{RLM}/2022، 14:56:01] Robin: a\n[19{RLM}/3{RLM}/2022، 08:00:00] Kim: b\n", ts(2022, 3, 18, 14, 56, 1), ts(2022, 3, 19, 8, 0)),
    ("android arabic", f"٢٤{RLM}/٤{RLM}/٢٠٢٢، ٢:٠٧ م - Robin: السلام\n٢٥{RLM}/٤{RLM}/٢٠٢٢، ١١:٠٨ ص - Kim: اهلين\n", ts(2022, 4, 24, 14, 7), ts(2022, 4, 25, 11, 8)),
    ("ios es p. m.", "[3/6/18 1:55:00 p. m.] Robin: a\n[13/6/18 1:56:00 a. m.] Kim: b\n", ts(2018, 6, 3, 13, 55), ts(2018, 6, 13, 1, 56)),
]


@pytest.mark.parametrize("text,first,second", [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_header_variants(text: str, first: datetime, second: datetime) -> None:
    df, _ = parse(text)
    assert df.schema == MESSAGE_SCHEMA
    assert df["timestamp"].to_list() == [first, second]
    assert df["sender"].to_list() == ["Robin", "Kim"]
    assert df["chat"].unique().to_list() == ["Robin"]


def test_multiline_bodies_and_header_like_continuations() -> None:
    text = (
        "23/06/2018, 01:55 p.m. - Loris: one\n"
        "two\n"
        "2016-04-29 10:30:00\n"
        "\n"
        "---> Another line - with a dash\n"
        "24/06/2018, 01:56 p.m. - Kim: POLL:\n"
        "OPTION: 2:00 (1 vote)\n"
        "[3/18/22, 14:56:01] not this file's header\n\n"
    )
    df, warnings = parse(text)
    assert df["text"].to_list() == [
        "one\ntwo\n2016-04-29 10:30:00\n\n---> Another line - with a dash",
        "POLL:\nOPTION: 2:00 (1 vote)\n[3/18/22, 14:56:01] not this file's header",
    ]
    assert warnings == []


def test_crlf_and_trailing_newline_dropped() -> None:
    df, _ = parse("03/02/17, 18:42 - Luke: How are you?\r\n\r\nIs everything alright?\r\n")
    assert df["text"].to_list() == ["How are you?\n\nIs everything alright?"]


def test_android_system_lines_media_and_deleted() -> None:
    text = (
        "23/03/2022, 13:31 - Messages and calls are end-to-end encrypted. Tap to learn more.\n"
        "23/03/2022, 13:32 - Robin created group \"Trip\"\n"
        "23/03/2022, 13:33 - Robin: <Media omitted>\n"
        "23/03/2022, 13:34 - Kim: This message was deleted\n"
        "23/03/2022, 13:35 - Kim: IMG-20220323-WA0002.jpg (file attached)\nlook at this\n"
        "23/03/2022, 13:36 - Robin: null\n"
        "23/03/2022, 13:37 - Robin: location: https://maps.google.com/?q=51.5,-0.12\n"
        "23/03/2022, 13:38 - Kim: Missed voice call\n"
        "23/03/2022, 13:39 - Kim: <Medien ausgeschlossen>\n"
        "23/03/2022, 13:40 - Kim: fine <This message was edited>\n"
        "23/03/2022, 13:41 - Kim: Se eliminó este mensaje.\n"
    )
    df, _ = parse(text)
    assert df["kind"].to_list() == ["system", "system", "media", "deleted", "media", "media", "media",
                                    "system", "media", "text", "deleted"]
    assert df["sender"].to_list()[:3] == [None, None, "Robin"]
    assert df["text"][4] == "IMG-20220323-WA0002.jpg (file attached)\nlook at this"
    assert df["text"][9] == "fine"


def test_ios_events_attributed_to_chat_name() -> None:
    text = (
        f"[3/18/22, 14:56:01] Trip Crew: {LRM}Messages and calls are end-to-end encrypted.\n"
        f"[3/18/22, 14:56:02] Trip Crew: {LRM}Robin added you\n"
        f"{LRM}[3/18/22, 14:57:00] Robin: {LRM}image omitted\n"
        f"[3/18/22, 14:58:00] Robin: {LRM}This message was deleted.\n"
        f"{LRM}[3/18/22, 14:59:00] Kim: {LRM}<attached: 00000035-PHOTO-2022-03-18-14-59-00.jpg>\n"
        f"[3/18/22, 15:00:00] Kim: {LRM}POLL:\nWhere?\n{LRM}OPTION: Here (1 vote)\n"
        f"[3/18/22, 15:01:00] {LRM}Robin changed the subject to “Trip: 2”\n"
        "[3/18/22, 15:02:00] Kim: normal\n"
    )
    df, _ = parse(text, hint="_chat")
    assert df["chat"][0] == "Trip Crew"
    assert df["kind"].to_list() == ["system", "system", "media", "deleted", "media", "text", "system", "text"]
    assert df["sender"].to_list() == [None, None, "Robin", "Robin", "Kim", "Kim", None, "Kim"]
    assert df["text"][0] == "Messages and calls are end-to-end encrypted."
    assert df["text"][5] == f"POLL:\nWhere?\n{LRM}OPTION: Here (1 vote)"


def test_authors_non_contacts_phone_numbers_and_empty_bodies() -> None:
    text = (
        f"[11/5/25, 5:40:38{NNBSP}AM] ~{NNBSP}Martin: Welcome!\n"
        f"[11/5/25, 5:41:00{NNBSP}AM] \u202a+40{NBSP}521{NBSP}028\u202c: hi\n"
        f"[11/5/25, 5:42:00{NNBSP}AM] ~ Jules Foa:\n"
        f"[11/5/25, 5:43:00{NNBSP}AM] {RLM}سارة{RLM}: مرحبا\n"
        f"[11/5/25, 5:44:00{NNBSP}AM] T\u200bom: zwsp kept\n"
        f"[11/5/25, 5:45:00{NNBSP}AM] John Doe:.\n"
        f"[11/5/25, 5:46:00{NNBSP}AM] Prof. Oak: Lorem ipsum : dolor\n"
    )
    df, _ = parse(text)
    assert df["sender"].to_list() == ["Martin", f"+40{NBSP}521{NBSP}028", "Jules Foa", "سارة", "T\u200bom",
                                      "John Doe", "Prof. Oak"]
    assert df["text"].to_list()[2] == ""
    assert df["kind"][5] == "deleted" and df["text"][5] == ""
    assert df["text"][6] == "Lorem ipsum : dolor"


def test_empty_android_body_is_a_message_not_an_event() -> None:
    df, _ = parse("03/02/17, 18:42 - Luke: \n03/02/17, 18:43 - Luke: ok\n")
    assert df["kind"].to_list() == ["text", "text"]
    assert df["sender"].to_list() == ["Luke", "Luke"]
    assert df["text"][0] == ""


def test_impossible_times_are_reported_and_kept_as_text() -> None:
    text = (
        "2019-04-27 13:00 - shin: first\n"
        "2019-04-27 24:35 - shin: bacon\n"
        "2019-04-27 10:60 - goku: more\n"
        "2019-02-30 10:00 - goku: bad date\n"
        "2019-04-28 10:00 - goku: second\n"
    )
    df, warnings = parse(text)
    assert df.height == 2
    assert df["text"][0] == ("first\n2019-04-27 24:35 - shin: bacon\n2019-04-27 10:60 - goku: more\n"
                             "2019-02-30 10:00 - goku: bad date")
    assert [w.split(": ")[0] for w in warnings] == ["chat.txt:2", "chat.txt:3", "chat.txt:4"]


def test_twelve_hour_edge_cases() -> None:
    text = ("06/20/2020, 00:08 a. m. - Robin: a\n06/21/2020, 13:37 p. m. - Robin: b\n"
            "06/22/2020, 12:00 a. m. - Robin: c\n06/23/2020, 12:30 p. m. - Robin: d\n")
    df, _ = parse(text)
    assert [t.strftime("%H:%M") for t in df["timestamp"]] == ["00:08", "13:37", "00:00", "12:30"]


@pytest.mark.parametrize(
    "dates,expected_months",
    [
        (["06/03/2017", "08/05/2017", "09/04/2017"], [6, 8, 9]),  # decreasing second part: month first
        (["03/06/2017", "05/08/2017", "04/09/2017"], [6, 8, 9]),  # decreasing first part: day first
        (["03/04/24", "25/04/24"], [4, 4]),  # a part above 12 decides (day first)
        (["3/4/24", "4/25/24"], [3, 4]),  # ... month first
        (["3/4/24", "4/25/24", "25/4/24"], [3, 4]),  # first decisive line wins; the contradiction is not a header
        (["12/9/20", "12/9/20"], [9, 9]),  # unknowable: day first, with a warning
    ],
)
def test_date_order_inferred_from_whole_file(dates: list[str], expected_months: list[int]) -> None:
    text = "".join(f"{d}, 10:0{i} - Robin: m{i}\n" for i, d in enumerate(dates))
    df, warnings = parse(text)
    assert [t.month for t in df["timestamp"]] == expected_months
    if dates[0] == "12/9/20":
        assert any("day-first" in w for w in warnings)


def test_order_from_late_lines() -> None:
    lines = [f"0{(i % 9) + 1}/01/2020, 10:00 - Robin: m{i}\n" for i in range(3000)]
    lines.append("01/13/2020, 10:00 - Robin: late\n")
    df, _ = parse("".join(lines))
    assert df["timestamp"][0].month == 1 and df["timestamp"][-1].day == 13


def test_chat_name_from_localized_file_names() -> None:
    for hint, expected in [
        ("WhatsApp Chat with Alex", "Alex"),
        ("WhatsApp Chat - Mum", "Mum"),
        ("Chat de WhatsApp con Ana", "Ana"),
        ("Чат WhatsApp с Дмитрий", "Дмитрий"),
        (f"Chat WhatsApp s{NBSP}uživatelem Dmitry S", "Dmitry S"),
        ("WhatsApp_Chat_with_Big_Group", "Big Group"),
        ("family", "family"),
    ]:
        assert whatsapp.chat_name_from_hint(hint)[0] == expected


def test_text_before_first_header_is_reported() -> None:
    df, warnings = parse("exported by a tool\n\n23/03/2022, 13:31 - Robin: hi\n")
    assert df.height == 1
    assert warnings and warnings[0].startswith("chat.txt:1:")


@pytest.mark.parametrize("text", ["", "hello there\nno chat here\n", "20 09 17, 16:54 - J: x\n",
                                  "2024-01-01,10:00,Alice,hello\n", '{"messages": []}'])
def test_no_header_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="no WhatsApp message headers found"):
        parse(text)


def test_only_impossible_headers_raise() -> None:
    with pytest.raises(ParseError):
        parse("2019-04-27 24:35 - shin: bacon\n")


def test_several_documents_keep_order_and_source() -> None:
    docs = [Document(name="a.txt", text="23/03/2022, 13:31 - A: 1\n", chat_hint="WhatsApp Chat with A"),
            Document(name="b.txt", text="[3/18/22, 14:56:01] B: 2\n", chat_hint="WhatsApp Chat - B")]
    df = whatsapp.parse(docs, lambda m: None)
    assert df.select("chat", "source", "text").rows() == [("A", "a.txt", "1"), ("B", "b.txt", "2")]


def test_sniff() -> None:
    android = "23/03/2022, 13:31 - Robin: hi\n23/03/2022, 13:32 - Kim: yo\n"
    ios = "[3/18/22, 14:56:01] Robin: a\n[3/18/22, 14:57:01] Kim: b\n"
    signal_like = "[2019-12-24, 12:23] Jane Doe: Hello\n[2019-12-24, 12:24] John: Hi\n"
    assert whatsapp.sniff("WhatsApp Chat with Robin.txt", android) >= 90
    assert whatsapp.sniff("chat.zip!/_chat.txt", ios) >= 90
    assert whatsapp.sniff("notes.txt", android) >= 70
    assert whatsapp.sniff("chat.md", signal_like) < 60
    assert whatsapp.sniff("notes.txt", "just some text\nnothing else\n") == 0
    assert whatsapp.sniff("data.json", '{"messages": []}') == 0


def test_output_is_polars_frame_in_export_order() -> None:
    df, _ = parse("02/01/2022, 10:00 - A: later\n01/01/2022, 09:00 - A: earlier\n15/01/2022, 09:00 - A: x\n")
    assert isinstance(df, pl.DataFrame)
    assert df["text"].to_list() == ["later", "earlier", "x"]
