"""Past-tense facts that workers post to their screen; `@on` handlers turn them into widget updates.

Workers never touch widgets: they compute in a thread or a task and post one of these.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from console.service import ConnectionReport
from console.models import Application, Event, User
from console.service import ApplyResult, AutomationStatus, EndpointTest, Progress, ProvisionTrace, RulePreview
from console.service import Operation, Plan


@dataclass
class Snapshot:
    """The dashboard's numbers, read in one go under the state lock."""

    people: int = 0
    active: int = 0
    leavers: int = 0
    groups: int = 0
    policies: int = 0
    apps: list[Application] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    automation: AutomationStatus | None = None  # None: automation was never set up


class StateRefreshed(Message):
    """Another operator (a CLI, a cron job, another console) changed the state: the current screen re-renders."""


class DashboardLoaded(Message):
    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class PeopleFiltered(Message):
    """A window of the people matching `text`; `more` is true when the window is full; `summary` says how many
    match of how many (`PeopleFound.summary`)."""

    def __init__(self, text: str, people: list[User], more: bool, total: int, summary: str = "") -> None:
        super().__init__()
        self.text = text
        self.people = people
        self.more = more
        self.total = total
        self.summary = summary


class PeopleCounted(Message):
    """How many people match `text`, counted after its first window was shown."""

    def __init__(self, text: str, summary: str) -> None:
        super().__init__()
        self.text = text
        self.summary = summary


class PersonLoaded(Message):
    def __init__(self, user: User, groups: list[str], accounts: list[dict[str, Any]], manager: str = "") -> None:
        super().__init__()
        self.user = user
        self.manager = manager
        self.groups = groups
        self.accounts = accounts


class StateChanged(Message):
    """Something was written to the state (by this console); `what` is shown to the operator."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what


class FieldRejected(Message):
    """A form's value was refused by the service: show `text` next to `field`."""

    def __init__(self, field: str, text: str) -> None:
        super().__init__()
        self.field = field
        self.text = text


class Saved(Message):
    """A form's object was written; the form dismisses itself with `result`."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class ListLoaded(Message):
    """Rows for a screen's table (groups, policies, apps, members, scope), read under the state lock."""

    def __init__(self, kind: str, rows: list[Any], extra: Any = None) -> None:
        super().__init__()
        self.kind = kind
        self.rows = rows
        self.extra = extra


class PlanReady(Message):
    def __init__(self, plan: Plan, scope: str) -> None:
        super().__init__()
        self.plan = plan
        self.scope = scope


class DeprovisionsQueued(Message):
    def __init__(self, plan: Plan, pending: list[Operation]) -> None:
        super().__init__()
        self.plan = plan
        self.pending = pending


class ApplyStarted(Message):
    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total


class ApplyProgress(Message):
    """One application's progress; a newer one for the same application replaces a queued older one."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ApplyProgress) and message.progress.app == self.progress.app


class ApplyFinished(Message):
    """The run ended (or was refused). Initial passwords travel apart so that no repr ever shows them."""

    def __init__(self, result: ApplyResult | None, passwords: dict[str, str], error: Exception | None = None) -> None:
        super().__init__()
        self.result = result
        self._passwords = passwords
        self.error = error

    def take_passwords(self) -> dict[str, str]:
        passwords, self._passwords = self._passwords, {}
        return passwords

    def __rich_repr__(self):  # type: ignore[no-untyped-def]
        yield "run", self.result.run_id if self.result else None
        yield "passwords", len(self._passwords)


class ImportFinished(Message):
    """A file import (console.importer) or an inbound run (console.inbound.run), dry or real."""

    def __init__(self, result: Any, source: str, dry_run: bool) -> None:
        super().__init__()
        self.result = result
        self.source = source
        self.dry_run = dry_run


class ConnectionChecked(Message):
    def __init__(self, app: str, report: ConnectionReport) -> None:
        super().__init__()
        self.app = app
        self.report = report


class ReportQueried(Message):
    def __init__(self, events: list[Event], more: bool) -> None:
        super().__init__()
        self.events = events
        self.more = more


class ReportExported(Message):
    def __init__(self, path: str, count: int) -> None:
        super().__init__()
        self.path = path
        self.count = count


class SecretStored(Message):
    """A typed secret went to the keyring, or (no keyring) the operator must set `env_var`."""

    def __init__(self, app: str, ref: str, env_var: str = "") -> None:
        super().__init__()
        self.app = app
        self.ref = ref
        self.env_var = env_var


class EndpointTested(Message):
    """"Test & save" read an endpoint's first page: the core's EndpointTest (fields, samples, saved, warnings)."""

    def __init__(self, tested: EndpointTest) -> None:
        super().__init__()
        self.tested = tested


class PreviewReady(Message):
    """An inbound mapping applied to the first page of real records (console.inbound.run.preview)."""

    def __init__(self, app: str, records: list[Any]) -> None:
        super().__init__()
        self.app = app
        self.records = records


class RulePreviewed(Message):
    """Who the rule `text` matches now (`preview`), or its mistake (`error`, with the position); both None: empty."""

    def __init__(self, text: str, preview: RulePreview | None, error: str = "") -> None:
        super().__init__()
        self.text = text
        self.preview = preview
        self.error = error


class PersonProvisioned(Message):
    """Provisioning one person ran (a dry run first, then for real): its trace, or the error that stopped it.
    Initial passwords travel apart, as in ApplyFinished."""

    def __init__(self, trace: ProvisionTrace | None, dry_run: bool, passwords: dict[str, str] | None = None,
                 error: Exception | None = None) -> None:
        super().__init__()
        self.trace = trace
        self.dry_run = dry_run
        self._passwords = passwords or {}
        self.error = error

    def take_passwords(self) -> dict[str, str]:
        passwords, self._passwords = self._passwords, {}
        return passwords

    def __rich_repr__(self):  # type: ignore[no-untyped-def]
        yield "person", self.trace.person if self.trace else None
        yield "dry_run", self.dry_run
        yield "passwords", len(self._passwords)
