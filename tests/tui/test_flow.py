"""The whole flow driven through the keyboard with Textual's Pilot, on the demo exports:
add sources -> confirm me -> set a role -> cap the dominant contact at 40% -> write a
version -> train the tiny model a few steps (subprocess) -> chat gets a reply."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from builder.curate.build import build
from builder.curate.config import load_build_config
from builder.curate.store import NothingChanged
from builder.workspace import Workspace
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(c, c) for c in text])


async def test_sources_to_chat(bare_workspace: Path, settle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(bare_workspace)
    ws = Workspace.open(bare_workspace)
    app = CloneKitApp(ws, show_path=False)
    async with app.run_test(size=(120, 40)) as pilot:
        errors = error_notes(app)
        await settle(pilot)

        # 1 Sources: the path box has focus in an empty workspace; → completes "exp" to "exports/"
        assert app.focused is app.query_one("#source-path")
        await type_text(pilot, "exp")
        await pilot.pause()
        await pilot.press("right", "enter")
        await settle(pilot)
        assert ws.sources() == ["exports"]
        assert app.ingest is not None and app.ingest.messages.height > 20000
        assert "22,153 messages in 6 chats" in str(app.query_one("#sources-status").render())

        # 2 People: confirm the suggested me, then tag Jess as "sister"
        await pilot.press("escape", "2")
        await settle(pilot)
        assert app.query_one("#page-people").suggested[0] == "Sam"
        await pilot.press("c")
        await settle(pilot)
        assert Workspace.open(bare_workspace).get("build", "me") == ["Sam"]
        table = app.query_one("#contacts")
        names = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert names[0] == "Alex" and "Jess" in names
        table.move_cursor(row=names.index("Jess"))
        await pilot.press("enter")
        await type_text(pilot, "sister")
        await pilot.press("enter")
        await settle(pilot)
        assert Workspace.open(bare_workspace).section("contacts")["roles"] == {"Jess": "sister"}

        # 4 Balance: cap every contact at 40% of the tokens
        await pilot.press("4")
        await settle(pilot)
        assert app.focused is app.query_one("#balance-table")  # so the next page key is not typed into the cap
        await pilot.press("5")  # ... and it still switches pages
        assert app.query_one("#tabs").active == "tab-synth"
        await pilot.press("4", "c")
        assert app.focused is app.query_one("#max-share")
        await type_text(pilot, "40")
        await pilot.press("enter")
        await settle(pilot)
        assert Workspace.open(bare_workspace).section("balance")["max_share"] == pytest.approx(0.4)
        bars = app.query_one("#share-bars")
        shares = {c: (b, a) for c, b, a in bars.rows}
        assert shares["Alex"][0] > 0.5 and shares["Alex"][1] <= 0.4 + 1e-6

        # 6 Filter: keep sessions of 40+ tokens (the demo chats are short bursts)
        await pilot.press("escape", "6")
        await settle(pilot)
        assert app.focused is app.query_one("#dedup")
        await pilot.click("#session-min-tokens")
        await pilot.press("end", "ctrl+u", "4", "0", "enter")
        await settle(pilot)
        assert Workspace.open(bare_workspace).section("sessions")["min_tokens"] == 40
        assert "conversations kept" in str(app.query_one("#filter-status").render())

        # 7 Preview & version: write it
        await pilot.press("escape", "7")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot, rounds=5)
        version = bare_workspace / "datasets" / "default" / "v0001"
        assert {p.name for p in version.iterdir()} == {"train.jsonl", "val.jsonl", "manifest.json"}
        manifest = json.loads((version / "manifest.json").read_text())
        train_lines = (version / "train.jsonl").read_text().splitlines()
        assert manifest["counts"]["train"] == len(train_lines) > 10
        assert manifest["config"]["build"]["me"] == ["Sam"]
        per = {r["contact"]: r for r in manifest["counts"]["per_contact"]}
        assert per["Alex"]["share_after"] <= 0.4 + 1e-6
        assert per["Jess"]["role_tag"] == "sister"
        records = [json.loads(l) for l in train_lines]
        assert any(r["meta"]["contact"] == "Jess" and r["meta"]["role_tag"] == "sister" for r in records)
        # `clonekit build --config clonekit.toml` run in the workspace writes the same data
        # (same records: idempotent, nothing is written and the version it matches is named)
        with pytest.raises(NothingChanged) as same:
            build(load_build_config(bare_workspace / "clonekit.toml"))
        assert same.value.path == version
        again = build(load_build_config(bare_workspace / "clonekit.toml"), force=True)
        assert again == version.parent / "v0002"
        for name in ("train.jsonl", "val.jsonl"):
            assert (again / name).read_bytes() == (version / name).read_bytes()

        # 8 Train: the tiny model, a few steps, in a subprocess
        await pilot.press("8")
        await settle(pilot)
        app.query_one("#train-steps").value = "3"
        await pilot.click("#train-start")
        page = app.query_one("#page-train")
        assert page.proc is not None
        deadline = time.monotonic() + 240
        while page.proc is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert page.proc is None, "training did not finish in time"
        run_json = json.loads((page.run_dir / "run.json").read_text())
        assert run_json["status"] == "done", run_json.get("error")
        assert page.query_one("#loss-chart").train, "the loss chart got no points"
        assert "done" in str(page.query_one("#train-stats").render())

        # 9 Chat: the run is offered; a message gets a streamed reply
        await pilot.press("9")
        await settle(pilot)
        assert app.query_one("#chat-run").value == str(page.run_dir)
        app.query_one("#chat-max-tokens").value = "12"
        await type_text(pilot, "hello there")
        await pilot.press("enter")
        await settle(pilot, rounds=5)
        chat = app.query_one("#page-chat")
        assert chat.session is not None
        assert chat.session.history[-1]["role"] == "assistant"
        assert chat.session.history[-2]["content"] == "hello there"
        assert chat.reply_text == chat.session.history[-1]["content"]
    assert errors == []


async def test_bad_input_is_reported_not_fatal(bare_workspace: Path, settle) -> None:
    app = CloneKitApp(Workspace.open(bare_workspace), show_path=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await type_text(pilot, "no/such/file.zip")
        await pilot.press("enter")
        await settle(pilot)
        assert any("no/such/file.zip: no such file or folder" in n.message for n in app._notifications)
        assert app.workspace.sources() == []
        # a page that needs data says what is missing instead of failing
        await pilot.press("escape", "7")
        await settle(pilot)
        assert "add sources first" in str(app.query_one("#preview-status").render())
        await pilot.press("w")
        await settle(pilot)
        assert not (bare_workspace / "datasets").exists()
