"""Ingestion: paths the user names (files, export zips, folders) -> one table of messages
(MESSAGE_SCHEMA) plus one of instruction records (INSTRUCTION_SCHEMA).

    result = ingest_paths(["WhatsApp Chat - Alex.zip", "telegram_export/"])
    write_ingested(result, "messages.jsonl")

sources.py finds and decodes files, detect.py picks a parser per file, the parser modules
(whatsapp.py, telegram.py, ...) turn grouped Documents into frames."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import polars as pl

from builder.atomic import atomic_path
from builder.errors import ClonekitError, ParseError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, Progress, ignore_event
from builder.ingest import detect
from builder.ingest.base import Document
from builder.ingest.detect import Parser
from builder.ingest.sources import Entry, expand, load_document
from builder.schema import (INSTRUCTION_SCHEMA, MESSAGE_SCHEMA, conform, empty_instructions,
                            empty_messages, to_contract_rows)

MAX_WARNINGS_PER_GROUP = 20  # more than this from one parse call are counted, not shown
SKIPPED_SHOWN = 5


@dataclass(frozen=True)
class FileReport:
    path: str  # display path, e.g. "exports/chat.zip!/_chat.txt"
    format: str | None  # the parser that read it; None when it could not be read at all
    n_messages: int  # messages (or instruction records) it gave
    error: str | None = None  # one-line error (strict=False only)


@dataclass
class IngestResult:
    messages: pl.DataFrame = field(default_factory=empty_messages)
    instructions: pl.DataFrame = field(default_factory=empty_instructions)
    files: list[FileReport] = field(default_factory=list)


def ingest_paths(
    paths: Iterable[str | os.PathLike],
    fmt: str = "auto",
    on_event: OnEvent = ignore_event,
    cancel: CancelToken = NEVER_CANCELLED,
    strict: bool = True,
    year_end: int | None = None,
) -> IngestResult:
    """Parse every chat export under ``paths``.

    ``fmt`` forces one parser (e.g. "whatsapp") instead of detecting it per file.
    strict=True raises the first ParseError; strict=False records it in the file's
    FileReport and carries on with the rest. ``year_end`` is the year of the last message
    of exports whose dates have no year (else their file's date is used)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    forced = None if fmt == "auto" else detect.get_parser(fmt)
    if not detect.parsers():
        raise ClonekitError("no chat parsers are installed (reinstall clonekit)")
    reports: list[FileReport] = []

    def fail(err: ParseError, path: str) -> None:
        if strict:
            raise err
        if all(r.path != path for r in reports):  # a file named and also found in a named folder
            reports.append(FileReport(path, None, 0, str(err)))

    # 1. find files
    listed: list[tuple[str, list[Entry]]] = []
    for path in _unique(paths):
        cancel.check()
        try:
            listed.append((str(path), list(expand(path))))
        except ParseError as err:
            fail(err, str(path))

    # 2. read, decode and pick a parser per file
    total = sum(len(entries) for _, entries in listed)
    done = 0
    picked: list[tuple[Parser, Document]] = []
    for path, entries in listed:
        try:
            found, done, unreadable = _claim(path, entries, forced, on_event, cancel, done, total, year_end)
        except ParseError as err:
            fail(err, err.source)
            done += len(entries)
            continue
        picked.extend(found)
        for err in unreadable if not strict else ():  # listed with their reason (strict runs log them)
            fail(err, err.source)

    # 3. parse, one call per (format, folder) so multi-file chats arrive together
    groups: dict[tuple[str, str], tuple[Parser, list[Document]]] = {}
    for parser, doc in picked:
        groups.setdefault((parser.format, doc.folder), (parser, []))[1].append(doc)
    frames: dict[str, list[pl.DataFrame]] = {"messages": [], "instructions": []}
    parsed = 0
    for parser, docs in groups.values():
        cancel.check()
        frame, group_reports = _parse_group(parser, docs, on_event, strict)
        if frame is not None:
            frames[parser.kind].append(frame)
        reports.extend(group_reports)
        parsed += len(docs)
        on_event(Progress("parse", parsed, len(picked), detail=docs[-1].name))

    result = IngestResult(
        messages=pl.concat(frames["messages"]) if frames["messages"] else empty_messages(),
        instructions=pl.concat(frames["instructions"]) if frames["instructions"] else empty_instructions(),
        files=reports,
    )
    if strict and result.messages.is_empty() and result.instructions.is_empty():
        names = ", ".join(str(p) for p in _unique(paths))
        raise ClonekitError(f"{names}: no messages found (check these are the chat exports you meant)")
    return result


def _unique(paths: Iterable[str | os.PathLike]) -> list[str | os.PathLike]:
    seen: set[str] = set()
    out = []
    for p in paths:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _claim(path: str, entries: list[Entry], forced: Parser | None, on_event: OnEvent,
           cancel: CancelToken, done: int, total: int,
           year_end: int | None = None) -> tuple[list[tuple[Parser, Document]], int, list[ParseError]]:
    """Decode the entries found under one path and choose a parser for each; also returns
    the errors of the files found in folders or zips that could not be decoded."""
    docs: list[tuple[Entry, Document]] = []
    unreadable: list[ParseError] = []
    for entry in entries:
        cancel.check()
        try:
            docs.append((entry, load_document(entry, year_end)))
        except ParseError as err:
            if entry.named:
                raise
            unreadable.append(err)  # a stray empty or binary file inside a folder or zip
        done += 1
        on_event(Progress("read", done, total, detail=entry.name))

    picked: list[tuple[Parser, Document]] = []
    skipped: list[str] = [err.source for err in unreadable]
    if forced is not None:
        # A forced format takes what it recognises; if it recognises nothing under this
        # path, the user insisted: give it everything.
        picked = [(forced, d) for e, d in docs if e.named or detect.score(forced, d) > 0]
        if not picked:
            picked = [(forced, d) for _, d in docs]
    else:
        for entry, doc in docs:
            parser = detect.detect(doc, entry.named)
            if parser is not None:
                picked.append((parser, doc))
            elif entry.named:
                raise detect.not_recognised(doc.name)
            else:
                skipped.append(doc.name)
    if not picked:
        if unreadable:
            raise unreadable[0]
        raise ParseError(path, f"no chat exports found in it (formats tried: {', '.join(detect.format_names())})",
                         "name the chat file itself, or use --format to force one")
    if skipped:
        shown = ", ".join(skipped[:SKIPPED_SHOWN]) + (f" and {len(skipped) - SKIPPED_SHOWN} more"
                                                       if len(skipped) > SKIPPED_SHOWN else "")
        on_event(Log(f"skipped {len(skipped)} file(s) that are not chat exports: {shown}", "warning"))
    return picked, done, unreadable


def _parse_group(parser: Parser, docs: list[Document], on_event: OnEvent,
                 strict: bool) -> tuple[pl.DataFrame | None, list[FileReport]]:
    """Parse one group of documents. With strict=False a failing document is reported and
    the rest of its group parsed again without it."""
    reports: list[FileReport] = []
    pending = list(docs)
    shown: set[str] = set()  # a retry without the failing file repeats the others' warnings
    while pending:
        warned = [0]

        def warn(message: str) -> None:
            if str(message) in shown:
                return
            shown.add(str(message))
            warned[0] += 1
            if warned[0] <= MAX_WARNINGS_PER_GROUP:
                on_event(Log(str(message), "warning"))

        try:
            frame = parser.parse(pending, warn)
        except ParseError as err:
            if strict:
                raise
            bad = [d for d in pending if d.name == err.source] or pending
            reports.extend(FileReport(d.name, parser.format, 0, str(err)) for d in bad)
            pending = [d for d in pending if d not in bad]
            continue
        finally:
            if warned[0] > MAX_WARNINGS_PER_GROUP:
                on_event(Log(f"{warned[0] - MAX_WARNINGS_PER_GROUP} more warnings for "
                             f"{pending[0].name if pending else docs[0].name} not shown", "warning"))
        frame = _conform(frame, parser.kind)
        reports.extend(FileReport(d.name, parser.format, n) for d, n in zip(pending, _counts(frame, pending)))
        return frame, reports
    return None, reports


def _conform(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    if kind == "instructions":
        return frame.select([pl.col(n).cast(t) for n, t in INSTRUCTION_SCHEMA.items()])
    return conform(frame)


def _counts(frame: pl.DataFrame, docs: list[Document]) -> list[int]:
    """Rows per document, by the ``source`` column (parsers set it to the document name);
    rows whose source names no document are counted on the group's first document."""
    if len(docs) == 1:
        return [frame.height]
    by_source = dict(frame.group_by("source").len().iter_rows())
    counts = [int(by_source.get(d.name, 0)) for d in docs]
    counts[0] += frame.height - sum(counts)
    return counts


# -- writing -----------------------------------------------------------------------------


def instructions_path(path: str | os.PathLike) -> Path:
    """Where instruction records go when the output file also holds chat messages."""
    path = Path(path)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}.instructions.jsonl")


def write_ingested(result: IngestResult, path: str | os.PathLike) -> list[tuple[Path, int, str]]:
    """Write the Message contract JSONL to ``path`` atomically. Instruction records
    ({"messages": [...], "source": ...} lines) go to ``path`` when there are no chat
    messages, else to the sibling FILE.instructions.jsonl. Returns (file, rows, what) for
    each file written."""
    path = Path(path)
    outputs: list[tuple[Path, pl.DataFrame, str]] = []
    if not result.messages.is_empty():
        outputs.append((path, result.messages, "messages"))
    if not result.instructions.is_empty():
        target = instructions_path(path) if outputs else path
        outputs.append((target, result.instructions.select("messages", "source"), "instruction records"))
    if not outputs:
        raise ClonekitError(f"{path}: nothing to write (no messages were read)")
    if path.is_dir():
        raise ClonekitError(f"{path}: is a folder (name a .jsonl file to write)")
    try:
        _write_all(outputs)
    except OSError as err:
        raise ClonekitError(f"{path}: cannot write: {err.strerror or err} "
                            "(check the folder exists and is writable)") from None
    return [(target, frame.height, what) for target, frame, what in outputs]


WRITE_ROWS = 200_000  # rows serialised at a time: bounded buffers, timestamps formatted per slice


def _write_all(outputs: list[tuple[Path, pl.DataFrame, str]]) -> None:
    """Write every file to a temp sibling first; rename them all only when all are written."""
    if not outputs:
        return
    (target, frame, what), rest = outputs[0], outputs[1:]
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            for part in frame.iter_slices(WRITE_ROWS):
                (to_contract_rows(part) if what == "messages" else part).write_ndjson(fh)
        _write_all(rest)


__all__ = ["FileReport", "IngestResult", "ingest_paths", "instructions_path", "write_ingested",
           "MESSAGE_SCHEMA", "INSTRUCTION_SCHEMA"]
