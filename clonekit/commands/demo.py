"""clonekit demo [--workspace DIR] [--no-tui] [--steps N]: the whole flow on the bundled
fictional exports. Creates (or refreshes) the demo workspace and opens the TUI on it;
--no-tui runs the same steps headless: build a version, train the tiny model, and print
a short chat with the clone as the partner and as the boss."""

from __future__ import annotations

import argparse

DEFAULT_STEPS = 500  # about a minute on 2 idle CPU cores; the clone starts to sound like Sam
PROMPTS = [
    ("Alex", "partner", ["are you home for dinner tonight?", "what shall we cook"]),
    ("Helen Marsh", "boss", ["Hi Sam, could you send me the Orchard mockups by Friday?"]),
]


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="try clonekit on bundled fictional chats (opens the TUI; --no-tui runs it all headless)",
        description="Create the demo workspace from the bundled sample exports of 'Sam' and open the TUI on it. "
        "With --no-tui: build a dataset version, train the tiny offline model on CPU and print a short chat.",
    )
    p.add_argument("--workspace", default="demo-workspace", metavar="DIR",
                   help="where to create the demo workspace (default: ./demo-workspace)")
    p.add_argument("--no-tui", action="store_true", help="run build -> train -> chat headless and print the results")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, metavar="N",
                   help=f"training steps for --no-tui (default {DEFAULT_STEPS}: a few minutes on 2 CPU cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    from builder.demo_workspace import create_demo_workspace
    from builder.errors import ClonekitError

    if args.steps < 1:
        raise ClonekitError(f"--steps: must be at least 1 (got {args.steps})")
    ws = create_demo_workspace(args.workspace)
    if not args.no_tui:
        from tui.app import CloneKitApp

        CloneKitApp(ws).run()
        return 0
    return run_headless(ws, args.steps, quiet=args.quiet)


def run_headless(ws, steps: int, quiet: bool = False) -> int:
    from builder.curate.build import build
    from builder.curate.store import NothingChanged
    from clonekit.progress import ProgressPrinter
    from trainer.chat_repl import start_session
    from trainer.generate import SamplingSettings
    from trainer.run_dir import new_run_id
    from trainer.train import TrainRequest, train

    print(f"demo workspace: {ws.root}")
    printer = ProgressPrinter(quiet=quiet)
    try:
        version = build(ws.build_config(), on_event=printer)
        print(f"dataset version: {version}")
    except NothingChanged as unchanged:  # a re-run: the version it would write exists
        version = unchanged.path
        print(f"dataset version: {version} (nothing changed since the last run; reused)")
    finally:
        printer.close()
    out = ws.runs_root / new_run_id(f"{version.parent.name}/{version.name}")
    printer = ProgressPrinter(quiet=quiet)
    try:
        run_dir = train(TrainRequest(data=str(version), base="tiny", preset="tiny-cpu",
                                     overrides={"max_steps": steps, "eval_steps": max(10, steps // 10)}, out=out), on_event=printer)
    finally:
        printer.close()
    print(f"run: {run_dir}")
    settings = SamplingSettings(temperature=0.5, max_new_tokens=48)
    session, _ = start_session(str(run_dir), contact=PROMPTS[0][0], settings=settings, device="cpu")
    name = session.persona.get("name") or "clone"
    for contact, role, lines in PROMPTS:
        session.talk_as(contact, role)
        session.history = []
        print(f"\n-- talking as {contact} ({role})")
        for line in lines:
            reply = session.reply(line)
            print(f"{contact}: {line}")
            print(f"{name}: {reply.text.strip() or '(empty reply)'}")
    print(f"\nversion: {version}\nrun: {run_dir}")
    print(f"chat with it: clonekit chat {run_dir}   ·   open the TUI: clonekit tui {ws.root}")
    print(closing_lines(version))
    return 0


def closing_lines(version) -> str:
    """The demo's model is tiny and trained from scratch in a minute: it proves the
    pipeline, it is not a clone. Say so, and show the one command for a real one."""
    return ("\nnote: the tiny offline model only proves the pipeline works end to end; it babbles by design.\n"
            "for a clone that sounds like you, train a real base on a GPU:\n"
            f"  clonekit train --data {version} --base Qwen/Qwen2.5-7B-Instruct")
