"""The interactive chat REPL in a real pseudo-terminal (pexpect): streaming, slash
commands, /save, /quit, Ctrl-D, and Ctrl-C stopping a reply without leaving the REPL."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.trainer.run_fixture import tiny_run  # noqa: F401  (fixture)

pexpect = pytest.importorskip("pexpect")
REPO = Path(__file__).resolve().parents[2]


def spawn_chat(run: Path, cwd: Path, *extra: str):
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="dumb", PYTHONUNBUFFERED="1")
    child = pexpect.spawn(sys.executable, ["-m", "clonekit", "chat", str(run), "--device", "cpu", "--as", "Alex",
                                           *extra], cwd=str(cwd), env=env, encoding="utf-8", timeout=90,
                          dimensions=(40, 200))
    child.expect("talking as Alex")
    child.expect_exact("Alex> ")
    return child


def finish(child) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_tty_session_commands_reply_save_quit(tiny_run, tmp_path):  # noqa: F811
    child = spawn_chat(tiny_run, tmp_path, "--max-new-tokens", "8")
    child.sendline("/help")
    child.expect_exact("/save FILE")
    child.expect_exact("Alex> ")
    child.sendline("hey how are you")
    child.expect_exact("Sam: ")
    child.expect_exact("Alex> ")  # the reply ended and the prompt came back
    child.sendline("/as Mum")
    child.expect("now talking as Mum")
    child.expect_exact("Mum> ")
    child.sendline("/temp 0")
    child.expect(r"temperature 0(\.0)?\r?\n")
    child.expect_exact("Mum> ")
    child.sendline("did you eat yet")
    child.expect_exact("Sam: ")
    child.expect_exact("Mum> ")
    child.sendline("/save talk.jsonl")
    child.expect(r"saved 3 messages to \S*talk\.jsonl")
    child.expect_exact("Mum> ")
    child.sendline("/quit")
    assert finish(child) == 0
    lines = [json.loads(line) for line in (tmp_path / "talk.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [m["role"] for m in lines] == ["system", "user", "assistant"]
    assert "Mum" in lines[0]["content"]  # /as started a new conversation with Mum's system prompt
    assert lines[1] == {"role": "user", "name": "Mum", "content": "did you eat yet"}


def test_tty_ctrl_c_stops_reply_and_ctrl_d_exits(tiny_run, tmp_path):  # noqa: F811
    # greedy without a repetition penalty: the tiny model repeats one token and never ends
    # its turn, so the reply runs until it is interrupted
    child = spawn_chat(tiny_run, tmp_path, "--temperature", "0", "--repetition-penalty", "1.0",
                       "--max-new-tokens", "8000")
    child.sendline("hey how are you")
    child.expect_exact("Sam: ")
    child.expect(r"\S{8}")  # text is streaming in while the reply is still being generated
    child.sendintr()
    child.expect_exact("[stopped]")
    child.expect_exact("Alex> ")
    child.sendline("/temp 0.5")  # the REPL is still alive and answering
    child.expect("temperature 0.5")
    child.expect_exact("Alex> ")
    child.sendeof()
    assert finish(child) == 0
