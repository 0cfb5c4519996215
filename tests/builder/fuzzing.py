"""Shared checks for the parsers' fuzz tests: bad input may only end in our own error,
and that error is one line a person can read."""

from __future__ import annotations

from builder.errors import ParseError


def assert_one_line(err: ParseError) -> None:
    message = str(err)
    assert message and "\n" not in message, repr(message)
