"""JSON errors in plain words: no raw Python fragments ("Expecting property name enclosed
in double quotes") in what a user reads."""

from __future__ import annotations

import json

import pytest

from builder.curate.store import read_records
from builder.errors import ClonekitError
from builder.ingest import ingest_paths
from builder.json_errors import describe

PYTHON_WORDS = ("Expecting", "delimiter", "enclosed", "char ")


def _err(text: str) -> json.JSONDecodeError:
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads(text)
    return info.value


@pytest.mark.parametrize("text, words", [
    ('{"a": 1', "breaks off before its end"),
    ('{"a": "xyz', "breaks off before its end"),
    ('{"a" 1}', "a ':' is missing (column 6)"),
    ('{"a": 1 "b": 2}', "a ',' is missing"),
    ("{'a': 1}", "a key in double quotes was expected"),
    ('{"a": 1}\n{"b": 2}', "there is more text after the JSON (line 2, column 1)"),
])
def test_plain_words(text, words):
    message = describe(_err(text), text)
    assert message.startswith("not valid JSON: ") and words in message, message
    assert not any(w in message for w in PYTHON_WORDS), message


def test_truncated_exports_and_records_say_so_plainly(tmp_path):
    export = tmp_path / "result.json"
    export.write_text('{"name": "Alex", "type": "personal_chat", "id": 1, "messages": [{"id": 1, "type": "message", '
                      '"date": "2024-01-01T10:00:00", "from": "Alex", "text": "hi"}, {"id": 2, "', encoding="utf-8")
    with pytest.raises(ClonekitError) as err:
        ingest_paths([export], fmt="telegram")
    assert "truncated" in str(err.value) and not any(w in str(err.value) for w in PYTHON_WORDS), str(err.value)
    records = tmp_path / "train.jsonl"
    records.write_text('{"messages": []}\n{"messages": [{"role": "user", "content": "hi\n', encoding="utf-8")
    with pytest.raises(ClonekitError, match=r"train.jsonl:2: not valid JSON: it breaks off before its end"):
        read_records(records)
