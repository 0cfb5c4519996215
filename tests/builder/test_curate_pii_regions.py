"""Which regions national phone numbers are read in: recorded per version with where each
came from, and the locale's guess pinned in the version's config so a rebuild from the
manifest redacts the same on a machine with another locale."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from builder.curate import pii
from builder.curate.build import build
from builder.curate.config import BuildConfig, load_build_config
from builder.errors import ConfigError
from builder.events import Log
from clonekit.cli import main

# no +CC number anywhere: only the locale can say 07400 654321 is British
MESSAGES = [
    ("Ann", "hi Sam, call me on 07400 654321 tonight"),
    ("Sam", "sure, and my landline is 020 7946 0123"),
    ("Ann", "see you at 14:30 on 12.03.2024 then"),
    ("Sam", "great, bring the book please"),
] * 4


def set_locale(monkeypatch, lang: str) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", lang)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "chat.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, (sender, text) in enumerate(MESSAGES):
            fh.write(json.dumps({"chat": "Ann", "timestamp": f"2024-03-01T10:{i:02d}:00", "sender": sender,
                                 "text": text, "kind": "text", "source": "test"}) + "\n")
    return path


def config_for(export: Path, root: Path, name: str = "ann") -> BuildConfig:
    return load_build_config(None, {"build.sources": [str(export)], "build.me": ["Sam"], "build.name": name,
                                    "build.root": str(root), "clean.pii": True, "sessions.min_tokens": 0})


def records(path: Path) -> str:
    return (path / "train.jsonl").read_text(encoding="utf-8") + (path / "val.jsonl").read_text(encoding="utf-8")


def test_the_locale_region_is_recorded_pinned_and_reproduced(export, tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    set_locale(monkeypatch, "en_GB.UTF-8")
    events = []
    first = build(config_for(export, root), on_event=events.append)
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pii_regions"] == [{"regions": ["GB"], "from": ["locale"], "chats": 1}]
    assert manifest["config"]["pii"]["locale_region"] == "GB"  # pinned in the resolved config
    logs = [e.message for e in events if isinstance(e, Log)]
    assert ("national phone numbers read as GB (from the locale LANG=en_GB.UTF-8); "
            "set [pii] regions to pin it") in logs
    text = records(first)
    assert "07400" not in text and "7946" not in text and text.count("<PHONE>") == 8 and "14:30" in text

    # another machine, no locale: the manifest's config still reads the numbers as British
    set_locale(monkeypatch, "C.UTF-8")
    config = BuildConfig.model_validate(manifest["config"])
    again = build(config.model_copy(update={"build": config.build.model_copy(update={"name": "again"})}),
                  on_event=events.append)
    assert records(again) == text
    redo = json.loads((again / "manifest.json").read_text(encoding="utf-8"))
    assert redo["pii_regions"] == manifest["pii_regions"] and redo["config"]["pii"] == manifest["config"]["pii"]
    assert "national phone numbers read as GB (from the locale GB pinned in [pii] locale_region); " \
           "set [pii] regions to pin it" in [e.message for e in events if isinstance(e, Log)]

    # ... whereas the unpinned config on that machine finds no country for them (and records that)
    plain = build(config_for(export, root, "plain"))
    pm = json.loads((plain / "manifest.json").read_text(encoding="utf-8"))
    assert "07400 654321" in records(plain) and pm["pii"]["phone"] == 0
    assert pm["pii_regions"] == [{"regions": [], "from": [], "chats": 1}]
    assert pm["config"]["pii"]["locale_region"] is False  # pinned too: an en_GB machine would not add GB


def test_pii_report_shows_where_each_region_came_from(export, tmp_path, monkeypatch, capsys):
    root = tmp_path / "datasets"
    set_locale(monkeypatch, "en_GB.UTF-8")
    assert main(["pii-report", str(export)]) == 0
    out = capsys.readouterr().out
    assert "national phone numbers read as: GB (the locale) in 1 chat" in out
    assert "(locale: LANG=en_GB.UTF-8; set [pii] regions to pin it)" in out
    build(config_for(export, root))

    set_locale(monkeypatch, "C.UTF-8")
    assert main(["pii-report", "ann", "--root", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["regions"] == [{"regions": ["GB"], "from": ["locale"], "chats": 1}]
    assert data["locale"] == "GB pinned in [pii] locale_region" and data["counts"]["phone"] == 8
    assert main(["pii-report", "ann", "--root", str(root), "--samples", "0"]) == 0
    out = capsys.readouterr().out
    assert "read as: GB (the locale) in 1 chat\n  (locale: GB pinned in [pii] locale_region)\n" in out
    assert "samples" not in out

    toml = tmp_path / "clonekit.toml"
    toml.write_text('[pii]\nregions = ["de"]\nlocale_region = "gb"\n')
    assert main(["pii-report", str(export), "--config", str(toml)]) == 0
    out = capsys.readouterr().out
    assert "read as: DE ([pii] regions), GB (the locale) in 1 chat" in out


def test_each_region_keeps_its_first_origin():
    df = pl.DataFrame({
        "chat": ["a", "a", "b", "c"],
        "text": ["ring +91 98765 43210", "or 098765 43210", "call 0151 234 5678", "nothing here 12:30"],
    })
    used: Counter = Counter()
    opts = pii.PiiOptions(regions=("IN", "DE"), locale_region="GB")
    pii.redact_column(df, "text", ["phone"], options=opts, used=used)
    assert pii.region_use(used) == [
        {"regions": ["IN", "DE", "GB"], "from": ["chat", "config", "locale"], "chats": 1},
        {"regions": ["IN", "DE", "GB"], "from": ["config", "config", "locale"], "chats": 1},
    ]  # chat c holds no candidate: it tried no region
    used.clear()
    pii.redact_column(df, "text", ["phone"], options=pii.PiiOptions(locale_region=False), used=used)
    assert pii.region_use(used) == [{"regions": ["IN"], "from": ["chat"], "chats": 1},
                                    {"regions": ["IN"], "from": ["export"], "chats": 1}]
    used.clear()
    pii.redact_column(df, "text", ["email"], options=opts, used=used)
    assert not used  # no phone redaction, no regions


def test_pin_locale_and_the_config_value(monkeypatch, tmp_path):
    set_locale(monkeypatch, "de_DE.UTF-8")
    off = load_build_config(None)
    assert pii.pin_locale(off) is off  # no redaction: the locale is not read, nothing to pin
    on = load_build_config(None, {"clean.pii": True})
    assert pii.pin_locale(on).pii.locale_region == "DE" and on.pii.locale_region is True
    no_phone = load_build_config(None, {"clean.pii": True, "clean.pii_types": ["email"]})
    assert pii.pin_locale(no_phone) is no_phone
    chosen = load_build_config(None, {"clean.pii": True, "pii.locale_region": "fr"})
    assert chosen.pii.locale_region == "FR" and pii.pin_locale(chosen) is chosen
    set_locale(monkeypatch, "POSIX")
    assert pii.pin_locale(on).pii.locale_region is False
    toml = tmp_path / "clonekit.toml"
    toml.write_text('[pii]\nlocale_region = "XX"\n')
    with pytest.raises(ConfigError, match="locale_region.*unknown region XX"):
        load_build_config(toml)
