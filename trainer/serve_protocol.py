"""Validation of OpenAI chat-completion requests and the shapes of the responses.
Pure functions: no HTTP, no torch. Anything a client can get wrong raises
``RequestError`` (an HTTP status and a one-line message), never a crash. Fields this
server does not use (user, logit_bias, ...) are accepted and ignored, as clients send
them routinely; ``stream_options.include_usage`` adds the usage chunk OpenAI sends."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

ROLES = {"system", "developer", "user", "assistant"}
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_STOP_STRINGS = 4


class RequestError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict[str, Any]:
        kind = "authentication_error" if self.status == 401 else (
            "not_found_error" if self.status == 404 else "invalid_request_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, str]]  # dataset-record shape: role, content, name?
    stream: bool = False
    max_tokens: int | None = None
    temperature: float = 0.7
    top_p: float = 1.0
    repetition_penalty: float = 1.1
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    include_usage: bool = False  # stream_options.include_usage: a last chunk with usage, no choices


def _number(body: dict, key: str, default: float, lo: float, hi: float, lo_open: bool = False) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(400, f"'{key}' must be a number (got {type(value).__name__})", key)
    if value < lo or value > hi or (lo_open and value == lo):
        raise RequestError(400, f"'{key}' must be {'>' if lo_open else '>='} {lo} and <= {hi} (got {value})", key)
    return float(value)


def _content(value: Any, i: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: only text is understood by a text model
        parts = []
        for part in value:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RequestError(400, f"messages[{i}].content: only text parts are supported", f"messages[{i}].content")
            parts.append(part["text"])
        return "".join(parts)
    raise RequestError(400, f"messages[{i}].content must be a string or a list of text parts", f"messages[{i}].content")


def parse_chat_request(raw: bytes, max_tokens_limit: int) -> ChatRequest:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(400, f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise RequestError(400, "request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "'model' is required and must be a string", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty list", "messages")
    parsed: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RequestError(400, f"messages[{i}] must be an object", f"messages[{i}]")
        role = m.get("role")
        if role not in ROLES:
            raise RequestError(400, f"messages[{i}].role {role!r} is not supported; use system, user or assistant",
                               f"messages[{i}].role")
        msg = {"role": "system" if role == "developer" else role, "content": _content(m.get("content"), i)}
        name = m.get("name")
        if name is not None:
            if not isinstance(name, str):
                raise RequestError(400, f"messages[{i}].name must be a string", f"messages[{i}].name")
            msg["name"] = name
        parsed.append(msg)
    if not any(m["role"] == "user" for m in parsed):
        raise RequestError(400, "'messages' needs at least one user message", "messages")

    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise RequestError(400, "'stream' must be true or false", "stream")
    n = body.get("n", 1)
    if n not in (1, None) or isinstance(n, bool):
        raise RequestError(400, "'n' must be 1: this server returns one choice", "n")

    max_tokens = None
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(400, f"'{key}' must be an integer", key)
        if not 1 <= value <= max_tokens_limit:
            raise RequestError(400, f"'{key}' must be between 1 and {max_tokens_limit} (got {value})", key)
        max_tokens = value
        break

    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= MAX_STOP_STRINGS:
        stops = list(stop)
    else:
        raise RequestError(400, f"'stop' must be a string or a list of up to {MAX_STOP_STRINGS} strings", "stop")

    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise RequestError(400, "'seed' must be an integer", "seed")

    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError(400, "'stream_options' must be an object", "stream_options")
    include_usage = (options or {}).get("include_usage", False)
    if include_usage is None:
        include_usage = False
    if not isinstance(include_usage, bool):
        raise RequestError(400, "'stream_options.include_usage' must be true or false", "stream_options")
    if options is not None and not stream:
        raise RequestError(400, "'stream_options' is only allowed when 'stream' is true", "stream_options")

    return ChatRequest(
        include_usage=include_usage, model=model, messages=parsed, stream=stream, max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0.7, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0, lo_open=True),
        repetition_penalty=_number(body, "repetition_penalty", 1.1, 0.5, 3.0),
        stop=[s for s in stops if s], seed=seed)


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion_body(cid: str, model: str, text: str, finish_reason: str,
                    prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "logprobs": None, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def chunk_body(cid: str, model: str, created: int, delta: dict[str, str],
               finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}


def usage_chunk(cid: str, model: str, created: int, prompt_tokens: int,
                completion_tokens: int) -> dict[str, Any]:
    """The stream's last chunk under ``stream_options.include_usage``: empty choices, usage."""
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def models_body(model_id: str, created: int) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": model_id, "object": "model", "created": created,
                                        "owned_by": "clonekit"}]}
