"""The synthesis module talks to clonekit's own OpenAI-compatible server: real HTTP on
127.0.0.1, the tiny model behind it. The tiny model writes no valid JSON, so every item
is rejected and counted (and no version is written); what this proves is the protocol
path end to end."""

from __future__ import annotations

import threading

import pytest

from builder.curate.store import NothingChanged
from builder.events import Log
from builder.synth.config import SynthConfig
from builder.synth.synth import plan_synth, run_synth
from tests.support.synth_data import make_version
from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)


@pytest.fixture
def served(tiny_run):  # noqa: F811
    from trainer.inference import load_model, open_run, stop_ids
    from trainer.prompting import contact_roles
    from trainer.serve import Engine, attach, bind

    run = open_run(tiny_run)
    model, tok = load_model(run, device="cpu")
    engine = Engine(model, tok, run.run_id, run.persona, stop_ids(run, tok), contact_roles(run.info["dataset"]))
    srv = attach(bind("127.0.0.1", 0), engine, api_key="local-test-key")
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    host, port = srv.server_address[:2]
    yield f"http://{host}:{port}/v1", run.run_id
    srv.shutdown()
    srv.server_close()
    engine.close()


def test_synth_runs_against_clonekit_serve(served, tmp_path, monkeypatch):
    base_url, model_id = served
    monkeypatch.setenv("CLONEKIT_TEST_KEY", "local-test-key")
    version = make_version(tmp_path / "datasets")
    cfg = SynthConfig(version=str(version), base_url=base_url, model=model_id, api_key_env="CLONEKIT_TEST_KEY",
                      mode="facts", n=4, per_call=2, few_shot=0, max_output_tokens=32, concurrency=2, timeout_s=60,
                      cache_dir=str(tmp_path / "cache"))
    events = []
    # random-init replies are never valid JSON: every item is rejected, so the child would
    # equal its parent and the store writes nothing (and says so)
    with pytest.raises(NothingChanged, match="nothing changed since ana/v0001"):
        run_synth(cfg, on_event=events.append)
    planned = len(plan_synth(cfg).requests)
    kept = [e.message for e in events if isinstance(e, Log) and "synthetic records kept" in e.message]
    assert kept and kept[0].startswith("0 synthetic records kept")
    rejected = int(kept[0].split("; ")[1].split(" items rejected")[0])
    assert rejected >= planned > 0  # the server really answered every planned request
    assert [p.name for p in (tmp_path / "datasets" / "ana").iterdir() if not p.name.startswith(".")] == ["v0001"]
