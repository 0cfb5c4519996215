"""80x24, focus and runs in the TUI: every tab label fits, a digit never leaves a field
(text or choices), the esc hint shows only in a field, the Preview pane keeps half the
width; the Train page's run picker offers an interrupted run for Resume, and the Chat
page selects the run that just finished training."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = pytest.mark.anyio


def _fake_run(ws: Path, run_id: str, status: str, **extra) -> Path:
    """A run folder as `clonekit train` leaves it (no weights: the pages only list runs)."""
    version = ws / "datasets" / "demo" / "v0001"
    d = ws / "runs" / run_id
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text('{"step": 1, "loss": 5.0}\n{"step": 2, "loss": 4.0, "eval_loss": 4.5}\n')
    (d / "run.json").write_text(json.dumps({
        "run_id": run_id, "status": status, "base": "tiny", "method": "qlora", "dataset": str(version),
        "dataset_version": "demo/v0001", "started": run_id, **extra}))
    return d


async def test_80x24_tabs_focus_and_keys(built_demo_ws: Path, settle) -> None:
    app = CloneKitApp(Workspace.open(built_demo_ws), show_path=False)
    async with app.run_test(size=(80, 24)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        tabs = list(app.query("#tabs Tab"))
        assert len(tabs) == 9 and all(t.region.right <= 80 and t.region.width > 0 for t in tabs)
        assert [str(t.label) for t in tabs][-2:] == ["8 Train", "9 Chat"]

        def esc_offered() -> bool:
            return any(b.binding.action == "leave_input" for b in app.screen.active_bindings.values())

        # the Sources page opens on its file list: no "esc Leave the field" there
        assert not esc_offered()
        await pilot.press("8")
        await settle(pilot)
        assert app.focused is app.query_one("#train-start")
        app.query_one("#train-preset").focus()
        await pilot.pause()
        assert esc_offered()
        await pilot.press("5")  # a digit in a list of choices does not switch pages ...
        assert app.query_one("#tabs").active == "tab-train"
        await pilot.press("escape")  # ... esc leaves the field for the page's default widget
        assert app.focused is app.query_one("#train-start") and not esc_offered()
        await pilot.press("5")
        assert app.query_one("#tabs").active == "tab-synth"
        assert app.focused is app.query_one("#synth-estimate")  # not a field: the next digit works
        await pilot.press("alt+8")  # alt+digit always switches
        assert app.query_one("#tabs").active == "tab-train"

        # Preview: the conversation pane keeps a readable width
        await pilot.press("7")
        await settle(pilot)
        assert app.query_one("#conv-view-pane").region.width >= 30
        assert app.query_one("#conv-list-pane").region.width >= 30
        assert errors == []


async def test_train_picker_offers_interrupted_runs_and_chat_selects_the_new_run(built_demo_ws: Path, settle) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old_done = _fake_run(built_demo_ws, "20240101-000000-demo-v0001", "done", final={"steps": 2, "best_eval_loss": 4.5})
    killed = _fake_run(built_demo_ws, "20240102-000000-demo-v0001", "running", pid=dead.pid, host=socket.gethostname())
    app = CloneKitApp(Workspace.open(built_demo_ws), show_path=False)
    async with app.run_test(size=(120, 40)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)
        picker = app.query_one("#train-run")
        labels = [str(label) for label, _ in picker._options if _ is not picker.BLANK]
        assert any("interrupted" in l and "demo/v0001" in l for l in labels), labels
        assert app.query_one("#train-resume").disabled
        picker.value = str(killed)
        await settle(pilot)
        assert not app.query_one("#train-resume").disabled
        assert "interrupted" in str(app.query_one("#train-stats").render())
        assert app.query_one("#loss-chart").train  # its loss curve is shown
        page = app.query_one("#page-train")
        assert page._command(resume=True)[-3:] == ["--resume", "--out", str(killed)]

        # a newer run finishes in the TUI; Chat selects it, not the newest-named one
        new = _fake_run(built_demo_ws, "20240103-000000-demo-v0001", "done", final={"steps": 2})
        newest = _fake_run(built_demo_ws, "20240104-000000-demo-v0001", "done", final={"steps": 2})
        app.run_finished(str(new))
        await pilot.press("9")
        await settle(pilot)
        assert app.query_one("#chat-run").value == str(new)
        assert "3 finished runs · 1 unfinished run on page 8" in str(app.query_one("#chat-status").render())
        assert {v for _, v in app.query_one("#chat-run")._options} >= {str(old_done), str(new), str(newest)}
        assert errors == []


async def test_preview_w_with_nothing_changed_writes_nothing_and_W_forces(built_demo_ws: Path, settle) -> None:
    app = CloneKitApp(Workspace.open(built_demo_ws), show_path=False)
    versions = built_demo_ws / "datasets" / "demo"
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot, rounds=5)
        assert "nothing changed since demo/v0001" in str(app.query_one("#preview-status").render())
        assert sorted(p.name for p in versions.iterdir()) == ["v0001"]
        await pilot.press("W")
        await settle(pilot, rounds=5)
        assert sorted(p.name for p in versions.iterdir()) == ["v0001", "v0002"]
        assert any("wrote" in n.message and "v0002" in n.message for n in app._notifications)
        assert errors == []
