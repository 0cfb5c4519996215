"""Train page, Check template: the same report as `clonekit train --base X --check`, from
the tokenizer alone, in a modal with the loss-carrying text highlighted."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Input, Static

from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp
from tui.screens.template_check import LOSS_STYLE, TemplateCheckScreen

pytestmark = pytest.mark.anyio


def _app(ws: Path) -> CloneKitApp:
    app = CloneKitApp(Workspace.open(ws), show_path=False)
    app.animation_level = "none"
    return app


def _highlighted(text: Text) -> list[str]:
    return [text.plain[span.start:span.end] for span in text.spans if span.style == LOSS_STYLE]


async def _open_train(pilot, settle, base: str) -> None:
    await settle(pilot)
    await pilot.press("8")
    await settle(pilot)
    pilot.app.query_one("#train-base", Input).value = base


async def test_check_button_shows_verdict_and_highlighted_persona_text(built_demo_ws: Path, settle) -> None:
    app = _app(built_demo_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        errors = error_notes(app)
        await _open_train(pilot, settle, "tiny")
        await pilot.click("#train-check")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TemplateCheckScreen), errors
        report = screen.report
        summary = screen.query_one("#check-summary", Static).content
        assert isinstance(summary, Text)
        assert "persona turns end with" in summary.plain
        assert f"{report.total_records} of {report.total_records} training records can be trained on" in summary.plain
        assert report.total_records > 0 and len(report.records) == 3
        record = screen.query_one("#check-record-0", Static).content
        highlighted = _highlighted(record)
        # The persona's words carry the loss and are highlighted; the rest of the render is not.
        assert highlighted and "".join(highlighted) != record.plain
        trained = "".join(t for t, on in report.records[0].segments if on)
        assert "".join(highlighted) == trained
        persona_words = [m["content"] for m in _first_record_messages(report) if m["role"] == "assistant"]
        assert any(words.split()[0] in trained for words in persona_words)
        # It fits 80x24 and reads as text: the title, the verdict and a record on screen.
        shown = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert "Chat template of tiny" in shown and "Close" in shown
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, TemplateCheckScreen)
        assert not any(Path(built_demo_ws / "runs").glob("*/run.json"))
        assert errors == []


def _first_record_messages(report) -> list[dict]:
    import json

    path, line = report.records[0].where.split(" (", 1)[0].rsplit(":", 1)
    return json.loads(Path(path).read_text(encoding="utf-8").splitlines()[int(line) - 1])["messages"]


async def test_check_key_with_missing_base_is_a_one_line_error(built_demo_ws: Path, tmp_path: Path, settle) -> None:
    app = _app(built_demo_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        errors = error_notes(app)
        missing = tmp_path / "no-such-model"
        await _open_train(pilot, settle, str(missing))
        app.query_one("#train-start").focus()
        await pilot.press("t")
        await settle(pilot)
        assert not isinstance(app.screen, TemplateCheckScreen)
        assert len(errors) == 1 and "\n" not in errors[0], errors
        assert str(missing) in errors[0] and "does not exist" in errors[0]


async def test_check_a_local_base_with_gemma2s_template(built_demo_ws: Path, tmp_path: Path, settle) -> None:
    """A folder with only a tokenizer (Gemma 2's real template, no system role): the page
    shows the same verdict `clonekit train --check` prints, loss on the model turns."""
    from tests.trainer.test_templates_real import tiny_tokenizer

    base = tmp_path / "gemma2"
    tiny_tokenizer("gemma2").save_pretrained(base)
    app = _app(built_demo_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        errors = error_notes(app)
        await _open_train(pilot, settle, str(base))
        # Its 400-token vocabulary makes every demo record longer than tiny-cpu's 512 tokens:
        # the report says so instead of showing records.
        await pilot.click("#train-check")
        await settle(pilot)
        assert isinstance(app.screen, TemplateCheckScreen), errors
        summary = app.screen.query_one("#check-summary", Static).content.plain
        assert "beyond max length 512 tokens" in summary and not app.screen.query(".check-record")
        await pilot.press("escape")
        await settle(pilot)
        app.query_one("#train-max-length", Input).value = "4096"
        await pilot.click("#train-check")
        await settle(pilot)
        assert isinstance(app.screen, TemplateCheckScreen), errors
        summary = app.screen.query_one("#check-summary", Static).content.plain
        assert "the base model's own chat template; persona turns end with '<end_of_turn>'" in summary
        assert "no system role: the persona prompt is folded into the first user turn" in summary
        record = app.screen.query_one("#check-record-0", Static).content
        assert "<start_of_turn>model\n" in record.plain
        assert all(part.endswith("<end_of_turn>") for part in _highlighted(record))
        assert errors == []
