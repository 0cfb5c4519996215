"""5 Synthesize: extra training conversations from an OpenAI-compatible API. Settings,
the cost estimate before anything is sent, a running job with progress, spend and
cancel, then a review of the generated samples (accept/reject) that writes a version
without the rejected ones."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static

from builder.errors import ClonekitError
from builder.events import CancelToken, Log, Progress
from builder.synth.review import write_reviewed
from tui.messages import CoreEvent, VersionWritten, WorkDone
from tui.screens.base import Page
from tui.screens.base import in_page_words as base_in_page_words
from tui.widgets.conversation_view import ConversationView
from tui.widgets.field import field

MODES = ["self-instruct", "facts", "conversations"]


def estimate(config):
    from builder.synth.synth import plan_synth

    return plan_synth(config).summary_lines()


def synthesize(config, on_event, cancel):
    from builder.curate.store import NothingChanged, load_version
    from builder.synth.synth import run_synth

    try:
        path = run_synth(config, on_event=on_event, cancel=cancel)
    except NothingChanged as unchanged:
        raise ClonekitError(f"no synthetic record was kept, so nothing changed since {unchanged.ref}; "
                            "nothing was written") from None
    return load_version(path)


# The synth core names `clonekit synth` flags in its errors; on this page they are fields.
FIELD_FOR_FLAG = {"--n": "records wanted (N)", "--max-cost": "max cost (USD)", "--model": "model",
                  "--base-url": "base URL", "--api-key-env": "API key variable", "--mode": "mode"}


def in_page_words(message: str) -> str:
    return base_in_page_words(message, FIELD_FOR_FLAG, "synth")


class SynthPage(Page):
    TITLE = "Synthesize"
    TAB = "Synth"
    KEYS = "e estimates the cost (sends nothing) · Run · in the list: a accepts, r rejects · W writes the accepted ones"
    DEFAULT_FOCUS = "#synth-estimate"  # not a field: page keys (1-9) work on arrival
    FIELD_FOR_FLAG = FIELD_FOR_FLAG
    SETTINGS_TABLE = "synth"
    BINDINGS = [Binding("e", "estimate", "Estimate"), Binding("a", "accept", "Accept"),
                Binding("r", "reject", "Reject"), Binding("W", "write_reviewed", "Write accepted")]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield field("from version", Select([], id="synth-version", prompt="none yet (page 7)"))
            yield field("mode", Select([(m, m) for m in MODES], id="synth-mode", allow_blank=False, value=MODES[0]))
            yield field("records wanted (N)", Input("50", id="synth-n", restrict=r"[0-9]*"))
            yield field("max cost (USD)", Input(id="synth-max-cost", placeholder="no cap", restrict=r"[0-9.]*"))
        with Horizontal(classes="form-row"):
            with Vertical(classes="field wide"):
                yield Label("model")
                yield Input("gpt-4o-mini", id="synth-model")
            with Vertical(classes="field wide"):
                yield Label("base URL (OpenAI-compatible)")
                yield Input("https://api.openai.com/v1", id="synth-base-url")
            yield field("API key variable", Input("OPENAI_API_KEY", id="synth-key-env"))
        with Horizontal(classes="row"):
            yield Button("Estimate cost (e)", id="synth-estimate")
            yield Button("Run", id="synth-run", variant="primary")
            yield Button("Cancel", id="synth-cancel", variant="error", disabled=True)
            yield ProgressBar(id="synth-progress", classes="hidden")
        yield Static("", id="synth-plan", classes="status")
        with Horizontal():
            with Vertical(id="synth-list-pane"):
                yield DataTable(id="synth-samples", cursor_type="row", zebra_stripes=True)
                yield Button("Write accepted (W)", id="synth-write", disabled=True)
            with VerticalScroll(id="synth-view-pane"):
                yield ConversationView("the generated samples show up here after a run: review each one, "
                                       "reject the bad ones, then write a version without them",
                                       id="synth-view")

    def on_mount(self) -> None:
        self.query_one("#synth-samples", DataTable).add_columns("#", "status", "contact", "tokens", "generator")
        self.cancel_token: CancelToken | None = None
        self.version = None
        self.samples: list[int] = []  # indexes into version.train of synthetic records
        self.rejected: set[int] = set()
        self.load_settings()
        self.refresh_page()

    def load_settings(self) -> None:
        """The [synth] table of clonekit.toml into the form."""
        saved = self.workspace.section("synth")
        self.query_one("#synth-mode", Select).value = saved["mode"]
        self.query_one("#synth-n", Input).value = str(saved["n"])
        cost = saved["max_cost"]
        self.query_one("#synth-max-cost", Input).value = "" if cost is None else f"{cost:g}"
        for key, wid in (("model", "#synth-model"), ("base_url", "#synth-base-url"), ("api_key_env", "#synth-key-env")):
            self.query_one(wid, Input).value = str(saved[key])

    def refresh_page(self) -> None:
        from builder.curate.store import list_versions

        select = self.query_one("#synth-version", Select)
        try:
            versions = [v.ref for v in list_versions(self.workspace.datasets_root)]
        except ClonekitError as err:
            self.error(str(err))
            versions = []
        current = select.value
        select.set_options([(v, v) for v in reversed(versions)])
        if current in versions:
            select.value = current
        elif versions:
            select.value = versions[-1]

    def _config(self):
        """The SynthConfig of the form; the settings are saved to [synth] first (so a
        bad value is reported naming its key, and a good one is kept for next time)."""
        from builder.config_base import validate
        from builder.synth.config import SynthConfig

        version = self.query_one("#synth-version", Select).value
        if not isinstance(version, str):
            raise ClonekitError("no dataset version yet: write one on the Preview page (7) first")
        cost = self.query_one("#synth-max-cost", Input).value.strip()
        try:
            settings = {
                "mode": self.query_one("#synth-mode", Select).value,
                "n": int(self.query_one("#synth-n", Input).value or 0),
                "model": self.query_one("#synth-model", Input).value.strip(),
                "base_url": self.query_one("#synth-base-url", Input).value.strip(),
                "api_key_env": self.query_one("#synth-key-env", Input).value.strip(),
                "max_cost": float(cost) if cost else None,
            }
        except ValueError:
            raise ClonekitError("records wanted is a whole number and max cost a number of dollars, e.g. 2.50") from None
        self.workspace.set_section("synth", settings)
        full = {**self.workspace.section("synth"), "version": version, "root": str(self.workspace.datasets_root),
                "cache_dir": str(self.workspace.root / ".clonekit-cache")}
        return validate(SynthConfig, full, where="synth settings")

    @on(Button.Pressed, "#synth-estimate")
    def action_estimate(self) -> None:
        try:
            config = self._config()
        except (ClonekitError, ValueError) as err:
            self.error(str(err))
            return
        self.query_one("#synth-plan", Static).update("estimating…")
        self.run_core("synth-plan", estimate, config, with_events=False)

    @on(Button.Pressed, "#synth-run")
    def run_synth(self) -> None:
        try:
            config = self._config()
        except (ClonekitError, ValueError) as err:
            self.error(str(err))
            return
        self.cancel_token = CancelToken()
        self.query_one("#synth-progress", ProgressBar).remove_class("hidden")
        self.query_one("#synth-run", Button).disabled = True
        self.query_one("#synth-cancel", Button).disabled = False
        self.run_core("synth", synthesize, config, cancel=self.cancel_token)

    @on(Button.Pressed, "#synth-cancel")
    def cancel(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self.app.notify("cancelling synthesis…")

    def on_core_event(self, message: CoreEvent) -> None:
        if message.job != "synth":
            return
        message.stop()
        e = message.event
        if isinstance(e, Progress):
            self.query_one("#synth-progress", ProgressBar).update(total=e.total, progress=e.done)
            self.query_one("#synth-plan", Static).update(f"{e.stage}: {e.done}/{e.total or '?'} requests · {e.detail}")
        elif isinstance(e, Log) and e.level == "warning":
            self.app.notify(e.message, severity="warning")

    def on_work_done(self, message: WorkDone) -> None:
        if message.job not in ("synth-plan", "synth", "synth-write"):
            return
        message.stop()
        plan = self.query_one("#synth-plan", Static)
        if message.job == "synth":
            self.query_one("#synth-progress", ProgressBar).add_class("hidden")
            self.query_one("#synth-run", Button).disabled = False
            self.query_one("#synth-cancel", Button).disabled = True
        if message.error:
            if message.job == "synth" and self.cancel_token is not None and self.cancel_token.cancelled:
                plan.update("[yellow]cancelled[/]: nothing was written; finished requests are cached, "
                            "so Run again picks up where this one stopped")
                self.app.notify("synthesis cancelled", severity="warning")
            else:
                text = in_page_words(message.error)
                plan.update(f"[red]{escape(text)}[/]")
                self.error(text)
            return
        if message.job == "synth-plan":
            plan.update("\n".join(message.result))
        elif message.job == "synth":
            self.version = message.result
            self.samples = [i for i, r in enumerate(self.version.train) if r.get("meta", {}).get("synthetic")]
            self.rejected = set()
            plan.update(f"wrote {self.version.ref} with {len(self.samples)} synthetic conversations · review them: "
                        "a accepts, r rejects, W writes a version without the rejected ones")
            self.post_message(VersionWritten(str(self.version.path)))
            self._fill()
            self.query_one("#synth-samples", DataTable).focus()
            self.query_one("#synth-write", Button).disabled = False
        else:
            plan.update(f"wrote {self.workspace.display_path(message.result)} without the "
                        f"{len(self.rejected)} rejected samples")
            self.query_one("#synth-write", Button).disabled = True
            self.post_message(VersionWritten(str(message.result)))
            self.refresh_page()

    def _fill(self) -> None:
        table = self.query_one("#synth-samples", DataTable)
        row = table.cursor_row
        table.clear()
        for n, i in enumerate(self.samples):
            meta = self.version.train[i]["meta"]
            table.add_row(str(n + 1), "[red]rejected[/]" if i in self.rejected else "[green]accepted[/]",
                          meta.get("contact", ""), str(meta.get("n_tokens", "")), meta.get("generator", ""), key=str(i))
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    @on(DataTable.RowHighlighted, "#synth-samples")
    def _show(self, event: DataTable.RowHighlighted) -> None:
        if self.version is not None and event.row_key.value is not None:
            name = self.workspace.section("persona")["name"] or "me"
            self.query_one("#synth-view", ConversationView).show(self.version.train[int(event.row_key.value)], name)

    def _mark(self, reject: bool) -> None:
        table = self.query_one("#synth-samples", DataTable)
        if not table.row_count:
            return
        i = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or 0)
        (self.rejected.add if reject else self.rejected.discard)(i)
        self.query_one("#synth-write", Button).disabled = False
        self._fill()
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_accept(self) -> None:
        self._mark(False)

    def action_reject(self) -> None:
        self._mark(True)

    @on(Button.Pressed, "#synth-write")
    def action_write_reviewed(self) -> None:
        if self.version is None:
            self.error("run a synthesis first")
            return
        if not self.rejected:
            self.app.notify(f"nothing rejected: {self.version.ref} already holds every sample")
            return
        self.run_core("synth-write", write_reviewed, self.version, set(self.rejected), with_events=False)
