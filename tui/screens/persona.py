"""3 Persona: name, facts card, style, the system-prompt template, and a live preview of
the system prompt for a chosen contact."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from tui.screens.base import Page


class PersonaPage(Page):
    TITLE = "Persona"
    KEYS = "tab moves between fields; the preview follows as you type · ctrl+s or Save writes clonekit.toml · esc leaves a field"
    DEFAULT_FOCUS = "#save-persona"  # not a field: a page key (1-9) typed there would edit it
    BINDINGS = [("ctrl+s", "save", "Save persona")]

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="persona-form"):
                yield Label("Name (empty: the first 'me' alias)")
                yield Input(id="persona-name")
                yield Label("Facts card (one fact per line)")
                yield TextArea(id="persona-facts", soft_wrap=True)
                yield Label("How you write (style)")
                yield Input(id="persona-style")
                yield Label("Template: {me} {contact} {role} {facts} {style}")
                yield TextArea(id="persona-template", soft_wrap=True)
                yield Button("Save (ctrl+s)", id="save-persona", variant="primary")
            with Vertical(id="persona-preview-pane"):
                yield Label("Preview as seen by:")
                yield Select([], id="preview-contact", prompt="contact", allow_blank=True)
                yield Static("", id="persona-preview", classes="preview")

    def on_mount(self) -> None:
        self.refresh_page()

    def refresh_page(self) -> None:
        p = self.workspace.section("persona")
        if not self.query_one("#persona-form").has_focus_within:
            self.query_one("#persona-name", Input).value = p["name"]
            self.query_one("#persona-facts", TextArea).text = "\n".join(p["facts"])
            self.query_one("#persona-style", Input).value = p["style"]
            self.query_one("#persona-template", TextArea).text = p["template"]
        roles = self.workspace.section("contacts")["roles"]
        select = self.query_one("#preview-contact", Select)
        options = [(f"{c} ({r})", c) for c, r in sorted(roles.items())]
        current = select.value
        select.set_options(options)
        if current in roles:
            select.value = current
        elif options:
            select.value = options[0][1]
        self.update_preview()

    def _form(self) -> dict:
        return {
            "name": self.query_one("#persona-name", Input).value.strip(),
            "facts": [f.strip() for f in self.query_one("#persona-facts", TextArea).text.splitlines() if f.strip()],
            "style": self.query_one("#persona-style", Input).value.strip(),
            "template": self.query_one("#persona-template", TextArea).text,
        }

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Select.Changed)
    def update_preview(self) -> None:
        from pydantic import ValidationError

        from builder.curate.persona import PersonaConfig, system_prompt

        preview = self.query_one("#persona-preview", Static)
        select = self.query_one("#preview-contact", Select)
        contact = select.value if isinstance(select.value, str) else "Alex"
        contacts = self.workspace.section("contacts")
        role = contacts["roles"].get(contact, contacts["default_role"])
        me = (self.workspace.get("build", "me", []) or ["me"])[0]
        try:
            text = Text(system_prompt(PersonaConfig(**self._form()), contact, role, me=me))
        except ValidationError as err:
            preview.update(f"[red]template: {err.errors()[0]['msg']}[/]")
            return
        except (KeyError, ValueError, IndexError) as err:
            preview.update(f"[red]template: {err}[/]")
            return
        preview.update(text)

    @on(Button.Pressed, "#save-persona")
    def action_save(self) -> None:
        form = self._form()
        if self.set_config({f"persona.{k}": (v if v != [] and v != "" else None) for k, v in form.items()}):
            self.app.notify("persona saved to clonekit.toml")
