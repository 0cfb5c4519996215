"""A labelled form field: the label above its input, styled by the `.field` rule."""

from __future__ import annotations

from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label


def field(label: str, widget: Widget) -> Vertical:
    return Vertical(Label(label), widget, classes="field")
