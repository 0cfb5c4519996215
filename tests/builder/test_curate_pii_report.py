"""clonekit pii-report EXPORTS | VERSION: counts per type and redactions in context, with
exactly the settings a build uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clonekit.cli import main

MESSAGES = [
    ("Ann", "hi Sam, my new number is +44 7400 123456"),
    ("Sam", "thanks! mine is still 07400 654321"),
    ("Ann", "send the deposit to GB82 WEST 1234 5698 7654 32 please"),
    ("Sam", "done, receipt at example.com/r/55 and a copy to ann@example.org"),
    ("Ann", "see you at 14:30 on 12.03.2024, it was £1,299.00"),
    ("Sam", "the server is 10.0.0.12 btw"),
] * 4


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "chat.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, (sender, text) in enumerate(MESSAGES):
            fh.write(json.dumps({"chat": "Ann", "timestamp": f"2024-03-0{1 + i // 12}T10:{i % 60:02d}:00",
                                 "sender": sender, "text": text, "kind": "text", "source": "test"}) + "\n")
    return path


def cli(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_report_on_exports(export, capsys, monkeypatch):
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    rc, out, err = cli(capsys, "pii-report", str(export), "--samples", "2", "--width", "12")
    assert rc == 0, err
    # the national number is read as British: the chat's +44 number says so
    assert "found: email 4, phone 8, url 4, iban 4, ip 4" in out
    assert "national phone numbers read as: GB" in out
    assert "phone  …w number is [+44 7400 123456]…  ->  <PHONE>" in out
    assert "[07400 654321]" in out and "[GB82 WEST 1234 5698 7654 32]" in out
    assert "14:30" not in out and "1,299.00" not in out  # the look-alikes are not redactions

    rc, out, _ = cli(capsys, "pii-report", str(export), "--json", "--samples", "1")
    data = json.loads(out)
    assert data["counts"] == {"email": 4, "phone": 8, "url": 4, "card": 0, "iban": 4, "ip": 4}
    assert [s["kind"] for s in data["samples"]] == ["email", "phone", "url", "iban", "ip"]


def test_report_follows_the_config(export, tmp_path, capsys):
    toml = tmp_path / "clonekit.toml"
    toml.write_text('[clean]\npii_types = ["phone"]\n[pii]\ninfer_regions = false\nlocale_region = false\n')
    rc, out, err = cli(capsys, "pii-report", str(export), "--config", str(toml), "--json")
    assert rc == 0, err
    # only the +CC number: nothing says how to read 07400 654321
    assert json.loads(out)["counts"] == {"phone": 4}
    toml.write_text('[pii]\nregions = ["XX"]\n')
    rc, _, err = cli(capsys, "pii-report", str(export), "--config", str(toml))
    assert rc != 0 and "unknown region XX" in err and "Traceback" not in err


def test_report_on_a_version_uses_its_settings(export, tmp_path, capsys):
    root = tmp_path / "datasets"
    rc, out, err = cli(capsys, "build", str(export), "--me", "Sam", "--pii", "--root", str(root), "--min-tokens", "0",
                       "--name", "ann", "-q")
    assert rc == 0, err
    train = (root / "ann" / "v0001" / "train.jsonl").read_text() + (root / "ann" / "v0001" / "val.jsonl").read_text()
    assert "7400" not in train and "GB82" not in train and "<PHONE>" in train and "<IBAN>" in train
    rc, out, err = cli(capsys, "pii-report", "ann", "--root", str(root))
    assert rc == 0, err
    assert out.startswith("PII in ann/v0001 (sources: ")
    assert "phone 8" in out and "[+44 7400 123456]" in out and "changed since" not in out
    with open(export, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"chat": "Ann", "timestamp": "2024-03-03T10:00:00", "sender": "Ann",
                             "text": "new: ann@new.example", "kind": "text", "source": "test"}) + "\n")
    rc, out, err = cli(capsys, "pii-report", "ann", "--root", str(root))
    assert rc == 0 and "note: 1 input file changed since the version was built" in out and "email 5" in out
    export.unlink()
    rc, out, err = cli(capsys, "pii-report", "ann", "--root", str(root))
    assert rc != 0 and "is gone; pass the exports instead" in err
