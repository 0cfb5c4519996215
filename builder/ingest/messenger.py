"""Facebook Messenger "Download your information" JSON, CHAT_FORMATS.md section 4.
Instagram's export is the same JSON; builder/ingest/instagram.py reuses this module.

- Mojibake: the classic exports wrote every string's UTF-8 bytes as Latin-1 code points
  ("J\\u00e2\\u009d\\u00a4\\u00ef\\u00b8\\u008fhn" for "J❤️hn"). Every string is repaired with
  ``encode("latin-1").decode("utf-8")``; strings that fail either step were not mangled
  and are kept, so clean data passes unchanged. The 2024+ end-to-end-encrypted export
  (camelCase keys: ``senderName``, ``text``, ``isUnsent``) is proper UTF-8 and is not touched.
- Files: a thread folder holds ``message_1.json … message_N.json``, newest-first within
  and across files (``message_1`` is the newest). All files of one thread (same
  ``doc.folder`` and ``thread_path``) are merged into one chat, oldest-first.
- Timestamps: ``timestamp_ms`` (older exports: ``timestamp`` in seconds) is an absolute
  instant with no zone information about the user, so it is rendered as wall-clock time in
  the zone of ``--tz`` / ``$CLONEKIT_TZ``, else UTC (builder/ingest/epoch_zone.py).
- Kinds: photos/videos/audio/GIFs/files/stickers/shares without own text -> "media";
  ``is_unsent`` -> "deleted"; a message with nothing left (disappeared, removed) ->
  "deleted"; generated group events ("X joined the group.", "X named the group …",
  calls, polls, "Liked a message") -> "system" with sender None.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest import epoch_zone
from builder.ingest._json_util import Rows, as_list, clean_name, load_json, require_dict, require_list
from builder.ingest.base import Document
from builder.schema import empty_messages

FORMAT = "messenger"
KIND = "messages"
WHAT = "Messenger JSON export (message_N.json)"

_DYI = re.compile(r'"(?:sender_name|senderName)"\s*:')
_DYI_TIME = re.compile(r'"(?:timestamp_ms|timestamp)"\s*:\s*\d')
_DYI_SHAPE = re.compile(r'"(?:participants|messages)"\s*:')
_INSTAGRAM_PATH = re.compile(r"instagram", re.IGNORECASE)
_FACEBOOK_PATH = re.compile(r"facebook|messenger", re.IGNORECASE)
_INSTAGRAM_CONTENT = re.compile(r"instagram\.com/|ig\.me/|\"instagram_", re.IGNORECASE)
_MS_RANGE = (-62135596800000, 253402300799000)

# Generated English stubs for group events and other non-messages (chat-miner's list plus
# the group events of the DYI exports).
_SYSTEM_TEXT = re.compile(
    r"(?: joined the group\.?$| left the group\.?$| added .+ to the group\.?$| removed .+ from the group\.?$"
    r"| named the group .*| changed the group name to .*| changed the group photo\.?$| removed the group photo\.?$"
    r"| set the nickname for .*| set (?:his|her|their|your) (?:own )?nickname to .*| cleared (?:the|your) nickname.*"
    r"| changed the chat theme.*| set the emoji to .*| changed the (?:quick reaction|emoji) to .*"
    r"| started a (?:video )?call\.?$| joined the (?:video )?call\.?$| missed (?:a|your) (?:video )?call.*| The (?:video )?call ended\.?$"
    r"| created a poll: .*| in the poll\.?$|'s poll has multiple updates\.?$|^This poll is no longer available\.?$"
    r"| to your message\s*$|^Liked a message\.?$| reacted .+ to (?:your|a) message\.?$"
    r"| created the group\.?$| is now an admin\.?$| are now connected on Messenger\.?$| turned on disappearing messages.*"
    r"| turned off disappearing messages.*| pinned a message\.?$| unsent a message\.?$)",
)
_MEDIA_KEYS = (
    ("photos", "photo"),
    ("videos", "video"),
    ("gifs", "GIF"),
    ("audio_files", "audio"),
    ("files", "file"),
)


def flavour(name: str, head: str) -> str | None:
    """"messenger", "instagram" or None: which DYI export this looks like."""
    if not head.lstrip("\ufeff \t\r\n").startswith("{") or not _DYI.search(head):
        return None
    if not (_DYI_TIME.search(head) or _DYI_SHAPE.search(head)):
        return None
    if _INSTAGRAM_PATH.search(name):
        return "instagram"
    if _FACEBOOK_PATH.search(name):
        return "messenger"
    return "instagram" if _INSTAGRAM_CONTENT.search(head) else "messenger"


def sniff(name: str, head: str) -> int:
    found = flavour(name, head)
    return 90 if found == FORMAT else 30 if found else 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    return parse_dyi(docs, warn, WHAT)


def repair(value: Any) -> Any:
    """Undo the Latin-1 mojibake in every string of a decoded JSON value, recursively."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            return value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return value
    if isinstance(value, list):
        return [repair(v) for v in value]
    if isinstance(value, dict):
        return {repair(k): repair(v) for k, v in value.items()}
    return value


_FILE_NUMBER = re.compile(r"message_(\d+)\.json$", re.IGNORECASE)


def _file_number(name: str) -> int:
    found = _FILE_NUMBER.search(name)
    return int(found.group(1)) if found else 0


def parse_dyi(docs: list[Document], warn: Callable[[str], None], what: str) -> pl.DataFrame:
    threads: dict[tuple[str, str], list[tuple[int, Document, dict]]] = {}
    for doc in docs:
        data = require_dict(doc.name, load_json(doc.name, doc.text, what), "the top level", what)
        if "messages" not in data:
            raise ParseError(doc.name, "no 'messages' list", hint=f"is this a {what}?")
        e2ee = "senderName" in doc.text[:20000] or any(isinstance(p, str) for p in as_list(data.get("participants")))
        if not e2ee:
            try:
                data = repair(data)
            except RecursionError:
                raise ParseError(doc.name, "the JSON is nested too deeply to be a chat export", hint=f"is this a {what}?") from None
        # Files of one thread share folder, thread_path and title; two threads given as
        # loose files in one folder are told apart by those.
        thread = next((v for v in (data.get("thread_path"), data.get("title")) if isinstance(v, str) and v), "")
        key = (doc.folder or doc.name, thread)
        threads.setdefault(key, []).append((_file_number(doc.name), doc, data))
    frames = []
    for files in threads.values():
        files.sort(key=lambda item: item[0])  # message_1 (the newest) first
        title = _title(files)
        parts = []
        for _, doc, data in files:
            rows = Rows(doc.name)
            messages = require_list(doc.name, data["messages"], "'messages'", what)
            for i, msg in enumerate(messages):
                _add_message(rows, doc.name, title, i, msg, what, warn)
            parts.append(rows.frame(_timestamp(), what))
        # Newest-first within and across files: reverse the thread, then sort stably by
        # time (real exports are not always sorted) so equal times stay oldest-first.
        frames.append(pl.concat(parts).reverse().sort("timestamp", maintain_order=True))
    return pl.concat(frames) if frames else empty_messages()


def _title(files: list[tuple[int, Document, dict]]) -> str:
    _, doc, data = files[0]
    title = data.get("title")
    if isinstance(title, str) and clean_name(title):
        return clean_name(title)
    if doc.chat_hint:
        return doc.chat_hint
    people = [p.get("name") if isinstance(p, dict) else p for p in as_list(data.get("participants"))]
    people = [clean_name(p) for p in people if isinstance(p, str) and clean_name(p)]
    if people:
        return ", ".join(people)
    last = (doc.folder or doc.name).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return (last if doc.folder else re.sub(r"\.json$", "", last, flags=re.IGNORECASE)) or "Messenger chat"


def _timestamp() -> pl.Expr:
    ms = pl.col("ts").cast(pl.Int64, strict=False)
    return epoch_zone.wall_clock(pl.when(ms.is_between(*_MS_RANGE)).then(ms) / 1000)


def _raw_ms(msg: dict) -> str | None:
    """Epoch milliseconds as a string: ``timestamp_ms``, or ``timestamp`` which is seconds in
    old exports and milliseconds in the end-to-end-encrypted one (told apart by size)."""
    for key in ("timestamp_ms", "timestamp"):
        value = msg.get(key)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            if abs(value) >= 1e17:
                return str(value)  # out of any range: reported as unreadable
            scale = 1000 if key == "timestamp" and abs(value) < 1e11 else 1
            return str(int(value * scale))
    return None


def _add_message(
    rows: Rows, source: str, chat: str, i: int, msg: Any, what: str, warn: Callable[[str], None]
) -> None:
    label = f"message #{i + 1}"
    if not isinstance(msg, dict):
        raise ParseError(source, f"{label} is {type(msg).__name__}, expected an object", hint=f"is this a {what}?")
    ts = _raw_ms(msg)
    sender = msg.get("sender_name", msg.get("senderName"))
    sender = clean_name(sender) if isinstance(sender, str) and clean_name(sender) else None
    content = msg.get("content", msg.get("text"))
    content = content if isinstance(content, str) else ""
    mtype = msg.get("type")
    if msg.get("is_unsent") is True or msg.get("isUnsent") is True:
        rows.add(label, chat, ts, sender, content or "(message unsent)", "deleted")
        return
    if mtype in ("Subscribe", "Unsubscribe") or (content and _SYSTEM_TEXT.search(content)):
        rows.add(label, chat, ts, None, content or _subscribe_text(sender, msg, mtype), "system")
        return
    if mtype == "Call" or "call_duration" in msg:
        duration = msg.get("call_duration")
        secs = f" ({int(duration)} s)" if isinstance(duration, (int, float)) and not isinstance(duration, bool) else ""
        rows.add(label, chat, ts, None, (content or f"{sender or 'Someone'} called") + secs, "system")
        return
    if sender is None:
        raise ParseError(source, f"{label} has no 'sender_name'", hint=f"is this a {what}?")
    media = _media_placeholder(msg)
    stub = bool(re.search(r" sent an? (?:attachment|photo|video|GIF|sticker|voice message|link)\.?$", content))
    if content.strip() and not stub:
        rows.add(label, chat, ts, sender, content, "text")
    elif media:
        rows.add(label, chat, ts, sender, media, "media")
    elif content.strip():
        rows.add(label, chat, ts, sender, content, "media")
    else:
        rows.add(label, chat, ts, sender, "(message not available)", "deleted")


def _subscribe_text(sender: str | None, msg: dict, mtype: Any) -> str:
    users = [u.get("name") for u in as_list(msg.get("users")) if isinstance(u, dict)]
    names = ", ".join(clean_name(u) for u in users if isinstance(u, str)) or "someone"
    who = sender or "Someone"
    return f"{who} added {names}" if mtype == "Subscribe" else f"{who} removed {names}"


def _media_placeholder(msg: dict) -> str:
    parts = [f"[{label}]" for key, label in _MEDIA_KEYS for _ in as_list(msg.get(key))]
    if isinstance(msg.get("sticker"), dict):
        parts.append("[sticker]")
    share = msg.get("share")
    if isinstance(share, dict):
        link = share.get("link")
        parts.append(f"[shared: {link}]" if isinstance(link, str) and link else "[shared]")
    media = msg.get("media")  # end-to-end-encrypted export
    if isinstance(media, list) and media:
        parts.append("[media]" if len(media) == 1 else f"[{len(media)} media]")
    return " ".join(parts)
