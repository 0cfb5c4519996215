"""Fuzzing ingestion: random bytes, byte-level mutations of real and hand-made exports, and
structural mutations of JSON exports go through ingest_paths with every format (detected
and forced). Nothing but ClonekitError (our one-line, user-facing error) may escape."""

from __future__ import annotations

import functools
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builder.errors import ClonekitError
from builder.ingest import detect, ingest_paths
from builder.schema import INSTRUCTION_SCHEMA, MESSAGE_SCHEMA

# Modest and repeatable by default (CI, a small machine). For a deeper, random hunt:
#   CLONEKIT_FUZZ_EXAMPLES=2000 python -m pytest tests/builder/test_fuzz_ingest.py
DEEP = "CLONEKIT_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(max_examples=int(os.environ.get("CLONEKIT_FUZZ_EXAMPLES", "60")), deadline=None,
                derandomize=not DEEP, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _zip(members: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():  # fixed dates: the same bytes every run
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 3, 18, 10, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


WA_ANDROID = ("18/03/2024, 09:15 - Messages and calls are end-to-end encrypted.\n"
              "18/03/2024, 09:15 - Kim: Morning!\n18/03/2024, 09:16 - Sam: Hi Kim\nhow are you?\n\n"
              "18/03/2024, 09:17 - Sam: <Media omitted>\n18/03/2024, 9:18 pm - Kim: This message was deleted\n")
WA_IOS = ("[3/18/24, 9:15:02\u202fAM] Alex: \u200eMessages and calls are end-to-end encrypted.\r\n"
          "[3/18/24, 9:16:40\u202fAM] ~\u202fSam: Hi\r\n\u200e[3/18/24, 9:17:00\u202fAM] Sam: \u200eimage omitted\r\n")
TELEGRAM = json.dumps({"name": "Alex", "type": "personal_chat", "id": 1, "messages": [
    {"id": 1, "type": "message", "date": "2024-03-18T10:00:00", "date_unixtime": "1710756000", "from": "Alex",
     "from_id": "user1", "text": "plain"},
    {"id": 2, "type": "message", "date": "2024-03-18T10:01:00", "from": "Sam", "from_id": "user2",
     "text": [{"type": "bold", "text": "bold"}, " and ", {"type": "link", "text": "https://x.org"}],
     "photo": "photos/1.jpg"},
    {"id": 3, "type": "service", "date": "2024-03-18T10:02:00", "actor": "Sam", "actor_id": "user2",
     "action": "invite_members", "members": ["Kim"], "text": ""}]})
DISCORD = json.dumps({"guild": {"id": "1", "name": "Direct Messages"},
                      "channel": {"id": "2", "type": "DirectTextChat", "name": "kim"},
                      "messages": [{"id": "3", "type": "Default", "timestamp": "2024-03-18T10:00:00.123+01:00",
                                    "content": "hey", "author": {"id": "4", "name": "kim", "nickname": "Kim"},
                                    "attachments": [{"fileName": "a.png"}]}]})
MESSENGER = json.dumps({"participants": [{"name": "Alex"}, {"name": "Sam"}], "title": "Alex",
                        "thread_path": "inbox/alex_1",
                        "messages": [{"sender_name": "Sam", "timestamp_ms": 1710756000000,
                                      "content": "J\u00e2\u009d\u00a4\u00ef\u00b8\u008fhn"},
                                     {"sender_name": "Alex", "timestamp_ms": 1710755000000, "is_unsent": True},
                                     {"sender_name": "Alex", "timestamp_ms": 1710754000000,
                                      "photos": [{"uri": "p.jpg"}]}]})
ALPACA = json.dumps([{"instruction": "i", "input": "x", "output": "o"}, {"instruction": "j", "output": "p"}])
SHAREGPT = json.dumps([{"conversations": [{"from": "human", "value": "h"}, {"from": "gpt", "value": "g"}]}])
QA = '{"question": "q", "answer": "a"}\n{"question": "q2", "answer": "a2"}\n'
OPENAI = json.dumps({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}) + "\n"
CSV = "timestamp,sender,text\n2024-03-18 10:00:00,Alex,hello\n2024-03-18 10:01:00,Sam,\"multi\nline\"\n"
SIGNAL = "[2024-03-18 10:00:00] Me: Hello\n[2024-03-18 10:01:00] Alex: Hi\nsecond line\n"
IMESSAGE = "Mar 18, 2024  10:00:00 AM\nMe\nHello world\n\nMar 18, 2024  10:01:00 AM\n+15555550123\nHi\n\n"

SEEDS: dict[str, bytes] = {
    "WhatsApp Chat with Kim.txt": WA_ANDROID.encode(),
    "_chat.txt": WA_IOS.encode(),
    "result.json": TELEGRAM.encode(),
    "channel.json": DISCORD.encode(),
    "message_1.json": MESSENGER.encode(),
    "alpaca.json": ALPACA.encode(),
    "sharegpt.json": SHAREGPT.encode(),
    "qa.jsonl": QA.encode(),
    "openai.jsonl": OPENAI.encode(),
    "messages.csv": CSV.encode(),
    "chat.md": SIGNAL.encode(),
    "Alex.txt": IMESSAGE.encode(),
    "WhatsApp Chat - Alex.zip": _zip({"_chat.txt": WA_IOS, "00000001-PHOTO.jpg": b"\xff\xd8",
                                      "__MACOSX/._chat.txt": b"\x00\x05\x16\x07"}),
}
JSON_SEEDS = {n: d for n, d in SEEDS.items() if n.endswith(".json") or n.endswith(".jsonl")}

FORMATS = ["auto", *detect.format_names()]
# Half the cases detect the format, half force one (a forced mismatch must fail cleanly too).
FMT = st.one_of(st.just("auto"), st.sampled_from(FORMATS))
TOKENS = [b"\x00", b"\n", b"\r\n", b"\"", b"{", b"}", b"[", b"]", b",", b":", b": ", b" - ", b"/", b".", b"0",
          b"9", b"99", b"-1", b"\xff\xfe", b"\xef\xbb\xbf", b"\xe2\x80\xaf", b"\xe2\x80\x8e", b"PM", b"null",
          b"1e999", b"\\u0000", b"\\ud800", b"[", b"24:35", b"31/02/2024, 10:60 - ", b"PK\x03\x04"]


@functools.lru_cache(maxsize=2)
def _fixture_seeds(shared: Path | None) -> dict[str, bytes]:
    seeds = dict(SEEDS)
    if shared is not None:
        for path in sorted(shared.iterdir()):
            if path.is_file() and path.stat().st_size < 300_000 and path.suffix in {".txt", ".json", ".zip", ".csv"}:
                seeds[path.name] = path.read_bytes()
    return seeds


@st.composite
def mutated(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "token"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        elif op == "duplicate":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 200))]
        else:
            data[pos:pos] = draw(st.sampled_from(TOKENS))
    return name, bytes(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["", "2024-03-18T10:00:00", "message", "service", "user1", "99999999999999"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def json_mutated(draw) -> tuple[str, bytes]:
    """Replace one node of a JSON export (or of one JSONL record) by a random JSON value."""
    name = draw(st.sampled_from(sorted(JSON_SEEDS)))
    text = JSON_SEEDS[name].decode()
    records = [json.loads(line) for line in text.splitlines() if line.strip()] if name.endswith(".jsonl") else [json.loads(text)]
    i = draw(st.integers(0, len(records) - 1))
    paths = list(_paths(records[i]))
    path = draw(st.sampled_from(paths))
    new = draw(JSON_VALUES)
    if not path:
        records[i] = new
    else:
        node = records[i]
        for key in path[:-1]:
            node = node[key]
        if draw(st.booleans()) and isinstance(node, dict):
            del node[path[-1]]
        else:
            node[path[-1]] = new
    out = "\n".join(json.dumps(r) for r in records) + "\n" if name.endswith(".jsonl") else json.dumps(records[0])
    return name, out.encode()


def _ingest(tmp_path: Path, name: str, data: bytes, fmt: str) -> None:
    target = tmp_path / "case" / name
    target.parent.mkdir(exist_ok=True)
    for old in target.parent.iterdir():
        old.unlink()
    target.write_bytes(data)
    try:
        result = ingest_paths([target], fmt=fmt)
    except ClonekitError as err:
        assert str(err) and "\n" not in str(err), "errors are one line"
        return
    assert result.messages.schema == MESSAGE_SCHEMA
    assert result.instructions.schema == INSTRUCTION_SCHEMA
    assert result.messages.height + result.instructions.height > 0


@FUZZ
@given(data=st.binary(max_size=2000), name=st.sampled_from(sorted(SEEDS)), fmt=FMT)
def test_random_bytes(tmp_path, data, name, fmt):
    _ingest(tmp_path, name, data, fmt)


@FUZZ
@given(text=st.text(max_size=400), name=st.sampled_from(sorted(SEEDS)), fmt=FMT)
def test_random_text(tmp_path, text, name, fmt):
    assume(not name.endswith(".zip"))
    _ingest(tmp_path, name, text.encode("utf-8", "surrogatepass"), fmt)


@FUZZ
@given(case=mutated(SEEDS), fmt=FMT)
def test_mutated_samples(tmp_path, case, fmt):
    _ingest(tmp_path, *case, fmt)


@FUZZ
@given(case=json_mutated(), fmt=FMT)
def test_structurally_mutated_json(tmp_path, case, fmt):
    _ingest(tmp_path, *case, fmt)


@FUZZ
@given(data=st.data(), fmt=FMT)
def test_mutated_shared_fixtures(tmp_path, shared_fixtures, data, fmt):
    name, blob = data.draw(mutated(_fixture_seeds(shared_fixtures)))
    _ingest(tmp_path, name, blob, fmt)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_unmutated_seeds_parse(tmp_path, name):
    """The seeds are real exports: each parses (so the mutations start from valid input)."""
    if name in {"message_1.json"}:
        pytest.importorskip("builder.ingest.messenger")
    target = tmp_path / name
    target.write_bytes(SEEDS[name])
    result = ingest_paths([target])
    assert result.messages.height + result.instructions.height > 0
