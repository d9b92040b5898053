"""Dashboard: counts, every application's health, recent events, and whether a sync is running."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static

from console.models import Application
from console.service import AutomationSettings, AutomationStatus, ReportFilter
from screens.base import ConsoleScreen
from screens.messages import DashboardLoaded, Snapshot
from screens.reports import ReportsScreen
from screens.fit import CutLine, FitTable, object_cell
from screens.timefmt import RETIME, ago, until

RECENT = 50


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


class DashboardScreen(ConsoleScreen):
    MODE = "dashboard"
    CSS_PATH = "dashboard.tcss"
    HELP = """The dashboard sums up the state: people, groups, policies, applications with their health
(last connection test, last run and its failures) and the latest events of the report.
Press a number key to go to a screen; Enter on an application opens it, on an event its detail in the report."""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("r", "refresh", "Refresh", id="dashboard.refresh", tooltip="Read the state again"),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="dashboard.next",
                tooltip="Between the applications and the events"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static("Loading…", id="counts")
        yield Static("", id="automation")
        yield Label("Applications", classes="heading")
        table = FitTable(id="apps", cursor_type="row", zebra_stripes=False, identifying=("application",),
                         gives_way=("kind", "last test"))
        for label, width in (("application", 18), ("kind", 9), ("last test", 16), ("last run", 10), ("failures", 9)):
            table.add_column(label, width=width, key=label)
        yield table
        yield Label("Recent events", classes="heading")
        events = FitTable(id="events", cursor_type="row", identifying=("application", "person / object"),
                          gives_way=("action",), floors={"when": 8, "status": 7})  # "just now", "success"
        for key, label in (("when", "when"), ("application", "app"), ("person / object", "person / object"),
                           ("action", "action"), ("status", "status")):  # "app": its names are often "-"
            events.add_column(label, key=key)
        yield events
        yield CutLine(events, id="events-cut")

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "sync_running", self._sync_changed, init=False)
        self.snapshot = Snapshot()
        self.set_interval(RETIME, self.retime)

    def _sync_changed(self, running: bool) -> None:
        if not running:  # the navigation bar says a sync runs; when it ends, its counts show here
            self.reload()

    def reload(self) -> None:
        self.load()

    def action_refresh(self) -> None:
        self.load(fresh=True)  # asked for: systemd is asked again too

    @work(exclusive=True, thread=True, exit_on_error=False, group="dashboard", description="reading the dashboard")
    def load(self, fresh: bool = False) -> None:
        svc = self.service
        with self.console.state_lock:
            snapshot = Snapshot(groups=len(svc.groups()), policies=len(svc.policies()), apps=svc.apps())
            snapshot.people, snapshot.active = svc.people_count()
            snapshot.leavers = snapshot.people - snapshot.active
            snapshot.events = svc.report(ReportFilter(limit=RECENT))
            # automation: set up once a cycle ran or its settings were saved (automate set / install)
            set_up = svc.automation_settings().to_dict() != AutomationSettings().to_dict()
            status = svc.automation_status(fresh=fresh)
            snapshot.automation = status if set_up or status.last is not None else None
        self.post_message(DashboardLoaded(snapshot))

    @staticmethod
    def health(app: Application) -> str:
        test = app.last_test
        return "never" if not test else ("ok " if test.get("ok") else "FAILED ") + ago(test.get("time", ""))

    def retime(self) -> None:
        """Render the relative times again ("5m ago" goes on counting), rows and cursors left where they are."""
        apps, events = self.query_one("#apps", DataTable), self.query_one("#events", DataTable)
        for app in self.snapshot.apps:
            if app.name in apps.rows:
                apps.update_cell(app.name, "last test", self.health(app))
                apps.update_cell(app.name, "last run", ago(app.last_run["time"]) if app.last_run.get("time")
                                 else "never")
        for n, event in enumerate(self.snapshot.events):
            if str(n) in events.rows:
                events.update_cell(str(n), "when", ago(event.time))

    @on(DashboardLoaded)
    def show(self, message: DashboardLoaded) -> None:
        s = self.snapshot = message.snapshot
        counts = Text()
        counts.append(plural(s.people, "person", "people"), style="bold")
        counts.append(f" ({s.active:,} active, {plural(s.leavers, 'leaver', 'leavers')}) · ")
        for n, (value, one, many) in enumerate(((s.groups, "group", "groups"), (s.policies, "policy", "policies"),
                                               (len(s.apps), "app", "apps"))):
            counts.append(" · " if n else "")
            counts.append(plural(value, one, many), style="bold")
        self.query_one("#counts", Static).update(counts)
        line = self.query_one("#automation", Static)
        line.display = s.automation is not None
        line.update(automation_line(s.automation) if s.automation else "")
        apps = self.query_one("#apps", DataTable)
        apps.clear()
        for app in s.apps:
            health = self.health(app)
            run = app.last_run
            failures = int(run.get("counts", {}).get("failure", 0)) if run else 0
            apps.add_row(app.name, app.kind, health, ago(run["time"]) if run.get("time") else "never",
                         f"{failures} FAILED" if failures else "0", key=app.name)
        if not s.apps:
            apps.add_row("no application yet", "", "press 5, then n", "", "")
        events = self.query_one("#events", DataTable)
        events.clear()
        for n, event in enumerate(s.events):
            status = event.status.upper() if event.status == "failure" else event.status
            events.add_row(ago(event.time), event.app or "-", object_cell(event.person, event.message), event.action, status,
                           key=str(n))
        if not s.events:
            events.add_row("", "", "no events yet", "", "")

    @on(DataTable.RowSelected, "#apps")
    async def open_app(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            await self.app.run_action(f"go('apps', \"select({event.row_key.value!r})\")")

    @on(DataTable.RowSelected, "#events")
    async def open_report(self, event: DataTable.RowSelected) -> None:
        """The report, showing the event under the cursor (its row selected, its detail open)."""
        await self.app.run_action("go('reports')")
        key = event.row_key.value
        if key is not None and key.isdigit() and int(key) < len(self.snapshot.events) and \
                isinstance(self.app.screen, ReportsScreen):
            self.app.screen.open_event(self.snapshot.events[int(key)])


def automation_line(status: AutomationStatus) -> Text:
    """`Automation: last cycle 5m ago: SUCCESS · next in 10m · 2 held` (one line)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("Automation: ", style="bold")
    last = status.last
    if last is None:
        text.append("no cycle yet")
    else:
        outcome = str(last.get("outcome", "?"))
        text.append(f"last cycle {ago(str(last.get('started', '')))}: ")
        text.append(outcome.upper() if outcome != "success" else outcome, style="" if outcome == "success" else "bold")
    text.append(f" · next {until(status.next)} (every {status.every})")
    held = sum(int(h.get("count", len(h.get("people", [])))) for h in status.held)
    if held:
        text.append(" · ")
        text.append(f"{held} HELD", style="bold")
        text.append(" (8 Deletions)")
    else:
        text.append(" · 0 held")
    return text
