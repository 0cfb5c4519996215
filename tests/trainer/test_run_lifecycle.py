"""One run lifecycle (running / interrupted / failed / done): a run whose process is gone
reads "interrupted" (dead pid on this host, stale heartbeat, or neither recorded), every
message about an unfinished run names the --resume command, SIGTERM (the TUI's Cancel)
and Ctrl-C mark the run interrupted and say what was kept."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder.errors import ClonekitError
from tests.trainer.conftest import write_dataset
from trainer.run_dir import (STALE_AFTER_S, Heartbeat, effective_status, latest_unfinished_run, list_runs,
                             process_fields)

REPO = Path(__file__).resolve().parents[2]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(root: Path, name: str, **fields) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"run_id": name, "started": name, **fields}))
    return d


def test_effective_status(tmp_path):
    host = socket.gethostname()
    done = _run(tmp_path, "a-done", status="done")
    dead = _run(tmp_path, "b-dead", status="running", pid=_dead_pid(), host=host)
    alive = _run(tmp_path, "c-alive", status="running", **process_fields())
    (alive / "heartbeat").touch()
    stale = _run(tmp_path, "d-stale", status="running", pid=os.getpid(), host="another-host")
    (stale / "heartbeat").touch()
    os.utime(stale / "heartbeat", (time.time() - STALE_AFTER_S - 5,) * 2)
    legacy = _run(tmp_path, "e-legacy", status="running")  # no pid, no heartbeat
    failed = _run(tmp_path, "f-failed", status="failed", error="boom")
    got = {d.name: effective_status(d, json.loads((d / "run.json").read_text()))
           for d in (done, dead, alive, stale, legacy, failed)}
    assert got == {"a-done": "done", "b-dead": "interrupted", "c-alive": "running", "d-stale": "interrupted",
                   "e-legacy": "interrupted", "f-failed": "failed"}
    assert [d.name for d, _, _ in list_runs(tmp_path)] == ["f-failed", "e-legacy", "d-stale", "c-alive", "b-dead", "a-done"]
    # --resume without --out never picks the run that is still training
    os.utime(alive / "run.json", (time.time() + 60,) * 2)
    assert latest_unfinished_run(tmp_path) != alive


def test_heartbeat_touches_its_file(tmp_path):
    with Heartbeat(tmp_path, every_s=0.05) as hb:
        first = hb.path.stat().st_mtime_ns
        deadline = time.monotonic() + 5
        while hb.path.stat().st_mtime_ns == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hb.path.stat().st_mtime_ns > first


def test_open_run_on_a_dead_run_offers_resume(tmp_path):
    from trainer.inference import open_run

    d = _run(tmp_path, "killed", status="running", pid=_dead_pid(), host=socket.gethostname(), base="tiny",
             base_path="x", method="lora", load_in_4bit=False, dataset="d", dataset_version="d/v0001",
             manifest_sha256="0", persona={}, chat_template="chatml", stop_token_ids=[], config={})
    with pytest.raises(ClonekitError) as err:
        open_run(d)
    assert f"run is interrupted, not done; it was stopped before the end; continue it with `clonekit train --resume --out {d}`" in str(err.value)


@pytest.mark.slow
def test_stopping_training_marks_the_run_interrupted_and_says_what_was_kept(tmp_path):
    """SIGTERM (the TUI's Cancel) is turned into the same KeyboardInterrupt as Ctrl-C."""
    data = write_dataset(tmp_path / "datasets", n_train=40, n_val=6)
    run_dir = tmp_path / "runs" / "stopped"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CLONEKIT_RUNS": str(tmp_path / "runs")}
    cmd = [sys.executable, "-m", "clonekit", "train", "--data", str(data), "--base", "tiny", "--preset", "tiny-cpu",
           "--max-steps", "400", "--eval-steps", "2", "--max-length", "256", "--grad-accum", "1", "--batch-size", "1",
           "--out", str(run_dir), "-q"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (run_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.05)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert (run_dir / "heartbeat").is_file()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"clonekit: training interrupted; kept {run_dir} with its last checkpoint (checkpoint-")
    assert lines[0].endswith(f"continue with: clonekit train --resume --out {run_dir}")
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted" and "error" not in run and run["stopped"]
