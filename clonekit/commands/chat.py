"""clonekit chat RUN : talk to a trained clone in the terminal."""

from __future__ import annotations

import argparse


def add_sampling_args(p: argparse.ArgumentParser, temperature: float = 0.7) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("--temperature", type=float, default=temperature, help=f"0 = greedy (default {temperature})")
    g.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
    g.add_argument("--repetition-penalty", type=float, default=1.1, help="default 1.1")
    g.add_argument("--max-new-tokens", type=int, default=256, help="longest reply in tokens (default 256)")
    g.add_argument("--device", default="auto", help="auto (GPU when there is one), cpu, cuda, cuda:1")
    add_static_cache_arg(g)


def add_static_cache_arg(p) -> None:
    p.add_argument("--static-cache", action=argparse.BooleanOptionalAction, default=None,
                   help="static KV cache and a compiled one-token decode step (CUDA graphs): about 4x "
                   "the tokens/s on a GPU. Default: on a GPU it compiles in the background (tens of seconds "
                   "for a 7B model) while replies come from the plain path, then switches; --static-cache "
                   "waits for the compile instead, --no-static-cache never compiles")


def sampling_from_args(args: argparse.Namespace):
    from trainer.generate import SamplingSettings

    return SamplingSettings(temperature=args.temperature, top_p=args.top_p,
                            repetition_penalty=args.repetition_penalty,
                            max_new_tokens=args.max_new_tokens,
                            static_cache=getattr(args, "static_cache", None))


def quiet_transformers() -> None:
    """Loading bars and deprecation chatter from transformers would garble the chat."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "chat", help="talk to a trained clone in the terminal",
        description="Chat with a trained run. Type as a contact (--as) or role (--role); the prompt "
        "is built exactly as in training. Slash commands: /as /role /temp /reset /save /help /quit. "
        "With stdin not a terminal: one message per line in, one reply per line out.")
    p.add_argument("run", metavar="RUN", help="run folder or run id (under $CLONEKIT_RUNS or ./runs)")
    p.add_argument("--as", dest="contact", metavar="NAME", help="talk as this contact")
    p.add_argument("--role", metavar="ROLE", help="talk as someone with this role (boss, friend, ...)")
    p.add_argument("--history-tokens", type=int, default=3000,
                   help="token budget for the conversation kept in the prompt (default 3000)")
    p.add_argument("--merged", metavar="DIR", help="use a merged model folder from `clonekit merge`")
    add_sampling_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    quiet_transformers()
    from trainer.chat_repl import run_repl, start_session

    session, run_path = start_session(
        args.run, contact=args.contact, role=args.role, settings=sampling_from_args(args),
        history_tokens=args.history_tokens, merged=args.merged, device=args.device)
    return run_repl(session, history_file=run_path / ".chat_history")
