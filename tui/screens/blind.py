"""The blind "who wrote this?" test as a full screen over the app (command palette:
"Blind test"): pick a finished run, type the rater's name, then for each held-out
conversation press 1 or 2 for the reply the persona really wrote, s to skip, q to stop.
The same core as `clonekit blind` (trainer/blind.py): the clone's candidates are generated
once in a worker (with the Chat page's sampling settings), answers are durable per key
press, and a rater who comes back continues where they stopped."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from builder.errors import ClonekitError
from builder.events import CancelToken, Progress
from tui.messages import CoreEvent, WorkDone
from tui.screens.base import Page


class Choices(Horizontal, can_focus=True):
    """The two candidates; holds the focus during a session so 1/2/s/q reach the page."""


class BlindPage(Page):
    TITLE = "Blind test"
    KEYS = "1 / 2 pick the reply the persona wrote · s skip · q stop · escape back to the app"
    DEFAULT_FOCUS = "#blind-rater"
    BINDINGS = [Binding("1", "pick('1')", "Option 1"), Binding("2", "pick('2')", "Option 2"),
                Binding("s", "pick('s')", "Skip"), Binding("q", "stop", "Stop"),
                Binding("escape", "leave_input", "Back")]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            with Vertical(classes="field wider"):
                yield Label("run")
                yield Select([], id="blind-run", prompt="train a model first")
            with Vertical(classes="field wide"):
                yield Label("who is answering")
                yield Input(placeholder="rater's name, e.g. Jess", id="blind-rater")
            yield Button("Start", id="blind-start", variant="primary")
        yield Label("", id="blind-status", classes="status")
        yield VerticalScroll(id="blind-context")
        yield Label("", id="blind-question", classes="section")
        with Choices(id="blind-choices"):
            yield Static("", id="blind-option-1", classes="blind-option")
            yield Static("", id="blind-option-2", classes="blind-option")

    def on_mount(self) -> None:
        self.session = None
        self.preparing = False
        self.cancel_token: CancelToken | None = None
        self.refresh_page()

    def on_unmount(self) -> None:
        """Leaving the screen stops a preparation after the current item (the ones done are kept)."""
        if self.cancel_token is not None:
            self.cancel_token.cancel()

    def refresh_page(self) -> None:
        from tui.screens.chat import finished_runs

        runs = finished_runs(self.workspace.runs_root)
        select = self.query_one("#blind-run", Select)
        current = select.value
        select.set_options(runs)
        paths = [p for _, p in runs]
        if current in paths:
            select.value = current
        elif paths:
            select.value = paths[0]
        if not runs:
            self.status("no finished run yet: train one on page 8")

    def status(self, text: str | Text) -> None:
        self.query_one("#blind-status", Label).update(text)

    # ------------------------------------------------------------------ starting
    @on(Input.Submitted, "#blind-rater")
    @on(Button.Pressed, "#blind-start")
    def start(self) -> None:
        from trainer.blind import blind_dir, read_items

        run = self.query_one("#blind-run", Select).value
        rater = self.query_one("#blind-rater", Input).value.strip()
        if not isinstance(run, str):
            self.error("no finished run to test: train one on page 8")
            return
        if not rater:
            self.error("type the name of the person answering first")
            self.query_one("#blind-rater", Input).focus()
            return
        if self.preparing:
            return
        try:
            items = read_items(blind_dir(run))
        except ClonekitError as err:
            self.error(str(err))
            return
        if items is None or not items.get("complete"):
            self.preparing = True
            self.status("generating the clone's replies for the test (once per run)…")
            self.cancel_token = CancelToken()
            self.run_core("blind-prepare", _prepare, run, self._config(), cancel=self.cancel_token)
            return
        self._open(run, rater)

    def _config(self):
        """The Chat page's sampling settings; the device is picked by the core (GPU when there is one)."""
        from trainer.blind import BlindConfig
        from trainer.generate import SamplingSettings

        chat = self.workspace.section("chat")
        return BlindConfig(sampling=SamplingSettings(temperature=chat["temperature"], top_p=chat["top_p"],
                                                     max_new_tokens=chat["max_new_tokens"]))

    def _open(self, run: str, rater: str) -> None:
        from trainer.blind import BlindSession

        try:
            self.session = BlindSession(run, rater)
        except ClonekitError as err:
            self.error(str(err))
            return
        self.run_path = run
        self.query_one("#blind-choices").focus()
        self.show_next()

    def on_core_event(self, message: CoreEvent) -> None:
        if message.job != "blind-prepare":
            return
        message.stop()
        event = message.event
        if isinstance(event, Progress) and event.total:
            self.status(f"generating the clone's replies: {event.done} of {event.total}")

    def on_work_done(self, message: WorkDone) -> None:
        if not message.job.startswith("blind-"):
            return
        message.stop()
        if message.job == "blind-prepare":
            self.preparing = False
            if message.error:
                self.status(Text(message.error, style="red"))
                self.error(message.error)
                return
            run = self.query_one("#blind-run", Select).value
            self._open(str(run), self.query_one("#blind-rater", Input).value.strip())
        elif message.job == "blind-report":
            if message.error:
                self.error(message.error)
                return
            from trainer.fidelity import fmt_rate

            blind = message.result.get("blind")
            self.status(self.status_text + (f" · everyone so far: clone picked {fmt_rate(blind['overall'])}"
                                            if blind else "") + " · written to eval.md")

    # ------------------------------------------------------------------ the session
    def show_next(self) -> None:
        s = self.session
        shown = s.next()
        context = self.query_one("#blind-context", VerticalScroll)
        context.remove_children()
        if shown is None:
            self.finish()
            return
        it = shown.item
        done = s.answered_before + len(s.answered_now)
        who = it["contact"] + (f" ({it['role_tag']})" if it["role_tag"] else "")
        self.status(f"{s.rater}: item {done + 1} of {s.total} · chat with {who}")
        context.mount_all([Static(Text.assemble((f"{m['name']}: ", "bold"), m["content"]),
                                  classes="chat-user" if m["role"] == "user" else "chat-clone")
                           for m in it["context"][-8:]])
        context.scroll_end(animate=False)
        self.query_one("#blind-question", Label).update(f"Which one did {s.persona} write?")
        for side, text in enumerate(shown.candidates, 1):
            option = self.query_one(f"#blind-option-{side}", Static)
            option.border_title = f"{side}"
            option.update(text or Text("(empty reply)", style="dim"))

    def action_leave_input(self) -> None:
        """Escape: out of the name field first, then back to the app."""
        from textual.widgets import Input

        if isinstance(self.app.focused, Input):
            super().action_leave_input()
        else:
            self.app.pop_screen()

    def action_pick(self, key: str) -> None:
        if self.session is None or self.session.next() is None:
            return
        try:
            self.session.answer(key)
        except (ClonekitError, OSError) as err:
            self.error(f"answer not saved: {err}")
            return
        self.show_next()

    def action_stop(self) -> None:
        if self.session is not None:
            self.finish()

    def finish(self) -> None:
        s, self.session = self.session, None
        left, n = len(s.queue), len(s.answered_now)
        self.status_text = (f"{s.rater}: {n} answer{'' if n == 1 else 's'} saved; "
                            + (f"{left} items left (start again to continue)" if left else "all items done"))
        self.status(self.status_text)
        self.query_one("#blind-context", VerticalScroll).remove_children()
        self.query_one("#blind-question", Label).update("")
        for side in (1, 2):
            self.query_one(f"#blind-option-{side}", Static).update("")
        self.query_one("#blind-rater", Input).focus()
        self.run_core("blind-report", _report, self.run_path, with_events=False)


def _prepare(run: str, config, on_event, cancel):
    from trainer.blind import prepare_items

    return prepare_items(run, config, on_event=on_event, cancel=cancel)


def _report(run: str) -> dict:
    from trainer.fidelity import update_eval_files

    return update_eval_files(run)


class BlindScreen(Screen):
    """The blind test over the app's pages; escape goes back."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(BlindPage.KEYS, classes="keys")
        yield BlindPage(id="page-blind")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(BlindPage).focus_default()
