"""The provisioning report: queries, exports, and a search across what the state holds."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from console import export, reports
from console.errors import BadInput
from console.models import Application, Event, Group, Policy, User
from console.reports import ReportFilter
from console.service.base import ServiceBase
from console.validation import check_utf8

__all__ = ["ReportFilter", "ReportsMixin", "SearchResult"]


@dataclass
class SearchResult:
    people: list[User] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    apps: list[Application] = field(default_factory=list)


class ReportsMixin(ServiceBase):
    def report(self, flt: ReportFilter) -> list[Event]:
        return list(self.report_events(flt))

    def report_events(self, flt: ReportFilter) -> Iterator[Event]:
        """The report's events one at a time, newest first; the filter (and its application) is checked before the
        first is asked for."""
        for what, value in (("person", flt.person), ("search", flt.search), ("application", flt.app)):
            if value:
                check_utf8(what, value)
        if flt.app:
            self.app(flt.app)  # an unknown application is an error, not an empty report
        return reports.stream(self.store, flt)

    def report_malformed(self) -> int:
        """Lines of the report files that are not records (torn or of another shape): skipped, and counted here."""
        return self.store.events.malformed()

    def export_report(self, flt: ReportFilter, fmt: str, path: str | None = None, *, force: bool = False,
                      to: BinaryIO | None = None) -> tuple[int, Path | None]:
        """The report as CSV or JSON, written as the events are read (never all in memory): to a new private file
        when `path` is given, else to `to` (the CLI's standard output). Returns (event count, the file or None)."""
        events = self.report_events(flt)  # the filter is checked before anything is written
        if path is not None:
            return export.write_export(path, fmt, events, home=self.store.home, force=force)
        if to is None:
            raise BadInput("no place to write the export to", hint="give a file name")
        return export.write_to(to, fmt, events), None

    def export_passwords(self, passwords: dict[str, str], path: str) -> Path:
        """Initial passwords of a run ("app: account" -> password) to a new 0600 CSV file outside the home; the
        console offers it once. Nothing is recorded but that an export happened, never the passwords."""
        return export.write_passwords(path, passwords, home=self.store.home)

    def search(self, text: str, *, limit: int = 20) -> SearchResult:
        """Everything whose name contains every word of `text`: people, groups, policies, applications."""
        words = text.casefold().split()

        def hit(*values: str) -> bool:
            hay = " ".join(values).casefold()
            return all(w in hay for w in words)

        return SearchResult(
            people=[u for u in self.store.users if hit(u.employeeId, u.userName, u.displayName, *u.emails)][:limit],
            groups=[g for g in self.store.groups if hit(g.name, g.description)][:limit],
            policies=[p for p in self.store.policies if hit(p.name, p.app)][:limit],
            apps=[a for a in self.store.applications if hit(a.name, a.kind)][:limit],
        )
