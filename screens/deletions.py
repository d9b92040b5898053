"""Deletions: the queue of pending deprovisions, each confirmed or cancelled one by one; applying runs
a plan restricted to the confirmed ones."""
from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static

from console.service import Operation
from screens.messages import DeprovisionsQueued, PlanReady
from screens.fit import FitTable
from screens.syncing import SyncScreen, only

MARKS = {None: "?", True: "YES", False: "no"}


class DeletionsScreen(SyncScreen):
    MODE = "deletions"
    CSS_PATH = "deletions.tcss"
    AUTO_FOCUS = "#queue"
    HELP = """Every deprovision (deactivate or delete) the current plan would apply, for review one by one.
y confirms the selected one, n cancels it (it stays pending and is not applied now). a applies only the
confirmed ones, after a last confirmation that names them; nothing else of the plan is applied."""
    WRITE_ACTIONS = frozenset({"confirm_one", "cancel_one", "apply", "cancel"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("y", "confirm_one", "Confirm", id="deletions.confirm", tooltip="Confirm the selected deprovision"),
        Binding("n", "cancel_one", "Don't", id="deletions.cancel", tooltip="Cancel the selected deprovision"),
        Binding("a", "apply", "Apply confirmed", id="deletions.apply", tooltip="Apply only the confirmed ones"),
        Binding("r", "refresh", "Re-plan", id="deletions.refresh", tooltip="Plan again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Operation] = []
        self.marks: dict[str, bool] = {}

    def compose_body(self) -> ComposeResult:
        yield Label("planning…", id="info")
        table = FitTable(id="queue", cursor_type="row", identifying=("application", "person"),
                         gives_way=("why", "action"), floors={"action": 10})  # "deactivate" whole
        for label, width in (("ok?", 3), ("application", 16), ("action", 10), ("person", 18), ("why", 21)):
            table.add_column(label, width=width, key=label)
        yield table
        yield Static("", id="detail")
        yield from self.compose_progress()

    def reload(self) -> None:
        if not self.console.sync_running:
            self.action_refresh()

    def action_refresh(self) -> None:
        self.query_one("#info", Label).update("planning…")
        self.make_plan(None)

    @on(PlanReady)
    def _planned(self, message: PlanReady) -> None:
        self.plan = message.plan
        self.plan_version = self.console.state_version
        self.post_message(DeprovisionsQueued(message.plan, self.service.pending_deprovisions(message.plan)))

    @on(DeprovisionsQueued)
    def show_queue(self, message: DeprovisionsQueued) -> None:
        self.pending = message.pending
        keys = {op.key for op in self.pending}
        self.marks = {k: v for k, v in self.marks.items() if k in keys}
        table = self.query_one("#queue", DataTable)
        table.clear()
        for op in self.pending:
            table.add_row(self.mark(op), op.app, op.action, op.person, op.reason, key=op.key)
        self.update_info()
        if not self.pending:
            self.query_one("#detail", Static).update("No deprovision is pending: nobody lost their entitlement.")

    def mark(self, op: Operation) -> Text:
        value = self.marks.get(op.key)
        return Text(MARKS[value], style="bold" if value else "")

    def update_info(self) -> None:
        confirmed = sum(1 for v in self.marks.values() if v)
        undecided = len(self.pending) - len(self.marks)
        self.query_one("#info", Label).update(
            f"{len(self.pending)} pending deprovision(s): {confirmed} confirmed, {undecided} to decide")

    @on(DataTable.RowHighlighted, "#queue")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        op = self.op_for(event.row_key.value)
        if op is not None:
            self.query_one("#detail", Static).update(Text(
                f"{op.action} the account of {op.person} in {op.app} (remote id {op.remote_id or '-'})\n"
                f"why: {op.reason}"))

    def op_for(self, key: Any) -> Operation | None:
        return next((op for op in self.pending if op.key == key), None)

    def selected(self) -> Operation | None:
        table = self.query_one("#queue", DataTable)
        if not table.row_count:
            return None
        return self.op_for(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def set_mark(self, value: bool) -> None:
        op = self.selected()
        if op is None:
            return
        self.marks[op.key] = value
        table = self.query_one("#queue", DataTable)
        table.update_cell(op.key, "ok?", self.mark(op))
        self.update_info()
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_confirm_one(self) -> None:
        self.set_mark(True)

    def action_cancel_one(self) -> None:
        self.set_mark(False)

    def action_apply(self) -> None:
        confirmed = {k for k, v in self.marks.items() if v}
        if self.plan is None or not confirmed:
            self.notify("Confirm at least one deprovision first (y).", severity="warning")
            return
        if self.stale:
            self.notify("The state changed since this queue was made: press r to plan again.", severity="warning")
            return
        self.confirm_apply(only(self.plan, confirmed))

    def applied(self, result: Any) -> None:
        self.marks = {k: v for k, v in self.marks.items() if v is False}  # "don't" stays decided this session
        self.action_refresh()
