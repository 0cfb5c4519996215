"""clonekit telegram RUN : put the clone on Telegram for the people you allow."""

from __future__ import annotations

import argparse
import os

from clonekit.commands.chat import add_sampling_args
from clonekit.commands.serve import add_batching_flags


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "telegram", help="let the people you allow talk to the clone on Telegram", allow_abbrev=False,
        description="A Telegram bot (long polling: no public address needed) that answers as the clone. "
        "Create a bot with @BotFather, export its token in TELEGRAM_BOT_TOKEN (or the variable named by "
        "--token-env) and list who may talk to it with --allow. Anyone else gets one polite refusal. "
        "In a chat: /start greets, /reset starts a new conversation.",
        epilog="--allow forms: 12345678=Alex  @username=Mum:family  12345678 (their Telegram name)  "
        "chat:-1001234567='Book club:friends' (a group; groups are refused unless listed). The part "
        "after ':' is the role tag the persona prompt uses (default: the role the training data knows).")
    p.add_argument("run", metavar="RUN", help="run folder or run id (its persona card and tokenizer are used)")
    p.add_argument("--allow", action="append", default=[], metavar="SPEC", required=True,
                   help="who may talk to the clone, as whom (repeat for each person or group)")
    p.add_argument("--token-env", default="TELEGRAM_BOT_TOKEN", metavar="VAR",
                   help="environment variable holding the bot token (default TELEGRAM_BOT_TOKEN)")
    p.add_argument("--api-base", default="https://api.telegram.org", metavar="URL",
                   help="Bot API server (default https://api.telegram.org; or a local telegram-bot-api)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--merged", metavar="DIR", help="run a merged model folder from `clonekit merge`")
    where.add_argument("--openai-base", metavar="URL",
                       help="generate with an OpenAI-compatible server instead (clonekit serve, vLLM, Ollama), "
                       "e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", metavar="NAME", help="with --openai-base: the model name to ask for")
    p.add_argument("--openai-key-env", metavar="VAR", help="with --openai-base: env variable holding its API key")
    p.add_argument("--history-db", metavar="FILE",
                   help="keep conversations in this SQLite file across restarts (off by default: private data)")
    p.add_argument("--state", metavar="FILE",
                   help="the bot's journal (update offset, unanswered messages; default RUN/telegram/state.json)")
    p.add_argument("--history-tokens", type=int, default=3000,
                   help="token budget of the conversation kept in the prompt, newest first (default 3000)")
    p.add_argument("--refusal", metavar="TEXT", help="what people not on the allow list are told, once")
    p.add_argument("--greeting", metavar="TEXT", default="", help="the answer to /start")
    p.add_argument("--no-burst", dest="burst", action="store_false",
                   help="send each reply as one message (default: one message per line, as people text)")
    p.add_argument("--burst-delay", type=float, default=0.8, metavar="S",
                   help="seconds between the messages of a burst (default 0.8)")
    add_sampling_args(p)
    add_batching_flags(p.add_argument_group("batching (the in-process model; not with --openai-base)"))
    return p


def run(args: argparse.Namespace) -> int:
    import sys

    from builder.errors import ClonekitError
    from clonekit.commands.chat import quiet_transformers, sampling_from_args
    from clonekit.commands.serve import batching_flags_given, batching_from_args
    from clonekit.progress import ProgressPrinter
    from trainer.telegram.runner import TelegramOptions, run_telegram

    if args.model and not args.openai_base:
        raise ClonekitError("--model goes with --openai-base (an in-process model is the run itself)")
    if args.history_tokens < 1:
        raise ClonekitError(f"--history-tokens {args.history_tokens}: must be 1 or more")
    if args.openai_base and (given := batching_flags_given(args)):
        raise ClonekitError(f"{', '.join(given)}: not with --openai-base (that server does its own batching; "
                            "give these flags to `clonekit serve` there)")
    batching = {} if args.openai_base else batching_from_args(args)
    quiet_transformers()
    opts = TelegramOptions(
        run=args.run, allow=args.allow, token_env=args.token_env, api_base=args.api_base, merged=args.merged,
        openai_base=args.openai_base, model=args.model, openai_key_env=args.openai_key_env,
        history_db=args.history_db, state=args.state, device=args.device, settings=sampling_from_args(args),
        history_tokens=args.history_tokens, refusal=args.refusal, greeting=args.greeting, burst=args.burst,
        burst_delay=args.burst_delay, **batching)
    run_telegram(opts, on_event=ProgressPrinter(),
                 on_ready=lambda: print("the bot is listening (Ctrl-C to stop)", file=sys.stderr, flush=True))
    # Stopped cleanly and the journal is written. A native worker thread left by the model
    # libraries can abort the interpreter's teardown ("terminate called without an active
    # exception", exit -6) after a Ctrl-C, so leave without that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
