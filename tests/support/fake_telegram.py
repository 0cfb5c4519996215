"""A fake Telegram Bot API server: real HTTP on 127.0.0.1 speaking the subset a polling
bot uses (getMe, getUpdates with long polling and offset confirmation, sendMessage,
sendChatAction, deleteWebhook, close/logOut refused), playing users who write to the bot.

    with FakeTelegram(token="123:abc") as tg:
        tg.user_says(alice, "hi")                   # queues an update, like a user typing
        ...bot polls tg.api_base...
        tg.wait_for_messages(1)                     # what the bot sent, in order

Semantics follow the real server: an update stays available until getUpdates is called
with an offset above its id (then it is gone for good); getUpdates waits up to its
``timeout`` for something new. Fault injection: ``fail(method, status, retry_after=...,
times=n)`` answers the next n calls of a method with that error (429 with
``parameters.retry_after``, or an HTML 502 like a proxy in front of Telegram);
``hold(method)`` makes the next call of a method hang until released (to kill a bot in
the middle of a send). ``messages`` records every delivered sendMessage."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status


@dataclass(frozen=True)
class User:
    id: int
    first_name: str
    username: str | None = None


@dataclass
class Sent:
    chat_id: int
    text: str
    at: float


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    times: int


@dataclass
class FakeTelegram:
    token: str = "123456:TEST-token-not-real"
    messages: list[Sent] = field(default_factory=list)
    actions: list[tuple[int, str]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # method names, in order
    failures: list[tuple[str, int]] = field(default_factory=list)  # (method, status) answered as faults

    def __post_init__(self) -> None:
        self._updates: list[dict] = []
        self._next_update = 1000
        self._next_message = 1
        self._cond = threading.Condition()
        self._faults: dict[str, list[_Fault]] = {}
        self._holds: dict[str, threading.Event] = {}
        self.held = threading.Event()  # set while a held call is waiting
        self.wrong_token_calls = 0
        self.max_offset_seen = 0
        self.too_long = 0
        self._server: ThreadingHTTPServer | None = None

    # -- the test's side ------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def user_says(self, user: User, text: str, chat: dict | None = None) -> int:
        """Queue a message update from ``user`` (a private chat unless ``chat`` is given);
        returns its update_id."""
        with self._cond:
            uid = self._next_update
            self._next_update += 1
            message = {
                "message_id": self._next_message, "date": int(time.time()), "text": text,
                "from": {"id": user.id, "is_bot": False, "first_name": user.first_name,
                         **({"username": user.username} if user.username else {})},
                "chat": chat or {"id": user.id, "type": "private", "first_name": user.first_name},
            }
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            self._next_message += 1
            self._updates.append({"update_id": uid, "message": message})
            self._cond.notify_all()
            return uid

    def fail(self, method: str, status: int, retry_after: int | None = None, times: int = 1) -> None:
        with self._cond:
            self._faults.setdefault(method, []).append(_Fault(status, retry_after, times))

    def hold(self, method: str) -> threading.Event:
        """The next call of ``method`` hangs (unanswered) until the returned event is set."""
        release = threading.Event()
        with self._cond:
            self._holds[method] = release
        return release

    def texts_to(self, chat_id: int) -> list[str]:
        with self._cond:
            return [m.text for m in self.messages if m.chat_id == chat_id]

    def wait_for_messages(self, count: int, chat_id: int | None = None, timeout: float = 60) -> list[Sent]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if chat_id is None or m.chat_id == chat_id]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(got)} of {count} messages after {timeout}s: "
                                       f"{[m.text[:40] for m in got]}")
                self._cond.wait(left)

    def wait_for(self, predicate, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not met")
                self._cond.wait(min(left, 0.2))

    def pending_updates(self) -> int:
        with self._cond:
            return len(self._updates)

    # -- the server's side ----------------------------------------------------------------

    def start(self) -> "FakeTelegram":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # quiet: tests read the recorded calls instead

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake._handle(self, raw)

            do_GET = do_POST  # noqa: N815

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                import sys

                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)
                # a bot that stopped (or was killed) mid long-poll: nobody left to answer

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        with self._cond:
            for release in self._holds.values():
                release.set()
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeTelegram":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _params(handler: BaseHTTPRequestHandler, raw: bytes) -> dict:
        kind = handler.headers.get("Content-Type", "")
        if "json" in kind:
            return json.loads(raw or b"{}")
        if "multipart/form-data" in kind:
            import email.parser

            msg = email.parser.BytesParser().parsebytes(
                b"Content-Type: " + kind.encode() + b"\r\n\r\n" + raw)
            return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
                    for part in msg.get_payload()}
        return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: dict | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html" if isinstance(body, str) else "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        path = handler.path.split("?")[0]
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            self.wrong_token_calls += 1
            self._reply(handler, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        method = path[len(prefix):]
        params = self._params(handler, raw)
        with self._cond:
            self.calls.append(method)
            faults = self._faults.get(method)
            fault = faults[0] if faults else None
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    faults.pop(0)
                self.failures.append((method, fault.status))
            release = self._holds.pop(method, None)
            self._cond.notify_all()
        if fault is not None:
            if fault.status == 429:
                self._reply(handler, 429, {"ok": False, "error_code": 429,
                                           "description": f"Too Many Requests: retry after {fault.retry_after}",
                                           "parameters": {"retry_after": fault.retry_after}})
            elif fault.status == 502:
                self._reply(handler, 502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
            else:
                self._reply(handler, fault.status, {"ok": False, "error_code": fault.status,
                                                    "description": "Internal Server Error"})
            return
        if release is not None:
            self.held.set()
            release.wait()
            self.held.clear()
            handler.close_connection = True
            return  # never answered: the caller is killed meanwhile
        result = getattr(self, f"_m_{method}", None)
        if result is None:
            self._reply(handler, 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
            return
        try:
            self._reply(handler, 200, {"ok": True, "result": result(params)})
        except _ApiError as err:
            self._reply(handler, err.status, {"ok": False, "error_code": err.status, "description": str(err)})

    def _m_getMe(self, params: dict) -> dict:  # noqa: N802
        return {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Clone", "username": "clone_bot",
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _m_deleteWebhook(self, params: dict) -> bool:  # noqa: N802
        return True

    def _m_getUpdates(self, params: dict) -> list[dict]:  # noqa: N802
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        with self._cond:
            self.max_offset_seen = max(self.max_offset_seen, offset)
            if offset:  # confirmation: everything below the offset is gone for good
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            return [dict(u) for u in self._updates[:limit]]

    def _m_sendMessage(self, params: dict) -> dict:  # noqa: N802
        chat_id = int(params["chat_id"])
        text = str(params["text"])
        if len(text) > 4096:
            self.too_long += 1
            raise _ApiError(400, "Bad Request: message is too long")
        with self._cond:
            mid = self._next_message
            self._next_message += 1
            self.messages.append(Sent(chat_id, text, time.monotonic()))
            self._cond.notify_all()
        return {"message_id": mid, "date": int(time.time()), "text": text,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Clone"}}

    def _m_sendChatAction(self, params: dict) -> bool:  # noqa: N802
        with self._cond:
            self.actions.append((int(params["chat_id"]), str(params["action"])))
            self._cond.notify_all()
        return True
