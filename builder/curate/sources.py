"""Read the build's sources: Message-contract JSONL (``clonekit ingest -o``) directly,
everything else through builder.ingest.ingest_paths. Also hashes every input file for
the manifest."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from builder.errors import ClonekitError, ParseError
from builder.events import NEVER_CANCELLED, CancelToken, Log, OnEvent, ignore_event
from builder.schema import INSTRUCTION_SCHEMA, MESSAGE_SCHEMA, conform, empty_instructions, empty_messages

MESSAGE_KEYS = {"chat", "timestamp", "sender", "text", "kind"}


@dataclass
class Inputs:
    messages: pl.DataFrame
    instructions: pl.DataFrame
    files: list[dict] = field(default_factory=list)  # {"path", "sha256", "bytes"}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_message_jsonl(path: Path) -> bool:
    if path.suffix.lower() not in (".jsonl", ".ndjson") or not path.is_file():
        return False
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(first, dict) and MESSAGE_KEYS <= set(first)
    return False


def read_message_jsonl(path: Path) -> pl.DataFrame:
    schema = {**MESSAGE_SCHEMA, "timestamp": pl.String}
    try:
        df = pl.read_ndjson(path, schema=schema)
    except Exception as err:  # polars raises ComputeError/SchemaError variants for bad lines
        raise ParseError(str(path), f"not valid Message JSONL ({str(err).splitlines()[0][:160]})",
                         "write it with `clonekit ingest ... -o FILE.jsonl`") from None
    parsed = df.with_columns(ts=pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us"))
    bad = parsed.with_row_index("line", offset=1).filter(pl.col("ts").is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise ParseError(str(path), f"timestamp {row['timestamp']!r} is not YYYY-MM-DDTHH:MM:SS", line=row["line"])
    df = parsed.with_columns(pl.col("ts").alias("timestamp")).drop("ts")
    return conform(df.with_columns(pl.col("source").fill_null(str(path))))


def _files_under(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def read_sources(
    sources: list[str], on_event: OnEvent = ignore_event, cancel: CancelToken = NEVER_CANCELLED,
    strict: bool = True, year_end: int | None = None,
) -> Inputs:
    if not sources:
        raise ClonekitError("no sources: pass export files/folders to `clonekit build` or set [build] sources in clonekit.toml")
    messages = [empty_messages()]
    instructions = [empty_instructions()]
    paths: list[Path] = []
    for s in sources:
        if not Path(s).exists():
            raise ClonekitError(f"source '{s}' does not exist (paths in clonekit.toml are relative to its folder)")
        paths += _files_under(Path(s))
    # the inputs are hashed on a thread while they are parsed (hashlib releases the GIL
    # on large blocks; the parse leaves part of a core idle)
    with ThreadPoolExecutor(1) as pool:
        hashed = pool.submit(lambda: [{"path": str(f), "sha256": sha256_file(f), "bytes": f.stat().st_size} for f in paths])
        messages_, instructions_ = _read_all(sources, on_event, cancel, strict, year_end)
        files = hashed.result()
    return Inputs(pl.concat(messages + messages_), pl.concat(instructions + instructions_), files)


def _read_all(sources: list[str], on_event: OnEvent, cancel: CancelToken,
              strict: bool = True, year_end: int | None = None) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    messages: list[pl.DataFrame] = []
    instructions: list[pl.DataFrame] = []
    others: list[str] = []
    for s in sources:
        p = Path(s)
        if is_message_jsonl(p):
            messages.append(read_message_jsonl(p))
        else:
            others.append(str(p))
        cancel.check()
    if others:
        try:
            from builder.ingest import ingest_paths
        except ImportError:
            raise ClonekitError(
                f"'{others[0]}' needs the ingestion parsers, which are not installed; "
                "pass a messages.jsonl written by `clonekit ingest -o`"
            ) from None
        result = ingest_paths(others, on_event=on_event, cancel=cancel, strict=strict, year_end=year_end)
        for skipped in (f for f in result.files if f.error):  # strict=False only
            on_event(Log(f"skipped unreadable source file: {skipped.error}", "warning"))
        messages.append(conform(result.messages))
        instructions.append(result.instructions.select(list(INSTRUCTION_SCHEMA.keys())).cast(INSTRUCTION_SCHEMA))
    return messages, instructions
