"""clonekit tui [WORKSPACE]: open the terminal UI on a workspace folder (default: the
current folder). `clonekit` with no arguments runs this."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "tui",
        help="open the terminal UI (the default when no command is given)",
        description="Walk through sources -> people -> persona -> balance -> synthesize -> filter -> "
        "preview & version -> train -> chat in the terminal. All settings live in WORKSPACE/clonekit.toml.",
    )
    p.add_argument("workspace", nargs="?", default=".", metavar="WORKSPACE",
                   help="workspace folder holding clonekit.toml (created if missing; default: .)")
    return p


def run(args: argparse.Namespace) -> int:
    import sys

    from builder.errors import ClonekitError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ClonekitError("the terminal UI needs a terminal (stdin and stdout are not one); "
                            "run a command instead (clonekit --help)")
    from tui.app import run_app

    return run_app(args.workspace)
