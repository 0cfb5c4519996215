"""Instruction data parsers: Alpaca, Q&A, ShareGPT, OpenAI messages (JSON array and JSONL)."""

from __future__ import annotations

import json

import pytest

from builder.errors import ParseError
from builder.ingest import ingest_paths
from builder.ingest.base import Document
from builder.ingest.instructions import PARSERS
from builder.schema import INSTRUCTION_SCHEMA

BY_FORMAT = {p.FORMAT: p for p in PARSERS}


def parse(fmt: str, text: str, name: str = "data.jsonl") -> list[list[dict]]:
    df = BY_FORMAT[fmt].parse([Document(name=name, text=text)], lambda _m: None)
    assert df.schema == INSTRUCTION_SCHEMA
    assert df.get_column("source").unique().to_list() == [name]
    return df.get_column("messages").to_list()


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def turns(*pairs) -> list[dict]:
    return [{"role": r, "content": c} for r, c in pairs]


def test_alpaca_json_array_and_jsonl_agree():
    records = [
        {"instruction": "Give a synonym.", "input": "", "output": "Glad."},
        {"instruction": "Translate to English.", "input": "bonjour", "output": "hello"},
        {"instruction": "Be brief.", "output": "OK.", "system": "You are terse."},
    ]
    expected = [
        turns(("user", "Give a synonym."), ("assistant", "Glad.")),
        turns(("user", "Translate to English.\n\nbonjour"), ("assistant", "hello")),
        turns(("system", "You are terse."), ("user", "Be brief."), ("assistant", "OK.")),
    ]
    assert parse("alpaca", json.dumps(records, indent=2), "alpaca.json") == expected
    assert parse("alpaca", jsonl(*records)) == expected


def test_qa_jsonl_like_lamini_docs():
    text = jsonl({"question": "How do I install Lamini?", "answer": "pip install lamini", "input_ids": [1, 2]},
                 {"question": "Is it free?", "answer": "There is a free tier."})
    assert parse("qa", text) == [
        turns(("user", "How do I install Lamini?"), ("assistant", "pip install lamini")),
        turns(("user", "Is it free?"), ("assistant", "There is a free tier.")),
    ]


def test_sharegpt_multi_turn_with_system():
    record = {"conversations": [
        {"from": "system", "value": "Be kind."},
        {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello!"},
        {"from": "human", "value": "how are you"}, {"from": "gpt", "value": "fine"},
    ]}
    assert parse("sharegpt", json.dumps([record]), "sg.json") == [turns(
        ("system", "Be kind."), ("user", "hi"), ("assistant", "hello!"),
        ("user", "how are you"), ("assistant", "fine"))]


def test_openai_messages_jsonl_with_content_parts():
    text = jsonl(
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U", "name": "kim"},
                      {"role": "assistant", "content": "A"}], "meta": {"contact": "kim"}},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "part 1"},
                                                    {"type": "text", "text": "part 2"}]},
                      {"role": "assistant", "content": "ok"}]},
    )
    assert parse("openai", text) == [
        turns(("system", "S"), ("user", "U"), ("assistant", "A")),
        turns(("user", "part 1\npart 2"), ("assistant", "ok")),
    ]


def test_blank_lines_in_jsonl_are_ignored_and_unicode_kept():
    text = "\n" + jsonl({"question": "Größe?", "answer": "groß 😀"}) + "\n\n"
    assert parse("qa", text) == [turns(("user", "Größe?"), ("assistant", "groß 😀"))]


@pytest.mark.parametrize("fmt, text, message", [
    ("alpaca", jsonl({"instruction": "a", "output": "b"}, {"instruction": "c"}),
     "data.jsonl:2: missing key 'output'"),
    ("alpaca", json.dumps([{"instruction": "a", "output": "b"}, {"output": "x"}]),
     "data.jsonl: record 1: missing key 'instruction'"),
    ("alpaca", jsonl({"instruction": "a", "output": ["list"]}),
     "data.jsonl:1: key 'output' is list, not text"),
    ("alpaca", jsonl({"instruction": " ", "input": "", "output": "b"}), "data.jsonl:1: empty 'instruction'"),
    ("qa", jsonl({"question": "q", "answer": "a"}, {"question": "q"}), "data.jsonl:2: missing key 'answer'"),
    ("qa", jsonl({"question": "q", "answer": ""}), "data.jsonl:1: no assistant answer"),
    ("qa", '{"question": "q", "answer": "a"}\n{"question": "q2", "ans', "data.jsonl:2: JSON ends too early"),
    ("qa", '{"question": "q", "answer": "a"}\n[1, 2]\n', "data.jsonl:2: is list, not a JSON object"),
    ("alpaca", '[{"instruction": "a", "output": "b"},\n {"instruction": "c", "out',
     "data.jsonl:2: JSON ends too early"),
    ("alpaca", '[{"instruction": "a", "output": "b"}, 3]', "data.jsonl: record 1: is int, not a JSON object"),
    ("sharegpt", jsonl({"conversations": [{"from": "human", "value": "a"}, {"from": "robot", "value": "b"}]}),
     "data.jsonl:1: conversations[1]: unknown speaker 'robot'"),
    ("sharegpt", jsonl({"conversations": []}), "data.jsonl:1: missing key 'conversations'"),
    ("sharegpt", jsonl({"conversations": [{"from": "human"}]}), "data.jsonl:1: conversations[0]: missing key 'value'"),
    ("sharegpt", jsonl({"conversations": [{"from": "human", "value": "hi"}]}), "data.jsonl:1: no assistant answer"),
    ("openai", jsonl({"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]}),
     "data.jsonl:1: messages[1]: unsupported role 'tool'"),
    ("openai", jsonl({"messages": [{"role": "user"}]}), "data.jsonl:1: messages[0]: missing key 'content'"),
    ("openai", jsonl({"messages": [{"role": "assistant", "content": "a"}]}), "data.jsonl:1: no user turn"),
    ("openai", "   \n\n", "data.jsonl: no records found"),
])
def test_bad_records_name_file_line_and_key(fmt, text, message):
    with pytest.raises(ParseError) as info:
        parse(fmt, text)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value) and "(" in str(info.value)  # one line, with what to do


@pytest.mark.parametrize("fmt, head", [
    ("alpaca", '[{"instruction": "x", "input": "", "output": "y"}]'),
    ("qa", '{"question": "x", "answer": "y"}'),
    ("sharegpt", '[{"conversations": [{"from": "human", "value": "x"}]}]'),
    ("openai", '{"messages": [{"role": "user", "content": "x"}]}'),
])
def test_each_format_sniffs_only_its_own(fmt, head):
    scores = {p.FORMAT: p.sniff("data.json", head) for p in PARSERS}
    assert scores[fmt] >= 80
    assert all(s < scores[fmt] for f, s in scores.items() if f != fmt)


@pytest.mark.parametrize("head", [
    '{"name": "Alex", "type": "personal_chat", "id": 1, "messages": [{"id": 1, "type": "message", "text": "hi"}]}',
    '{"participants": [{"name": "A"}], "messages": [{"sender_name": "A", "timestamp_ms": 1, "content": "x"}]}',
    '{"guild": {"id": "1"}, "channel": {}, "messages": [{"id": "1", "content": "x", "author": {}}]}',
    "12/03/2024, 09:15 - Alex: question: answer: output: instruction:",
])
def test_chat_exports_are_not_claimed(head):
    assert all(p.sniff("x.json", head) == 0 for p in PARSERS)


def test_ingest_detects_each_format(tmp_path):
    files = {
        "alpaca.json": json.dumps([{"instruction": "i", "input": "", "output": "o"}]),
        "qa.jsonl": jsonl({"question": "q", "answer": "a"}),
        "sharegpt.json": json.dumps([{"conversations": [{"from": "human", "value": "h"},
                                                        {"from": "gpt", "value": "g"}]}]),
        "openai.jsonl": jsonl({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = ingest_paths(sorted(str(tmp_path / n) for n in files))
    assert {(f.path.rsplit("/", 1)[-1], f.format, f.n_messages) for f in result.files} == {
        ("alpaca.json", "alpaca", 1), ("qa.jsonl", "qa", 1), ("sharegpt.json", "sharegpt", 1),
        ("openai.jsonl", "openai", 1)}
    assert result.messages.is_empty() and result.instructions.height == 4
