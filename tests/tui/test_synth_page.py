"""The Synthesize page driven with Pilot against a real local HTTP server speaking the
OpenAI protocol (tests/support/openai_server.py): the estimate, a run with progress, a
cancelled run, the review (accept/reject) and the version it writes; the settings are
kept in clonekit.toml's [synth] and the API key is written nowhere."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from builder.curate.build import build
from builder.curate.config import load_build_config
from builder.curate.store import list_versions, load_version
from builder.demo_workspace import create_demo_workspace
from builder.workspace import Workspace
from tests.support.openai_server import FakeOpenAIServer
from tests.tui.conftest import error_notes
from tui.app import CloneKitApp

pytestmark = [pytest.mark.anyio]

SECRET = "sk-test-TUI-DO-NOT-LEAK-41c9"
KEY_ENV = "CLONEKIT_TUI_TEST_KEY"


@pytest.fixture
def demo_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = create_demo_workspace(tmp_path / "ws")
    monkeypatch.setenv("CLONEKIT_RUNS", str(ws.runs_root))
    monkeypatch.setenv("CLONEKIT_DATASETS", str(ws.datasets_root))
    monkeypatch.setenv(KEY_ENV, SECRET)
    # one item per request, one request at a time: a run is many small requests, so a
    # cancel lands in the middle of one (settings a person would put in clonekit.toml)
    ws.update({"synth.per_call": 1, "synth.concurrency": 1})
    build(ws.build_config())
    return ws.root


async def wait_until(pilot, condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
        await pilot.pause()


def status(app) -> str:
    return str(app.query_one("#synth-plan").render())


async def test_estimate_run_cancel_review_and_write(demo_ws: Path, settle) -> None:
    app = CloneKitApp(Workspace.open(demo_ws), show_path=False)
    with FakeOpenAIServer(latency=0.25, max_lifetime=180) as server:
        async with app.run_test(size=(120, 40)) as pilot:
            errors = error_notes(app)
            await settle(pilot)
            await pilot.press("5")
            await settle(pilot)
            page = app.query_one("#page-synth")
            assert app.query_one("#synth-version").value == "demo/v0001"
            for wid, value in (("#synth-model", "fake-model"), ("#synth-base-url", server.base_url),
                               ("#synth-key-env", KEY_ENV), ("#synth-n", "40")):
                app.query_one(wid).value = value

            # the estimate: requests and tokens, nothing sent
            await pilot.press("e")
            await settle(pilot)
            assert "requests: 40" in status(app) and "input tokens: ~" in status(app), status(app)
            assert server.received == 0
            saved = Workspace.open(demo_ws).section("synth")
            assert saved["base_url"] == server.base_url and saved["api_key_env"] == KEY_ENV and saved["n"] == 40
            assert saved["per_call"] == 1  # the hand-set keys are kept beside the page's

            # a run, cancelled once a few requests are done: nothing is written
            await pilot.click("#synth-run")
            bar = app.query_one("#synth-progress")
            await wait_until(pilot, lambda: (bar.progress or 0) >= 3)
            assert bar.total == 40 and "hidden" not in bar.classes
            assert app.query_one("#synth-run").disabled and not app.query_one("#synth-cancel").disabled
            await pilot.click("#synth-cancel")
            await wait_until(pilot, lambda: not app.query_one("#synth-run").disabled)
            await settle(pilot)
            assert "cancelled" in status(app), status(app)
            assert [v.ref for v in list_versions(demo_ws / "datasets")] == ["demo/v0001"]
            assert page.version is None and errors == []

            # a smaller run to the end: progress reaches the total, the samples are listed
            app.query_one("#synth-n").value = "6"
            await pilot.click("#synth-run")
            await wait_until(pilot, lambda: page.version is not None, seconds=120)
            await settle(pilot)
            assert errors == []
            assert bar.progress == bar.total == 6 and "hidden" in bar.classes
            synthesized = page.version
            assert synthesized.ref == "demo/v0002"
            table = app.query_one("#synth-samples")
            assert table.row_count == len(page.samples) >= 4
            assert "demo/v0002" in status(app)

            # review with the keyboard (each mark moves down a row): reject the 1st and the
            # 2nd, go back up and accept the 2nd again, reject the 3rd
            table.focus()
            await pilot.press("home")
            await pilot.pause()
            for key in ("r", "r", "up", "a", "r"):
                await pilot.press(key)
                await pilot.pause()
            assert table.cursor_row == 3
            rejected_idx = {page.samples[0], page.samples[2]}
            assert page.rejected == rejected_idx
            statuses = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
            assert statuses[:3] == ["[red]rejected[/]", "[green]accepted[/]", "[red]rejected[/]"]
            # the highlighted sample (4th) is rendered beside the list
            fourth = synthesized.train[page.samples[3]]
            assert fourth["messages"][-1]["content"].splitlines()[0] in str(app.query_one("#synth-view").render())
            await pilot.press("W")
            await settle(pilot)
            assert errors == []

    reviewed = load_version(demo_ws / "datasets" / "demo" / "v0003")
    assert reviewed.manifest["parent"] == "demo/v0002"
    rejected = [synthesized.train[i] for i in sorted(rejected_idx)]
    accepted = [synthesized.train[i] for i in page.samples if i not in rejected_idx]
    kept_synthetic = [r for r in reviewed.train if r["meta"].get("synthetic")]
    assert kept_synthetic == accepted
    assert all(r not in reviewed.train for r in rejected)
    assert [r for r in reviewed.train if not r["meta"].get("synthetic")] == \
        [r for r in synthesized.train if not r["meta"].get("synthetic")]
    assert reviewed.val == synthesized.val
    counts = reviewed.manifest["counts"]
    assert counts["synthetic_records"] == len(accepted)
    assert counts["synthetic_tokens"] == sum(r["meta"]["n_tokens"] for r in accepted)
    assert 0 < counts["synthetic_share"] < synthesized.manifest["counts"]["synthetic_share"]
    assert reviewed.manifest["review"] == {"from": "demo/v0002", "rejected_synthetic": 2,
                                           "accepted_synthetic": len(accepted)}

    # the key was sent, and is in no file of the workspace; the build still reproduces v0001
    assert server.auth_headers == {f"Bearer {SECRET}"}
    for path in demo_ws.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    toml = (demo_ws / "clonekit.toml").read_text()
    assert "[synth]" in toml and KEY_ENV in toml
    again = build(load_build_config(demo_ws / "clonekit.toml"))
    for name in ("train.jsonl", "val.jsonl"):
        assert (again / name).read_bytes() == (demo_ws / "datasets" / "demo" / "v0001" / name).read_bytes()


def test_errors_name_the_page_fields_not_cli_flags() -> None:
    from tui.screens.synth import in_page_words

    assert in_page_words("the budget (--max-cost/--max-tokens) does not cover one request") == (
        "the budget ('max cost (USD)'/[synth] max_tokens in clonekit.toml) does not cover one request")
    assert in_page_words("set a valid key in that variable or pass --api-key-env") == (
        "set a valid key in that variable or pass 'API key variable'")
    assert in_page_words("lower --n or raise synthetic_share") == "lower 'records wanted (N)' or raise synthetic_share"


def test_train_page_errors_name_its_fields_and_keep_commands() -> None:
    from tui.screens.base import in_page_words
    from tui.screens.train import TrainPage

    said = in_page_words("out of GPU memory at step 3; try --max-length 512 or --preset qlora; "
                         "continue with: clonekit train --resume --out runs/x", TrainPage.FIELD_FOR_FLAG,
                         TrainPage.SETTINGS_TABLE)
    assert said == ("out of GPU memory at step 3; try 'max length' 512 or 'preset' qlora; "
                    "continue with: clonekit train --resume --out runs/x")
