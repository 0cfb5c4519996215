"""KakaoTalk "Export chat history" (대화 내보내기): the PC and phone .txt files and the
CSV (CHAT_FORMATS.md section 8; forms as read by es5es5/talk-parser,
kakaotalk_msg_preprocessor and ChatLab's notes).

    PC, Korean:   --------------- 2024년 12월 9일 월요일 ---------------
                  [홍길동] [오후 2:30] 안녕하세요
    PC, English:  --------------- Monday, December 9, 2024 ---------------
                  [John] [2:30 PM] Hello
    Phone:        2024년 12월 9일 월요일            (date line, ignored)
                  2024. 12. 9. 오후 2:30, 홍길동 : 안녕하세요
                  2024. 12. 9. 오후 2:31: 홍길동님이 김철수님을 초대했습니다.
                  (also "2019-03-30 오전 4:39, …" and "2026년 10월 1일 오후 3:15, …")
    Phone, English: Feb 1, 2026 at 20:35, John : Hello   ("Jul 16, 2020 22:23, …", "…, 2:30 PM, …")
                  Feb 1, 2026 at 20:29: John invited Mary.
    CSV:          Date,User,Message   (or 날짜,사용자,메시지)
                  2024-12-09 14:30:00,"홍길동","안녕하세요"

- Times are the phone's / PC's local time, kept as written; 오전/오후 are AM/PM.
- Lines that match no header continue the previous message, except PC event lines
  ("…님이 들어왔습니다.", "… joined this chatroom.") which are system lines at the last time.
- 사진/동영상/이모티콘/파일:/Photo/Emoticon … -> "media"; "삭제된 메시지입니다." /
  "This message has been deleted." -> "deleted".
"""

from __future__ import annotations

import io
import re
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest._json_util import scrub
from builder.ingest.base import Document, file_stem
from builder.ingest.line import safe_date
from builder.schema import MESSAGE_SCHEMA, empty_messages

FORMAT = "kakaotalk"
KIND = "messages"
WHAT = "KakaoTalk chat export"

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
_MONTH_NUM = {name: i % 12 + 1 for i, name in enumerate(_MONTHS.split("|")[:12])}
_MONTH_NUM.update({"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Sept": 9,
                   "Oct": 10, "Nov": 11, "Dec": 12})
_KO_BANNER = r"^-{3,} (?P<ky>\d{4})년 (?P<km>\d{1,2})월 (?P<kd>\d{1,2})일 \S+ -{3,}$"
_EN_BANNER = rf"^-{{3,}} (?:[A-Za-z]+, )?(?P<emon>{_MONTHS}) (?P<ed>\d{{1,2}}), (?P<ey>\d{{4}}) -{{3,}}$"
_PC_MSG = r"^\[(?P<psender>[^\]\n]+)\] \[(?P<pampm1>오전|오후)? ?(?P<ph>\d{1,2}):(?P<pm>\d{2}) ?(?P<pampm2>AM|PM)?\] (?P<pbody>.*)$"
_KO_MOBILE = (r"^(?:(?P<my>\d{4})\. ?(?P<mm>\d{1,2})\. ?(?P<md>\d{1,2})\.?|(?P<my2>\d{4})-(?P<mm2>\d{1,2})-(?P<md2>\d{1,2})"
              r"|(?P<my3>\d{4})년 (?P<mm3>\d{1,2})월 (?P<md3>\d{1,2})일),? (?:(?P<mampm>오전|오후) )?(?P<mh>\d{1,2}):(?P<mi>\d{2})"
              r"(?:, (?P<msender>[^\n]+?) : (?P<mbody>.*)|: (?P<mevent>.+))$")
_EN_MOBILE = (rf"^(?P<emon2>{_MONTHS}) (?P<ed2>\d{{1,2}}), (?P<ey2>\d{{4}})(?:,| at)? (?P<eh>\d{{1,2}}):(?P<emi>\d{{2}})(?: ?(?P<eampm>AM|PM))?"
              r"(?:, (?P<esender>[^\n]+?) : (?P<ebody>.*)|: (?P<eevent>.+))$")
_PC_EVENT = (r"님이 들어왔습니다\.?$|님이 나갔습니다\.?$|님을 (?:초대|내보냈)했습니다\.?$|님이 .+님을 초대(?:했|하였)습니다\.?$"
             r"| joined this chatroom\.?$| left this chatroom\.?$| invited .+\.$|^Messages sent before .+$")
_MEDIA = (r"^(?:사진|사진 \d+장|동영상|이모티콘|음성메시지|파일: .+|보이스톡 해요\.?|지도: .+|연락처: .+|샵검색: .+"
          r"|Photo|Photos|\d+ photos|Video|Emoticon|Voice Message|File: .+|Location: .+|Contact: .+)$")
_DELETED = r"^(?:삭제된 메시지입니다\.?|This message has been deleted\.?|메시지가 삭제되었습니다\.?)$"
_CALL = r"^(?:보이스톡|페이스톡|Voice Talk|Face Talk) .*(?:취소|부재중|\d{1,2}:\d{2}|Missed|Canceled|Cancelled)"
_CSV_HEADERS = ({"Date", "User", "Message"}, {"날짜", "사용자", "메시지"})
_TITLE = re.compile(r"^(?:(?P<ko>.+?) 님과 카카오톡 대화|KakaoTalk Chats with (?P<en>.+?)|Talk_.*)\s*$")


def sniff(name: str, head: str) -> int:
    head = head.lstrip("\ufeff")
    first = head.split("\n", 1)[0].strip()
    if _csv_header(first) is not None:
        return 90 if re.search(r"^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}(?::\d{2})?,", head, re.MULTILINE) else 60
    score = 0
    if any(_TITLE.match(line.strip()) for line in head.splitlines()[:4]) or re.search(r"^(?:저장한 날짜|Date Saved) ?: ", head, re.MULTILINE):
        score = 60
    hits = sum(len(re.findall(rx, head, re.MULTILINE)) for rx in (_KO_BANNER, _EN_BANNER, _PC_MSG, _KO_MOBILE, _EN_MOBILE))
    if hits >= 2:
        return 90 if score else 80
    return 70 if hits and score else 40 if score or hits else 0


def _csv_header(first: str) -> list[str] | None:
    cols = [c.strip().strip('"') for c in first.split(",")]
    return cols if len(cols) == 3 and set(cols) in _CSV_HEADERS else None


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def _chat_name(doc: Document, head: str) -> str:
    for line in head.splitlines()[:4]:
        found = _TITLE.match(line.strip())
        if found and (found.group("ko") or found.group("en")):
            return (found.group("ko") or found.group("en")).strip()
    if doc.chat_hint:
        return doc.chat_hint
    return file_stem(doc.name) or "KakaoTalk chat"


def _hour(h: str, *ampm: str) -> pl.Expr:
    hh = pl.col(h).cast(pl.Int32, strict=False)
    marker = pl.coalesce([pl.col(a) for a in ampm])
    pm = marker.is_in(["오후", "PM"])
    return (
        pl.when(marker.is_null()).then(hh)
        .when(hh == 12).then(pl.when(pm).then(12).otherwise(0))
        .when(hh < 12).then(hh + pl.when(pm).then(12).otherwise(0))
    )


def _month(col: str) -> pl.Expr:
    return pl.col(col).replace_strict(_MONTH_NUM, default=None, return_dtype=pl.Int32)


def _int(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Int32, strict=False)


def _kinds(body: pl.Expr, system: pl.Expr) -> pl.Expr:
    return (
        pl.when(system | body.str.contains(_CALL)).then(pl.lit("system"))
        .when(body.str.contains(_DELETED)).then(pl.lit("deleted"))
        .when(body.str.contains(_MEDIA)).then(pl.lit("media"))
        .otherwise(pl.lit("text"))
    )


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    text = scrub(doc.text).lstrip("\ufeff")
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint="export the chat again from KakaoTalk")
    first = text.split("\n", 1)[0].strip()
    if _csv_header(first) is not None:
        return _parse_csv(doc, text)
    line = pl.col("line")
    lines = (
        pl.DataFrame({"line": text.replace("\r\n", "\n").replace("\r", "\n").split("\n")})
        .with_row_index("n", offset=1)
        .with_columns(*(line.str.extract_groups(rx).alias(f"g{i}") for i, rx in
                        enumerate((_KO_BANNER, _EN_BANNER, _PC_MSG, _KO_MOBILE, _EN_MOBILE))))
        .unnest("g0", "g1", "g2", "g3", "g4")
    )
    banner_day = pl.coalesce(safe_date("ky", "km", "kd"), safe_date("ey", _month("emon").cast(pl.String), "ed"))
    mobile_day = pl.coalesce(safe_date("my", "mm", "md"), safe_date("my2", "mm2", "md2"), safe_date("my3", "mm3", "md3"),
                             safe_date("ey2", _month("emon2").cast(pl.String), "ed2"))
    lines = lines.with_columns(banner=banner_day).with_columns(day=pl.coalesce(mobile_day, pl.col("banner").forward_fill()))
    lines = lines.with_columns(
        hour=pl.coalesce(pl.when(pl.col("pbody").is_not_null()).then(_hour("ph", "pampm1", "pampm2")),
                         pl.when(pl.col("mh").is_not_null()).then(_hour("mh", "mampm")),
                         pl.when(pl.col("eh").is_not_null()).then(_hour("eh", "eampm"))),
        minute=pl.coalesce(_int("pm"), _int("mi"), _int("emi")),
        sender=pl.coalesce(pl.col("psender"), pl.col("msender"), pl.col("esender")),
        body=pl.coalesce(pl.col("pbody"), pl.col("mbody"), pl.col("ebody"), pl.col("mevent"), pl.col("eevent")),
        event=pl.col("mevent").is_not_null() | pl.col("eevent").is_not_null(),
    ).with_columns(
        is_msg=pl.col("body").is_not_null() & pl.col("day").is_not_null() & pl.col("hour").is_between(0, 23)
        & pl.col("minute").is_between(0, 59),
    )
    started = pl.col("is_msg").cum_sum() > 0
    lines = lines.with_columns(
        pc_event=started & ~pl.col("is_msg") & pl.col("banner").is_null() & line.str.contains(_PC_EVENT),
    ).with_columns(
        new=pl.col("is_msg") | pl.col("pc_event") | pl.col("banner").is_not_null(),
        ts=pl.when(pl.col("is_msg")).then(
            pl.col("day").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("hour"), minutes=pl.col("minute"))
        ).forward_fill(),
    )
    if not lines.get_column("is_msg").any():
        raise ParseError(doc.name, "no KakaoTalk message lines found", line=1,
                         hint="expected '[Name] [오후 2:30] text' (PC) or '2024. 12. 9. 오후 2:30, Name : text' (phone) lines")
    lines = lines.with_columns(gid=pl.col("new").cum_sum())
    body = pl.col("text")
    blocks = (
        lines.filter(started)
        .group_by("gid", maintain_order=True)
        .agg(
            pl.col("ts").first().alias("timestamp"),
            pl.col("sender").first(),
            pl.col("is_msg").first(),
            (pl.col("event").first() | pl.col("pc_event").first()).alias("system"),
            pl.when(pl.col("is_msg")).then(pl.col("body")).otherwise(line).str.join("\n").alias("text"),
        )
        .filter(pl.col("is_msg") | pl.col("system"))
        .with_columns(body.str.strip_chars_end())
    )
    messages = blocks.with_columns(kind=_kinds(body, pl.col("system"))).with_columns(
        sender=pl.when(pl.col("kind") == "system").then(None).otherwise(pl.col("sender").str.strip_chars()),
        chat=pl.lit(_chat_name(doc, text[:2000])),
        source=pl.lit(doc.name),
    )
    return messages.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))


def _parse_csv(doc: Document, text: str) -> pl.DataFrame:
    try:
        df = pl.read_csv(io.BytesIO(text.encode("utf-8", "surrogatepass")), infer_schema=False,
                         quote_char='"', truncate_ragged_lines=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise ParseError(doc.name, f"not a readable CSV: {str(exc).splitlines()[0][:120]}",
                         hint="expected KakaoTalk's Date,User,Message export") from None
    cols = df.columns
    date, user, msg = (c for c in cols) if cols[0] in ("Date", "날짜") else (cols[0], cols[1], cols[2])
    ts = pl.col(date).str.strip_chars()
    body = pl.col(msg).fill_null("")
    out = df.with_row_index("n", offset=2).select(
        pl.col("n"),
        pl.coalesce(ts.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"),
                    ts.str.to_datetime("%Y-%m-%d %H:%M", strict=False, time_unit="us")).alias("timestamp"),
        pl.col(user).str.strip_chars().alias("sender"),
        body.str.strip_chars_end().alias("text"),
    )
    bad = out.filter(pl.col("timestamp").is_null())
    if bad.height:
        n = bad.item(0, "n")
        raise ParseError(doc.name, f"row {n} has an unreadable date", hint="expected 'YYYY-MM-DD HH:MM:SS' in the Date column", line=n)
    system = pl.col("sender").fill_null("") == ""
    out = out.with_columns(kind=_kinds(pl.col("text"), system)).with_columns(
        sender=pl.when(pl.col("kind") == "system").then(None).otherwise(pl.col("sender")),
        chat=pl.lit(_chat_name(doc, "")),
        source=pl.lit(doc.name),
    )
    return out.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))
