"""One unattended cycle: import every enabled inbound source, recompute rule groups, plan every application, apply.

The promises of an attended run hold: deprovisions are applied only for applications with a standing confirmation
and within their threshold and limit, otherwise they are held for an operator (the Deletions screen) while the rest
of the cycle goes on; a source whose read fails or comes back empty stops the cycle before anything is applied, so
nobody changes because of it; one cycle at a time per home (`cycle.lock`); initial passwords go to a private file,
never to the report or a notification; every cycle is a `runs` entry of kind `cycle` with its events.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from console import clock
from console.automation.settings import AutomationSettings, load_settings, save_last_cycle
from console.connectors import is_source
from console.errors import ConfigError, IdConsoleError, ReadOnly, StateLocked
from console.inbound.run import run_import
from console.models import Event, Run, utcnow
from console.storage import HomeLock
from console.store import Store
from console.sync.confirm import Confirmation, standing_confirmations
from console.sync.engine import apply_plan, make_plan
from console.sync.plan import Plan

CYCLE_LOCK = "cycle.lock"


@dataclass
class SourceOutcome:
    """What one inbound source gave this cycle: `success`, `failure` (the read failed) or `empty` (read nothing)."""

    app: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    pages: int = 0
    error: str = ""


@dataclass
class Held:
    """What waits for an operator: an application's deprovisions, or a source's leavers, with why."""

    app: str
    kind: str  # deprovision | leaver
    people: list[str]
    reason: str
    hint: str = ""

    @property
    def count(self) -> int:
        return len(self.people)


@dataclass
class CycleReport:
    """The outcome of one cycle (`success`, `held` or `failure`); never holds a password or a secret."""

    run_id: str
    dry_run: bool
    started: str
    finished: str = ""
    outcome: str = "success"
    sources: list[SourceOutcome] = field(default_factory=list)
    rule_groups: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # app -> status -> n
    failures: list[dict[str, str]] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    stopped: str = ""  # why nothing was applied
    sync_run: str = ""
    passwords_written: int = 0
    password_file: str = ""
    notified: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome != "failure"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["held"] = [asdict(h) | {"count": h.count} for h in self.held]
        return data

    def summary(self) -> str:
        """A few lines for a person: what the cycle did, what failed, what waits for them."""
        kind = "dry-run cycle" if self.dry_run else "cycle"
        lines = [f"idconsole {kind} {self.run_id[:8]}: {self.outcome} ({self.started})"]
        for source in self.sources:
            what = ", ".join(f"{n} {k}" for k, n in source.counts.items() if n and k != "unchanged") or "no change"
            lines.append(f"  import {source.app}: {source.status}" + (f" — {source.error}" if source.error else f", {what}"))
        if self.rule_groups:
            lines.append(f"  rule groups changed: {', '.join(self.rule_groups)}")
        for app, counts in sorted(self.counts.items()):
            lines.append(f"  {app}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        if self.stopped:
            lines.append(f"  nothing applied: {self.stopped}")
        for failure in self.failures[:20]:
            lines.append(f"  FAILED {failure['app']} {failure['action']} {failure['person']}: {failure['error']}")
        if len(self.failures) > 20:
            lines.append(f"  … and {len(self.failures) - 20} more failure(s): idconsole report --run {self.sync_run}")
        for held in self.held:
            names = ", ".join(held.people[:10]) + (f" and {held.count - 10} more" if held.count > 10 else "")
            lines.append(f"  HELD {held.count} {held.kind}(s) in {held.app}: {held.reason} ({names})")
            if held.hint:
                lines.append(f"    what to do: {held.hint}")
        if self.passwords_written:
            lines.append(f"  {self.passwords_written} initial password(s) written to {self.password_file}")
        return "\n".join(lines)


def check_password_file(path: Path) -> None:
    """Refuse a password file others could read, or that is not this account's own regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise ConfigError(f"the initial-password file's folder {path.parent} does not exist",
                              hint="create it, or idconsole automate set password_file=PATH") from None
        return
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(f"the initial-password file {path} may be read by others (mode "
                          f"{stat.S_IMODE(st.st_mode):03o}, owner uid {st.st_uid})",
                          hint=f"chmod 600 {path} as its owner (the account that runs the cycles), or choose another "
                               "file: idconsole automate set password_file=PATH")


def append_passwords(path: Path, run_id: str, passwords: dict[str, str]) -> None:
    """Append `time run app: person password` lines to a 0600 file (created so, checked if it exists)."""
    check_password_file(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        now = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        data = "".join(f"{now}\t{run_id}\t{who}\t{password}\n" for who, password in sorted(passwords.items()))
        os.write(fd, data.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def cycle_sources(store: Store, settings: AutomationSettings) -> list[str]:
    """The inbound sources a cycle imports: the ones named in the settings, else every source."""
    every = sorted(a.name for a in store.applications if is_source(a.kind))
    return [name for name in every if not settings.sources or name in settings.sources]


def hold_deprovisions(store: Store, plan: Plan) -> list[Held]:
    """Take out of the plan the deprovisions an unattended run may not apply; return them as held."""
    standing = standing_confirmations(store)
    held: list[Held] = []
    for app_plan in plan.apps:
        ops = app_plan.deprovisions
        if not ops:
            continue
        allowed = standing.get(app_plan.app)
        count = len(ops)
        if app_plan.threshold_exceeded():
            reason = f"{count} deprovisions exceed the deletion threshold ({app_plan.threshold_text()})"
        elif allowed is None:
            reason = "no standing confirmation for unattended deprovisions"
        elif count > allowed.limit:
            reason = f"{count} deprovisions, more than the {allowed.limit} its standing confirmation allows"
        else:
            continue
        people = [op.person or op.group for op in ops]
        app_plan.operations = [op for op in app_plan.operations if op not in ops]
        held.append(Held(app_plan.app, "deprovision", people, reason,
                         hint=f"review them in the console's Deletions screen, or idconsole sync --app {app_plan.app} "
                              "--yes (with --allow-deletes N above the threshold)"))
    return held


Notifier = Callable[[CycleReport], list[str]]


async def run_cycle(store: Store, *, operator: str, dry_run: bool = False, notifier: Notifier | None = None,
                    regroup: Callable[[], list[str]] | None = None) -> CycleReport:
    """One cycle; see the module docstring. A dry run imports, plans and applies with nothing written anywhere."""
    if store.readonly and not dry_run:
        raise ReadOnly("read-only: a cycle would change the state and the targets", hint="run it without --readonly")
    settings = load_settings(store)
    lock = HomeLock(store.home, CYCLE_LOCK)
    if not dry_run:
        if not lock.try_acquire():
            raise StateLocked(f"another cycle is running on this home: {lock.holder()}",
                              hint="nothing was done; cycles never overlap — this one is skipped, the next starts on "
                                   "schedule (a timer that fires too often: idconsole automate install --every …)")
    try:
        run = Run(kind="cycle", operator=operator, dry_run=dry_run, app="automation")
        report = CycleReport(run_id=run.id, dry_run=dry_run, started=run.started)
        password_path = settings.password_path(store.home)
        report.password_file = str(password_path)
        if not dry_run:
            check_password_file(password_path)  # before anything is created: a password must have somewhere to go
        await _cycle(store, report, settings, operator=operator, dry_run=dry_run, password_path=password_path,
                     regroup=regroup)
        report.finished = utcnow()
        if report.failures or report.stopped or any(s.status != "success" for s in report.sources):
            report.outcome = "failure"
        elif report.held:
            report.outcome = "held"
        if notifier is not None and not dry_run and _wanted(settings, report):
            report.notified = notifier(report)
        if not dry_run:
            _record(store, run, report, operator)
        return report
    finally:
        lock.release()


def _wanted(settings: AutomationSettings, report: CycleReport) -> bool:
    reasons = {report.outcome} | ({"held"} if report.held else set())
    return bool(settings.notify) and bool(reasons & set(settings.notify_on))


async def _cycle(store: Store, report: CycleReport, settings: AutomationSettings, *, operator: str, dry_run: bool,
                 password_path: Path, regroup: Callable[[], list[str]] | None) -> None:
    for name in cycle_sources(store, settings):
        outcome = SourceOutcome(app=name, status="success")
        report.sources.append(outcome)
        try:
            result = await run_import(store, name, dry_run=dry_run, operator=operator,
                                      confirmation=Confirmation(standing=True, by=operator))
        except IdConsoleError as exc:
            outcome.status, outcome.error = "failure", str(exc)
            continue
        outcome.counts, outcome.requests, outcome.pages = result.counts, result.requests, result.pages
        if result.fetched == 0 and any(u.source == f"bitbucket:{name}" for u in store.users):
            outcome.status = "empty"
            outcome.error = "the source returned nobody; its people were left as they are"
        elif result.of("skipped"):
            report.failures.extend({"app": name, "action": "import", "person": o.person, "error": "; ".join(o.issues)}
                                   for o in result.of("skipped"))
        if result.leavers_refused:
            report.held.append(Held(name, "leaver", list(result.pending_leavers), result.leavers_refused,
                                    hint=f"check the workspace, then idconsole import bitbucket {name} --yes "
                                         f"--allow-deletes {len(result.pending_leavers)}"))
    failed = [s for s in report.sources if s.status != "success"]
    if failed:
        report.stopped = ("; ".join(f"{s.app}: {s.error}" for s in failed) +
                          " — a source that cannot be read completely changes nobody, so this cycle applied nothing")
        return
    if not dry_run and regroup is not None:  # rule groups follow what the imports changed (recorded as events)
        report.rule_groups = regroup()
    plan = await make_plan(store)
    report.held.extend(hold_deprovisions(store, plan))
    try:
        applied = await apply_plan(store, plan, Confirmation(standing=True, by=operator), operator=operator,
                                  dry_run=dry_run)
    except StateLocked as exc:
        report.stopped = f"{exc.title} ({exc.hint})" if exc.hint else exc.title
        return
    report.sync_run = applied.run_id
    report.counts = applied.counts
    report.failures.extend(applied.failures)
    if applied.stopped:
        report.failures.extend({"app": app, "action": "stopped", "person": "", "error": why}
                               for app, why in applied.stopped.items())
    if applied.halted:
        report.stopped = applied.halted
    if applied.initial_passwords and not dry_run:
        try:
            append_passwords(password_path, applied.run_id, applied.initial_passwords)
            report.passwords_written = len(applied.initial_passwords)
        except (OSError, IdConsoleError) as exc:
            report.failures.append({"app": "automation", "action": "initial_passwords", "person": "",
                                    "error": f"{len(applied.initial_passwords)} initial password(s) could not be "
                                             f"written to {password_path} ({getattr(exc, 'title', exc)}): reset "
                                             "those accounts' passwords"})


def _record(store: Store, run: Run, report: CycleReport, operator: str) -> None:
    """The cycle's run and events (events first, then the state), and its summary for `automate status`."""
    run.status = report.outcome
    run.finished = report.finished
    run.counts = {"sources": len(report.sources), "failures": len(report.failures),
                  "held": sum(h.count for h in report.held), "passwords_written": report.passwords_written,
                  **{f"{app}.{k}": v for app, c in report.counts.items() for k, v in c.items()}}
    events = [Event(action="cycle", status="failure" if report.outcome == "failure" else "success", run=run.id,
                    operator=operator, app="automation", message=report.summary().splitlines()[0] +
                    (f": {report.stopped}" if report.stopped else ""))]
    for held in report.held:
        events.append(Event(action=f"{held.kind}s_held", status="skipped", run=run.id, operator=operator, app=held.app,
                            message=f"{held.count} {held.kind}(s) wait for an operator: {held.reason}: "
                                    + ", ".join(held.people[:50])))
    for note in report.notified:
        events.append(Event(action="notify", status="failure" if "failed" in note else "success", run=run.id,
                            operator=operator, app="automation", message=note))
    with store.writing():
        store.runs.put(run)
        save_last_cycle(store, report.to_dict())
        try:
            marks = store.events.append_many(events)
        except OSError:
            store.rollback()
            raise
        try:
            store.flush()
        except BaseException:
            store.events.withdraw(marks)
            raise
