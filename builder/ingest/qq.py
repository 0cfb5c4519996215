"""QQ's classic message-manager export (消息管理器 -> 导出消息记录 -> .txt).

    消息记录（此消息记录为文本格式，不支持重新导入）

    ================================================================
    消息分组:我的群聊
    ================================================================
    消息对象:周末爬山群
    ================================================================

    2019-07-16 18:15:05 地瓜(23333233)
    明天几点出发？
    第二行

    2019-07-16 18:15:11 【管理员】土豆<example@xx.com>
    [图片]

(format as read by ChatLab's ``qq-native-txt.ts`` and hikariyo/qq-chat-history.)

- A header is ``YYYY-MM-DD H:MM:SS nickname(QQ number)`` or ``nickname<e-mail>``; the
  discussion-group form has no id. TIM writes ``上午``/``下午`` before the time. Times are
  the exporting PC's local time, kept as written.
- The body is every line up to the next header; trailing blank lines are dropped.
- One file may hold several chats ("export all"): each ``消息对象:`` line starts one.
- Names vs ids: the nickname is the sender; QQ writes the number instead of the name for
  some lines, so a nickname equal to the id takes the last real nickname of that id.
  Group titles ``【管理员】`` before the name are dropped.
- ``系统消息(10000)`` lines -> "system"; bodies made only of QQ's placeholders
  (``[图片]``, ``[表情]``, ``[语音]`` …) -> "media"; "撤回了一条消息" -> "system".
"""

from __future__ import annotations

import re
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest._json_util import scrub
from builder.ingest.base import Document, file_stem
from builder.schema import MESSAGE_SCHEMA, empty_messages

FORMAT = "qq"
KIND = "messages"
WHAT = "QQ message-manager .txt export"

_HEADER = (
    r"^(?P<date>\d{4}-\d{1,2}-\d{1,2}) (?:(?P<ampm>上午|下午) ?)?(?P<time>\d{1,2}:\d{2}:\d{2}) "
    r"(?P<nick>.*?)(?:\((?P<qid>[^()\n]+)\)|<(?P<mail>[^<>\n]+)>)?\s*$"
)
_HEADER_RX = re.compile(_HEADER, re.MULTILINE)
_STRICT_HEADER = re.compile(r"^\d{4}-\d{1,2}-\d{1,2} (?:上午 ?|下午 ?)?\d{1,2}:\d{2}:\d{2} .*(?:\(\d{4,}\)|<[^<>\n]+@[^<>\n]+>)\s*$", re.MULTILINE)
_OBJECT = r"^消息对象[:：](?P<object>.*)$"
_PREAMBLE = r"^(?:消息记录（此消息记录为文本格式|={10,}|消息分组[:：])"
_MEDIA_TOKENS = ("图片", "表情", "语音", "视频", "文件", "闪照", "动画表情", "位置", "地理位置", "链接", "卡片消息",
                 "红包", "转账", "分享", "音乐", "小程序", "聊天记录", "转发", "语音通话", "视频通话", "Image", "Photo")
_MEDIA = r"^(?:\s*\[(?:" + "|".join(_MEDIA_TOKENS) + r")\]\s*)+$"
_SYSTEM_TEXT = r"撤回了一条(?:消息|成员消息)|加入了群聊|加入本群|退出了群聊|被移出群聊|修改了群名称|成为新群主|拍了拍"


def sniff(name: str, head: str) -> int:
    head = head.lstrip("\ufeff")
    if "消息记录（此消息记录为文本格式" in head[:200]:
        return 95
    headers = len(_STRICT_HEADER.findall(head))
    if re.search(_OBJECT, head, re.MULTILINE) and headers:
        return 90
    # "date time name(id)" alone on its line, the body below: WhatsApp never writes that
    # (its headers go on with " - Name: text" or "] Name: text")
    whatsapp_like = re.search(r"^\[?\d{4}-\d{1,2}-\d{1,2},? \d{1,2}:\d{2}(?::\d{2})?\]? (?:- )?[^\n(<]*: ", head, re.MULTILINE)
    if headers >= 2:
        return 70 if whatsapp_like else 90
    return 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def _chat_hint(doc: Document) -> str:
    if doc.chat_hint:
        return doc.chat_hint
    return file_stem(doc.name) or "QQ chat"


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    text = scrub(doc.text).lstrip("\ufeff")
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint="export the chat again from QQ's message manager as .txt")
    line = pl.col("line")
    clock = pl.col("date") + " " + pl.col("time")
    hour_fix = (
        pl.when(pl.col("ampm") == "下午").then(pl.duration(hours=12)).otherwise(pl.duration(hours=0))
    )
    lines = (
        pl.DataFrame({"line": text.replace("\r\n", "\n").replace("\r", "\n").split("\n")})
        .with_row_index("n", offset=1)
        .with_columns(line.str.extract_groups(_HEADER).alias("h"), line.str.extract(_OBJECT, 1).alias("object"))
        .unnest("h")
        .with_columns(
            ts=clock.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"),
            preamble=line.str.contains(_PREAMBLE) | pl.col("object").is_not_null(),
        )
        .with_columns(
            # 12-hour TIM clocks: 下午 1:00 is 13:00, 上午 12:xx is 0:xx
            ts=pl.when(pl.col("ampm").is_null()).then(pl.col("ts"))
            .when(pl.col("ts").dt.hour() == 12).then(pl.col("ts") - pl.duration(hours=12) + hour_fix)
            .when(pl.col("ts").dt.hour() < 12).then(pl.col("ts") + hour_fix),
            chat=pl.col("object").str.strip_chars().forward_fill(),
        )
        .with_columns(is_header=pl.col("ts").is_not_null())
        # a chat section starts a new group too, so its banner never joins the last body
        .with_columns(gid=(pl.col("is_header") | pl.col("object").is_not_null()).cum_sum())
    )
    bad = lines.filter(pl.col("date").is_not_null() & pl.col("ts").is_null())
    for n, raw in bad.head(5).select("n", "line").iter_rows():
        warn(f"{doc.name}:{n}: impossible time in {raw[:40]!r}; kept as part of the previous message")
    if not lines.get_column("is_header").any():
        raise ParseError(doc.name, "no QQ message headers found", line=1,
                         hint="expected lines like '2019-07-16 18:15:05 Name(12345)' from QQ's message manager")
    hint = _chat_hint(doc)
    blocks = (
        lines.filter(pl.col("gid") > 0)
        .group_by("gid", maintain_order=True)
        .agg(
            pl.col("ts").first().alias("timestamp"),
            pl.col("is_header").first(),
            pl.col("chat").first(),
            pl.col("nick").first().str.replace(r"^(?:【[^】]*】\s*)+", "").str.strip_chars(),
            pl.coalesce(pl.col("qid"), pl.col("mail")).first().str.strip_chars().alias("uid"),
            line.slice(1).filter(~pl.col("preamble").slice(1)).str.join("\n").str.strip_chars_end().alias("text"),
        )
        .filter(pl.col("is_header"))
    )
    body = pl.col("text")
    nick, uid = pl.col("nick"), pl.col("uid")
    real_nick = pl.when((nick != "") & (nick != uid.fill_null(""))).then(nick)
    system = (uid == "10000") | (nick == "系统消息")
    messages = (
        blocks.with_columns(
            name=pl.coalesce(real_nick, real_nick.forward_fill().over(uid), real_nick.backward_fill().over(uid), uid, nick)
        )
        .with_columns(
            kind=pl.when(system | body.str.contains(_SYSTEM_TEXT) & (body.str.len_chars() < 80))
            .then(pl.lit("system"))
            .when(body.str.contains(_MEDIA))
            .then(pl.lit("media"))
            .otherwise(pl.lit("text"))
        )
        .with_columns(
            sender=pl.when(pl.col("kind") == "system").then(None).otherwise(pl.col("name")),
            chat=pl.coalesce(pl.when(pl.col("chat") != "").then(pl.col("chat")), pl.lit(hint)),
            source=pl.lit(doc.name),
        )
    )
    return messages.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))
