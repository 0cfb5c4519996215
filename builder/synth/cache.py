"""Crash-safe request cache: every successful API response is committed to SQLite (WAL,
synchronous=NORMAL) before it is used, keyed by a hash of the request (base URL, model,
messages, parameters; never the API key). A rerun after a crash, Ctrl-C or SIGKILL finds
every response that already arrived and resends nothing that succeeded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

from builder.errors import ClonekitError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, created REAL NOT NULL, request TEXT NOT NULL, response TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def default_cache_path() -> Path:
    root = os.environ.get("CLONEKIT_CACHE") or ".clonekit-cache"
    return Path(root) / "synth.sqlite"


def request_key(request: dict) -> str:
    """Stable hash of a request description (must not contain credentials)."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a committed response survives the process dying (crash, Ctrl-C,
    # SIGKILL) and the file never corrupts; only a power cut can lose the last commits,
    # which then costs a resend, not a wrong result. FULL would fsync every commit.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class RequestCache:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path)
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise ClonekitError(f"{self.path}: cannot open the synth cache ({err}); "
                                "delete it or pass --cache-dir to use another folder") from None

    def get(self, key: str) -> dict | None:
        row = self._conn.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def keys(self) -> set[str]:
        return {k for (k,) in self._conn.execute("SELECT key FROM responses")}

    def get_setting(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))

    # -- durable writes --------------------------------------------------------------
    def put(self, key: str, request: dict, response: dict) -> None:
        """Return once the response is committed (a WAL append, well under a millisecond)."""
        row = (key, time.time(), json.dumps(request, ensure_ascii=False), json.dumps(response, ensure_ascii=False))
        try:
            with self._conn:
                self._conn.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", row)
        except sqlite3.Error as err:
            raise ClonekitError(f"{self.path}: cannot write the synth cache ({err}); "
                                "check free disk space and permissions") from None

    def close(self) -> None:
        self._conn.close()
