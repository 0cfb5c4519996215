"""The terminal chat with a trained clone.

``ChatSession`` holds the conversation state (who you are talking as, the history, the
sampling settings) and produces replies; ``run_repl`` is the loop around it. On a
terminal replies stream token by token and input has readline editing and history;
when stdin is not a terminal it reads one user message per line and writes one reply
per line (newlines inside a reply written as ``\\n``), so it can be scripted."""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from builder.atomic import atomic_path
from builder.errors import ClonekitError, ConfigError
from builder.events import CancelToken
from builder.wording import plural
from trainer.generate import Reply, SamplingSettings, generate_reply
from trainer.prompting import build_prompt, persona_system_prompt, resolve_contact
from trainer.template_fit import ThinkFilter, strip_think

HELP = """commands:
  /as NAME     talk as this contact (their role is taken from the training data);
               starts a new conversation
  /role ROLE   talk as someone with this role (boss, friend, ...); new conversation
  /temp X      sampling temperature (0 = greedy)
  /reset       forget the conversation so far
  /save FILE   write the transcript as JSONL (one message per line)
  /help        this help
  /quit        leave (Ctrl-D works too)"""


@dataclass
class ChatSession:
    model: object
    tokenizer: object
    persona: dict
    stop_ids: list[int]
    settings: SamplingSettings
    contact: str
    role: str
    history_tokens: int = 3000
    contact_counts: object = None  # Counter of (contact, role) from the training set
    history: list[dict] = field(default_factory=list)
    default_role: str = "contact"  # the dataset's [contacts] default_role: never an empty "()" in the prompt
    notice: str = ""  # a warning about the last talk_as (an unknown contact or role)

    @property
    def system(self) -> str:
        return persona_system_prompt(self.persona, self.contact, self.role)

    def talk_as(self, contact: str | None = None, role: str | None = None) -> str:
        """Switch who you talk as; returns (and keeps in ``notice``) a warning when the
        contact or role never occurs in the training data, else ""."""
        from collections import Counter

        counts = self.contact_counts or Counter()
        self.contact, self.role = resolve_contact(counts, contact, role)
        self.notice = ""
        if counts:
            contacts = sorted({c for c, _ in counts if c})
            roles = sorted({r for _, r in counts if r})
            if contact and contact.lower() not in {c.lower() for c in contacts}:
                shown = ", ".join(contacts[:6]) + (f" (+{len(contacts) - 6} more)" if len(contacts) > 6 else "")
                self.notice = f"warning: {contact!r} is not a contact in the training data (known: {shown}); the clone has never talked to them"
            elif role and role.lower() not in {r.lower() for r in roles}:
                self.notice = f"warning: no contact has the role {role!r} in the training data (roles: {', '.join(roles)})"
        if not self.role:
            self.role = self.default_role
        return self.notice

    def reply(self, text: str, on_text: Callable[[str], None] | None = None,
              cancel: CancelToken | None = None) -> Reply:
        turns = self.history + [{"role": "user", "name": self.contact, "content": text}]
        prompt = build_prompt(self.tokenizer, self.system, turns, self.contact, self.history_tokens)
        hide = ThinkFilter()  # what streams out is what the reply will say: no think blocks
        reply = generate_reply(self.model, self.tokenizer, prompt.input_ids, self.settings,
                               self.stop_ids, on_text=hide.wrap(on_text), cancel=cancel or CancelToken())
        if on_text and (rest := hide.flush()):
            on_text(rest)
        reply = dataclasses.replace(reply, text=strip_think(reply.text))  # reasoning bases: no think tags shown
        self.history = turns + [{"role": "assistant", "content": reply.text}]
        return reply

    def transcript(self) -> list[dict]:
        return [{"role": "system", "content": self.system}] + self.history

    def save(self, path: str) -> Path:
        target = Path(path).expanduser()
        import jsonlines

        with atomic_path(target) as tmp, jsonlines.open(tmp, mode="w", compact=True) as writer:
            writer.write_all(self.transcript())
        return target

    def command(self, line: str) -> tuple[str, bool]:
        """Run a slash command; returns (message for the user, quit?)."""
        name, _, arg = line[1:].strip().partition(" ")
        arg = arg.strip()
        name = name.lower()
        if name in ("quit", "exit", "q"):
            return "", True
        if name == "help":
            return HELP, False
        if name == "reset":
            self.history = []
            return "conversation cleared", False
        if name in ("as", "role"):
            if not arg:
                return f"usage: /{name} {'NAME' if name == 'as' else 'ROLE'}", False
            notice = self.talk_as(contact=arg if name == "as" else None, role=arg if name == "role" else None)
            self.history = []  # a training conversation has one contact: start a new one
            return ((notice + "\n" if notice else "") + f"now talking as {self.contact}"
                    + (f" ({self.role})" if self.role else "") + "; new conversation"), False
        if name == "temp":
            try:
                self.settings = dataclasses.replace(self.settings, temperature=float(arg))
            except (ValueError, ConfigError) as err:
                return f"/temp: {err if isinstance(err, ConfigError) else 'give a number, e.g. /temp 0.7'}", False
            return f"temperature {self.settings.temperature}", False
        if name == "save":
            if not arg:
                return "usage: /save FILE.jsonl", False
            try:
                return f"saved {plural(len(self.transcript()), 'message')} to {self.save(arg)}", False
            except OSError as err:
                return f"/save: cannot write {arg}: {err.strerror}", False
        return f"unknown command /{name}; /help lists them", False


_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _escape_line(text: str) -> str:
    """One reply, one output line: whatever a line reader would split on is escaped."""
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return _LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _setup_readline(history_file: Path | None) -> Callable[[], None]:
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input()
        return lambda: None
    if history_file is not None and history_file.is_file():
        try:
            readline.read_history_file(history_file)
        except OSError:
            pass  # unreadable history is not worth failing a chat over
    readline.set_history_length(1000)

    def save() -> None:
        if history_file is not None:
            try:
                readline.write_history_file(history_file)
            except OSError:
                pass  # read-only run folder: history is a convenience only
    return save


def run_repl(session: ChatSession, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
             stderr: TextIO = sys.stderr, interactive: bool | None = None,
             history_file: Path | None = None) -> int:
    interactive = stdin.isatty() and stdout.isatty() if interactive is None else interactive
    if not interactive:
        return _run_scripted(session, stdin, stdout, stderr)
    save_history = _setup_readline(history_file)
    if session.notice:
        print(session.notice, file=stdout)
    print(f"talking as {session.contact}" + (f" ({session.role})" if session.role else "")
          + " - /help for commands, /quit to leave", file=stdout)
    try:
        while True:
            try:
                line = input(f"{session.contact}> ").strip()
            except EOFError:
                print(file=stdout)
                return 0
            except KeyboardInterrupt:
                print(file=stdout)
                continue
            if not line:
                continue
            if line.startswith("/"):
                message, quit_ = session.command(line)
                if message:
                    print(message, file=stdout)
                if quit_:
                    return 0
                continue
            cancel = CancelToken()

            def show(piece: str) -> None:
                stdout.write(piece)
                stdout.flush()
            stdout.write(f"{session.persona.get('name') or 'clone'}: ")
            try:
                session.reply(line, on_text=show, cancel=cancel)
            except KeyboardInterrupt:
                stdout.write(" [stopped]")
            stdout.write("\n")
            stdout.flush()
    finally:
        save_history()


def _run_scripted(session: ChatSession, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    if session.notice:
        print(session.notice, file=stderr, flush=True)
    for raw in stdin:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.startswith("/"):
            message, quit_ = session.command(line)
            if message:
                print(message, file=stderr, flush=True)
            if quit_:
                return 0
            continue
        reply = session.reply(line)
        print(_escape_line(reply.text), file=stdout, flush=True)
    return 0


def start_session(run_ref: str, contact: str | None = None, role: str | None = None,
                  settings: SamplingSettings | None = None, history_tokens: int = 3000,
                  merged: str | None = None, device: str | None = None) -> tuple[ChatSession, Path]:
    """Load the run's model and set up a session; returns (session, run folder)."""
    from trainer.inference import load_model, open_run, stop_ids
    from trainer.prompting import contact_roles

    if history_tokens < 16:
        raise ConfigError(f"--history-tokens: must be at least 16 (got {history_tokens})")
    run = open_run(run_ref)
    model, tokenizer = load_model(run, merged=merged or False, device=device)
    if not run.persona:
        raise ClonekitError(f"{run.path / 'run.json'}: no 'persona'; this run cannot build its system prompt")
    session = ChatSession(model=model, tokenizer=tokenizer, persona=run.persona,
                          stop_ids=stop_ids(run, tokenizer), settings=settings or SamplingSettings(),
                          contact="", role="", history_tokens=history_tokens,
                          contact_counts=contact_roles(run.info.get("dataset")),
                          default_role=_default_role(run.info.get("dataset")))
    session.talk_as(contact, role)
    return session, run.path


def _default_role(dataset_dir: str | None) -> str:
    """The dataset's [contacts] default_role (what an unlisted contact was called in
    training); "contact" when the dataset is gone or predates it."""
    import json

    try:
        manifest = json.loads((Path(dataset_dir or "") / "manifest.json").read_text(encoding="utf-8"))
        return str(manifest["config"]["contacts"]["default_role"]) or "contact"
    except (OSError, ValueError, KeyError, TypeError):
        return "contact"
