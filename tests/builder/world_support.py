"""Helpers shared by the tests of the WeChat, QQ, LINE, KakaoTalk, SMS, Slack and
Telegram-HTML parsers."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import polars as pl

from builder.errors import ParseError
from builder.ingest import detect
from builder.ingest.base import Document
from builder.schema import MESSAGE_SCHEMA
from tests.builder.fuzzing import assert_one_line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)


def run(parse: Callable, *docs: Document) -> tuple[pl.DataFrame, list[str]]:
    warnings: list[str] = []
    df = parse(list(docs), warnings.append)
    assert df.schema == MESSAGE_SCHEMA
    return df, warnings


def detected(name: str, text: str, named: bool = True) -> str | None:
    parser = detect.detect(Document(name=name, text=text), named=named)
    return parser.format if parser else None


def only_parse_error(parse: Callable, doc: Document) -> None:
    """Bad input may only end in our one-line ParseError, or parse into the schema."""
    try:
        df = parse([doc], lambda _msg: None)
    except ParseError as err:
        assert_one_line(err)
        return
    assert df.schema == MESSAGE_SCHEMA
    assert df.get_column("kind").is_in(["text", "media", "system", "deleted"]).all()
    assert df.get_column("timestamp").null_count() == 0
