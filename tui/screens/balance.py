"""4 Balance: caps and strategy, and each contact's share before and after, recomputed
as the inputs change."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Select

from tui.messages import WorkDone
from tui.screens.base import Page
from tui.widgets.share_bars import ShareBars
from tui.widgets.field import field


def balance_rows(app, config) -> tuple[list[dict], dict]:
    curated = app.preview(config)
    return curated.report.to_dicts(), curated.stats


class BalancePage(Page):
    TITLE = "Balance"
    KEYS = "c edits the cap: type a % and the bars follow (empty = no cap) · tab moves between fields · esc leaves a field"
    # Not the cap field: a page key (1-9) typed there would become the cap.
    DEFAULT_FOCUS = "#balance-table"
    BINDINGS = [Binding("c", "edit_cap", "Edit the cap")]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield field("max share each (%)", Input(id="max-share", placeholder="e.g. 40", restrict=r"[0-9.]*"))
            with Vertical(classes="field"):
                yield Label("share measured by")
                yield Select([("tokens", "tokens"), ("conversations", "conversations")], id="share-by",
                             allow_blank=False, value="tokens")
            yield field("max conversations each", Input(id="max-convs", placeholder="no limit", restrict=r"[0-9]*"))
            with Vertical(classes="field"):
                yield Label("which stay")
                yield Select([("random (seeded)", "random"), ("most recent", "recent")], id="strategy",
                             allow_blank=False, value="random")
        yield Label("", id="balance-status", classes="status")
        yield ShareBars(id="share-bars")
        yield DataTable(id="balance-table", zebra_stripes=True)

    def action_edit_cap(self) -> None:
        self.query_one("#max-share", Input).focus()

    def on_mount(self) -> None:
        self.query_one("#balance-table", DataTable).add_columns(
            "contact", "role", "conversations before", "after", "tokens before", "after", "share before", "after")
        self.refresh_page()

    def refresh_page(self) -> None:
        b = self.workspace.section("balance")
        for wid, value in (("#max-share", "" if b["max_share"] is None else f"{b['max_share'] * 100:g}"),
                           ("#max-convs", "" if b["max_conversations"] is None else str(b["max_conversations"]))):
            box = self.query_one(wid, Input)
            if not box.has_focus and box.value != value:
                box.value = value
        self.query_one("#share-by", Select).value = b["share_by"]
        self.query_one("#strategy", Select).value = b["strategy"]
        self.recompute()

    def recompute(self) -> None:
        if not self.ck.ready_for_preview(self.query_one("#balance-status", Label)):
            self.query_one("#share-bars", ShareBars).set_rows([], None)
            return
        self.query_one("#balance-status", Label).update("computing…")
        self.run_core("balance", balance_rows, self.ck, self.workspace.build_config(), with_events=False)

    @on(Input.Changed, "#max-share")
    @on(Input.Changed, "#max-convs")
    @on(Select.Changed)
    def inputs_changed(self) -> None:
        share = self.query_one("#max-share", Input).value.strip()
        convs = self.query_one("#max-convs", Input).value.strip()
        try:
            max_share = float(share) / 100 if share else None
            max_convs = int(convs) if convs else None
        except ValueError:
            self.query_one("#balance-status", Label).update(f"[red]'{share}' is not a number[/]")
            return
        changes = {"balance.max_share": max_share, "balance.max_conversations": max_convs,
                   "balance.share_by": self.query_one("#share-by", Select).value,
                   "balance.strategy": self.query_one("#strategy", Select).value}
        current = self.workspace.section("balance")
        if all(current[k.partition(".")[2]] == v for k, v in changes.items()):
            return  # the fields were just filled from the config
        if self.set_config(changes):
            self.recompute()

    def on_work_done(self, message: WorkDone) -> None:
        if message.job != "balance":
            return
        message.stop()
        status = self.query_one("#balance-status", Label)
        if message.error:
            status.update(f"[red]{message.error}[/]")
            return
        rows, stats = message.result
        cap = self.workspace.section("balance")["max_share"]
        self.query_one("#share-bars", ShareBars).set_rows(
            [(r["contact"], r["share_before"], r["share_after"]) for r in rows], cap)
        table = self.query_one("#balance-table", DataTable)
        table.clear()
        for r in rows:
            table.add_row(r["contact"], r["role_tag"], str(r["conversations_before"]), str(r["conversations_after"]),
                          f"{r['tokens_before']:,}", f"{r['tokens_after']:,}",
                          f"{r['share_before']:.1%}", f"{r['share_after']:.1%}")
        before = sum(r["conversations_before"] for r in rows)
        after = sum(r["conversations_after"] for r in rows)
        status.update(f"{after:,} of {before:,} chat conversations kept · "
                      f"{sum(r['tokens_after'] for r in rows):,} tokens")
