"""Put the clone on Telegram: the commands for the chosen run, with the allow list
filled in from the contacts and roles its dataset knows (ctrl+t on the Chat page, or
"Put the clone on Telegram" in the command palette)."""

from __future__ import annotations

import json
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

MAX_CONTACTS = 12


def dataset_contacts(run_path: str) -> list[tuple[str, str]]:
    """(contact, role) per person the run was trained on, most messages first."""
    from trainer.prompting import contact_roles

    try:
        dataset = json.loads((Path(run_path) / "run.json").read_text(encoding="utf-8")).get("dataset")
    except (OSError, json.JSONDecodeError):
        return []
    seen: dict[str, str] = {}
    for (contact, role), _ in contact_roles(dataset).most_common():
        if contact and contact not in seen:
            seen[contact] = role
    return list(seen.items())[:MAX_CONTACTS]


def telegram_commands(run_path: str, contacts: list[tuple[str, str]]) -> str:
    """The two commands (token, start), one --allow per contact with USER_ID to fill in."""
    from trainer.telegram.allow import allow_spec

    allow = [allow_spec(c, r) for c, r in contacts] or ["USER_ID=Name:role"]
    lines = ["export TELEGRAM_BOT_TOKEN=...   # from @BotFather (never put it in a flag or a file)",
             f"clonekit telegram {run_path} \\"]
    lines += [f"    --allow {spec} \\" for spec in allow]
    lines[-1] = lines[-1][:-2]
    return "\n".join(lines)


class DeployScreen(ModalScreen):
    """The Telegram commands for one run; copy them to the clipboard or close."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("c", "copy", "Copy")]
    DEFAULT_CSS = """
    DeployScreen { align: center middle; }
    DeployScreen > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
                              border: round $accent; padding: 1 2; background: $surface; }
    DeployScreen #deploy-commands { margin: 1 0; padding: 0 1; background: $boost; }
    DeployScreen .row { height: auto; }
    """

    def __init__(self, run_path: str, contacts: list[tuple[str, str]]) -> None:
        super().__init__()
        self.run_path = run_path
        self.commands = telegram_commands(run_path, contacts)
        self.contacts = contacts

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Put {Path(self.run_path).name} on Telegram", classes="title")
            yield Static("1. In Telegram, create a bot with @BotFather and copy its token.\n"
                         "2. Replace each USER_ID with that person's numeric Telegram id (they can get it from "
                         "@userinfobot) or their @username. The part after ':' is the role the persona prompt "
                         "uses. Anyone not listed gets one polite refusal.\n3. Run:", id="deploy-help")
            yield Static(self.commands, id="deploy-commands", markup=False)
            yield Static(f"{len(self.contacts)} contacts from the training data. Options: --history-db FILE keeps "
                         "conversations across restarts; --openai-base URL --model NAME uses a running "
                         "`clonekit serve` instead of loading the model.", id="deploy-notes")
            with Horizontal(classes="row"):
                yield Button("Copy commands", id="deploy-copy", variant="primary")
                yield Button("Close", id="deploy-close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "deploy-copy":
            self.action_copy()
        else:
            self.action_close()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.commands)
        self.app.notify("commands copied")

    def action_close(self) -> None:
        self.dismiss()
