"""Policies: application + groups + login method; enable/disable; who is in scope; delete (asks first)."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Label, Select, SelectionList, Static

from console.errors import IdConsoleError, ValidationError
from console.models import LOGIN_METHODS, Policy
from screens.base import ConsoleScreen
from screens.forms import FormModal, rejection
from screens.messages import ListLoaded, Saved, StateChanged
from screens.widgets import TickList
from screens.fit import FitTable
from screens.modals import ConfirmModal

SCOPE_WINDOW = 200


class PoliciesScreen(ConsoleScreen):
    MODE = "policies"
    CSS_PATH = "policies.tcss"
    AUTO_FOCUS = "#policies"
    HELP = """A policy gives every active member of its groups an account in its application, with its login
method (sso or password). Disabled policies entitle nobody: the next sync deprovisions accounts no other
policy keeps. The lower pane previews who is in scope of the selected policy."""
    WRITE_ACTIONS = frozenset({"create", "edit", "toggle", "delete"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("n", "create", "New", id="policies.create", tooltip="Create a policy"),
        Binding("e", "edit", "Edit", id="policies.edit",
                tooltip="Change the selected policy's name, application, groups or login method"),
        Binding("space,t", "toggle", "Enable/disable", key_display="space", id="policies.toggle",
                tooltip="Enable or disable the selected policy"),
        Binding("d,delete", "delete", "Delete", id="policies.delete", tooltip="Delete the selected policy (asks first)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.policies: dict[str, Policy] = {}
        self.current: str | None = None
        self.counts: dict[str, int] = {}

    def compose_body(self) -> ComposeResult:
        yield Label("Policies", id="title", classes="heading")
        table = FitTable(id="policies", cursor_type="row", identifying=("name", "application"),
                         gives_way=("groups", "login"))
        for label, width in (("name", 18), ("application", 16), ("groups", 18), ("login", 8), ("on", 3)):
            table.add_column(label, width=width, key=label)
        yield table
        with Vertical(id="scope-pane"):
            yield Label("", id="scope-title", classes="heading")
            scope = FitTable(id="scope", cursor_type="row", identifying=("userName",),
                             gives_way=("department", "name"))
            for label, width in (("userName", 22), ("name", 24), ("department", 16)):
                scope.add_column(label, width=width)
            yield scope

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, thread=True, exit_on_error=False, group="policies", description="reading policies")
    def load(self) -> None:
        with self.console.state_lock:
            policies = self.service.policies()
            counts = {p.id: len(self.service.in_scope(p)) for p in policies}
        self.post_message(ListLoaded("policies", policies, counts))

    @on(ListLoaded)
    def show_list(self, message: ListLoaded) -> None:
        if message.kind == "policies":
            self.show_policies(message.rows, message.extra)
        elif message.kind == "scope":
            self.show_scope(*message.extra, message.rows)

    def show_policies(self, policies: list[Policy], counts: dict[str, int]) -> None:
        self.policies = {p.id: p for p in policies}
        self.counts = counts
        table = self.query_one("#policies", DataTable)
        current = self.current
        table.clear()
        for p in policies:
            table.add_row(p.name, p.app, ", ".join(p.groups), p.login_method,
                          "yes" if p.enabled else Text("NO", style="bold"), key=p.id)
        self.query_one("#title", Label).update(f"Policies ({len(policies)})")
        if current in table.rows:
            table.move_cursor(row=table.get_row_index(current))
            self.select(current)
        elif policies:
            self.select(policies[0].id)
        else:
            self.current = None
            self.query_one("#scope-title", Label).update("No policy yet: press n to create one.")
            self.query_one("#scope", DataTable).clear()

    @on(DataTable.RowHighlighted, "#policies")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self.select(event.row_key.value)

    def select(self, policy_id: str) -> None:
        self.current = policy_id
        self.load_scope(policy_id)

    @work(exclusive=True, thread=True, exit_on_error=False, group="scope", description="reading who is in scope")
    def load_scope(self, policy_id: str) -> None:
        policy = self.policies.get(policy_id)
        if policy is None:
            return
        with self.console.state_lock:
            people = self.service.in_scope(policy)
        self.post_message(ListLoaded("scope", people[:SCOPE_WINDOW], (policy_id, len(people))))

    def show_scope(self, policy_id: str, total: int, people: list) -> None:  # type: ignore[type-arg]
        if policy_id != self.current:
            return
        policy = self.policies[policy_id]
        shown = f"first {len(people)} of {total}" if total > len(people) else str(total)
        state = "" if policy.enabled else " — DISABLED: nobody gets an account from it"
        self.query_one("#scope-title", Label).update(f"In scope of {policy.name} → {policy.app}: {shown}{state}")
        scope = self.query_one("#scope", DataTable)
        scope.clear()
        for user in people:
            scope.add_row(user.userName, user.displayName, user.department, key=user.id)

    # ---- actions ----------------------------------------------------------------------------
    def selected(self) -> Policy | None:
        policy = self.policies.get(self.current or "")
        if policy is None:
            self.notify("Select a policy first.", severity="warning")
        return policy

    def action_create(self) -> None:
        self.app.push_screen(PolicyForm(), self._saved)

    def action_edit(self) -> None:
        policy = self.selected()
        if policy is not None:
            self.app.push_screen(PolicyForm(policy), self._saved)

    @on(DataTable.RowSelected, "#policies")
    def _open(self) -> None:
        if self.check_action("edit", ()):
            self.action_edit()

    def _saved(self, policy: Policy | None) -> None:
        if policy is not None:
            self.current = policy.id
            self.console.state_changed(f"saved policy {policy.name}")

    def action_toggle(self) -> None:
        policy = self.selected()
        if policy is None:
            return
        if policy.enabled:
            body = (f"Policy {policy.name} stops entitling its {self.counts.get(policy.id, 0)} people to {policy.app}. "
                    "The next sync deprovisions the accounts no other policy keeps.")
            self.app.push_screen(ConfirmModal(f"Disable {policy.name}?", body, confirm_label=f"Disable {policy.name}"),
                                 lambda yes: self.set_enabled(policy.name, False) if yes else None)
        else:
            self.set_enabled(policy.name, True)

    @work(exclusive=True, thread=True, exit_on_error=False, group="policies-write", description="switching a policy")
    def set_enabled(self, name: str, enabled: bool) -> None:
        with self.console.state_lock:
            self.service.set_policy_enabled(name, enabled)
        self.post_message(StateChanged(f"{name} {'enabled' if enabled else 'disabled'}"))

    def action_delete(self) -> None:
        policy = self.selected()
        if policy is None:
            return
        body = (f"Policy {policy.name} ({policy.app} ← {', '.join(policy.groups)}) will be removed from the local "
                f"state. The next sync deprovisions, in {policy.app}, the accounts of its "
                f"{self.counts.get(policy.id, 0)} people that no other policy keeps.")
        self.app.push_screen(ConfirmModal(f"Delete policy {policy.name}?", body, confirm_label=f"Delete {policy.name}"),
                             lambda yes: self.delete(policy.name) if yes else None)

    @work(exclusive=True, thread=True, exit_on_error=False, group="policies-write", description="deleting a policy")
    def delete(self, name: str) -> None:
        with self.console.state_lock:
            self.service.delete_policy(name, confirm=True)
        self.post_message(StateChanged(f"deleted policy {name}"))


class PolicyForm(FormModal):
    """Create a policy, or edit one (`policy`): name, application (targets only), groups (tick them), login method."""

    CSS_PATH = ["forms.tcss", "policies.tcss"]

    def __init__(self, policy: Policy | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.heading = f"Edit policy {policy.name}" if policy else "Create a policy"
        self.save_label = "Save" if policy else "Create"

    def compose_fields(self):  # type: ignore[no-untyped-def]
        policy = self.policy
        with self.console.state_lock:
            apps = self.service.targets()
            groups = self.service.groups()
        yield from self.row("name", "Name *", Input(policy.name if policy else "", id="f-name", compact=True))
        yield from self.row("app", "Application *", Select([(f"{a.name} ({a.kind})", a.name) for a in apps],
                                                            value=policy.app if policy else Select.NULL,
                                                            id="f-app", compact=True, prompt="choose a target"),
                            ("the next sync moves the accounts: created in the new application, deprovisioned in "
                             "the old one" if policy else "") if apps else "no target application yet: add one on "
                                                                            "screen 5")
        yield from self.row("login_method", "Login method", Select([(m, m) for m in LOGIN_METHODS],
                                                                   value=policy.login_method if policy else "sso",
                                                                   allow_blank=False, id="f-login_method",
                                                                   compact=True))
        chosen = set(policy.groups) if policy else set()
        with Vertical(id="groups-box"):
            yield Label("Groups * (Space ticks)", classes="field-label")
            yield TickList(*[(f"{g.name} ({len(g.members)})", g.name, g.name in chosen) for g in groups],
                           id="f-groups")
        yield Static("", id="error-groups", classes="field-error")

    def submit(self) -> None:
        app = self.value("app")
        groups = list(self.query_one("#f-groups", SelectionList).selected)
        self.save(self.value("name"), app or "", groups, self.value("login_method") or "sso")

    @work(exclusive=True, thread=True, exit_on_error=False, group="policy-form", description="saving a policy")
    def save(self, name: str, app: str, groups: list[str], login_method: str) -> None:
        try:
            if not app:
                raise ValidationError("app", "", "is required: choose the application")
            with self.console.state_lock:
                if self.policy is None:
                    policy = self.service.create_policy(name, app, groups, login_method)
                else:
                    policy = self.service.edit_policy(self.policy.name, new_name=name, app=app, groups=groups,
                                                      login_method=login_method)
        except IdConsoleError as exc:
            if exc.exit_code != 2:
                raise
            self.post_message(rejection(exc))
            return
        self.post_message(Saved(policy))
