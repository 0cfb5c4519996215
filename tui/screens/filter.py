"""6 Filter: duplicate removal, token-length limits and PII redaction, with the token
length histogram, the conversations these settings would drop (with examples) and, when
PII redaction is on, what it replaces (counts per type and samples in context: the same
report as `clonekit pii-report`)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static, Switch

from tui.messages import WorkDone
from tui.screens.base import Page
from tui.widgets.conversation_view import ConversationView
from tui.widgets.histogram import Histogram
from tui.widgets.field import field


def run_filter_preview(app, config):
    from builder.workspace import filter_preview

    return filter_preview(app.inputs(), config)


def run_pii_report(app, config):
    from builder.curate.pii_report import report

    return report(app.inputs(), config, per_type=3, width=30)


def render_pii_report(r):
    """The Filter page's PII panel: counts, then each sample as before[original]after -> placeholder."""
    from rich.text import Text

    text = Text()
    found = ", ".join(f"{n:,} {k}" for k, n in r.counts.items() if n)
    text.append("PII redaction replaces: ", style="bold")
    text.append((found or "nothing found") + "\n")
    for s in r.samples:
        text.append(f"{s.kind:<6} ", style="dim")
        text.append("…" + s.before.replace("\n", " "))
        text.append(s.original, style="reverse")
        text.append(s.after.replace("\n", " ") + "… ")
        text.append(f"→ {s.placeholder}\n", style="green")
    return text


class FilterPage(Page):
    TITLE = "Filter"
    KEYS = "tab moves between fields · space flips a switch · enter (or Apply) shows what would be dropped · esc leaves a field"
    DEFAULT_FOCUS = "#dedup"  # not a number field: a page key (1-9) typed there would change it

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield field("drop exact dups", Switch(id="dedup"))
            yield field("drop near dups", Switch(id="near-dup"))
            yield field("similarity ≥", Input(id="near-dup-threshold", restrict=r"[0-9.]*"))
            yield field("min tokens", Input(id="min-tokens", restrict=r"[0-9]*"))
            yield field("max tokens", Input(id="max-tokens", placeholder="no limit", restrict=r"[0-9]*"))
            yield field("redact PII", Switch(id="pii"))
            yield Button("Apply", id="apply-filter", variant="primary")
        with Horizontal(classes="form-row"):
            yield field("merge bursts within (min)", Input(id="merge-minutes", restrict=r"[0-9.]*"))
            yield field("new session after (min)", Input(id="gap-minutes", restrict=r"[0-9.]*"))
            yield field("drop sessions under (tokens)", Input(id="session-min-tokens", restrict=r"[0-9]*"))
            yield field("split over (tokens)", Input(id="session-max-tokens", restrict=r"[0-9]*"))
        yield Label("", id="filter-status", classes="status")
        with Horizontal():
            yield Histogram(id="length-hist")
            with VerticalScroll(id="dropped-examples"):
                pii_panel = Static("", id="pii-sample")
                pii_panel.display = False  # shown while PII redaction is on
                yield pii_panel
                yield Static("", id="dropped-summary")
                yield ConversationView(id="dropped-view")

    def on_mount(self) -> None:
        self.refresh_page()

    def refresh_page(self) -> None:
        c = self.workspace.section("clean")
        s = self.workspace.section("sessions")
        for wid, value in (("#merge-minutes", f"{s['merge_minutes']:g}"), ("#gap-minutes", f"{s['gap_minutes']:g}"),
                           ("#session-min-tokens", str(s["min_tokens"])), ("#session-max-tokens", str(s["max_tokens"]))):
            box = self.query_one(wid, Input)
            if not box.has_focus:
                box.value = value
        self.query_one("#dedup", Switch).value = c["dedup"]
        self.query_one("#near-dup", Switch).value = c["near_dup"]
        self.query_one("#pii", Switch).value = c["pii"]
        for wid, value in (("#near-dup-threshold", f"{c['near_dup_threshold']:g}"),
                           ("#min-tokens", str(c["min_tokens"])),
                           ("#max-tokens", "" if c["max_tokens"] is None else str(c["max_tokens"]))):
            box = self.query_one(wid, Input)
            if not box.has_focus:
                box.value = value
        self.recompute()

    def recompute(self) -> None:
        status = self.query_one("#filter-status", Label)
        if not self.ck.ready_for_preview(status):
            return
        status.update("computing…")
        config = self.workspace.build_config()
        self.run_core("filter", run_filter_preview, self.ck, config, with_events=False)
        panel = self.query_one("#pii-sample", Static)
        panel.display = config.clean.pii
        if config.clean.pii:
            panel.update("[dim]looking for PII…[/]")
            self.run_core("pii-sample", run_pii_report, self.ck, config, with_events=False)

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply-filter")
    def apply(self) -> None:
        get = lambda wid: self.query_one(wid, Input).value.strip()  # noqa: E731
        try:
            changes = {
                "clean.dedup": self.query_one("#dedup", Switch).value,
                "clean.near_dup": self.query_one("#near-dup", Switch).value,
                "clean.pii": self.query_one("#pii", Switch).value,
                "clean.near_dup_threshold": float(get("#near-dup-threshold") or 0.8),
                "clean.min_tokens": int(get("#min-tokens") or 0),
                "clean.max_tokens": int(get("#max-tokens")) if get("#max-tokens") else None,
                "sessions.merge_minutes": float(get("#merge-minutes") or 5),
                "sessions.gap_minutes": float(get("#gap-minutes") or 60),
                "sessions.min_tokens": int(get("#session-min-tokens") or 0),
                "sessions.max_tokens": int(get("#session-max-tokens") or 3000),
            }
        except ValueError:
            self.error("the thresholds and minutes are numbers, e.g. 0.8 and 5")
            return
        if self.set_config(changes):
            self.recompute()

    @on(Switch.Changed)
    def switch_changed(self, event: Switch.Changed) -> None:
        key = {"dedup": "dedup", "near-dup": "near_dup", "pii": "pii"}[event.switch.id or ""]
        if self.workspace.section("clean")[key] != event.value:
            self.apply()

    def on_work_done(self, message: WorkDone) -> None:
        if message.job == "pii-sample":
            message.stop()
            panel = self.query_one("#pii-sample", Static)
            panel.update(f"[red]{message.error}[/]" if message.error else render_pii_report(message.result))
            return
        if message.job != "filter":
            return
        message.stop()
        status = self.query_one("#filter-status", Label)
        if message.error:
            status.update(f"[red]{message.error}[/]")
            return
        r = message.result
        c = self.workspace.section("clean")
        self.query_one("#length-hist", Histogram).set_values(r["lengths"], c["min_tokens"], c["max_tokens"])
        dropped = r["total"] - r["kept"]
        why = ", ".join(f"{n} {reason}" for reason, n in r["dropped_by"].items())
        pii = ", ".join(f"{n} {k}" for k, n in r["pii"].items() if n)
        status.update(f"{r['kept']:,} of {r['total']:,} conversations kept"
                      + (f" · [red]{dropped} dropped[/] ({why})" if dropped else " · nothing dropped")
                      + (f" · PII redacted: {pii}" if pii else ""))
        summary = self.query_one("#dropped-summary", Static)
        view = self.query_one("#dropped-view", ConversationView)
        if r["examples"]:
            summary.update(f"[b]examples of dropped conversations[/b] ({len(r['examples'])} shown)")
            persona = self.workspace.section("persona")["name"] or "me"
            from rich.text import Text

            text = Text()
            for ex in r["examples"]:
                text.append(f"— dropped: {ex['reason']}\n", style="red")
                text.append_text(ConversationView.render_record(ex["record"], persona))
                text.append("\n")
            view.update(text)
        else:
            summary.update("[dim]nothing would be dropped with these settings[/]")
            view.update("")
