"""Slack workspace export: a channel folder of day files with users.json beside it, in a
folder and in a zip; mentions, subtypes, names, time zone; fuzz."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import datetime

import pytest
from hypothesis import given, settings

from builder.errors import ParseError
from builder.ingest import ingest_paths, slack
from builder.ingest.base import Document
from tests.builder.fuzzing import assert_one_line, mutated_json
from tests.builder.world_support import detected, fixture, only_parse_error

EXPORT = fixture("slack", "export")
DAY = EXPORT / "general" / "2024-01-02.json"


def test_folder_export(monkeypatch):
    monkeypatch.delenv("CLONEKIT_TZ", raising=False)
    result = ingest_paths([EXPORT])
    df = result.messages
    assert {f.format for f in result.files} == {"slack"}
    assert df.get_column("chat").unique().to_list() == ["general"]
    assert df.get_column("kind").to_list() == ["system", "text", "text", "media", "deleted", "text", "system"]
    # users.json names win over ids; display name first, then real name
    assert df.get_column("sender").to_list() == [None, "ana", "Bo Chen", "Bo Chen", "Slackbot", "deploybot", None]
    assert df.item(0, "text") == "Bo Chen joined the channel"
    assert df.item(1, "text") == "Hi @Bo Chen! See the plan & reply"
    assert df.item(2, "text") == "line one\nline two"
    assert df.item(3, "text") == "[file: photo.jpg]"
    assert df.item(1, "timestamp").replace(microsecond=0) == datetime(2024, 1, 2, 10, 0)


def test_zip_export_finds_users_json(tmp_path, monkeypatch):
    monkeypatch.setenv("CLONEKIT_TZ", "Asia/Tokyo")
    archive = tmp_path / "Acme Slack export Jan 1 2024 - Jan 3 2024.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(EXPORT.rglob("*.json")):
            zf.write(path, path.relative_to(EXPORT).as_posix())
    df = ingest_paths([archive]).messages
    assert df.item(2, "sender") == "Bo Chen"  # only users.json knows Bo's name
    assert df.item(1, "timestamp").replace(microsecond=0) == datetime(2024, 1, 2, 19, 0)


def test_without_users_json_names_come_from_the_messages(tmp_path):
    shutil.copytree(EXPORT, tmp_path / "export")
    (tmp_path / "export" / "users.json").unlink()
    df = ingest_paths([tmp_path / "export"]).messages
    assert df.item(1, "sender") == "ana"  # from user_profile
    assert df.item(2, "sender") == "U045EF6GH"  # no profile anywhere: the id


def test_detected():
    assert detected("general/2024-01-02.json", DAY.read_text(), named=False) == "slack"
    assert detected("users.json", (EXPORT / "users.json").read_text(), named=False) is None


def test_errors_are_one_line():
    for text in ("", "{}", '[{"type": "message", "text": "x", "ts": "1704189600.000200"}]',
                 '[{"type": "message", "user": "U1", "text": "x", "ts": "soon"}]', "[1]"):
        with pytest.raises(ParseError) as err:
            slack.parse([Document("general/2024-01-02.json", text, folder="general")], lambda _m: None)
        assert_one_line(err.value)


@settings(max_examples=100, deadline=None)
@given(mutated_json(json.loads(DAY.read_text()), ["", "message", "tombstone", "channel_join", "U012AB3CD", "1e999",
                                                   "1704189600.000200", "<@U1|x>", None, []]))
def test_fuzz_only_parse_error(text):
    only_parse_error(slack.parse, Document("general/2024-01-02.json", text, folder="general"))


def test_direct_message_folders_are_named_by_their_members(tmp_path):
    shutil.copytree(EXPORT, tmp_path / "export")
    (tmp_path / "export" / "dms.json").write_text(json.dumps(
        [{"id": "D0123ABCD", "created": 1704100000, "members": ["U012AB3CD", "U045EF6GH"]}]))
    (tmp_path / "export" / "D0123ABCD").mkdir()
    (tmp_path / "export" / "D0123ABCD" / "2024-01-04.json").write_text(json.dumps(
        [{"type": "message", "user": "U045EF6GH", "text": "just us", "ts": "1704362400.000100"}]))
    df = ingest_paths([tmp_path / "export"]).messages
    assert df.filter(df["text"] == "just us").get_column("chat").to_list() == ["ana, Bo Chen"]
