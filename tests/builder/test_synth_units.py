"""Unit tests of the synthesis pieces: reply validation, rate limiting, prices, cache, plan."""

from __future__ import annotations

import json
import sqlite3

import pytest

from builder.errors import ConfigError
from builder.synth.cache import RequestCache, request_key
from builder.synth.client import describe_request
from builder.synth.config import Price, load_synth_config
from builder.synth.plan import price_for
from builder.synth.prompts import TEMPLATES
from builder.synth.ratelimit import RateLimiter
from builder.synth.validate import extract_json, parse_reply


def test_extract_json_from_plain_text_and_fences():
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Sure!\n```json\n{"a": [1, 2]}\n```\nbye') == {"a": [1, 2]}
    assert extract_json('Here you go: {"a": "}"} and more text') == {"a": "}"}
    with pytest.raises(ValueError):
        extract_json("no json here at all")


def test_pairs_are_validated_item_by_item_and_rejections_counted():
    reply = json.dumps({"items": [
        {"question": "where do you live?", "answer": "lisbon haha"},
        {"question": 3, "answer": "x"},
        {"question": "  ", "answer": "x"},
        {"question": "a?", "answer": "b", "extra": 1},
        {"answer": "only"},
        {"question": "ok?", "answer": "fine"},
    ]})
    parsed = parse_reply("clonekit_facts", reply, expected=5)
    assert parsed.items == [{"prompt": "where do you live?", "reply": "lisbon haha"}]
    assert parsed.rejected == {"schema:not_string": 1, "empty_text": 1, "schema:extra_key": 1,
                               "schema:missing_key": 1, "extra_items": 1}


@pytest.mark.parametrize("content,reason", [
    ('{"items": [{"instruction": "unterminated', "not_json"),
    ("[1, 2]", "schema:not_object"),
    ('{"items": [], "more": 1}', "schema:extra_key"),
    ('{"things": []}', "schema:missing_key"),
    ('{"items": "nope"}', "schema:not_array"),
])
def test_malformed_replies_rejected_with_reason(content, reason):
    parsed = parse_reply("clonekit_self_instruct", content, expected=3)
    assert parsed.items == [] and parsed.rejected == {reason: 1}


def test_truncated_reply_is_counted_as_truncated():
    parsed = parse_reply("clonekit_facts", '{"items": [{"question": "a', expected=2, finish_reason="length")
    assert parsed.rejected == {"truncated": 1}


def test_conversation_bursts_merged_and_edges_trimmed():
    turns = [{"speaker": "me", "text": "x"}, {"speaker": "contact", "text": "hi"},
             {"speaker": "contact", "text": "you there"}, {"speaker": "me", "text": "yes"},
             {"speaker": "contact", "text": "dangling"}]
    parsed = parse_reply("clonekit_conversation", json.dumps({"turns": turns}), expected=5)
    assert parsed.items == [{"turns": [{"speaker": "contact", "text": "hi\nyou there"},
                                       {"speaker": "me", "text": "yes"}]}]
    bad = parse_reply("clonekit_conversation", json.dumps({"turns": [{"speaker": "bot", "text": "x"}]}), 2)
    assert bad.rejected == {"schema:bad_speaker": 1}
    short = parse_reply("clonekit_conversation", json.dumps({"turns": [{"speaker": "me", "text": "x"}]}), 2)
    assert short.rejected == {"too_short": 1}


def test_rate_limiter_spaces_requests_and_tokens():
    now = [0.0]
    limiter = RateLimiter(requests_per_min=60, burst_s=0.0, clock=lambda: now[0])
    delays = [limiter.reserve(10) for _ in range(4)]
    assert delays == pytest.approx([0.0, 1.0, 2.0, 3.0])
    now[0] = 100.0  # idle long enough: no debt carried over
    assert limiter.reserve(10) == 0.0
    tokens = RateLimiter(tokens_per_min=600, burst_s=0.0, clock=lambda: 0.0)
    assert [tokens.reserve(100), tokens.reserve(100)] == pytest.approx([0.0, 10.0])


def test_rate_limiter_burst_allows_a_second_of_requests_at_once():
    limiter = RateLimiter(requests_per_min=600, burst_s=1.0, clock=lambda: 0.0)
    delays = [limiter.reserve(1) for _ in range(12)]
    assert delays[:11] == [0.0] * 11 and delays[11] > 0


def test_price_table_prefix_match_and_override():
    assert price_for("gpt-4o-mini-2024-07-18", {}) == price_for("gpt-4o-mini", {})
    assert price_for("llama3:8b", {}) is None
    mine = Price(input_per_1m=1, output_per_1m=2)
    assert price_for("llama3:8b", {"llama3:8b": mine}) == mine


def test_cache_survives_reopen_and_key_ignores_credentials(tmp_path):
    messages = [{"role": "user", "content": "hi"}]
    desc = describe_request("http://h/v1/", "m", messages, {"seed": 1}, None)
    key = request_key(desc)
    assert key == request_key(describe_request("http://h/v1", "m", messages, {"seed": 1}, None))
    cache = RequestCache(tmp_path / "c.sqlite")
    cache.put(key, desc, {"content": "yo", "usage": None})
    # no close(): as if the process were killed right after the commit
    # a different connection (another process after a crash) sees the committed row
    rows = sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT key, response FROM responses").fetchall()
    assert rows == [(key, json.dumps({"content": "yo", "usage": None}))]
    assert RequestCache(tmp_path / "c.sqlite").get(key)["content"] == "yo"


def test_templates_have_stable_ids_and_hashes():
    hashes = {t.id: t.hash for t in TEMPLATES.values()}
    assert len(set(hashes.values())) == 3
    assert all(len(h) == 16 for h in hashes.values())
    messages = TEMPLATES["facts"].render(name="Ana", card="- x", examples="", focus="- x", k="3")
    assert "schema clonekit_facts" in messages[-1]["content"] and "exactly 3" in messages[-1]["content"]


def test_config_rejects_unknown_keys_and_a_key_in_the_env_name(tmp_path):
    toml = tmp_path / "synth.toml"
    toml.write_text('[synth]\nmodle = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'synth.modle'"):
        load_synth_config(str(toml), {"version": "v"})
    with pytest.raises(ConfigError, match="api_key_env"):
        load_synth_config(None, {"version": "v", "api_key_env": "sk-abc-123"})
    toml.write_text('[synth]\nmodel = "llama3"\n[synth.prices.llama3]\ninput_per_1m = 0.1\noutput_per_1m = 0.2\n')
    cfg = load_synth_config(str(toml), {"version": "v", "n": 3})
    assert cfg.prices["llama3"].output_per_1m == 0.2 and cfg.n == 3
