"""`clonekit ingest/build --tz ZONE`: the command-line form of $CLONEKIT_TZ for exports
that store only epoch times (the Slack fixture's ``ts``)."""

from __future__ import annotations

import json

import pytest

from clonekit.cli import main
from tests.builder.world_support import fixture

EXPORT = fixture("slack", "export")


@pytest.fixture(autouse=True)
def utc_env(monkeypatch):
    # the flag sets $CLONEKIT_TZ for the process; monkeypatch puts the old value back
    monkeypatch.setenv("CLONEKIT_TZ", "UTC")


def ingested(tmp_path, *flags: str) -> list[dict]:
    out = tmp_path / "messages.jsonl"
    assert main(["ingest", str(EXPORT), "-o", str(out), "-q", *flags]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_ingest_tz_shows_epoch_times_in_the_zone(tmp_path):
    utc = ingested(tmp_path)
    tokyo = ingested(tmp_path, "--tz", "Asia/Tokyo")
    assert utc[1]["text"] == tokyo[1]["text"] == "Hi @Bo Chen! See the plan & reply"
    assert utc[1]["timestamp"] == "2024-01-02T10:00:00"
    assert tokyo[1]["timestamp"] == "2024-01-02T19:00:00"


def test_flag_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CLONEKIT_TZ", "America/New_York")
    assert ingested(tmp_path)[1]["timestamp"] == "2024-01-02T05:00:00"
    assert ingested(tmp_path, "--tz", "Asia/Shanghai")[1]["timestamp"] == "2024-01-02T18:00:00"


@pytest.mark.parametrize("command", [["ingest", str(EXPORT)], ["build", str(EXPORT), "--me", "ana"]])
def test_bad_zone_is_one_line_naming_the_flag(tmp_path, capsys, command):
    assert main([*command, "--tz", "Mars/Olympus"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "--tz 'Mars/Olympus': not a time zone name" in err


def test_build_tz_reaches_the_dataset(tmp_path, capsys):
    root = tmp_path / "datasets"
    assert main(["build", str(EXPORT), "--me", "ana", "--root", str(root), "--min-tokens", "1", "-q",
                 "--tz", "Asia/Tokyo"]) == 0
    record = json.loads((root / "default" / "v0001" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert record["messages"][-1]["content"] == "Hi @Bo Chen! See the plan & reply"
    assert record["meta"]["start"] == "2024-01-02T19:00:00"
