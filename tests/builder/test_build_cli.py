"""End to end: clonekit build / datasets / export on small exports written here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from builder.curate.build import build
from builder.curate.config import load_build_config
from builder.events import CancelToken, Progress
from builder.errors import Cancelled
from clonekit.cli import main

WORDS = "hey hi how are you fine thanks see you later lunch today tomorrow work movie call me at home ok sure".split()


def lines_for(contact: str, day: int, n: int) -> list[str]:
    out = []
    for i in range(n):
        who = contact if i % 2 == 0 else "Sam"
        text = " ".join(WORDS[(i * 3 + j + day + len(contact)) % len(WORDS)] for j in range(4 + i % 5))
        out.append(f"{day + 1}/03/2024, 1{i // 10}:{(i % 10) * 5:02d} - {who}: {text} {contact.lower()} {day} {i}")
    return out


@pytest.fixture
def exports(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for contact, days in (("Ann", 6), ("Bob", 3), ("Cat", 2)):
        text = "\n".join(line for d in range(days) for line in lines_for(contact, d, 12))
        (folder / f"WhatsApp Chat with {contact}.txt").write_text(text + "\n", encoding="utf-8")
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(WORDS)] * 5, trainers.BpeTrainer(vocab_size=100, special_tokens=["[UNK]"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    return tmp_path


def cli(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def base_args(tmp):
    return [str(tmp / "exports"), "--tokenizer", str(tmp / "tokenizer.json"), "--root", str(tmp / "datasets"),
            "--min-tokens", "10", "-q"]


def check_record(r: dict) -> None:
    assert set(r) == {"messages", "meta"}
    msgs = r["messages"]
    assert msgs[0]["role"] == "system" and set(msgs[0]) == {"role", "content"}
    assert msgs[-1]["role"] == "assistant"
    for m in msgs[1:]:
        assert m["role"] in ("user", "assistant")
        assert isinstance(m["content"], str) and m["content"]
        if m["role"] == "user":
            assert set(m) == {"role", "content", "name"} and m["name"]
        else:
            assert set(m) == {"role", "content"}
    meta = r["meta"]
    for key, typ in (("contact", str), ("role_tag", str), ("source", str), ("start", str), ("end", str),
                     ("n_tokens", int), ("synthetic", bool), ("chat", str)):
        assert isinstance(meta[key], typ), key
    assert meta["synthetic"] is False and meta["start"] <= meta["end"]


def test_build_end_to_end_records_manifest_and_byte_identical_rebuild(exports, capsys):
    rc, out, err = cli(capsys, "build", *base_args(exports), "--me", "Sam", "--name", "mine", "--max-share", "0.5",
                       "--pii")
    assert rc == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path == exports / "datasets" / "mine" / "v0001"
    assert "Ann" in out and "→" in out
    train = [json.loads(x) for x in (path / "train.jsonl").read_text().splitlines()]
    val = [json.loads(x) for x in (path / "val.jsonl").read_text().splitlines()]
    assert train and val
    for r in train + val:
        check_record(r)
    m = json.loads((path / "manifest.json").read_text())
    assert m["version"] == "mine/v0001" and m["parent"] is None
    assert m["config"]["build"]["me"] == ["Sam"] and m["config"]["balance"]["max_share"] == 0.5
    assert len(m["inputs"]) == 3 and all(len(f["sha256"]) == 64 for f in m["inputs"])
    assert m["files"]["train.jsonl"]["records"] == len(train)
    assert {r["contact"] for r in m["counts"]["per_contact"]} == {"Ann", "Bob", "Cat"}
    ann = next(r for r in m["counts"]["per_contact"] if r["contact"] == "Ann")
    assert ann["share_after"] <= 0.5 < ann["share_before"]
    assert m["pii"] == {"url": 0, "email": 0, "iban": 0, "card": 0, "phone": 0, "ip": 0}
    assert "key" not in json.dumps(m["config"]).lower().replace("keep_media", "")

    # idempotent: the same inputs and settings write nothing and name the version they match
    rc, out2, err2 = cli(capsys, "build", *base_args(exports), "--me", "Sam", "--name", "mine", "--max-share", "0.5", "--pii")
    assert rc == 0 and Path(out2.strip().splitlines()[-1]) == path
    assert err2.strip() == ("clonekit: nothing changed since mine/v0001 (same train and val records); nothing was written; "
                            "pass --force to write a new version anyway")
    assert sorted(p.name for p in path.parent.iterdir()) == ["v0001"]
    rc, out2, _ = cli(capsys, "build", *base_args(exports), "--me", "Sam", "--name", "mine", "--max-share", "0.5", "--pii",
                      "--force")
    path2 = Path(out2.strip().splitlines()[-1])
    assert path2.name == "v0002"
    # everything derived from private chats is owner-only, whatever the umask
    for f in ("train.jsonl", "val.jsonl", "manifest.json"):
        assert (path2 / f).stat().st_mode & 0o777 == 0o600, f
    assert path2.stat().st_mode & 0o777 == 0o700 and path2.parent.stat().st_mode & 0o777 == 0o700
    for f in ("train.jsonl", "val.jsonl"):
        assert (path / f).read_bytes() == (path2 / f).read_bytes()

    rc, out, _ = cli(capsys, "datasets", "--root", str(exports / "datasets"), "list")
    assert "mine/v0001" in out and "mine/v0002" in out
    rc, out, _ = cli(capsys, "datasets", "--root", str(exports / "datasets"), "show", "mine")
    assert "mine/v0002" in out and "train.jsonl" in out
    rc, out, _ = cli(capsys, "datasets", "--root", str(exports / "datasets"), "diff", "mine/v0001", "mine/v0002")
    assert "0 added, 0 removed" in out


def test_without_me_suggests_and_exits_2(exports, capsys):
    rc, out, err = cli(capsys, "build", *base_args(exports))
    assert rc == 2
    assert "--me \"Sam\"" in err and "[build] me = [\"Sam\"]" in err
    assert not (exports / "datasets").exists()


@pytest.mark.parametrize("extra, message", [
    (["--me", "Samuel"], "matches no sender"),
    (["--me", "Sam", "--min-tokens", "100000"], "no conversations left after sessions; lower sessions.min_tokens"),
])
def test_bad_input_is_one_clear_line_and_nothing_written(exports, capsys, extra, message):
    rc, out, err = cli(capsys, "build", *base_args(exports), *extra)
    assert rc == 2 and message in err and err.count("\n") == 1
    assert not (exports / "datasets").exists()


def test_bad_config_names_the_key(exports, capsys):
    cfg = exports / "clonekit.toml"
    cfg.write_text('[build]\nme = ["Sam"]\n[contacts]\nroles = { Anne = "partner" }\n')
    rc, _, err = cli(capsys, "build", *base_args(exports), "--config", str(cfg))
    assert rc == 2 and "contacts.roles" in err and "'Ann'" in err
    cfg.write_text('[build]\nme = ["Sam"]\nfoo = 1\n')
    rc, _, err = cli(capsys, "build", *base_args(exports), "--config", str(cfg))
    assert rc == 2 and "unknown key 'build.foo'" in err
    assert not (exports / "datasets").exists()


def test_messages_jsonl_and_instruction_sources(exports, capsys, tmp_path):
    rc, _, err = cli(capsys, "ingest", str(exports / "exports"), "-o", str(tmp_path / "messages.jsonl"))
    assert rc == 0, err
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": f"What is lamini {i}?", "answer": f"Lamini is a library number {i} for tuning"}) + "\n"
                          for i in range(6)))
    rc, out, err = cli(capsys, "build", str(tmp_path / "messages.jsonl"), str(qa), "--tokenizer", str(exports / "tokenizer.json"),
                       "--root", str(tmp_path / "ds"), "--min-tokens", "10", "--me", "Sam", "-q")
    assert rc == 0, err
    path = Path(out.strip().splitlines()[-1])
    recs = [json.loads(x) for f in ("train.jsonl", "val.jsonl") for x in (path / f).read_text().splitlines()]
    instr = [r for r in recs if r["meta"]["contact"] == "instructions"]
    assert 1 <= len(instr) <= 6  # near-duplicate Q&A lines may be merged away
    assert instr[0]["messages"][0]["role"] == "user" and instr[0]["messages"][-1]["role"] == "assistant"

    rc, out, _ = cli(capsys, "export", str(path), "--template", "qa", "-o", str(tmp_path / "qa_out.jsonl"), "--split", "all")
    rows = [json.loads(x) for x in (tmp_path / "qa_out.jsonl").read_text().splitlines()]
    assert rows and all(r["text"].startswith("### Question:\n") and "\n\n### Answer:\n" in r["text"] for r in rows)
    for template, marker in (("llama3", "<|start_header_id|>assistant<|end_header_id|>"), ("chatml", "<|im_start|>assistant"),
                             ("alpaca", "### Response:\n")):
        cli(capsys, "export", str(path), "--template", template, "-o", str(tmp_path / f"{template}.jsonl"))
        first = json.loads((tmp_path / f"{template}.jsonl").read_text().splitlines()[0])
        assert marker in first["text"]


def test_cancel_leaves_no_partial_version(exports):
    cfg = load_build_config(None, {"build.sources": [str(exports / "exports")], "build.me": ["Sam"],
                                   "build.root": str(exports / "datasets"), "tokenizer.spec": str(exports / "tokenizer.json"),
                                   "sessions.min_tokens": 10})
    token = CancelToken()
    seen = []

    def on_event(ev):
        if isinstance(ev, Progress) and ev.stage == "build":
            seen.append(ev.extra["step"])
            if ev.extra["step"] == "balance":
                token.cancel()

    with pytest.raises(Cancelled):
        build(cfg, on_event=on_event, cancel=token)
    ours = [s for s in dict.fromkeys(seen) if s in ("read", "identity", "sessions", "clean", "balance", "split", "write")]
    assert ours == ["read", "identity", "sessions", "clean", "balance"]
    root = exports / "datasets"
    assert not root.exists() or not any(p for p in root.rglob("*") if p.is_file())
    path = build(cfg)
    assert path.name == "v0001" and os.listdir(path.parent) == ["v0001"]


@pytest.mark.parametrize("flag, value, message", [
    ("--max-share", "2", "clonekit: error: --max-share 2.0: input should be less than or equal to 1 (a fraction: 0.4 means 40%)"),
    ("--val", "1.5", "clonekit: error: --val 1.5: input should be less than 1 (a fraction: 0.1 means 10%)"),
    ("--name", "a/b", "clonekit: error: --name a/b: must be a plain folder name (no '/', not starting with '.')"),
])
def test_a_bad_flag_value_blames_the_flag_not_the_config_file(exports, capsys, monkeypatch, flag, value, message):
    monkeypatch.chdir(exports)
    (exports / "clonekit.toml").write_text('[build]\nme = ["Sam"]\n')
    rc, _, err = cli(capsys, "build", *base_args(exports), flag, value)
    assert rc == 2 and err.strip() == message


def test_a_me_alias_matching_nobody_is_an_error(exports, capsys):
    rc, _, err = cli(capsys, "build", *base_args(exports), "--me", "Sam", "--me", "Sam Kelett")
    assert rc == 2 and "'Sam Kelett' matches no sender (the other aliases do match)" in err
    assert not (exports / "datasets").exists()
