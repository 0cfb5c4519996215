"""People: the same person on two platforms ("Priya" on Discord, "Priya Shah" on
Telegram) is suggested as one; m merges them into [contacts] aliases, moving the
settings that named the alias, and the build then treats them as one contact."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.curate.build import build
from builder.demo_workspace import create_demo_workspace
from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = pytest.mark.anyio


async def test_suggested_pair_merges_into_one_contact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settle) -> None:
    ws = create_demo_workspace(tmp_path / "ws")
    monkeypatch.setenv("CLONEKIT_DATASETS", str(ws.datasets_root))
    assert ws.section("contacts")["roles"]["Priya"] == "friend"
    app = CloneKitApp(Workspace.open(ws.root), show_path=False)
    async with app.run_test(size=(80, 24)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        hint = str(app.query_one("#alias-hint").render())
        assert "Priya" in hint and "Priya Shah" in hint and "m merges them into Priya Shah" in hint
        await pilot.press("m")
        await settle(pilot)
        contacts = Workspace.open(ws.root).section("contacts")
        assert contacts["aliases"] == {"Priya Shah": ["Priya"]}
        assert "Priya" not in contacts["roles"] and contacts["roles"]["Priya Shah"] == "friend"
        table = app.query_one("#contacts")
        names = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert "Priya Shah" in names and "Priya" not in names
        assert app.query_one("#alias-hint").has_class("hidden")
        assert errors == []
    version = build(Workspace.open(ws.root).build_config())
    text = (version / "train.jsonl").read_text() + (version / "val.jsonl").read_text()
    # group turns carry the speaker's name: the Discord "Priya" now speaks as "Priya Shah"
    assert '"name":"Priya Shah"' in text and '"name":"Priya"' not in text
