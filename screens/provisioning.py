"""Provisioning: the plan grouped by application and action with field diffs; apply with live progress."""
from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Select, Static, Tree

from console.service import Operation, Plan
from screens.messages import PlanReady
from screens.syncing import SyncScreen

LEAVES = 300  # operations listed under one action at most (the CLI's `plan --json` has them all)
ALL = "__all__"
SMALL = 12  # plans this small open every action at once


class ProvisioningScreen(SyncScreen):
    MODE = "provisioning"
    CSS_PATH = "provisioning.tcss"
    AUTO_FOCUS = "#plan"
    HELP = """p makes the plan: for every application bound by a policy, what a sync would do and why, grouped
by application and action. Enter or → opens a group; the lower pane shows the selected operation's fields
(before → after); Tab moves into it to scroll. a applies exactly the plan shown, after a confirmation;
above an application's deletion threshold you type the number of deprovisions. c cancels a running sync.
Initial passwords are shown once."""
    WRITE_ACTIONS = frozenset({"apply", "cancel"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("p", "plan", "Plan", id="sync.plan", tooltip="Compute the plan (nothing is changed)"),
        Binding("a", "apply", "Apply", id="sync.apply", tooltip="Apply the plan shown (asks first)"),
        Binding("s", "scope", "Scope", id="sync.scope", tooltip="Plan all applications or one"),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="bar"):
            yield Select([("all applications", ALL)], value=ALL, allow_blank=False, id="scope", compact=True)
            yield Label("no plan yet: press p", id="plan-info")
        tree: Tree[Any] = Tree("plan", id="plan")
        tree.show_root = False
        yield tree
        with VerticalScroll(id="op-detail-box"):
            yield Static("", id="op-detail")
        yield from self.compose_progress()

    def reload(self) -> None:
        with self.console.state_lock:
            apps = self.service.targets()
        scope = self.query_one("#scope", Select)
        current = scope.value
        scope.set_options([("all applications", ALL)] + [(f"{a.name} ({a.kind})", a.name) for a in apps])
        scope.value = current if current in {ALL, *(a.name for a in apps)} else ALL
        if self.stale:
            self.query_one("#plan-info", Label).update(Text("the state changed since this plan: press p to plan again",
                                                            style="bold"))

    # ---- planning ---------------------------------------------------------------------------
    def action_plan(self, app: str = "") -> None:
        scope = self.query_one("#scope", Select)
        if app:
            self.reload()
            scope.value = app
        chosen = None if scope.value in (ALL, Select.NULL) else str(scope.value)
        self.query_one("#plan-info", Label).update("planning…")
        self.make_plan(chosen)

    def action_scope(self) -> None:
        self.set_focus(self.query_one("#scope", Select))

    @on(Select.Changed, "#scope")
    def _scope_changed(self, event: Select.Changed) -> None:
        if self.plan is not None or self.focused is event.select:  # the operator chose: plan that scope
            self.action_plan()
            self.set_focus(self.query_one("#plan", Tree))

    @on(PlanReady)
    def show_plan(self, message: PlanReady) -> None:
        self.plan = message.plan
        self.plan_version = self.console.state_version
        plan = message.plan
        tree = self.query_one("#plan", Tree)
        tree.clear()
        total = len(plan.operations)
        for app_plan in plan.apps:
            counts = ", ".join(f"{n} {k}" for k, n in app_plan.counts().items()) or "nothing to do"
            label = Text(app_plan.app, style="bold")
            label.append(f"  {counts}")
            if app_plan.threshold_exceeded():
                label.append(f"  ! {len(app_plan.deprovisions)} deprovisions exceed the threshold", style="bold")
            node = tree.root.add(label, data=app_plan, expand=len(plan.apps) == 1)
            by_action: dict[str, list[Operation]] = {}
            for op in app_plan.operations:
                by_action.setdefault(op.action, []).append(op)
            for action, ops in by_action.items():
                branch = node.add(Text(f"{action} ({len(ops)})"), data=action, expand=total <= SMALL)
                for op in ops[:LEAVES]:
                    branch.add_leaf(self.op_label(op), data=op)
                if len(ops) > LEAVES:
                    branch.add_leaf(f"… and {len(ops) - LEAVES} more (idconsole plan --json lists them all)")
            if app_plan.orphans:
                branch = node.add(f"orphans in the target ({len(app_plan.orphans)})")
                for orphan in app_plan.orphans[:LEAVES]:
                    owner = f" → adopted for {orphan['owner']}" if orphan.get("owner") else " (no local owner: left alone)"
                    branch.add_leaf(f"{orphan['name']}{owner}")
            if app_plan.drift:
                branch = node.add(f"drift ({len(app_plan.drift)})")
                for item in app_plan.drift[:LEAVES]:
                    branch.add_leaf(f"{item['person']}: {', '.join(item['fields'])}")
        if not plan.apps:
            tree.root.add_leaf("No application is bound by a policy yet: create one on screen 4.")
        tree.cursor_line = 0
        deprovisions = sum(len(a.deprovisions) for a in plan.apps)
        scope = message.scope or "all applications"
        info = f"{scope}: {total} operation(s)" + (f", {deprovisions} deprovision(s)" if deprovisions else "")
        self.query_one("#plan-info", Label).update(info)
        self.query_one("#op-detail", Static).update("Enter opens a group; select an operation to see its fields."
                                                    if total else "Nothing to do: the targets match the policies.")

    @staticmethod
    def op_label(op: Operation) -> Text:
        text = Text(op.person or op.group, style="bold" if op.action in ("deactivate", "delete") else "")
        if op.action == "update":
            text.append(f"  {', '.join(op.changes)}")
        elif op.action in ("member_add", "member_remove"):
            text.append(f"  {len(op.member_ids)} member(s)")
        if op.blocked:
            text.append(f"  [not applied: {op.blocked}]")
        return text

    @on(Tree.NodeHighlighted, "#plan")
    def _highlighted(self, event: Tree.NodeHighlighted[Any]) -> None:
        data = event.node.data
        detail = self.query_one("#op-detail", Static)
        if isinstance(data, Operation):
            detail.update(self.op_detail(data))

    def op_detail(self, op: Operation) -> Group:
        head = Text()
        head.append(f"{op.action} {op.person or op.group} in {op.app}", style="bold")
        head.append(f" — {op.reason}")
        if op.blocked:
            head.append(f"\nNOT APPLIED: {op.blocked}", style="bold")
        if not op.changes:
            return Group(head)
        changes = Table(box=None, padding=(0, 1), expand=True)
        changes.add_column("field", style="bold", width=18, no_wrap=True)
        changes.add_column("before", overflow="ellipsis", no_wrap=True, ratio=1)
        changes.add_column("after", overflow="ellipsis", no_wrap=True, ratio=1)
        for field, (before, after) in op.changes.items():
            changes.add_row(field, Text("—" if before in (None, "") else str(before)),
                            Text("→ " + ("—" if after in (None, "") else str(after))))
        return Group(head, changes)

    # ---- applying ---------------------------------------------------------------------------
    def action_apply(self) -> None:
        if self.plan is None:
            self.notify("Press p to make a plan first: you apply what you have seen.", severity="warning")
            return
        if self.stale:
            self.notify("The state changed since this plan was made: press p to plan again.", severity="warning")
            return
        self.confirm_apply(self.plan)

    def applied(self, result: Any) -> None:
        self.action_plan()

    def current_plan(self) -> Plan | None:
        return self.plan
