"""Applications: health, forms generated from each kind's settings, connection test, features."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Checkbox, DataTable, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from console.errors import IdConsoleError, NotConfigured
from console.models import DEPROVISION_MODES, FEATURES, Application, default_features
from console.service import Service, Setting, coerce, parse_int
from console.service import settings_for as service_settings
from screens.base import ConsoleModal, ConsoleScreen
from screens.forms import FormModal, rejection
from screens.importing import Importer
from screens.inbound import InboundScreen
from screens.messages import ConnectionChecked, ImportFinished, ListLoaded, Saved, StateChanged
from screens.modals import ConfirmModal, NoticeModal
from screens.fit import FitTable
from screens.timefmt import RETIME, ago

NUMBERS = ("threshold_count", "threshold_percent", "max_concurrency", "delete_grace_days")
NUMBER_ROWS = (
    ("threshold_count", "Confirm above (n)", "a run deprovisioning more accounts than this needs the number typed"),
    ("threshold_percent", "Confirm above (%)", "… or more than this share of the linked accounts"),
    ("max_concurrency", "Parallel requests", "requests in flight at once to this application"),
    ("delete_grace_days", "Delete after (days)", "with deprovision=delete: deactivate first, delete this many days later"),
)
FEATURE_HELP = {
    "create": "create accounts for people entitled by a policy",
    "update": "push changed attributes to existing accounts",
    "deactivate": "deactivate (and reactivate) accounts of people no longer entitled",
    "delete": "delete accounts (when deprovision is delete)",
    "groups": "create the policies' groups in the application",
    "memberships": "add and remove group members",
}


APP_FIELDS = frozenset(f.name for f in dataclasses.fields(Application))


def kind_settings(kind: str) -> tuple[list[Setting] | None, str]:
    """The kind's settings, or None and why (a connector not built yet is not an error here).

    Settings named like an Application field (features, deprovision, max_concurrency) are the form's own rows."""
    try:
        return [s for s in service_settings(kind) if s.name not in APP_FIELDS], ""
    except NotConfigured as exc:
        return None, exc.title


class AppsScreen(Importer, ConsoleScreen):
    MODE = "apps"
    CSS_PATH = "apps.tcss"
    AUTO_FOCUS = "#apps"
    HELP = """Applications are the targets (Atlassian SCIM, Active Directory, Microsoft 365) and sources
(Bitbucket) of idconsole. Health shows the last connection test and the last run with its failures.
Secrets are never stored: the state keeps a reference to an environment variable or a keyring entry.
On a Bitbucket source, i imports its members: a dry run shows joiners, movers and leavers first; b opens its
endpoints and attribute mapping (test & save an endpoint, edit the mapping, preview it on real records)."""
    WRITE_ACTIONS = frozenset({"add", "edit", "delete", "import"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("n", "add", "Add", id="apps.add", tooltip="Add an application"),
        Binding("e", "edit", "Edit", id="apps.edit", tooltip="Edit settings, secrets and features"),
        Binding("t", "test", "Test", id="apps.test", tooltip="Test the connection"),
        Binding("i", "import", "Import", id="apps.import",
                tooltip="Import people from the selected Bitbucket source (preview first)"),
        Binding("b", "inbound", "Inbound", id="apps.inbound",
                tooltip="Endpoints and attribute mapping of the selected Bitbucket source"),
        Binding("d,delete", "delete", "Remove", id="apps.delete", tooltip="Remove from idconsole (asks first)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.apps: dict[str, Application] = {}
        self.current: str | None = None
        self.testing: set[str] = set()

    def compose_body(self) -> ComposeResult:
        yield Label("Applications", id="title", classes="heading")
        table = FitTable(id="apps", cursor_type="row", identifying=("name",), gives_way=("kind", "last test"))
        for label, width in (("name", 16), ("kind", 9), ("last test", 18), ("last run", 10), ("failures", 9)):
            table.add_column(label, width=width, key=label)
        yield table
        yield Static("", id="detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(RETIME, self.retime)

    def retime(self) -> None:
        """Render the relative times again ("ok 5m ago" goes on counting), the cursor left where it is."""
        table = self.query_one("#apps", DataTable)
        for app in self.apps.values():
            if app.name in table.rows:
                table.update_cell(app.name, "last test", self.health(app))
                table.update_cell(app.name, "last run", ago(app.last_run["time"]) if app.last_run.get("time")
                                  else "never")

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, thread=True, exit_on_error=False, group="apps", description="reading applications")
    def load(self) -> None:
        with self.console.state_lock:
            apps = self.service.apps()
        self.post_message(ListLoaded("apps", apps))

    @on(ListLoaded)
    def show_apps(self, message: ListLoaded) -> None:
        apps: list[Application] = message.rows
        self.apps = {a.name: a for a in apps}
        table = self.query_one("#apps", DataTable)
        current = self.current
        table.clear()
        for app in apps:
            table.add_row(app.name, app.kind, self.health(app), ago(app.last_run["time"]) if app.last_run.get("time")
                          else "never", self.failures(app), key=app.name)
        self.query_one("#title", Label).update(f"Applications ({len(apps)})")
        if current in table.rows:
            table.move_cursor(row=table.get_row_index(current))
            self.show_detail(current)
        elif apps:
            self.show_detail(apps[0].name)
        else:
            self.query_one("#detail", Static).update("No application yet: press n to add one.")

    def health(self, app: Application) -> str | Text:
        if app.name in self.testing:
            return "testing…"
        test = app.last_test
        if not test:
            return "never tested"
        return "ok " + ago(test.get("time", "")) if test.get("ok") else Text("FAILED " + ago(test.get("time", "")),
                                                                             style="bold")

    @staticmethod
    def failures(app: Application) -> str | Text:
        failed = int(app.last_run.get("counts", {}).get("failure", 0)) if app.last_run else 0
        return Text(f"{failed} FAILED", style="bold") if failed else "0"

    @on(DataTable.RowHighlighted, "#apps")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self.show_detail(event.row_key.value)

    @on(DataTable.RowSelected, "#apps")
    def _selected(self) -> None:
        if self.check_action("edit", ()):
            self.action_edit()

    def show_detail(self, name: str) -> None:
        if self.current != name:
            self.current = name
            self.refresh_bindings()  # import is offered for sources only
        app = self.apps.get(name)
        if app is None:
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", width=14)
        grid.add_column()
        grid.add_row("kind", self.service.app_kinds().get(app.kind, app.kind))
        settings = ", ".join(f"{k}={v}" for k, v in app.settings.items()) or "-"
        grid.add_row("settings", Text(settings, overflow="fold"))  # whole, wrapped: the URL tells one directory from another
        grid.add_row("secrets", ", ".join(f"{k}=<{ref}>" for k, ref in app.secrets.items()) or "-")
        if self.service.is_target(app.kind):
            grid.add_row("features", " ".join(f"{k}={'on' if app.feature(k) else 'off'}" for k in FEATURES))
            grid.add_row("deprovision", f"{app.deprovision}; confirm above {app.threshold_count} accounts or "
                                        f"{app.threshold_percent}%")
        if app.last_test:
            grid.add_row("last test", Text(f"{'ok' if app.last_test.get('ok') else 'FAILED'}: "
                                           f"{app.last_test.get('message', '')}", overflow="fold"))  # whole: what to do is at its end
        if app.last_run:
            counts = ", ".join(f"{n} {k}" for k, n in sorted(app.last_run.get("counts", {}).items())) or "nothing to do"
            grid.add_row("last run", f"{ago(app.last_run.get('time', ''))}: {counts}")
        self.query_one("#detail", Static).update(grid)

    # ---- actions ----------------------------------------------------------------------------
    def selected(self) -> Application | None:
        app = self.apps.get(self.current or "")
        if app is None:
            self.notify("Select an application first.", severity="warning")
        return app

    def action_select(self, name: str) -> None:
        self.current = name
        table = self.query_one("#apps", DataTable)
        if name in table.rows:
            table.move_cursor(row=table.get_row_index(name))

    def action_add(self) -> None:
        self.app.push_screen(KindPicker(), lambda kind: self.app.push_screen(AppForm(kind, None), self._saved)
                             if kind else None)

    def action_edit(self) -> None:
        app = self.selected()
        if app:
            self.app.push_screen(AppForm(app.kind, app), self._saved)

    def _saved(self, result: tuple[Application, list[str]] | None) -> None:
        if result is None:
            return
        app, kept = result
        self.current = app.name
        self.console.state_changed(f"saved {app.name}")
        if kept:
            lines = "\n".join(f"  {path}" for path in kept)
            self.app.push_screen(NoticeModal(
                "No keyring here: kept in a private file",
                "This machine has no keyring backend, so the secret you typed is kept in a file of the idconsole "
                f"home that only its account can read (mode 0600), as systemd credentials are:\n\n{lines}\n\n"
                "The state holds only a reference to it (file:…). Replace it with env:VAR or keyring:… any time "
                "by editing the application."))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("import", "inbound"):
            app = self.apps.get(self.current or "")
            if app is None or self.service.is_target(app.kind):
                return False
        return super().check_action(action, parameters)

    def action_import(self) -> None:
        app = self.selected()
        if app is not None and self.service.is_source(app.kind):
            self.start_inbound_import(app.name)

    def action_inbound(self) -> None:
        app = self.selected()
        if app is not None and self.service.is_source(app.kind):
            self.app.push_screen(InboundScreen(app.name))

    def action_import_from(self, name: str) -> None:
        self.action_select(name)
        self.start_inbound_import(name)

    @on(ImportFinished)
    def _imported(self, message: ImportFinished) -> None:
        self.import_finished(message)

    def action_test(self, name: str = "") -> None:
        app = self.apps.get(name) if name else self.selected()
        if name and app is None:
            self.action_select(name)
            app = self.service.find_app(name)
        if app is None:
            return
        self.testing.add(app.name)
        self.show_apps(ListLoaded("apps", list(self.apps.values())))
        self.notify(f"testing {app.name}…", timeout=2)
        # one worker group per application: testing one does not cancel the test of another
        self.run_worker(self.test(app.name), exclusive=True, exit_on_error=False, group=f"apps-test:{app.name}",
                        description=f"testing the connection to {app.name}")

    async def test(self, name: str) -> None:
        try:
            report = await self.service.test_app(name)
        finally:
            self.testing.discard(name)
        self.post_message(ConnectionChecked(name, report))

    @on(ConnectionChecked)
    def checked(self, message: ConnectionChecked) -> None:
        self.console.state_changed()
        report = message.report
        if report.ok:
            self.notify(f"{message.app}: connection ok (details below the list)", timeout=3)
        else:
            details = "\n".join(f"{k}: {v}" for k, v in report.details.items())
            self.app.push_screen(NoticeModal(f"{message.app}: connection FAILED", report.message +
                                             (f"\n\n{details}" if details else "")))

    def action_delete(self) -> None:
        app = self.selected()
        if app is None:
            return
        with self.console.state_lock:
            links = self.service.linked_count(app.name)
            policies = self.service.policies_of_app(app.name)
        if policies:
            self.app.push_screen(NoticeModal(f"{app.name} is in use", f"Policies {', '.join(policies)} bind it. "
                                             "Delete those policies first (screen 4); nothing was removed."))
            return
        body = (f"{app.name} ({app.kind}) will be removed from idconsole with its {links} account link(s). Nothing "
                f"changes in {app.name} itself: its accounts stay as they are, unmanaged.")
        self.app.push_screen(ConfirmModal(f"Remove application {app.name}?", body, confirm_label=f"Remove {app.name}"),
                             lambda yes: self.delete(app.name) if yes else None)

    @work(exclusive=True, thread=True, exit_on_error=False, group="apps-write", description="removing an application")
    def delete(self, name: str) -> None:
        with self.console.state_lock:
            self.service.delete_app(name, confirm=True)
        self.post_message(StateChanged(f"removed {name}"))


class KindPicker(ConsoleModal):
    """Which kind of application to add; kinds whose connector is not in this build say so."""

    CSS_PATH = "apps.tcss"

    def compose(self) -> ComposeResult:
        options = []
        for kind, title in self.service.app_kinds().items():
            settings, why = kind_settings(kind)
            label = f"{kind:<10} {title}" + ("" if settings is not None else "  (not in this build)")
            options.append(Option(label, id=kind, disabled=settings is None))
        with Vertical(id="dialog"):
            yield Label("Add an application: which kind?", id="title")
            yield OptionList(*options, id="kinds")
            yield Label("Enter chooses · Escape cancels", id="keys")

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class AppForm(FormModal):
    """Add or edit an application; fields come from the kind's `SETTINGS`. Dismisses with (app, env vars)."""

    CSS_PATH = ["forms.tcss", "apps.tcss"]

    def __init__(self, kind: str, app: Application | None) -> None:
        super().__init__()
        self.kind = kind
        self.app_obj = app
        self.settings, self.unavailable = kind_settings(kind)
        self.heading = (f"Edit {app.name} ({kind})" if app else f"Add {Service.app_kinds().get(kind, kind)}")

    def compose_fields(self):  # type: ignore[no-untyped-def]
        app = self.app_obj
        if app is None:
            yield from self.row("name", "Name *", Input(id="f-name", compact=True, placeholder="e.g. bitbucket-cloud"),
                                "how the CLI, policies and the report call it; it cannot be renamed later")
        if self.settings is None:
            yield Static(Text(f"! {self.unavailable}. Its settings cannot be edited in this build; features and "
                              "deprovisioning below still can." if app else f"! {self.unavailable}."),
                         classes="unavailable")
        for setting in self.settings or []:
            yield from self.setting_row(setting)
        if self.service.is_source(self.kind) or (app is None and self.settings is None):
            return
        yield Label("Provisioning", classes="section")
        features = app.features if app else default_features()
        for feature in FEATURES:
            on = bool(features.get(feature, False))
            yield from self.row(f"features.{feature}", f"  {feature}",
                                Checkbox("on" if on else "off", on, id=f"f-features-{feature}", compact=True),
                                FEATURE_HELP[feature])
        yield from self.row("deprovision", "Deprovision by", Select(
            [(m, m) for m in DEPROVISION_MODES], value=app.deprovision if app else "deactivate", allow_blank=False,
            id="f-deprovision", compact=True), "deactivate keeps the account (reversible); delete removes it")
        defaults = Application(name="", kind=self.kind)
        for name, label, help_text in NUMBER_ROWS:
            yield from self.row(name, label, Input(str(getattr(app or defaults, name)), id=f"f-{name}", compact=True,
                                                   type="integer"), help_text)

    def setting_row(self, setting: Setting):  # type: ignore[no-untyped-def]
        app = self.app_obj
        label = setting.label + (" *" if setting.required else "")
        if setting.secret:
            ref = app.secrets.get(setting.name, "") if app else ""
            placeholder = "env:VAR, keyring:SVC/NAME, or the secret"
            help_text = (f"now {ref}; leave empty to keep it. " if ref else "") + \
                "A typed secret goes to the keyring, never to the state file."
            yield from self.row(setting.name, label, Input(id=f"f-{setting.name}", password=True, compact=True,
                                                          placeholder=placeholder), help_text)
            return
        current = app.settings.get(setting.name, setting.default) if app else setting.default
        if setting.kind == "bool":
            widget: Any = Checkbox("on" if current else "off", bool(current), id=f"f-{setting.name}", compact=True)
        elif setting.choices:
            widget = Select([(c, c) for c in setting.choices], value=current if current in setting.choices else
                            Select.NULL, id=f"f-{setting.name}", compact=True, allow_blank=not setting.required)
        else:
            text = ", ".join(current) if isinstance(current, list) else ("" if current is None else str(current))
            widget = Input(text, id=f"f-{setting.name}", compact=True,
                           type="integer" if setting.kind == "int" else "text",
                           placeholder="comma-separated" if setting.kind == "list" else "")
        yield from self.row(setting.name, label, widget, setting.help)

    # ---- saving -----------------------------------------------------------------------------
    def submit(self) -> None:
        values: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        for setting in self.settings or []:
            value = self.value(setting.name)
            if setting.secret:
                if value:
                    secrets[setting.name] = value
            else:
                values[setting.name] = value
        extra: dict[str, str] = {}
        if self.service.is_target(self.kind) and self.query("#f-deprovision"):
            for feature in FEATURES:
                extra[f"features.{feature}"] = "true" if self.value(f"features.{feature}") else "false"
            extra["deprovision"] = self.value("deprovision")
            for name in NUMBERS:
                extra[name] = self.value(name)
        name = self.app_obj.name if self.app_obj else self.value("name")
        self.save(name, values, secrets, extra)

    @work(exclusive=True, thread=True, exit_on_error=False, group="app-form", description="saving an application")
    def save(self, name: str, values: dict[str, Any], typed_secrets: dict[str, str], extra: dict[str, str]) -> None:
        try:
            for key in NUMBERS:
                if key in extra:
                    parse_int(key, extra[key])
            refs, kept = self.secret_refs(name, typed_secrets)
            with self.console.state_lock:
                app = self.write(name, values, refs, extra)
        except IdConsoleError as exc:
            if exc.exit_code != 2:
                raise
            self.post_message(rejection(exc))
            return
        self.post_message(Saved((app, kept)))

    def secret_refs(self, name: str, typed: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """References for typed secrets: given as references, or put in the keyring, else an env variable."""
        refs: dict[str, str] = {}
        kept: list[str] = []
        for secret, value in typed.items():
            refs[secret], where = self.service.secret_reference(name, secret, value)
            if where:
                kept.append(where)
        return refs, kept

    def write(self, name: str, values: dict[str, Any], refs: dict[str, str], extra: dict[str, str]) -> Application:
        svc = self.service
        if self.app_obj is None:
            settings = {}
            for setting in self.settings or []:
                raw = values.get(setting.name)
                if raw in ("", None) or setting.secret:
                    continue
                settings[setting.name] = raw if setting.kind == "bool" else coerce(setting, str(raw))
            app = svc.add_app(self.kind, name, settings, refs)
            changed = {k: v for k, v in extra.items() if str(self.default_of(k)).lower() != v.lower()}
            return svc.set_app(app.name, changed) if changed else app
        app = svc.app(self.app_obj.name)
        assignments: dict[str, str] = {}
        for setting in self.settings or []:
            if setting.secret or setting.name not in values:
                continue
            raw = values[setting.name]
            current = app.settings.get(setting.name, setting.default)
            text = ("true" if raw else "false") if setting.kind == "bool" else ("" if raw is None else str(raw))
            before = ", ".join(current) if isinstance(current, list) else ("" if current is None else str(current))
            if setting.kind == "bool":
                before = "true" if current else "false"
            if text != before:
                assignments[setting.name] = text
        for key, value in extra.items():
            if str(self.current_of(app, key)).lower() != value.lower():
                assignments[key] = value
        assignments.update({f"secrets.{k}": v for k, v in refs.items()})
        if not assignments:
            return app
        return svc.set_app(app.name, assignments)  # checked as on add; a refused value changes nothing

    def default_of(self, key: str) -> Any:
        return self.current_of(Application(name="", kind=self.kind), key)

    @staticmethod
    def current_of(app: Application, key: str) -> Any:
        if key.startswith("features."):
            return "true" if app.feature(key.split(".", 1)[1]) else "false"
        return getattr(app, key)
