"""A vertical-bar histogram of token lengths, with the kept range marked."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from builder.wording import plural

BLOCKS = " ▁▂▃▄▅▆▇█"


class Histogram(Static):
    def __init__(self, *, id: str | None = None, bins: int = 48, height: int = 8) -> None:
        super().__init__("", id=id)
        self.bins, self.height = bins, height

    def set_values(self, values: list[int], low: int = 0, high: int | None = None) -> None:
        self.update(self.render_hist(values, low, high))

    def render_hist(self, values: list[int], low: int, high: int | None) -> Text:
        if not values:
            return Text("no conversations to measure", style="dim")
        lo, hi = min(values), max(values)
        width = max(1, -(-(hi - lo + 1) // self.bins))
        counts = [0] * self.bins
        for v in values:
            counts[min((v - lo) // width, self.bins - 1)] += 1
        top = max(counts)
        out = Text()
        for row in range(self.height, 0, -1):
            for i, c in enumerate(counts):
                start = lo + i * width
                kept = start + width > low and (high is None or start <= high)
                level = c * self.height / top - (row - 1)
                ch = BLOCKS[max(0, min(8, round(level * 8)))] if level > 0 else " "
                out.append(ch, style="green" if kept else "red")
            out.append(f" {round(top * row / self.height)}\n" if row in (self.height, 1) else "\n")
        out.append(f"{lo:<{self.bins // 2}}{hi:>{self.bins - self.bins // 2}} tokens\n", style="dim")
        out.append(f"{plural(len(values), 'conversation')} · bin {width} tokens · ", style="dim")
        out.append("kept", style="green")
        out.append(" / ", style="dim")
        out.append("dropped by length", style="red")
        return out
