"""The Telegram panel (tui/screens/deploy.py): ctrl+t on the Chat page shows the
`clonekit telegram` commands for the selected run, one --allow per contact of its
dataset with the role it knows; it copies and closes by keyboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.curate.build import build
from builder.demo_workspace import create_demo_workspace
from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = pytest.mark.anyio


@pytest.fixture
def demo_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = create_demo_workspace(tmp_path / "ws")
    monkeypatch.setenv("CLONEKIT_RUNS", str(ws.runs_root))
    monkeypatch.setenv("CLONEKIT_DATASETS", str(ws.datasets_root))
    build(ws.build_config())
    run = ws.runs_root / "20240101-000000-demo-v0001"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "run_id": run.name, "status": "done", "base": "tiny", "method": "qlora",
        "dataset": str(ws.datasets_root / "demo" / "v0001"), "dataset_version": "demo/v0001"}))
    return run


def test_commands_text():
    from tui.screens.deploy import telegram_commands

    text = telegram_commands("runs/r1", [("Alex", "friend"), ("Aunt May", "family"), ("Jo", "")])
    assert text.splitlines() == [
        "export TELEGRAM_BOT_TOKEN=...   # from @BotFather (never put it in a flag or a file)",
        "clonekit telegram runs/r1 \\",
        "    --allow USER_ID=Alex:friend \\",
        "    --allow 'USER_ID=Aunt May:family' \\",
        "    --allow USER_ID=Jo",
    ]


async def test_ctrl_t_on_chat_shows_the_allow_list_from_the_dataset(demo_run: Path, settle) -> None:
    from trainer.prompting import contact_roles
    from tui.screens.deploy import DeployScreen

    expected = {c: r for (c, r), _ in contact_roles(json.loads((demo_run / "run.json").read_text())["dataset"])
                .most_common() if c}
    assert expected  # the demo dataset has contacts with roles
    app = CloneKitApp(Workspace.open(demo_run.parent.parent), show_path=False)
    async with app.run_test(size=(100, 34)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await pilot.press("9")
        await settle(pilot)
        assert app.query_one("#chat-run").value == str(demo_run)
        app.query_one("#chat-send").focus()
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert isinstance(app.screen, DeployScreen)
        shown = app.screen.commands
        assert f"clonekit telegram {demo_run} \\" in shown
        for contact, role in list(expected.items())[:12]:
            spec = f"USER_ID={contact}" + (f":{role}" if role else "")
            assert spec in shown, (spec, shown)
        copied: list[str] = []
        app.copy_to_clipboard = copied.append
        await pilot.press("c")
        assert copied == [shown]
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, DeployScreen)
        assert errors == []
