"""Render core events on the terminal: a one-line progress bar on stderr (only when
stderr is a terminal, otherwise occasional plain lines) and log lines."""

from __future__ import annotations

import sys
import time

from builder.events import Event, Log, Progress


def _fmt_seconds(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressPrinter:
    """Callable ``on_event`` for CLI commands."""

    def __init__(self, stream=None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self._stage: str | None = None
        self._stage_start = time.monotonic()
        self._last_draw = 0.0
        self._open_line = False

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, Log):
            self._end_line()
            prefix = "warning: " if event.level == "warning" else ""
            print(f"{prefix}{event.message}", file=self.stream)
        elif isinstance(event, Progress):
            self._progress(event)

    def _progress(self, ev: Progress) -> None:
        now = time.monotonic()
        if ev.stage != self._stage:
            self._end_line()
            self._stage, self._stage_start = ev.stage, now
        finished = ev.total is not None and ev.done >= ev.total
        if not finished and now - self._last_draw < (0.1 if self.tty else 5.0):
            return
        self._last_draw = now
        elapsed = now - self._stage_start
        if ev.total:
            frac = min(ev.done / ev.total, 1.0)
            bar = "█" * int(frac * 24) + "░" * (24 - int(frac * 24))
            eta = _fmt_seconds(elapsed / frac - elapsed) if frac > 0 else "?"
            line = f"{ev.stage:<14} {bar} {ev.done}/{ev.total} eta {eta}"
        else:
            line = f"{ev.stage:<14} {ev.done}"
        if ev.detail:
            line += f"  {ev.detail}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self._open_line = True
            if finished:
                self._end_line()
        else:
            print(line, file=self.stream)
        self.stream.flush()

    def _end_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False

    def close(self) -> None:
        self._end_line()
