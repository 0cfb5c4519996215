"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI chat-completions
protocol for clonekit's synthesis client, with deterministic replies and fault injection.

Replies are generated from a hash of the request, so the same request always gets the
same answer. The reply shape is picked by the schema name (``clonekit_self_instruct``,
``clonekit_facts``, ``clonekit_conversation``) found in ``response_format`` or, for plain
text requests, in the prompt; the item/turn count comes from "exactly K" in the prompt.

Faults: 429 with Retry-After, 500, a timeout (sleep past the client's timeout and close),
a connection dropped mid-response, malformed content (not JSON / wrong schema), and no
``response_format`` support (400). Transport faults hit at most ``max_per_request``
attempts of one request, so a client with enough retries always finishes.

Counters prove the client's cache works: ``success_by_hash`` counts complete successful
responses per request hash (request minus ``response_format``/``stream``).

Usage::

    with FakeOpenAIServer(latency=0.2, faults=Faults(rate=0.2)) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x")
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRANSPORT_FAULTS = ("429", "500", "timeout", "drop")
_SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "zu", "fe",
              "go", "hi", "ju", "ba", "ce", "wo", "xi", "ye", "mo", "ru", "si", "tu"]


def request_hash(body: dict) -> str:
    """Hash of what the client asked, ignoring how it asked (response_format, stream)."""
    core = {k: v for k, v in body.items() if k not in ("response_format", "stream", "stream_options")}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class Faults:
    rate: float = 0.0                     # chance that one attempt gets a transport fault
    kinds: tuple[str, ...] = TRANSPORT_FAULTS
    max_per_request: int = 2              # faulty attempts per request hash, at most
    schedule: dict[int, str] = field(default_factory=dict)  # nth request received -> fault
    malformed_rate: float = 0.0           # share of request hashes answered with bad content
    retry_after: float = 0.05             # seconds, sent in Retry-After
    timeout_sleep: float = 1.0            # seconds slept by a "timeout" fault
    no_response_format: bool = False      # answer 400 to any request with response_format
    seed: int = 0


def words(rng: random.Random, lo: int, hi: int) -> str:
    n = rng.randint(lo, hi)
    return " ".join("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(n))


def fake_reply(schema_name: str, k: int, rng: random.Random) -> dict:
    if schema_name == "clonekit_self_instruct":
        return {"items": [{"instruction": words(rng, 5, 12) + "?", "response": words(rng, 4, 14)}
                          for _ in range(k)]}
    if schema_name == "clonekit_facts":
        return {"items": [{"question": words(rng, 4, 9) + "?", "answer": words(rng, 4, 12)}
                          for _ in range(k)]}
    if schema_name == "clonekit_conversation":
        return {"turns": [{"speaker": "contact" if i % 2 == 0 else "me", "text": words(rng, 3, 12)}
                          for i in range(k)]}
    return {"text": words(rng, 5, 10)}


def _schema_name(body: dict) -> str:
    rf = body.get("response_format") or {}
    name = (rf.get("json_schema") or {}).get("name")
    if name:
        return name
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    found = re.search(r"schema (clonekit_\w+)", text)
    return found.group(1) if found else ""


def _count(body: dict) -> int:
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    found = re.search(r"exactly (\d+)", text)
    return max(1, min(int(found.group(1)), 50)) if found else 3


class FakeOpenAIServer:
    def __init__(self, latency: float = 0.0, faults: Faults | None = None,
                 max_lifetime: float = 600.0, max_requests: int = 200_000,
                 model: str = "fake-model") -> None:
        self.latency = latency
        self.faults = faults or Faults()
        self.max_lifetime = max_lifetime
        self.max_requests = max_requests
        self.model = model
        self.lock = threading.Lock()
        self.received = 0
        self.received_by_hash: Counter[str] = Counter()
        self.success_by_hash: Counter[str] = Counter()
        self.fault_counts: Counter[str] = Counter()
        self.auth_headers: set[str] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> "FakeOpenAIServer":
        server = self

        class Handler(_Handler):
            owner = server

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512

        self._httpd = Server(("127.0.0.1", 0), Handler)
        serve = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                 name="fake-openai", daemon=True)
        watchdog = threading.Thread(target=self._watchdog, name="fake-openai-watchdog", daemon=True)
        self._threads = [serve, watchdog]
        serve.start()
        watchdog.start()
        return self

    def _watchdog(self) -> None:
        if not self._stopped.wait(self.max_lifetime):
            self.stop()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset_counters(self) -> None:
        with self.lock:
            self.received = 0
            self.received_by_hash.clear()
            self.success_by_hash.clear()
            self.fault_counts.clear()

    def duplicated_successes(self) -> dict[str, int]:
        with self.lock:
            return {h: n for h, n in self.success_by_hash.items() if n > 1}

    # -- decisions -------------------------------------------------------------------
    def _fault_for(self, nth: int, rhash: str, attempt: int) -> str | None:
        f = self.faults
        if nth in f.schedule:
            return f.schedule[nth]
        if f.rate > 0 and attempt <= f.max_per_request and _unit(f.seed, rhash, attempt) < f.rate:
            return f.kinds[int(_unit("kind", f.seed, rhash, attempt) * len(f.kinds))]
        return None

    def malformed_kind(self, rhash: str) -> str | None:
        """``not_json`` / ``bad_schema`` for the request hashes chosen to get bad content."""
        if self.faults.malformed_rate > 0 and _unit("bad", self.faults.seed, rhash) < self.faults.malformed_rate:
            return "not_json" if _unit("badkind", rhash) < 0.5 else "bad_schema"
        return None

    def reply_content(self, body: dict) -> str:
        """The assistant content this server answers to ``body`` (without faults)."""
        rhash = request_hash(body)
        name = _schema_name(body)
        bad = self.malformed_kind(rhash)
        if bad == "not_json":
            return '{"items": [{"instruction": "unterminated'
        rng = random.Random(rhash)
        reply = fake_reply(name, _count(body), rng)
        if bad == "bad_schema":
            key = next(iter(reply))
            reply = {key: [{"wrong": 1}]}
        text = json.dumps(reply, ensure_ascii=False)
        if not body.get("response_format"):
            # Plain-text servers chatter around the JSON; the client must dig it out.
            text = f"Sure! Here it is:\n```json\n{text}\n```\nHope that helps."
        return text


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        return

    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [
                {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "clonekit-tests"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        srv = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        rhash = request_hash(body)
        with srv.lock:
            srv.received += 1
            nth = srv.received
            srv.received_by_hash[rhash] += 1
            attempt = srv.received_by_hash[rhash]
            if auth := self.headers.get("Authorization"):
                srv.auth_headers.add(auth)
        if nth > srv.max_requests:
            self._send_json(503, {"error": {"message": "test server request budget spent", "type": "server_error"}})
            return
        if srv.latency:
            time.sleep(srv.latency)
        if srv.faults.no_response_format and body.get("response_format"):
            self._count_fault("no_response_format")
            self._send_json(400, {"error": {"message": "Unsupported parameter: 'response_format' is not supported "
                                            "by this server", "type": "invalid_request_error",
                                            "param": "response_format", "code": None}})
            return
        fault = srv._fault_for(nth, rhash, attempt)
        if fault:
            self._count_fault(fault)
            self._inject(fault)
            return
        content = srv.reply_content(body)
        if body.get("stream"):
            self._stream(body, content)
        else:
            self._send_json(200, self._completion(body, content, rhash))
        with srv.lock:
            srv.success_by_hash[rhash] += 1

    def _count_fault(self, kind: str) -> None:
        with self.owner.lock:
            self.owner.fault_counts[kind] += 1

    def _inject(self, fault: str) -> None:
        f = self.owner.faults
        if fault == "429":
            self._send_json(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                            {"Retry-After": f"{f.retry_after:g}"})
        elif fault == "500":
            self._send_json(500, {"error": {"message": "internal error", "type": "server_error"}})
        elif fault == "timeout":
            time.sleep(f.timeout_sleep)
            self.close_connection = True
        elif fault == "drop":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"id": "chatcmpl-dropped", "choices": [{"ind')
            self.wfile.flush()
            self.close_connection = True
        else:
            raise ValueError(f"unknown fault {fault!r}")

    def _usage(self, body: dict, content: str) -> dict:
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
        completion = len(content) // 4 + 1
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, body: dict, content: str, rhash: str) -> dict:
        return {
            "id": f"chatcmpl-{rhash[:24]}", "object": "chat.completion", "created": 0,
            "model": body.get("model", self.owner.model),
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": self._usage(body, content),
        }

    def _stream(self, body: dict, content: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 0,
                "model": body.get("model", self.owner.model)}
        pieces = [content[i:i + 16] for i in range(0, len(content), 16)] or [""]
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]}]
        events += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                   for p in pieces]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": self._usage(body, content)})
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description="fake OpenAI-compatible server for manual tests")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--lifetime", type=float, default=600.0)
    args = ap.parse_args()
    server = FakeOpenAIServer(latency=args.latency, faults=Faults(rate=args.fault_rate),
                              max_lifetime=args.lifetime).start()
    print(server.base_url, flush=True)
    server._stopped.wait()


if __name__ == "__main__":
    main()
