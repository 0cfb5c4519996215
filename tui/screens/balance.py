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
    KEYS = "c edits the cap: type a percent, enter applies (empty + enter = no cap) · tab moves · esc leaves a field"
    # Not the cap field: a page key (1-9) typed there would become the cap.
    DEFAULT_FOCUS = "#balance-table"
    BINDINGS = [Binding("c", "edit_cap", "Edit the cap")]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield field("max share each (%)", Input(id="max-share", placeholder="no cap; e.g. 40", restrict=r"[0-9.]*"))
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

    # The number fields are applied on enter (or when focus leaves them), never per
    # keystroke: a field that is empty halfway through an edit must not delete a setting.
    @on(Input.Submitted, "#max-share")
    @on(Input.Submitted, "#max-convs")
    def number_submitted(self, event: Input.Submitted) -> None:
        self._apply_number(event.input, submitted=True)

    @on(Input.Blurred, "#max-share")
    @on(Input.Blurred, "#max-convs")
    def number_left(self, event: Input.Blurred) -> None:
        self._apply_number(event.input, submitted=False)

    def _apply_number(self, box: Input, submitted: bool) -> None:
        """Validate the field and save it. Empty clears the limit only when submitted with
        enter (a deliberate "no cap"); empty or invalid on leaving restores the saved value."""
        saved = self.workspace.section("balance")
        key = "max_share" if box.id == "max-share" else "max_conversations"
        shown = self._shown(key, saved[key])
        text = box.value.strip()
        status = self.query_one("#balance-status", Label)
        if text == shown:
            return
        try:
            value = self._parse(key, text)
        except ValueError as err:
            status.update(f"[red]{err}[/]; {'fix it and press enter' if submitted else 'kept ' + (shown or 'no limit')}")
            if not submitted:
                box.value = shown
            return
        if value is None and not submitted:
            box.value = shown  # left empty without enter: keep the setting
            return
        if self.set_config({f"balance.{key}": value}):
            if key == "max_share":
                status.update("no cap" if value is None else f"cap {text}% saved (balance.max_share = {value:g})")
            self.recompute()

    @staticmethod
    def _shown(key: str, value) -> str:
        if value is None:
            return ""
        return f"{value * 100:g}" if key == "max_share" else str(value)

    @staticmethod
    def _parse(key: str, text: str):
        if not text:
            return None
        if key == "max_share":
            try:
                percent = float(text)
            except ValueError:
                raise ValueError(f"max share: '{text}' is not a number") from None
            if not 0 < percent <= 100:
                raise ValueError(f"max share: {text} is not a percent between 0 and 100")
            return round(percent / 100, 6)
        try:
            count = int(text)
        except ValueError:
            raise ValueError(f"max conversations: '{text}' is not a whole number") from None
        if count < 1:
            raise ValueError("max conversations: at least 1 (empty = no limit)")
        return count

    @on(Select.Changed, "#share-by")
    @on(Select.Changed, "#strategy")
    def choice_changed(self, event: Select.Changed) -> None:
        key = "share_by" if event.select.id == "share-by" else "strategy"
        if self.workspace.section("balance")[key] == event.value:
            return  # the field was just filled from the config
        if self.set_config({f"balance.{key}": event.value}):
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
