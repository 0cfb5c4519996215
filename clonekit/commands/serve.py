"""clonekit serve RUN : an OpenAI-compatible HTTP API for a trained clone."""

from __future__ import annotations

import argparse

from clonekit.commands.chat import add_static_cache_arg


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "serve", help="serve a trained clone over an OpenAI-compatible HTTP API",
        description="POST /v1/chat/completions (streaming or not) and GET /v1/models. Binds to "
        "127.0.0.1 unless --host says otherwise; one reply is generated at a time, others wait.")
    p.add_argument("run", metavar="RUN", help="run folder or run id")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default 8000")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="require 'Authorization: Bearer KEY', KEY read from this environment variable")
    p.add_argument("--merged", metavar="DIR", help="serve a merged model folder from `clonekit merge`")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    add_static_cache_arg(p)
    return p


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from builder.errors import ClonekitError
    from clonekit.commands.chat import quiet_transformers
    from clonekit.progress import ProgressPrinter
    from trainer.serve import serve_run

    if not 0 <= args.port <= 65535:
        raise ClonekitError(f"--port {args.port}: must be 0..65535")
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
                  device=args.device, static_cache=args.static_cache, on_event=ProgressPrinter(), on_ready=ready)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
