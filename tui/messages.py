"""Messages that workers and pages post upward (attributes go down, messages go up)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class ConfigChanged(Message):
    """A page changed clonekit.toml; ``keys`` are the dotted keys it set."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__()
        self.keys = keys


class SourcesLoaded(Message):
    """The sources were (re)read: ``result`` is a builder.ingest.IngestResult."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class VersionWritten(Message):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


class CoreEvent(Message):
    """A builder.events Progress/Log from a core function running in a worker."""

    def __init__(self, job: str, event: Any) -> None:
        super().__init__()
        self.job = job
        self.event = event


class WorkDone(Message):
    """A worker finished: ``result`` on success, ``error`` (one line) on failure."""

    def __init__(self, job: str, result: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.job = job
        self.result = result
        self.error = error


class TrainEvent(Message):
    """One line of the training subprocess's --events-jsonl, parsed."""

    def __init__(self, event: dict) -> None:
        super().__init__()
        self.event = event


class TrainExited(Message):
    def __init__(self, returncode: int, run_dir: str, tail: str) -> None:
        super().__init__()
        self.returncode = returncode
        self.run_dir = run_dir
        self.tail = tail


class ChatText(Message):
    """A piece of a streaming reply."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
