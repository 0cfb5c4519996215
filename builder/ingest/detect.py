"""The parser registry and format detection.

A parser module (see base.py) exposes FORMAT, KIND, sniff and parse; a module holding
several formats exposes ``PARSERS``, a list of objects with those same attributes. Modules
not written yet are skipped, so the registry lists whatever exists."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from builder.errors import ClonekitError, ParseError
from builder.ingest.base import Document

# Registry order breaks ties between equal sniff scores.
MODULES = ("whatsapp", "telegram", "discord", "messenger", "instagram", "signal", "imessage",
           "wechat", "qq", "line", "kakaotalk", "sms_xml", "slack", "telegram_html",
           "csv_table", "instructions")

SNIFF_CHARS = 8192
# A file named directly is claimed by any parser that scores above zero; inside a folder or
# zip (where stray JSON and text files are common) a parser must be fairly sure.
MIN_SCORE_NAMED = 1
MIN_SCORE_CONTAINED = 30


@dataclass(frozen=True)
class Parser:
    format: str
    kind: str  # "messages" | "instructions"
    sniff: Callable[[str, str], int]
    parse: Callable[..., Any]


def _as_parser(obj: Any) -> Parser:
    return Parser(format=obj.FORMAT, kind=obj.KIND, sniff=obj.sniff, parse=obj.parse)


@lru_cache(maxsize=1)
def parsers() -> tuple[Parser, ...]:
    found: list[Parser] = []
    for name in MODULES:
        qualified = f"builder.ingest.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as err:
            if err.name != qualified:
                raise  # the module exists but one of its imports is missing: a real bug
            continue
        if hasattr(module, "PARSERS"):
            found.extend(_as_parser(p) for p in module.PARSERS)
        else:
            found.append(_as_parser(module))
    return tuple(found)


def format_names() -> list[str]:
    return [p.format for p in parsers()]


def get_parser(fmt: str) -> Parser:
    for p in parsers():
        if p.format == fmt:
            return p
    raise ClonekitError(f"--format {fmt}: no such format here (available: {', '.join(format_names())})")


def score(parser: Parser, doc: Document) -> int:
    return int(parser.sniff(doc.name, doc.head(SNIFF_CHARS)))


def detect(doc: Document, named: bool) -> Parser | None:
    """The parser that claims ``doc`` most confidently, or None."""
    best, best_score = None, 0
    for p in parsers():
        s = score(p, doc)
        if s > best_score:
            best, best_score = p, s
    threshold = MIN_SCORE_NAMED if named else MIN_SCORE_CONTAINED
    return best if best_score >= threshold else None


def not_recognised(name: str) -> ParseError:
    return ParseError(name, f"not a recognised chat export (formats tried: {', '.join(format_names())})",
                      "use --format to force one")
