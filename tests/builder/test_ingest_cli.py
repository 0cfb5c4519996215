"""`clonekit ingest` end to end, through the real console entry (python -m clonekit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from builder.ingest import ingest_paths
from builder.ingest.summary import chat_table, format_summary

REPO = Path(__file__).resolve().parents[2]

WA_ANDROID = ("18/03/2024, 09:15 - Kim: Morning!\n18/03/2024, 09:16 - Sam: Hi Kim\nhow are you?\n"
              "18/03/2024, 09:17 - Sam: <Media omitted>\n18/03/2024, 09:18 - Kim: This message was deleted\n"
              "19/03/2024, 20:00 - Kim changed the group description\n")
WA_IOS = ("[3/18/24, 9:15:02\u202fAM] Alex: Morning!\r\n[3/18/24, 9:16:40\u202fAM] Sam: Hi\r\n"
          "\u200e[3/18/24, 9:17:00\u202fAM] Sam: \u200eimage omitted\r\n")


def clonekit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "clonekit", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=120, env=env)


@pytest.fixture
def whatsapp():
    return pytest.importorskip("builder.ingest.whatsapp", reason="the WhatsApp parser has not landed yet")


def test_help_does_not_import_polars():
    code = ("import sys, clonekit.commands.ingest as m, argparse; p = argparse.ArgumentParser(); "
            "m.register(p.add_subparsers()); print('polars' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_ingest_help():
    proc = clonekit("ingest", "--help")
    assert proc.returncode == 0
    for word in ("PATH", "--output", "--format", "whatsapp", "sharegpt", "instructions.jsonl"):
        assert word in proc.stdout


def test_summary_and_output(tmp_path, whatsapp):
    (tmp_path / "WhatsApp Chat with Kim.txt").write_text(WA_ANDROID)
    z = tmp_path / "WhatsApp Chat - Alex.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("_chat.txt", WA_IOS)
        zf.writestr("00000003-PHOTO-2024-03-18-09-17-00.jpg", b"\xff\xd8" + bytes(10))
    out = tmp_path / "out" / "messages.jsonl"
    proc = clonekit("ingest", str(tmp_path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bars when stderr is not a terminal, no warnings here
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["chat", "format", "text", "media", "system", "deleted", "messages", "senders",
                                "first", "last"]
    assert lines[2].split() == ["Alex", "whatsapp", "2", "1", "0", "0", "3", "2", "2024-03-18", "09:15",
                                "2024-03-18", "09:17"]
    assert lines[3].split() == ["Kim", "whatsapp", "2", "1", "1", "1", "5", "2", "2024-03-18", "09:15",
                                "2024-03-19", "20:00"]
    assert lines[4].split()[:10] == ["total", "(2", "chats)", "4", "2", "1", "1", "8", "3", "2024-03-18"]
    assert lines[-1] == f"wrote {out} (8 messages)"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8
    assert rows[4] == {"chat": "Kim", "timestamp": "2024-03-18T09:16:00", "sender": "Sam",
                       "text": "Hi Kim\nhow are you?", "kind": "text", "source": str(tmp_path / "WhatsApp Chat with Kim.txt")}
    assert rows[0]["source"] == f"{z}!/_chat.txt" and rows[0]["timestamp"] == "2024-03-18T09:15:02"


def test_without_output_only_the_summary(tmp_path, whatsapp):
    (tmp_path / "chat.txt").write_text(WA_ANDROID)
    proc = clonekit("ingest", "chat.txt", cwd=tmp_path)
    assert proc.returncode == 0 and "wrote" not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.txt"]


def test_instruction_data_beside_chats(tmp_path, whatsapp):
    (tmp_path / "chat.txt").write_text(WA_ANDROID)
    (tmp_path / "qa.jsonl").write_text('{"question": "q1", "answer": "a1"}\n{"question": "q2", "answer": "a2"}\n')
    proc = clonekit("ingest", "chat.txt", "qa.jsonl", "-o", "data.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "instruction records: 2 from 1 file(s)" in proc.stdout
    assert proc.stdout.splitlines()[-2:] == ["wrote data.jsonl (5 messages)",
                                             "wrote data.instructions.jsonl (2 instruction records)"]
    records = [json.loads(line) for line in (tmp_path / "data.instructions.jsonl").read_text().splitlines()]
    assert records[1] == {"messages": [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}],
                          "source": "qa.jsonl"}


def test_instruction_data_alone_goes_to_the_output_file(tmp_path):
    (tmp_path / "alpaca.json").write_text(json.dumps([{"instruction": "i", "input": "x", "output": "o"}]))
    proc = clonekit("ingest", "alpaca.json", "--format", "alpaca", "-o", "data.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "wrote data.jsonl (1 instruction records)"
    assert json.loads((tmp_path / "data.jsonl").read_text())["messages"][0] == {"role": "user", "content": "i\n\nx"}


def test_warnings_go_to_stderr_and_quiet_silences_them(tmp_path, whatsapp):
    (tmp_path / "chat.txt").write_text(WA_ANDROID + "19/03/2024, 24:35 - Kim: impossible\n")
    proc = clonekit("ingest", "chat.txt", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stderr.startswith("warning: chat.txt:7: impossible")
    assert clonekit("ingest", "-q", "chat.txt", cwd=tmp_path).stderr == ""


def test_summary_counts_with_polars(whatsapp, tmp_path):
    (tmp_path / "chat.txt").write_text(WA_ANDROID)
    result = ingest_paths([tmp_path / "chat.txt"])
    table = chat_table(result)
    assert table.select("chat", "format", "text", "media", "system", "deleted", "messages", "senders").rows() == [
        ("chat", "whatsapp", 2, 1, 1, 1, 5, 2)]
    assert "total" not in format_summary(result)  # one chat: no total row
