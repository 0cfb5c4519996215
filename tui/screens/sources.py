"""1 Sources: add exports (path input with completion), see the detected format and the
message count per file, errors inline, and the chats found."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label

from builder.errors import ClonekitError
from builder.wording import plural
from tui.messages import SourcesLoaded, WorkDone
from tui.screens.base import Page
from tui.widgets.path_suggester import PathSuggester


def ingest_workspace(paths: list[str], on_event, cancel):
    from builder.ingest import IngestResult, ingest_paths

    if not paths:
        return IngestResult()
    return ingest_paths(paths, on_event=on_event, cancel=cancel, strict=False)


class SourcesPage(Page):
    TITLE = "Sources"
    KEYS = "type a path (→ completes it), enter adds it · del removes the selected source · r re-reads · esc leaves the field"
    DEFAULT_FOCUS = "#files"
    BINDINGS = [Binding("delete", "remove_source", "Remove source"), Binding("r", "reload", "Re-read")]

    def compose(self) -> ComposeResult:
        yield Label("Add an export file, zip or folder (WhatsApp, Telegram, Discord, Signal, iMessage, Messenger, "
                    "Instagram, CSV, Q&A):", classes="hint")
        with Horizontal(classes="row"):
            yield Input(placeholder="path, e.g. exports/ (→ completes)", id="source-path",
                        suggester=PathSuggester(self.workspace.root))
            yield Button("Add", id="add-source", variant="primary")
        yield Label("", id="sources-status", classes="status")
        yield Label("Sources and files", classes="section")
        yield DataTable(id="files", cursor_type="row", zebra_stripes=True)
        yield Label("Chats found", classes="section")
        yield DataTable(id="chats", cursor_type="row", zebra_stripes=True)

    def focus_default(self) -> None:
        self.query_one("#files" if self.workspace.sources() else "#source-path").focus()

    def on_mount(self) -> None:
        files = self.query_one("#files", DataTable)
        files.add_columns("source / file", "format", "messages", "error")
        chats = self.query_one("#chats", DataTable)
        chats.add_columns("chat", "format", "messages", "senders", "first", "last")
        self.refresh_page()

    # ------------------------------------------------------------------ actions
    @on(Input.Submitted, "#source-path")
    @on(Button.Pressed, "#add-source")
    def add_source(self) -> None:
        box = self.query_one("#source-path", Input)
        try:
            stored = self.workspace.add_source(box.value)
        except ClonekitError as err:
            self.error(str(err))
            return
        box.value = ""
        self.app.notify(f"added {stored}; reading it…")
        self.set_config({})  # broadcast: the sources changed
        self.reload()

    def action_remove_source(self) -> None:
        table = self.query_one("#files", DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        source = key.partition("\0")[0]
        if source not in self.workspace.sources():
            self.error("select a source row (the bold lines) to remove it")
            return
        self.workspace.remove_source(source)
        self.app.notify(f"removed {source}")
        self.set_config({})
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        paths = [str(p) for p in self.workspace.source_paths()]
        self.query_one("#sources-status", Label).update(f"reading {len(paths)} source(s)…" if paths else
                                                        "no sources yet")
        self.run_core("ingest", ingest_workspace, paths)

    def on_work_done(self, message: WorkDone) -> None:
        if message.job != "ingest":
            return
        message.stop()
        if message.error:
            self.query_one("#sources-status", Label).update(f"[red]{message.error}[/]")
            self.error(message.error)
            return
        self.post_message(SourcesLoaded(message.result))

    # ------------------------------------------------------------------ view
    def refresh_page(self) -> None:
        from builder.ingest import summary

        result = self.ck.ingest
        files = self.query_one("#files", DataTable)
        chats = self.query_one("#chats", DataTable)
        files.clear()
        chats.clear()
        sources = self.workspace.sources()
        reports = list(result.files) if result is not None else []
        for source, full in zip(sources, self.workspace.source_paths()):
            mine = [r for r in reports if r.path.startswith(str(full))]
            n = sum(r.n_messages for r in mine)
            bad = sum(1 for r in mine if r.error)
            files.add_row(f"[b]{source}[/b]", "", f"{n:,}" if result is not None else "…",
                          f"[red]{bad} file(s) failed[/]" if bad else "", key=source)
            for i, r in enumerate(mine):
                shown = self.workspace.display_path(r.path.split("!/")[0]) + (
                    "!/" + r.path.split("!/", 1)[1] if "!/" in r.path else "")
                files.add_row(f"  {shown}", r.format or "?", f"{r.n_messages:,}",
                              f"[red]{r.error}[/]" if r.error else "", key=f"{source}\0{i}")
        if result is not None and result.messages.height:
            for row in summary.chat_table(result).select(
                    "chat", "format", "messages", "senders", "first", "last").iter_rows():
                chats.add_row(row[0], row[1], f"{row[2]:,}", str(row[3]), row[4] or "", row[5] or "")
        status = self.query_one("#sources-status", Label)
        if result is not None:
            failed = sum(1 for r in reports if r.error)
            status.update(f"{plural(result.messages.height, 'message')} in {plural(chats.row_count, 'chat')}"
                          + (f" · {result.instructions.height:,} instruction records" if result.instructions.height else "")
                          + (f" · [red]{failed} file(s) could not be read and were skipped "
                             "(see the error column)[/]" if failed else ""))
