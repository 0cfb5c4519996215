"""Horizontal bars of each contact's share, before and after balancing."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ShareBars(Static):
    """``rows``: (contact, share_before, share_after) with shares in 0..1."""

    def __init__(self, *, id: str | None = None, bar_width: int = 40) -> None:
        super().__init__("", id=id)
        self.bar_width = bar_width
        self.rows: list[tuple[str, float, float]] = []
        self.cap: float | None = None

    def set_rows(self, rows: list[tuple[str, float, float]], cap: float | None) -> None:
        self.rows, self.cap = rows, cap
        self.update(self.render_bars())

    def render_bars(self) -> Text:
        if not self.rows:
            return Text("no conversations yet: add sources and confirm who is me", style="dim")
        name_w = min(24, max(len(r[0]) for r in self.rows))
        out = Text()
        cap_col = round(self.cap * self.bar_width) if self.cap else None
        for contact, before, after in self.rows:
            name = (contact if len(contact) <= name_w else contact[:name_w - 1] + "…").ljust(name_w)
            for label, share, style in (("before", before, "grey50"), ("after ", after, "green")):
                filled = round(share * self.bar_width)
                bar = "█" * filled + " " * (self.bar_width - filled)
                if cap_col is not None and cap_col < self.bar_width:
                    bar = bar[:cap_col] + ("┃" if filled <= cap_col else "╋") + bar[cap_col + 1:]
                out.append(f"{name if label == 'before' else ' ' * name_w} {label} ", style="bold" if label == "before" else "")
                out.append(bar, style=style)
                out.append(f" {share:6.1%}\n")
        if cap_col is not None:
            out.append(f"{' ' * name_w}        ┃ cap {self.cap:.0%}", style="yellow")
        return out
