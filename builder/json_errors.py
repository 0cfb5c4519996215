"""Python's json error messages ("Expecting property name enclosed in double quotes")
in plain words, and whether a file simply breaks off (truncated), for one-line errors."""

from __future__ import annotations

import json

_PLAIN = (
    ("Expecting property name", "a key in double quotes was expected"),
    ("Expecting value", "a value was expected"),
    ("Expecting ',' delimiter", "a ',' is missing"),
    ("Expecting ':' delimiter", "a ':' is missing"),
    ("Unterminated string", "a string is not closed"),
    ("Extra data", "there is more text after the JSON"),
    ("Invalid control character", "a string holds a raw control character"),
    ("Invalid \\uXXXX escape", "a string holds a bad \\u escape"),
    ("Invalid \\escape", "a string holds a bad backslash escape"),
)


def plain_reason(err: json.JSONDecodeError) -> str:
    for prefix, words in _PLAIN:
        if err.msg.startswith(prefix):
            return words
    return "not valid JSON"


def is_truncated(err: json.JSONDecodeError, text: str) -> bool:
    """The error is at the very end of the text: the file breaks off there."""
    return err.pos >= len(text.rstrip()) - 1 or (err.msg.startswith("Unterminated string") and "\n" not in text[err.pos:].rstrip())


def describe(err: json.JSONDecodeError, text: str | None = None) -> str:
    """"not valid JSON: it breaks off before its end (truncated?)" or "not valid JSON:
    <plain reason> (line L, column C)"."""
    if text is not None and is_truncated(err, text):
        return "not valid JSON: it breaks off before its end (truncated?)"
    where = f"column {err.colno}" if err.lineno == 1 else f"line {err.lineno}, column {err.colno}"
    return f"not valid JSON: {plain_reason(err)} ({where})"
