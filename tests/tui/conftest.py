"""Workspaces for the TUI tests: the bundled demo exports in a temp folder named `ws`
(the app shows only that name, so snapshots do not depend on the temp path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.demo_data import materialize_demo
from builder.demo_workspace import create_demo_workspace


@pytest.fixture
def bare_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Demo exports under ws/exports, no clonekit.toml yet."""
    ws = tmp_path / "ws"
    materialize_demo(ws)
    monkeypatch.setenv("CLONEKIT_RUNS", str(ws / "runs"))
    monkeypatch.setenv("CLONEKIT_DATASETS", str(ws / "datasets"))
    monkeypatch.setenv("CLONEKIT_CACHE", str(ws / ".clonekit-cache"))
    return ws


@pytest.fixture
def demo_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo workspace (exports + clonekit.toml) under ws/, no dataset version yet."""
    ws = create_demo_workspace(tmp_path / "ws")
    monkeypatch.setenv("CLONEKIT_RUNS", str(ws.runs_root))
    monkeypatch.setenv("CLONEKIT_DATASETS", str(ws.datasets_root))
    return ws.root


@pytest.fixture
def built_demo_ws(demo_ws: Path) -> Path:
    """The demo workspace with its first dataset version built."""
    from builder.curate.build import build
    from builder.workspace import Workspace

    build(Workspace.open(demo_ws).build_config())
    return demo_ws


async def _settle(pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.fixture
def settle():
    """``await settle(pilot)``: wait until the workers (and the messages they post) are done."""
    return _settle


def error_notes(app) -> list[str]:
    """The messages of every error notification ``app`` shows from now on (the list fills
    as the test runs): a flow test ends by asserting it is empty."""
    errors: list[str] = []
    original_notify = app.notify

    def notify(message, *a, severity="information", **kw):
        if severity == "error":
            errors.append(message)
        return original_notify(message, *a, severity=severity, **kw)

    app.notify = notify
    return errors


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio through anyio's pytest plugin (anyio comes with openai)."""
    return "asyncio"
