"""A text line chart of training and validation loss by step."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class LossChart(Static):
    def __init__(self, *, id: str | None = None, width: int = 60, height: int = 10) -> None:
        super().__init__("", id=id)
        self.chart_w, self.chart_h = width, height
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.total_steps: int | None = None  # the x axis spans the whole run once known
        self.update(self.render_chart())

    def clear(self) -> None:
        self.train, self.val, self.total_steps = [], [], None
        self.update(self.render_chart())

    def add(self, step: int, loss: float | None = None, val_loss: float | None = None) -> None:
        if loss is not None:
            self.train.append((step, float(loss)))
        if val_loss is not None:
            self.val.append((step, float(val_loss)))
        self.update(self.render_chart())

    def render_chart(self) -> Text:
        points = self.train + self.val
        if not points:
            return Text("loss chart: waiting for the first logged step", style="dim")
        max_step = max(self.total_steps or 0, max(s for s, _ in points)) or 1
        lo, hi = min(v for _, v in points), max(v for _, v in points)
        span = (hi - lo) or 1.0
        grid = [[" "] * self.chart_w for _ in range(self.chart_h)]
        style = [[""] * self.chart_w for _ in range(self.chart_h)]
        for series, mark, colour in ((self.train, "•", "cyan"), (self.val, "◆", "magenta")):
            for step, value in series:
                x = min(self.chart_w - 1, round(step / max_step * (self.chart_w - 1)))
                y = min(self.chart_h - 1, round((hi - value) / span * (self.chart_h - 1)))
                grid[y][x], style[y][x] = mark, colour
        out = Text()
        for y in range(self.chart_h):
            label = f"{hi:7.3f} " if y == 0 else f"{lo:7.3f} " if y == self.chart_h - 1 else " " * 8
            out.append(label + "│", style="dim")
            for x in range(self.chart_w):
                out.append(grid[y][x], style=style[y][x])
            out.append("\n")
        out.append(" " * 8 + "└" + "─" * self.chart_w + "\n", style="dim")
        out.append(" " * 9 + f"step 0{str(max_step).rjust(self.chart_w - 6)}\n", style="dim")
        out.append(" " * 9)
        out.append("• train", style="cyan")
        out.append("  ")
        out.append("◆ val", style="magenta")
        last = f"  last train {self.train[-1][1]:.3f}" if self.train else ""
        last += f"  last val {self.val[-1][1]:.3f}" if self.val else ""
        out.append(last)
        return out
