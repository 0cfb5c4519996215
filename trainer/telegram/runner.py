"""Start the bot for a run: load the model (or point at an OpenAI-compatible server),
open the journal and history, poll until stopped (SIGINT/SIGTERM or ``stop``)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import ClonekitError
from builder.events import Log, OnEvent, ignore_event
from trainer.generate import SamplingSettings

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
API_BASE = "https://api.telegram.org"


@dataclass
class TelegramOptions:
    run: str
    allow: list[str]
    token_env: str = TOKEN_ENV
    api_base: str = API_BASE
    merged: str | None = None
    openai_base: str | None = None
    model: str | None = None
    openai_key_env: str | None = None
    history_db: str | None = None
    state: str | None = None  # default: <run>/telegram/state.json
    device: str | None = None
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    history_tokens: int = 3000
    refusal: str | None = None
    greeting: str = ""
    burst: bool = True
    burst_delay: float = 0.8
    batching: bool = True  # the in-process engine, as `clonekit serve` (--one-at-a-time: False)
    max_batch: int | None = None
    max_batch_tokens: int | None = None
    poll_timeout: int = 25
    retry_delay: float = 5.0


def read_token(env: str) -> str:
    token = os.environ.get(env, "").strip()
    if not token:
        raise ClonekitError(f"--token-env {env}: that environment variable is empty or unset; "
                            f"export {env}=<the token from @BotFather> (never pass it as a flag)")
    return token


def run_telegram(opts: TelegramOptions, on_event: OnEvent = ignore_event,
                 stop: threading.Event | None = None, on_ready=None) -> int:
    """Serve until stopped; returns how many replies were sent in this session."""
    from trainer.inference import load_model, load_tokenizer, open_run, stop_ids
    from trainer.prompting import contact_roles
    from trainer.telegram.allow import parse_allow
    from trainer.telegram.bot import DEFAULT_REFUSAL, BotConfig, LocalBackend, OpenAIBackend, TelegramBot, make_bot
    from trainer.telegram.journal import History, Journal

    token = read_token(opts.token_env)
    allow = parse_allow(opts.allow)
    if opts.openai_base and not opts.model:
        raise ClonekitError("--openai-base needs --model NAME (the model name that server serves)")
    run = open_run(opts.run)
    journal = Journal.open(opts.state or Path(run.path) / "telegram" / "state.json")
    history = History(opts.history_db)
    counts = contact_roles(run.info.get("dataset"))
    if opts.openai_base:
        key = os.environ.get(opts.openai_key_env) if opts.openai_key_env else None
        tokenizer = load_tokenizer(opts.merged or run.tokenizer_dir)
        backend = OpenAIBackend(opts.openai_base, opts.model, tokenizer, opts.settings, opts.history_tokens, key)
    else:
        from trainer.serve import Engine

        on_event(Log(f"loading {run.run_id}"))
        model, tokenizer = load_model(run, merged=opts.merged or False, device=opts.device)
        engine = Engine(model, tokenizer, run.run_id, run.persona, stop_ids(run, tokenizer), counts,
                        static_cache=opts.settings.static_cache, batching=opts.batching,
                        max_batch=opts.max_batch, max_batch_tokens=opts.max_batch_tokens)
        backend = LocalBackend(engine, opts.settings, opts.history_tokens)
    config = BotConfig(allow=allow, persona=run.persona, contact_counts=counts,
                       refusal=opts.refusal or DEFAULT_REFUSAL, greeting=opts.greeting, burst=opts.burst,
                       burst_delay=opts.burst_delay, poll_timeout=opts.poll_timeout, retry_delay=opts.retry_delay)

    async def main() -> int:
        bot = make_bot(token, opts.api_base, opts.poll_timeout)
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        if stop is None and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, done.set)
        elif stop is not None:
            threading.Thread(target=lambda: (stop.wait(), loop.call_soon_threadsafe(done.set)),
                             daemon=True).start()
        core = TelegramBot(bot, backend, config, journal, history, on_event)
        await core.call("connect", bot.initialize)
        if on_ready is not None:
            on_ready()
        try:
            await core.run(done)
        finally:
            await bot.shutdown()
            if isinstance(backend, OpenAIBackend):
                await backend.client.aclose()
        left = len(journal.pending)
        on_event(Log(f"stopped: {core.replies_sent} replies sent" +
                     (f"; {left} messages will be answered on the next start" if left else "") +
                     (f"; {journal.unknown_users} unknown users refused so far" if journal.unknown_users else "")))
        return core.replies_sent

    try:
        return asyncio.run(main())
    finally:
        if not opts.openai_base:
            backend.close()
        history.close()
