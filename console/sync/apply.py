"""Apply: run a plan against the targets, bounded per application, every operation recorded.

The exception class decides an operation's outcome: `TransientError` fails that operation (the connector's
one retry layer has already tried it; nothing here tries again), `Rejected`/`NotFound`/`AlreadyExists` fail
that operation only, `AuthFailed`/`Unreachable`/`ConfigError` stop that application (its remaining operations
are recorded as skipped). Before each remote write its intent is durable in the run's journal; each outcome is
one event, on disk before the links it changed are flushed to the state (in small batches). If the report cannot
be written the run stops before its next remote write. A rerun after a crash records the intents left open as
`unknown` and looks those accounts up before creating them; the engine refuses a read-only store and
deprovisions only as `confirm.check_deletions` allows.
"""
from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from console.connectors.base import Connector
from console.errors import (
    AuthFailed,
    ConfigError,
    DryRunBlocked,
    IdConsoleError,
    JournalError,
    NotFound,
    ReadOnly,
    Unreachable,
    StateLocked,
)
from console.models import Event, Link, Run, attrs_hash, utcnow
from console.storage import HomeLock
from console.store import Store
from console.sync.confirm import Confirmation, check_deletions, standing_confirmations
from console.sync.journal import Journal, Window, journal_error
from console.sync.plan import PHASES, AppPlan, Operation, Plan

SECRET_ATTRS = ("initial_password", "password", "unicodePwd", "passwordProfile")
_SECRETS = frozenset(SECRET_ATTRS)
# The state (and the outcomes before it) is saved after FLUSH_EVERY changed links once FLUSH_SECONDS have passed
# since the last save, and at each phase's end: each save rewrites the state file and fsyncs it and the report,
# which blocks the event loop (~20 ms at 2,000 people, several times that on a loaded disk). A crash in between
# leaves the operations since the last save `unknown`, each looked up once by the rerun.
FLUSH_EVERY = 50
FLUSH_SECONDS = 2.0


@dataclass
class Progress:
    """A snapshot for the console's progress bar (posted after every operation)."""

    app: str
    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    last: str = ""


@dataclass
class ApplyResult:
    run_id: str
    dry_run: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # app -> status -> n
    failures: list[dict[str, str]] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)  # app -> why it was stopped
    initial_passwords: dict[str, str] = field(default_factory=dict)  # "app: person" -> password, shown once
    would: list[dict[str, Any]] = field(default_factory=list)  # dry run: what would have been written
    halted: str = ""  # why the whole run stopped before its next remote write (the report cannot be written)
    resolved: int = 0  # intents an earlier run left open, recorded as unknown and looked up by this one
    warnings: list[str] = field(default_factory=list)  # said on every run, e.g. credentials allowed in clear

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stopped and not self.halted

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "dry_run": self.dry_run, "counts": self.counts, "failures": self.failures,
                "stopped": self.stopped, "would": self.would, "ok": self.ok, "halted": self.halted,
                "resolved": self.resolved, "warnings": self.warnings,
                # passwords are for a person's eyes, not for script output that ends up in logs
                "initial_passwords_withheld": len(self.initial_passwords)}


def scrub(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: ("•••" if k in SECRET_ATTRS else v) for k, v in attrs.items()}


def _shown_changes(changes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """An operation's changes as its events record them: a secret's values hidden. Without a secret, the plan's own
    dict (never changed once planned; an event is only written), not a copy for each of the operation's two events."""
    if _SECRETS.isdisjoint(changes):
        return changes
    return {k: (["•••", "•••"] if k in _SECRETS else [b, a]) for k, (b, a) in changes.items()}


@contextmanager
def _collecting_less() -> Iterator[None]:
    """While the operations run: what is alive now (the state, the plan) is exempt from the cyclic GC, as the store
    does for what it loads (store._no_gc), and the youngest generation is collected every 10,000 allocations instead
    of 700. Each operation allocates hundreds of short-lived objects (request, answer, events) that reference
    counting frees; the collections' passes over them and over the plan were ~4% of a sync's CPU."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(before[0], 10_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class Applier:
    def __init__(self, store: Store, plan: Plan, connectors: dict[str, Connector], *, operator: str, dry_run: bool,
                 on_progress: Callable[[Progress], None] | None = None, cancel: asyncio.Event | None = None,
                 max_concurrency: dict[str, int] | None = None,
                 confirmation: Confirmation | None = None) -> None:
        self.store = store
        self.plan = plan
        self.connectors = connectors
        self.operator = operator
        self.dry_run = dry_run
        self.on_progress = on_progress
        self.cancel = cancel or asyncio.Event()
        self.max_concurrency = max_concurrency or {}
        self.run = Run(kind="sync", operator=operator, dry_run=dry_run,
                       app=",".join(a.app for a in plan.apps), plan=[op.to_dict() for op in plan.operations][:5000])
        self.result = ApplyResult(run_id=self.run.id, dry_run=dry_run)
        self.confirmation = confirmation or Confirmation()
        self.journal = Journal(store.events, self.run.id)
        self.lookup_first: set[tuple[str, str, str]] = set()  # (app, action, who): an earlier outcome is unknown
        self._resolving: list[str] = []  # runs whose journals this run resolves
        self._in_flight: set[str] = set()  # operations whose intent is on disk and whose outcome is not yet known
        self._pending_links = 0
        self._staged: dict[str, tuple[Link, bool]] = {}  # saved links for the next checkpoint: (link, attrs changed)
        self._checkpointed = time.monotonic()

    async def apply(self) -> ApplyResult:
        """Apply the plan; one run at a time per home (`sync.lock`), so open intents found here are a crash's."""
        if self.dry_run:
            return await self._apply()
        if self.store.readonly:
            raise ReadOnly("read-only: a sync would change the targets and the state",
                           hint="nothing was sent; run it without --readonly")
        run_lock = HomeLock(self.store.home, "sync.lock")
        if not run_lock.try_acquire():
            raise StateLocked(f"another sync is running on this home: {run_lock.holder()}",
                              hint="nothing was sent; wait for it to finish (idconsole report --status unknown shows "
                                   "its writes in flight) and plan again")
        try:
            return await self._apply()
        finally:
            run_lock.release()

    async def _apply(self) -> ApplyResult:
        if not self.dry_run:
            confirmed = check_deletions(self.plan, self.confirmation, standing_confirmations(self.store))
            self._resolve_open_intents()
            for stale in self.store.runs:
                if stale.status == "running" and not stale.dry_run:
                    stale.status = "interrupted"
                    stale.finished = utcnow()
                    self.store.runs.put(stale)
            self.store.runs.add(self.run)
            if confirmed:
                count = sum(len(a.deprovisions) for a in self.plan.apps)
                self.journal.outcome(Event(action="deprovisions_confirmed", status="success", run=self.run.id,
                                           operator=self.operator, app=self.run.app,
                                           message=f"{count} deprovision(s) {confirmed}"))
            try:
                self.journal.commit()
            except JournalError:
                self.store.rollback()  # nothing was sent: the run is not even recorded
                raise
            self.store.flush()
        try:
            with _collecting_less():
                await asyncio.gather(*(self._apply_app(app_plan) for app_plan in self.plan.apps))
        finally:
            await self.journal.settle()
            if not self.dry_run:
                self._checkpoint(flush=False)
                if self.result.halted:  # link changes whose outcome is not on disk are dropped: the rerun rebuilds them
                    self.store.rollback()
                elif not self._in_flight:  # every intent has its outcome in the report
                    self.journal.close()
                    if not self.cancel.is_set():
                        for run in self._resolving:
                            self.store.events.close_journal(run)
            self.run.status = ("cancelled" if self.cancel.is_set() else "success" if self.result.ok else "failure")
            self.run.finished = utcnow()
            self.run.counts = {f"{app}.{k}": v for app, c in self.result.counts.items() for k, v in c.items()}
            self.run.plan = []
            if not self.dry_run:
                if not self.result.halted:
                    self._record_settled_inputs()
                for app_plan in self.plan.apps:
                    app = self.store.applications.by_name(app_plan.app)
                    if app is not None:
                        app.last_run = {"run": self.run.id, "time": self.run.finished,
                                        "counts": self.result.counts.get(app_plan.app, {})}
                        self.store.applications.put(app)
                self.store.runs.put(self.run)
                self.store.flush()
        return self.result

    def _record_settled_inputs(self) -> None:
        """Record on the links the plan found up to date the inputs their attributes are computed from (links older
        than `Link.inputs` first of all): the next plan skips these people without computing their attributes.
        Only where the link still holds the very attributes the plan compared (nothing saved them since)."""
        links = self.store.links
        settled = []
        for app_plan in self.plan.apps:
            for user_id, (inputs, mark) in app_plan.settled.items():
                link = links.find(app_plan.app, user_id)
                if link is not None and link.state == "active" and link.inputs != inputs and links.saved(link, mark):
                    link.inputs = inputs
                    settled.append(link)
        if settled:
            links.put_many(settled)

    def _resolve_open_intents(self) -> None:
        """Intents earlier runs left without an outcome: record them as unknown (once) and look them up first."""
        events = self.store.events
        runs = [run for run in events.journals() if run != self.run.id]
        if not runs:
            return
        still_open = events.open_intents(final=True, runs=runs)
        unrecorded = {(e.run, e.app, e.action, e.person_id or e.person) for e in events.open_intents(runs=runs)}
        apps = {a.app for a in self.plan.apps}
        self._resolving = [run for run in runs if all(e.app in apps for e in still_open if e.run == run)]
        records = []
        for intent in still_open:
            self.lookup_first.add((intent.app, intent.action, intent.person_id or intent.person))
            if (intent.run, intent.app, intent.action, intent.person_id or intent.person) in unrecorded:
                intent.status = "unknown"
                intent.message = (f"outcome unknown: run {intent.run[:8]} stopped during this write; run "
                                  f"{self.run.id[:8]} looks it up and rebuilds its link")
                records.append(intent)
        self.result.resolved = len(still_open)
        try:
            events.append_many(records)
        except OSError as exc:
            raise journal_error(exc) from None

    def _halt(self, exc: JournalError) -> None:
        if not self.result.halted:
            self.result.halted = str(exc)

    def _checkpoint(self, flush: bool = True) -> None:
        """Outcomes on disk first, then the links they changed: no local change is saved without its event."""
        if self.dry_run:
            return
        try:
            self.journal.commit()
        except JournalError as exc:
            self._halt(exc)
            return
        self._put_staged()
        if flush:
            self.store.flush()
        self._pending_links = 0
        self._checkpointed = time.monotonic()

    def _put_staged(self) -> None:
        """The links the operations saved since the last checkpoint, into the store at once (see `_save_link`)."""
        if not self._staged:
            return
        staged, self._staged = self._staged, {}
        for link, rehash in staged.values():
            if rehash:
                link.attrs_hash = attrs_hash(link.attrs)
        self.store.links.put_many([link for link, _ in staged.values()])

    def _count(self, app: str, status: str) -> None:
        counts = self.result.counts.setdefault(app, {})
        counts[status] = counts.get(status, 0) + 1

    def _not_attempted(self, op: Operation, app: str) -> str:
        """Why `op` is not sent (the run halted, was cancelled, the application stopped, blocked), or ""."""
        if self.result.halted:
            return "halted"
        if self.cancel.is_set():
            return "cancelled by the operator"
        if app in self.result.stopped:
            return f"not attempted: {self.result.stopped[app]}"
        return op.blocked or ""

    async def _apply_app(self, app_plan: AppPlan) -> None:
        connector = self.connectors[app_plan.app]
        progress = Progress(app=app_plan.app, total=len(app_plan.operations))
        slots = max(1, self.max_concurrency.get(app_plan.app, 8))
        limit = asyncio.Semaphore(slots)
        # Intents are written ahead of the requests (group commit in a thread), so that an operation whose turn
        # comes finds its intent durable already: a crash leaves at most the operations inside the window as
        # unknown, which the rerun looks up. The window lets operations in by batches, so that many intents share
        # each fsync.
        ahead = Window(slots)

        def skip(op: Operation, why: str) -> None:
            if why == "halted":  # nothing more can be recorded, so nothing more is sent
                self._count(op.app, "skipped")
            else:
                self._record(op, "skipped", message=why)
            progress.skipped += 1

        async def one(op: Operation) -> None:
            async with ahead:
                why = self._not_attempted(op, app_plan.app)
                if why:
                    skip(op, why)
                elif not await self._intend(op):
                    self._count(op.app, "skipped")
                    progress.skipped += 1
                else:
                    async with limit:
                        why = self._not_attempted(op, app_plan.app)
                        if why:  # its intent is on disk: its outcome says it was not sent
                            skip(op, why)
                        else:
                            status = await self._attempt(connector, op, progress)
                            if status == "failure":
                                progress.failed += 1
                            elif status == "skipped":
                                progress.skipped += 1
                            else:
                                progress.done += 1
                progress.last = f"{op.action} {op.person or op.group}"
                if self._pending_links >= FLUSH_EVERY and time.monotonic() - self._checkpointed >= FLUSH_SECONDS:
                    self._checkpoint()
                if self.on_progress:
                    self.on_progress(progress)

        async def worker(ops: Iterator[Operation]) -> None:
            for op in ops:
                await one(op)

        try:
            for phase in PHASES:
                batch = [op for op in app_plan.operations if op.action == phase]
                if batch:
                    # A task per worker, not per operation (a task, and anyio's state for it in httpcore's cancel
                    # scopes, were made and dropped for each operation). Each worker
                    # takes the next operation and waits at the window, so that the operations reach it in plan
                    # order and a full batch is always waiting when it opens (size + batch workers), as when every
                    # operation had its task.
                    ops = iter(batch)
                    workers = min(len(batch), ahead.size + ahead.batch)
                    await asyncio.gather(*(worker(ops) for _ in range(workers)))
                    self._checkpoint()
        finally:
            await connector.aclose()

    async def _attempt(self, connector: Connector, op: Operation, progress: Progress) -> str:
        """One try: the connector's retry layer has done all the retrying a call gets."""
        try:
            outcome = await self._execute(connector, op)
        except DryRunBlocked:
            self.result.would.append(op.to_dict())
            return "skipped"
        except (AuthFailed, ConfigError, Unreachable) as exc:
            self.result.stopped[op.app] = exc.title
            return self._fail(op, exc)
        except IdConsoleError as exc:
            return self._fail(op, exc)
        if self.dry_run:
            self.result.would.append(op.to_dict())
            return "skipped"
        self._record(op, "success", message=outcome)
        return "success"

    def _fail(self, op: Operation, exc: IdConsoleError) -> str:
        self._record(op, "failure", error=str(exc))
        self.result.failures.append({"app": op.app, "action": op.action, "person": op.person or op.group, "error": str(exc)})
        return "failure"

    def _event(self, op: Operation, status: str, *, error: str = "", message: str = "") -> Event:
        return Event(
            action=op.action, status=status, app=op.app, person=op.person or op.group, person_id=op.person_id,
            run=self.run.id, operator=self.operator, changes=_shown_changes(op.changes),
            error=error, target_id=op.remote_id, message=message or op.reason,
        )

    async def _intend(self, op: Operation) -> bool:
        """The operation's intent durable before its first request; False (and the run halted) when it cannot be."""
        if self.dry_run:
            return True
        try:
            await self.journal.intend(self._event(op, "unknown", message=f"in flight: {op.reason}"))
        except JournalError as exc:
            self._halt(exc)
            return False
        self._in_flight.add(op.key)
        return True

    def _record(self, op: Operation, status: str, *, error: str = "", message: str = "") -> None:
        """Count the outcome and hand its event to the journal (on disk before the links it changed are saved)."""
        self._count(op.app, status)
        if not self.dry_run:
            self.journal.outcome(self._event(op, status, error=error, message=message))
            self._in_flight.discard(op.key)

    # ---- the operations ------------------------------------------------------------------------
    async def _execute(self, connector: Connector, op: Operation) -> str:
        store = self.store
        if op.action == "create":
            attrs = dict(op.attrs)
            if (op.app, "create", op.person_id) in self.lookup_first:  # an earlier create's outcome is unknown
                found = await connector.find_user(attrs)
                if found is not None:
                    link = store.links.find(op.app, op.person_id) or Link(app=op.app, local_id=op.person_id,
                                                                          remote_id=found.uid)
                    link.remote_id, link.remote_name, link.state = found.uid, found.name, "active"
                    self._save_link(link, {k: found.attrs.get(k, v) for k, v in attrs.items()}, op)
                    op.remote_id = found.uid
                    return f"found {found.name} by a look-up (an earlier create's outcome was unknown): linked"
            return await self._create(connector, op, attrs)
        link = store.links.find(op.app, op.person_id) if op.person_id else None
        if op.action == "update":
            changed = {k: op.attrs.get(k) for k in op.changes}
            try:
                await connector.update_user(op.remote_id, changed)
            except NotFound:  # deleted outside idconsole while the person is still entitled: a new account
                return await self._recreate(connector, op, link, dict(op.attrs))
            if link:
                self._save_link(link, op.attrs, op)
            return f"updated {', '.join(op.changes)}"
        if op.action == "reactivate":
            try:
                await connector.reactivate_user(op.remote_id, dict(link.extra.get("remembered", {})) if link else {})
            except NotFound:
                return await self._recreate(connector, op, link, dict(link.attrs) if link else dict(op.attrs))
            if link:
                link.state = "active"
                link.extra.pop("remembered", None)
                self._save_link(link)
            return "reactivated"
        if op.action == "deactivate":
            try:
                remembered = await connector.deactivate_user(op.remote_id)
            except NotFound:  # nothing left to deactivate: the link goes, as for a delete
                if link:
                    link.state = "deleted"
                    self._save_link(link)
                self._drop_from_pushed_groups(op)
                return "unlinked: the account was already gone from the target (deleted outside idconsole)"
            if link:
                link.state = "deactivated"
                link.extra["remembered"] = remembered or {}
                self._save_link(link)
            self._drop_from_pushed_groups(op)
            return "deactivated"
        if op.action == "delete":
            try:
                await connector.delete_user(op.remote_id)
                note = "deleted"
            except NotFound:
                note = "already gone in the target"
            if link:
                link.state = "deleted"
                self._save_link(link)
            self._drop_from_pushed_groups(op)
            return note
        group = store.groups.by_name(op.group)
        glink = store.links.find(op.app, group.id, kind="group") if group else None
        if op.action == "group_create":
            remote = await connector.create_group(op.group, group.description if group else "")
            glink = glink or Link(app=op.app, local_id=group.id if group else op.group, remote_id=remote.uid, kind="group")
            glink.remote_id, glink.remote_name, glink.state = remote.uid, remote.name, "active"
            glink.extra.setdefault("members", [])
            self._save_link(glink)
            return f"group {remote.name} ready"
        if op.action == "group_delete":
            try:
                await connector.delete_group(op.remote_id)
            except NotFound:
                pass
            if glink is None:
                glink = store.links.by_remote(op.app, op.remote_id, kind="group")
            if glink:
                glink.state = "deleted"
                glink.extra["members"] = []
                self._save_link(glink)
            return "group deleted"
        if op.action in ("member_add", "member_remove"):
            if (glink is None or glink.state != "active") and self.dry_run:
                raise DryRunBlocked(f"group {op.group} would be created first")
            if glink is None or glink.state != "active":
                raise ConfigError(f"group {op.group} has no account in {op.app}", hint="its creation failed; see the report")
            remote_ids, local_ids = [], []
            for user_id in op.member_ids:
                ulink = store.links.find(op.app, user_id)
                if ulink is not None and ulink.state != "deleted":
                    remote_ids.append(ulink.remote_id)
                    local_ids.append(user_id)
            if remote_ids:
                if op.action == "member_add":
                    await connector.add_members(glink.remote_id, remote_ids)
                else:
                    await connector.remove_members(glink.remote_id, remote_ids)
            pushed = list(glink.extra.get("members", []))
            if op.action == "member_add":
                pushed += [m for m in local_ids if m not in pushed]
            else:
                pushed = [m for m in pushed if m not in op.member_ids]
            glink.extra["members"] = pushed
            self._save_link(glink)
            return f"{len(remote_ids)} of {len(op.member_ids)} members {'added' if op.action == 'member_add' else 'removed'}"
        raise ConfigError(f"unknown operation {op.action}")

    def _drop_from_pushed_groups(self, op: Operation) -> None:
        for glink in self.store.links.for_app(op.app, "group"):
            members = glink.extra.get("members", [])
            if op.person_id in members:
                glink.extra["members"] = [m for m in members if m != op.person_id]
                self._save_link(glink)

    async def _create(self, connector: Connector, op: Operation, attrs: dict[str, Any]) -> str:
        """Create (or adopt) the person's account and link it; the outcome says which."""
        account = await connector.create_user(attrs)
        if account.initial_password:
            self.result.initial_passwords[f"{op.app}: {op.person}"] = account.initial_password
        if "licenses" in account.attributes and "licenses" in attrs:
            attrs["licenses"] = account.attributes["licenses"]  # what really got assigned: the rest is retried
        link = self.store.links.find(op.app, op.person_id) or Link(app=op.app, local_id=op.person_id,
                                                                   remote_id=account.uid)
        link.remote_id, link.remote_name, link.state = account.uid, account.name, "active"
        link.extra.pop("remembered", None)
        self._save_link(link, attrs, op)
        op.remote_id = account.uid
        note = f"adopted existing account {account.name}" if account.adopted else f"created {account.name}"
        return "; ".join([note, *map(str, account.warnings)])

    async def _recreate(self, connector: Connector, op: Operation, link: Link | None, attrs: dict[str, Any]) -> str:
        """A stale link: the account was deleted outside idconsole while its person is still entitled."""
        gone = link.remote_name or link.remote_id if link else op.remote_id
        if not attrs:
            raise NotFound(f"{op.app}: the account {gone} is gone and idconsole has no attributes to re-create it",
                           hint="run idconsole plan --reconcile, then sync: the person's account is created anew")
        note = await self._create(connector, op, attrs)
        return f"re-created: the account {gone} was gone from the target (deleted outside idconsole); {note}"

    def _save_link(self, link: Link, attrs: dict[str, Any] | None = None, op: Operation | None = None) -> None:
        """Save a link; with `attrs`, what the target now holds. The plan's inputs are recorded only when that is
        exactly what the plan computed from them (not a partly assigned licence, not an adopted account's own
        values): a later plan skips a person whose inputs are unchanged without computing their attributes."""
        if attrs is not None:
            clean = {k: v for k, v in attrs.items() if k not in SECRET_ATTRS}
            link.attrs = clean
            link.inputs = op.inputs if op is not None and op.inputs and clean == op.attrs else ""
        link.updated = utcnow()
        self._pending_links += 1
        if self.dry_run:
            if attrs is not None:
                link.attrs_hash = attrs_hash(link.attrs)
            self.store.links.put(link)
            return
        # Put into the store at the next checkpoint, with the others saved since (one `put_many`, its attributes'
        # hashes in the same loop): put one by one, between requests, each link cost ~4x the batch's share. No
        # operation of the run reads a link saved in its own phase (one operation per person and application a
        # phase; each phase ends with a checkpoint), and the checkpoint writes the outcomes before the links.
        previous = self._staged.get(link.id)
        self._staged[link.id] = (link, attrs is not None or (previous is not None and previous[1]))
