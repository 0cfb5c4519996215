"""An OpenAI-compatible HTTP server for a trained clone: ``POST /v1/chat/completions``
(streamed as server-sent events or not) and ``GET /v1/models``.

One worker thread owns the model. By default it batches (trainer.batching): concurrent
requests share one forward pass per token, new ones join at the next step, finished ones
leave; ``batching=False`` keeps the older one-reply-at-a-time worker (for comparison, and
for the compiled static-cache loop). A client that disconnects cancels its generation.
The port is bound before the model loads (a busy port fails at once) and answers 503 with
Retry-After until the model is ready. Requests without a system
message get the persona's system prompt for the contact named on the last user message
(as in training); requests with one are rendered as given (e.g. synthesis prompts)."""

from __future__ import annotations

import errno
import hmac
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from builder.errors import ClonekitError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, ignore_event
from trainer.generate import MAX_NEW_TOKENS_LIMIT, Reply, SamplingSettings, generate_reply
from trainer.prompting import build_prompt, persona_system_prompt, resolve_contact
from trainer.template_fit import ThinkFilter, strip_think
from trainer.serve_protocol import (
    MAX_BODY_BYTES, ChatRequest, RequestError, chunk_body, completion_body, completion_id,
    models_body, parse_chat_request, usage_chunk,
)

DEFAULT_MAX_TOKENS = 512
MAX_QUEUED = 256
LOADING_RETRY_AFTER_S = 5
_DONE = object()


@dataclass
class Job:
    input_ids: list[int]
    settings: SamplingSettings
    stop: list[str]
    seed: int | None
    cancel: CancelToken = field(default_factory=CancelToken)
    out: "queue.Queue[Any]" = field(default_factory=queue.Queue)  # str pieces, then Reply or Exception


class Engine:
    """The model, its tokenizer and the single generation worker."""

    def __init__(self, model, tokenizer, model_id: str, persona: dict, stop_ids: list[int],
                 contact_counts=None, static_cache: bool | None = None, batching: bool = True,
                 max_batch: int | None = None, max_batch_tokens: int | None = None) -> None:
        from collections import Counter

        from trainer.batching import DEFAULT_MAX_BATCH, BatchWorker

        self.model, self.tokenizer, self.model_id = model, tokenizer, model_id
        self.persona, self.stop_ids = persona, stop_ids
        self.contact_counts = contact_counts or Counter()
        self.static_cache = static_cache
        self.created = int(time.time())
        cfg = getattr(model, "config", None)
        self.context = int(getattr(cfg, "max_position_embeddings", 0) or 4096)
        self.max_tokens_limit = min(MAX_NEW_TOKENS_LIMIT, self.context)
        self.jobs: "queue.Queue[Job | None]" = queue.Queue()
        self.batcher = BatchWorker(model, tokenizer, stop_ids, max_batch or DEFAULT_MAX_BATCH,
                                   solo_static=None if static_cache is not False else False,
                                   batch_static=None if static_cache is not False else False,
                                   max_batch_tokens=max_batch_tokens) if batching else None
        if self.batcher is None:
            self.worker = threading.Thread(target=self._work, name="clonekit-generate", daemon=True)
            self.worker.start()

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if job.cancel.cancelled:
                job.out.put(Reply("", [], len(job.input_ids), "cancelled"))
                continue
            try:
                reply = generate_reply(self.model, self.tokenizer, job.input_ids, job.settings,
                                       self.stop_ids, on_text=job.out.put, cancel=job.cancel,
                                       stop_strings=job.stop, seed=job.seed)
                job.out.put(reply)
            except Exception as err:  # reported to that client as a 500; the server lives on
                job.out.put(err)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        else:
            self.jobs.put(None)

    def prepare(self, req: ChatRequest) -> Job:
        """Prompt and settings for a validated request; RequestError when it can't fit."""
        if req.model != self.model_id:
            raise RequestError(404, f"model {req.model!r} does not exist; this server has {self.model_id!r}",
                               "model", code="model_not_found")
        prompt = self.build(req.messages)
        room = self.context - len(prompt.input_ids)
        if room < 1:
            raise RequestError(400, f"the prompt is {len(prompt.input_ids)} tokens; the model's context is "
                               f"{self.context}: send fewer or shorter messages", "messages",
                               code="context_length_exceeded")
        max_tokens = req.max_tokens or min(DEFAULT_MAX_TOKENS, room)
        if max_tokens > room:
            raise RequestError(400, f"prompt ({len(prompt.input_ids)} tokens) plus max_tokens ({max_tokens}) "
                               f"exceeds the model's context ({self.context})", "max_tokens",
                               code="context_length_exceeded")
        settings = SamplingSettings(temperature=req.temperature, top_p=req.top_p,
                                    repetition_penalty=req.repetition_penalty, max_new_tokens=max_tokens,
                                    static_cache=self.static_cache)
        return Job(prompt.input_ids, settings, req.stop, req.seed)

    def build(self, messages: list[dict], role: str | None = None, history_tokens: int | None = None):
        """The prompt for dataset-shaped messages: a leading system message is used as given,
        else the persona's for the contact named on the last user message (``role``, when
        given, overrides the role the training data knows for that contact)."""
        if messages[0]["role"] == "system":
            system, turns = messages[0]["content"], messages[1:]
        else:
            system, turns = "", messages
        named = [m["name"] for m in turns if m["role"] == "user" and m.get("name")]
        contact, known_role = resolve_contact(self.contact_counts, named[-1] if named else None, role or None)
        if not system:
            system = persona_system_prompt(self.persona, contact, known_role)
        turns = [m for m in turns if m["role"] != "system"] or turns
        return build_prompt(self.tokenizer, system, turns, contact,
                            history_tokens=history_tokens or self.context * 4)

    def submit(self, job: Job) -> None:
        if self.batcher is not None:
            from trainer.batching import BatchJob

            if self.batcher.pending() >= MAX_QUEUED:
                raise RequestError(503, f"{MAX_QUEUED} requests are already in flight; retry later",
                                   code="overloaded")
            if reason := self.batcher.too_large(len(job.input_ids), job.settings.max_new_tokens):
                raise RequestError(400, reason, "max_tokens", code="max_batch_tokens_exceeded")
            self.batcher.submit(BatchJob(job.input_ids, job.settings, job.stop, job.seed, job.out.put, job.cancel))
            return
        if self.jobs.qsize() >= MAX_QUEUED:
            raise RequestError(503, f"{MAX_QUEUED} requests are already waiting; retry later", code="overloaded")
        self.jobs.put(job)


def _make_handler(server: "ClonekitHTTPServer", api_key: str | None, on_event: OnEvent):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "clonekit"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            on_event(Log(f"{self.address_string()} {format % args}"))  # no bodies: chats are private

        def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _loading(self) -> None:
            self._json(503, RequestError(503, "the model is still loading; retry shortly",
                                         code="model_loading").body(),
                       {"Retry-After": str(LOADING_RETRY_AFTER_S)})

        def _authorized(self) -> bool:
            if api_key is None:
                return True
            given = self.headers.get("Authorization", "")
            token = given[7:] if given.lower().startswith("bearer ") else ""
            if hmac.compare_digest(token.encode(), api_key.encode()):
                return True
            self._json(401, RequestError(401, "missing or wrong API key (send 'Authorization: Bearer KEY')",
                                         code="invalid_api_key").body())
            return False

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            engine = server.engine
            if path == "/health":
                if engine is None:
                    self._json(503, {"status": "loading"}, {"Retry-After": str(LOADING_RETRY_AFTER_S)})
                else:
                    self._json(200, {"status": "ok"})
            elif not self._authorized():
                return
            elif engine is None:
                self._loading()
            elif path == "/v1/models":
                self._json(200, models_body(engine.model_id, engine.created))
            elif path == f"/v1/models/{engine.model_id}":
                self._json(200, models_body(engine.model_id, engine.created)["data"][0])
            else:
                self._json(404, RequestError(404, f"no route GET {path}", code="not_found").body())

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                self.close_connection = True
                self._json(413 if length > 0 else 400, RequestError(
                    413, f"request body must be 0..{MAX_BODY_BYTES} bytes with a Content-Length").body())
                return
            raw = self.rfile.read(length) if length else b""
            if not self._authorized():
                return
            if path != "/v1/chat/completions":
                self._json(404, RequestError(404, f"no route POST {path}", code="not_found").body())
                return
            engine = server.engine
            if engine is None:
                self._loading()
                return
            try:
                req = parse_chat_request(raw, engine.max_tokens_limit)
                job = engine.prepare(req)
                engine.submit(job)
            except RequestError as err:
                self._json(err.status, err.body())
                return
            try:
                if req.stream:
                    self._stream(job, req.model, req.include_usage)
                else:
                    self._complete(job, req.model)
            finally:
                job.cancel.cancel()  # a no-op once the reply is done; frees the batch row if the client left

        def _complete(self, job: Job, model: str) -> None:
            while True:
                item = job.out.get()
                if isinstance(item, Reply):
                    self._json(200, completion_body(completion_id(), model, strip_think(item.text), _finish(item),
                                                    item.prompt_tokens, len(item.token_ids)))
                    return
                if isinstance(item, RequestError):  # refused by the batch worker (token budget, memory)
                    self._json(item.status, item.body())
                    return
                if isinstance(item, Exception):
                    self._json(500, RequestError(500, f"generation failed: {item}", code="server_error").body())
                    return

        def _stream(self, job: Job, model: str, include_usage: bool) -> None:
            cid, created = completion_id(), int(time.time())
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            usage_field = {"usage": None} if include_usage else {}

            def send(body: dict | str) -> None:
                data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
                self.wfile.write(f"data: {data}\n\n".encode("utf-8"))
                self.wfile.flush()

            send({**chunk_body(cid, model, created, {"role": "assistant", "content": ""}), **usage_field})
            hide = ThinkFilter()  # reasoning bases: think blocks never reach the client
            while True:
                item = job.out.get()
                if isinstance(item, str):
                    if text := hide.feed(item):
                        send({**chunk_body(cid, model, created, {"content": text}), **usage_field})
                elif isinstance(item, Reply):
                    if rest := hide.flush():
                        send({**chunk_body(cid, model, created, {"content": rest}), **usage_field})
                    send({**chunk_body(cid, model, created, {}, _finish(item)), **usage_field})
                    if include_usage:
                        send(usage_chunk(cid, model, created, item.prompt_tokens, len(item.token_ids)))
                    send("[DONE]")
                    return
                else:
                    send((item if isinstance(item, RequestError) else
                          RequestError(500, f"generation failed: {item}", code="server_error")).body())
                    return

    return Handler


def _finish(reply: Reply) -> str:
    return "length" if reply.finish_reason == "length" else "stop"


class ClonekitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog; socketserver's 5 resets a burst of 16 clients
    engine: Engine | None = None
    on_event: OnEvent = staticmethod(ignore_event)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up is one log line, not a traceback; anything else is one
        line too (the request thread ends, the server lives on)."""
        import sys

        err = sys.exc_info()[1]
        host = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(err, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            self.on_event(Log(f"{host} disconnected before the reply was sent"))
        else:
            self.on_event(Log(f"{host} request failed: {type(err).__name__}: {err}", "warning"))


def bind(host: str, port: int) -> ClonekitHTTPServer:
    """Bind before the model loads, so a busy port fails at once."""
    try:
        return ClonekitHTTPServer((host, port), BaseHTTPRequestHandler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise ClonekitError(f"--port {port}: {host}:{port} is already in use; pick another port "
                                "(or stop the other server)") from None
        if isinstance(err, socket.gaierror) or err.errno == errno.EADDRNOTAVAIL:
            raise ClonekitError(f"--host {host}: not an address of this machine") from None
        raise ClonekitError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def attach(server: ClonekitHTTPServer, engine: Engine | None, api_key: str | None,
           on_event: OnEvent = ignore_event) -> ClonekitHTTPServer:
    """Route requests to ``engine``; with None, every API call answers 503 (loading) until
    ``server.engine`` is set."""
    server.engine = engine
    server.on_event = on_event
    server.RequestHandlerClass = _make_handler(server, api_key, on_event)
    return server


def serve_run(run_ref: str, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
              merged: str | None = None, device: str | None = None, static_cache: bool | None = None,
              batching: bool = True, max_batch: int | None = None, max_batch_tokens: int | None = None,
              on_event: OnEvent = ignore_event,
              cancel: CancelToken = NEVER_CANCELLED,
              on_ready: Callable[[str], None] | None = None) -> None:
    """Load the run and serve until ``cancel`` (or Ctrl-C in the CLI). The port answers
    from the start: 503 + Retry-After while the model loads."""
    from trainer.inference import load_model, open_run, stop_ids
    from trainer.prompting import contact_roles

    run = open_run(run_ref)
    server = attach(bind(host, port), None, api_key, on_event)
    url = f"http://{server.server_address[0]}:{server.server_address[1]}/v1"
    stop_watch = threading.Event()

    def watch_cancel() -> None:
        while not cancel.cancelled and not stop_watch.is_set():
            time.sleep(0.5)
        if cancel.cancelled:
            server.shutdown()
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True,
                               name="clonekit-http")
    engine = None
    try:
        serving.start()
        threading.Thread(target=watch_cancel, daemon=True).start()
        on_event(Log(f"loading {run.run_id} ({url} answers 503 until it is ready)"))
        model, tokenizer = load_model(run, merged=merged or False, device=device)
        engine = Engine(model, tokenizer, run.run_id, run.persona, stop_ids(run, tokenizer),
                        contact_roles(run.info.get("dataset")), static_cache=static_cache,
                        batching=batching, max_batch=max_batch, max_batch_tokens=max_batch_tokens)
        server.engine = engine
        if on_ready is not None:
            on_ready(url)
        while serving.is_alive():
            serving.join(timeout=0.5)
    finally:
        stop_watch.set()
        if serving.is_alive():
            server.shutdown()
        if engine is not None:
            engine.close()
        server.server_close()
