"""The Telegram bot: long polling, per-chat conversations, replies like a person texting.

Built on python-telegram-bot's ``Bot`` (Bot API calls over httpx, Telegram's errors as
typed exceptions: ``RetryAfter``, ``NetworkError``/``TimedOut``, ``Forbidden``, ...). The
polling loop is ours rather than ``Application.run_polling``: that one confirms an update
to Telegram as soon as it is fetched, before any reply exists, so a crash mid-reply would
lose the message. Here every update is first written to the journal (trainer/telegram/
journal.py), a reply is committed before it is sent, and the offset only moves past what
is safely on disk: after ``kill -9`` a restart answers nothing twice and loses nothing.

Per chat, one reply is written at a time; messages that arrive meanwhile wait in the
journal and are answered together in the next reply. Different chats are answered
concurrently (the batching engine generates them together). While a reply is being
written the chat shows "typing…"; a reply the persona writes as several lines (a burst,
as consecutive messages were joined in training) goes out as several messages, each cut
at Telegram's 4,096 characters.

The token is never logged: httpx's request log (which prints URLs, token included) is
silenced and every error text is passed through ``redact`` before it becomes an event."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from builder.errors import ClonekitError
from builder.events import Log, OnEvent, ignore_event
from trainer.telegram.allow import AllowList, reply_messages
from trainer.telegram.journal import History, Journal

DEFAULT_REFUSAL = "Sorry, I only chat with people I know here."
RESET_TEXT = "(memory cleared: new conversation)"


class Unanswerable(ClonekitError):
    """Retrying can't help (the newest messages alone overflow the context, or the model
    server refuses the request): those messages get no reply."""


class Backend(Protocol):
    """Writes the persona's reply: ``system`` prompt, ``turns`` oldest first."""

    async def reply(self, system: str, turns: list[dict], contact: str) -> str: ...

    def close(self) -> None: ...


@dataclass
class BotConfig:
    allow: AllowList
    persona: dict
    contact_counts: Any  # Counter of (contact, role) from the training data
    refusal: str = DEFAULT_REFUSAL
    greeting: str = ""  # /start; "" = a short hello in the persona's name
    burst: bool = True
    burst_delay: float = 0.8  # seconds between the messages of a burst (a person types)
    poll_timeout: int = 25
    typing_every: float = 4.0  # Telegram shows "typing…" for ~5 s per action
    max_backoff: float = 60.0
    retry_delay: float = 5.0  # first wait after a failed reply (model server down), doubling


def redact(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


def silence_http_logs() -> None:
    """httpx logs every request URL at INFO, and Bot API URLs contain the token."""
    for name in ("httpx", "httpcore", "telegram", "telegram.ext"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _incoming(update: dict) -> dict | None:
    """The few fields the bot uses from a message update (None for other updates)."""
    msg = update.get("message")  # edits are not new messages: no second reply to a fixed typo
    if not msg or not isinstance(msg.get("text"), str):
        return None
    sender, chat = msg.get("from") or {}, msg.get("chat") or {}
    return {"update_id": int(update["update_id"]), "chat_id": int(chat.get("id", 0)),
            "chat_type": str(chat.get("type", "private")), "user_id": int(sender.get("id", 0)),
            "username": sender.get("username"), "first_name": sender.get("first_name") or "",
            "text": msg["text"]}


def _command(text: str) -> str | None:
    if not text.startswith("/"):
        return None
    return text.split()[0].split("@")[0].lower()


class TelegramBot:
    def __init__(self, bot, backend: Backend, config: BotConfig, journal: Journal, history: History,
                 on_event: OnEvent = ignore_event, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.bot, self.backend, self.config = bot, backend, config
        self.journal, self.history = journal, history
        self.on_event, self.sleep = on_event, sleep
        self.token = getattr(bot, "token", "")
        self.chats: dict[int, asyncio.Task] = {}
        self.replies_sent = 0
        self.stopping = False

    def log(self, message: str, level: str = "info") -> None:
        self.on_event(Log(redact(message, self.token), level))

    # -- Bot API calls that survive the network -------------------------------------------

    async def call(self, what: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """``fn`` with Telegram's 429 retry_after honoured and 5xx / timeouts retried with
        exponential backoff. A request Telegram refuses for good (400, 403) returns None
        after one log line; a rejected token or a second poller raise ClonekitError."""
        from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter

        delay = 1.0
        while True:
            try:
                return await fn(*args, **kwargs)
            except RetryAfter as err:
                wait = err.retry_after.total_seconds() if hasattr(err.retry_after, "total_seconds") \
                    else float(err.retry_after)
                self.log(f"Telegram asks to slow down ({what}): waiting {wait:g}s", "warning")
                await self.sleep(wait)
            except InvalidToken:
                raise ClonekitError("Telegram rejected the bot token (check the environment variable named "
                                    "by --token-env; get a token from @BotFather)") from None
            except Conflict:
                raise ClonekitError("Telegram says another program is polling with this bot token (or a "
                                    "webhook is set): stop the other instance") from None
            except (BadRequest, Forbidden) as err:
                self.log(f"Telegram refused {what}: {err}", "warning")
                return None
            except NetworkError as err:  # 5xx, timeouts, connection errors (TimedOut is one)
                if self.stopping:
                    raise
                self.log(f"{what} failed ({err}); retrying in {delay:g}s", "warning")
                await self.sleep(delay)
                delay = min(delay * 2, self.config.max_backoff)

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        me = await self.call("getMe", self.bot.get_me)
        self.log(f"connected as @{getattr(me, 'username', '?')}; {len(self.config.allow)} allowed; "
                 f"{len(self.journal.pending)} messages waiting from before")
        await self.call("deleteWebhook", self.bot.delete_webhook, drop_pending_updates=False)
        for chat_key in list(self.journal.outbox):
            self._kick(int(chat_key))
        for chat_id in {m["chat_id"] for m in self.journal.pending}:
            self._kick(chat_id)
        poll = asyncio.ensure_future(self._poll(stop))
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({poll, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if poll.done():
                poll.result()  # a fatal error (bad token, second poller) ends the bot
        finally:
            self.stopping = True
            for task in (poll, waiter, *self.chats.values()):
                task.cancel()
            await asyncio.gather(poll, waiter, *self.chats.values(), return_exceptions=True)
            self.journal.save()

    async def _poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            updates = await self.call(
                "getUpdates", self.bot.get_updates, offset=self.journal.offset or None,
                timeout=self.config.poll_timeout, allowed_updates=["message"],
                read_timeout=self.config.poll_timeout + 10)
            if not updates:
                continue
            fresh = []
            known = {m["update_id"] for m in self.journal.pending}
            for update in updates:
                data = update.to_dict() if hasattr(update, "to_dict") else dict(update)
                self.journal.offset = max(self.journal.offset, int(data["update_id"]) + 1)
                msg = _incoming(data)
                if msg is not None and msg["update_id"] not in known:
                    fresh.append(msg)
            self.journal.pending.extend(fresh)
            self.journal.save()  # before the next getUpdates confirms them to Telegram
            for chat_id in {m["chat_id"] for m in fresh}:
                self._kick(chat_id)

    def _kick(self, chat_id: int) -> None:
        task = self.chats.get(chat_id)
        if task is None or task.done():
            self.chats[chat_id] = asyncio.ensure_future(self._chat(chat_id))

    async def _chat(self, chat_id: int) -> None:
        """Send what is committed for this chat, then answer what waits, until nothing does.
        A failed reply (model server down, generation error) is retried with backoff; its
        messages stay in the journal meanwhile."""
        delay = self.config.retry_delay
        while True:
            try:
                if str(chat_id) in self.journal.outbox:
                    await self._send_outbox(chat_id)
                    continue
                waiting = [m for m in self.journal.pending if m["chat_id"] == chat_id]
                if not waiting:
                    return
                await self._answer(chat_id, waiting)
                delay = self.config.retry_delay
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 — one chat's failure must not stop the others
                self.log(f"chat {chat_id}: no reply yet ({type(err).__name__}: {err}); retrying in {delay:g}s",
                         "warning")
                await self.sleep(delay)
                delay = min(delay * 2, self.config.max_backoff)

    # -- one reply ------------------------------------------------------------------------

    async def _answer(self, chat_id: int, waiting: list[dict]) -> None:
        first = waiting[0]
        group = first["chat_type"] != "private"
        who = self.config.allow.group(chat_id) if group else \
            self.config.allow.person(first["user_id"], first["username"])
        if who is None:
            parts = []
            if not group and self.journal.first_refusal(first["user_id"]):
                parts = [self.config.refusal]
            self._commit(chat_id, waiting, parts, [])
            return
        contact = who.contact or first["first_name"] or "someone"
        turns: list[dict] = []
        parts: list[str] = []
        for msg in waiting:
            command = _command(msg["text"])
            if command == "/start":
                parts.append(self.config.greeting or f"hi! it's {self.config.persona.get('name') or 'me'} 🙂")
            elif command == "/reset":
                self.history.reset(chat_id)
                turns = []
                parts.append(RESET_TEXT)
            elif command is None or group:
                name = contact
                if group:
                    person = self.config.allow.person(msg["user_id"], msg["username"])
                    name = (person.contact if person and person.contact else msg["first_name"]) or "someone"
                if turns and turns[-1]["name"] == name:
                    turns[-1]["content"] += "\n" + msg["text"]  # consecutive messages: one turn, as in training
                else:
                    turns.append({"role": "user", "content": msg["text"], "name": name})
        if not turns:
            self._commit(chat_id, waiting, parts, [])
            return
        from trainer.prompting import persona_system_prompt, resolve_contact

        contact, role = resolve_contact(self.config.contact_counts, contact, who.role or None)
        system = persona_system_prompt(self.config.persona, contact, role)
        typing = asyncio.ensure_future(self._typing(chat_id))
        try:
            text = await self.backend.reply(system, self.history.get(chat_id) + turns, contact)
        except Unanswerable as err:
            self.log(f"chat {chat_id}: {err}; those messages are not answered", "warning")
            self._commit(chat_id, waiting, parts, [])
            return
        finally:
            typing.cancel()
        reply_parts = reply_messages(text, burst=self.config.burst)
        if not reply_parts:
            self.log(f"chat {chat_id}: the model wrote an empty reply; nothing sent")
        assistant = [{"role": "assistant", "content": text.strip()}] if text.strip() else []
        self._commit(chat_id, waiting, parts + reply_parts, turns + assistant)

    def _commit(self, chat_id: int, answered: list[dict], parts: list[str], turns: list[dict]) -> None:
        """The reply is decided: record it to send, drop its messages from pending, keep the turns."""
        done = {m["update_id"] for m in answered}
        self.journal.pending = [m for m in self.journal.pending if m["update_id"] not in done]
        if parts:
            self.journal.outbox[str(chat_id)] = {"parts": parts, "sent": 0}
        if turns:
            self.history.add(chat_id, turns)
        self.journal.save()

    async def _send_outbox(self, chat_id: int) -> None:
        box = self.journal.outbox[str(chat_id)]
        while box["sent"] < len(box["parts"]):
            if box["sent"]:
                await self._typing_once(chat_id)
                await self.sleep(self.config.burst_delay)
            await self.call("sendMessage", self.bot.send_message, chat_id=chat_id, text=box["parts"][box["sent"]])
            box["sent"] += 1
            self.journal.save()
        del self.journal.outbox[str(chat_id)]
        self.replies_sent += 1
        self.journal.save()

    async def _typing(self, chat_id: int) -> None:
        while True:
            await self._typing_once(chat_id)
            await asyncio.sleep(self.config.typing_every)

    async def _typing_once(self, chat_id: int) -> None:
        from telegram.error import TelegramError

        try:
            await self.bot.send_chat_action(chat_id=chat_id, action="typing")
        except TelegramError as err:  # cosmetic: never worth a retry
            self.log(f"typing indicator for chat {chat_id} not shown: {err}")


# -- backends ------------------------------------------------------------------------------

class LocalBackend:
    """The model in this process, through `clonekit serve`'s engine (batching included)."""

    def __init__(self, engine, settings, history_tokens: int = 3000) -> None:
        self.engine, self.settings, self.history_tokens = engine, settings, history_tokens

    async def reply(self, system: str, turns: list[dict], contact: str) -> str:
        import dataclasses

        from trainer.generate import Reply
        from trainer.prompting import build_prompt
        from trainer.serve import Job
        from trainer.serve_protocol import RequestError

        prompt = build_prompt(self.engine.tokenizer, system, turns, contact, history_tokens=self.history_tokens)
        room = self.engine.context - len(prompt.input_ids)
        if room < 1:
            raise Unanswerable(f"the prompt ({len(prompt.input_ids)} tokens) fills the model's context "
                                f"({self.engine.context}); lower --history-tokens if this repeats")
        settings = dataclasses.replace(self.settings, max_new_tokens=min(self.settings.max_new_tokens, room))
        job = Job(prompt.input_ids, settings, [], None)
        try:
            self.engine.submit(job)
            while True:
                item = await asyncio.to_thread(job.out.get)
                if isinstance(item, Reply):
                    return item.text
                if isinstance(item, RequestError) and item.status == 400:
                    raise item
                if isinstance(item, Exception):
                    raise ClonekitError(f"generation failed: {item}")
        except RequestError as err:
            if err.status != 400:  # 503: the engine is full; the chat retries later
                raise
            # Over --max-batch-tokens on its own: waiting can't make it fit.
            raise Unanswerable(f"{err.message} (for the bot: raise --max-batch-tokens, or lower --history-tokens "
                               "or --max-new-tokens)") from None
        finally:
            job.cancel.cancel()  # a no-op when done; frees the batch row when the bot stops

    def close(self) -> None:
        self.engine.close()


class OpenAIBackend:
    """Any OpenAI-compatible server (`clonekit serve`, vLLM, Ollama): the same persona
    prompt and the turns that fit, sent as messages; the server applies the template."""

    def __init__(self, base_url: str, model: str, tokenizer, settings, history_tokens: int = 3000,
                 api_key: str | None = None, timeout: float = 300.0, tries: int = 3) -> None:
        import httpx

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.tokenizer, self.settings = model, tokenizer, settings
        self.history_tokens, self.tries = history_tokens, tries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers)

    async def reply(self, system: str, turns: list[dict], contact: str) -> str:
        import httpx

        from trainer.prompting import build_prompt

        kept = build_prompt(self.tokenizer, system, turns, contact, history_tokens=self.history_tokens).kept_turns
        body = {"model": self.model, "messages": [{"role": "system", "content": system}] + turns[-kept:],
                "temperature": self.settings.temperature, "top_p": self.settings.top_p,
                "max_tokens": self.settings.max_new_tokens}
        delay = 1.0
        for attempt in range(self.tries):
            try:
                resp = await self.client.post(self.url, json=body)
            except httpx.HTTPError as err:
                problem = f"{type(err).__name__}: {err}"
            else:
                if resp.status_code == 200:
                    return resp.json()["choices"][0]["message"]["content"] or ""
                if resp.status_code not in (429, 500, 502, 503, 504):
                    raise Unanswerable(f"--openai-base {self.url}: HTTP {resp.status_code}: {resp.text[:200]}")
                problem = f"HTTP {resp.status_code}"
                retry_after = resp.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            if attempt == self.tries - 1:
                raise ClonekitError(f"--openai-base {self.url}: {problem} ({self.tries} tries)")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    def close(self) -> None:
        try:
            asyncio.get_running_loop().create_task(self.client.aclose())
        except RuntimeError:
            asyncio.run(self.client.aclose())


def make_bot(token: str, api_base: str, poll_timeout: int):
    """python-telegram-bot's Bot pointed at ``api_base`` (a local Bot API server or a test double)."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    silence_http_logs()
    base = api_base.rstrip("/")
    return Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
               request=HTTPXRequest(connection_pool_size=16, read_timeout=30, write_timeout=30),
               get_updates_request=HTTPXRequest(read_timeout=poll_timeout + 10))
