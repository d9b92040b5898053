"""Groups: create (a manual group, or a rule group with a live preview of who matches), edit (rename; give, change
or clear the rule, with the same preview and what happens to the members), delete (asks first); add members of a manual group from a searchable picker, remove them one by one."""
from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, SelectionList, Static
from textual.worker import get_current_worker

from console.errors import BadInput, IdConsoleError
from console.models import Group
from console.service import RulePreview
from screens.base import ConsoleModal, ConsoleScreen, ident
from screens.forms import FormModal, rejection
from screens.messages import FieldRejected, ListLoaded, PeopleFiltered, RulePreviewed, Saved, StateChanged
from screens.widgets import TickList
from screens.fit import FitTable
from screens.modals import ConfirmModal, NoticeModal

WINDOW = 200
PREVIEW_NAMES = 5  # names shown under the rule field
RULE_ACTIONS = frozenset({"add_members", "remove_member"})  # not offered for a rule group: its rule decides


class GroupsScreen(ConsoleScreen):
    MODE = "groups"
    CSS_PATH = "groups.tcss"
    AUTO_FOCUS = "#groups"
    FILTER = "#member-filter"
    HELP = """Groups hold people; policies bind groups to applications. Move in the left list to see a group's
members on the right (Tab switches panes; / filters the members). Adding members opens a searchable picker:
type, ↓ to the list, Space to tick people, then Enter (or F2, ctrl+s, Tab to the Add button) adds them.
A rule group (created with a Rule, e.g. department == "Engineering") has the members its rule matches: they
follow the people, and are not added or removed by hand. See docs/rules.md for the rule language."""
    WRITE_ACTIONS = frozenset({"create", "rename", "delete", "add_members", "remove_member"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("n", "create", "New", id="groups.create", tooltip="Create a group"),
        Binding("e,r", "rename", "Edit", key_display="e", id="groups.rename",  # e edits, as on every screen
                tooltip="Rename the selected group, or give, change or clear its rule (r too)"),
        Binding("d", "delete", "Delete", id="groups.delete", tooltip="Delete the selected group (asks first)"),
        Binding("a", "add_members", "Add members", id="groups.add_members", tooltip="Pick people to add"),
        Binding("x", "remove_member", "Remove member", id="groups.remove_member",
                tooltip="Remove the selected member (asks first)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, Group] = {}
        self.current: str | None = None  # group id

    def compose_body(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="left"):
                yield Label("Groups", id="groups-title", classes="heading")
                table = FitTable(id="groups", cursor_type="row", identifying=("name",))
                table.add_column("name", width=22, key="name")
                table.add_column("members", width=7, key="members")
                yield table
            with Vertical(id="right"):
                yield Static("", id="info")
                yield Input(placeholder="/ filter members", id="member-filter", compact=True)
                yield Label("", id="members-title", classes="heading")
                members = FitTable(id="members", cursor_type="row", identifying=("userName",), gives_way=("name",))
                members.add_column("userName", width=18)
                members.add_column("name", width=18)
                yield members

    def reload(self) -> None:
        self.load_groups()

    @work(exclusive=True, thread=True, exit_on_error=False, group="groups", description="reading groups")
    def load_groups(self) -> None:
        with self.console.state_lock:
            groups = self.service.groups()
            uses = {g.name: self.service.policies_using(g.name) for g in groups}
        self.post_message(ListLoaded("groups", groups, uses))

    @on(ListLoaded)
    def show_list(self, message: ListLoaded) -> None:
        if message.kind == "groups":
            self.show_groups(message.rows, message.extra)
        elif message.kind == "members":
            self.show_members(message.rows, message.extra)

    def show_groups(self, groups: list[Group], uses: dict[str, list[str]]) -> None:
        self.groups = {g.id: g for g in groups}
        self.uses = uses
        table = self.query_one("#groups", DataTable)
        current = self.current
        table.clear()
        for group in groups:
            table.add_row(group.name, str(len(group.members)), key=group.id)
        self.query_one("#groups-title", Label).update(f"Groups ({len(groups)})")
        if current in table.rows:
            table.move_cursor(row=table.get_row_index(current))
        elif groups:
            self.select(groups[0].id)
        else:
            self.current = None
            self.query_one("#info", Static).update("No group yet: press n to create one.")
            self.query_one("#members", DataTable).clear()

    @on(DataTable.RowHighlighted, "#groups")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self.select(event.row_key.value)

    def select(self, group_id: str) -> None:
        self.current = group_id
        group = self.groups.get(group_id)
        if group is None:
            return
        uses = getattr(self, "uses", {}).get(group.name, [])
        info = Text()  # what identifies the group and what it does first: a long description wraps last
        info.append(group.name, style="bold")
        info.append(f"\npolicies: {', '.join(uses) or 'none'}")
        info.append("\nrule: ", style="bold")
        info.append(f"{group.rule} (members follow it)" if group.rule else "none: members are added by hand")
        info.append(f"\n{group.description or 'no description'}", style="italic")
        self.query_one("#info", Static).update(info)
        self.refresh_bindings()  # a rule group offers no manual add/remove
        self.load_members(group_id, self.query_one("#member-filter", Input).value)

    @on(Input.Changed, "#member-filter")
    def _filter(self, event: Input.Changed) -> None:
        if self.current:
            self.load_members(self.current, event.value)

    @work(exclusive=True, thread=True, exit_on_error=False, group="members", description="reading members")
    def load_members(self, group_id: str, text: str) -> None:
        words = text.casefold().split()
        with self.console.state_lock:
            group = self.service.group_by_id(group_id)
            people = self.service.members(group) if group else []
        if words:
            people = [u for u in people if all(w in f"{u.userName} {u.displayName} {u.email}".casefold() for w in words)]
        if not get_current_worker().is_cancelled:
            self.post_message(ListLoaded("members", people[:WINDOW], (group_id, len(people))))

    def show_members(self, people: list[Any], extra: tuple[str, int]) -> None:
        group_id, total = extra
        if group_id != self.current:
            return
        table = self.query_one("#members", DataTable)
        table.clear()
        for user in people:
            table.add_row(user.userName, user.displayName, key=user.id)
        shown = f"first {len(people)} of {total}" if total > len(people) else str(total)
        self.query_one("#members-title", Label).update(f"Members ({shown})")

    @on(Input.Submitted, "#member-filter")
    def _to_members(self) -> None:
        self.set_focus(self.query_one("#members", DataTable))

    def on_key(self, event: events.Key) -> None:
        """↓ in the member filter reaches the member list (as in the people filter)."""
        if event.key == "down" and self.focused is self.query_one("#member-filter", Input):
            event.stop()
            self.set_focus(self.query_one("#members", DataTable))

    # ---- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in RULE_ACTIONS:
            group = self.groups.get(self.current or "")
            if group is not None and group.rule:
                return False
        return super().check_action(action, parameters)

    def selected_group(self) -> Group | None:
        group = self.groups.get(self.current or "")
        if group is None:
            self.notify("Select a group first.", severity="warning")
        return group

    def action_create(self) -> None:
        self.app.push_screen(GroupForm(None), self._saved)

    def action_rename(self) -> None:
        group = self.selected_group()
        if group:
            self.app.push_screen(GroupForm(group), self._saved)

    def _saved(self, group: Group | None) -> None:
        if group is not None:
            self.current = group.id
            self.console.state_changed(f"saved group {group.name}")

    def action_delete(self) -> None:
        group = self.selected_group()
        if group is None:
            return
        uses = self.uses.get(group.name, [])
        if uses:
            self.app.push_screen(NoticeModal(f"Group {group.name} is in use",
                                             f"Policies {', '.join(uses)} name it. Delete or change those policies "
                                             "first (screen 4); nothing was removed."))
            return
        body = (f"Group {group.name} ({len(group.members)} members) will be removed from the local state. "
                "The people stay. Groups pushed to applications are removed there by the next sync.")
        self.app.push_screen(ConfirmModal(f"Delete group {group.name}?", body, confirm_label=f"Delete {group.name}"),
                             lambda yes: self.delete(group.name) if yes else None)

    @work(exclusive=True, thread=True, exit_on_error=False, group="groups-write", description="deleting a group")
    def delete(self, name: str) -> None:
        with self.console.state_lock:
            self.service.delete_group(name, confirm=True)
        self.post_message(StateChanged(f"deleted group {name}"))

    def action_add_members(self) -> None:
        group = self.selected_group()
        if group:
            self.app.push_screen(PeoplePicker(f"Add members to {group.name}", exclude=set(group.members)),
                                 lambda ids: self.change(group.name, ids, True) if ids else None)

    def action_remove_member(self) -> None:
        group = self.selected_group()
        members = self.query_one("#members", DataTable)
        if group is None or not members.row_count:
            return
        user_id = members.coordinate_to_cell_key(members.cursor_coordinate).row_key.value
        user = self.service.user_by_id(user_id or "")
        if user is None:
            return
        body = (f"{user.displayName} ({user.userName}) leaves group {group.name}. The person stays. If no other "
                "group keeps them in scope, the next sync deprovisions their account in the applications of "
                f"policies {', '.join(self.uses.get(group.name, [])) or '(none)'}.")
        self.app.push_screen(ConfirmModal(f"Remove {user.userName} from {group.name}?", body, confirm_label=f"Remove {user.userName}"),
                             lambda yes: self.change(group.name, [ident(self.service, user)], False) if yes else None)

    @work(exclusive=True, thread=True, exit_on_error=False, group="groups-write", description="changing members")
    def change(self, name: str, identifiers: list[str], add: bool) -> None:
        try:
            with self.console.state_lock:
                self.service.change_members(name, identifiers, add=add)
        except BadInput as exc:  # e.g. a rule group (its rule decides its members): say so, nothing changed
            self.app.call_from_thread(self.app.push_screen, NoticeModal(exc.title, exc.hint or exc.detail))
            return
        verb = "added to" if add else "removed from"
        self.post_message(StateChanged(f"{len(identifiers)} {'person' if len(identifiers) == 1 else 'people'} {verb} {name}"))


class GroupForm(FormModal):
    """Create a group (group=None), or edit one: rename it, give it a rule, change or clear its rule (the live
    preview says who matches, who joins and leaves, and what clearing does to the members, before saving)."""

    CSS_PATH = ["forms.tcss", "groups.tcss"]

    def __init__(self, group: Group | None) -> None:
        super().__init__()
        self.group = group
        self.heading = f"Edit group {group.name}" if group else "Create a group"

    def compose_fields(self):  # type: ignore[no-untyped-def]
        yield from self.row("name", "Name *", Input(self.group.name if self.group else "", id="f-name", compact=True))
        if self.group is None:
            yield from self.row("description", "Description", Input(id="f-description", compact=True))
        placeholder = ('empty: manual · e.g. department == "Engineering"' if self.group is None or not self.group.rule
                       else "empty: clear the rule (members stay, added by hand)")
        yield from self.row("rule", "Rule", Input(self.group.rule if self.group else "", id="f-rule", compact=True,
                                                  placeholder=placeholder),
                            'Members follow the rule: fields and attributes with == != in startswith, and, or, '
                            'not, ( ). E.g. role == "owner" and status == "active". See docs/rules.md. Emptied on a '
                            'rule group, the group becomes a plain one: the members it has stay.')
        yield Static("", id="rule-preview")

    @on(events.Mount)
    def _preview_rule_in_force(self) -> None:
        if self.group is not None and self.group.rule:
            self.preview(self.group.rule)

    def submit(self) -> None:
        self.save(self.value("name"), "" if self.group else self.value("description"), self.value("rule") or None)

    # ---- the rule's live preview: computed in a worker, shown when it still matches what is typed ----------
    @on(Input.Changed, "#f-rule")
    def _rule_typed(self, event: Input.Changed) -> None:
        self.preview(event.value)

    @work(exclusive=True, thread=True, exit_on_error=False, group="rule-preview", description="previewing a rule")
    def preview(self, text: str) -> None:
        if not text.strip() and (self.group is None or not self.group.rule):
            self.post_message(RulePreviewed(text, None))
            return
        try:
            with self.console.state_lock:
                if get_current_worker().is_cancelled:
                    return  # a newer keystroke superseded this one
                if self.group is None:
                    found = self.service.preview_rule(text, limit=PREVIEW_NAMES)
                else:
                    found = self.service.preview_group_rule(self.group.name, text, limit=PREVIEW_NAMES)
        except BadInput as exc:
            self.post_message(RulePreviewed(text, None, rule_error(exc)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(RulePreviewed(text, found))

    @on(RulePreviewed)
    def _previewed(self, message: RulePreviewed) -> None:
        if message.text != self.query_one("#f-rule", Input).value:
            return  # stale: the operator typed on
        error = self.query_one("#error-rule", Static)
        error.update(Text("! " + message.error) if message.error else "")
        error.set_class(bool(message.error), "shown")
        self.query_one("#rule-preview", Static).update(preview_text(message.preview) if message.preview else "")

    @work(exclusive=True, thread=True, exit_on_error=False, group="group-form", description="saving a group")
    def save(self, name: str, description: str, rule: str | None = None) -> None:
        try:
            with self.console.state_lock:
                if self.group is None:
                    group = self.service.create_group(name, description, rule=rule)
                else:
                    group = self.service.edit_group(self.group.name, new_name=name, rule=rule,
                                                    clear_rule=rule is None and bool(self.group.rule))
        except IdConsoleError as exc:
            if exc.exit_code != 2:
                raise
            if rule is not None and exc.title.startswith("rule:"):
                self.post_message(FieldRejected("rule", rule_error(exc)))
            else:
                self.post_message(rejection(exc))
            return
        self.post_message(Saved(group))


def rule_error(exc: IdConsoleError) -> str:
    """A rule's mistake in one line with its position: `rule: expected a value at position 14`."""
    return exc.title


def preview_text(found: RulePreview) -> Text:
    """`12 people match: Ann Lee, Bo Chen, … (first 5)`."""
    text = Text()
    if found.outcome and not found.rule:  # a cleared rule: what happens to the members is all there is to say
        text.append(found.outcome[0].upper() + found.outcome[1:] + ".", style="bold")
        return text
    if found.outcome:
        text.append(found.outcome[0].upper() + found.outcome[1:] + ". ")
    text.append(f"{found.count:,} {'person matches' if found.count == 1 else 'people match'}", style="bold")
    if found.people:
        names = ", ".join(u.displayName or u.userName for u in found.people)
        text.append(f": {names}" + (" …" if found.count > len(found.people) else ""))
    return text


class PeoplePicker(ConsoleModal):
    """Search people and tick them; dismisses with the chosen identifiers (empty list or None: nothing)."""

    CSS_PATH = "groups.tcss"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel", tooltip="Close: nobody is added"),
        Binding("f2,ctrl+s", "done", "Add ticked", key_display="F2", id="picker.done",
                tooltip="Add the ticked people (also ctrl+s, Enter on the list, or Tab to Add)"),
    ]

    def __init__(self, title: str, exclude: set[str] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.exclude = exclude or set()
        self.chosen: dict[str, str] = {}  # user id -> identifier
        self.found = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="title")
            yield Input(placeholder="type a name, userName, e-mail, department…", id="search", compact=True)
            yield Label("", id="found")
            yield TickList(id="people")
            with Horizontal(id="buttons"):
                yield Button("Cancel (Esc)", id="cancel", compact=True)
                yield Button("Add 0 (F2)", id="add", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#search", Input))
        self.search("")

    def on_key(self, event: events.Key) -> None:
        """Enter on the list adds the ticked people (as Enter submits a form); Space ticks."""
        if event.key == "enter" and isinstance(self.focused, SelectionList):
            event.prevent_default()
            event.stop()
            self.action_done()

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        self.search(event.value)

    @on(Input.Submitted, "#search")
    def _to_list(self) -> None:
        self.set_focus(self.query_one("#people", SelectionList))

    @work(exclusive=True, thread=True, exit_on_error=False, group="picker", description="searching people")
    def search(self, text: str) -> None:
        with self.console.state_lock:
            if get_current_worker().is_cancelled:
                return
            people = [u for u in self.service.users(text, limit=WINDOW + len(self.exclude)) if u.id not in self.exclude]
            total = self.service.people_count()[0]
        self.post_message(PeopleFiltered(text, people[:WINDOW], len(people) > WINDOW, total))

    @on(PeopleFiltered)
    def _found(self, message: PeopleFiltered) -> None:
        if message.text != self.query_one("#search", Input).value:
            return
        box = self.query_one("#people", SelectionList)
        box.clear_options()
        svc = self.service
        box.add_options([(f"{u.userName:<24} {u.displayName}", ident(svc, u) + "\x00" + u.id, u.id in self.chosen)
                         for u in message.people])
        if box.option_count:
            box.highlighted = 0
        self.found = f"{len(message.people)} found" + (" (first 200: type more)" if message.more else "")
        self.update_counts()

    def update_counts(self) -> None:
        self.query_one("#found", Label).update(f"{self.found} · {len(self.chosen)} ticked · Space ticks, Enter adds")
        self.query_one("#add", Button).label = f"Add {len(self.chosen)} (F2)"

    @on(SelectionList.SelectionToggled)
    def _toggled(self, event: SelectionList.SelectionToggled) -> None:
        value = event.selection.value
        identifier, _, user_id = value.partition("\x00")
        if user_id in self.chosen:
            del self.chosen[user_id]
        else:
            self.chosen[user_id] = identifier
        self.update_counts()

    @on(Button.Pressed, "#add")
    def action_done(self) -> None:
        self.dismiss(list(self.chosen.values()))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
