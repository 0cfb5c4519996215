"""The clonekit TUI: one tab per step of the flow, over a workspace (a folder with
clonekit.toml). Pages edit the workspace config and call the builder/trainer core in
thread workers; the app holds the shared state (the ingested sources, a cache of
curation previews) and tells pages when it changes."""

from __future__ import annotations

import json
import threading
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.widgets import Footer, Header, Label, TabbedContent, TabPane

from builder.workspace import Workspace
from tui.messages import ConfigChanged, SourcesLoaded, VersionWritten
from tui.screens.balance import BalancePage
from tui.screens.blind import BlindScreen
from tui.screens.base import Page
from tui.screens.chat import ChatPage
from tui.screens.filter import FilterPage
from tui.screens.people import PeoplePage
from tui.screens.persona import PersonaPage
from tui.screens.preview import PreviewPage
from tui.screens.sources import SourcesPage
from tui.screens.synth import SynthPage
from tui.screens.train import TrainPage

PAGES: list[tuple[str, type[Page]]] = [
    ("sources", SourcesPage), ("people", PeoplePage), ("persona", PersonaPage), ("balance", BalancePage),
    ("synth", SynthPage), ("filter", FilterPage), ("preview", PreviewPage), ("train", TrainPage),
    ("chat", ChatPage),
]


def typing_focus(widget) -> bool:
    """The focused widget takes typed characters: a text field, or a list of choices
    (a Select types-to-search), so digits and letters are not page keys there."""
    from textual.widgets import Input, Select, TextArea
    from textual.widgets._select import SelectOverlay

    return isinstance(widget, (Input, TextArea, Select, SelectOverlay))


class GoToCommands(Provider):
    """Command palette: jump to a page, write a version, re-read the sources."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, CloneKitApp)
        matcher = self.matcher(query)
        commands = [(f"Go to {i + 1} {cls.TITLE}", partial(app.action_page, i + 1), cls.KEYS)
                    for i, (_, cls) in enumerate(PAGES)]
        commands += [
            ("Write a dataset version", app.action_write_version, "build with the current clonekit.toml"),
            ("Re-read the sources", app.action_reload_sources, "ingest the exports again"),
            ("Put the clone on Telegram", app.action_deploy,
             "the clonekit telegram commands, the allow list filled from your contacts (ctrl+t on Chat)"),
            ("Blind test: who wrote this?", app.action_blind,
             "people pick your real reply or the clone's; the fool rate goes into eval.md"),
        ]
        for name, action, help_text in commands:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), action, help=help_text)


class CloneKitApp(App):
    TITLE = "clonekit"
    CSS_PATH = "app.tcss"
    # Classes on the screen for the layout to follow the terminal (app.tcss): 80x24 works.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    COMMANDS = App.COMMANDS | {GoToCommands}
    BINDINGS = [
        # A digit switches pages unless the focus takes typing (a text field, a list of
        # choices: Esc leaves it first); alt+digit always does.
        *[Binding(f"{i + 1}", f"page_key({i + 1})", cls.TITLE, show=False) for i, (_, cls) in enumerate(PAGES)],
        *[Binding(f"alt+{i + 1}", f"page({i + 1})", cls.TITLE, show=False) for i, (_, cls) in enumerate(PAGES)],
        Binding("question_mark", "toggle_help", "Keys", key_display="?"),
        Binding("f1", "toggle_help", "Keys", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, workspace: Workspace, *, show_path: bool = True) -> None:
        super().__init__()
        self.workspace = workspace
        self.ingest = None  # builder.ingest.IngestResult of the current sources
        self._inputs = None
        self._previews: dict[str, Any] = {}
        self._preview_lock = threading.Lock()
        self.last_finished_run: str | None = None
        self.sub_title = str(workspace.root) if show_path else workspace.root.name

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            for i, (key, cls) in enumerate(PAGES):
                with TabPane(f"{i + 1} {cls.TAB or cls.TITLE}", id=f"tab-{key}"):
                    yield Label(cls.KEYS, classes="keys")
                    yield cls(id=f"page-{key}")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(SourcesPage).reload()
        self.query_one(SourcesPage).focus_default()

    # ------------------------------------------------------------------ navigation
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page_key" and typing_focus(self.focused):
            return False  # the key belongs to the field
        return True

    def action_page_key(self, number: int) -> None:
        self.action_page(number)

    def action_page(self, number: int) -> None:
        key = PAGES[number - 1][0]
        self.query_one("#tabs", TabbedContent).active = f"tab-{key}"
        self.query_one(f"#page-{key}", Page).focus_default()

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_write_version(self) -> None:
        self.action_page(7)
        self.query_one(PreviewPage).action_write()

    def action_reload_sources(self) -> None:
        self.query_one(SourcesPage).reload()

    def action_blind(self) -> None:
        self.push_screen(BlindScreen())

    def action_deploy(self) -> None:
        self.query_one(ChatPage).action_deploy()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        page = self.active_page()
        if page is not None and getattr(page, "stale", False):
            page.stale = False
            page.refresh_page()

    def active_page(self) -> Page | None:
        active = self.query_one("#tabs", TabbedContent).active
        pages = self.query(f"#{active.replace('tab-', 'page-')}") if active else []
        return pages.first() if pages else None  # type: ignore[return-value]

    # ------------------------------------------------------------------ shared state
    def _changed(self, sender: Page | None) -> None:
        """Refresh the visible page now (unless it caused the change), the rest when shown."""
        active = self.active_page()
        for page in self.query(Page):
            if page is active and page is not sender:
                page.refresh_page()
            elif page is not sender:
                page.stale = True

    def on_sources_loaded(self, message: SourcesLoaded) -> None:
        self.ingest = message.result
        self._inputs = None
        with self._preview_lock:
            self._previews.clear()
        self.query_one(SourcesPage).refresh_page()
        self._changed(self.query_one(SourcesPage))

    def on_config_changed(self, message: ConfigChanged) -> None:
        sender = message.control if isinstance(message.control, Page) else None
        self._changed(sender)

    def on_version_written(self, message: VersionWritten) -> None:
        self._changed(None)

    def run_finished(self, run_dir: str) -> None:
        """A run just finished training: the Chat page selects it when next shown."""
        self.last_finished_run = str(run_dir)
        self._changed(None)

    def inputs(self):
        """The ingested sources as builder.curate.sources.Inputs (for curate previews)."""
        from builder.curate.sources import Inputs

        if self._inputs is None and self.ingest is not None:
            self._inputs = Inputs(self.ingest.messages, self.ingest.instructions)
        return self._inputs

    def preview(self, config):
        """curate(...) for this config, cached (called from workers)."""
        from builder.curate.build import curate
        from builder.curate.config import config_to_dict

        key = json.dumps(config_to_dict(config), sort_keys=True)  # the other pages' settings don't matter
        with self._preview_lock:
            if key in self._previews:
                return self._previews[key]
        result = curate(self.inputs(), config)
        with self._preview_lock:
            self._previews = {key: result, **dict(list(self._previews.items())[:7])}
        return result

    def ready_for_preview(self, status: Label) -> bool:
        if self.ingest is None:
            status.update("reading the sources…")
            return False
        if self.ingest.messages.is_empty() and self.ingest.instructions.is_empty():
            status.update("add sources first (1 Sources)")
            return False
        if self.ingest.messages.height and not self.workspace.get("build", "me"):
            status.update("confirm who is me first (2 People)")
            return False
        return True


def run_app(workspace_dir: str | Path) -> int:
    app = CloneKitApp(Workspace.open(workspace_dir))
    app.run()
    return 0
