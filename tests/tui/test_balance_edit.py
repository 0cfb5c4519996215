"""Balance: the cap is applied on enter, never per keystroke, so a field that is empty
halfway through an edit never deletes balance.max_share from clonekit.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = pytest.mark.anyio


def saved_cap(ws: Path):
    return Workspace.open(ws).section("balance")["max_share"]


async def test_typing_fast_in_the_cap_never_removes_it(demo_ws: Path, settle) -> None:
    app = CloneKitApp(Workspace.open(demo_ws), show_path=False)
    async with app.run_test(size=(120, 40)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert saved_cap(demo_ws) == pytest.approx(0.4)
        # the reported sequence: c, End, BSpace, BSpace (field empty), then 2 5
        await pilot.press("c", "end", "backspace", "backspace")
        assert app.query_one("#max-share").value == ""
        assert saved_cap(demo_ws) == pytest.approx(0.4)  # an empty field mid-edit deletes nothing
        await pilot.press("2", "5")
        assert saved_cap(demo_ws) == pytest.approx(0.4)  # nothing applied before enter
        await pilot.press("enter")
        await settle(pilot)
        assert saved_cap(demo_ws) == pytest.approx(0.25)
        assert "max_share = 0.25" in (demo_ws / "clonekit.toml").read_text()
        # emptied, then focus leaves without enter: the setting and the field come back
        await pilot.press("backspace", "backspace", "tab")
        await settle(pilot)
        assert saved_cap(demo_ws) == pytest.approx(0.25) and app.query_one("#max-share").value == "25"
        # a value out of range is refused with a message; the setting stays
        app.query_one("#max-share").focus()
        await pilot.press("end", "0", "0", "enter")  # 2500
        await settle(pilot)
        assert saved_cap(demo_ws) == pytest.approx(0.25)
        assert "not a percent between 0 and 100" in str(app.query_one("#balance-status").render())
        # empty + enter: a deliberate "no cap"
        app.query_one("#max-share").value = ""
        await pilot.press("enter")
        await settle(pilot)
        assert saved_cap(demo_ws) is None
        assert errors == []
