"""Shared helpers for the JSON chat parsers (Telegram, Discord, Messenger, Instagram).

JSON exports are nested objects, so their parsers walk the decoded objects in Python and
collect plain column lists; everything after that (timestamp parsing, casting, ordering)
is done with Polars expressions in :func:`to_frame`."""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

from builder.errors import ParseError
from builder.json_errors import is_truncated, plain_reason
from builder.schema import MESSAGE_SCHEMA

# Invisible direction/formatting marks the Message contract strips from sender names.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")

COLUMNS = ("chat", "ts", "sender", "text", "kind")


def load_json(doc_name: str, text: str, what: str) -> Any:
    """``json.loads`` with one-line errors: where the JSON breaks and what to do."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ParseError(doc_name, f"the file is empty, not a {what}", hint="export the chat again")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = (
            "the JSON breaks off before its end: the file looks truncated"
            if is_truncated(exc, text)
            else f"invalid JSON at column {exc.colno}: {plain_reason(exc)}"
        )
        raise ParseError(
            doc_name, problem, hint=f"expected a complete {what}: export it again or unzip it completely", line=exc.lineno
        ) from None
    except RecursionError:
        raise ParseError(doc_name, "the JSON is nested too deeply to be a chat export", hint=f"is this a {what}?") from None


def scrub(text: str) -> str:
    """Replace lone surrogates (from ``"\\ud800"`` escapes or undecodable bytes) with U+FFFD:
    Polars, like UTF-8, cannot hold them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def clean_name(name: str) -> str:
    """A sender or chat name without invisible bidi/format marks, trimmed."""
    return _INVISIBLE.sub("", name).strip()


def text_or_empty(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_list(value: Any) -> list:
    """An optional list field: anything that is not a list counts as empty."""
    return value if isinstance(value, list) else []


def require_dict(doc_name: str, value: Any, where: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise ParseError(doc_name, f"{where} is {type(value).__name__}, expected an object", hint=f"is this a {what}?")
    return value


def require_list(doc_name: str, value: Any, where: str, what: str) -> list:
    if not isinstance(value, list):
        raise ParseError(doc_name, f"{where} is {type(value).__name__}, expected a list", hint=f"is this a {what}?")
    return value


class Rows:
    """Column lists for one document: one entry per message, ``ts`` the raw time as a
    string, ``labels`` how an error names the message ("message id 12")."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        self.labels: list[str] = []

    def add(self, label: str, chat: str, ts: str | None, sender: str | None, text: str, kind: str) -> None:
        self.labels.append(label)
        self.cols["chat"].append(chat)
        self.cols["ts"].append(ts)
        self.cols["sender"].append(sender)
        self.cols["text"].append(text)
        self.cols["kind"].append(kind)

    def __len__(self) -> int:
        return len(self.labels)

    def frame(self, ts: pl.Expr, what: str) -> pl.DataFrame:
        """The canonical frame; ``ts`` turns the raw ``ts`` column into a datetime. A time
        that cannot be read raises a ParseError naming the message."""
        try:
            df = pl.DataFrame(self.cols, schema={c: pl.String for c in COLUMNS})
        except UnicodeEncodeError:
            cols = {c: [scrub(v) if isinstance(v, str) else v for v in vs] for c, vs in self.cols.items()}
            df = pl.DataFrame(cols, schema={c: pl.String for c in COLUMNS})
        out = df.select(
            pl.col("chat"),
            ts.cast(pl.Datetime("us")).alias("timestamp"),
            pl.col("sender"),
            pl.col("text"),
            pl.col("kind"),
            pl.lit(self.source, dtype=pl.String).alias("source"),
        )
        bad = out.select(pl.col("timestamp").is_null().arg_true()).to_series()
        if len(bad):
            i = int(bad[0])
            raw = self.cols["ts"][i]
            problem = f"{self.labels[i]} has no time" if raw is None else f"{self.labels[i]} has an unreadable time {raw!r}"
            raise ParseError(self.source, problem, hint=f"expected the time format of a {what}")
        return out.cast(dict(MESSAGE_SCHEMA))


def iso_wall_clock(col: str = "ts") -> pl.Expr:
    """An ISO 8601 string as the wall-clock time written, any offset (``Z``, ``+02:00``) dropped."""
    bare = pl.col(col).str.strip_chars().str.replace(r"(?:[Zz]|[+-]\d{2}:?\d{2})$", "").str.replace(" ", "T")
    return pl.coalesce(
        bare.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        bare.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
    )
