"""What the bot must not forget across a crash, and the optional conversation history.

The journal (a JSON file, 0600, rewritten atomically after every change) holds:

- ``offset``: the next update id to ask Telegram for. It only moves past updates that are
  already written to ``pending``; Telegram forgets an update once getUpdates is called
  with a higher offset, so an update is always either still at Telegram or here.
- ``pending``: messages received and not yet answered (their text is kept only until the
  reply is committed: private data stays on disk no longer than needed).
- ``outbox``: per chat, the reply parts being sent and how many went out. A reply is
  committed here (and its messages leave ``pending``) before the first part is sent, and
  ``sent`` moves after each part Telegram accepted, so after ``kill -9`` a restart sends
  the remaining parts and regenerates nothing. (The one window left: killed between
  Telegram accepting a part and the journal write, a few milliseconds, that part goes
  out twice.)
- unknown users: how many, and a salted hash of each id (to refuse each once), never who.

``History`` keeps each chat's turns: in memory by default, in SQLite with --history-db."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import atomic_write_text
from builder.errors import ClonekitError

MAX_TURNS_KEPT = 400  # per chat; far more than any context holds


@dataclass
class Journal:
    path: Path
    offset: int = 0
    pending: list[dict] = field(default_factory=list)
    outbox: dict[str, dict] = field(default_factory=dict)
    unknown_users: int = 0
    refused: list[str] = field(default_factory=list)
    salt: str = field(default_factory=lambda: secrets.token_hex(8))

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Journal":
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            journal = cls(path)
            journal.save()
            return journal
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, int(data["offset"]), list(data["pending"]), dict(data["outbox"]),
                       int(data.get("unknown_users", 0)), list(data.get("refused", [])),
                       str(data.get("salt") or secrets.token_hex(8)))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ClonekitError(f"{path}: the bot's state file is unreadable ({err}); move it away to start "
                                "fresh (messages not yet answered in it would be lost)") from None

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps({
            "offset": self.offset, "pending": self.pending, "outbox": self.outbox,
            "unknown_users": self.unknown_users, "refused": self.refused, "salt": self.salt,
        }, ensure_ascii=False))
        os.chmod(self.path, 0o600)

    def first_refusal(self, user_id: int) -> bool:
        """True the first time an unknown user writes (count them; remember only a hash)."""
        digest = hashlib.sha256(f"{self.salt}:{user_id}".encode()).hexdigest()[:16]
        if digest in self.refused:
            return False
        self.refused.append(digest)
        self.unknown_users += 1
        return True


class History:
    """Each chat's turns ({"role", "content", "name"?}), oldest first."""

    def __init__(self, db_path: str | os.PathLike | None = None) -> None:
        self.turns: dict[int, list[dict]] = {}
        self.db = None
        if db_path is not None:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            fresh = not Path(db_path).exists()
            try:
                self.db = sqlite3.connect(str(db_path), check_same_thread=False)
                self.db.execute("CREATE TABLE IF NOT EXISTS turns (chat_id INTEGER, seq INTEGER PRIMARY KEY "
                                "AUTOINCREMENT, role TEXT, name TEXT, content TEXT)")
                self.db.commit()
            except sqlite3.Error as err:
                raise ClonekitError(f"--history-db {db_path}: cannot open it as SQLite ({err})") from None
            if fresh:
                os.chmod(db_path, 0o600)
            for chat_id, role, name, content in self.db.execute(
                    "SELECT chat_id, role, name, content FROM turns ORDER BY seq"):
                turn = {"role": role, "content": content}
                if name:
                    turn["name"] = name
                self.turns.setdefault(int(chat_id), []).append(turn)

    def get(self, chat_id: int) -> list[dict]:
        return list(self.turns.get(chat_id, []))

    def add(self, chat_id: int, turns: list[dict]) -> None:
        kept = self.turns.setdefault(chat_id, [])
        kept.extend(turns)
        del kept[:-MAX_TURNS_KEPT]
        if self.db is not None:
            self.db.executemany("INSERT INTO turns (chat_id, role, name, content) VALUES (?, ?, ?, ?)",
                                [(chat_id, t["role"], t.get("name"), t["content"]) for t in turns])
            self.db.execute("DELETE FROM turns WHERE chat_id = ? AND seq NOT IN (SELECT seq FROM turns WHERE "
                            "chat_id = ? ORDER BY seq DESC LIMIT ?)", (chat_id, chat_id, MAX_TURNS_KEPT))
            self.db.commit()

    def reset(self, chat_id: int) -> None:
        self.turns.pop(chat_id, None)
        if self.db is not None:
            self.db.execute("DELETE FROM turns WHERE chat_id = ?", (chat_id,))
            self.db.commit()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
