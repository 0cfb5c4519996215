"""2 People: who is me (suggested from the data, confirm or type aliases), the contacts
(messages, tokens, share, first/last, role tag, included or not) and the chats, each of
which can be left out (contacts.exclude_chats)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label

from builder.errors import ClonekitError
from tui.messages import WorkDone
from tui.screens.base import Page


def people_tables(ingest, me: list[str], aliases: dict[str, list[str]] | None = None):
    """(suggested me aliases, contacts rows, chats rows, likely same-person pairs) for the
    page, rows as dicts; contacts merged per [contacts] aliases."""
    from builder.curate.identity import contacts_table, merge_aliases, suggest_alias_pairs, suggest_me
    from builder.ingest.summary import chat_table

    messages = ingest.messages
    chats = chat_table(ingest).select("chat", "format", "messages", "senders").to_dicts()
    suggested = suggest_me(messages)
    if not me:
        return suggested, [], chats, []
    merged = merge_aliases(messages, aliases or {})
    return suggested, contacts_table(merged, me).to_dicts(), chats, suggest_alias_pairs(merged, me)


def merge_person(contacts: dict, name: str, person: str) -> dict:
    """[contacts] changes that make ``name`` an alias of ``person``: the alias added, and
    the settings that named ``name`` (its role, include/exclude) moved to ``person``."""
    aliases = {p: list(names) for p, names in contacts["aliases"].items()}
    aliases.setdefault(person, [])
    if name not in aliases[person]:
        aliases[person].append(name)
    roles = dict(contacts["roles"])
    if name in roles:
        role = roles.pop(name)
        roles.setdefault(person, role)
    changes: dict = {"contacts.aliases": aliases, "contacts.roles": roles or None}
    for key in ("include", "exclude"):
        names = [person if n == name else n for n in contacts[key]]
        changes[f"contacts.{key}"] = list(dict.fromkeys(names)) or None
    return changes


class PeoplePage(Page):
    TITLE = "People"
    KEYS = "c confirms me · enter edits a role · x includes/excludes · m merges a suggested same-person pair"
    DEFAULT_FOCUS = "#contacts"
    BINDINGS = [Binding("x", "toggle_include", "Include/exclude"), Binding("c", "confirm_me", "Confirm me"),
                Binding("m", "merge_pair", "Merge same person")]

    def compose(self) -> ComposeResult:
        yield Label("Who are you? Your name as each export shows it (aliases separated by commas, enter saves).",
                    classes="hint")
        with Horizontal(classes="row"):
            yield Input(placeholder="e.g. Sam, Sam Kellett", id="me")
            yield Button("Confirm suggestion", id="confirm-me", variant="primary")
        yield Label("", id="me-status", classes="status")
        yield Label("", id="alias-hint", classes="status hidden")
        yield Label("Contacts", classes="section")
        yield DataTable(id="contacts", cursor_type="row", zebra_stripes=True)
        yield Label("Chats (an excluded chat is left out of the dataset entirely)", classes="section")
        yield DataTable(id="people-chats", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="row"):
            yield Label("role of the selected contact:", classes="inline-label")
            yield Input(placeholder="partner, family, friend, boss…", id="role")
            yield Button("Set role", id="set-role")
            yield Button("Include / exclude (x)", id="toggle-include")

    def on_mount(self) -> None:
        self.query_one("#contacts", DataTable).add_columns(
            "contact", "role", "included", "chats", "messages", "tokens", "share", "first", "last")
        self.query_one("#people-chats", DataTable).add_columns("chat", "kind", "format", "messages", "included")
        self.suggested: list[str] = []
        self.pairs: list[tuple[str, str]] = []
        self.rows: list[dict] = []
        self.chats: list[dict] = []
        self.refresh_page()

    def refresh_page(self) -> None:
        me = self.workspace.get("build", "me", []) or []
        box = self.query_one("#me", Input)
        if not box.has_focus:
            box.value = ", ".join(me)
        ingest = self.ck.ingest
        if ingest is None or ingest.messages.is_empty():
            self.query_one("#me-status", Label).update("add sources first (1 Sources)")
            self.rows, self.chats = [], []
            self._fill()
            return
        aliases = self.workspace.section("contacts")["aliases"]
        key = (id(ingest), tuple(me), repr(sorted(aliases.items())))
        if key == getattr(self, "_computed_for", None):
            self._fill()  # only the config changed (roles, include): no need to recount
            return
        self._computed_for = key
        self.run_core("people", people_tables, ingest, me, aliases, with_events=False)

    def on_work_done(self, message: WorkDone) -> None:
        if message.job != "people":
            return
        message.stop()
        if message.error:
            self._computed_for = None
            self.error(message.error)
            return
        self.suggested, self.rows, self.chats, self.pairs = message.result
        hint = self.query_one("#alias-hint", Label)
        hint.set_class(not self.pairs, "hidden")
        if self.pairs:
            name, person = self.pairs[0]
            more = f" (+{len(self.pairs) - 1} more)" if len(self.pairs) > 1 else ""
            hint.update(f"same person? [b]{name}[/b] = [b]{person}[/b]{more} · m merges them into {person}")
        me = self.workspace.get("build", "me", []) or []
        status = self.query_one("#me-status", Label)
        if me:
            status.update(f"me = {', '.join(me)}" + (f" · suggested: {', '.join(self.suggested[:3])}" if self.suggested else ""))
        elif self.suggested:
            status.update(f"[yellow]not confirmed yet[/] · suggested: [b]{self.suggested[0]}[/b] "
                          f"(in every 1:1 chat) · press c or the button to confirm")
        else:
            status.update("[yellow]no sender to suggest[/]; type your name as the export shows it")
        self._fill()

    def _fill(self) -> None:
        table = self.query_one("#contacts", DataTable)
        keep = table.cursor_row
        table.clear()
        contacts = self.workspace.section("contacts")
        roles, excluded, included = contacts["roles"], set(contacts["exclude"]), set(contacts["include"])
        for r in self.rows:
            name = r["contact"]
            on = name not in excluded and (not included or name in included)
            table.add_row(
                name, roles.get(name, f"[dim]{contacts['default_role']}[/]"), "yes" if on else "[red]no[/]",
                str(r["chats"]), f"{r['messages']:,}", f"{r['tokens']:,}", f"{r['share']:.1%}",
                r["first"].strftime("%Y-%m-%d"), r["last"].strftime("%Y-%m-%d"), key=name)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        self._fill_chats(contacts)

    def _fill_chats(self, contacts: dict) -> None:
        table = self.query_one("#people-chats", DataTable)
        keep = table.cursor_row
        table.clear()
        excluded, only = set(contacts["exclude_chats"]), set(contacts["include_chats"])
        for r in self.chats:
            name = r["chat"]
            on = name not in excluded and (not only or name in only)
            table.add_row(name, "group" if r["senders"] > 2 else "1:1", r["format"] or "?", f"{r['messages']:,}",
                          "yes" if on else "[red]no[/]", key=name)
        table.styles.height = min(table.row_count, 8) + 1 if table.row_count else 3
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))

    def _selected(self) -> str | None:
        table = self.query_one("#contacts", DataTable)
        if not table.row_count:
            self.error("no contacts yet: confirm who is me first")
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # ------------------------------------------------------------------ me
    @on(Input.Submitted, "#me")
    def save_me(self) -> None:
        aliases = [a.strip() for a in self.query_one("#me", Input).value.split(",") if a.strip()]
        self._set_me(aliases)

    @on(Button.Pressed, "#confirm-me")
    def action_confirm_me(self) -> None:
        if not self.suggested:
            self.error("nothing to suggest yet: add sources first, or type your name")
            return
        self._set_me([self.suggested[0]])

    def _set_me(self, aliases: list[str]) -> None:
        from builder.curate.identity import check_me

        ingest = self.ck.ingest
        try:
            if aliases and ingest is not None and ingest.messages.height:
                check_me(ingest.messages, aliases)
        except ClonekitError as err:
            self.error(str(err))
            return
        if self.set_config({"build.me": aliases or None}):
            self.app.notify(f"me = {', '.join(aliases)}" if aliases else "me cleared")

    # ------------------------------------------------------------------ contacts
    @on(DataTable.RowSelected, "#contacts")
    def edit_role(self, event: DataTable.RowSelected) -> None:
        name = event.row_key.value or ""
        box = self.query_one("#role", Input)
        box.value = self.workspace.section("contacts")["roles"].get(name, "")
        box.focus()

    @on(Input.Submitted, "#role")
    @on(Button.Pressed, "#set-role")
    def set_role(self) -> None:
        name = self._selected()
        if name is None:
            return
        role = self.query_one("#role", Input).value.strip()
        roles = dict(self.workspace.section("contacts")["roles"])
        if role:
            roles[name] = role
        else:
            roles.pop(name, None)
        if self.set_config({"contacts.roles": roles or None}):
            self.app.notify(f"{name}: role {role or 'cleared'}")
            self.query_one("#contacts", DataTable).focus()

    @on(Button.Pressed, "#toggle-include")
    def action_toggle_include(self) -> None:
        """x: the chat under the cursor when the chats table has focus, else the contact."""
        if self.app.focused is self.query_one("#people-chats", DataTable):
            self._toggle_chat()
            return
        name = self._selected()
        if name is None:
            return
        self._toggle("exclude", "include", name)

    def _toggle_chat(self) -> None:
        table = self.query_one("#people-chats", DataTable)
        if not table.row_count:
            self.error("no chats yet: add sources first (1 Sources)")
            return
        self._toggle("exclude_chats", "include_chats",
                     table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or "")

    def _toggle(self, exclude_key: str, include_key: str, name: str) -> None:
        """Flip ``name`` between included and excluded: excluding adds it to the exclude
        list; including removes it from there and, when an include list restricts the
        data to the names on it, adds it to that list."""
        contacts = self.workspace.section("contacts")
        exclude, include = list(contacts[exclude_key]), list(contacts[include_key])
        included = name not in exclude and (not include or name in include)
        if included:
            exclude.append(name)
        else:
            if name in exclude:
                exclude.remove(name)
            if include and name not in include:
                include.append(name)
        if self.set_config({f"contacts.{exclude_key}": exclude or None, f"contacts.{include_key}": include or None}):
            self.app.notify(f"{name}: {'excluded' if included else 'included'}")

    # ------------------------------------------------------------------ one person, several names
    def action_merge_pair(self) -> None:
        """m: the first suggested pair becomes one contact ([contacts] aliases)."""
        if not self.pairs:
            self.error("no likely same-person pair to merge (add aliases in clonekit.toml [contacts] aliases)")
            return
        name, person = self.pairs[0]
        if self.set_config(merge_person(self.workspace.section("contacts"), name, person)):
            self.app.notify(f"{name} is now an alias of {person}: one contact for roles and balancing")
