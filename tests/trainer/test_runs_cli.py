"""`clonekit runs list / show / rm` on run folders in every state."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from clonekit.cli import main


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(root: Path, run_id: str, status: str, started: str, **extra) -> Path:
    d = root / run_id
    (d / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (d / "checkpoints" / "checkpoint-4" / "weights.bin").write_bytes(b"\0" * 3000)
    (d / "metrics.jsonl").write_text('{"step": 2, "loss": 3.1}\n{"step": 4, "loss": 2.5, "eval_loss": 2.7}\n')
    (d / "run.json").write_text(json.dumps({"run_id": run_id, "status": status, "base": "tiny", "method": "qlora",
                                            "dataset": "/x/datasets/me/v0001", "dataset_version": "me/v0001",
                                            "started": started, **extra}))
    return d


@pytest.fixture
def runs(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("CLONEKIT_RUNS", str(root))
    _run(root, "20240101-100000-me-v0001", "done", "2024-01-01T10:00:00",
         final={"steps": 12, "best_eval_loss": 1.23456, "eval_loss": 1.3})
    _run(root, "20240102-100000-me-v0001", "running", "2024-01-02T10:00:00", pid=_dead_pid(), host=socket.gethostname())
    live = _run(root, "20240103-100000-a-much-longer-dataset-name-v0002", "running", "2024-01-03T10:00:00",
                pid=os.getpid(), host=socket.gethostname())
    (live / "heartbeat").touch()
    _run(root, "20240104-100000-me-v0001", "failed", "2024-01-04T10:00:00", error="out of GPU memory at step 3")
    return root


def test_list_shows_status_steps_loss_and_size_aligned(runs, capsys):
    assert main(["runs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "status", "base", "dataset", "steps", "best", "val", "size"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert [l.split()[0] for l in lines[1:]] == sorted(rows, reverse=True)  # newest first
    assert rows["20240101-100000-me-v0001"][1:6] == ["done", "tiny", "me/v0001", "12", "1.235"]
    assert rows["20240102-100000-me-v0001"][1] == "interrupted"  # its process is gone
    assert rows["20240103-100000-a-much-longer-dataset-name-v0002"][1] == "running"
    assert rows["20240104-100000-me-v0001"][1:5] == ["failed", "tiny", "me/v0001", "4"]
    assert all(r[-1] == "KiB" for r in rows.values())
    assert len({len(l) for l in lines}) == 1  # right-aligned last column: every line ends at the same place


def test_show_names_the_next_step(runs, capsys):
    assert main(["runs", "show", "20240102-100000-me-v0001"]) == 0
    out = capsys.readouterr().out
    folder = runs / "20240102-100000-me-v0001"
    assert f"status   interrupted: it was stopped before the end; continue it with `clonekit train --resume --out {folder}`" in out
    assert main(["runs", "show", "20240104-100000-me-v0001"]) == 0
    assert "error    out of GPU memory at step 3" in capsys.readouterr().out
    assert main(["runs", "show", str(runs / "20240101-100000-me-v0001")]) == 0
    assert "next     clonekit chat" in capsys.readouterr().out
    assert main(["runs", "show", "nope"]) == 2
    assert "nope: run not found; runs here: 20240104-100000-me-v0001" in capsys.readouterr().err


def test_rm_refuses_a_live_run_and_removes_the_others(runs, capsys):
    live = "20240103-100000-a-much-longer-dataset-name-v0002"
    assert main(["runs", "rm", "20240101-100000-me-v0001", live]) == 2
    assert "still training" in capsys.readouterr().err
    assert (runs / "20240101-100000-me-v0001").is_dir()  # nothing removed when one is refused
    (runs / "20240101-100000-me-v0001.events.jsonl").write_text("{}\n")
    assert main(["runs", "rm", "20240101-100000-me-v0001"]) == 0
    assert not (runs / "20240101-100000-me-v0001").exists()
    assert not (runs / "20240101-100000-me-v0001.events.jsonl").exists()
    assert main(["runs", "rm", "--force", live]) == 0 and not (runs / live).exists()
