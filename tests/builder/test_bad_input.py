"""Every bad input from the issue's list, through the real CLI: exit code 2, one line on
stderr naming the file and what to do, no traceback, no output file. Encodings that can
be detected are read."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]

WA = ("18/03/2024, 09:15 - Zoë: Ça va? Très bien\n18/03/2024, 09:16 - Sam: Señor, à bientôt\n"
      "deuxième ligne\n")
TELEGRAM = json.dumps({"name": "Alex", "type": "personal_chat", "id": 1, "messages": [
    {"id": i, "type": "message", "date": f"2024-03-18T10:0{i}:00", "from": "Alex", "from_id": "user1",
     "text": f"message {i}"} for i in range(1, 6)]}, indent=1)


def clonekit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "clonekit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=env)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def claim_huge_size(data: bytes) -> bytes:
    """Rewrite every central-directory entry to claim ~4 GiB uncompressed."""
    buf = bytearray(data)
    pos = buf.find(b"PK\x01\x02")
    while pos != -1:
        struct.pack_into("<I", buf, pos + 24, 0xFFFF0000)
        pos = buf.find(b"PK\x01\x02", pos + 4)
    return bytes(buf)


def garbage() -> bytes:
    rng = random.Random(7)
    return bytes(rng.randrange(256) for _ in range(5000))


# name -> (file name, bytes, expected problem in the error line)
BAD: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "empty file": ("chat.txt", lambda: b"", "file is empty"),
    "only blank lines": ("chat.txt", lambda: b"\n\r\n  \n", "file is empty"),
    "binary garbage": ("chat.txt", garbage, "binary file, not a chat export"),
    "a png named .txt": ("chat.txt", lambda: b"\x89PNG\r\n\x1a\n" + bytes(2000), "binary file, not a chat export"),
    "a .txt that is not a chat": ("notes.txt", lambda: b"Groceries\n- milk\n- eggs\nCall mum at 5\n",
                                  "not a recognised chat export (formats tried: "),
    "truncated Telegram JSON": ("result.json", lambda: TELEGRAM[: len(TELEGRAM) * 2 // 3].encode(), "result.json:"),
    "truncated Alpaca JSON": ("alpaca.json", lambda: b'[{"instruction": "a", "output": "b"}, {"instruction": "c", "ou',
                              "JSON ends too early"),
    "zip with ../ member": ("export.zip", lambda: zip_bytes({"_chat.txt": WA.encode(), "../../evil.txt": b"x"}),
                            "zip member '../../evil.txt' points outside the zip"),
    "zip with absolute member": ("export.zip", lambda: zip_bytes({"_chat.txt": WA.encode(), "/etc/cron.d/x": b"x"}),
                                 "zip member '/etc/cron.d/x' has an absolute path"),
    "zip claiming huge sizes": ("export.zip", lambda: claim_huge_size(zip_bytes({"_chat.txt": WA.encode()})),
                                "zip member '_chat.txt' claims 4,294,901,760 bytes"),
    "zip bomb by ratio": ("export.zip", lambda: zip_bytes({"_chat.txt": b"a" * (4 * 1024**2)}), "(a zip bomb?)"),
    "damaged zip": ("export.zip", lambda: zip_bytes({"_chat.txt": WA.encode() * 50})[:-30], "not a valid zip file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_one_clear_line(tmp_path, case):
    name, make, problem = BAD[case]
    (tmp_path / name).write_bytes(make())
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.jsonl").write_text("previous output\n")
    proc = clonekit("ingest", name, "-o", "out/messages.jsonl", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"clonekit: error: {name}"), lines[0]
    assert problem in lines[0]
    assert lines[0].endswith(")"), "the line ends with what to do, in parentheses"
    assert sorted(p.name for p in out.iterdir()) == ["keep.jsonl"]  # no output, no temp files


def test_an_existing_output_is_left_as_it_was(tmp_path):
    (tmp_path / "chat.txt").write_bytes(garbage())
    (tmp_path / "messages.jsonl").write_text("previous output\n")
    proc = clonekit("ingest", "chat.txt", "-o", "messages.jsonl", cwd=tmp_path)
    assert proc.returncode == 2
    assert (tmp_path / "messages.jsonl").read_text() == "previous output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.txt", "messages.jsonl"]


def test_missing_path(tmp_path):
    proc = clonekit("ingest", "nope.txt", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "clonekit: error: nope.txt: no such file or folder (check the path)\n"


@pytest.fixture
def whatsapp():
    return pytest.importorskip("builder.ingest.whatsapp", reason="the WhatsApp parser has not landed yet")


@pytest.mark.parametrize("encoding, prefix", [
    ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-8", b"\xef\xbb\xbf"), ("latin-1", b""),
    ("cp1252", b""), ("utf-16-le", b""),
], ids=["utf16le-bom", "utf16be-bom", "utf8-bom", "latin1", "cp1252", "utf16le-no-bom"])
def test_detectable_encodings_are_read(tmp_path, whatsapp, encoding, prefix):
    (tmp_path / "chat.txt").write_bytes(prefix + WA.encode(encoding))
    proc = clonekit("ingest", "chat.txt", "-o", "messages.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "messages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["sender"], r["text"]) for r in rows] == [("Zoë", "Ça va? Très bien"),
                                                        ("Sam", "Señor, à bientôt\ndeuxième ligne")]
