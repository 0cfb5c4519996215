"""`clonekit demo`: the demo workspace, and the headless end-to-end run."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from builder.demo_data import DEMO_CONTACT_ROLES, DEMO_PERSONA
from builder.demo_workspace import create_demo_workspace
from builder.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def test_demo_workspace_config_and_refresh(tmp_path: Path) -> None:
    ws = create_demo_workspace(tmp_path / "demo")
    data = tomllib.loads((ws.root / "clonekit.toml").read_text(encoding="utf-8"))
    assert data["build"]["me"] == ["Sam", "Sam Kellett"]  # the names Sam writes under in these exports
    assert data["build"]["sources"] == ["exports"]
    assert data["contacts"]["roles"] == DEMO_CONTACT_ROLES
    assert data["persona"]["facts"] == DEMO_PERSONA["facts"]
    assert data["balance"]["max_share"] == 0.4
    assert sorted(p.name for p in (ws.root / "exports").iterdir())[:2] == ["WhatsApp Chat - Jess.zip", "WhatsApp Chat - Mum.zip"]
    # a hand edit, then a refresh: the demo settings come back, the file stays loadable
    Workspace.open(ws.root).update({"balance.max_share": 0.9})
    create_demo_workspace(ws.root)
    assert Workspace.open(ws.root).section("balance")["max_share"] == 0.4


def test_workspace_rejects_bad_values_without_writing(tmp_path: Path) -> None:
    ws = create_demo_workspace(tmp_path / "demo")
    before = ws.config_path.read_bytes()
    with pytest.raises(Exception, match="balance.max_share"):
        ws.update({"balance.max_share": 1.5})
    assert ws.config_path.read_bytes() == before
    assert Workspace.open(ws.root).data == ws.data


@pytest.mark.slow
def test_demo_no_tui_end_to_end(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("CLONEKIT_RUNS", None)
    env.pop("CLONEKIT_DATASETS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "clonekit", "demo", "--workspace", str(tmp_path / "demo"), "--no-tui", "--steps", "5", "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    version = tmp_path / "demo" / "datasets" / "demo" / "v0001"
    assert f"version: {version}" in out
    run_line = next(l for l in out.splitlines() if l.startswith("run: "))
    run_dir = Path(run_line[len("run: "):])
    assert run_dir.parent == tmp_path / "demo" / "runs"
    assert (run_dir / "adapter").is_dir()
    assert '"status": "done"' in (run_dir / "run.json").read_text()
    assert "-- talking as Alex (partner)" in out and "-- talking as Helen Marsh (boss)" in out
    replies = [l for l in out.splitlines() if l.startswith("Sam: ")]
    assert len(replies) == 3
    # the closing lines say what the tiny model is for and the one command for a real clone
    assert "only proves the pipeline" in out and "babbles by design" in out
    assert out.rstrip().splitlines()[-1].strip() == f"clonekit train --data {version} --base Qwen/Qwen2.5-7B-Instruct"
