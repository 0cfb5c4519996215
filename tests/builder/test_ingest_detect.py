"""The parser registry, format detection, and ingest_paths' plumbing: grouping, events,
cancel, strict and non-strict errors, writing."""

from __future__ import annotations

import json
import sys
import types
import zipfile

import polars as pl
import pytest

from builder.errors import Cancelled, ClonekitError, ParseError
from builder.events import CancelToken, Log, Progress
from builder.ingest import FileReport, detect, ingest_paths, instructions_path, write_ingested
from builder.ingest.base import Document
from builder.schema import INSTRUCTION_SCHEMA, MESSAGE_SCHEMA, empty_messages

WA_ANDROID = ("18/03/2024, 09:15 - Kim: Morning!\n18/03/2024, 09:16 - Sam: Hi Kim\nhow are you?\n"
              "18/03/2024, 09:17 - Sam: <Media omitted>\n")
WA_IOS = ("[3/18/24, 9:15:02\u202fAM] Alex: Morning!\r\n[3/18/24, 9:16:40\u202fAM] Sam: Hi\r\n"
          "\u200e[3/18/24, 9:17:00\u202fAM] Sam: \u200eimage omitted\r\n")


def telegram(name: str, texts: list[str]) -> str:
    messages = [{"id": i, "type": "message", "date": f"2024-03-18T10:{i:02d}:00", "from": "Alex" if i % 2 else "Sam",
                 "from_id": f"user{i % 2}", "text": t} for i, t in enumerate(texts, start=1)]
    return json.dumps({"name": name, "type": "personal_chat", "id": 7, "messages": messages}, ensure_ascii=False)


@pytest.fixture
def whatsapp():
    return pytest.importorskip("builder.ingest.whatsapp", reason="the WhatsApp parser has not landed yet")


@pytest.fixture
def tg():
    return pytest.importorskip("builder.ingest.telegram", reason="the Telegram parser has not landed yet")


class Events(list):
    def log(self) -> list[str]:
        return [e.message for e in self if isinstance(e, Log)]


@pytest.fixture
def events() -> Events:
    return Events()


# -- registry -----------------------------------------------------------------------------


@pytest.fixture
def registry(monkeypatch):
    """Point the registry at a chosen module list; restore the cache afterwards."""
    def use(*modules: str):
        monkeypatch.setattr(detect, "MODULES", modules)
        detect.parsers.cache_clear()
    yield use
    detect.parsers.cache_clear()


def test_registry_skips_modules_not_written_yet(registry):
    registry("not_written_yet", "instructions")
    assert detect.format_names() == ["alpaca", "qa", "sharegpt", "openai"]


def test_registry_reads_single_modules_and_parser_lists(registry, monkeypatch):
    single = types.SimpleNamespace(FORMAT="fake", KIND="messages", sniff=lambda n, h: 10,
                                   parse=lambda docs, warn: empty_messages())
    monkeypatch.setitem(sys.modules, "builder.ingest.fake_single", single)
    many = types.SimpleNamespace(PARSERS=[types.SimpleNamespace(FORMAT=f, KIND="instructions", sniff=None,
                                                                parse=None) for f in ("x", "y")])
    monkeypatch.setitem(sys.modules, "builder.ingest.fake_many", many)
    registry("fake_single", "fake_many")
    assert [(p.format, p.kind) for p in detect.parsers()] == [("fake", "messages"), ("x", "instructions"),
                                                               ("y", "instructions")]


def test_unknown_forced_format_names_the_available_ones(registry):
    registry("instructions")
    with pytest.raises(ClonekitError, match=r"--format nope: no such format here \(available: alpaca, qa"):
        ingest_paths(["x.txt"], fmt="nope")


def test_highest_score_wins_and_ties_go_to_registry_order(registry, monkeypatch):
    def module(fmt, score):
        return types.SimpleNamespace(FORMAT=fmt, KIND="messages", sniff=lambda n, h: score, parse=None)
    for fmt, score in (("low", 20), ("high", 60), ("tie", 60)):
        monkeypatch.setitem(sys.modules, f"builder.ingest.{fmt}", module(fmt, score))
    registry("low", "high", "tie")
    doc = Document(name="x.txt", text="anything")
    assert detect.detect(doc, named=True).format == "high"
    registry("low")
    assert detect.detect(doc, named=True).format == "low"
    assert detect.detect(doc, named=False) is None  # inside folders a parser must be surer


def test_every_planned_format_is_registered_once_modules_exist():
    names = detect.format_names()
    assert len(names) == len(set(names))
    for fmt in ("alpaca", "qa", "sharegpt", "openai"):
        assert fmt in names


# -- detection through ingest_paths -------------------------------------------------------


def test_a_text_file_that_is_not_a_chat(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("Shopping list\n- milk\n- eggs\n")
    with pytest.raises(ParseError) as info:
        ingest_paths([f])
    assert str(info.value) == (f"{f}: not a recognised chat export (formats tried: "
                               f"{', '.join(detect.format_names())}) (use --format to force one)")


def test_whatsapp_txt_and_ios_zip_are_detected(tmp_path, whatsapp, events):
    (tmp_path / "WhatsApp Chat with Kim.txt").write_text(WA_ANDROID)
    z = tmp_path / "WhatsApp Chat - Alex.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("_chat.txt", WA_IOS)
        zf.writestr("__MACOSX/._chat.txt", b"\x00\x05\x16\x07" + bytes(40))
        zf.writestr("00000003-PHOTO-2024-03-18-09-17-00.jpg", b"\xff\xd8" + bytes(10))
    result = ingest_paths([tmp_path / "WhatsApp Chat with Kim.txt", z], on_event=events.append)
    assert result.files == [FileReport(str(tmp_path / "WhatsApp Chat with Kim.txt"), "whatsapp", 3),
                            FileReport(f"{z}!/_chat.txt", "whatsapp", 3)]
    assert result.messages.schema == MESSAGE_SCHEMA
    rows = result.messages.select("chat", "sender", "text", "kind").rows()
    assert rows == [("Kim", "Kim", "Morning!", "text"), ("Kim", "Sam", "Hi Kim\nhow are you?", "text"),
                    ("Kim", "Sam", "<Media omitted>", "media"), ("Alex", "Alex", "Morning!", "text"),
                    ("Alex", "Sam", "Hi", "text"), ("Alex", "Sam", "image omitted", "media")]
    progress = [(e.stage, e.done, e.total) for e in events if isinstance(e, Progress)]
    assert progress == [("read", 1, 2), ("read", 2, 2), ("parse", 1, 2), ("parse", 2, 2)]


def test_parser_warnings_become_log_events(tmp_path, whatsapp, events):
    f = tmp_path / "chat.txt"
    f.write_text(WA_ANDROID + "18/03/2024, 24:35 - Kim: impossible\n")
    result = ingest_paths([f], on_event=events.append)
    assert result.messages.height == 3  # the impossible header is a continuation line, not a message
    warnings = [e for e in events if isinstance(e, Log) and e.level == "warning"]
    assert len(warnings) == 1 and warnings[0].message.startswith(f"{f}:5: ")


def test_too_many_warnings_are_counted_not_all_shown(tmp_path, monkeypatch, registry, events):
    def parse(docs, warn):
        for i in range(30):
            warn(f"{docs[0].name}:{i + 1}: odd line")
        return pl.DataFrame({"chat": ["c"], "timestamp": [None], "sender": ["s"], "text": ["t"], "kind": ["text"],
                             "source": [docs[0].name]}).cast(dict(MESSAGE_SCHEMA))
    module = types.SimpleNamespace(FORMAT="noisy", KIND="messages", sniff=lambda n, h: 50, parse=parse)
    monkeypatch.setitem(sys.modules, "builder.ingest.noisy", module)
    registry("noisy")
    f = tmp_path / "chat.txt"
    f.write_text("anything\n")
    ingest_paths([f], on_event=events.append)
    log = events.log()
    assert len(log) == 21 and log[-1] == f"10 more warnings for {f} not shown"
    assert log[19] == f"{f}:20: odd line"


def test_forced_format(tmp_path, whatsapp):
    f = tmp_path / "chat.log"
    f.write_text(WA_ANDROID)
    assert ingest_paths([f], fmt="whatsapp").files == [FileReport(str(f), "whatsapp", 3)]
    with pytest.raises(ParseError, match=str(f)):
        ingest_paths([f], fmt="alpaca")


def test_folder_skips_unclaimed_files_with_one_warning(tmp_path, whatsapp, tg, events):
    (tmp_path / "WhatsApp Chat with Kim.txt").write_text(WA_ANDROID)
    (tmp_path / "result.json").write_text(telegram("Alex", ["hi", "hello"]))
    (tmp_path / "readme.txt").write_text("These are my exports.\n")
    (tmp_path / "empty.json").write_text("")
    result = ingest_paths([tmp_path], on_event=events.append)
    assert [(f.path, f.format, f.n_messages) for f in result.files] == [
        (str(tmp_path / "result.json"), "telegram", 2),
        (str(tmp_path / "WhatsApp Chat with Kim.txt"), "whatsapp", 3)]
    assert events.log() == [f"skipped 2 file(s) that are not chat exports: {tmp_path / 'empty.json'}, "
                            f"{tmp_path / 'readme.txt'}"]


def test_folder_with_no_chat_at_all(tmp_path):
    (tmp_path / "readme.txt").write_text("These are my exports.\n")
    with pytest.raises(ParseError, match=rf"^{tmp_path}: no chat exports found in it \(formats tried: .*\(name the"):
        ingest_paths([tmp_path])


def test_folder_whose_only_file_is_binary_reports_why(tmp_path):
    (tmp_path / "_chat.txt").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ParseError, match=r"_chat\.txt: binary file, not a chat export"):
        ingest_paths([tmp_path])


def test_messenger_like_folder_groups_files_per_thread(tmp_path):
    pytest.importorskip("builder.ingest.messenger", reason="the Messenger parser has not landed yet")

    def part(title, msgs):
        return json.dumps({"participants": [{"name": "Alex"}, {"name": "Sam"}], "title": title,
                           "thread_path": f"inbox/{title.lower()}_1",
                           "messages": [{"sender_name": s, "timestamp_ms": t, "content": c} for s, t, c in msgs]})

    for title in ("Alex", "Kim"):
        thread = tmp_path / "inbox" / f"{title.lower()}_1"
        thread.mkdir(parents=True)
        # newest first, message_1 the newest file
        (thread / "message_1.json").write_text(part(title, [("Sam", 1710756000000, "later"),
                                                            (title, 1710755000000, "third")]))
        (thread / "message_2.json").write_text(part(title, [("Sam", 1710754000000, "second"),
                                                            (title, 1710753000000, "first")]))
    result = ingest_paths([tmp_path / "inbox"])
    assert [(f.path.rsplit("/", 2)[-2:], f.n_messages) for f in result.files] == [
        (["alex_1", "message_1.json"], 2), (["alex_1", "message_2.json"], 2),
        (["kim_1", "message_1.json"], 2), (["kim_1", "message_2.json"], 2)]
    by_chat = result.messages.group_by("chat", maintain_order=True).agg("text").rows()
    assert by_chat == [("Alex", ["first", "second", "third", "later"]), ("Kim", ["first", "second", "third", "later"])]


# -- strict and non-strict ----------------------------------------------------------------


def test_non_strict_records_errors_and_carries_on(tmp_path, tg):
    good, cut, other = tmp_path / "good.json", tmp_path / "cut.json", tmp_path / "other.json"
    good.write_text(telegram("Alex", ["one", "two"]))
    cut.write_text(telegram("Kim", ["three", "four"])[:-30])
    other.write_text(telegram("Lee", ["five"]))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    paths = [tmp_path, empty, tmp_path / "missing.txt"]  # the folder's files share one parse group
    with pytest.raises(ParseError, match=rf"{cut}:\d+: "):
        ingest_paths([tmp_path])
    with pytest.raises(ParseError, match="missing.txt: no such file"):  # paths are checked before parsing
        ingest_paths(paths)
    result = ingest_paths(paths, strict=False)
    assert [(f.path, f.format, f.n_messages, f.error is not None) for f in result.files] == [
        (str(tmp_path / "missing.txt"), None, 0, True), (str(empty), None, 0, True),
        (str(cut), "telegram", 0, True), (str(good), "telegram", 2, False), (str(other), "telegram", 1, False)]
    assert result.files[1].error == f"{empty}: file is empty (export the chat again or pick another file)"
    assert result.files[2].error.startswith(f"{cut}:")
    assert result.messages.get_column("text").to_list() == ["one", "two", "five"]


def test_strict_with_nothing_parsed_is_an_error_not_an_empty_result(tmp_path, monkeypatch, registry):
    module = types.SimpleNamespace(FORMAT="nothing", KIND="messages", sniff=lambda n, h: 50,
                                   parse=lambda docs, warn: empty_messages())
    monkeypatch.setitem(sys.modules, "builder.ingest.nothing", module)
    registry("nothing")
    f = tmp_path / "chat.txt"
    f.write_text("header only\n")
    with pytest.raises(ClonekitError, match=rf"^{f}: no messages found \("):
        ingest_paths([f])
    assert ingest_paths([f], strict=False).files == [FileReport(str(f), "nothing", 0)]


# -- cancel -------------------------------------------------------------------------------


def test_cancel_before_start(tmp_path):
    (tmp_path / "qa.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        ingest_paths([tmp_path / "qa.jsonl"], cancel=token)


def test_cancel_between_files(tmp_path):
    for i in range(3):
        (tmp_path / f"qa{i}.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    token = CancelToken()
    seen = []

    def on_event(ev):
        seen.append(ev)
        if isinstance(ev, Progress) and ev.done == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        ingest_paths([tmp_path], on_event=on_event, cancel=token)
    assert [(e.stage, e.done) for e in seen if isinstance(e, Progress)] == [("read", 1)]


# -- writing ------------------------------------------------------------------------------


def test_write_messages_contract(tmp_path, tg):
    (tmp_path / "result.json").write_text(telegram("Zoë", ["héllo\nsecond line", "ok"]))
    out = tmp_path / "out" / "messages.jsonl"
    written = write_ingested(ingest_paths([tmp_path / "result.json"]), out)
    assert written == [(out, 2, "messages")]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"chat": "Zoë", "timestamp": "2024-03-18T10:01:00", "sender": "Alex",
                        "text": "héllo\nsecond line", "kind": "text", "source": str(tmp_path / "result.json")}
    assert list(lines[1]) == ["chat", "timestamp", "sender", "text", "kind", "source"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["messages.jsonl"]  # no temp files left


def test_write_instructions_alone_and_beside_messages(tmp_path, tg):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "q", "answer": "a"}\n')
    (tmp_path / "result.json").write_text(telegram("Alex", ["hi"]))

    only = write_ingested(ingest_paths([qa]), tmp_path / "a.jsonl")
    assert only == [(tmp_path / "a.jsonl", 1, "instruction records")]
    assert json.loads((tmp_path / "a.jsonl").read_text()) == {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "source": str(qa)}

    both = write_ingested(ingest_paths([tmp_path / "result.json", qa]), tmp_path / "b.jsonl")
    assert both == [(tmp_path / "b.jsonl", 1, "messages"), (tmp_path / "b.instructions.jsonl", 1, "instruction records")]
    assert instructions_path("x/data.jsonl").as_posix() == "x/data.instructions.jsonl"
    assert pl.read_ndjson(tmp_path / "b.instructions.jsonl").height == 1


def test_write_refuses_folders_and_empty_results(tmp_path):
    from builder.ingest import IngestResult
    with pytest.raises(ClonekitError, match="nothing to write"):
        write_ingested(IngestResult(), tmp_path / "x.jsonl")
    result = IngestResult(instructions=pl.DataFrame(
        {"source": ["s"], "messages": [[{"role": "user", "content": "u"}]]}, schema=INSTRUCTION_SCHEMA))
    with pytest.raises(ClonekitError, match="is a folder"):
        write_ingested(result, tmp_path)
    assert not (tmp_path / "x.jsonl").exists()


def test_a_single_path_is_not_split_into_characters(tmp_path):
    (tmp_path / "qa.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    assert ingest_paths(str(tmp_path / "qa.jsonl")).instructions.height == 1
    assert ingest_paths(tmp_path / "qa.jsonl").instructions.height == 1
