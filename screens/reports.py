"""The provisioning report: filters, results, an event's detail (before → after, error), CSV/JSON export."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from console.models import EVENT_STATUSES, Event
from console.service import ReportFilter
from screens.base import ConsoleModal, ConsoleScreen
from screens.messages import ReportExported, ReportQueried
from screens.fit import CutLine, FitTable, object_cell
from screens.timefmt import minute

SHOWN = 500
SPANS = (("any time", ""), ("last 24 hours", "24h"), ("last 7 days", "7d"), ("last 30 days", "30d"),
         ("from … to …", "custom"))
ACTIONS = ("create", "update", "deactivate", "reactivate", "delete", "group_create", "group_delete", "member_add",
           "member_remove", "import_create", "import_update", "import_leaver", "user_create", "user_update",
           "user_delete", "group_create_local", "group_rename_local", "group_delete_local", "member_add_local",
           "member_remove_local", "policy_create", "policy_enable", "policy_disable", "policy_delete", "app_create",
           "app_update", "app_delete")


@dataclass
class ExportRequest:
    path: str
    fmt: str


class ReportsScreen(ConsoleScreen):
    MODE = "reports"
    CSS_PATH = "reports.tcss"
    AUTO_FOCUS = "#events"
    FILTER = "#person"
    HELP = """The provisioning report: every change idconsole made or tried, newest first. Filter by person
(any part of a key, userName, e-mail or name they ever had, deleted people too; Enter applies), application, time span (or a custom from/to range with dates
such as 2026-11-01), action and status. Enter on an event shows its detail; x exports what the filters select."""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("f", "filters", "Filters", id="reports.filters", tooltip="Go to the filters"),
        Binding("x", "export", "Export", id="reports.export", tooltip="Write the filtered report to CSV or JSON"),
        Binding("r", "refresh", "Refresh", id="reports.refresh", tooltip="Query again"),
        Binding("escape", "to_events", "Results", show=False, id="reports.results", tooltip="Back to the results"),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="filters"):
            yield Input(placeholder="person, part of (Enter)", id="person", compact=True)
            yield Select([], prompt="any application", id="app", compact=True)
            yield Select([(label, value) for label, value in SPANS if value], prompt="any time", id="span",
                         compact=True)
        with Horizontal(classes="filters"):
            yield Select([(a, a) for a in ACTIONS], prompt="any action", id="action", compact=True)
            yield Select([(s, s) for s in EVENT_STATUSES], prompt="any status", id="status", compact=True)
            yield Input(placeholder="from (date)", id="from", compact=True, disabled=True)
            yield Input(placeholder="to (date)", id="to", compact=True, disabled=True)
        yield Label("", id="count")
        table = FitTable(id="events", cursor_type="row", identifying=("application", "person / object"),
                         gives_way=("action",), floors={"UTC": 11, "status": 7})
        # 80 columns: the year is left out (the detail shows the whole time); "MM-DD HH:MM" and "success"/"failure"
        # never give way, the action does (the line under the table shows it whole)
        # the application's header is "app": a header wider than its names ("-" for local events) costs the action
        for key, label in (("UTC", "UTC"), ("application", "app"), ("person / object", "person / object"),
                           ("action", "action"), ("status", "status")):
            table.add_column(label, key=key)
        yield table
        yield CutLine(table, id="events-cut")

    def on_mount(self) -> None:
        super().on_mount()
        self.events: list[Event] = []
        self.exact: str | None = None  # the person filter as a person's detail set it: that person only
        self.pending: Event | None = None  # an event to show once the results are in (from the dashboard)

    def reload(self) -> None:
        with self.console.state_lock:
            apps = self.service.apps()
        select = self.query_one("#app", Select)
        current = select.value
        select.set_options([(a.name, a.name) for a in apps])
        if current in {a.name for a in apps}:
            select.value = current
        self.requery()

    # ---- filters ----------------------------------------------------------------------------
    def current_filter(self, limit: int | None = SHOWN + 1) -> ReportFilter:
        def value(widget_id: str) -> str | None:
            widget = self.query_one(f"#{widget_id}")
            if isinstance(widget, Input):
                return widget.value.strip() or None
            assert isinstance(widget, Select)
            return None if widget.value is Select.NULL else str(widget.value)

        span = value("span")
        custom = span == "custom"
        person = value("person")
        exact = person is not None and person == self.exact
        return ReportFilter(person=person if exact else None, search=None if exact else person, app=value("app"), since=None if custom else span,
                            start=value("from") if custom else None, end=value("to") if custom else None,
                            action=value("action"), status=value("status"), limit=limit)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "span":
            custom = event.value == "custom"
            for widget_id in ("from", "to"):
                self.query_one(f"#{widget_id}", Input).disabled = not custom
            if custom:
                self.set_focus(self.query_one("#from", Input))
                return
        self.requery()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.requery()
        self.set_focus(self.query_one("#events", DataTable))

    def requery(self) -> None:
        self.run_query(self.current_filter())

    @work(exclusive=True, thread=True, exit_on_error=False, group="report", description="querying the report")
    def run_query(self, flt: ReportFilter) -> None:
        with self.console.state_lock:
            events = self.service.report(flt)
        self.post_message(ReportQueried(events[:SHOWN], len(events) > SHOWN))

    @on(ReportQueried)
    def show_events(self, message: ReportQueried) -> None:
        table = self.query_one("#events", DataTable)
        # the event under the cursor stays under it when it is among the new results (or the one asked to show)
        keep = self.pending or (self.events[table.cursor_row] if 0 <= table.cursor_row < len(self.events) else None)
        self.events = message.events
        table.clear()
        for n, event in enumerate(message.events):
            status = Text(event.status.upper(), style="bold") if event.status == "failure" else event.status
            table.add_row(minute(event.time)[5:], event.app or "-", object_cell(event.person, event.message), event.action,
                          status, key=str(n))
        count = f"first {SHOWN} events (export has them all)" if message.more else events_said(len(message.events))
        self.query_one("#count", Label).update(count + " · Enter: detail · x: export")
        if keep is not None and keep in self.events:
            table.move_cursor(row=self.events.index(keep))
        if self.pending is not None:
            self.set_focus(table)
            self.app.push_screen(EventModal(self.pending))
            self.pending = None

    def open_event(self, event: Event) -> None:
        """Show one event (from the dashboard): the filters cleared, its row selected and its detail open."""
        self.query_one("#person", Input).value = ""
        for widget_id in ("app", "span", "action", "status"):
            self.query_one(f"#{widget_id}", Select).clear()
        self.pending = event
        self.requery()

    @on(DataTable.RowSelected, "#events")
    def _detail(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None and self.events:
            self.app.push_screen(EventModal(self.events[int(event.row_key.value)]))

    # ---- actions ----------------------------------------------------------------------------
    def action_filters(self) -> None:
        self.set_focus(self.query_one("#person", Input))

    def action_to_events(self) -> None:
        self.set_focus(self.query_one("#events", DataTable))

    def action_refresh(self) -> None:
        self.requery()

    def action_span(self, span: str) -> None:
        self.query_one("#span", Select).value = span

    def action_app(self, name: str) -> None:
        self.reload()
        self.query_one("#app", Select).value = name

    def action_show_for(self, person: str, app: str = "") -> None:
        """Open the report of one person, exactly (and one application): used by a person's detail."""
        self.exact = person
        self.query_one("#person", Input).value = person
        select = self.query_one("#app", Select)
        if app:
            self.reload()
            select.value = app
        else:
            select.clear()
        self.requery()

    def action_export(self) -> None:
        self.app.push_screen(ExportModal(), self._export)

    def _export(self, request: ExportRequest | None) -> None:
        if request is not None:
            self.export(request, self.current_filter(limit=None))

    @work(exclusive=True, thread=True, exit_on_error=False, group="report-export", description="exporting the report")
    def export(self, request: ExportRequest, flt: ReportFilter) -> None:
        with self.console.state_lock:
            count, path = self.service.export_report(flt, request.fmt, request.path)
        self.post_message(ReportExported(str(path), count))

    @on(ReportExported)
    def _exported(self, message: ReportExported) -> None:
        self.notify(f"{events_said(message.count)} written to {message.path}", title="export done", timeout=6)


class EventModal(ConsoleModal):
    """One event: who, what, where, when, the change (before → after) and the error."""

    CSS_PATH = "reports.tcss"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,enter", "cancel", "Close", id="event.close", tooltip="Back to the results"),
    ]

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        e = self.event
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", width=10)
        grid.add_column()
        for label, value in (("time", e.time), ("action", e.action), ("status", e.status.upper() if e.status ==
                                                                                             "failure" else e.status),
                             ("app", e.app or "-"), ("person", e.person or "-"), ("operator", e.operator or "-"),
                             ("run", e.run or "-"), ("remote id", e.target_id or "-"), ("message", e.message or "-")):
            grid.add_row(label, Text(str(value)))
        if e.error:
            grid.add_row("ERROR", Text(e.error))
        changes = Table(box=None, padding=(0, 1), expand=True)
        changes.add_column("field", style="bold", no_wrap=True)
        changes.add_column("before", ratio=1)
        changes.add_column("after", ratio=1)
        for field, pair in e.changes.items():
            before, after = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
            changes.add_row(field, Text("—" if before in (None, "") else str(before)),
                            Text("→ " + ("—" if after in (None, "") else str(after))))
        with Vertical(id="dialog"):
            yield Label(f"{e.action} · {e.person or e.app or ''}", id="title")
            with VerticalScroll(id="body"):
                yield Static(grid)
                if e.changes:
                    yield Static(changes, id="changes")
            yield Button("Close (Enter)", id="close", compact=True)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class ExportModal(ConsoleModal):
    """Ask for the format and a new file's path; dismisses with an ExportRequest (the caller writes)."""

    CSS_PATH = "reports.tcss"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Export the filtered report", id="title")
            with Horizontal(classes="row"):
                yield Label("format", classes="label")
                yield Select([("CSV", "csv"), ("JSON", "json")], value="csv", allow_blank=False, id="fmt", compact=True)
            with Horizontal(classes="row"):
                yield Label("file", classes="label")
                yield Input(placeholder="~/idconsole-report.csv (a new file)", id="path", compact=True)
            yield Label("Enter writes · Escape cancels · an existing file is never overwritten", id="keys")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#path", Input))

    @on(Select.Changed, "#fmt")
    def _fmt(self, event: Select.Changed) -> None:
        path = self.query_one("#path", Input)
        path.placeholder = f"~/idconsole-report.{event.value} (a new file)"

    @on(Input.Submitted, "#path")
    def _go(self, event: Input.Submitted) -> None:
        fmt = str(self.query_one("#fmt", Select).value)
        path = event.value.strip() or f"~/idconsole-report.{fmt}"
        self.dismiss(ExportRequest(path, fmt))


def events_said(count: int) -> str:
    """`1 event`, `2 events`, `1,204 events` (as the CLI says it)."""
    return f"{count:,} event{'' if count == 1 else 's'}"
