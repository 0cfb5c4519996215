"""What every page shares: the workspace, running a core function in a thread worker
that posts CoreEvent/WorkDone messages, and turning ClonekitError into notifications."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from textual.containers import Vertical

from builder.errors import ClonekitError
from builder.events import CancelToken, Event
from tui.messages import ConfigChanged, CoreEvent, WorkDone

if TYPE_CHECKING:
    from builder.workspace import Workspace
    from tui.app import CloneKitApp


_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def in_page_words(message: str, fields: dict[str, str], table: str = "") -> str:
    """A core error as a page says it: the core names `clonekit` flags; on a page a flag
    with a field becomes the field's label in quotes, any other its ``[table]`` key in
    clonekit.toml (or stays as it is when the page has no table)."""
    def word(m: re.Match) -> str:
        flag = m.group()
        if flag in fields:
            return f"'{fields[flag]}'"
        return f"[{table}] {flag[2:].replace('-', '_')} in clonekit.toml" if table else flag
    return _FLAG.sub(word, message) if fields else message


class Page(Vertical):
    """One step of the flow (a tab). Subclasses set TITLE and override ``refresh_page``,
    called when the page is shown and whenever the shared state changes."""

    TITLE = ""
    TAB = ""  # a shorter tab label when TITLE is long (all nine tabs fit 80 columns)
    KEYS = ""  # one line shown in the page's key help
    DEFAULT_FOCUS = ""  # selector of the widget focused when the page is shown
    FIELD_FOR_FLAG: dict[str, str] = {}  # `clonekit` flag -> this page's field label, for error messages
    SETTINGS_TABLE = ""  # the clonekit.toml table the page's settings live in
    BINDINGS = [("escape", "leave_input", "Leave the field")]

    def focus_default(self) -> None:
        targets = self.query(self.DEFAULT_FOCUS) if self.DEFAULT_FOCUS else []
        if targets:
            targets.first().focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """"esc Leave the field" is offered (in the footer too) only inside a field."""
        if action == "leave_input":
            from tui.app import typing_focus

            return typing_focus(self.app.focused)
        return True

    def action_leave_input(self) -> None:
        """Escape in a text field or a list of choices: focus the page's default widget
        (or another that does not take typing) so 1-9 and the page keys work."""
        from tui.app import typing_focus

        if not typing_focus(self.app.focused):
            return
        candidates = [*self.query(self.DEFAULT_FOCUS)] if self.DEFAULT_FOCUS else []
        candidates += [*self.query("DataTable, Button, Switch")]
        for widget in candidates:
            if widget.focusable and widget.display and not typing_focus(widget):
                widget.focus()
                return
        self.app.set_focus(None)

    @property
    def ck(self) -> "CloneKitApp":
        return self.app  # type: ignore[return-value]

    @property
    def workspace(self) -> "Workspace":
        return self.ck.workspace

    def refresh_page(self) -> None:
        """Re-read shared state into the widgets."""

    def in_page_words(self, message: str) -> str:
        return in_page_words(message, self.FIELD_FOR_FLAG, self.SETTINGS_TABLE)

    def error(self, message: str) -> None:
        self.app.notify(self.in_page_words(message), severity="error", timeout=8)

    def set_config(self, changes: dict[str, Any]) -> bool:
        """Write ``{"section.key": value}`` to clonekit.toml; False (and a notification
        naming the key) when the value is rejected."""
        try:
            self.workspace.update(changes)
        except ClonekitError as err:
            self.error(str(err))
            return False
        self.post_message(ConfigChanged(list(changes)))
        return True

    def run_core(self, job: str, fn: Callable[..., Any], *args: Any, cancel: CancelToken | None = None,
                 exclusive: bool = True, **kwargs: Any) -> None:
        """Run ``fn(*args, on_event=..., cancel=..., **kwargs)`` (or ``fn(*args)`` when
        ``with_events=False`` is passed) in a thread; the result comes back as WorkDone."""
        with_events = kwargs.pop("with_events", True)

        def on_event(event: Event) -> None:
            self.post_message(CoreEvent(job, event))

        def work() -> None:
            try:
                if with_events:
                    result = fn(*args, on_event=on_event, cancel=cancel or CancelToken(), **kwargs)
                else:
                    result = fn(*args, **kwargs)
            except ClonekitError as err:
                self.post_message(WorkDone(job, error=str(err)))
                return
            except Exception as err:  # noqa: BLE001 - the UI boundary: a bug must not kill the app
                self.post_message(WorkDone(job, error=f"{type(err).__name__}: {err}"))
                return
            self.post_message(WorkDone(job, result=result))

        self.run_worker(work, name=job, group=job, thread=True, exclusive=exclusive, exit_on_error=False)
