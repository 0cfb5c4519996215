"""Instruction data as single-exchange records (INSTRUCTION_SCHEMA): Alpaca, Q&A, ShareGPT
and OpenAI ``messages``. Each may be a JSON array or JSON Lines.

    alpaca    {"instruction", "input"?, "output", "system"?}   user = instruction + "\\n\\n" + input
    qa        {"question", "answer"}                            (the lamini docs data)
    sharegpt  {"conversations": [{"from": human|gpt|system, "value"}], "system"?}
    openai    {"messages": [{"role": system|user|assistant, "content"}]}

This module holds four parsers; the registry reads them from ``PARSERS``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import polars as pl

from builder.errors import ParseError
from builder.json_errors import is_truncated, plain_reason
from builder.ingest.base import Document
from builder.schema import INSTRUCTION_SCHEMA

KIND = "instructions"

Turn = dict[str, str]
Where = tuple[str, int | None, str]  # (file, line for JSONL, "record N: " prefix for arrays)

_KEY = re.compile(r'"([A-Za-z_]+)"\s*:')

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "bing": "assistant", "model": "assistant",
                  "system": "system"}
OPENAI_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


# -- reading records -----------------------------------------------------------------------


def iter_records(doc: Document) -> Iterator[tuple[dict, Where]]:
    """Yield (record, where) from a JSON array, a single JSON object, or JSON Lines."""
    text = doc.text.lstrip()
    if text.startswith("["):
        data = _loads(doc.name, doc.text, line_offset=0)
        if not isinstance(data, list):
            raise ParseError(doc.name, "expected a JSON array of records", "check the file's format")
        for i, record in enumerate(data):
            where = (doc.name, None, f"record {i}: ")
            if not isinstance(record, dict):
                raise _bad(where, f"is {type(record).__name__}, not a JSON object", "each record must be {...}")
            yield record, where
        return
    if text.startswith("{") and "\n" in text.strip():
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None  # not one object: JSON Lines
        if isinstance(whole, dict):
            yield whole, (doc.name, None, "")
            return
    for lineno, line in enumerate(doc.text.splitlines(), start=1):
        if not line.strip():
            continue
        record = _loads(doc.name, line, line_offset=lineno - 1)
        where = (doc.name, lineno, "")
        if not isinstance(record, dict):
            raise _bad(where, f"is {type(record).__name__}, not a JSON object", "each line must be {...}")
        yield record, where


def _loads(name: str, text: str, line_offset: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        problem = ("JSON ends too early (truncated file?)" if is_truncated(err, text)
                   else f"not valid JSON at column {err.colno}: {plain_reason(err)}")
        raise ParseError(name, problem, "re-export the file or fix it", line=err.lineno + line_offset) from None
    except RecursionError:
        raise ParseError(name, "JSON nested too deeply", "check the file's format", line=line_offset + 1) from None


def _bad(where: Where, problem: str, hint: str) -> ParseError:
    name, line, prefix = where
    return ParseError(name, prefix + problem, hint, line=line)


def _text(record: dict, key: str, where: Where, required: bool = True) -> str | None:
    if key not in record or record[key] is None:
        if required:
            raise _bad(where, f"missing key '{key}'", f"every record needs '{key}'")
        return None
    value = record[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _bad(where, f"key '{key}' is {type(value).__name__}, not text", f"make '{key}' a string")
    return value


def _check_turns(turns: list[Turn], where: Where) -> list[Turn]:
    if not any(t["role"] == "user" for t in turns):
        raise _bad(where, "no user turn", "each record needs a user message")
    if not any(t["role"] == "assistant" and t["content"].strip() for t in turns):
        raise _bad(where, "no assistant answer", "each record needs a non-empty assistant message")
    return turns


def _frame(doc: Document, convert: Callable[[dict, Where], list[Turn]]) -> pl.DataFrame:
    rows = [{"source": doc.name, "messages": convert(record, where)} for record, where in iter_records(doc)]
    if not rows:
        raise ParseError(doc.name, "no records found", "check the file's format")
    return pl.DataFrame(rows, schema=INSTRUCTION_SCHEMA)


def _parse_all(convert: Callable[[dict, Where], list[Turn]]):
    def parse(docs: list[Document], warn: Callable[[str], None]) -> pl.DataFrame:
        return pl.concat([_frame(doc, convert) for doc in docs])
    return parse


def _keys(head: str) -> set[str]:
    return set(_KEY.findall(head))


def _is_json(head: str) -> bool:
    return head.lstrip()[:1] in ("[", "{")


# -- the four formats ---------------------------------------------------------------------


def alpaca_turns(record: dict, where: Where) -> list[Turn]:
    instruction = _text(record, "instruction", where)
    extra = _text(record, "input", where, required=False) or ""
    output = _text(record, "output", where)
    system = _text(record, "system", where, required=False)
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    if not user.strip():
        raise _bad(where, "empty 'instruction'", "every record needs an instruction")
    turns = [{"role": "system", "content": system}] if system else []
    return _check_turns(turns + [{"role": "user", "content": user}, {"role": "assistant", "content": output}], where)


def qa_turns(record: dict, where: Where) -> list[Turn]:
    question = _text(record, "question", where)
    answer = _text(record, "answer", where)
    return _check_turns([{"role": "user", "content": question}, {"role": "assistant", "content": answer}], where)


def sharegpt_turns(record: dict, where: Where) -> list[Turn]:
    convo = record.get("conversations")
    if not isinstance(convo, list) or not convo:
        raise _bad(where, "missing key 'conversations' (a non-empty list)", "check the file is ShareGPT")
    system = _text(record, "system", where, required=False)
    turns = [{"role": "system", "content": system}] if system else []
    for i, turn in enumerate(convo):
        at = (where[0], where[1], f"{where[2]}conversations[{i}]: ")
        if not isinstance(turn, dict):
            raise _bad(at, "is not an object", 'each turn must be {"from": ..., "value": ...}')
        speaker = _text(turn, "from" if "from" in turn else "role", at)
        role = SHAREGPT_ROLES.get(speaker.lower())
        if role is None:
            raise _bad(at, f"unknown speaker '{speaker}'", "use human, gpt or system")
        turns.append({"role": role, "content": _text(turn, "value" if "value" in turn or "content" not in turn
                                                     else "content", at)})
    return _check_turns(turns, where)


def openai_turns(record: dict, where: Where) -> list[Turn]:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad(where, "missing key 'messages' (a non-empty list)", "check the file is OpenAI messages JSONL")
    turns = []
    for i, msg in enumerate(messages):
        at = (where[0], where[1], f"{where[2]}messages[{i}]: ")
        if not isinstance(msg, dict):
            raise _bad(at, "is not an object", 'each message must be {"role": ..., "content": ...}')
        role = OPENAI_ROLES.get(_text(msg, "role", at))
        if role is None:
            raise _bad(at, f"unsupported role '{msg['role']}'", "use system, user or assistant")
        turns.append({"role": role, "content": _openai_content(msg, at)})
    return _check_turns(turns, where)


def _openai_content(msg: dict, where: Where) -> str:
    content = msg.get("content")
    if isinstance(content, list):  # content parts: keep the text parts
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if not all(isinstance(p, str) for p in parts):
            raise _bad(where, "a text part has no 'text' string", "check the content parts")
        return "\n".join(parts)
    return _text(msg, "content", where)


def sniff_alpaca(name: str, head: str) -> int:
    keys = _keys(head)
    return 90 if _is_json(head) and {"instruction", "output"} <= keys else 0


def sniff_qa(name: str, head: str) -> int:
    keys = _keys(head)
    return 85 if _is_json(head) and {"question", "answer"} <= keys else 0


def sniff_sharegpt(name: str, head: str) -> int:
    keys = _keys(head)
    if not _is_json(head) or "conversations" not in keys:
        return 0
    return 90 if keys & {"from", "value"} else 60


def sniff_openai(name: str, head: str) -> int:
    if re.match(r'\s*\[?\s*\{\s*"messages"\s*:\s*\[\s*\{\s*"role"\s*:', head):
        return 95
    keys = _keys(head)
    # Telegram, Discord and Messenger JSON have "messages" too, but never "role".
    return 70 if _is_json(head) and {"messages", "role", "content"} <= keys else 0


@dataclass(frozen=True)
class InstructionParser:
    FORMAT: str
    sniff: Callable[[str, str], int]
    parse: Callable[[list[Document], Callable[[str], None]], pl.DataFrame]
    KIND: str = KIND


PARSERS = [
    InstructionParser("alpaca", sniff_alpaca, _parse_all(alpaca_turns)),
    InstructionParser("qa", sniff_qa, _parse_all(qa_turns)),
    InstructionParser("sharegpt", sniff_sharegpt, _parse_all(sharegpt_turns)),
    InstructionParser("openai", sniff_openai, _parse_all(openai_turns)),
]
