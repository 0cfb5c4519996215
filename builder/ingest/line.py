"""LINE "Export chat history" / "Save chat" .txt (CHAT_FORMATS.md section 7).

    [LINE] Chat history with Alice
    Saved on: 2024/01/23 15:04

    Tue, 1/23/2024
    12:00	Alice	hello world
    12:01	Bob	"first line
    second line"
    12:02		Alice joined the group.

(as read by ChatLab's ``line-native-txt.ts``, EN / ZH-CN / ZH-TW / JA headers.)

- A date line (``2024/01/23(Tue)``, ``2017.09.02 Saturday``, ``2026/1/30周五``,
  ``Tue, 1/23/2024``) dates the messages after it; times are ``HH:MM``, ``H:MMam``/``PM``
  or with a ``上午/下午`` (zh), ``午前/午後`` (ja), ``오전/오후`` (ko) prefix. The phone's
  local time, kept as written. ``24:MM`` (seen in meyfa/line-chat-parser's tests) is
  read as ``00:MM`` of the same date, as that parser does.
- ``TIME<TAB>sender<TAB>text``; a line ``TIME<TAB><TAB>text`` is a system line. A
  multi-line message is wrapped in double quotes; other lines that match nothing
  continue the previous message.
- Localized placeholders ([Photo]/[写真]/[照片]/[사진] …) -> "media"; "Message unsent." ->
  "deleted"; call records (☎) -> "system".
"""

from __future__ import annotations

import re
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest._json_util import scrub
from builder.ingest.base import Document, file_stem
from builder.schema import MESSAGE_SCHEMA, empty_messages

FORMAT = "line"
KIND = "messages"
WHAT = "LINE chat history .txt"

_TIME = r"(?P<pre>上午|下午|午前|午後|오전|오후)? ?(?P<hh>\d{1,2}):(?P<mm>\d{2}) ?(?P<suf>[AaPp]\.? ?[Mm]\.?)?"
_MESSAGE = rf"^{_TIME}\t(?P<sender>[^\t]*)\t(?P<body>.*)$"
_MESSAGE_RX = re.compile(_MESSAGE, re.MULTILINE)
_DATE_YMD = r"^(?P<y>\d{4})[./](?P<m>\d{1,2})[./](?P<d>\d{1,2})(?:\s*[(（][^)）\n]{1,12}[)）]|\s*\S{1,12})?\s*$"
_DATE_MDY = r"^[A-Za-z]{3,9},? (?P<m2>\d{1,2})/(?P<d2>\d{1,2})/(?P<y2>\d{4})\s*$"
_TITLE = re.compile(r"^\[LINE\] ?(.*)$")
# (regex on the title after "[LINE] ") -> chat name group
_TITLES = (
    re.compile(r"^Chat history (?:with|in) (.+)$"),
    re.compile(r"^(.+?)とのトーク履歴$"),
    re.compile(r"^(.+?)のトーク履歴$"),
    re.compile(r"^与(.+?)的聊天记录$"),
    re.compile(r"^與(.+?)的聊天記錄$"),
    re.compile(r"^(.+?)的聊天(?:记录|記錄)$"),
    re.compile(r"^(.+?)(?:님)?과의 대화$|^(.+?)와의 대화$|^(.+?) 대화$"),
    re.compile(r"^ประวัติการแชทกับ ?(.+)$|^ประวัติการแชทใน ?(.+)$"),
)
_SAVED = r"^(?:Saved on|保存日期|保存日時|儲存日期|保存日|저장한 날짜|บันทึกเมื่อ)\s*[:：]"
_MEDIA_WORDS = (
    "Photo", "Photos", "Sticker", "Stickers", "Video", "Videos", "File", "Voice message", "Audio", "Location", "Album",
    "Contact", "GIF", "写真", "スタンプ", "動画", "ファイル", "ボイスメッセージ", "位置情報", "連絡先", "アルバム",
    "照片", "图片", "贴图", "貼圖", "视频", "影片", "文件", "檔案", "语音信息", "語音訊息", "位置", "联系人", "聯絡人",
    "相簿", "相册", "사진", "스티커", "동영상", "파일", "음성메시지", "위치", "연락처", "앨범",
    "รูป", "รูปภาพ", "สติกเกอร์", "วิดีโอ", "ไฟล์", "ข้อความเสียง", "ตำแหน่ง",
)
_MEDIA = r"^\[(?:" + "|".join(re.escape(w) for w in _MEDIA_WORDS) + r")\](?:\s.*)?$"
_UNSENT = r"^(?:Message unsent\.?|メッセージの送信を取り消しました|送信を取り消しました|已收回訊息|已撤回消息|메시지가 삭제되었습니다\.?|ยกเลิกข้อความแล้ว)$"
_CALL = r"^☎"
# Old Windows "Save chat" files separate time, name and text with spaces (meyfa/line-chat-parser)
_SPACED_RX = re.compile(r"^(?:上午|下午|午前|午後)?\d{1,2}:\d{2} \S+ ", re.MULTILINE)


def sniff(name: str, head: str) -> int:
    head = head.lstrip("\ufeff")
    first = head.split("\n", 1)[0].rstrip("\r")
    messages = len(_MESSAGE_RX.findall(head))
    if first.startswith("[LINE]"):
        return 95 if messages or re.search(_SAVED, head, re.MULTILINE) else 80
    if re.match(r"^Chat history (?:with|in) ", first) and messages:
        return 85
    dated = re.search(_DATE_YMD + "|" + _DATE_MDY, head, re.MULTILINE)
    if messages >= 2 and dated:
        return 60
    if dated and len(_SPACED_RX.findall(head)) >= 2 and re.match(r"^\d{4}[./]\d{1,2}[./]\d{1,2}", first):
        return 50  # the old Windows "Save chat" form: claimed, then refused in one line
    return 0


def safe_date(y: str | pl.Expr, m: str | pl.Expr, d: str | pl.Expr) -> pl.Expr:
    """A date from year, month and day columns; null (not an error) when there is no such day."""
    return pl.concat_str([y, m, d], separator="-").str.to_date("%Y-%m-%d", strict=False)


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def chat_name(doc: Document, first: str) -> str:
    found = _TITLE.match(first.strip())
    title = found.group(1).strip() if found else first.strip() if first.startswith("Chat history") else ""
    for rx in _TITLES:
        m = rx.match(title)
        if m:
            return next(g for g in m.groups() if g).strip()
    if title:
        return title
    if doc.chat_hint:
        return doc.chat_hint
    return re.sub(r"^\[LINE\]\s*", "", file_stem(doc.name)) or "LINE chat"


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    text = scrub(doc.text).lstrip("\ufeff")
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint="export the chat history from LINE again")
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    line = pl.col("line")
    hh = pl.col("hh").cast(pl.Int32, strict=False)
    pm = pl.col("pre").is_in(["下午", "午後", "오후"]) | pl.col("suf").str.to_lowercase().str.starts_with("p")
    twelve = pl.col("pre").is_not_null() | pl.col("suf").is_not_null()
    hour = (
        pl.when(twelve & (hh == 12)).then(pl.when(pm).then(12).otherwise(0))
        .when(twelve & (hh < 12)).then(hh + pl.when(pm).then(12).otherwise(0))
        .when(twelve).then(None)
        .when(hh == 24).then(0)
        .otherwise(hh)
    )
    lines = (
        pl.DataFrame({"line": raw_lines})
        .with_row_index("n", offset=1)
        .with_columns(
            line.str.extract_groups(_MESSAGE).alias("msg"),
            line.str.extract_groups(_DATE_YMD).alias("ymd"),
            line.str.extract_groups(_DATE_MDY).alias("mdy"),
        )
        .unnest("msg", "ymd", "mdy")
        .with_columns(
            day=pl.coalesce(safe_date("y", "m", "d"), safe_date("y2", "m2", "d2")),
            minute=pl.col("mm").cast(pl.Int32, strict=False),
            hour=hour,
        )
    )
    # Only a line that is not inside an open quoted message can be a date or header.
    lines = lines.with_columns(
        is_date=pl.col("day").is_not_null() & pl.col("body").is_null(),
        is_msg=pl.col("body").is_not_null() & pl.col("hour").is_between(0, 23) & pl.col("minute").is_between(0, 59),
    )
    lines = lines.with_columns(
        day=pl.when(pl.col("is_date")).then(pl.col("day")).forward_fill(),
    ).with_columns(is_msg=pl.col("is_msg") & pl.col("day").is_not_null())
    bad = lines.filter(pl.col("body").is_not_null() & ~pl.col("is_msg"))
    for n, raw in bad.head(5).select("n", "line").iter_rows():
        warn(f"{doc.name}:{n}: a message line without a readable date or time {raw[:40]!r}; kept as part of the previous message")
    if not lines.get_column("is_msg").any():
        if len(_SPACED_RX.findall(text[:20000])) >= 2:
            raise ParseError(doc.name, "this LINE file separates names from text with spaces (old Windows 'Save chat'), "
                             "so a name cannot be told from the text", line=1,
                             hint="export the chat again from LINE on the phone (Export chat history), which uses tabs")
        raise ParseError(doc.name, "no LINE message lines found", line=1,
                         hint="expected date lines and 'HH:MM<TAB>name<TAB>text' lines from LINE's Export chat history")
    lines = lines.with_columns(gid=pl.col("is_msg").cum_sum())
    body = pl.col("text")
    blocks = (
        lines.filter((pl.col("gid") > 0) & ~pl.col("is_date"))
        .group_by("gid", maintain_order=True)
        .agg(
            pl.col("day").first(),
            pl.col("hour").first(),
            pl.col("minute").first(),
            pl.col("sender").first().str.strip_chars(),
            pl.col("n").first(),
            pl.when(pl.col("is_msg")).then(pl.col("body")).otherwise(line).str.join("\n").alias("text"),
        )
        .with_columns(body.str.strip_chars_end())
        .with_columns(
            # a quoted multi-line body: drop the wrapping quotes, un-double inner quotes
            text=pl.when(body.str.contains("\n") & body.str.starts_with('"') & body.str.ends_with('"'))
            .then(body.str.slice(1, body.str.len_chars() - 2).str.replace_all('""', '"'))
            .otherwise(body)
        )
    )
    system = pl.col("sender") == ""
    messages = blocks.with_columns(
        timestamp=pl.col("day").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("hour"), minutes=pl.col("minute")),
        kind=pl.when(system | body.str.contains(_CALL)).then(pl.lit("system"))
        .when(body.str.contains(_UNSENT)).then(pl.lit("deleted"))
        .when(body.str.contains(_MEDIA)).then(pl.lit("media"))
        .otherwise(pl.lit("text")),
    ).with_columns(
        sender=pl.when(pl.col("kind") == "system").then(None).otherwise(pl.col("sender")),
        chat=pl.lit(chat_name(doc, raw_lines[0])),
        source=pl.lit(doc.name),
    )
    return messages.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))
