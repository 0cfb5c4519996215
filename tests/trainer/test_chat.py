"""clonekit chat: prompt building, incremental decoding, sampling settings, and the
scripted (non-TTY) REPL end to end through `python -m clonekit chat`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.errors import ClonekitError, ConfigError
from tests.trainer.run_fixture import PERSONA, tiny_run  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def loaded(tiny_run):  # noqa: F811
    from trainer.inference import load_model, open_run, stop_ids

    run = open_run(tiny_run)
    model, tok = load_model(run, device="cpu")
    return run, model, tok, stop_ids(run, tok)


def test_open_run_errors(tmp_path, tiny_run):  # noqa: F811
    from trainer.inference import open_run

    with pytest.raises(ClonekitError, match="run not found"):
        open_run(tmp_path / "nope")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    info = json.loads((tiny_run / "run.json").read_text())
    (unfinished / "run.json").write_text(json.dumps(dict(info, status="running")))
    with pytest.raises(ClonekitError, match="not done; it was stopped before the end; continue it with `clonekit train --resume --out "):
        open_run(unfinished)


def test_prompt_matches_training_render_and_ends_with_turn_header(loaded):
    from trainer.prompting import build_prompt, persona_system_prompt

    _, _, tok, _ = loaded
    system = persona_system_prompt(PERSONA, "Alex", "friend")
    assert "Alex" in system and "Lisbon" in system
    history = [{"role": "user", "content": "hey"}, {"role": "assistant", "content": "yo"},
               {"role": "user", "content": "dinner?"}]
    prompt = build_prompt(tok, system, history, "Alex")
    assert prompt.text.startswith("<|im_start|>system\n" + system + "<|im_end|>")
    assert prompt.text.endswith("<|im_start|>user\ndinner?<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.input_ids == tok(prompt.text, add_special_tokens=False)["input_ids"]
    assert prompt.dropped_turns == 0


def test_history_budget_drops_oldest_turns_keeps_system(loaded):
    from trainer.prompting import build_prompt

    _, _, tok, _ = loaded
    history = []
    for i in range(30):
        history += [{"role": "user", "content": f"message number {i} about the beach"},
                    {"role": "assistant", "content": f"reply {i} ok cool"}]
    history.append({"role": "user", "content": "last one"})
    prompt = build_prompt(tok, "SYSTEM CARD", history, "Alex", history_tokens=80)
    assert prompt.dropped_turns > 0
    assert prompt.text.startswith("<|im_start|>system\nSYSTEM CARD")
    assert "message number 0 " not in prompt.text and "last one" in prompt.text
    # the kept history starts with a user turn and fits the budget
    assert prompt.text.split("<|im_end|>\n", 1)[1].startswith("<|im_start|>user")
    system_only = len(tok(tok.apply_chat_template([{"role": "system", "content": "SYSTEM CARD"}], tokenize=False,
                                                  add_generation_prompt=True), add_special_tokens=False)["input_ids"])
    assert len(prompt.input_ids) - system_only <= 80


def test_incremental_decoder_never_splits_characters(loaded):
    from trainer.generate import IncrementalDecoder

    _, _, tok, _ = loaded
    text = "hey 😀 see you 🎉 tomorrow, café"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    dec = IncrementalDecoder(tok)
    pieces = [dec.push([i]) for i in ids] + [dec.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_sampling_settings_validated():
    from trainer.generate import SamplingSettings

    for bad in ({"temperature": -1}, {"top_p": 0}, {"max_new_tokens": 0}, {"repetition_penalty": 9}):
        with pytest.raises(ConfigError):
            SamplingSettings(**bad)


def test_generation_streams_greedy_deterministic_and_sampling_varies(loaded):
    from trainer.generate import SamplingSettings, generate_reply
    from trainer.prompting import build_prompt

    _, model, tok, stops = loaded
    ids = build_prompt(tok, "sys", [{"role": "user", "content": "hey"}], "Alex").input_ids
    pieces: list[str] = []
    greedy = SamplingSettings(temperature=0, max_new_tokens=12)
    a = generate_reply(model, tok, ids, greedy, stops, on_text=pieces.append)
    b = generate_reply(model, tok, ids, greedy, stops)
    assert a.text == b.text and "".join(pieces) == a.text and len(pieces) > 1
    assert a.finish_reason in ("stop", "length") and a.prompt_tokens == len(ids)
    hot = SamplingSettings(temperature=1.5, top_p=1.0, max_new_tokens=12)
    samples = {generate_reply(model, tok, ids, hot, stops, seed=s).text for s in range(4)}
    assert len(samples) > 1  # do_sample is really on


def test_stop_strings_cut_the_reply(loaded):
    from trainer.generate import SamplingSettings, generate_reply
    from trainer.prompting import build_prompt

    _, model, tok, stops = loaded
    ids = build_prompt(tok, "sys", [{"role": "user", "content": "hey"}], "Alex").input_ids
    full = generate_reply(model, tok, ids, SamplingSettings(temperature=0, max_new_tokens=16), stops).text
    assert len(full) > 3
    stop = full[2:4]
    cut = generate_reply(model, tok, ids, SamplingSettings(temperature=0, max_new_tokens=16), stops,
                         stop_strings=[stop])
    assert cut.text == full[:full.find(stop)] and cut.finish_reason == "stop"


def test_session_commands(loaded, tmp_path):
    from collections import Counter

    from trainer.chat_repl import ChatSession
    from trainer.generate import SamplingSettings

    run, model, tok, stops = loaded
    counts = Counter({("Alex", "friend"): 3, ("Boss", "boss"): 1})
    s = ChatSession(model, tok, run.persona, stops, SamplingSettings(max_new_tokens=4), "", "",
                    contact_counts=counts)
    s.talk_as()
    assert (s.contact, s.role) == ("Alex", "friend")
    assert s.command("/role boss")[0].startswith("now talking as Boss (boss)")
    s.reply("hi")
    assert len(s.history) == 2 and s.history[0]["name"] == "Boss"
    assert s.command("/temp 0")[0] == "temperature 0.0" and s.settings.temperature == 0
    assert "give a number" in s.command("/temp hot")[0]
    assert "between 0 and 5" in s.command("/temp 99")[0]
    assert "unknown command" in s.command("/nope")[0]
    msg, _ = s.command(f"/save {tmp_path / 't.jsonl'}")
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert msg.startswith("saved 3") and [m["role"] for m in lines] == ["system", "user", "assistant"]
    assert s.command("/reset")[0] == "conversation cleared" and s.history == []
    # an unknown contact: a warning naming the known ones, and never an empty "()" in the prompt
    msg, _ = s.command("/as Nobody")
    assert msg.splitlines() == ["warning: 'Nobody' is not a contact in the training data (known: Alex, Boss); "
                                "the clone has never talked to them", "now talking as Nobody (contact); new conversation"]
    assert "()" not in s.system and "Nobody (contact)" in s.system
    assert s.command("/role dentist")[0].startswith("warning: no contact has the role 'dentist'")
    assert s.command("/as alex")[0] == "now talking as alex (friend); new conversation"
    s.history = [{"role": "user", "name": "alex", "content": "hi"}]
    assert s.command(f"/save {tmp_path / 'one.jsonl'}")[0].startswith("saved 2 messages")
    s.history = []
    assert s.command(f"/save {tmp_path / 'one.jsonl'}")[0].startswith("saved 1 message to ")
    assert s.command("/quit") == ("", True)


def test_scripted_chat_subprocess(tiny_run, tmp_path):  # noqa: F811
    transcript = tmp_path / "chat.jsonl"
    lines = ["hey", "/as Mum", "how are you", "/temp 0", "ok", f"/save {transcript}", "bye", "/quit", "ignored"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "clonekit", "chat", str(tiny_run), "--as", "Alex", "--max-new-tokens", "6"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split("\n")
    assert out[-1] == "" and len(out) - 1 == 4  # one reply line per user message; none after /quit
    assert "now talking as Mum (family)" in proc.stderr
    saved = [json.loads(x) for x in transcript.read_text().splitlines()]
    assert saved[0]["role"] == "system" and "Mum" in saved[0]["content"]
    assert [(m["role"], m.get("name")) for m in saved[1:]] == [
        ("user", "Mum"), ("assistant", None), ("user", "Mum"), ("assistant", None)]


def test_chat_cli_errors(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "clonekit", "chat", str(tmp_path / "missing")],
                          input="", capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if x.startswith("clonekit:")]
    assert len(lines) == 1 and "run not found" in lines[0]


def test_unknown_contact_at_start_is_warned_before_the_chat():
    import io
    from collections import Counter

    from trainer.chat_repl import ChatSession, run_repl
    from trainer.generate import SamplingSettings

    s = ChatSession(None, None, PERSONA, [], SamplingSettings(), "", "", contact_counts=Counter({("Alex", "friend"): 2}))
    s.talk_as("Nobody")
    err = io.StringIO()
    assert run_repl(s, stdin=io.StringIO("/quit\n"), stdout=io.StringIO(), stderr=err, interactive=False) == 0
    assert err.getvalue().startswith("warning: 'Nobody' is not a contact in the training data (known: Alex)")
    assert s.role == "contact" and "Nobody (contact)" in s.system
