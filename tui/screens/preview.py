"""7 Preview & version: the conversations exactly as the version will hold them
(persona prompt, the contact's turns, your turns highlighted, token counts), the
difference from the latest version, and writing the new version."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Label, ProgressBar, Static

from builder.events import Log, Progress
from builder.wording import plural
from tui.messages import CoreEvent, VersionWritten, WorkDone
from tui.screens.base import Page
from tui.widgets.conversation_view import ConversationView


def preview_and_diff(app, config):
    """(records, stats, diff text lines) for the page."""
    from builder.curate.diff import diff_versions
    from builder.curate.store import DatasetVersion, list_versions
    from builder.workspace import preview_records

    curated = app.preview(config)
    records = preview_records(curated)
    name = config.build.name
    previous = [v for v in list_versions(config.build.root) if v.name == name]
    lines: list[str] = []
    if previous:
        from builder.curate.store import load_version

        latest = load_version(previous[-1].path)
        candidate = DatasetVersion(path=latest.path, name=name, version="(new)", manifest={},
                                   train=[r for r in records if r["split"] == "train"],
                                   val=[r for r in records if r["split"] == "val"])
        d = diff_versions(latest, candidate)
        lines.append(f"vs {latest.ref}: +{len(d.added)} added, -{len(d.removed)} removed, {d.unchanged} unchanged")
        for row in d.contacts.iter_rows(named=True):
            delta = row["conversations_b"] - row["conversations_a"]
            if delta or abs(row["share_b"] - row["share_a"]) > 0.0005:
                lines.append(f"  {row['contact']}: {row['conversations_a']} → {plural(row['conversations_b'], 'conversation')}, "
                             f"share {row['share_a']:.1%} → {row['share_b']:.1%}")
    else:
        lines.append(f"no earlier version of '{name}': this will be {name}/v0001")
    return records, curated.stats, lines


def write_version(config, on_event, cancel, force: bool = False):
    """(version folder, written?): with nothing changed since the latest version, nothing
    is written (unless ``force``) and that version is returned."""
    from builder.curate.build import build
    from builder.curate.store import NothingChanged

    try:
        return build(config, on_event=on_event, cancel=cancel, force=force), True
    except NothingChanged as unchanged:
        return unchanged.path, False


class PreviewPage(Page):
    TITLE = "Preview"
    KEYS = "↑↓ browse conversations · w write the version (W: even if nothing changed) · r refresh"
    DEFAULT_FOCUS = "#conv-list"
    BINDINGS = [Binding("w", "write", "Write version"), Binding("W", "write(True)", "Write anyway", show=False),
                Binding("r", "refresh_preview", "Refresh")]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Button("Write version (w)", id="write-version", variant="success")
            yield Button("Refresh (r)", id="refresh-preview")
            yield ProgressBar(id="build-progress", show_eta=False, classes="hidden")
        yield Label("", id="preview-status", classes="status")
        yield Static("", id="diff", classes="diff")
        with Horizontal():
            with Vertical(id="conv-list-pane"):
                yield DataTable(id="conv-list", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="conv-view-pane"):
                yield ConversationView(id="conv-view")

    def on_mount(self) -> None:
        table = self.query_one("#conv-list", DataTable)
        # Fixed widths: auto widths measured on the first rows truncated "10" to "1" and
        # the roles until the table was filled a second time.
        for label, width in (("#", 4), ("split", 5), ("contact", 20), ("role", 10), ("turns", 5), ("tokens", 6)):
            table.add_column(label, width=width)
        self.records: list[dict] = []
        self.refresh_page()

    def refresh_page(self) -> None:
        status = self.query_one("#preview-status", Label)
        if not self.ck.ready_for_preview(status):
            return
        status.update("rendering the conversations…")
        self.run_core("preview", preview_and_diff, self.ck, self.workspace.build_config(), with_events=False)

    def action_refresh_preview(self) -> None:
        self.refresh_page()

    @on(Button.Pressed, "#refresh-preview")
    def _refresh(self) -> None:
        self.refresh_page()

    @on(Button.Pressed, "#write-version")
    def _write_pressed(self) -> None:
        self.action_write()

    def action_write(self, force: bool = False) -> None:
        if not self.ck.ready_for_preview(self.query_one("#preview-status", Label)):
            self.error("cannot write yet: add sources and confirm who is me")
            return
        self.query_one("#preview-status", Label).update("writing the version…")
        self.query_one("#write-version", Button).disabled = True
        self.query_one("#build-progress", ProgressBar).remove_class("hidden")
        self.run_core("write", write_version, self.workspace.build_config(), force=force)

    def on_core_event(self, message: CoreEvent) -> None:
        if message.job != "write":
            return
        message.stop()
        e = message.event
        if isinstance(e, Progress):
            bar = self.query_one("#build-progress", ProgressBar)
            bar.update(total=e.total, progress=e.done)
            self.query_one("#preview-status", Label).update(f"{e.stage} {e.detail}")
        elif isinstance(e, Log) and e.level == "warning":
            self.app.notify(e.message, severity="warning")

    def on_work_done(self, message: WorkDone) -> None:
        if message.job not in ("preview", "write"):
            return
        message.stop()
        status = self.query_one("#preview-status", Label)
        if message.job == "write":
            self.query_one("#write-version", Button).disabled = False
            self.query_one("#build-progress", ProgressBar).add_class("hidden")
            if message.error:
                status.update(f"[red]{message.error}[/]")
                self.error(message.error)
                return
            path, written = message.result
            if not written:
                shown = f"{path.parent.name}/{path.name}"
                status.update(f"[yellow]nothing changed since {shown}[/]: nothing written (W writes a copy anyway)")
                self.app.notify(f"nothing changed since {shown}; no new version written")
                return
            self.post_message(VersionWritten(str(path)))
            self.app.notify(f"wrote {self.workspace.display_path(path)}")
            status.update(f"wrote [b]{self.workspace.display_path(path)}[/b]")
            self.refresh_page()
            return
        if message.error:
            status.update(f"[red]{message.error}[/]")
            return
        self.records, stats, diff = message.result
        train = sum(1 for r in self.records if r["split"] == "train")
        tokens = stats.get("tokens", {})
        status.update(f"{len(self.records):,} conversations ({train} train, {len(self.records) - train} val) · "
                      f"{tokens.get('train', {}).get('total', 0) + tokens.get('val', {}).get('total', 0):,} tokens")
        self.query_one("#diff", Static).update("\n".join(diff))
        table = self.query_one("#conv-list", DataTable)
        table.clear()
        for i, r in enumerate(self.records):
            meta = r["meta"]
            table.add_row(str(i + 1), r["split"], meta["contact"][:20], meta["role_tag"][:10], str(meta["n_turns"]),
                          str(meta["n_tokens"]), key=str(i))
        self._show(0)

    @on(DataTable.RowHighlighted, "#conv-list")
    def _highlight(self, event: DataTable.RowHighlighted) -> None:
        self._show(int(event.row_key.value or 0))

    def _show(self, index: int) -> None:
        persona = self.workspace.section("persona")["name"] or (self.workspace.get("build", "me", []) or ["me"])[0]
        record = self.records[index] if 0 <= index < len(self.records) else None
        self.query_one("#conv-view", ConversationView).show(record, persona)
