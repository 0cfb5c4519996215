"""Telegram Desktop JSON export (``result.json``), CHAT_FORMATS.md section 2.

Both shapes are read: a single chat ("Export chat history": the chat object itself) and a
whole-account export ("Export Telegram data": ``chats.list`` and ``left_chats.list``).

- Timestamps: ``date`` is the exporting machine's local wall-clock time with no offset;
  it is exactly what the Message contract asks for (we never invent zones), so it is used
  as is. Only when a message has no ``date`` is ``date_unixtime`` used, rendered in the
  zone of ``--tz`` / ``$CLONEKIT_TZ``, else UTC (builder/ingest/epoch_zone.py).
- ``text`` is a string or a list of strings and ``{type, text}`` entities; the plain text
  is their concatenation WITHOUT separator (chat-miner joins with a space: a tool
  convention, not the format).
- Service messages become kind "system" with a readable text ("Alice created group X"),
  sender None. Media without a caption become kind "media" with a bracketed placeholder;
  a caption is the sender's own text and keeps kind "text".
"""

from __future__ import annotations

import re
from typing import Any, Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest import epoch_zone
from builder.ingest._json_util import Rows, clean_name, load_json, require_dict, require_list, text_or_empty
from builder.ingest.base import Document
from builder.schema import empty_messages

FORMAT = "telegram"
KIND = "messages"
WHAT = "Telegram Desktop JSON export (result.json)"

_SIGNALS = (
    re.compile(r'"date_unixtime"\s*:\s*"\d+"'),
    re.compile(r'"(?:from|actor)_id"\s*:\s*"(?:user|channel|chat)\d+"'),
    re.compile(r'"type"\s*:\s*"(?:personal_chat|bot_chat|saved_messages|private_group|private_supergroup|public_supergroup|private_channel|public_channel)"'),
    re.compile(r'"text_entities"\s*:'),
    re.compile(r'"personal_information"\s*:'),
)
_MESSAGE_TYPE = re.compile(r'"type"\s*:\s*"(?:message|service)"')
_DATE = re.compile(r'"date"\s*:\s*"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"')

_UNNAMED = {"saved_messages": "Saved Messages", "replies": "Replies"}
_EPOCH_RANGE = (-62135596800, 253402300799)  # 0001-01-01 .. 9999-12-31, seconds


def sniff(name: str, head: str) -> int:
    if not head.lstrip("\ufeff \t\r\n").startswith("{"):
        return 0
    if re.search(r'"(?:guild|sender_name|senderName|timestamp_ms)"\s*:', head):
        return 0  # Discord / Messenger / Instagram
    signals = sum(1 for rx in _SIGNALS if rx.search(head))
    typed = bool(_MESSAGE_TYPE.search(head)) and bool(re.search(r'"messages"\s*:', head))
    if signals and typed:
        return 95
    if typed and (_DATE.search(head) or signals or re.search(r'"from"\s*:', head)):
        return 80
    if signals >= 2:
        return 70
    return 20 if name.lower().endswith("result.json") and typed else 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    frames = [_parse_doc(doc, warn) for doc in docs]
    return pl.concat(frames) if frames else empty_messages()


def _parse_doc(doc: Document, warn: Callable[[str], None]) -> pl.DataFrame:
    data = require_dict(doc.name, load_json(doc.name, doc.text, WHAT), "the top level", WHAT)
    if "messages" in data:
        chats = [data]
    elif isinstance(data.get("chats"), dict) or isinstance(data.get("left_chats"), dict):
        chats = []
        for key in ("chats", "left_chats"):
            section = data.get(key)
            if section is None:
                continue
            section = require_dict(doc.name, section, f"'{key}'", WHAT)
            chats += require_list(doc.name, section.get("list", []), f"'{key}.list'", WHAT)
    else:
        raise ParseError(
            doc.name,
            "not a Telegram export: no 'messages' list and no 'chats.list'",
            hint="export from Telegram Desktop as machine-readable JSON",
        )
    rows = Rows(doc.name)
    for name, chat in zip(_chat_names(doc, chats), chats):
        messages = require_list(doc.name, chat.get("messages", []), f"chat {name!r} 'messages'", WHAT)
        for i, msg in enumerate(messages):
            _add_message(rows, doc.name, name, i, msg, warn)
    return rows.frame(_timestamp(), WHAT)


def _chat_names(doc: Document, chats: list[Any]) -> list[str]:
    """A display name per chat; chats that share a name get their id appended."""
    names: list[str] = []
    ids: list[Any] = []
    for i, chat in enumerate(chats):
        chat = require_dict(doc.name, chat, f"chat #{i + 1}", WHAT)
        name = chat.get("name")
        if not isinstance(name, str) or not name.strip():
            name = _UNNAMED.get(str(chat.get("type")), "") or doc.chat_hint or (
                f"Telegram chat {chat['id']}" if "id" in chat else "Telegram chat"
            )
        names.append(clean_name(name) or "Telegram chat")
        ids.append(chat.get("id"))
    seen: dict[str, set] = {}
    for name, cid in zip(names, ids):
        seen.setdefault(name, set()).add(str(cid))
    return [f"{n} ({cid})" if len(seen[n]) > 1 and cid is not None else n for n, cid in zip(names, ids)]


def _add_message(rows: Rows, source: str, chat: str, i: int, msg: Any, warn: Callable[[str], None]) -> None:
    label = f"chat {chat!r} message #{i + 1}"
    if not isinstance(msg, dict):
        raise ParseError(source, f"{label} is {type(msg).__name__}, expected an object", hint=f"is this a {WHAT}?")
    if "id" in msg:
        label = f"chat {chat!r} message id {msg['id']}"
    ts = _raw_time(msg)
    mtype = msg.get("type")
    if mtype == "message":
        sender = msg.get("from")
        sender = clean_name(sender) if isinstance(sender, str) else "Deleted Account"
        text = flatten_text(msg.get("text", ""))
        if text.strip():
            rows.add(label, chat, ts, sender, text, "text")
        else:
            rows.add(label, chat, ts, sender, _media_placeholder(msg), "media")
    elif mtype == "service":
        rows.add(label, chat, ts, None, service_text(msg), "system")
    else:
        warn(f"{source}: {label}: skipped a message of type {mtype!r} (not exported by Telegram Desktop)")


def _raw_time(msg: dict) -> str | None:
    date = msg.get("date")
    if isinstance(date, str) and date:
        return date
    unix = msg.get("date_unixtime")
    if isinstance(unix, (str, int)) and not isinstance(unix, bool) and str(unix).strip():
        return f"@{unix}"
    return None


def _timestamp() -> pl.Expr:
    ts = pl.col("ts")
    secs = ts.str.strip_prefix("@").str.strip_chars().cast(pl.Int64, strict=False)
    secs = pl.when(secs.is_between(*_EPOCH_RANGE)).then(secs)
    from_date = pl.coalesce(
        ts.str.strip_chars().str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        ts.str.strip_chars().str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"),
    )
    return pl.when(ts.str.starts_with("@")).then(epoch_zone.wall_clock(secs)).otherwise(from_date)


def flatten_text(value: Any) -> str:
    """Plain text of a ``text`` field: string, or list of strings and entity objects,
    concatenated without separator."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            part if isinstance(part, str) else text_or_empty(part.get("text")) if isinstance(part, dict) else ""
            for part in value
        )
    return ""


_MEDIA_TYPES = {
    "sticker": "sticker",
    "video_message": "video message",
    "voice_message": "voice message",
    "animation": "GIF",
    "video_file": "video",
    "audio_file": "audio",
}


def _media_placeholder(msg: dict) -> str:
    """A bracketed description of a message without text ("[photo]", "[sticker 😀]")."""
    media_type = msg.get("media_type")
    if isinstance(media_type, str) and media_type in _MEDIA_TYPES:
        label = _MEDIA_TYPES[media_type]
        emoji = msg.get("sticker_emoji")
        return f"[{label} {emoji}]" if media_type == "sticker" and isinstance(emoji, str) and emoji else f"[{label}]"
    if "photo" in msg:
        return "[photo]"
    if "file" in msg:
        return "[file]"
    poll = msg.get("poll")
    if isinstance(poll, dict):
        question = text_or_empty(poll.get("question"))
        return f"[poll: {question}]" if question else "[poll]"
    if "contact_information" in msg or "contact_vcard" in msg:
        return "[contact]"
    if "location_information" in msg:
        return "[live location]" if "live_location_period_seconds" in msg else "[location]"
    if "place_name" in msg or "address" in msg:
        return "[venue]"
    if any(key.startswith("game_") for key in msg):
        return "[game]"
    if "invoice_information" in msg:
        return "[invoice]"
    return "[empty message]"


def _names(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(clean_name(v) if isinstance(v, str) else "Deleted Account" for v in value)
    return ""


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return ""
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _s(msg: dict, key: str) -> str:
    value = msg.get(key)
    return clean_name(value) if isinstance(value, str) else ""


def _phone_call(a: str, m: dict) -> str:
    details = [d for d in (_duration(m.get("duration_seconds")), _s(m, "discard_reason")) if d]
    return f"{a} called" + (f" ({', '.join(details)})" if details else "")


def _ttl(a: str, m: dict) -> str:
    period = m.get("period", m.get("period_seconds"))
    if isinstance(period, (int, float)) and not isinstance(period, bool) and period > 0:
        return f"{a} set messages to auto-delete after {_duration(period)}"
    return f"{a} disabled auto-delete"


# tdesktop's action names (export_output_json.cpp) -> readable text; a = actor name.
_ACTIONS: dict[str, Callable[[str, dict], str]] = {
    "create_group": lambda a, m: f"{a} created group {_s(m, 'title')}".rstrip(),
    "edit_group_title": lambda a, m: f"{a} changed the group name to {_s(m, 'title')}".rstrip(),
    "edit_group_photo": lambda a, m: f"{a} changed the group photo",
    "delete_group_photo": lambda a, m: f"{a} removed the group photo",
    "invite_members": lambda a, m: f"{a} added {_names(m.get('members'))}".rstrip(),
    "remove_members": lambda a, m: f"{a} removed {_names(m.get('members'))}".rstrip(),
    "join_group_by_link": lambda a, m: f"{a} joined the group via invite link",
    "create_channel": lambda a, m: f"{a} created channel {_s(m, 'title')}".rstrip(),
    "migrate_to_supergroup": lambda a, m: f"{a} converted this group to a supergroup",
    "migrate_from_group": lambda a, m: f"{a} converted the group {_s(m, 'title')} to this supergroup".replace("  ", " "),
    "pin_message": lambda a, m: f"{a} pinned a message",
    "clear_history": lambda a, m: f"{a} cleared the history",
    "score_in_game": lambda a, m: f"{a} scored {m.get('score', '')} in a game".replace("  ", " "),
    "send_payment": lambda a, m: f"{a} sent a payment",
    "phone_call": _phone_call,
    "take_screenshot": lambda a, m: f"{a} took a screenshot",
    "allow_sending_messages": lambda a, m: f"{a} allowed this bot to message them",
    "send_passport_values": lambda a, m: f"{a} shared Telegram Passport data",
    "joined_telegram": lambda a, m: f"{a} joined Telegram",
    "proximity_reached": lambda a, m: f"{a} is now nearby",
    "requested_phone_number": lambda a, m: f"{a} requested a phone number",
    "group_call": lambda a, m: f"{a} started a group call" + (f" ({_duration(m.get('duration'))})" if _duration(m.get("duration")) else ""),
    "invite_to_group_call": lambda a, m: f"{a} invited {_names(m.get('members'))} to the group call".replace("  ", " "),
    "set_messages_ttl": _ttl,
    "group_call_scheduled": lambda a, m: f"{a} scheduled a group call",
    "edit_chat_theme": lambda a, m: f"{a} changed the chat theme",
    "join_group_by_request": lambda a, m: f"{a} was accepted into the group",
    "send_webview_data": lambda a, m: f"{a} sent data from a web app",
    "send_premium_gift": lambda a, m: f"{a} sent a Telegram Premium gift",
    "topic_created": lambda a, m: f"{a} created the topic {_s(m, 'title')}".rstrip(),
    "topic_edit": lambda a, m: f"{a} edited a topic",
    "suggest_profile_photo": lambda a, m: f"{a} suggested a profile photo",
    "requested_peer": lambda a, m: f"{a} shared a chat",
    "set_chat_wallpaper": lambda a, m: f"{a} set a chat wallpaper",
    "set_same_chat_wallpaper": lambda a, m: f"{a} set the same chat wallpaper",
}


def service_text(msg: dict) -> str:
    actor = msg.get("actor")
    actor = clean_name(actor) if isinstance(actor, str) and actor.strip() else "Deleted Account"
    action = msg.get("action")
    if isinstance(action, str) and action in _ACTIONS:
        return _ACTIONS[action](actor, msg)
    info = msg.get("information_text")
    if isinstance(info, str) and info.strip():
        return info
    text = flatten_text(msg.get("text", ""))
    if text.strip():
        return text
    if isinstance(action, str) and action:
        return f"{actor}: {action.replace('_', ' ')}"
    return f"{actor}: service message"
