"""The `clonekit` console script. Each subcommand lives in clonekit/commands/<name>.py
and exposes ``register(subparsers)`` and ``run(args) -> int``. Command modules import
only argparse-level code at module level so every ``--help`` answers in well under a
second; heavy libraries (polars, torch, textual) are imported inside ``run``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from builder import __version__
from builder.atomic import PRIVATE_UMASK
from builder.errors import Cancelled, ClonekitError

# Order is the order shown in --help.
COMMANDS = [
    "tui", "demo", "ingest", "build", "datasets", "pii-report", "export", "synth",
    "train", "runs", "chat", "compare", "merge", "gguf", "serve", "telegram", "eval", "blind",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clonekit",
        description="Turn your chat history into a model that talks like you. "
        "Run without arguments to open the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"clonekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        modname = f"clonekit.commands.{name.replace('-', '_')}"  # pii-report -> pii_report.py
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as err:
            if err.name != modname:
                raise
            continue  # command not built yet
        command = module.register(sub)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Libraries' own deprecation notices (transformers, peft, torch) are not something a
    # user can act on; they would bury our progress output.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Datasets, runs, caches and exports all derive from private chats: owner-only.
    os.umask(PRIVATE_UMASK)
    parser = build_parser()
    if not argv and not (sys.stdin.isatty() and sys.stdout.isatty()):
        # The TUI needs a terminal; without one (a pipe, a log file, cron) it would hang
        # writing escape codes.
        parser.print_help(sys.stderr)
        print("clonekit: no terminal for the UI; run a COMMAND (e.g. clonekit demo)", file=sys.stderr)
        return 2
    args = parser.parse_args(argv or ["tui"])
    try:
        return int(args._run(args) or 0)
    except Cancelled as err:
        print(f"clonekit: {err}", file=sys.stderr)
        return err.exit_code
    except ClonekitError as err:
        print(f"clonekit: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("clonekit: interrupted; nothing partial was written", file=sys.stderr)
        return 130
