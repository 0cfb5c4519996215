"""The only module that imports ``openai``: one chat-completions call with retries,
backoff, rate limits, the request cache and the ``response_format`` fallback.

- The openai client's own retries are off (``max_retries=0``) so every retry is ours and
  counted: 429, 5xx, timeouts and dropped connections are retried with exponential backoff
  and jitter; a ``Retry-After``/``retry-after-ms`` header sets the wait instead.
- A 400 that names ``response_format``/``json_schema`` means the server has no structured
  output: the request is resent without it (the prompt describes the JSON shape too) and
  the base URL is remembered in the cache's settings, so later runs skip the failed try.
- The API key is handed to the openai client and nowhere else: it is not part of cache
  keys, cached requests, errors or events."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field

import openai

from builder.errors import ClonekitError
from builder.synth.cache import RequestCache
from builder.synth.ratelimit import RateLimiter

_RF_SETTING = "response_format_unsupported:"


@dataclass(frozen=True)
class ChatRequest:
    key: str                 # cache key (hash of `describe()`)
    messages: list[dict]
    params: dict             # temperature, max_tokens, seed, ...
    response_format: dict | None
    est_tokens: int          # input estimate + max output, for tokens/min limits

    def describe(self, base_url: str, model: str) -> dict:
        return describe_request(base_url, model, self.messages, self.params, self.response_format)


def describe_request(base_url: str, model: str, messages: list[dict], params: dict,
                     response_format: dict | None) -> dict:
    """What a request is, for its cache key and the cache row. No credentials."""
    return {"base_url": base_url.rstrip("/"), "model": model, "messages": messages,
            "params": params, "response_format": response_format}


@dataclass
class ChatResult:
    content: str
    usage: dict | None       # prompt_tokens, completion_tokens (None if the server sent none)
    cached: bool
    finish_reason: str | None = None


@dataclass
class RetryPolicy:
    max_retries: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0


@dataclass
class ClientStats:
    sent: int = 0
    succeeded: int = 0
    cache_hits: int = 0
    retries: Counter = field(default_factory=Counter)   # reason -> count
    response_format_fallbacks: int = 0


class _BadBody(Exception):
    """A 200 whose body is not a chat completion (a proxy page, a cut-off reply)."""


class ApiError(ClonekitError):
    """The API failed in a way retrying will not fix, or retries ran out."""


def _retry_after(headers) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None


def _mentions_response_format(err: openai.BadRequestError) -> bool:
    text = f"{err.message} {err.param or ''}".lower()
    return "response_format" in text or "json_schema" in text


class ChatClient:
    def __init__(self, *, base_url: str, model: str, api_key: str, api_key_env: str, timeout_s: float,
                 cache: RequestCache, limiter: RateLimiter, retry: RetryPolicy | None = None,
                 max_tokens_param: str = "max_tokens", jitter_seed: int = 0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.cache = cache
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.max_tokens_param = max_tokens_param
        self.stats = ClientStats()
        self._rng = random.Random(jitter_seed)  # jitter only: timing, never output
        self._rf_unsupported = cache.get_setting(_RF_SETTING + self.base_url) == "1"
        self._client = openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key,
                                          timeout=timeout_s, max_retries=0)

    async def aclose(self) -> None:
        await self._client.close()

    def cached(self, request: ChatRequest) -> ChatResult | None:
        hit = self.cache.get(request.key)
        if hit is None:
            return None
        return ChatResult(content=hit["content"], usage=hit.get("usage"), cached=True,
                          finish_reason=hit.get("finish_reason"))

    async def complete(self, request: ChatRequest) -> ChatResult:
        hit = self.cached(request)
        if hit is not None:
            self.stats.cache_hits += 1
            return hit
        attempt = 0
        while True:
            use_rf = request.response_format is not None and not self._rf_unsupported
            await self.limiter.acquire(request.est_tokens)
            try:
                result = await self._send(request, use_rf)
            except openai.BadRequestError as err:
                if use_rf and _mentions_response_format(err):
                    self._mark_rf_unsupported()
                    continue
                raise ApiError(f"{self.base_url}: the API rejected a request (400: {err.message[:200]}); "
                               "check --model and the [synth] settings") from None
            except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
                raise ApiError(f"{self.base_url}: the API refused the key from ${self.api_key_env} "
                               f"({err.status_code}); set a valid key in that variable or pass --api-key-env") from None
            except openai.NotFoundError:
                raise ApiError(f"{self.base_url}: model '{self.model}' or the chat endpoint was not found (404); "
                               "check --model and --base-url (it usually ends in /v1)") from None
            except openai.APIStatusError as err:
                if err.status_code != 429 and err.status_code < 500:
                    raise ApiError(f"{self.base_url}: the API answered {err.status_code} "
                                   f"({err.message[:200]}); check the [synth] settings") from None
                reason = "429" if err.status_code == 429 else "5xx"
                attempt = await self._backoff(attempt, reason, _retry_after(err.response.headers))
                continue
            except openai.APITimeoutError:
                attempt = await self._backoff(attempt, "timeout", None)
                continue
            except openai.APIConnectionError:
                attempt = await self._backoff(attempt, "connection", None)
                continue
            except _BadBody:
                attempt = await self._backoff(attempt, "bad_body", None)
                continue
            # Durable before it is used: a crash after this line loses nothing.
            self.cache.put(request.key, request.describe(self.base_url, self.model),
                                 {"content": result.content, "usage": result.usage,
                                  "finish_reason": result.finish_reason})
            self.stats.succeeded += 1
            return result

    async def _send(self, request: ChatRequest, use_rf: bool) -> ChatResult:
        body: dict = {"model": self.model, "messages": request.messages}
        body.update((k, v) for k, v in request.params.items() if k != "max_tokens")
        if "max_tokens" in request.params:
            body[self.max_tokens_param] = request.params["max_tokens"]
        if use_rf:
            body["response_format"] = request.response_format
        self.stats.sent += 1
        # The low-level post skips the SDK's per-field transform of the request params
        # (a few ms of CPU per request) and its model construction; errors, auth and
        # status mapping are the SDK's as usual. The body is already plain JSON.
        text = await self._client.post("/chat/completions", body=body, cast_to=str)
        try:
            data = json.loads(text)
            choice = data["choices"][0] if data.get("choices") else {}
            content = (choice.get("message") or {}).get("content") or ""
            usage = data.get("usage") or None
        except (json.JSONDecodeError, AttributeError, TypeError, KeyError, IndexError):
            raise _BadBody() from None
        if usage is not None:
            usage = {"prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens")}
        return ChatResult(content=content, usage=usage, cached=False, finish_reason=choice.get("finish_reason"))

    def _mark_rf_unsupported(self) -> None:
        self._rf_unsupported = True
        self.stats.response_format_fallbacks += 1
        self.cache.set_setting(_RF_SETTING + self.base_url, "1")

    async def _backoff(self, attempt: int, reason: str, retry_after: float | None) -> int:
        self.stats.retries[reason] += 1
        if attempt >= self.retry.max_retries:
            raise ApiError(f"{self.base_url}: gave up after {attempt + 1} attempts (last: {reason}); "
                           "the API looks down or overloaded: rerun later, finished requests are cached "
                           "and will not be resent")
        if retry_after is not None and retry_after <= self.retry.max_retry_after_s:
            delay = retry_after * (1.0 + 0.1 * self._rng.random())
        else:
            ceiling = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** attempt)
            delay = ceiling * (0.5 + 0.5 * self._rng.random())
        await asyncio.sleep(delay)
        return attempt + 1
