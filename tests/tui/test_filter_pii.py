"""Filter page: switching PII redaction on shows what it replaces (counts and samples in
context), the same report as `clonekit pii-report`; off hides the panel."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.curate.pii_report import report
from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = pytest.mark.anyio


async def test_pii_switch_shows_the_report_sample(demo_ws: Path, settle) -> None:
    app = CloneKitApp(Workspace.open(demo_ws), show_path=False)
    async with app.run_test(size=(140, 45)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        panel = app.query_one("#pii-sample")
        assert not panel.display  # redaction is off in the demo settings
        app.query_one("#pii").value = True
        await settle(pilot, rounds=5)
        assert Workspace.open(demo_ws).section("clean")["pii"] is True
        assert panel.display
        shown = str(panel.render())
        expected = report(app.inputs(), Workspace.open(demo_ws).build_config(), per_type=3, width=30)
        assert expected.counts["email"] > 0 and expected.counts["phone"] > 0
        assert f"{expected.counts['email']:,} email" in shown and f"{expected.counts['phone']:,} phone" in shown
        for s in expected.samples:  # each sample: the original in its context, and its placeholder
            assert s.original in shown
        assert "→ <EMAIL>" in shown and "→ <PHONE>" in shown
        app.query_one("#pii").value = False
        await settle(pilot)
        assert not panel.display
        assert errors == []
