"""WeChat chats as the common desktop exporters write them (WeChat itself has no text
export; CHAT_FORMATS.md section 8).

- MemoTrace / 留痕 (LC044/WeChatMsg) CSV: ``localId,TalkerId,Type,SubType,IsSender,
  CreateTime,Status,StrContent,StrTime[,Remark,NickName,Sender]``; WeClone-style dumps
  name the talker column ``StrTalker``.
- PyWxDump CSV (``id,MsgSvrID,type_name,is_sender,talker,room_name,msg|content,src,
  CreateTime``) and its JSON export (a list of objects with the same keys).

Time: ``StrTime`` (MemoTrace) or a formatted ``CreateTime`` is the exporting PC's local
time, kept as written. A bare epoch ``CreateTime`` is rendered in ``$CLONEKIT_TZ`` (else
UTC; see epoch_zone.py).

Sender: the row's ``Remark``, else ``NickName``, else PyWxDump's ``talker`` name, else
the wxid (PyWxDump's ``users.json`` beside the export turns wxids into remarks or
nicknames); own messages (``IsSender`` 1) without a name are "Me". Older PyWxDump JSON
nests the text as ``"content": {"msg": …, "src": …}``. Chat: the file name
(MemoTrace writes ``<remark>_utf8.csv``; PyWxDump ``<wxid>_0_5000.csv``) or ``room_name``.

Kinds: Type 1 and quoted replies (49/57, 引用回复) are text; images, voice, video,
stickers, locations, cards, files, links, transfers… are "media" with a bracketed
placeholder; 10000 / 10002 (system notices, recalls), calls (50), pats are "system".
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest import epoch_zone
from builder.ingest._json_util import clean_name, load_json, scrub
from builder.ingest._siblings import read_sibling
from builder.ingest.base import Document, file_stem
from builder.schema import MESSAGE_SCHEMA, empty_messages

FORMAT = "wechat"
KIND = "messages"
WHAT = "WeChat export (MemoTrace / PyWxDump CSV or JSON)"

# (Type, SubType) -> kind and placeholder; SubType None means any.
_TYPES: dict[int, tuple[str, str]] = {
    1: ("text", ""), 3: ("media", "[image]"), 34: ("media", "[voice message]"), 42: ("media", "[contact card]"),
    43: ("media", "[video]"), 47: ("media", "[sticker]"), 48: ("media", "[location]"), 49: ("media", "[shared item]"),
    50: ("system", "[call]"), 37: ("system", "[friend request]"), 40: ("system", "[friend suggestion]"),
    10000: ("system", ""), 10002: ("system", "[a message was recalled]"),
}
_APP_SUBTYPES: dict[int, tuple[str, str]] = {
    57: ("text", ""), 5: ("media", "[link]"), 6: ("media", "[file]"), 19: ("media", "[forwarded chat history]"),
    33: ("media", "[mini program]"), 36: ("media", "[mini program]"), 2000: ("media", "[transfer]"),
    2001: ("media", "[red packet]"), 3: ("media", "[music]"), 4: ("media", "[link]"), 51: ("media", "[channel video]"),
}
# PyWxDump's type_name (its ``type_name_dict``)
_TYPE_NAMES: dict[str, tuple[str, str]] = {
    "文本": ("text", ""), "引用回复": ("text", ""), "图片": ("media", "[image]"), "语音": ("media", "[voice message]"),
    "视频": ("media", "[video]"), "动画表情": ("media", "[sticker]"), "表情": ("media", "[sticker]"),
    "位置": ("media", "[location]"), "名片": ("media", "[contact card]"), "推荐公众号": ("media", "[contact card]"),
    "文件": ("media", "[file]"), "卡片式链接": ("media", "[link]"), "(分享)卡片式链接": ("media", "[link]"),
    "分享链接": ("media", "[link]"), "合并转发的聊天记录": ("media", "[forwarded chat history]"),
    "小程序": ("media", "[mini program]"), "转账": ("media", "[transfer]"), "红包": ("media", "[red packet]"),
    "音乐": ("media", "[music]"), "视频号": ("media", "[channel video]"), "群公告": ("system", ""),
    "系统通知": ("system", ""), "撤回消息": ("system", "[a message was recalled]"), "拍一拍": ("system", ""),
    "音视频通话": ("system", "[call]"), "语音通话": ("system", "[call]"), "视频通话": ("system", "[call]"),
    "好友确认": ("system", "[friend request]"), "邀请入群": ("system", ""), "系统消息": ("system", ""),
    # the long names of PyWxDump's (Type, SubType) table
    "带有引用的文本消息": ("text", ""), "类似文字消息而不一样的消息": ("text", ""), "用户上传的 GIF 表情": ("media", "[sticker]"),
    "分享的小程序": ("media", "[mini program]"), "视频号直播或直播回放等": ("media", "[channel video]"),
    "转账消息": ("media", "[transfer]"), "赠送红包封面": ("media", "[red packet]"),
}
_ROLES: dict[str, tuple[str, ...]] = {
    "type": ("Type", "type"), "subtype": ("SubType", "sub_type"), "type_name": ("type_name",),
    "is_sender": ("IsSender", "is_sender", "isSend"), "content": ("StrContent", "msg", "content"),
    "str_time": ("StrTime",), "create_time": ("CreateTime", "create_time"),
    "remark": ("Remark",), "nickname": ("NickName",), "wxid": ("Sender",), "talker": ("talker",),
    "chat_id": ("StrTalker", "room_name"),
}
_SIGNATURES = ({"IsSender", "StrContent"}, {"IsSender", "CreateTime", "Type"}, {"is_sender", "type_name"},
               {"MsgSvrID", "is_sender"}, {"StrTalker", "StrContent"})


def sniff(name: str, head: str) -> int:
    head = head.lstrip("\ufeff").lstrip()
    if head.startswith("["):
        keys = set(re.findall(r'"([A-Za-z_]+)"\s*:', head[:4000]))
        if any(sig <= keys for sig in _SIGNATURES):
            return 90
        return 0
    first = head.split("\n", 1)[0].rstrip("\r")
    cols = {c.strip().strip('"') for c in first.split(",")}
    if any(sig <= cols for sig in _SIGNATURES):
        return 95
    return 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def _chat_name(doc: Document) -> str:
    stem = re.sub(r"_utf8$", "", file_stem(doc.name))
    stem = re.sub(r"_\d+_\d+$", "", stem)  # PyWxDump's page suffix
    if stem.lower() in ("messages", "msg", "") and doc.chat_hint:
        return doc.chat_hint
    return stem or doc.chat_hint or "WeChat chat"


def _read_table(doc: Document) -> pl.DataFrame:
    text = scrub(doc.text).lstrip("\ufeff")
    if not text.strip():
        raise ParseError(doc.name, "the file is empty", hint=f"export the chat again ({WHAT})")
    if text.lstrip().startswith("["):
        data = load_json(doc.name, text, WHAT)
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise ParseError(doc.name, "expected a JSON list of message objects", hint=f"is this a {WHAT}?")
        # older PyWxDump JSON: "content": {"src": …, "msg": …}
        data = [{**row, **{k: v for k, v in row["content"].items() if k in ("msg", "src") and k not in row}}
                if isinstance(row.get("content"), dict) else row for row in data]
        cols = sorted({k for row in data for k in row if isinstance(k, str) and k != "_row"})
        rows = {c: [_cell(row.get(c)) for row in data] for c in cols}
        return pl.DataFrame(rows, schema={c: pl.String for c in cols}).with_row_index("_row", offset=1)
    try:
        df = pl.read_csv(io.BytesIO(text.encode("utf-8")), infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise ParseError(doc.name, f"not a readable CSV: {str(exc).splitlines()[0][:120]}", hint=f"is this a {WHAT}?") from None
    return df.drop("_row", strict=False).with_row_index("_row", offset=2)


def _cell(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value) if not isinstance(value, bool) else str(int(value))


def _role(df: pl.DataFrame, role: str) -> pl.Expr:
    for name in _ROLES[role]:
        if name in df.columns:
            return pl.col(name).cast(pl.String).str.strip_chars()
    return pl.lit(None, dtype=pl.String)


def _users(doc: Document, warn: Callable[[str], None]) -> dict[str, str]:
    """wxid -> remark (else nickname) from the ``users.json`` PyWxDump writes beside its export."""
    raw = read_sibling(doc.name, "users.json")
    if raw is None:
        return {}
    try:
        data = json.loads(scrub(raw.decode("utf-8-sig", "replace")))
    except (json.JSONDecodeError, RecursionError):
        warn(f"{doc.name}: the users.json beside it is not readable JSON; senders stay wxids")
        return {}
    names: dict[str, str] = {}
    for wxid, user in (data.items() if isinstance(data, dict) else ()):
        if not isinstance(user, dict):
            continue
        for key in ("remark", "Remark", "nickname", "NickName", "nickName"):
            value = user.get(key)
            if isinstance(value, str) and clean_name(value):
                names[str(wxid)] = clean_name(value)
                break
    return names


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    df = _read_table(doc)
    if not any(sig <= set(df.columns) for sig in _SIGNATURES):
        raise ParseError(doc.name, "no WeChat columns (IsSender/StrContent or is_sender/type_name)", hint=f"is this a {WHAT}?")
    if df.height == 0:
        return empty_messages()
    content = _role(df, "content").fill_null("")
    # PyWxDump's CSV writes ``content`` JSON-encoded ("\"hi\"")
    if "content" in df.columns and "StrContent" not in df.columns:
        quoted = content.str.starts_with('"') & content.str.ends_with('"') & (content.str.len_chars() >= 2)
        unquoted = content.str.slice(1, content.str.len_chars() - 2).str.replace_all(r"\\n", "\n").str.replace_all(r'\\"', '"')
        content = pl.when(quoted).then(unquoted).otherwise(content)
    rtype = _role(df, "type").cast(pl.Int64, strict=False)
    subtype = _role(df, "subtype").cast(pl.Int64, strict=False)
    type_name = _role(df, "type_name")
    mapped_type = rtype.replace_strict({k: v[0] for k, v in _TYPES.items()}, default=None, return_dtype=pl.String)
    mapped_sub = subtype.replace_strict({k: v[0] for k, v in _APP_SUBTYPES.items()}, default=None, return_dtype=pl.String)
    mapped_name = type_name.replace_strict({k: v[0] for k, v in _TYPE_NAMES.items()}, default=None, return_dtype=pl.String)
    kind = pl.coalesce(pl.when(rtype == 49).then(mapped_sub), mapped_type, mapped_name)
    holder = pl.coalesce(
        pl.when(rtype == 49).then(subtype.replace_strict({k: v[1] for k, v in _APP_SUBTYPES.items()}, default=None, return_dtype=pl.String)),
        rtype.replace_strict({k: v[1] for k, v in _TYPES.items()}, default=None, return_dtype=pl.String),
        type_name.replace_strict({k: v[1] for k, v in _TYPE_NAMES.items()}, default=None, return_dtype=pl.String),
    )
    unknown_label = pl.coalesce(type_name, pl.concat_str([pl.lit("type "), rtype.cast(pl.String)]), pl.lit("unknown"))
    str_time = _role(df, "str_time")
    create = _role(df, "create_time")
    written = pl.coalesce(str_time, pl.when(~create.str.contains(r"^\d+(?:\.\d+)?$")).then(create))
    written_ts = pl.coalesce(
        written.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"),
        written.str.to_datetime("%Y-%m-%d %H:%M", strict=False, time_unit="us"),
        written.str.to_datetime("%Y/%m/%d %H:%M:%S", strict=False, time_unit="us"),
    )
    epoch = create.cast(pl.Float64, strict=False)
    epoch = pl.when(epoch > 1e11).then(epoch / 1000).otherwise(epoch)  # milliseconds
    timestamp = pl.coalesce(written_ts, epoch_zone.wall_clock(epoch))
    own = _role(df, "is_sender").is_in(["1", "True", "true"])
    users = _users(doc, warn)
    talker = _role(df, "talker")
    if users:
        talker = talker.replace(users)
    name = pl.coalesce(*(pl.when(c != "").then(c) for c in
                         (_role(df, "remark"), _role(df, "nickname"), talker, _role(df, "wxid"))))
    out = df.select(
        pl.col("_row"),
        timestamp.alias("timestamp"),
        kind.alias("kind"),
        holder.alias("holder"),
        unknown_label.alias("label"),
        content.alias("content"),
        pl.when(own).then(pl.coalesce(name, pl.lit("Me"))).otherwise(pl.coalesce(name, _role(df, "chat_id"))).alias("sender"),
        _role(df, "chat_id").alias("chat_id"),
    )
    bad = out.filter(pl.col("timestamp").is_null())
    if bad.height:
        n = bad.item(0, "_row")
        raise ParseError(doc.name, f"message {'row' if doc.name.lower().endswith('.csv') else '#'} {n} has no readable time",
                         hint="expected StrTime/CreateTime as 'YYYY-MM-DD HH:MM:SS' or epoch seconds", line=n)
    unknown = out.filter(pl.col("kind").is_null())
    if unknown.height:
        labels = ", ".join(sorted(set(unknown.get_column("label").to_list()))[:5])
        warn(f"{doc.name}: {unknown.height} message(s) of unknown type ({labels}) kept as media")
    body = pl.col("content")
    # system notices carry their text (10002 recalls wrap it in <replacemsg>)
    recall = body.str.extract(r"<replacemsg><!\[CDATA\[(.*?)\]\]></replacemsg>", 1)
    plain = ~body.str.contains(r"^\s*<")
    text = (
        pl.when(pl.col("kind") == "text").then(body)
        .when(pl.col("kind") == "system").then(pl.coalesce(recall, pl.when(plain & (body != "")).then(body), pl.col("holder"),
                                                           pl.lit("[system message]")))
        .otherwise(pl.coalesce(pl.col("holder"), pl.concat_str([pl.lit("["), pl.col("label"), pl.lit("]")])))
    )
    chat = _chat_name(doc)
    messages = out.with_columns(kind=pl.col("kind").fill_null("media")).with_columns(
        text=text,
        sender=pl.when(pl.col("kind") == "system").then(None).otherwise(pl.col("sender")),
        chat=pl.lit(chat),
        source=pl.lit(doc.name),
    )
    # a text message with nothing in it is not something the person said
    messages = messages.filter(~((pl.col("kind") == "text") & (pl.col("text").str.strip_chars() == "")))
    return messages.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))
