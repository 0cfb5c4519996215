"""Who may talk to the clone on Telegram, and as whom the clone sees them.

``--allow`` specs, one per person or group:

    12345678=Alex              a user id -> contact "Alex" (role from the training data)
    @username=Mum:family       a username -> contact "Mum", role tag "family"
    12345678                   a user id; the contact is their Telegram first name
    chat:-1001234567=Book club:friends   a group chat (groups are refused unless listed)

Names are matched case-insensitively for usernames; ids exactly. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from builder.errors import ClonekitError

_ID = re.compile(r"^-?\d+$")
_USERNAME = re.compile(r"^@[A-Za-z0-9_]{3,32}$")


@dataclass(frozen=True)
class Allowed:
    contact: str  # "" = the person's Telegram first name
    role: str  # "" = whatever the training data knows for the contact


@dataclass(frozen=True)
class AllowList:
    by_id: dict[int, Allowed]
    by_username: dict[str, Allowed]  # lower-case, without '@'
    groups: dict[int, Allowed]

    def person(self, user_id: int, username: str | None) -> Allowed | None:
        if user_id in self.by_id:
            return self.by_id[user_id]
        if username and username.lower() in self.by_username:
            return self.by_username[username.lower()]
        return None

    def group(self, chat_id: int) -> Allowed | None:
        return self.groups.get(chat_id)

    def __len__(self) -> int:
        return len(self.by_id) + len(self.by_username) + len(self.groups)


def parse_allow(specs: list[str]) -> AllowList:
    """Parse ``--allow`` values; a bad one raises ClonekitError naming it."""
    by_id: dict[int, Allowed] = {}
    by_username: dict[str, Allowed] = {}
    groups: dict[int, Allowed] = {}
    for spec in specs:
        who, _, rest = spec.partition("=")
        who = who.strip()
        contact, role = rest, ""
        if ":" in rest:
            contact, _, role = rest.rpartition(":")
        contact, role = contact.strip(), role.strip()
        entry = Allowed(contact, role)
        if who.startswith("chat:"):
            chat = who[5:]
            if not _ID.match(chat):
                raise ClonekitError(f"--allow {spec!r}: a group is chat:ID with the numeric chat id "
                                    "(e.g. chat:-1001234567=Book club:friends)")
            groups[int(chat)] = Allowed(contact or "the group", role)
        elif _ID.match(who):
            by_id[int(who)] = entry
        elif _USERNAME.match(who):
            by_username[who[1:].lower()] = entry
        else:
            raise ClonekitError(f"--allow {spec!r}: start with a numeric user id or @username "
                                "(e.g. 12345678=Alex or @alex_k=Alex:friend)")
        if "=" in spec and not contact:
            raise ClonekitError(f"--allow {spec!r}: the name after '=' is empty")
    if not (by_id or by_username or groups):
        raise ClonekitError("--allow: name at least one person who may talk to the clone "
                            "(e.g. --allow 12345678=Alex)")
    return AllowList(by_id, by_username, groups)


def allow_spec(contact: str, role: str, who: str = "USER_ID") -> str:
    """The ``--allow`` value for a contact (the TUI fills these in from the dataset)."""
    value = f"{who}={contact}" + (f":{role}" if role else "")
    return f"'{value}'" if re.search(r"[^A-Za-z0-9_@:=.\-]", value) else value


TELEGRAM_LIMIT = 4096


def reply_messages(text: str, burst: bool = True, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """What to send for one reply: a burst (one line per message, as the persona texts in
    training, where consecutive messages were joined by newlines) or one message, each cut
    at ``limit`` characters (at a space or newline when there is one)."""
    text = text.strip()
    if not text:
        return []
    parts = [line.strip() for line in text.split("\n")] if burst else [text]
    out: list[str] = []
    for part in parts:
        while len(part) > limit:
            cut = max(part.rfind(" ", 0, limit + 1), part.rfind("\n", 0, limit + 1))
            cut = cut if cut > limit // 2 else limit
            out.append(part[:cut].rstrip())
            part = part[cut:].lstrip()
        if part:
            out.append(part)
    return out
