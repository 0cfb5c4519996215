"""DiscordChatExporter JSON (Tyrrrz), CHAT_FORMATS.md section 3.1.

- Chat name: "Guild / #channel" for server channels, the channel name for DMs and group
  DMs (guild id "0", "Direct Messages").
- Timestamps carry an offset (the exporter's zone, or UTC with --utc); the Message
  contract wants the wall-clock time as written, so the offset is dropped, not applied.
- Sender: the guild nickname when present, else the account name (no "#1234": the
  discriminator "0000" means none and old ones only clutter the name).
- Attachments, stickers and embeds without text become kind "media"; system message
  types (calls, renames, joins, pins) become kind "system", sender None, with the
  exporter's English text prefixed by who did it.
- Duplicate message ids (seen in real exports) are dropped; partitioned exports
  (``… [part 2].json``) are read in part order.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest._json_util import Rows, as_list, clean_name, iso_wall_clock, load_json, require_dict, require_list
from builder.ingest.base import Document
from builder.schema import empty_messages

FORMAT = "discord"
KIND = "messages"
WHAT = "DiscordChatExporter JSON export"

_TEXT_TYPES = {"Default", "Reply", "ChatInputCommand", "ContextMenuCommand", "ThreadStarterMessage"}
_SYSTEM_TYPES = {
    "RecipientAdd": "added someone to the group",
    "RecipientRemove": "removed someone from the group",
    "Call": "started a call",
    "ChannelNameChange": "changed the channel name",
    "ChannelIconChange": "changed the channel icon",
    "ChannelPinnedMessage": "pinned a message",
    "GuildMemberJoin": "joined the server",
    "ThreadCreated": "started a thread",
    "ChannelFollowAdd": "followed a channel",
    "GuildBoost": "boosted the server",
}
_PART = re.compile(r"\[part (\d+)\]", re.IGNORECASE)


def sniff(name: str, head: str) -> int:
    if not head.lstrip("\ufeff \t\r\n").startswith("{"):
        return 0
    keys = sum(
        1
        for key in ("guild", "channel", "messages", "author", "exportedAt", "dateRange", "timestampEdited", "isPinned")
        if re.search(rf'"{key}"\s*:', head)
    )
    if re.search(r'"guild"\s*:', head) and re.search(r'"channel"\s*:', head):
        return 95 if keys >= 4 else 75
    return 40 if keys >= 5 else 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    loaded = [(doc, _load(doc)) for doc in docs]
    # Partitions of one channel are read in part order; message ids repeat across them.
    first: dict[str, int] = {}
    for i, (_, (channel_id, _, _)) in enumerate(loaded):
        first.setdefault(channel_id, i)
    loaded.sort(key=lambda item: (first[item[1][0]], _part_number(item[0].name)))
    seen: dict[str, set[str]] = {}
    frames = []
    for doc, (channel_id, chat, messages) in loaded:
        ids = seen.setdefault(channel_id, set())
        rows = Rows(doc.name)
        for i, msg in enumerate(messages):
            _add_message(rows, doc.name, chat, i, msg, ids, warn)
        frames.append(rows.frame(iso_wall_clock(), WHAT))
    return pl.concat(frames) if frames else empty_messages()


def _part_number(name: str) -> int:
    found = _PART.search(name)
    return int(found.group(1)) if found else 1


def _load(doc: Document) -> tuple[str, str, list]:
    data = require_dict(doc.name, load_json(doc.name, doc.text, WHAT), "the top level", WHAT)
    if "messages" not in data or "channel" not in data:
        raise ParseError(
            doc.name,
            "not a DiscordChatExporter export: no 'channel' and 'messages'",
            hint="export the channel with DiscordChatExporter in JSON format",
        )
    channel = require_dict(doc.name, data["channel"], "'channel'", WHAT)
    guild = data.get("guild") if isinstance(data.get("guild"), dict) else {}
    messages = require_list(doc.name, data["messages"], "'messages'", WHAT)
    channel_name = channel.get("name")
    channel_name = clean_name(channel_name) if isinstance(channel_name, str) else ""
    guild_name = guild.get("name")
    guild_name = clean_name(guild_name) if isinstance(guild_name, str) else ""
    is_dm = str(guild.get("id", "0")) == "0" or guild_name in ("", "Direct Messages")
    if is_dm:
        chat = channel_name or doc.chat_hint or "Discord DM"
    else:
        chat = f"{guild_name} / #{channel_name}" if channel_name else guild_name
    channel_id = str(channel.get("id", "")) or chat
    return channel_id, chat, messages


def _author(source: str, label: str, msg: dict) -> str:
    author = msg.get("author")
    if not isinstance(author, dict):
        raise ParseError(source, f"{label} has no 'author'", hint=f"is this a {WHAT}?")
    for key in ("nickname", "name"):
        value = author.get(key)
        if isinstance(value, str) and clean_name(value):
            return clean_name(value)
    raise ParseError(source, f"{label} has an author without a name", hint=f"is this a {WHAT}?")


def _add_message(
    rows: Rows, source: str, chat: str, i: int, msg: Any, ids: set[str], warn: Callable[[str], None]
) -> None:
    label = f"message #{i + 1}"
    if not isinstance(msg, dict):
        raise ParseError(source, f"{label} is {type(msg).__name__}, expected an object", hint=f"is this a {WHAT}?")
    if "id" in msg:
        mid = str(msg["id"])
        label = f"message id {mid}"
        if mid in ids:
            return
        ids.add(mid)
    ts = msg.get("timestamp")
    ts = ts if isinstance(ts, str) else None
    mtype = msg.get("type", "Default")
    mtype = mtype if isinstance(mtype, str) else repr(mtype)
    content = msg.get("content")
    content = content if isinstance(content, str) else ""
    if mtype in _TEXT_TYPES:
        sender = _author(source, label, msg)
        if content.strip():
            rows.add(label, chat, ts, sender, content, "text")
        else:
            rows.add(label, chat, ts, sender, _media_placeholder(msg), "media")
    elif mtype in _SYSTEM_TYPES:
        who = _author(source, label, msg)
        event = content.strip().rstrip(".") or _SYSTEM_TYPES[mtype]
        rows.add(label, chat, ts, None, f"{who}: {event}", "system")
    else:
        warn(f"{source}: {label}: skipped a message of unknown type {mtype!r}")


def _media_placeholder(msg: dict) -> str:
    parts: list[str] = []
    for att in as_list(msg.get("attachments")):
        name = att.get("fileName") if isinstance(att, dict) else None
        parts.append(f"[attachment: {name}]" if isinstance(name, str) and name else "[attachment]")
    for sticker in as_list(msg.get("stickers")):
        name = sticker.get("name") if isinstance(sticker, dict) else None
        parts.append(f"[sticker: {name}]" if isinstance(name, str) and name else "[sticker]")
    for embed in as_list(msg.get("embeds")):
        title = embed.get("title") or embed.get("url") if isinstance(embed, dict) else None
        parts.append(f"[embed: {title}]" if isinstance(title, str) and title else "[embed]")
    if isinstance(msg.get("forwardedMessage"), dict) or isinstance(msg.get("forwardedMessages"), list):
        parts.append("[forwarded message]")
    return " ".join(parts) if parts else "[empty message]"
