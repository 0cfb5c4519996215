"""Slack workspace export (Workspace settings -> Import/Export -> Export): a zip or
folder with ``users.json``, ``channels.json`` … and one folder per channel holding a
JSON list of messages per day (``general/2024-01-02.json``).

    [{"type": "message", "user": "U012AB3CD", "text": "Hi <@U045EF6GH>!", "ts": "1704189600.000200",
      "user_profile": {"real_name": "Ana Lima", "display_name": "ana"}, "files": […], "subtype": …}]

(fields as in Slack's "How to read Slack data exports" help page and api.slack.com's
message event reference.)

- Chat: the channel folder's name; a DM or group-DM folder (named by its id) is named by
  its members from ``dms.json`` / ``mpims.json``. The day files of a channel arrive
  together (one folder) and are read in date order.
- Sender: the user's display name, else real name, from ``users.json`` next to the
  channel folders (on disk or in the same zip), else the ``user_profile`` inside the
  message, else the user id. ``<@U…>`` mentions become ``@name``; ``<url|label>`` links
  become the label; ``&lt; &gt; &amp;`` are unescaped.
- Subtypes: joins, leaves, topic/purpose/name changes, pins -> "system"; ``tombstone`` /
  deleted -> "deleted"; edits (``message_changed``) and hidden records are skipped;
  files without text -> "media"; bot messages keep the bot's name.
- Time: ``ts`` is epoch seconds; rendered in ``$CLONEKIT_TZ`` (else UTC; epoch_zone.py).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest import epoch_zone
from builder.ingest._json_util import as_list, clean_name, load_json, require_list, scrub
from builder.ingest._siblings import read_sibling
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA, empty_messages

FORMAT = "slack"
KIND = "messages"
WHAT = "Slack workspace export (channel/YYYY-MM-DD.json)"

_SYSTEM = {
    "channel_join": "joined the channel", "channel_leave": "left the channel", "group_join": "joined the channel",
    "group_leave": "left the channel", "channel_topic": "", "channel_purpose": "", "channel_name": "",
    "channel_archive": "archived the channel", "channel_unarchive": "unarchived the channel",
    "pinned_item": "pinned a message", "unpinned_item": "unpinned a message", "group_topic": "", "group_purpose": "",
    "group_name": "", "huddle_thread": "started a huddle", "sh_room_created": "started a call",
    "reminder_add": "added a reminder", "bot_add": "added an integration", "bot_remove": "removed an integration",
}
_SKIP = {"message_changed", "message_replied", "thread_broadcast_removed"}
_DELETED = {"tombstone", "message_deleted"}
_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})\.json$")


def sniff(name: str, head: str) -> int:
    head = head.lstrip("\ufeff \t\r\n")
    if not head.startswith("["):
        return 0
    ts = re.search(r'"ts"\s*:\s*"\d{9,10}\.\d{6}"', head)
    typed = re.search(r'"type"\s*:\s*"message"', head)
    if ts and typed:
        return 95 if _DAY.search(name.replace("\\", "/")) else 85
    if ts and re.search(r'"(?:user|bot_id|subtype)"\s*:', head):
        return 60
    if head.strip() == "[]" and _DAY.search(name):
        return 40  # an empty day file of a channel
    return 0


def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
    ordered = sorted(docs, key=lambda d: (d.folder, _day(d.name), d.name))
    cache: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    frames = []
    for doc in ordered:
        if doc.folder not in cache:
            users = _users(doc, warn)
            cache[doc.folder] = users, _direct_chats(doc, users)
        users, direct = cache[doc.folder]
        frames.append(_parse_doc(doc, users, warn, direct))
    return pl.concat(frames) if frames else empty_messages()


def _direct_chats(doc: Document, users: dict[str, str]) -> dict[str, str]:
    """DM / group-DM folder name (their id, or mpdm-a--b-1) -> the members' names, from
    the export's dms.json and mpims.json."""
    names: dict[str, str] = {}
    for listing in ("dms.json", "mpims.json"):
        raw = read_sibling(doc.name, listing, levels_up=1)
        if raw is None:
            continue
        try:
            data = json.loads(scrub(raw.decode("utf-8-sig", "replace")))
        except (json.JSONDecodeError, RecursionError):
            continue
        for chat in as_list(data):
            if not isinstance(chat, dict):
                continue
            members = [users.get(m, m) for m in as_list(chat.get("members")) if isinstance(m, str)]
            for key in ("id", "name"):
                if isinstance(chat.get(key), str) and members:
                    names[chat[key]] = ", ".join(members)
    return names


def _day(name: str) -> str:
    found = _DAY.search(name.replace("\\", "/"))
    return found.group(1) if found else ""


def _channel(doc: Document) -> str:
    path = doc.name.replace("\\", "/").replace("!/", "/")
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and _DAY.search(parts[-1]):
        return parts[-2]
    return doc.chat_hint or (parts[-1].rsplit(".", 1)[0] if parts else "Slack channel")


def _users(doc: Document, warn: Callable[[str], None]) -> dict[str, str]:
    """user id -> name, from the export's users.json one level above the channel folder."""
    raw = read_sibling(doc.name, "users.json", levels_up=1)
    if raw is None:
        return {}
    try:
        data = json.loads(scrub(raw.decode("utf-8-sig", "replace")))
    except (json.JSONDecodeError, RecursionError):
        warn(f"{doc.name}: the export's users.json is not readable JSON; names come from the messages")
        return {}
    names: dict[str, str] = {}
    for user in as_list(data):
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            continue
        profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
        for value in (profile.get("display_name"), profile.get("real_name"), user.get("real_name"), user.get("name")):
            if isinstance(value, str) and clean_name(value):
                names[user["id"]] = clean_name(value)
                break
    return names


def _name(msg: dict, users: dict[str, str]) -> str | None:
    uid = msg.get("user")
    if uid == "USLACKBOT":
        return "Slackbot"
    if isinstance(uid, str) and uid in users:
        return users[uid]
    profile = msg.get("user_profile")
    if isinstance(profile, dict):
        for key in ("display_name", "real_name", "name"):
            value = profile.get(key)
            if isinstance(value, str) and clean_name(value):
                return clean_name(value)
    for key in ("username", "user_name"):
        value = msg.get(key)
        if isinstance(value, str) and clean_name(value):
            return clean_name(value)
    bot = msg.get("bot_profile")
    if isinstance(bot, dict) and isinstance(bot.get("name"), str) and clean_name(bot["name"]):
        return clean_name(bot["name"])
    return uid if isinstance(uid, str) and uid else msg.get("bot_id") if isinstance(msg.get("bot_id"), str) else None


def plain_text(text: str, users: dict[str, str]) -> str:
    """Slack's mrkdwn escapes as a person reads them."""
    def mention(m: re.Match) -> str:
        uid, label = m.group(1), m.group(2)
        return "@" + (label or users.get(uid) or uid)

    text = re.sub(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>", mention, text)
    text = re.sub(r"<#C[A-Z0-9]+\|([^>]*)>", r"#\1", text)
    text = re.sub(r"<!(here|channel|everyone)(?:\|[^>]*)?>", r"@\1", text)
    text = re.sub(r"<!subteam\^[A-Z0-9]+\|([^>]*)>", r"\1", text)
    text = re.sub(r"<((?:https?|mailto|tel):[^>|]*)\|([^>]*)>", r"\2", text)
    text = re.sub(r"<((?:https?|mailto|tel):[^>|]*)>", r"\1", text)
    return html.unescape(text)


def _placeholder(msg: dict) -> str:
    parts = []
    for f in as_list(msg.get("files")):
        name = f.get("name") or f.get("title") if isinstance(f, dict) else None
        parts.append(f"[file: {name}]" if isinstance(name, str) and name else "[file]")
    for a in as_list(msg.get("attachments")):
        title = a.get("title") or a.get("fallback") if isinstance(a, dict) else None
        parts.append(f"[attachment: {title}]" if isinstance(title, str) and title else "[attachment]")
    return " ".join(parts) if parts else "[empty message]"


def _parse_doc(doc: Document, users: dict[str, str], warn: Callable[[str], None],
               direct: dict[str, str] | None = None) -> pl.DataFrame:
    data = require_list(doc.name, load_json(doc.name, doc.text, WHAT), "the top level", WHAT)
    chat = _channel(doc)
    chat = (direct or {}).get(chat, chat)
    cols: dict[str, list[Any]] = {k: [] for k in ("ts", "sender", "text", "kind")}
    labels: list[str] = []
    for i, msg in enumerate(data):
        if not isinstance(msg, dict):
            raise ParseError(doc.name, f"message #{i + 1} is {type(msg).__name__}, expected an object", hint=f"is this a {WHAT}?")
        subtype = msg.get("subtype")
        subtype = subtype if isinstance(subtype, str) else ""
        if msg.get("type", "message") != "message" or subtype in _SKIP or msg.get("hidden") is True:
            continue
        text = msg.get("text")
        text = plain_text(text, users) if isinstance(text, str) else ""
        name = _name(msg, users)
        if subtype in _DELETED:
            kind, sender, text = "deleted", name, text or "This message was deleted."
        elif subtype in _SYSTEM:
            kind, sender = "system", None
            event = _SYSTEM[subtype]
            if event:
                text = f"{name or 'Someone'} {event}"
        elif text.strip():
            kind, sender = "text", name
        else:
            kind, sender, text = "media", name, _placeholder(msg)
        if kind != "system" and not sender:
            raise ParseError(doc.name, f"message #{i + 1} has no 'user'", hint=f"is this a {WHAT}?")
        ts = msg.get("ts")
        cols["ts"].append(ts if isinstance(ts, (str, int, float)) and not isinstance(ts, bool) else None)
        cols["sender"].append(sender)
        cols["text"].append(text)
        cols["kind"].append(kind)
        labels.append(f"message #{i + 1}")
    if not labels:
        return empty_messages()
    df = pl.DataFrame({k: [str(v) if v is not None else None for v in vs] if k == "ts" else vs for k, vs in cols.items()},
                      schema={"ts": pl.String, "sender": pl.String, "text": pl.String, "kind": pl.String})
    df = df.with_columns(timestamp=epoch_zone.wall_clock(pl.col("ts")), chat=pl.lit(chat), source=pl.lit(doc.name))
    bad = df.select(pl.col("timestamp").is_null().arg_true()).to_series()
    if len(bad):
        i = int(bad[0])
        raise ParseError(doc.name, f"{labels[i]} has an unreadable 'ts' {cols['ts'][i]!r}", hint="expected epoch seconds like \"1704189600.000200\"")
    return df.select(list(MESSAGE_SCHEMA)).cast(dict(MESSAGE_SCHEMA))
