"""clonekit serve RUN : an OpenAI-compatible HTTP API for a trained clone."""

from __future__ import annotations

import argparse

from clonekit.commands.chat import add_static_cache_arg


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "serve", help="serve a trained clone over an OpenAI-compatible HTTP API",
        description="POST /v1/chat/completions (streaming or not) and GET /v1/models. Binds to "
        "127.0.0.1 unless --host says otherwise. Concurrent requests are batched: they share one forward pass "
        "per token, a new request joins at the next step. The port answers 503 (Retry-After) while the "
        "model loads.")
    p.add_argument("run", metavar="RUN", help="run folder or run id")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default 8000")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="require 'Authorization: Bearer KEY', KEY read from this environment variable")
    p.add_argument("--merged", metavar="DIR", help="serve a merged model folder from `clonekit merge`")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    add_static_cache_arg(p)
    add_batching_flags(p)
    return p


BATCHING_FLAGS = ("--one-at-a-time", "--max-batch", "--max-batch-tokens")


def add_batching_flags(p) -> None:
    """--one-at-a-time, --max-batch, --max-batch-tokens: how the in-process engine batches
    (`clonekit serve`, `clonekit telegram`). Unset values stay None; see batching_from_args."""
    p.add_argument("--one-at-a-time", action="store_true",
                   help="generate one reply at a time, others wait (the pre-batching worker; with "
                   "--static-cache it runs the compiled single-stream loop)")
    p.add_argument("--max-batch", type=int, metavar="N",
                   help="most requests generated together (default 32); more wait for a free row")
    p.add_argument("--max-batch-tokens", type=int, metavar="N",
                   help="key/value cache budget of the batch in tokens (rows x longest prompt+max_tokens); "
                   "requests wait until they fit, one over it alone gets a 400 (default: half the GPU memory "
                   "free after loading; on a CPU, --max-batch full contexts)")


def batching_flags_given(args: argparse.Namespace) -> list[str]:
    """The batching flags set on the command line (for commands where they don't apply)."""
    given = [args.one_at_a_time, args.max_batch is not None, args.max_batch_tokens is not None]
    return [flag for flag, on in zip(BATCHING_FLAGS, given) if on]


def batching_from_args(args: argparse.Namespace) -> dict:
    """Validated Engine keyword arguments (batching, max_batch, max_batch_tokens)."""
    import sys

    from builder.errors import ClonekitError

    if args.max_batch is not None and args.max_batch < 1:
        raise ClonekitError(f"--max-batch {args.max_batch}: must be 1 or more")
    if args.max_batch_tokens is not None and args.max_batch_tokens < 1:
        raise ClonekitError(f"--max-batch-tokens {args.max_batch_tokens}: must be 1 or more")
    one_at_a_time = args.one_at_a_time
    if getattr(args, "static_cache", None) and not one_at_a_time:
        print("note: --static-cache runs the compiled single-stream loop: one reply at a time", file=sys.stderr)
        one_at_a_time = True
    return {"batching": not one_at_a_time, "max_batch": args.max_batch, "max_batch_tokens": args.max_batch_tokens}


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from builder.errors import ClonekitError
    from clonekit.commands.chat import quiet_transformers
    from clonekit.progress import ProgressPrinter
    from trainer.serve import serve_run

    if not 0 <= args.port <= 65535:
        raise ClonekitError(f"--port {args.port}: must be 0..65535")
    batching = batching_from_args(args)
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise ClonekitError(f"--api-key-env {args.api_key_env}: that environment variable is empty or unset")
    if args.host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        print(f"warning: listening on {args.host} without --api-key-env: anyone who can reach this "
              "address can talk to your clone", file=sys.stderr)
    quiet_transformers()

    def ready(url: str) -> None:
        print(f"serving on {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)

    try:
        serve_run(args.run, host=args.host, port=args.port, api_key=api_key, merged=args.merged,
                  device=args.device, static_cache=args.static_cache, **batching,
                  on_event=ProgressPrinter(), on_ready=ready)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
