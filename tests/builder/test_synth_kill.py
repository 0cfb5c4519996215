"""SIGKILL a `python -m clonekit synth` subprocess midway, rerun it: the job finishes with
nothing lost, and no request whose response had been cached is sent again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from builder.curate.store import load_version
from builder.synth.config import SynthConfig
from builder.synth.synth import run_synth
from tests.support.openai_server import FakeOpenAIServer, request_hash
from tests.support.synth_data import make_version

REPO = Path(__file__).resolve().parents[2]
N = 60


def _cli(version: Path, base_url: str, cache: Path) -> list[str]:
    return [sys.executable, "-m", "clonekit", "synth", str(version), "--mode", "self-instruct", "--n", str(N),
            "--per-call", "1", "--concurrency", "4", "--share", "0.9", "--base-url", base_url,
            "--model", "fake-model", "--cache-dir", str(cache)]


def _cached_server_hashes(cache: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{cache / 'synth.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT request FROM responses").fetchall()
    finally:
        conn.close()
    out = set()
    for (raw,) in rows:
        req = json.loads(raw)
        out.add(request_hash({"model": req["model"], "messages": req["messages"], **req["params"]}))
    return out


def test_sigkill_midway_then_rerun_finishes_without_resending(tmp_path):
    version = make_version(tmp_path / "datasets")
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-test"}
    with FakeOpenAIServer(latency=0.05, max_lifetime=120) as srv:
        proc = subprocess.Popen(_cli(version, srv.base_url, cache), cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while sum(srv.success_by_hash.values()) < 15:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the synth subprocess made no progress"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert sorted(p.name for p in version.parent.iterdir() if not p.name.startswith(".")) == ["v0001"]

        cached = _cached_server_hashes(cache)
        assert 10 <= len(cached) < N  # killed midway, with the finished responses on disk
        received_before = dict(srv.received_by_hash)
        in_flight_at_kill = set(srv.success_by_hash) - cached

        rerun = subprocess.run(_cli(version, srv.base_url, cache), cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        out = Path(rerun.stdout.strip().splitlines()[-1])

        for h in cached:  # nothing that was cached was sent again
            assert srv.received_by_hash[h] == received_before[h]
        # only replies that arrived while the process died (not yet committed) were resent
        assert set(srv.duplicated_successes()) <= in_flight_at_kill
        assert len(srv.success_by_hash) == N

    # nothing lost: the same bytes as one uninterrupted run
    with FakeOpenAIServer() as fresh:
        reference = run_synth(SynthConfig(version=str(version), mode="self-instruct", n=N, per_call=1,
                                          synthetic_share=0.9, base_url=fresh.base_url, model="fake-model",
                                          cache_dir=str(tmp_path / "ref-cache")))
    assert (out / "train.jsonl").read_bytes() == (reference / "train.jsonl").read_bytes()
    assert sum(1 for r in load_version(out).train if r["meta"]["synthetic"]) == N
