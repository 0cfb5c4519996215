"""Train page Cancel: the training subprocess is stopped, run.json says "interrupted"
(never "running" forever), the page says what was kept, and the run picker offers it
for Resume. Slow: a real tiny-model training subprocess."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from builder.curate.build import build
from builder.demo_workspace import create_demo_workspace
from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


async def test_cancel_marks_the_run_interrupted_and_offers_resume(tmp_path: Path, monkeypatch, settle) -> None:
    ws = create_demo_workspace(tmp_path / "ws")
    monkeypatch.setenv("CLONEKIT_RUNS", str(ws.runs_root))
    monkeypatch.setenv("CLONEKIT_DATASETS", str(ws.datasets_root))
    build(ws.build_config())
    app = CloneKitApp(Workspace.open(ws.root), show_path=False)
    async with app.run_test(size=(120, 40)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)
        app.query_one("#train-steps").value = "2000"
        await pilot.click("#train-start")
        page = app.query_one("#page-train")
        run_dir = page.run_dir
        deadline = time.monotonic() + 240
        # wait for the first checkpoint (eval_steps 10 in tiny-cpu)
        while not list(run_dir.glob("checkpoints/checkpoint-*/trainer_state.json")):
            assert page.proc is not None and time.monotonic() < deadline, "no checkpoint in time"
            await asyncio.sleep(0.3)
        await pilot.click("#train-cancel")
        while page.proc is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert page.proc is None, "the training process did not stop"
        await settle(pilot)
        run = json.loads((run_dir / "run.json").read_text())
        assert run["status"] == "interrupted" and "error" not in run
        stats = str(page.query_one("#train-stats").render())
        assert "stopped" in stats and "checkpoint-" in stats and "Resume continues it" in stats, stats
        assert not page.query_one("#train-resume").disabled
        assert page.query_one("#train-run").value == str(run_dir)
        assert errors == []
