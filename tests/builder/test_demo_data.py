"""The bundled demo exports and tokenizer: real-looking formats, enough data, reproducible."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from builder.demo_data import (
    DEMO_CONTACT_ROLES,
    DEMO_PERSONA,
    builtin_tokenizer_path,
    demo_exports_zip,
    materialize_demo,
)

REPO = Path(__file__).resolve().parents[2]
ANDROID_HEADER = re.compile(r"^(\d{2})/(\d{2})/(\d{4}), ([01]\d|2[0-3]):([0-5]\d) - ")
IOS_HEADER = re.compile(r"^\u200e?\[(\d{1,2})/(\d{1,2})/(\d{2}), (1[0-2]|[1-9]):[0-5]\d:[0-5]\d\u202f(AM|PM)\] ")
MEMBERS = {
    "WhatsApp Chat with Alex.txt",
    "WhatsApp Chat with Helen Marsh.txt",
    "WhatsApp Chat - Mum.zip",
    "WhatsApp Chat - Jess.zip",
    "telegram/ChatExport_2024-12-01/result.json",
    "discord/The Quizzly Bears - Text Channels - general [1093184467250663485].json",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    ws = tmp_path_factory.mktemp("ws")
    paths = materialize_demo(ws)
    return {p.relative_to(ws / "exports").as_posix(): p for p in paths}


def _ios_text(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["_chat.txt"]
        return zf.read("_chat.txt")


def _load_generator():
    script = REPO / "scripts" / "make_sample_data.py"
    if not script.is_file():
        pytest.skip(f"{script} is absent (installed package without the source tree)")
    spec = importlib.util.spec_from_file_location("make_sample_data", script)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    return mod


def test_materialize_lays_out_every_export(tmp_path, demo):
    assert set(demo) == MEMBERS
    assert all(p.is_file() and p.stat().st_size > 1000 for p in demo.values())


def test_materialize_is_idempotent(tmp_path):
    first = materialize_demo(tmp_path)
    mtimes = {p: p.stat().st_mtime_ns for p in first}
    second = materialize_demo(tmp_path)
    assert first == second
    assert {p: p.stat().st_mtime_ns for p in second} == mtimes  # untouched, not rewritten
    files = sorted(p for p in (tmp_path / "exports").rglob("*") if p.is_file())
    assert files == sorted(first)  # no duplicates, no leftover temp files


def test_materialize_repairs_a_modified_file(tmp_path):
    paths = materialize_demo(tmp_path)
    victim = next(p for p in paths if p.name == "WhatsApp Chat with Alex.txt")
    good = victim.read_bytes()
    victim.write_text("scribbled over", encoding="utf-8")
    materialize_demo(tmp_path)
    assert victim.read_bytes() == good


def test_android_exports_look_real(demo):
    for name in ("WhatsApp Chat with Alex.txt", "WhatsApp Chat with Helen Marsh.txt"):
        raw = demo[name].read_bytes()
        assert b"\r\n" not in raw and not raw.startswith(b"\xef\xbb\xbf")
        lines = raw.decode("utf-8").splitlines()
        assert lines[0].endswith("Messages and calls are end-to-end encrypted. No one outside of this chat, "
                                 "not even WhatsApp, can read or listen to them. Tap to learn more.")
        headers = [ANDROID_HEADER.match(line) for line in lines]
        assert sum(h is not None for h in headers) / len(lines) > 0.9  # the rest are continuation lines
        assert any(int(h.group(1)) > 12 for h in headers if h)  # day-first is decidable
    alex = demo["WhatsApp Chat with Alex.txt"].read_text(encoding="utf-8")
    for marker in (" - Alex: <Media omitted>", " - Alex: This message was deleted\n",
                   " - Sam: You deleted this message\n", " <This message was edited>\n", "\n- "):
        assert marker in alex
    assert re.search(r"\+44 7700 900\d{3}", alex) and "example.com" in alex


def test_ios_exports_look_real(demo):
    for name, contact in (("WhatsApp Chat - Mum.zip", "Mum"), ("WhatsApp Chat - Jess.zip", "Jess")):
        raw = _ios_text(demo[name])
        assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF throughout
        text = raw.decode("utf-8")
        lines = text.split("\r\n")[:-1]
        assert IOS_HEADER.match(lines[0]) and f"] {contact}: \u200eMessages and calls are end-to-end" in lines[0]
        assert "\u202fPM] " in text and "\u202fAM] " in text
        assert sum(IOS_HEADER.match(line) is not None for line in lines) / len(lines) > 0.85
        assert re.search(rf"^\u200e\[[^\]]+\] {contact}: \u200eimage omitted\r$", text, re.M)
        assert "\u200eYour security code with" in text
    mum = _ios_text(demo["WhatsApp Chat - Mum.zip"]).decode("utf-8")
    assert "Love Mum xx" in mum and "\r\nI'll keep you posted." in mum  # multi-line bodies


def test_telegram_export_has_tdesktop_keys(demo):
    chat = json.loads(demo["telegram/ChatExport_2024-12-01/result.json"].read_text(encoding="utf-8"))
    assert set(chat) == {"name", "type", "id", "messages"} and chat["type"] == "personal_chat"
    msgs = chat["messages"]
    ids = [m["id"] for m in msgs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(isinstance(m["date_unixtime"], str) and "T" in m["date"] for m in msgs)
    kinds = Counter(m["type"] for m in msgs)
    assert kinds["service"] >= 2 and kinds["message"] > 1000
    assert any(isinstance(m.get("text"), list) for m in msgs)  # entity lists
    assert any(m.get("media_type") == "voice_message" for m in msgs)
    assert any(m.get("photo", "").startswith("(File not included.") for m in msgs)
    for m in msgs:
        if isinstance(m.get("text"), list):  # plain text = concatenation of the parts
            joined = "".join(p if isinstance(p, str) else p["text"] for p in m["text"])
            assert joined == "".join(e["text"] for e in m["text_entities"])


def test_discord_export_has_dce_keys(demo):
    name = "discord/The Quizzly Bears - Text Channels - general [1093184467250663485].json"
    doc = json.loads(demo[name].read_text(encoding="utf-8"))
    assert {"guild", "channel", "dateRange", "exportedAt", "messages", "messageCount"} <= set(doc)
    assert doc["channel"]["type"] == "GuildTextChat" and doc["messageCount"] == len(doc["messages"])
    msgs = doc["messages"]
    assert all(isinstance(m["id"], str) and re.search(r"[+-]\d\d:\d\d$", m["timestamp"]) for m in msgs)
    assert {"+00:00", "+01:00"} <= {m["timestamp"][-6:] for m in msgs}  # GMT and BST
    assert {"Default", "Reply", "GuildMemberJoin"} <= {m["type"] for m in msgs}
    assert any(m["attachments"] for m in msgs)
    assert {m["author"]["nickname"] for m in msgs} == {"Sam", "Dev", "Tom", "Priya"}


def _counts(demo) -> Counter:
    n = Counter()
    for name, path in demo.items():
        if name.endswith(".txt"):
            n[name] = sum(bool(ANDROID_HEADER.match(x)) for x in path.read_text(encoding="utf-8").splitlines())
        elif name.endswith(".zip"):
            n[name] = sum(bool(IOS_HEADER.match(x)) for x in _ios_text(path).decode("utf-8").split("\r\n"))
        else:
            n[name] = len(json.loads(path.read_text(encoding="utf-8"))["messages"])
    return n


def test_enough_messages_and_partner_dominates(demo):
    n = _counts(demo)
    total = sum(n.values())
    assert total >= 20_000
    assert 0.62 <= n["WhatsApp Chat with Alex.txt"] / total <= 0.76


def test_sams_voice_differs_by_register(demo):
    alex = demo["WhatsApp Chat with Alex.txt"].read_text(encoding="utf-8")
    helen = demo["WhatsApp Chat with Helen Marsh.txt"].read_text(encoding="utf-8")

    def sam_lines(text):
        return [x.split(" - Sam: ", 1)[1] for x in text.splitlines() if " - Sam: " in x]

    casual, formal = sam_lines(alex), sam_lines(helen)
    lower = sum(x[:1].islower() for x in casual) / len(casual)
    assert lower > 0.6 and sum(x[:1].isupper() for x in formal) / len(formal) > 0.9
    assert sum("haha" in x for x in casual) > 100
    assert len(set(casual)) > 2000  # varied enough that dedup keeps most of it


def test_persona_and_roles_match_the_exports(demo):
    assert DEMO_PERSONA["name"] == "Sam" and len(DEMO_PERSONA["facts"]) >= 4 and DEMO_PERSONA["style"]
    assert DEMO_CONTACT_ROLES["Alex"] == "partner" and DEMO_CONTACT_ROLES["Helen Marsh"] == "boss"
    everything = "".join(p.read_text(encoding="utf-8", errors="replace") for p in demo.values()
                         if not p.name.endswith(".zip"))
    everything += "".join(_ios_text(p).decode("utf-8") for p in demo.values() if p.name.endswith(".zip"))
    for alias in DEMO_PERSONA["aliases"]:
        assert alias in everything
    for contact in DEMO_CONTACT_ROLES:
        assert contact in everything


def test_builtin_tokenizer_loads_with_special_tokens():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(builtin_tokenizer_path()))
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|pad|>"):
        assert tok.token_to_id(special) is not None
    assert tok.get_vocab_size() > 3000
    text = "<|im_start|>assistant\nmorning x || slept like a log haha 🙈 Straße<|im_end|>"
    enc = tok.encode(text)
    assert enc.tokens[0] == "<|im_start|>" and enc.tokens[-1] == "<|im_end|>"
    assert tok.decode(enc.ids, skip_special_tokens=False) == text  # byte-level: lossless


def test_regeneration_matches_the_shipped_files():
    gen = _load_generator()
    built = gen.build_exports()
    with zipfile.ZipFile(demo_exports_zip()) as zf:
        shipped = {name: zf.read(name) for name in zf.namelist()}
    assert sorted(built) == sorted(shipped) == sorted(MEMBERS)
    # Compare uncompressed content: zlib builds may compress the same bytes differently.
    assert gen.content_digest(built) == gen.content_digest(shipped)
    with zipfile.ZipFile(io.BytesIO(shipped["WhatsApp Chat - Mum.zip"])) as inner:
        assert inner.getinfo("_chat.txt").date_time == gen.ZIP_TIME

    # Tokenizer training is deterministic (checked across runs and thread counts); compare the
    # model rather than the bytes so a tokenizers release that reformats the JSON still passes.
    retrained = json.loads(gen.train_tokenizer(gen.corpus_text(built)))
    shipped_tok = json.loads(builtin_tokenizer_path().read_text(encoding="utf-8"))
    assert retrained["model"]["vocab"] == shipped_tok["model"]["vocab"]
    assert retrained["model"]["merges"] == shipped_tok["model"]["merges"]
    assert [t["content"] for t in retrained["added_tokens"]] == [t["content"] for t in shipped_tok["added_tokens"]]


def test_ingest_reads_the_whole_demo(demo):
    try:
        from builder.ingest import ingest_paths
    except ImportError as exc:
        pytest.skip(f"builder.ingest.ingest_paths is not importable yet: {exc}")
    result = ingest_paths(sorted(demo.values()))
    df = result.messages
    assert df.height >= 20_000
    assert all(f.error is None for f in result.files) and len(result.files) == len(MEMBERS)
    per_chat = dict(zip(*df.group_by("chat").len().sort("chat").to_dict(as_series=False).values()))
    assert {"Alex", "Helen Marsh", "Mum", "Jess", "Priya Shah"} <= set(per_chat)
    assert any("Quizzly Bears" in c for c in per_chat) and len(per_chat) == 6
    assert 0.62 <= per_chat["Alex"] / df.height <= 0.76
    assert set(df["kind"].unique()) == {"text", "media", "system", "deleted"}
    senders = set(df["sender"].drop_nulls().unique())
    assert {"Sam", "Sam Kellett"} <= senders and set(DEMO_CONTACT_ROLES) <= senders
    assert df.filter(df["text"].str.contains("\n")).height > 100  # multi-line bodies survive
