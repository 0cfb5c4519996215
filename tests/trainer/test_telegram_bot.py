"""`clonekit telegram` against a fake Bot API server (tests/support/fake_telegram.py: real
HTTP on 127.0.0.1) that plays users: allowed and unknown people, /start and /reset, the
persona prompt naming who it talks to, a burst reply split into messages and at 4,096
characters, messages arriving mid-reply folded into the next one, a 429 with retry_after
and a 502 survived, and a `kill -9` + restart that answers nothing twice and loses nothing.
The tiny model answers for real (tests/trainer/run_fixture.py); the burst/split/fold test
scripts its replies through a small OpenAI-compatible server instead (a random tiny model
can't be made to write five lines)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from builder.errors import ClonekitError
from tests.support.fake_telegram import FakeTelegram, User
from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)
from trainer.telegram.bot import RESET_TEXT

TOKEN = "4242:TEST-secret-token-value"
ALEX = User(111, "Alexander", "alex_k")
MUM = User(222, "Maria", "mum_m")
EVE = User(999, "Eve", "eve_unknown")
ALLOW = ["111=Alex:friend", "@mum_m=Mum:family"]
REPO = Path(__file__).resolve().parents[2]


def _settled(state: Path) -> bool:
    """Nothing waiting and nothing half sent in the bot's journal."""
    try:
        data = json.loads(state.read_text())
    except (OSError, ValueError):
        return False
    return not data["pending"] and not data["outbox"]


class Bot:
    """run_telegram in a thread, stopped like Ctrl-C (the stop event) at the end."""

    def __init__(self, opts, events: list) -> None:
        from trainer.telegram.runner import run_telegram

        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.result = None

        def target() -> None:
            try:
                self.result = run_telegram(opts, on_event=events.append, stop=self.stop, on_ready=self.ready.set)
            except BaseException as err:  # noqa: BLE001 — re-raised in the test thread by close()
                self.error = err
                self.ready.set()
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        assert self.ready.wait(120), "bot did not start"
        if self.error:
            raise self.error

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "bot did not stop"
        if self.error:
            raise self.error


def _opts(run, tg: FakeTelegram, tmp_path: Path, **extra):
    from trainer.generate import SamplingSettings
    from trainer.telegram.runner import TelegramOptions

    base = dict(run=str(run), allow=ALLOW, token_env="CK_TEST_TG_TOKEN", api_base=tg.api_base,
                state=str(tmp_path / "state.json"), device="cpu", poll_timeout=1, burst_delay=0.0,
                settings=SamplingSettings(temperature=0, max_new_tokens=12, static_cache=False))
    base.update(extra)
    return TelegramOptions(**base)


@pytest.fixture
def token_env(monkeypatch):
    monkeypatch.setenv("CK_TEST_TG_TOKEN", TOKEN)


@pytest.fixture
def spy_prompts(monkeypatch):
    """The system prompts the bot hands the model (the real reply still comes from it)."""
    from trainer.telegram import bot as bot_mod

    seen: list[tuple[str, list[dict]]] = []
    real = bot_mod.LocalBackend.reply

    async def reply(self, system, turns, contact):
        seen.append((system, [dict(t) for t in turns]))
        return await real(self, system, turns, contact)
    monkeypatch.setattr(bot_mod.LocalBackend, "reply", reply)
    return seen


@pytest.mark.slow
def test_allowed_unknown_start_reset_with_the_tiny_model(tiny_run, tmp_path, token_env, spy_prompts):  # noqa: F811
    events: list = []
    state = tmp_path / "state.json"
    with FakeTelegram(token=TOKEN) as tg:
        bot = Bot(_opts(tiny_run, tg, tmp_path), events)
        try:
            tg.user_says(ALEX, "/start")
            tg.wait_for_messages(1, ALEX.id)
            tg.user_says(ALEX, "hey how are you")
            tg.user_says(EVE, "hi, who are you?")
            tg.user_says(EVE, "hello??")
            tg.user_says(MUM, "did you eat yet")
            tg.wait_for(lambda: len(spy_prompts) == 2 and _settled(state) and tg.texts_to(EVE.id))
            tg.user_says(ALEX, "/reset")
            tg.wait_for(lambda: RESET_TEXT in tg.texts_to(ALEX.id))
            tg.user_says(ALEX, "see you tomorrow at the beach")
            tg.wait_for(lambda: len(spy_prompts) == 3 and _settled(state))
        finally:
            bot.close()
        alex, mum, eve = tg.texts_to(ALEX.id), tg.texts_to(MUM.id), tg.texts_to(EVE.id)
        actions = list(tg.actions)
        calls = list(tg.calls)
    # /start greets in the persona's name; the tiny model's reply (one message per line) is real
    assert alex[0].startswith("hi! it's Sam")
    reset_at = alex.index(RESET_TEXT)
    assert reset_at >= 2 and all(part.strip() for part in alex[1:reset_at])
    # the unknown user got exactly one polite refusal for two messages; nothing generated for them
    assert eve == ["Sorry, I only chat with people I know here."]
    assert all("Eve" not in system for system, _ in spy_prompts)
    # the persona prompt says who it talks to, with the allow list's role
    systems = [s for s, _ in spy_prompts]
    assert "chatting with Alex (friend)" in systems[0] and "chatting with Mum (family)" in systems[1] \
        or "chatting with Mum (family)" in systems[0] and "chatting with Alex (friend)" in systems[1]
    assert len(mum) == 1 and mum[0].strip()
    # /reset acknowledged, and the next prompt carries no earlier turns
    assert len(alex) > reset_at + 1
    last_turns = spy_prompts[-1][1]
    assert [t["content"] for t in last_turns] == ["see you tomorrow at the beach"]
    assert (ALEX.id, "typing") in actions and (MUM.id, "typing") in actions
    assert "sendMessage" in calls
    # unknown users are counted, not logged: the journal keeps a count and a salted hash only
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["unknown_users"] == 1 and state["pending"] == [] and state["outbox"] == {}
    assert str(EVE.id) not in json.dumps(state) and "Eve" not in json.dumps(state)
    assert oct((tmp_path / "state.json").stat().st_mode & 0o777) == "0o600"
    logged = " ".join(e.message for e in events)
    assert TOKEN not in logged and "Eve" not in logged and str(EVE.id) not in logged


@pytest.mark.slow
def test_memory_and_sqlite_history_survive_a_restart(tiny_run, tmp_path, token_env, spy_prompts):  # noqa: F811
    db = tmp_path / "history.sqlite"
    with FakeTelegram(token=TOKEN) as tg:
        for round_, text in enumerate(["hey how are you", "coffee later?"]):
            bot = Bot(_opts(tiny_run, tg, tmp_path, history_db=str(db)), [])
            try:
                tg.user_says(ALEX, text)
                tg.wait_for(lambda n=round_ + 1: len(spy_prompts) == n and _settled(tmp_path / "state.json"))
            finally:
                bot.close()
    second = spy_prompts[-1][1]
    assert [t["content"] for t in second if t["role"] == "user"] == ["hey how are you", "coffee later?"]
    assert second[1]["role"] == "assistant"  # the clone's first reply is remembered
    assert oct(db.stat().st_mode & 0o777) == "0o600"


@pytest.mark.slow
def test_429_retry_after_and_502_are_survived(tiny_run, tmp_path, token_env):  # noqa: F811
    events: list = []
    with FakeTelegram(token=TOKEN) as tg:
        tg.fail("getUpdates", 502, times=2)
        tg.fail("sendMessage", 429, retry_after=1)
        bot = Bot(_opts(tiny_run, tg, tmp_path), events)
        try:
            tg.user_says(ALEX, "hey how are you")
            t0 = time.monotonic()
            got = tg.wait_for_messages(1, ALEX.id)
            waited = got[0].at - t0
        finally:
            bot.close()
        failures = list(tg.failures)
    assert ("getUpdates", 502) in failures and ("sendMessage", 429) in failures
    assert waited >= 1.0  # retry_after honoured before the message went out
    warnings = [e.message for e in events if e.level == "warning"]
    assert any("slow down" in w and "waiting 1s" in w for w in warnings)
    assert any("getUpdates failed" in w and "retrying in" in w for w in warnings)
    assert all(TOKEN not in e.message for e in events)


class ScriptedOpenAI:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1 answering from a script;
    ``gate`` (when set) holds each request until released, so users can write meanwhile."""

    def __init__(self, replies: list[str], failures: list[int] | None = None) -> None:
        self.replies, self.requests = list(replies), []
        self.failures = list(failures or [])  # statuses answered to the first requests
        self.gate: threading.Event | None = None
        self.arrived = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.arrived.set()
                if fake.gate is not None:
                    fake.gate.wait(30)
                if fake.failures:
                    status = fake.failures.pop(0)
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                text = fake.replies.pop(0)
                data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                   "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                "finish_reason": "stop"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = "http://%s:%d/v1" % self.server.server_address[:2]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_burst_split_and_messages_folded_into_the_next_reply(tiny_run, tmp_path, token_env):  # noqa: F811
    long_line = " ".join(["word"] * 1500)  # 7,499 characters: two messages
    llm = ScriptedOpenAI(["haha yes\nwait\n\nsee you at 8 🎉", long_line, "ok both noted"])
    try:
        with FakeTelegram(token=TOKEN) as tg:
            bot = Bot(_opts(tiny_run, tg, tmp_path, openai_base=llm.base, model="clone"), [])
            try:
                tg.user_says(ALEX, "are you coming tonight?")
                tg.wait_for_messages(3, ALEX.id)
                tg.user_says(ALEX, "tell me everything")
                tg.wait_for_messages(5, ALEX.id)
                # a reply is being written while two more messages arrive: one reply answers both
                llm.gate, llm.arrived = threading.Event(), threading.Event()
                tg.user_says(ALEX, "also")
                assert llm.arrived.wait(30)
                tg.user_says(ALEX, "bring the cake")
                last = tg.user_says(ALEX, "and candles")
                tg.wait_for(lambda: tg.max_offset_seen > last, timeout=30)  # in the bot's journal, reply unfinished
                llm.replies.append("cake and candles, got it")
                llm.gate.set()
                tg.wait_for_messages(7, ALEX.id)
            finally:
                bot.close()
            texts = tg.texts_to(ALEX.id)
            too_long = tg.too_long
    finally:
        llm.close()
    assert texts[:3] == ["haha yes", "wait", "see you at 8 🎉"]  # a burst: one message per line
    assert texts[3] + " " + texts[4] == long_line and all(len(t) <= 4096 for t in texts) and too_long == 0
    assert texts[5:] == ["ok both noted", "cake and candles, got it"]
    assert len(llm.requests) == 4
    folded = llm.requests[3]["messages"]
    assert folded[-1] == {"role": "user", "content": "bring the cake\nand candles", "name": "Alex"}
    assert folded[0]["role"] == "system" and "chatting with Alex (friend)" in folded[0]["content"]
    assert [m["content"] for m in folded[1:-1]][-2:] == ["also", "ok both noted"]


def test_allow_specs_and_token_rules(monkeypatch):
    from trainer.telegram.allow import allow_spec, parse_allow, reply_messages
    from trainer.telegram.runner import read_token

    allow = parse_allow(["12345678=Alex", "@Mum_M=Mum:family", "777", "chat:-100123=Book club:friends"])
    assert allow.person(12345678, None).contact == "Alex" and allow.person(12345678, None).role == ""
    assert allow.person(1, "mum_m").role == "family" and allow.person(1, "MUM_M").contact == "Mum"
    assert allow.person(777, "x").contact == "" and allow.person(5, "nobody") is None
    assert allow.group(-100123).contact == "Book club" and allow.group(-5) is None
    for bad in ["alex=Alex", "chat:abc=X", "12=", "@a=b"]:
        with pytest.raises(ClonekitError, match="--allow"):
            parse_allow([bad])
    assert allow_spec("Aunt May", "family") == "'USER_ID=Aunt May:family'"
    assert allow_spec("Alex", "") == "USER_ID=Alex"
    assert reply_messages("a\n\nb") == ["a", "b"] and reply_messages("a\nb", burst=False) == ["a\nb"]
    assert reply_messages("   ") == []
    monkeypatch.delenv("NO_SUCH_TG_TOKEN", raising=False)
    with pytest.raises(ClonekitError, match="NO_SUCH_TG_TOKEN.*never pass it as a flag"):
        read_token("NO_SUCH_TG_TOKEN")


def test_cli_has_no_token_flag_and_rejects_a_bad_token(tiny_run, tmp_path, monkeypatch, capsys):  # noqa: F811
    from clonekit.cli import build_parser, main

    with pytest.raises(SystemExit):
        build_parser().parse_args(["telegram", "RUN", "--allow", "1=A", "--token", "x"])
    monkeypatch.setenv("CK_TEST_TG_TOKEN", "1:wrong-token")
    with FakeTelegram(token=TOKEN) as tg:
        code = main(["telegram", str(tiny_run), "--allow", "1=A", "--token-env", "CK_TEST_TG_TOKEN",
                     "--api-base", tg.api_base, "--openai-base", "http://127.0.0.1:9/v1", "--model", "m",
                     "--state", str(tmp_path / "s.json")])
        assert tg.wrong_token_calls >= 1
    err = capsys.readouterr().err
    assert code == 2 and "Telegram rejected the bot token" in err
    assert "wrong-token" not in err and "Traceback" not in err


def _spawn(run, tg: FakeTelegram, state: Path) -> subprocess.Popen:
    env = dict(os.environ, CK_TEST_TG_TOKEN=TOKEN, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "clonekit", "telegram", str(run), *sum((["--allow", a] for a in ALLOW), []),
           "--token-env", "CK_TEST_TG_TOKEN", "--api-base", tg.api_base, "--state", str(state),
           "--device", "cpu", "--temperature", "0", "--max-new-tokens", "12", "--no-static-cache",
           "--burst-delay", "0", "--no-burst"]
    return subprocess.Popen(cmd, env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
def test_kill9_and_restart_answers_nothing_twice_and_loses_nothing(tiny_run, tmp_path):  # noqa: F811
    """Killed while a reply is half sent and another message is unanswered; the restart
    finishes the half-sent reply (not regenerated), answers the waiting message, and
    Ctrl-C then stops it cleanly."""
    state = tmp_path / "state.json"
    with FakeTelegram(token=TOKEN) as tg:
        proc = _spawn(tiny_run, tg, state)
        try:
            tg.user_says(ALEX, "hey how are you")
            first = tg.wait_for_messages(1, ALEX.id, timeout=120)[0].text
            release = tg.hold("sendMessage")  # the next send hangs: the bot is killed mid-send
            tg.user_says(MUM, "did you eat yet")
            tg.wait_for(lambda: tg.held.is_set(), timeout=60)
            waiting = tg.user_says(ALEX, "coffee later?")
            tg.wait_for(lambda: tg.max_offset_seen > waiting, timeout=30)  # polled, journaled, confirmed
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        release.set()
        assert proc.returncode == -signal.SIGKILL
        committed = json.loads(state.read_text())  # what the killed bot left on disk
        assert committed["outbox"][str(MUM.id)]["sent"] == 0
        mum_reply = committed["outbox"][str(MUM.id)]["parts"]
        assert tg.texts_to(MUM.id) == []  # the held send never reached Telegram
        alex_before = len(tg.texts_to(ALEX.id))
        # Alex's second message is somewhere: waiting, committed to send, or sent
        assert [m["text"] for m in committed["pending"]] == ["coffee later?"] or str(ALEX.id) in committed["outbox"] \
            or alex_before >= 2

        proc = _spawn(tiny_run, tg, state)
        try:
            tg.wait_for(lambda: len(tg.texts_to(MUM.id)) >= len(mum_reply) and len(tg.texts_to(ALEX.id)) >= 2,
                        timeout=120)
            tg.user_says(ALEX, "see you tomorrow at the beach")
            tg.wait_for(lambda: len(tg.texts_to(ALEX.id)) >= 3, timeout=60)
            time.sleep(1.0)  # anything sent twice would show up now
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        alex, mum = tg.texts_to(ALEX.id), tg.texts_to(MUM.id)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped: " in err
    assert mum == mum_reply  # exactly the committed reply, once
    assert len(alex) == 3 and alex[0] == first  # one reply per message: nothing twice, nothing lost
    final = json.loads(state.read_text())
    assert final["pending"] == [] and final["outbox"] == {}
    assert TOKEN not in err + out


def test_groups_answer_only_when_listed(tiny_run, tmp_path, token_env):  # noqa: F811
    """A group not on the allow list gets nothing (no refusal, nothing generated); a listed
    one is answered, each speaker named (allow-list name, else their Telegram name)."""
    llm = ScriptedOpenAI(["hey all"])
    listed = {"id": -100500, "type": "supergroup", "title": "Book club"}
    other = {"id": -100600, "type": "group", "title": "Random"}
    try:
        with FakeTelegram(token=TOKEN) as tg:
            bot = Bot(_opts(tiny_run, tg, tmp_path, openai_base=llm.base, model="clone",
                            allow=[*ALLOW, "chat:-100500=Book club:friends"]), [])
            try:
                tg.user_says(EVE, "anyone here?", chat=other)
                tg.user_says(ALEX, "hi everyone", chat=listed)
                tg.user_says(EVE, "hello!", chat=listed)
                tg.wait_for_messages(1, listed["id"])
                tg.wait_for(lambda: _settled(tmp_path / "state.json"))
            finally:
                bot.close()
            assert tg.texts_to(other["id"]) == [] and tg.texts_to(EVE.id) == []
            assert tg.texts_to(listed["id"]) == ["hey all"]
    finally:
        llm.close()
    (request,) = llm.requests
    assert "chatting with Book club (friends)" in request["messages"][0]["content"]
    users = [(m.get("name"), m["content"]) for m in request["messages"] if m["role"] == "user"]
    assert users == [("Alex", "hi everyone"), ("Eve", "hello!")]


def test_model_server_down_then_back_and_a_refused_request(tiny_run, tmp_path, token_env):  # noqa: F811
    """The model server answers 503 four times (more than one reply's tries): the message
    waits in the journal and is answered once it is back. A 400 (it refuses the request
    for good) is logged and that message dropped; the next one is answered."""
    events: list = []
    llm = ScriptedOpenAI(["back again", "fine"], failures=[503, 503, 503, 503])
    try:
        with FakeTelegram(token=TOKEN) as tg:
            bot = Bot(_opts(tiny_run, tg, tmp_path, openai_base=llm.base, model="clone", retry_delay=0.2), events)
            try:
                tg.user_says(ALEX, "you there?")
                tg.wait_for_messages(1, ALEX.id)
                llm.failures.append(400)
                tg.user_says(ALEX, "a message the server refuses")
                tg.wait_for(lambda: len(llm.requests) >= 6 and _settled(tmp_path / "state.json"))
                tg.user_says(ALEX, "and now?")
                tg.wait_for_messages(2, ALEX.id)
            finally:
                bot.close()
            texts = tg.texts_to(ALEX.id)
    finally:
        llm.close()
    assert texts == ["back again", "fine"]
    warnings = [e.message for e in events if e.level == "warning"]
    assert any("no reply yet" in w and "HTTP 503" in w for w in warnings)
    assert any("HTTP 400" in w and "not answered" in w for w in warnings)
