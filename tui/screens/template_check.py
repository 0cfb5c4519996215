"""The Train page's Check template (`clonekit train --base X --check` in the TUI): the
template probe's verdict, how many records can be trained on, and three rendered
records with the loss-carrying text highlighted. Built from trainer.template_check's
CheckReport, the same result the CLI prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

if TYPE_CHECKING:
    from trainer.template_check import CheckReport

LOSS_STYLE = "reverse bold"  # the text the model is trained to produce


def summary_text(report: "CheckReport") -> Text:
    """The verdict lines, the trainable count and any problems (problems in yellow)."""
    text = Text()
    for line in report.verdict:
        text.append(line + "\n")
    if report.total_records:
        ok = report.trainable_records == report.total_records
        text.append(f"{report.trainable_records} of {report.total_records} training records can be trained on\n",
                    style="green" if ok else "yellow")
    for line in report.problems:
        text.append(line + "\n", style="yellow")
    text.rstrip()
    return text


def record_text(segments: list[tuple[str, bool]]) -> Text:
    """One rendered record; loss-carrying text in LOSS_STYLE."""
    text = Text()
    for part, trained in segments:
        text.append(part, style=LOSS_STYLE if trained else "")
    return text


class TemplateCheckScreen(ModalScreen):
    """The --check report for one base and dataset version; Escape or Close returns."""

    BINDINGS = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = """
    TemplateCheckScreen { align: center middle; }
    TemplateCheckScreen > Vertical { width: 96%; max-width: 120; height: 92%;
                                     border: round $accent; padding: 0 1; background: $surface; }
    TemplateCheckScreen #check-body { height: 1fr; }
    TemplateCheckScreen #check-summary { margin-bottom: 1; }
    TemplateCheckScreen .check-where { color: $text-muted; }
    TemplateCheckScreen .check-record { padding: 0 1; background: $boost; margin-bottom: 1; }
    TemplateCheckScreen .row { height: auto; align-horizontal: right; }
    """

    def __init__(self, report: "CheckReport", version: str) -> None:
        super().__init__()
        self.report = report
        self.version = version

    def compose(self) -> ComposeResult:
        report = self.report
        with Vertical():
            yield Label(f"Chat template of {report.base} on {self.version}", classes="title")
            with VerticalScroll(id="check-body"):
                yield Static(summary_text(report), id="check-summary")
                if report.records:
                    yield Label(Text.assemble("Loss is on the ", ("highlighted", LOSS_STYLE),
                                              " text: what the clone learns to write."), id="check-legend")
                for i, rec in enumerate(report.records):
                    yield Label(rec.where, classes="check-where", markup=False)
                    yield Static(record_text(rec.segments), id=f"check-record-{i}", classes="check-record")
            with Horizontal(classes="row"):
                yield Button("Close", id="check-close")

    def on_mount(self) -> None:
        self.query_one("#check-body").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def action_close(self) -> None:
        self.dismiss()
