"""The Sources page lists the files it could not read, with the reason, and reads the rest
(issue 12: one bad file among many does not stop ingestion)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.workspace import Workspace
from tests.tui.test_flow import type_text
from tui.app import CloneKitApp

pytestmark = pytest.mark.anyio


async def test_unreadable_files_are_listed_with_their_reason(tmp_path: Path, settle, monkeypatch) -> None:
    ws_root = tmp_path / "ws"
    exports = ws_root / "exports"
    exports.mkdir(parents=True)
    (exports / "WhatsApp Chat with Kim.txt").write_text(
        "18/03/2024, 09:15 - Kim: Morning!\n18/03/2024, 09:16 - Sam: Hi Kim\n")
    (exports / "WhatsApp Chat with Broken.txt").write_text("32/13/2022, 25:99 - Kim: hi\n33/13/2022, 26:99 - Sam: yo\n")
    (exports / "garbage.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    for var in ("CLONEKIT_RUNS", "CLONEKIT_DATASETS", "CLONEKIT_CACHE"):
        monkeypatch.setenv(var, str(ws_root / var.lower()))
    monkeypatch.chdir(ws_root)
    app = CloneKitApp(Workspace.open(ws_root), show_path=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await type_text(pilot, "exports")
        await pilot.press("enter")
        await settle(pilot)
        assert app.ingest is not None and app.ingest.messages.height == 2
        status = str(app.query_one("#sources-status").render())
        assert "2 messages" in status and "2 file(s) could not be read and were skipped" in status
        table = app.query_one("#files")
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        by_name = {r[0].strip().rsplit("/", 1)[-1]: r for r in rows}
        assert "impossible date or time" in by_name["WhatsApp Chat with Broken.txt"][3]
        assert "binary" in by_name["garbage.txt"][3]
        assert by_name["WhatsApp Chat with Kim.txt"][2] == "2" and by_name["WhatsApp Chat with Kim.txt"][3] == ""
