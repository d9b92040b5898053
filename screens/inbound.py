"""An inbound (Bitbucket) source's endpoints and attribute mapping, as `idconsole endpoints|mapping …` does:
test & save an endpoint (its first page's fields), add or edit endpoints, edit the mapping, preview it."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Checkbox, DataTable, Input, Label, Select, Static, TextArea

from console.errors import BadInput, IdConsoleError
from console.service import MACROS, PAGINATIONS, Endpoint, Mapping, parse_pairs
from screens.base import ConsoleScreen
from screens.forms import FormModal, rejection
from screens.messages import EndpointTested, FieldRejected, ListLoaded, PreviewReady, Saved, StateChanged
from screens.modals import ConfirmModal, NoticeModal
from screens.fit import FitTable
from screens.widgets import TickList

MACRO_HELP = "macros: " + " ".join("{" + m + "}" for m in MACROS) + "; {{ and }} are literal braces"


def pairs(text: str, what: str) -> dict[str, str]:
    """NAME=VALUE lines (blank lines ignored), as the CLI's --param/--map; a line without `=` is refused."""
    return parse_pairs([line for line in text.splitlines() if line.strip()], what)


def with_field(exc: IdConsoleError, name: str) -> FieldRejected:
    """The error shown under the field `name` (BadInput names no field; the caller knows which it is)."""
    message = rejection(exc)
    return FieldRejected(name, message.text)


class InboundScreen(ConsoleScreen):
    """Pushed from the Applications screen on a Bitbucket source (key b)."""

    MODE = "apps"
    CSS_PATH = "inbound.tcss"
    AUTO_FOCUS = "#endpoints"
    HELP = """An inbound source reads people from its endpoints. The primary endpoint's records are the people;
joined endpoints add fields to them, matched on the primary key field. Test & save (t) reads the selected
endpoint's first page and keeps its fields: the mapping is checked against them, so test every endpoint once.

URLs, params and headers may use macros: {workspace} {base_url} {today} {now} {last_run} {app}.

The mapping sets each attribute from a source field (user.nickname) or a format
({user.display_name|first|lower}); filters: lower upper title first last butlast initial ascii trim nospace
default(x) truncate(n). v previews it on the first page of real records; a value that breaks a rule is marked
INVALID and such a record would be skipped by an import. Esc goes back to the applications."""
    WRITE_ACTIONS = frozenset({"test", "add", "edit", "mapping", "delete"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("t", "test", "Test & save", id="inbound.test",
                tooltip="Read the selected endpoint's first page, list its fields, save the endpoint"),
        Binding("n", "add", "Add", id="inbound.add", tooltip="Add an endpoint"),
        Binding("e", "edit", "Edit", id="inbound.edit", tooltip="Edit the selected endpoint"),
        Binding("d,delete", "delete", "Delete", id="inbound.delete", tooltip="Delete the selected endpoint (asks)"),
        Binding("m", "mapping", "Mapping", id="inbound.mapping", tooltip="Edit the attribute mapping"),
        Binding("v", "preview", "Preview", id="inbound.preview",
                tooltip="Apply the mapping to the first page of real records"),
        Binding("escape", "back", "Back", id="inbound.back", tooltip="Back to the applications"),
    ]

    def __init__(self, app_name: str) -> None:
        super().__init__()
        self.app_name = app_name
        self.endpoints: list[Endpoint] = []
        self.mapping: Mapping | None = None
        self.primary_attr = "employeeId"

    def compose_body(self) -> ComposeResult:
        yield Label(f"Inbound source {self.app_name}: endpoints", id="title", classes="heading")
        table = FitTable(id="endpoints", cursor_type="row", identifying=("name",),
                         gives_way=("paging", "role"))
        for label, width in (("name", 24), ("role", 7), ("url", 24), ("paging", 6), ("fields", 6)):
            table.add_column(label, width=width, key=label)
        yield table
        yield Static("", id="endpoint-url")
        yield Label("Mapping", id="mapping-title", classes="heading")
        mapping = FitTable(id="mapping", cursor_type="row", identifying=("target",))
        mapping.add_column("attribute", width=20, key="target")
        mapping.add_column("← source field or format", key="source")
        yield mapping
        yield Label("t test & save an endpoint · v preview the mapping", id="result-title", classes="heading")
        yield DataTable(id="result", cursor_type="row")

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, thread=True, exit_on_error=False, group="inbound", description="reading the endpoints")
    def load(self) -> None:
        with self.console.state_lock:
            endpoints = self.service.endpoints(self.app_name)
            mapping = self.service.mapping(self.app_name)
            primary_attr = self.service.primary_key
        self.post_message(ListLoaded("endpoints", endpoints, (mapping, primary_attr)))

    @on(DataTable.RowHighlighted, "#endpoints")
    def _endpoint_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted endpoint's whole request (its URL column gives way at 80 columns)."""
        endpoint = next((e for e in self.endpoints if e.id == event.row_key.value), None)
        line = Text()
        if endpoint is not None:
            line.append(f"{endpoint.method} ", style="bold")
            line.append(endpoint.url)
            if endpoint.params:
                line.append("  " + " ".join(f"{k}={v}" for k, v in endpoint.params.items()))
        self.query_one("#endpoint-url", Static).update(line)

    @on(ListLoaded)
    def show(self, message: ListLoaded) -> None:
        self.endpoints = message.rows
        self.mapping, self.primary_attr = message.extra
        table = self.query_one("#endpoints", DataTable)
        row = table.cursor_row
        table.clear()
        for e in self.endpoints:
            table.add_row(e.name, "primary" if e.primary else "joined", Text(e.url, overflow="ellipsis", no_wrap=True),
                          e.pagination, str(len(e.fields)) if e.fields else "-", key=e.id)
        if self.endpoints:
            table.move_cursor(row=min(max(row, 0), len(self.endpoints) - 1))
        mapping = self.mapping
        self.query_one("#mapping-title", Label).update(Text(
            f"Mapping {mapping.name!r}: {self.primary_attr} ← {mapping.primary_key} · match on {', '.join(mapping.match_on) or '-'}"
            f" · endpoints {', '.join(mapping.endpoints)}", overflow="ellipsis", no_wrap=True))
        rows = self.query_one("#mapping", DataTable)
        rows.clear()
        for target, source in mapping.mappings.items():
            rows.add_row(target, Text(source, overflow="ellipsis", no_wrap=True), key=target)

    def selected(self) -> Endpoint | None:
        table = self.query_one("#endpoints", DataTable)
        if not self.endpoints or not 0 <= table.cursor_row < len(self.endpoints):
            self.notify("Select an endpoint first.", severity="warning")
            return None
        return self.endpoints[table.cursor_row]

    def result_table(self, title: str, columns: list[tuple[str, int | None]]) -> DataTable:
        self.query_one("#result-title", Label).update(Text(title, overflow="ellipsis", no_wrap=True))
        table = self.query_one("#result", DataTable)
        table.clear(columns=True)
        for label, width in columns:
            table.add_column(label, width=width, key=label)
        return table

    # ---- endpoints ----------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_test(self) -> None:
        endpoint = self.selected()
        if endpoint is not None:
            self.notify(f"reading the first page of {endpoint.name}…", timeout=2)
            self.test(endpoint.name)

    @work(exclusive=True, exit_on_error=False, group="inbound-net", description="testing an endpoint")
    async def test(self, name: str) -> None:
        self.post_message(EndpointTested(await self.service.test_endpoint(self.app_name, name)))

    @on(EndpointTested)
    def tested(self, message: EndpointTested) -> None:
        tested = message.tested
        table = self.result_table(tested.summary, [("field", 32), ("sample value", None)])
        for name, value in tested.samples.items():
            table.add_row(name, Text(repr(value)[:60], no_wrap=True, overflow="ellipsis"), key=name)
        if tested.warnings:
            self.app.push_screen(NoticeModal(f"{tested.endpoint.name}: nothing to map", "\n".join(tested.warnings)))
        if tested.saved:
            self.console.state_changed(f"tested and saved {tested.endpoint.name}")

    def action_add(self) -> None:
        self.app.push_screen(EndpointForm(self.app_name, None), self._saved)

    def action_edit(self) -> None:
        endpoint = self.selected()
        if endpoint is not None:
            self.app.push_screen(EndpointForm(self.app_name, endpoint), self._saved)

    def _saved(self, what: str | None) -> None:
        if what:
            self.console.state_changed(what)

    def action_delete(self) -> None:
        endpoint = self.selected()
        if endpoint is None:
            return
        body = (f"Endpoint {endpoint.name!r} of {self.app_name} will be deleted from idconsole. The mapping keeps "
                "naming it until you edit the mapping; Bitbucket is not changed.")
        self.app.push_screen(ConfirmModal(f"Delete endpoint {endpoint.name}?", body, confirm_label=f"Delete {endpoint.name}"),
                             lambda yes: self.delete(endpoint.name) if yes else None)

    @work(exclusive=True, thread=True, exit_on_error=False, group="inbound-write", description="deleting an endpoint")
    def delete(self, name: str) -> None:
        with self.console.state_lock:
            self.service.delete_endpoint(self.app_name, name, confirm=True)
        self.post_message(StateChanged(f"deleted endpoint {name}"))

    # ---- mapping ------------------------------------------------------------------------------
    def action_mapping(self) -> None:
        if self.mapping is not None:
            self.app.push_screen(MappingForm(self.app_name, self.mapping), self._mapping_saved)

    def _mapping_saved(self, warnings: list[str] | None) -> None:
        if warnings is None:
            return
        self.console.state_changed(f"saved the mapping of {self.app_name}")
        if warnings:
            self.app.push_screen(NoticeModal("Mapping saved, with warnings", "\n".join(warnings) +
                                             "\n\nTest & save the endpoint that returns these fields, or fix them."))

    def action_preview(self) -> None:
        self.notify(f"reading {self.app_name} (nothing is changed)…", timeout=2)
        self.run_preview()

    @work(exclusive=True, exit_on_error=False, group="inbound-net", description="previewing the mapping")
    async def run_preview(self) -> None:
        records = await self.service.preview_mapping(self.app_name, limit=20)
        self.post_message(PreviewReady(self.app_name, records))

    @on(PreviewReady)
    def previewed(self, message: PreviewReady) -> None:
        bad = sum(len(r.issues) for r in message.records)
        table = self.result_table(f"Preview: {len(message.records)} records, {bad} invalid value(s)",
                                  [("key", 14), ("attribute", 18), ("value", 22), ("check", None)])
        for n, record in enumerate(message.records):
            issues = {issue.field: issue for issue in record.issues}
            for target, value in record.values.items():
                issue = issues.pop(target, None)
                check = Text(f"INVALID: {issue.rule}", style="bold") if issue else "ok"
                table.add_row(record.key, target, Text(value, no_wrap=True, overflow="ellipsis"), check,
                              key=f"{n}:{target}")
            for issue in issues.values():
                table.add_row(record.key or "-", issue.field, Text(str(issue.value or ""), no_wrap=True),
                              Text(f"INVALID: {issue.rule}", style="bold"), key=f"{n}:{issue.field}")


class EndpointForm(FormModal):
    """Add or edit an endpoint (as `idconsole endpoints set`); dismisses with what was saved."""

    CSS_PATH = ["forms.tcss", "inbound.tcss"]

    def __init__(self, app_name: str, endpoint: Endpoint | None) -> None:
        super().__init__()
        self.app_name = app_name
        self.endpoint = endpoint
        self.heading = f"Edit endpoint {endpoint.name} of {app_name}" if endpoint else f"Add an endpoint to {app_name}"

    def compose_fields(self) -> ComposeResult:
        e = self.endpoint or Endpoint(name="", app=self.app_name, url="", primary=False)
        yield from self.row("name", "Name", Input(e.name, id="f-name", compact=True), "unique within the source")
        url = Input(e.url, id="f-url", compact=True, placeholder="{base_url}/workspaces/{workspace}/permissions")
        yield from self.row("url", "URL", url, MACRO_HELP)
        params = "\n".join(f"{k}={v}" for k, v in e.params.items())
        yield from self.row("params", "Params (NAME=VALUE)", TextArea(params, id="f-params", compact=True),
                            "one query parameter per line; " + MACRO_HELP + ". Tab leaves the box.")
        headers = "\n".join(f"{k}={v}" for k, v in e.headers.items())
        yield from self.row("headers", "Headers (NAME=VALUE)", TextArea(headers, id="f-headers", compact=True),
                            "one request header per line, e.g. Accept=application/json; the Authorization header "
                            "comes from the application's secrets. Tab leaves the box.")
        yield from self.row("method", "Method", Input(e.method, id="f-method", compact=True),
                            "GET: Bitbucket's member and permission API is read-only")
        yield from self.row("pagination", "Pagination",
                            Select([(p, p) for p in PAGINATIONS], value=e.pagination, allow_blank=False,
                                   id="f-pagination", compact=True),
                            "page: ask page 1, 2, 3 …; next: follow `next`; none: one call")
        yield from self.row("page_param", "Page parameter", Input(e.page_param, id="f-page_param", compact=True),
                            "with pagination page: the query parameter that carries the page number")
        yield from self.row("pagelen", "Records per page", Input(str(e.pagelen), id="f-pagelen", compact=True),
                            "1 to 100")
        yield from self.row("max_pages", "Max pages", Input(str(e.max_pages), id="f-max_pages", compact=True),
                            "stop after this many pages (at least 1): a guard against a paging loop")
        yield from self.row("primary", "Primary", Checkbox("on" if e.primary else "off", e.primary, id="f-primary",
                                                           compact=True),
                            "on: its records are the people; off: joined onto them by the primary key field")

    def submit(self) -> None:
        e = Endpoint.from_doc(self.endpoint.to_doc()) if self.endpoint else Endpoint(
            name="", app=self.app_name, url="", primary=False)
        e.name = self.value("name")
        e.url = self.value("url")
        e.pagination = self.value("pagination") or "page"
        e.primary = bool(self.value("primary"))
        e.method = self.value("method") or "GET"
        e.page_param = self.value("page_param") or "page"
        for name in ("params", "headers"):
            try:
                setattr(e, name, pairs(self.query_one(f"#f-{name}", TextArea).text, name[:-1]))
            except BadInput as exc:
                self.post_message(with_field(exc, name))
                return
        for name, rule in (("pagelen", "1 to 100"), ("max_pages", "at least 1")):
            try:
                setattr(e, name, int(self.value(name)))
            except ValueError:
                self.post_message(FieldRejected(name, f"is not a whole number ({rule})"))
                return
        if not e.url:
            self.post_message(FieldRejected("url", "is required"))
            return
        self.save(e)

    @work(exclusive=True, thread=True, exit_on_error=False, group="endpoint-form", description="saving an endpoint")
    def save(self, endpoint: Endpoint) -> None:
        original = self.endpoint.name if self.endpoint else None
        old = self.endpoint
        removed = [k for k in (old.params if old else {}) if k not in endpoint.params] + \
                  [k for k in (old.headers if old else {}) if k not in endpoint.headers]
        try:
            with self.console.state_lock:
                endpoint = self.service.save_endpoint(
                    self.app_name, endpoint.name, original=original, url=endpoint.url, method=endpoint.method,
                    headers=endpoint.headers, params=endpoint.params, remove=removed, pagination=endpoint.pagination,
                    page_param=endpoint.page_param, pagelen=endpoint.pagelen, max_pages=endpoint.max_pages,
                    primary=endpoint.primary)
        except BadInput as exc:
            self.post_message(with_field(exc, self.field_of(exc, endpoint)))
            return
        self.post_message(Saved(f"saved endpoint {endpoint.name}"))

    @staticmethod
    def field_of(exc: BadInput, endpoint: Endpoint) -> str:
        """Which field Endpoint.check's message is about."""
        title = exc.title
        if "macro" in title:
            macro = title.split("{", 1)[1].split("}", 1)[0] if "{" in title else ""
            return "url" if "{" + macro + "}" in endpoint.url else "params"
        if "Authorization header" in title:
            return "headers"
        for name in ("pagelen", "pagination", "max_pages", "method"):
            if name in title:
                return name
        if "name" in title:
            return "name"
        return "_general"


class MappingForm(FormModal):
    """Edit the mapping (as `idconsole mapping set`); saved with save_mapping, dismisses with its warnings."""

    CSS_PATH = ["forms.tcss", "inbound.tcss"]

    def __init__(self, app_name: str, mapping: Mapping) -> None:
        super().__init__()
        self.app_name = app_name
        self.mapping = mapping
        self.heading = f"Mapping of {app_name} ({mapping.name})"

    def compose_fields(self) -> ComposeResult:
        m = self.mapping
        yield from self.row("name", "Name", Input(m.name, id="f-name", compact=True), "how the report names it")
        yield from self.row("description", "Description", Input(m.description, id="f-description", compact=True))
        yield from self.row("category", "Category", Input(m.category, id="f-category", compact=True))
        with self.console.state_lock:
            names = [e.name for e in self.service.endpoints(self.app_name)]
        names += [n for n in m.endpoints if n not in names]
        yield Label("Endpoints * (Space ticks)", classes="field-label")
        yield TickList(*[(n, n, n in m.endpoints) for n in names], id="f-endpoints")
        yield Static("", id="error-endpoints", classes="field-error")
        yield from self.row("primary_key", "Primary key field", Input(m.primary_key, id="f-primary_key", compact=True),
                            "the source field holding the primary key, e.g. user.account_id; every endpoint "
                            "of the mapping must return it (test & save them first)")
        yield from self.row("match_on", "Match on", Input(", ".join(m.match_on), id="f-match_on", compact=True),
                            "comma-separated attributes that correlate unknown keys with existing people")
        lines = "\n".join(f"{k}={v}" for k, v in m.mappings.items())
        yield from self.row("mappings", "ATTR=FORMAT lines", TextArea(lines, id="f-mappings", compact=True),
                            "one attribute per line, e.g. sAMAccountName={user.display_name|first|initial|lower}"
                            "{user.display_name|last|ascii|lower}. Tab leaves the box; F2 (or ctrl+s) saves.")

    def submit(self) -> None:
        m = Mapping.from_doc(self.mapping.to_doc())
        m.name = self.value("name")
        m.description = self.value("description")
        m.category = self.value("category")
        m.endpoints = list(self.query_one("#f-endpoints", TickList).selected)
        m.primary_key = self.value("primary_key")
        m.match_on = [part.strip() for part in self.value("match_on").split(",") if part.strip()]
        try:
            m.mappings = pairs(self.query_one("#f-mappings", TextArea).text, "mapping")
        except BadInput as exc:
            self.post_message(with_field(exc, "mappings"))
            return
        self.save(m)

    @work(exclusive=True, thread=True, exit_on_error=False, group="mapping-form", description="saving the mapping")
    def save(self, mapping: Mapping) -> None:
        removed = [k for k in self.mapping.mappings if k not in mapping.mappings]
        try:
            with self.console.state_lock:
                _, warnings = self.service.save_mapping(
                    self.app_name, name=mapping.name, description=mapping.description, category=mapping.category,
                    endpoints=mapping.endpoints, primary_key=mapping.primary_key, match_on=mapping.match_on,
                    mappings=mapping.mappings, unmap=removed)
        except BadInput as exc:
            title = exc.title
            field = ("primary_key" if "primary key field" in title or "no primary key" in title
                     else "name" if "needs a name" in title
                     else "endpoints" if "not found or not tested" in title or "selects no endpoint" in title
                     else "mappings")
            self.post_message(with_field(exc, field))
            return
        self.post_message(Saved(warnings))
