"""clonekit synth VERSION --mode ... : synthetic expansion through an OpenAI-compatible API."""

from __future__ import annotations

import argparse

# CLI flag -> SynthConfig key
_FLAGS = {
    "mode": "mode", "n": "n", "model": "model", "base_url": "base_url", "api_key_env": "api_key_env",
    "per_call": "per_call", "turns": "turns", "few_shot": "few_shot", "contact": "contacts", "seed": "seed",
    "concurrency": "concurrency", "rpm": "requests_per_min", "tpm": "tokens_per_min", "timeout": "timeout_s",
    "max_retries": "max_retries", "max_cost": "max_cost", "max_tokens": "max_tokens",
    "share": "synthetic_share", "temperature": "temperature", "max_output_tokens": "max_output_tokens",
    "cache_dir": "cache_dir", "root": "root", "tokenizer": "tokenizer",
}


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "synth",
        help="expand a dataset version with synthetic data from an OpenAI-compatible API",
        description="Generate synthetic records (self-instruct, facts about you, whole conversations) "
        "through any OpenAI-compatible API and write them as a new dataset version whose parent is VERSION. "
        "Requests are cached: a rerun after a crash or Ctrl-C resends nothing that succeeded. "
        "The key is read from $OPENAI_API_KEY (or --api-key-env NAME) and never written anywhere. "
        "With --max-cost/--max-tokens the run stops before crossing the budget and writes what completed.",
    )
    p.add_argument("version", metavar="VERSION", help="NAME, NAME/vNNNN or a version folder")
    p.add_argument("--mode", choices=["self-instruct", "facts", "conversations"])
    p.add_argument("--n", type=int, help="synthetic records wanted (default 50)")
    p.add_argument("--model", help="model name (default gpt-4o-mini)")
    p.add_argument("--base-url", help="API base URL (default https://api.openai.com/v1)")
    p.add_argument("--api-key-env", metavar="NAME", help="environment variable holding the key (default OPENAI_API_KEY)")
    p.add_argument("--config", metavar="FILE.toml", help="read a [synth] table (prices, limits, ...) from this file")
    p.add_argument("--per-call", type=int, help="items per request in self-instruct/facts (default 5)")
    p.add_argument("--turns", type=int, help="messages per synthetic conversation (default 6)")
    p.add_argument("--few-shot", type=int, help="real exchanges shown per request (default 4)")
    p.add_argument("--contact", action="append", help="only this contact (repeatable)")
    p.add_argument("--seed", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--max-output-tokens", type=int, help="per request (default 1024)")
    p.add_argument("--concurrency", type=int, help="requests in flight (default 8)")
    p.add_argument("--rpm", type=float, help="client-side limit, requests per minute")
    p.add_argument("--tpm", type=float, help="client-side limit, tokens per minute")
    p.add_argument("--timeout", type=float, help="seconds per request (default 120)")
    p.add_argument("--max-retries", type=int, help="per request (default 8)")
    p.add_argument("--max-cost", type=float, metavar="USD", help="hard budget in US dollars")
    p.add_argument("--max-tokens", type=int, help="hard budget in input+output tokens")
    p.add_argument("--share", type=float, help="max synthetic share of train tokens (default 0.3)")
    p.add_argument("--tokenizer", help="token counting spec (default: the version's)")
    p.add_argument("--cache-dir", help="request cache folder (default $CLONEKIT_CACHE or ./.clonekit-cache)")
    p.add_argument("--root", help="datasets root (default $CLONEKIT_DATASETS or ./datasets)")
    p.add_argument("--dry-run", action="store_true", help="print requests, tokens and cost; send nothing")
    return p


def run(args: argparse.Namespace) -> int:
    from builder.synth.config import load_synth_config
    from builder.synth.synth import plan_synth, run_synth
    from clonekit.progress import ProgressPrinter

    overrides = {key: getattr(args, flag) for flag, key in _FLAGS.items()}
    overrides["version"] = args.version
    cfg = load_synth_config(args.config, overrides)
    if args.dry_run:
        plan = plan_synth(cfg)
        print("dry run: nothing sent")
        for line in plan.summary_lines():
            print(line)
        return 0
    from builder.curate.store import NothingChanged
    from builder.errors import ClonekitError

    printer = ProgressPrinter()
    try:
        path = run_synth(cfg, on_event=printer)
    except NothingChanged as unchanged:
        raise ClonekitError(f"no synthetic record was kept, so nothing changed since {unchanged.ref}; "
                            "nothing was written (see the warnings above for why records were dropped)") from None
    finally:
        printer.close()
    print(path)
    return 0
