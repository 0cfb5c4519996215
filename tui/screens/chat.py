"""9 Chat: pick a finished run, talk to the clone as one of your contacts, replies stream
in token by token; temperature, top-p and reply length are adjustable."""

from __future__ import annotations

import dataclasses
import json

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from builder.errors import ClonekitError
from builder.events import CancelToken
from builder.wording import plural
from tui.messages import ChatText, WorkDone
from tui.screens.base import Page
from tui.widgets.field import field
from tui.widgets.run_picker import run_choices


def load_session(run_path: str, contact: str | None):
    from trainer.chat_repl import start_session

    session, _ = start_session(run_path, contact=contact, device="cpu" if _no_cuda() else None)
    return session


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


def finished_runs(runs_root) -> list[tuple[str, str]]:
    """(label, path) of the runs whose status is done, newest first."""
    return [(label, path) for label, path, _ in run_choices(runs_root, done_only=True)]


class ChatPage(Page):
    TITLE = "Chat"
    KEYS = "type and press enter · ctrl+g stops a reply · ctrl+r new conversation"
    DEFAULT_FOCUS = "#chat-input"
    BINDINGS = [Binding("ctrl+g", "stop", "Stop reply"), Binding("ctrl+r", "reset", "New conversation"),
                Binding("ctrl+t", "deploy", "Put it on Telegram", show=False)]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            with Vertical(classes="field wider"):
                yield Label("run")
                yield Select([], id="chat-run", prompt="no finished run")
            with Vertical(classes="field wide"):
                yield Label("talk as")
                yield Select([], id="chat-contact", prompt="contact")
            yield field("temperature", Input(id="chat-temp", restrict=r"[0-9.]*"))
            yield field("top-p", Input(id="chat-top-p", restrict=r"[0-9.]*"))
            yield field("reply tokens", Input(id="chat-max-tokens", restrict=r"[0-9]*"))
        yield Label("", id="chat-status", classes="status")
        yield VerticalScroll(id="chat-log")
        with Horizontal(classes="row"):
            yield Input(placeholder="say something as the chosen contact…", id="chat-input")
            yield Button("Send", id="chat-send", variant="primary")

    def on_mount(self) -> None:
        self.session = None
        self.session_key: tuple | None = None
        self.cancel_token: CancelToken | None = None
        self.reply_widget: Static | None = None
        self.reply_text = ""
        saved = self.workspace.section("chat")
        self.query_one("#chat-temp", Input).value = f"{saved['temperature']:g}"
        self.query_one("#chat-top-p", Input).value = f"{saved['top_p']:g}"
        self.query_one("#chat-max-tokens", Input).value = str(saved["max_new_tokens"])
        self.refresh_page()

    def refresh_page(self) -> None:
        """Offer the finished runs; select the one that just finished training (once),
        else keep the current choice, else the newest."""
        runs = finished_runs(self.workspace.runs_root)
        select = self.query_one("#chat-run", Select)
        current = select.value
        paths = [p for _, p in runs]
        just_trained = getattr(self.ck, "last_finished_run", None)
        if just_trained in paths and just_trained != getattr(self, "_shown_finished", None):
            self._shown_finished = just_trained
            target = just_trained
        elif current in paths:
            target = current
        else:
            target = paths[0] if paths else None
        select.set_options(runs)
        if target is not None:
            select.value = target
        unfinished = sum(1 for _, _, status in run_choices(self.workspace.runs_root) if status != "done")
        note = f" · {unfinished} unfinished run{'s' if unfinished != 1 else ''} on page 8" if unfinished else ""
        self.query_one("#chat-status", Label).update(
            (f"{len(runs)} finished run{'s' if len(runs) != 1 else ''}{note}") if runs
            else f"no finished run yet: train one on page 8{note}")

    @on(Select.Changed, "#chat-run")
    def run_changed(self) -> None:
        from trainer.prompting import contact_roles

        run = self.query_one("#chat-run", Select).value
        contacts = self.query_one("#chat-contact", Select)
        if not isinstance(run, str):
            contacts.set_options([])
            return
        try:
            dataset = json.loads(open(f"{run}/run.json", encoding="utf-8").read()).get("dataset")
        except (OSError, json.JSONDecodeError) as err:
            self.error(f"{run}/run.json: {err}")
            return
        counts = contact_roles(dataset)
        seen: dict[str, str] = {}
        for (c, r), _ in counts.most_common():
            seen.setdefault(c, r)
        contacts.set_options([(f"{c} ({r})", c) for c, r in seen.items()])
        if seen:
            contacts.value = next(iter(seen))

    def _settings(self):
        """The sampling controls, saved to [chat] (blank: the default)."""
        from trainer.generate import SamplingSettings

        text = {key: self.query_one(wid, Input).value.strip() for key, wid in
                (("temperature", "#chat-temp"), ("top_p", "#chat-top-p"), ("max_new_tokens", "#chat-max-tokens"))}
        try:
            values = {"temperature": float(text["temperature"]) if text["temperature"] else None,
                      "top_p": float(text["top_p"]) if text["top_p"] else None,
                      "max_new_tokens": int(text["max_new_tokens"]) if text["max_new_tokens"] else None}
        except ValueError:
            raise ClonekitError("temperature and top-p are numbers, e.g. 0.7 and 0.95") from None
        self.workspace.set_section("chat", values)
        saved = self.workspace.section("chat")
        return SamplingSettings(temperature=saved["temperature"], top_p=saved["top_p"],
                                max_new_tokens=saved["max_new_tokens"])

    @on(Input.Submitted, "#chat-input")
    @on(Button.Pressed, "#chat-send")
    def send(self) -> None:
        box = self.query_one("#chat-input", Input)
        text = box.value.strip()
        if not text:
            return
        run = self.query_one("#chat-run", Select).value
        contact = self.query_one("#chat-contact", Select).value
        if not isinstance(run, str):
            self.error("no finished run to talk to: train one on page 8")
            return
        if self.cancel_token is not None:
            self.error("wait for the reply (ctrl+g stops it)")
            return
        try:
            settings = self._settings()
        except ClonekitError as err:
            self.error(str(err))
            return
        box.value = ""
        contact = contact if isinstance(contact, str) else None
        log = self.query_one("#chat-log", VerticalScroll)
        log.mount(Static(Text.assemble((f"{contact or 'you'}: ", "bold"), text), classes="chat-user"))
        self.reply_widget = Static("…", classes="chat-clone")
        self.reply_text = ""
        log.mount(self.reply_widget)
        log.scroll_end(animate=False)
        self.cancel_token = CancelToken()
        self.run_core("chat", self._reply, run, contact, text, settings, self.cancel_token, with_events=False)

    def _reply(self, run: str, contact: str | None, text: str, settings, cancel: CancelToken):
        """Worker: load the model once per (run, contact), then stream one reply."""
        key = (run, contact)
        if self.session is None or self.session_key[0] != run:
            self.post_message(ChatText("\0loading the model…"))
            self.session = load_session(run, contact)
        elif self.session_key != key:
            self.session.talk_as(contact)  # same model, another contact: a new conversation
            self.session.history = []
        if self.session.notice:
            self.post_message(ChatText("\0" + self.session.notice))
        self.session_key = key
        self.session.settings = dataclasses.replace(self.session.settings, **dataclasses.asdict(settings))
        return self.session.reply(text, on_text=lambda piece: self.post_message(ChatText(piece)), cancel=cancel)

    def on_chat_text(self, message: ChatText) -> None:
        if self.reply_widget is None:
            return
        if message.text.startswith("\0"):
            self.query_one("#chat-status", Label).update(message.text[1:])
            return
        self.reply_text += message.text
        self._render_reply()

    def _render_reply(self, suffix: str = "") -> None:
        name = self.workspace.section("persona")["name"] or "clone"
        self.reply_widget.update(Text.assemble((f"{name}: ", "bold green"), self.reply_text, (suffix, "dim")))
        self.query_one("#chat-log", VerticalScroll).scroll_end(animate=False)

    def on_work_done(self, message: WorkDone) -> None:
        if message.job != "chat":
            return
        message.stop()
        self.cancel_token = None
        status = self.query_one("#chat-status", Label)
        if message.error:
            status.update(f"[red]{message.error}[/]")
            self.error(message.error)
            if self.reply_widget is not None:
                self.reply_widget.update(Text("(no reply)", style="dim"))
            return
        reply = message.result
        self.reply_text = reply.text
        self._render_reply(f"  ({plural(len(reply.token_ids), 'token')}, {reply.finish_reason})")
        status.update(f"talking as {self.session.contact}" + (f" ({self.session.role})" if self.session.role else ""))

    def action_stop(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()

    def action_deploy(self) -> None:
        """The `clonekit telegram` commands for the selected run (tui/screens/deploy.py)."""
        from tui.screens.deploy import DeployScreen, dataset_contacts

        run = self.query_one("#chat-run", Select).value
        if not isinstance(run, str):
            self.error("no finished run to put on Telegram: train one on page 8")
            return
        self.app.push_screen(DeployScreen(run, dataset_contacts(run)))

    def action_reset(self) -> None:
        if self.session is not None:
            self.session.history = []
        self.query_one("#chat-log", VerticalScroll).remove_children()
        self.app.notify("new conversation")
