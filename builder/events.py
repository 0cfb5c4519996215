"""Typed progress events and the cancel flag every core function accepts.

Core functions never print: they call ``on_event(event)``. The CLI renders events as
progress bars (clonekit/progress.py); the TUI turns them into Textual messages."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Union

from builder.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int | None = None
    detail: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Log:
    message: str
    level: str = "info"  # info | warning


Event = Union[Progress, Log]
OnEvent = Callable[[Event], None]


def ignore_event(_event: Event) -> None:
    """Default ``on_event``: drop events."""


class CancelToken:
    """A cancel flag shared between a UI thread and a worker."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled("cancelled; nothing was written")


NEVER_CANCELLED = CancelToken()
