"""Crash-safe request cache: every successful API response is committed to SQLite (WAL,
synchronous=FULL) before it is used, keyed by a hash of the request (base URL, model,
messages, parameters; never the API key). A rerun after a crash, Ctrl-C or SIGKILL finds
every response that already arrived and resends nothing that succeeded.

Commits happen on one writer thread that groups whatever is pending into one transaction
(one fsync for many responses), so durability costs the event loop nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import sqlite3
import threading
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
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class RequestCache:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._read = _connect(self.path)
            self._read.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise ClonekitError(f"{self.path}: cannot open the synth cache ({err}); "
                                "delete it or pass --cache-dir to use another folder") from None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    # -- reads (event-loop thread) ---------------------------------------------------
    def get(self, key: str) -> dict | None:
        row = self._read.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def keys(self) -> set[str]:
        return {k for (k,) in self._read.execute("SELECT key FROM responses")}

    def get_setting(self, key: str) -> str | None:
        row = self._read.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self._read:
            self._read.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))

    # -- durable writes --------------------------------------------------------------
    async def put(self, key: str, request: dict, response: dict) -> None:
        """Return once the response is committed to disk."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="synth-cache-writer", daemon=True)
            self._writer.start()
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        row = (key, time.time(), json.dumps(request, ensure_ascii=False), json.dumps(response, ensure_ascii=False))
        self._queue.put((row, loop, done))
        await done

    def _write_loop(self) -> None:
        conn = _connect(self.path)
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                while True:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._queue.put(None)  # finish this batch, then stop
                        break
                    batch.append(nxt)
                error: Exception | None = None
                try:
                    with conn:
                        conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                                         [row for row, _, _ in batch])
                except sqlite3.Error as err:
                    error = ClonekitError(f"{self.path}: cannot write the synth cache ({err}); "
                                          "check free disk space and permissions")
                for _, loop, done in batch:
                    loop.call_soon_threadsafe(_settle, done, error)
        finally:
            conn.close()

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        self._read.close()


def _settle(done: asyncio.Future, error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
