"""clonekit synth end to end against a real local HTTP server speaking the OpenAI protocol
(tests/support/openai_server.py): every mode, faults, fallback, budget, reproducibility,
cancellation, dry run and the API key never touching disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.curate.store import NothingChanged, load_version
from builder.errors import Cancelled, ClonekitError
from builder.events import CancelToken, Progress
from builder.synth.config import SynthConfig
from builder.synth.synth import plan_synth, run_synth
from clonekit.cli import main
from tests.support.openai_server import FakeOpenAIServer, Faults
from tests.support.synth_data import make_version

SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"


@pytest.fixture
def version(tmp_path) -> Path:
    return make_version(tmp_path / "datasets")


@pytest.fixture
def server():
    with FakeOpenAIServer(max_lifetime=120) as srv:
        yield srv


def config(version: Path, server: FakeOpenAIServer, cache: Path, **kw) -> SynthConfig:
    base = dict(version=str(version), base_url=server.base_url, model="fake-model", cache_dir=str(cache),
                n=10, timeout_s=0.3, backoff_base_s=0.01, concurrency=8)
    base.update(kw)
    return SynthConfig(**base)


def synthetic(path: Path) -> list[dict]:
    return [r for r in load_version(path).train if r["meta"].get("synthetic")]


@pytest.mark.parametrize("mode,per_record", [("self-instruct", 3), ("facts", 3), ("conversations", 7)])
def test_each_mode_writes_a_child_version_with_marked_synthetic_records(version, server, tmp_path, mode, per_record):
    cfg = config(version, server, tmp_path / "cache", mode=mode, n=6, turns=6, synthetic_share=0.9)
    out = run_synth(cfg)
    child = load_version(out)
    parent = load_version(version)
    assert child.manifest["parent"] == f"{parent.name}/{parent.version}"
    assert child.val == parent.val
    assert child.train[: len(parent.train)] == parent.train
    records = synthetic(out)
    assert len(records) == 6
    plan = plan_synth(cfg)
    for r in records:
        meta = r["meta"]
        assert meta["generator"] == "fake-model" and meta["prompt_id"] == plan.template.id
        assert meta["prompt_hash"] == plan.template.hash and meta["n_tokens"] > 0
        assert r["messages"][0]["role"] == "system" and "Ana" in r["messages"][0]["content"]
        assert r["messages"][-1]["role"] == "assistant"
        assert all(m["name"] == meta["contact"] for m in r["messages"] if m["role"] == "user")
        assert len(r["messages"]) == per_record
    synth = child.manifest["synth"]
    assert synth["requests"]["completed"] == synth["requests"]["planned"] == len(plan.requests)
    assert synth["rejected"] == {}
    assert 0 < child.manifest["counts"]["synthetic_share"] < 0.9


def test_conversations_go_to_underrepresented_contacts(version, server, tmp_path):
    plan = plan_synth(config(version, server, tmp_path / "c", mode="conversations", n=6))
    # Bob has far more data than Carla and Dad: water-filling sends nothing to Bob first
    assert {r.contact for r in plan.requests} <= {"Carla", "Dad"}


def test_faults_change_nothing_and_no_success_is_sent_twice(version, tmp_path):
    with FakeOpenAIServer() as clean:
        reference = run_synth(config(version, clean, tmp_path / "c0", concurrency=1, n=30, per_call=2,
                                     synthetic_share=0.9))
    faults = Faults(rate=0.5, retry_after=0.01, timeout_sleep=0.5, max_per_request=2, seed=3)
    with FakeOpenAIServer(faults=faults) as flaky:
        out = run_synth(config(version, flaky, tmp_path / "c1", concurrency=8, n=30, per_call=2,
                               synthetic_share=0.9))
        assert set(flaky.fault_counts) == {"429", "500", "timeout", "drop"}
        assert flaky.duplicated_successes() == {}
        assert len(flaky.success_by_hash) == 15
    # same records, same order, whatever failed and whatever order replies came back in
    assert (out / "train.jsonl").read_bytes() == (reference / "train.jsonl").read_bytes()
    retries = load_version(out).manifest["synth"]["requests"]["retries"]
    assert sum(retries.values()) == sum(flaky.fault_counts.values())


def test_malformed_replies_are_rejected_and_counted(version, tmp_path):
    with FakeOpenAIServer(faults=Faults(malformed_rate=0.4, seed=1)) as srv:
        cfg = config(version, srv, tmp_path / "c", n=30, per_call=2, synthetic_share=0.9)
        plan = plan_synth(cfg)
        bad = [srv.malformed_kind(_server_hash(pr.request, cfg)) for pr in plan.requests]
        out = run_synth(cfg)
    n_bad = sum(1 for b in bad if b)
    assert 0 < n_bad < len(bad)
    rejected = load_version(out).manifest["synth"]["rejected"]
    assert rejected.get("not_json", 0) == bad.count("not_json")
    assert rejected.get("schema:missing_key", 0) == bad.count("bad_schema")
    assert len(synthetic(out)) == 2 * (len(bad) - n_bad)


def test_server_without_response_format_falls_back_once_and_remembers(version, tmp_path):
    with FakeOpenAIServer(faults=Faults(no_response_format=True)) as srv:
        cfg = config(version, srv, tmp_path / "c", n=8, per_call=2, concurrency=1)
        out = run_synth(cfg)
        assert srv.fault_counts["no_response_format"] == 1
        assert len(synthetic(out)) == 8  # JSON dug out of chatty plain-text replies
        assert load_version(out).manifest["synth"]["requests"]["response_format_fallback"] is True
        # a later run (new requests, same base URL) does not try response_format again
        run_synth(config(version, srv, tmp_path / "c", n=8, per_call=2, seed=1))
        assert srv.fault_counts["no_response_format"] == 1


def test_reruns_are_byte_identical_and_served_from_cache(version, server, tmp_path):
    first = run_synth(config(version, server, tmp_path / "a", mode="conversations", n=5))
    second = run_synth(config(version, server, tmp_path / "b", mode="conversations", n=5))
    sent = server.received
    third = run_synth(config(version, server, tmp_path / "a", mode="conversations", n=5))
    assert server.received == sent  # everything came from the cache
    for name in ("train.jsonl", "val.jsonl"):
        assert (first / name).read_bytes() == (second / name).read_bytes() == (third / name).read_bytes()
    assert len({first, second, third}) == 3  # three new versions, none overwritten
    other_seed = run_synth(config(version, server, tmp_path / "a", mode="conversations", n=5, seed=9))
    assert (other_seed / "train.jsonl").read_bytes() != (first / "train.jsonl").read_bytes()


def test_budget_stops_cleanly_and_writes_what_completed(version, server, tmp_path):
    cfg = config(version, server, tmp_path / "c", n=20, per_call=2, concurrency=1, max_output_tokens=200,
                 synthetic_share=0.9)
    plan = plan_synth(cfg)
    budget = sum(r.est_input_tokens + r.max_output_tokens for r in plan.requests[:4])
    out = run_synth(cfg.model_copy(update={"max_tokens": budget}))
    synth = load_version(out).manifest["synth"]
    assert synth["budget_stopped"] is True
    assert 4 <= synth["requests"]["completed"] < len(plan.requests)
    assert synth["tokens"]["input"] + synth["tokens"]["output"] <= budget
    assert server.received == synth["requests"]["completed"]
    with pytest.raises(ClonekitError, match="budget"):
        run_synth(cfg.model_copy(update={"max_tokens": 10, "cache_dir": str(tmp_path / "empty")}))


def test_max_cost_uses_the_price_table(version, server, tmp_path):
    cfg = config(version, server, tmp_path / "c", model="gpt-4o-mini", n=20, per_call=2, concurrency=2,
                 max_output_tokens=100, max_cost=0.0004)
    out = run_synth(cfg)
    synth = load_version(out).manifest["synth"]
    assert synth["budget_stopped"] is True and 0 < synth["cost_usd"] <= 0.0004


def test_share_cap_drops_records_past_the_cap(version, server, tmp_path):
    out = run_synth(config(version, server, tmp_path / "c", mode="conversations", n=12, synthetic_share=0.1))
    child = load_version(out)
    assert child.manifest["synth"]["dropped"]["over_share_cap"] > 0
    assert child.manifest["counts"]["synthetic_share"] <= 0.1


def test_duplicates_of_real_data_are_dropped(version, server, tmp_path):
    # a server that parrots a real exchange back: every item duplicates real data
    real = load_version(version).train[0]["messages"]
    reply = json.dumps({"items": [{"instruction": real[1]["content"], "response": real[2]["content"]}]})
    server.reply_content = lambda body: reply  # type: ignore[method-assign]
    before = sorted(p.name for p in version.parent.iterdir())
    logs = []
    with pytest.raises(NothingChanged) as unchanged:  # nothing kept: no copy of the input version
        run_synth(config(version, server, tmp_path / "c", n=3, per_call=1, synthetic_share=0.9),
                  on_event=lambda e: logs.append(getattr(e, "message", "")))
    assert unchanged.value.path == version
    assert sorted(p.name for p in version.parent.iterdir()) == before
    assert any("0 synthetic records kept" in m and "duplicate 3" in m for m in logs), logs


def test_cancel_keeps_finished_requests_for_the_rerun(version, tmp_path):
    with FakeOpenAIServer(latency=0.02) as srv:
        cfg = config(version, srv, tmp_path / "c", n=40, per_call=1, concurrency=2, synthetic_share=0.9)
        token = CancelToken()

        def on_event(ev):
            if isinstance(ev, Progress) and ev.done >= 5:
                token.cancel()
        before = {p.name for p in version.parent.iterdir()}
        with pytest.raises(Cancelled):
            run_synth(cfg, on_event=on_event, cancel=token)
        assert {p.name for p in version.parent.iterdir()} == before  # no partial version
        done_first = sum(srv.success_by_hash.values())
        run_synth(cfg)
        assert srv.duplicated_successes() == {}
        assert sum(srv.success_by_hash.values()) == 40 and done_first >= 5


def test_dry_run_sends_nothing(version, server, tmp_path, capsys):
    code = main(["synth", str(version), "--dry-run", "--base-url", server.base_url, "--model", "gpt-4o-mini",
                 "--n", "10", "--cache-dir", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert code == 0 and server.received == 0
    assert "requests: 2" in out and "input tokens: ~" in out and "cost: ~$" in out
    assert "tiktoken encoding for gpt-4o-mini unavailable" in out  # offline: says what it used instead


def test_cli_prints_the_version_path_last_and_never_stores_the_key(version, server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MY_SYNTH_KEY", SECRET)
    cache = tmp_path / "cache"
    code = main(["synth", str(version), "--mode", "facts", "--n", "6", "--base-url", server.base_url,
                 "--model", "fake-model", "--api-key-env", "MY_SYNTH_KEY", "--cache-dir", str(cache)])
    assert code == 0
    stdout = capsys.readouterr().out.strip().splitlines()
    out = Path(stdout[-1])
    assert out.is_dir() and (out / "manifest.json").is_file()
    assert server.auth_headers == {f"Bearer {SECRET}"}  # the key was used ...
    files = [p for p in [*version.parent.parent.rglob("*"), *cache.rglob("*")] if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in files)
    for path in files:  # ... and written nowhere (sqlite WAL/shm files included)
        assert SECRET.encode() not in path.read_bytes(), path


def test_api_errors_are_one_clear_line(version, tmp_path):
    with FakeOpenAIServer(faults=Faults(rate=1.0, kinds=("500",), max_per_request=99)) as srv:
        with pytest.raises(ClonekitError, match=r"gave up after 3 attempts \(last: 5xx\).*rerun later"):
            run_synth(config(version, srv, tmp_path / "c", n=2, max_retries=2))


def _server_hash(request, cfg: SynthConfig) -> str:
    """The test server's hash of a request as the openai client sends it."""
    from tests.support.openai_server import request_hash

    return request_hash({"model": cfg.model, "messages": request.messages, **request.params})
