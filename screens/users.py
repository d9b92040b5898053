"""People: a filtered window over any number of people, a person's detail, add/edit forms, deletion."""
from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Select, Static
from textual.worker import get_current_worker

from console.errors import IdConsoleError, UnknownObject
from console.models import USER_STATUSES, User
from console.service import Confirmation, ProvisionTrace
from screens.base import ConsoleScreen, ident
from screens.forms import FormModal, rejection
from screens.importing import Importer
from screens.messages import (
    FieldRejected,
    ImportFinished,
    PeopleCounted,
    PeopleFiltered,
    PersonLoaded,
    PersonProvisioned,
    Saved,
    StateChanged,
)
from screens.fit import FitTable
from screens.modals import ButtonAnswerModal, ConfirmModal, PasswordsModal

WINDOW = 200  # rows rendered at most: the table stays instant whatever the number of people
USER_FIELDS = (
    ("employeeId", "Employee ID"),
    ("userName", "User name"),
    ("givenName", "Given name"),
    ("familyName", "Family name"),
    ("displayName", "Display name"),
    ("email", "E-mail"),
    ("department", "Department"),
    ("title", "Title"),
    ("manager", "Manager"),
)


class UsersScreen(Importer, ConsoleScreen):
    MODE = "users"
    CSS_PATH = "users.tcss"
    AUTO_FOCUS = "#people"
    FILTER = "#filter"
    HELP = """Type in the filter to narrow the list: every word must appear in the person's key, userName,
name, e-mail, department or title (any order, any case). At most 200 rows are shown; type more to narrow.
Enter or ↓ in the filter moves to the list; / goes back to the filter. Enter on a person opens their detail.
i imports a .csv or .json file: you see what it would create and change, and which rows it rejects, first."""
    WRITE_ACTIONS = frozenset({"add", "edit", "delete", "import"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("n", "add", "Add", id="users.add", tooltip="Add a person"),
        Binding("i", "import", "Import", id="users.import", tooltip="Import people from a .csv or .json file"),
        Binding("e", "edit", "Edit", id="users.edit", tooltip="Edit the selected person"),
        Binding("d,delete", "delete", "Delete", id="users.delete", tooltip="Delete the selected person (asks first)"),
        Binding("down,escape", "focus_list", "List", show=False, id="users.list", tooltip="From the filter to the list"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ filter: name, userName, e-mail, key, department… (↓ or Esc: the list)",
                    id="filter", compact=True)
        yield Label("", id="count")
        table = FitTable(id="people", cursor_type="row", identifying=("key", "userName"),
                         gives_way=("department", "status", "name"))
        for label, width in (("key", 8), ("userName", 20), ("name", 20), ("department", 12), ("status", 6)):
            table.add_column(label, width=width, key=label)
        yield table

    def on_mount(self) -> None:
        super().on_mount()
        self.shown_text: str | None = None  # the filter text the table shows results for
        self.held: Any = None  # an action on the selection waiting for those results (`when_shown`)

    def reload(self) -> None:
        self.filter_people(self.query_one("#filter", Input).value)

    # ---- filtering --------------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _typed(self, event: Input.Changed) -> None:
        self.filter_people(event.value)

    @on(Input.Submitted, "#filter")
    def _to_table(self) -> None:
        self.set_focus(self.query_one("#people", DataTable))

    def action_focus_list(self) -> None:
        self.set_focus(self.query_one("#people", DataTable))

    @work(exclusive=True, thread=True, exit_on_error=False, group="people-filter", description="filtering people")
    def filter_people(self, text: str) -> None:
        worker = get_current_worker()
        with self.console.state_lock:
            if worker.is_cancelled:
                return  # a newer keystroke superseded this one while it waited
            found = self.service.find_people(text, limit=WINDOW, count_to=0)  # the rows first: "more than 200"
            total = self.service.people_count()[0]
        if not worker.is_cancelled:
            self.post_message(PeopleFiltered(text, found.people, found.more_than, total, found.summary(total, text)))
        if found.more_than and text.strip():
            with self.console.state_lock:  # then how many match, counted past the window (~10 ms for 10,000)
                counted = None if worker.is_cancelled else self.service.find_people(text, limit=0)
            if counted is not None and not worker.is_cancelled:
                self.post_message(PeopleCounted(text, counted.summary(total, text, shown=len(found.people))))
        with self.console.state_lock:
            if not worker.is_cancelled:  # the rows are on their way: the search gets ready for the first keystroke
                self.service.prepare_people_search()

    @on(PeopleFiltered)
    def show_people(self, message: PeopleFiltered) -> None:
        if message.text != self.query_one("#filter", Input).value:
            return  # stale: the operator typed on
        table = self.query_one("#people", DataTable)
        pk = self.service.primary_key
        selected = self.selected_id()
        table.clear()
        for user in message.people:
            status = user.status if user.active else Text(user.status.upper(), style="bold")
            table.add_row(user.key(pk), user.userName, user.displayName, user.department, status, key=user.id)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        self.query_one("#count", Label).update(message.summary)
        self.shown_text = message.text
        held, self.held = self.held, None
        if held is not None:
            held()

    @on(PeopleCounted)
    def show_count(self, message: PeopleCounted) -> None:
        if message.text == self.shown_text == self.query_one("#filter", Input).value:
            self.query_one("#count", Label).update(message.summary)

    # ---- selection --------------------------------------------------------------------------
    def selected_id(self) -> str | None:
        table = self.query_one("#people", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def selected_user(self) -> User | None:
        user_id = self.selected_id()
        if user_id is None:
            self.notify("Select a person first (filter, then ↓).", severity="warning")
            return None
        user = self.service.user_by_id(user_id)
        if user is None:
            self.notify("That person is gone; the list is refreshed.", severity="warning")
            self.reload()
        return user

    def when_shown(self, act: Any) -> bool:
        """Hold an action on the selection while the list still shows an earlier filter's results (the filter is
        answered in a worker): "john.smith2 ↓ ⏎" typed fast opens John Smith 2 once his row is in, not the first
        row of the list as it was. True when held (the newest action wins; it runs as the results arrive)."""
        if self.shown_text == self.query_one("#filter", Input).value:
            return False
        self.held = act
        return True

    @on(DataTable.RowSelected, "#people")
    def _open(self, event: DataTable.RowSelected) -> None:
        if self.when_shown(self.open_selected):
            return
        if event.row_key.value:
            self.app.push_screen(PersonScreen(event.row_key.value))

    def open_selected(self) -> None:
        user_id = self.selected_id()
        if user_id is not None:
            self.app.push_screen(PersonScreen(user_id))

    # ---- actions ----------------------------------------------------------------------------
    def action_add(self) -> None:
        self.app.push_screen(UserForm(None), self._saved)

    def action_import(self) -> None:
        self.start_file_import()

    @on(ImportFinished)
    def _imported(self, message: ImportFinished) -> None:
        self.import_finished(message)

    def action_edit(self) -> None:
        if self.when_shown(self.action_edit):
            return
        user = self.selected_user()
        if user:
            self.app.push_screen(UserForm(user), self._saved)

    def _saved(self, user: User | None) -> None:
        if user is not None:
            self.console.state_changed(f"saved {user.label()}")

    def action_delete(self) -> None:
        if self.when_shown(self.action_delete):
            return
        user = self.selected_user()
        if user:
            confirm_delete(self, user)


def confirm_delete(screen: ConsoleScreen, user: User, after: Any = None, owner: ConsoleScreen | None = None) -> None:
    """Ask (naming the person, their groups and accounts), then delete in a worker of `owner` (default `screen`):
    a screen that closes as the deletion starts (`after`) hands it to the screen that stays, which then shows it."""
    svc = screen.service
    with screen.console.state_lock:
        groups = [g.name for g in svc.groups_of(user)]
        accounts = [f"{link.app}: {link.remote_name or link.remote_id} ({link.state})"
                    for link in svc.links_of(user).values() if link.state != "deleted"]
    items = [f"groups: {', '.join(groups) or 'none'}"] + [f"account: {a}" for a in accounts]
    body = (f"{user.displayName} ({ident(svc, user)}) will be removed from the local state and from "
            f"{len(groups)} group(s). Their accounts are deprovisioned by the next sync, as each application's "
            "deprovision setting says (deactivate or delete).")

    def answered(yes: bool | None) -> None:
        if yes:
            delete_user(owner or screen, ident(svc, user), user.label())
            if after is not None:
                after()

    screen.app.push_screen(ConfirmModal(f"Delete {user.label()}?", body, confirm_label=f"Delete {user.userName}",
                                        items=items), answered)


def delete_user(screen: ConsoleScreen, identifier: str, label: str) -> None:
    """Run the deletion in a thread worker owned by `screen`."""

    def run() -> None:
        with screen.console.state_lock:
            screen.service.delete_user(identifier, confirm=True)
        screen.post_message(StateChanged(f"deleted {label}"))

    screen.run_worker(run, thread=True, exclusive=True, exit_on_error=False, group="users-write",
                      description=f"deleting {label}")


class PersonScreen(ConsoleScreen):
    """One person: fields, groups, and their account and its state in every application."""

    MODE = "users"
    CSS_PATH = "users.tcss"
    HELP = """A person's detail: their fields, their groups, and for every application their account, its state
and whether a policy entitles them to one. Enter on an application opens its report for this person.
p provisions this person now in every application bound to them: first a dry run shows each step (in scope
because…, matched to…, action); nothing is written until you Tab to the named button and press Enter."""
    WRITE_ACTIONS = frozenset({"edit", "delete", "provision"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,backspace", "back", "Back", id="person.back", tooltip="Back to the list"),
        Binding("e", "edit", "Edit", id="person.edit", tooltip="Edit this person"),
        Binding("d,delete", "delete", "Delete", id="person.delete", tooltip="Delete this person (asks first)"),
        Binding("r", "report", "Report", id="person.report", tooltip="All events of this person"),
        Binding("p", "provision", "Provision now", id="person.provision",
                tooltip="Provision this person now: a dry run first, applied only after a confirmation"),
    ]

    def __init__(self, user_id: str) -> None:
        super().__init__()
        self.user_id = user_id
        self.user: User | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="summary")
        yield Static("", id="fields")
        yield Static("", id="groups")
        yield Label("Accounts", classes="heading")
        table = FitTable(id="accounts", cursor_type="row", identifying=("application", "account"),
                         gives_way=("policy", "state"))
        for label, width in (("application", 16), ("account", 24), ("state", 12), ("policy", 20)):
            table.add_column(label, width=width)
        yield table

    def on_mount(self) -> None:
        super().on_mount()
        self.set_focus(self.query_one("#accounts", DataTable))

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, thread=True, exit_on_error=False, group="person", description="reading a person")
    def load(self) -> None:
        svc = self.service
        with self.console.state_lock:
            user = svc.user_by_id(self.user_id)
            if user is None:
                raise UnknownObject("this person was deleted", hint="press Escape to go back to the list")
            groups = sorted(g.name for g in svc.groups_of(user))
            mine = set(groups)
            accounts = []
            links = svc.links_of(user)
            for app in svc.apps():
                link = links.get(app.name)
                policies = [p.name for p in svc.policies()
                            if p.app == app.name and p.enabled and mine.intersection(p.groups)]
                accounts.append({"app": app.name, "kind": app.kind, "link": link,
                                 "entitled": bool(policies) and user.active, "policies": policies})
            manager = svc.find_user(user.manager) if user.manager else None
        label = f"{manager.displayName} ({user.manager})" if manager else user.manager
        self.post_message(PersonLoaded(user, groups, accounts, label))

    @on(PersonLoaded)
    def show(self, message: PersonLoaded) -> None:
        user = self.user = message.user
        svc = self.service
        summary = Text()
        summary.append(user.displayName, style="bold")
        summary.append(f"  {user.userName}  {ident(svc, user)}  ")
        summary.append(user.status.upper() if not user.active else user.status, style="bold" if not user.active else "")
        self.query_one("#summary", Static).update(summary)
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(style="bold", width=10)
        grid.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
        grid.add_column(style="bold", width=10)
        grid.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
        grid.add_row("department", user.department or "-", "title", user.title or "-")
        grid.add_row("manager", message.manager or "-", "source", user.source)
        mail = Table.grid(padding=(0, 1), expand=True)  # the e-mail identifies the person: a line of its own, whole
        mail.add_column(style="bold", width=10)
        mail.add_column(ratio=1, overflow="fold")
        mail.add_column(style="bold", width=7)
        mail.add_column(width=10)
        mail.add_row("e-mail", user.email or "-", "updated", user.updated[:10])
        self.query_one("#fields", Static).update(Group(mail, grid))
        self.query_one("#groups", Static).update(Text("groups: " + (", ".join(message.groups) or "none")))
        table = self.query_one("#accounts", DataTable)
        table.clear()
        for acc in message.accounts:
            link = acc["link"]
            if link is not None and link.state != "deleted":
                account, state = link.remote_name or link.remote_id, link.state
            elif acc["entitled"]:
                account, state = "-", "to create"
            else:
                account, state = "-", "none" if link is None else "deleted"
            if link is not None and link.state == "active" and not acc["entitled"]:
                state = "to deprovision"
            table.add_row(acc["app"], account, state, ", ".join(acc["policies"]) or "-", key=acc["app"])
        if not message.accounts:
            table.add_row("no application yet", "", "", "")

    @on(DataTable.RowSelected, "#accounts")
    async def _report(self, event: DataTable.RowSelected) -> None:
        if self.user and event.row_key.value:
            who = ident(self.service, self.user)
            await self.app.run_action(f"go('reports', \"show_for({who!r}, {event.row_key.value!r})\")")

    async def action_report(self) -> None:
        if self.user:
            await self.app.run_action(f"go('reports', \"show_for({ident(self.service, self.user)!r}, '')\")")

    def action_back(self) -> None:
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter":
            return True
        return super().check_action(action, parameters)

    def action_filter(self) -> None:
        """/ here goes back to the list with its filter focused: `/dylan` filters, it never presses d."""
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        if isinstance(below, UsersScreen):
            below.action_filter()
        self.dismiss(None)

    def action_edit(self) -> None:
        if self.user:
            self.app.push_screen(UserForm(self.user), self._saved)

    def _saved(self, user: User | None) -> None:
        if user is not None:
            self.console.state_changed(f"saved {user.label()}")

    def action_delete(self) -> None:
        if self.user:
            below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
            confirm_delete(self, self.user, after=lambda: self.dismiss(None),
                           owner=below if isinstance(below, ConsoleScreen) else None)

    # ---- provisioning this person now -----------------------------------------------------------
    def action_provision(self) -> None:
        if self.user is None:
            return
        if self.console.sync_running:
            self.notify("A sync is running already.", severity="warning")
            return
        self.notify(f"Planning {self.user.label()}…")
        self.provision(ident(self.service, self.user), None, dry_run=True)

    @work(exclusive=True, exit_on_error=False, group="provision", description="provisioning a person")
    async def provision(self, identifier: str, confirmation: Confirmation | None, *, dry_run: bool) -> None:
        try:
            trace = await self.service.provision_person(identifier, confirmation=confirmation, dry_run=dry_run)
        except BaseException as exc:
            self.post_message(PersonProvisioned(None, dry_run, error=exc if isinstance(exc, Exception) else None))
            raise
        passwords: dict[str, str] = {}
        if trace.result is not None:
            passwords = dict(trace.result.initial_passwords)
            trace.result.initial_passwords.clear()
        self.post_message(PersonProvisioned(trace, dry_run, passwords))

    @on(PersonProvisioned)
    def _provisioned(self, message: PersonProvisioned) -> None:
        passwords = message.take_passwords()
        if not message.dry_run:
            self.console.sync_running = False
        trace = message.trace
        if trace is None:
            return  # the error is shown by the worker's handler
        if message.dry_run:
            self.app.push_screen(TraceModal(trace, applied=False), lambda yes: self.apply(trace) if yes else None)
            return
        self.console.state_changed(f"provisioned {trace.person}")
        self.app.push_screen(TraceModal(trace, applied=True),
                             lambda _: self.app.push_screen(PasswordsModal(passwords)) if passwords else None)

    def apply(self, dry: ProvisionTrace) -> None:
        """The operator confirmed the dry run: apply it (deprovisions carry that confirmation)."""
        if self.console.sync_running:
            self.notify("A sync is running already.", severity="warning")
            return
        confirmation = Confirmation.interactive() if trace_deprovisions(dry) else Confirmation()
        self.console.sync_running = True
        self.provision(ident(self.service, self.user) if self.user else dry.person_id, confirmation, dry_run=False)


def trace_deprovisions(trace: ProvisionTrace) -> int:
    """How many of this person's accounts the trace's plan deprovisions."""
    plan = trace.plan
    return sum(len(a.deprovisions) for a in plan.apps) if plan is not None else 0


def trace_operations(trace: ProvisionTrace) -> int:
    plan = trace.plan
    return sum(1 for a in plan.apps for op in a.operations if not op.blocked) if plan is not None else 0


class TraceModal(ButtonAnswerModal):
    """A person's provisioning trace, application by application: scope, match, action, result. After the dry run
    a named button applies it (no letter does); after the run it only closes. Dismisses with True to apply."""

    CSS_PATH = "users.tcss"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="trace.cancel", tooltip="Close: nothing is applied"),
        Binding("right", "app.focus_next", "Next button", show=False, id="trace.next"),
        Binding("left", "app.focus_previous", "Previous button", show=False, id="trace.previous"),
    ]

    def __init__(self, trace: ProvisionTrace, *, applied: bool) -> None:
        super().__init__()
        self.trace = trace
        self.applied = applied
        self.operations = trace_operations(trace)
        self.deprovisions = trace_deprovisions(trace)

    def title_line(self) -> str:
        who = self.trace.person
        if self.applied:
            return f"Provisioned {who}: " + ("done" if self.trace.ok else "FAILED (see the steps)")
        if not self.operations:
            return f"Provision {who}: nothing to apply"
        return f"Provision {who}? Dry run: {self.operations} operation(s)" + (
            f", {self.deprovisions} DEPROVISION(S)" if self.deprovisions else "")

    def steps_text(self) -> Text:
        text = Text(no_wrap=False)
        app = None
        for step in self.trace.steps:
            if step.app != app:
                app = step.app
                text.append(("\n" if text.plain else "") + step.app + "\n", style="bold")
            mark = {True: "ok  ", False: "FAIL", None: "·   "}[step.ok]
            text.append(f"  {step.step:<7}{mark} ", style="bold" if step.ok is False else "")
            text.append(step.text + "\n")
        if not self.trace.steps:
            text.append("No application is bound to this person: nothing to do.")
        return text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_line()), id="title")
            with VerticalScroll(id="items"):
                yield Static(self.steps_text(), id="steps")
            if self.applied or not self.operations:
                yield Static("Enter or Escape closes", id="keys")
                with Horizontal(id="buttons"):
                    yield Button("Close (Esc)", id="no", compact=True)
            else:
                yield Static("Nothing is written yet. Tab to the button, then Enter · Escape cancels", id="keys")
                label = (f"Apply, deprovisioning {self.deprovisions}" if self.deprovisions
                         else f"Provision {self.trace.person}")
                with Horizontal(id="buttons"):
                    yield Button("Cancel (Esc)", id="no", compact=True)
                    yield Button(label, id="yes", variant="error" if self.deprovisions else "primary", compact=True)



class UserForm(FormModal):
    """Add a person (user=None) or edit one; errors appear next to the field the service names."""

    CSS_PATH = ["forms.tcss", "users.tcss"]

    def __init__(self, user: User | None) -> None:
        super().__init__()
        self.user = user
        self.heading = f"Edit {user.label()}" if user else "Add a person"

    def compose_fields(self):  # type: ignore[no-untyped-def]
        user = self.user
        for name, label in USER_FIELDS:
            value = ""
            if user is not None:
                value = user.email if name == "email" else str(getattr(user, name) or "")
            field = Input(value, id=f"f-{name}", compact=True,
                          placeholder="key, userName or e-mail of the manager" if name == "manager" else
                          ("from given and family name when empty" if name == "displayName" else ""))
            if user is not None and name == "employeeId":
                field.disabled = True  # the primary key identifies the person everywhere (links, report)
            required = name in ("employeeId", "userName")
            yield from self.row(name, label + (" *" if required else ""), field)
        if user is not None:
            yield from self.row("status", "Status", Select([(s, s) for s in USER_STATUSES], value=user.status,
                                                           allow_blank=False, id="f-status", compact=True),
                                "a leaver's accounts are deprovisioned by the next sync")

    def submit(self) -> None:
        fields = {name: self.value(name) for name, _ in USER_FIELDS}
        if self.user is not None:
            fields.pop("employeeId")
            fields["status"] = self.value("status")
        self.save(fields)

    @work(exclusive=True, thread=True, exit_on_error=False, group="user-form", description="saving a person")
    def save(self, fields: dict[str, Any]) -> None:
        svc = self.service
        try:
            with self.console.state_lock:
                if self.user is None:
                    user = svc.add_user(**fields)
                else:
                    user = svc.edit_user(ident(svc, self.user), **fields)
        except UnknownObject as exc:
            if fields.get("manager"):
                self.post_message(FieldRejected("manager", f"{exc.title} — {exc.hint}"))
                return
            raise
        except IdConsoleError as exc:
            if exc.exit_code != 2:
                raise
            self.post_message(rejection(exc))
            return
        self.post_message(Saved(user))
