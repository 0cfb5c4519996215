"""The blind test screen driven with Pilot: opened from the command palette, a rater
answers with single keys (1, 2, s), stops with q, the scores land in eval.md, and the same
rater coming back continues with the items left; with items not prepared yet, Start
generates them with the tiny run's model in a worker first."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest

from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = [pytest.mark.anyio]


def write_run(runs: Path, n: int = 5) -> tuple[Path, list[dict]]:
    run = runs / "r1"
    (run / "blind").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "status": "done"}))
    items = [{"item": f"it{i}", "contact": "Alex", "role_tag": "partner",
              "context": [{"role": "user", "name": "Alex", "content": f"where are you {i}"}],
              "real": f"on my way {i}", "clone": f"almost there {i}"} for i in range(n)]
    (run / "blind" / "items.json").write_text(json.dumps(
        {"run_id": "r1", "persona": "Sam", "sampling": {}, "seed": 0, "complete": True, "items": items}))
    return run, items


async def wait_until(pilot, condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
        await pilot.pause()


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def open_blind(pilot) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"blind")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause()


async def test_rater_session_stop_and_resume(tmp_path: Path, settle) -> None:
    ws = Workspace.open(tmp_path / "ws")
    run, items = write_run(ws.runs_root)
    app = CloneKitApp(ws, show_path=False)
    async with app.run_test(size=(120, 40)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await open_blind(pilot)
        assert type(app.screen).__name__ == "BlindScreen"
        assert app.focused is app.screen.query_one("#blind-rater")
        await pilot.press(*"Jess", "enter")
        await pilot.pause()
        assert app.focused is app.screen.query_one("#blind-choices")
        assert "item 1 of 5 · chat with Alex (partner)" in text_of(app, "#blind-status")
        assert text_of(app, "#blind-question") == "Which one did Sam write?"
        options = {text_of(app, "#blind-option-1"), text_of(app, "#blind-option-2")}
        assert any(o.startswith("on my way") for o in options) and any(o.startswith("almost there") for o in options)
        await pilot.press("1", "2", "s")
        assert "item 4 of 5" in text_of(app, "#blind-status")
        await pilot.press("q")
        await settle(pilot)
        assert "Jess: 3 answers saved; 2 items left" in text_of(app, "#blind-status")
        assert "written to eval.md" in text_of(app, "#blind-status")
        answers = [json.loads(x) for x in (run / "blind" / "answers.jsonl").read_text().splitlines()]
        assert [a["verdict"] for a in answers][2] == "skip" and len(answers) == 3
        assert "This rests on 2 human judgements" in (run / "eval.md").read_text()

        # the same rater again: the two items left, then done
        assert app.focused is app.screen.query_one("#blind-rater")
        await pilot.press("enter")
        await pilot.pause()
        assert "item 4 of 5" in text_of(app, "#blind-status")
        await pilot.press("2", "1")
        await settle(pilot)
        assert "Jess: 2 answers saved; all items done" in text_of(app, "#blind-status")
        answers = [json.loads(x) for x in (run / "blind" / "answers.jsonl").read_text().splitlines()]
        assert sorted(a["item"] for a in answers) == sorted(it["item"] for it in items)  # each exactly once
        assert json.loads((run / "eval.json").read_text())["fidelity"]["blind"]["overall"]["n"] == 4

        await pilot.press("escape", "escape")  # out of the name field, then back to the pages
        await pilot.pause()
        assert type(app.screen).__name__ != "BlindScreen"
        assert errors == []


@pytest.mark.slow
async def test_start_prepares_items_with_the_model(tmp_path: Path, settle) -> None:
    from tests.trainer.run_fixture import make_run

    ws = Workspace.open(tmp_path / "ws")
    run = make_run(tmp_path / "made")
    shutil.move(str(run), ws.runs_root / "tiny-run")
    run = ws.runs_root / "tiny-run"
    ws.set_section("chat", {"temperature": 0.7, "top_p": 0.95, "max_new_tokens": 6})
    app = CloneKitApp(ws, show_path=False)
    async with app.run_test(size=(120, 40)) as pilot:
        errors = error_notes(app)
        await settle(pilot)
        await open_blind(pilot)
        await pilot.press(*"Mia", "enter")
        await wait_until(pilot, lambda: "item 1 of" in text_of(app, "#blind-status"))
        prepared = json.loads((run / "blind" / "items.json").read_text())
        assert prepared["complete"] and prepared["sampling"]["max_new_tokens"] == 6  # the Chat page's settings
        await pilot.press("1", "q")
        await settle(pilot)
        assert "Mia: 1 answer saved; " in text_of(app, "#blind-status")
        assert errors == []
