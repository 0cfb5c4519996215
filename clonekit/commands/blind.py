"""clonekit blind RUN : the blind "who wrote this?" test, its automatic judge, the
invented-facts check, and the fidelity section of eval.md."""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap

from clonekit.commands.chat import add_sampling_args


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "blind", help="blind test: can people tell your real replies from the clone's? (fool rate in eval.md)",
        description="Shows a held-out conversation from the run's val split and two candidate next replies, "
        "yours and the clone's, in random order: which one did you write? Keys 1/2, s to skip, q to stop. "
        "Answers are kept per rater in RUN/blind/answers.jsonl; rerun to continue where you stopped. "
        "The clone's replies are generated once (RUN/blind/items.json) with the sampling settings below. "
        "--judge-model asks an OpenAI-compatible model the same question, --facts checks invented facts "
        "against the persona card; both are reported apart from the human answers in eval.md/eval.json.")
    p.add_argument("run", metavar="RUN", help="run folder or run id")
    p.add_argument("--rater", metavar="NAME", help="who is answering (asked when omitted on a terminal)")
    p.add_argument("--items", type=int, default=40, help="items in the test (default 40)")
    p.add_argument("--per-conversation", type=int, default=2,
                   help="items cut from one held-out conversation, at most (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context-turns", type=int, default=8, help="messages of the conversation shown (default 8)")
    mode = p.add_argument_group("what to do (default: prepare the items if needed, then a session)")
    mode.add_argument("--prepare", action="store_true", help="only generate the items (e.g. on the GPU machine)")
    mode.add_argument("--report", action="store_true", help="only write the scores into eval.md / eval.json")
    mode.add_argument("--facts", action="store_true",
                      help="ask the clone questions the persona card answers, and some it cannot know")
    mode.add_argument("--facts-questions", metavar="FILE.toml",
                      help="more questions for --facts: [[known]] question/answer entries, unknown = [...]")
    mode.add_argument("--judge-model", metavar="MODEL",
                      help="ask this OpenAI-compatible model the same forced choice, once per item "
                      "(with --facts it also classifies the clone's answers)")
    j = p.add_argument_group("automatic judge (key from the environment only)")
    j.add_argument("--judge-base-url", default="https://api.openai.com/v1")
    j.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", metavar="ENV",
                   help="environment variable holding the key (default OPENAI_API_KEY)")
    j.add_argument("--judge-max-requests", type=int, default=200, help="budget: requests sent (default 200)")
    j.add_argument("--judge-max-tokens", type=int, help="budget: input+output tokens")
    j.add_argument("--judge-max-cost", type=float, help="budget: USD (needs a known price for the model)")
    j.add_argument("--judge-cache-dir", metavar="DIR", help="request cache folder (default $CLONEKIT_CACHE)")
    j.add_argument("--judge-max-tokens-param", default="max_tokens", choices=["max_tokens", "max_completion_tokens"],
                   help="how the API names the reply-length limit (OpenAI's reasoning models: max_completion_tokens)")
    j.add_argument("--judge-one-order", action="store_true",
                   help="ask each item once (default: twice, the real reply once on each side, so a judge that "
                   "goes by position is caught)")
    add_sampling_args(p)
    p.set_defaults(max_new_tokens=128)
    return p


def run(args: argparse.Namespace) -> int:
    from builder.errors import ClonekitError
    from trainer.inference import resolve_run_path

    if args.context_turns < 1:
        raise ClonekitError("--context-turns: must be at least 1")
    if args.facts_questions and not args.facts:
        raise ClonekitError("--facts-questions: goes with --facts")
    run_dir = resolve_run_path(args.run)
    tasks = args.prepare or args.report or args.facts or args.judge_model
    if args.prepare or not tasks:
        _prepare(args)
    if args.facts:
        _facts(args)
    if args.judge_model:
        _prepare(args)
        _judge(args, run_dir)
    if not tasks:
        code = _session(args, run_dir)
        if code:
            return code
    if args.prepare and not (args.report or args.facts or args.judge_model):
        print(f"items ready: {run_dir / 'blind' / 'items.json'}")
        return 0
    return _report(run_dir)


def _config(args):
    from clonekit.commands.chat import sampling_from_args
    from trainer.blind import BlindConfig

    return BlindConfig(n_items=args.items, per_conversation=args.per_conversation, seed=args.seed,
                       sampling=sampling_from_args(args), device=args.device)


def _prepare(args) -> None:
    from trainer.blind import blind_dir, prepare_items, read_items
    from trainer.inference import resolve_run_path

    items = read_items(blind_dir(resolve_run_path(args.run)))
    if items is not None and items.get("complete") and not args.prepare:
        return  # ready: a session must not load the model
    from clonekit.commands.chat import quiet_transformers
    from clonekit.progress import ProgressPrinter

    quiet_transformers()
    printer = ProgressPrinter()
    prepare_items(args.run, _config(args), on_event=printer)
    printer.close()


def _facts(args) -> None:
    from clonekit.commands.chat import quiet_transformers, sampling_from_args
    from clonekit.progress import ProgressPrinter
    from trainer.facts_check import FactsConfig, run_facts_check

    quiet_transformers()
    printer = ProgressPrinter()
    run_facts_check(args.run, FactsConfig(sampling=sampling_from_args(args), seed=args.seed, device=args.device,
                                           extra_file=args.facts_questions,
                                           judge=_judge_config(args) if args.judge_model else None),
                    on_event=printer)
    printer.close()


def _judge(args, run_dir) -> None:
    from clonekit.progress import ProgressPrinter
    from trainer.blind_judge import run_judge

    printer = ProgressPrinter()
    run_judge(run_dir, _judge_config(args), on_event=printer)
    printer.close()


def _judge_config(args):
    from trainer.blind_judge import JudgeConfig

    return JudgeConfig(model=args.judge_model, base_url=args.judge_base_url, api_key_env=args.judge_api_key_env,
                       max_requests=args.judge_max_requests, max_tokens=args.judge_max_tokens,
                       max_cost=args.judge_max_cost, cache_dir=args.judge_cache_dir, seed=args.seed,
                       both_orders=not args.judge_one_order, max_tokens_param=args.judge_max_tokens_param)


def _report(run_dir) -> int:
    from trainer.fidelity import fmt_rate, update_eval_files

    fid = update_eval_files(run_dir)
    if fid.get("blind"):
        print(f"fool rate (people): {fmt_rate(fid['blind']['overall'])}")
    if fid.get("judge"):
        print(f"fool rate (judge {fid['judge']['model']}): {fmt_rate(fid['judge']['overall'])}")
    if fid.get("facts"):
        s = fid["facts"]["summary"]
        print(f"facts: agrees with the card {fmt_rate(s['known_agree'])}; "
              f"makes up unknowns {fmt_rate(s['unknown_made_up'])}")
    print(f"wrote {run_dir / 'eval.md'}")
    return 0


# ---------------------------------------------------------------------------- the session
class _Keys:
    """One key press at a time on a terminal (no Enter needed); one line per answer otherwise."""

    def __init__(self, stdin=sys.stdin) -> None:
        self.stdin = stdin
        self.tty = stdin.isatty()

    def discard_typed_ahead(self) -> None:
        """Called before an item is shown: a key pressed twice must not answer an item the
        rater has not seen yet."""
        if self.tty:
            import termios

            termios.tcflush(self.stdin.fileno(), termios.TCIFLUSH)

    def read(self) -> str:
        if not self.tty:
            line = self.stdin.readline()
            return "q" if not line else (line.strip()[:1] or "")
        import select
        import termios
        import tty

        fd = self.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)  # keeps Ctrl-C as SIGINT
            data = os.read(fd, 1)
            while select.select([fd], [], [], 0.02)[0]:  # the rest of an arrow key or a multi-byte letter
                data += os.read(fd, 16)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        ch = data.decode(errors="replace")
        return "q" if ch == "\x04" else (ch if len(ch) == 1 else "")


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    """A reply must not drive the terminal: control characters are shown, not sent."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _wrap(name: str, text: str, width: int = 100) -> str:
    head = f"{name}: "
    lines = text.split("\n") or [""]
    out = []
    for n, line in enumerate(lines):
        prefix = head if n == 0 else " " * len(head)
        out.append(textwrap.fill(line, width, initial_indent=prefix, subsequent_indent=" " * len(head)) or prefix)
    return "\n".join(out)


def _ask_rater() -> str:
    from builder.errors import ClonekitError

    if not sys.stdin.isatty():
        raise ClonekitError("--rater: say who is answering (e.g. --rater Jess); needed when stdin is not a terminal")
    try:
        return input("your name (answers are kept per rater): ").strip()
    except EOFError:
        return ""


def _session(args, run_dir) -> int:
    from trainer.blind import BlindSession

    session = BlindSession(run_dir, args.rater or _ask_rater())
    out = sys.stdout
    if not session.queue:
        print(f"{session.rater} has answered all {session.total} items already; "
              "scores: `clonekit blind RUN --report`", file=out)
        return 0
    print(f"Blind test for {session.rater}: {len(session.queue)} of {session.total} items to go"
          + (f" ({session.answered_before} answered before)" if session.answered_before else "")
          + f". For each, pick the reply {session.persona} really wrote.", file=out)
    keys = _Keys()
    try:
        while (shown := session.next()) is not None:
            it = shown.item
            done = session.answered_before + len(session.answered_now)
            who = it["contact"] + (f" ({it['role_tag']})" if it["role_tag"] else "")
            print(f"\n── {done + 1} of {session.total} · {who} " + "─" * 20, file=out)
            for m in it["context"][-args.context_turns:]:
                print(_wrap(m["name"], _visible(m["content"])), file=out)
            print(f"\nWhich one did {session.persona} write?", file=out)
            for side, text in enumerate(shown.candidates, 1):
                print(_wrap(f"  {side}", _visible(text) or "(empty reply)"), file=out)
            keys.discard_typed_ahead()
            while True:
                print("[1] [2] choose · [s] skip · [q] stop > ", end="", file=out, flush=True)
                key = keys.read().lower()
                print(key if keys.tty else "", file=out, flush=True)
                if key in ("1", "2", "s", "q"):
                    break
            if key == "q":
                break
            session.answer(key)
            print("saved", file=out, flush=True)
    except KeyboardInterrupt:
        print(file=out)
    left, n = len(session.queue), len(session.answered_now)
    print(f"\n{session.rater}: {n} answer{'' if n == 1 else 's'} saved; "
          + (f"{left} items left (run the same command to continue)." if left else "all items done."), file=out)
    return 0
