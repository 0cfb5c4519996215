"""A snapshot of every page at 120x40 and at 80x24 (the smallest supported terminal) on
the demo workspace with one version written.
The workspace folder is named `ws` and the app shows only that name, so nothing in the
render depends on the temp path or the clock. Update with --snapshot-update after a
deliberate UI change, and look at the diff report first."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.workspace import Workspace
from tui.app import PAGES, CloneKitApp

SIZE = (120, 40)


def quiet_app(ws: Path) -> CloneKitApp:
    app = CloneKitApp(Workspace.open(ws), show_path=False)
    app.animation_level = "none"  # the tab underline slides: a snapshot mid-slide would differ
    return app


def steady_cursors(app: CloneKitApp) -> None:
    """A blinking cursor is on or off depending on when the snapshot is taken."""
    for widget in app.query("Input, TextArea"):
        widget.cursor_blink = False


@pytest.mark.parametrize("number", range(1, len(PAGES) + 1), ids=[name for name, _ in PAGES])
def test_page(number: int, built_demo_ws: Path, snap_compare) -> None:
    app = quiet_app(built_demo_ws)
    assert snap_compare(app, terminal_size=SIZE, run_before=_open_page(number))


@pytest.mark.parametrize("number", range(1, len(PAGES) + 1), ids=[name for name, _ in PAGES])
def test_page_80x24(number: int, built_demo_ws: Path, snap_compare) -> None:
    """Every tab label fits, panes share the width, fields are one line high."""
    app = quiet_app(built_demo_ws)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open_page(number))


def _open_page(number: int):

    async def open_page(pilot) -> None:
        steady_cursors(pilot.app)
        for _ in range(3):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.press(str(number))
        for _ in range(4):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

    return open_page


def test_key_help(built_demo_ws: Path, snap_compare) -> None:
    """`?` opens the key help beside the page."""
    app = quiet_app(built_demo_ws)

    async def help_panel(pilot) -> None:
        steady_cursors(pilot.app)
        for _ in range(3):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=help_panel)
