"""An inbound run: fetch every page → map → upsert people by primary key → joiners, movers, leavers.

Leavers are people this source created (`source == "bitbucket:APP"`) who are no longer members; they
become status `leaver` and the sync engine deprovisions them. A fetch that failed, was cut short or
came back empty never makes anyone a leaver. A dry run computes the same result and writes nothing.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from console.connectors import is_source, make_source
from console.connectors.bitbucket import BitbucketSource, setting
from console.errors import ConfigError, IdConsoleError, JournalError, ReadOnly, UnknownObject, ValidationError
from console.inbound.budget import RequestBudget
from console.inbound import links
from console.inbound.endpoints import Endpoint, FetchResult, flatten, load_endpoints
from console.inbound.target_limits import add_target_issues
from console.mapping import LOCAL_FIELDS, MappedRecord, Mapping, load_mapping
from console.models import Application, Event, Run, User, utcnow
from console.operator import current_operator
from console.store import Store
from console.sync.confirm import Confirmation
from console.validation import validate_user

_NOT_DIFFED = ("id", "created", "updated")


@dataclass
class RecordOutcome:
    """What happened to one source record or one person: create, update, leaver, unchanged or skipped."""

    key: str
    person: str
    action: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "person": self.person, "action": self.action, "changes": self.changes,
                "issues": self.issues}


@dataclass
class ImportResult:
    app: str
    run_id: str
    dry_run: bool
    fetched: int = 0
    pages: int = 0
    requests: int = 0
    outcomes: list[RecordOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    leavers_refused: str = ""  # why people who left were not made leavers ("" when applied)
    pending_leavers: list[str] = field(default_factory=list)

    def of(self, action: str) -> list[RecordOutcome]:
        return [o for o in self.outcomes if o.action == action]

    @property
    def counts(self) -> dict[str, int]:
        return {"fetched": self.fetched, "joiners": len(self.of("create")), "movers": len(self.of("update")),
                "leavers": len(self.of("leaver")), "unchanged": len(self.of("unchanged")),
                "skipped": len(self.of("skipped")), "pending_leavers": len(self.pending_leavers),
                "left_kept": len(self.of("left_kept"))}

    @property
    def ok(self) -> bool:
        return not self.of("skipped") and not self.leavers_refused

    def to_dict(self) -> dict[str, Any]:
        return {"app": self.app, "run": self.run_id, "dry_run": self.dry_run, "counts": self.counts,
                "pages": self.pages, "requests": self.requests, "warnings": self.warnings,
                "leavers_refused": self.leavers_refused, "pending_leavers": self.pending_leavers,
                "outcomes": [o.to_dict() for o in self.outcomes if o.action != "unchanged"]}


def _configuration(store: Store, app: Application) -> tuple[Mapping, Endpoint, list[Endpoint]]:
    endpoints = load_endpoints(store, app.name)
    mapping = load_mapping(store, app.name, endpoints)
    by_name = {e.name: e for e in endpoints}
    missing = [name for name in mapping.endpoints if name not in by_name]
    if missing:
        raise ConfigError(f"mapping {mapping.name!r} uses unknown endpoint(s) {', '.join(missing)}",
                          hint="add the endpoint(s) or edit the mapping")
    selected = [by_name[name] for name in mapping.endpoints]
    primaries = [e for e in selected if e.primary]
    if len(primaries) != 1:
        raise ConfigError(f"mapping {mapping.name!r} needs exactly one primary endpoint, it has {len(primaries)}",
                          hint="mark the endpoint that lists the people as primary; the others are joined onto it")
    return mapping, primaries[0], [e for e in selected if not e.primary]


async def preview(store: Store, app: Application, mapping: Mapping | None = None, *, limit: int = 20,
                  source: BitbucketSource | None = None) -> list[MappedRecord]:
    """The mapping applied to the first page of real records (secondary endpoints joined from their first page)."""
    saved, primary, secondaries = _configuration(store, app)
    mapping = mapping or saved
    own = source is None
    source = source or make_source(app)
    try:
        first = await source.fetch_all(primary, first_page_only=True)
        extra = [await source.fetch_all(e, first_page_only=True) for e in secondaries if e.name in mapping.endpoints]
    finally:
        if own:
            await source.aclose()
    joined = _joined(mapping, extra)
    records = []
    for record in first.records[:limit]:
        flat = flatten(record)
        for name, value in joined.get(str(flat.get(mapping.primary_key) or "").strip().casefold(), {}).items():
            flat.setdefault(name, value)
        records.append(flat)
    mapped = mapping.preview(records, store.primary_key, limit)
    await add_target_issues(store, mapped, f"bitbucket:{app.name}")  # what a target would refuse, shown now
    return mapped


def _joined(mapping: Mapping, extra: list[FetchResult]) -> dict[str, dict[str, Any]]:
    """Secondary endpoints' fields by primary key value (casefolded), first record's value winning."""
    joined: dict[str, dict[str, Any]] = {}
    for part in extra:
        for record in part.records:
            flat = flatten(record)
            key = str(flat.get(mapping.primary_key) or "").strip().casefold()
            if key:
                fields = joined.setdefault(key, {})
                for name, value in flat.items():
                    fields.setdefault(name, value)
    return joined


def _apply_values(user: User, values: dict[str, str]) -> None:
    for target, value in values.items():
        if target == "email":
            rest = [e for e in user.emails[1:] if e.casefold() != value.casefold()]
            user.emails = ([value] if value else []) + rest
        elif target in LOCAL_FIELDS:
            setattr(user, target, value)
        else:
            user.attributes[target] = value


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for key, value in after.items():
        if key in _NOT_DIFFED:
            continue
        if key == "attributes":
            old = before.get("attributes", {})
            for name in sorted(set(old) | set(value)):
                if old.get(name) != value.get(name):
                    changes[f"attributes.{name}"] = [old.get(name), value.get(name)]
        elif before.get(key) != value:
            changes[key] = [before.get(key), value]
    return changes


async def run_import(store: Store, app: Application | str, *, dry_run: bool = False, operator: str = "",
                     source: BitbucketSource | None = None, confirmation: Confirmation | None = None) -> ImportResult:
    """Fetch the application's endpoints, map each record, and upsert people; see the module docstring."""
    if isinstance(app, str):
        found = store.applications.by_name(app)
        if found is None:
            raise UnknownObject(f"no application {app!r}", hint="see idconsole apps list")
        app = found
    if not is_source(app.kind):
        raise ConfigError(f"{app.name} is a {app.kind} application, a target; only sources are imported from")
    if store.readonly and not dry_run:
        raise ReadOnly("the console is read-only", hint="run the import with --dry-run, or without --readonly")
    operator = operator or current_operator()
    pk_attr = store.primary_key
    mapping, primary, secondaries = _configuration(store, app)
    compiled = mapping.compiled(pk_attr)
    run = Run(kind="import", operator=operator, app=app.name, dry_run=dry_run)
    result = ImportResult(app=app.name, run_id=run.id, dry_run=dry_run)
    writable = not dry_run
    own = source is None
    if source is None:
        source = make_source(app, budget=RequestBudget(int(setting(app, "request_budget")),
                                                       app.last_run.get("requests")))
    try:
        fetched = await source.fetch_all(primary)
        extra = [await source.fetch_all(e) for e in secondaries]
    except IdConsoleError:
        if writable:
            run.status, run.finished = "failure", utcnow()
            run.counts = {"requests": source.requests}
            store.runs.put(run)
            app.last_run = {**app.last_run, "requests": source.budget.to_doc()}
            store.applications.put(app)
            store.flush()
        raise
    finally:
        if own:
            await source.aclose()
    result.fetched, result.pages, result.requests = len(fetched.records), fetched.pages, source.requests
    result.pages += sum(f.pages for f in extra)
    for part in (fetched, *extra):
        result.warnings.extend(part.warnings)

    changed, events, seen = _upsert(store, app, mapping, compiled, fetched, extra, result, run, operator, pk_attr)
    leavers, kept = _leavers(store, app, seen, fetched, extra, result, confirmation or Confirmation(), pk_attr)
    for user in leavers:
        before = user.to_doc()
        user.status, user.updated = "leaver", utcnow()
        changes = {"status": [before["status"], "leaver"]}
        linked = f" (linked from {user.source}; linked_leavers=leaver)" if user.source != f"bitbucket:{app.name}" else ""
        result.outcomes.append(RecordOutcome(user.key(pk_attr), user.label(), "leaver", changes))
        changed.append(user)
        events.append(Event(action="import_leaver", status="success", app=app.name, person=user.label(),
                            person_id=user.id, run=run.id, operator=operator, changes=changes,
                            message=f"no longer a member of Bitbucket workspace {source.workspace}{linked}; "
                                    "the next sync deprovisions their accounts (after confirmation)"))
    for user in kept:
        before_links = dict(user.attributes.get(links.LINKED) or {})
        links.unlink(user, app.name)
        user.updated = utcnow()
        changes = {f"attributes.{links.LINKED}": [before_links, user.attributes.get(links.LINKED)]}
        note = (f"no longer a member of Bitbucket workspace {source.workspace}; kept active because the person also "
                f"comes from {user.source} (linked_leavers=keep on {app.name}; set it to leaver to deprovision them)")
        result.outcomes.append(RecordOutcome(user.key(pk_attr), user.label(), "left_kept", changes, [note]))
        result.warnings.append(f"{user.label()}: {note}")
        changed.append(user)
        events.append(Event(action="import_left", status="success", app=app.name, person=user.label(),
                            person_id=user.id, run=run.id, operator=operator, changes=changes, message=note))

    run.counts = {**result.counts, "pages": result.pages, "requests": result.requests}
    if not writable:
        return result
    run.status = "success" if result.ok else "failure"
    run.finished = utcnow()
    try:  # the events on disk first, then the state: no change is saved without its record
        store.users.put_many(changed)
        store.runs.put(run)
        app.last_run = {"run": run.id, "time": run.started, "counts": run.counts, "requests": source.budget.to_doc()}
        store.applications.put(app)
        try:
            marks = store.events.append_many(events)
        except OSError as exc:
            raise JournalError("the provisioning report cannot be written, so nothing was imported",
                               detail=exc.strerror or str(exc), hint=f"free space or fix {store.events.dir}") from None
        try:
            store.flush()
        except BaseException:
            store.events.withdraw(marks)
            raise
    except BaseException:
        store.rollback()
        raise
    return result


def _upsert(store: Store, app: Application, mapping: Mapping, compiled: dict[str, Any], fetched: FetchResult,
            extra: list[FetchResult], result: ImportResult, run: Run, operator: str,
            pk_attr: str) -> tuple[list[User], list[Event], set[str]]:
    """Map each record and build the changed people and their events; returns every member key seen."""
    source_tag = f"bitbucket:{app.name}"
    joined = _joined(mapping, extra)
    seen: set[str] = set()
    taken: dict[tuple[str, str], str] = {}  # (label, value) -> key, within this run
    changed: list[User] = []
    events: list[Event] = []
    by_attribute = {name: {str(u.attributes[name]).casefold(): u for u in store.users if u.attributes.get(name)}
                    for name in mapping.match_on if name not in LOCAL_FIELDS}
    # in key order, so that when two new members want one userName the same one gets it on every run
    for record in sorted(fetched.records, key=lambda r: str(flatten(r).get(mapping.primary_key) or "").casefold()):
        flat = flatten(record)
        key = str(flat.get(mapping.primary_key) or "").strip()
        if key and key.casefold() in seen:
            result.warnings.append(f"{key} was returned twice; the first record was used")
            continue
        if key:
            seen.add(key.casefold())
            for name, value in joined.get(key.casefold(), {}).items():
                flat.setdefault(name, value)
        mapped = mapping.apply(flat, pk_attr, compiled)
        existing = store.users.by_key(key) if key else None
        if existing is None and mapped.ok:
            existing = _correlate(store, mapping, mapped, by_attribute, pk_attr, source_tag)
        outcome, user = _person(store, mapped, existing, source_tag, taken, pk_attr)
        if outcome.issues and outcome.action != "skipped":
            result.warnings.extend(outcome.issues)
        result.outcomes.append(outcome)
        if outcome.action == "unchanged":
            continue
        action = "import_create" if existing is None else "import_update"
        if user is None:
            events.append(Event(action=action, status="skipped", app=app.name, person=outcome.person, run=run.id,
                                operator=operator, person_id=existing.id if existing else "",
                                error="; ".join(outcome.issues), message="record skipped: invalid mapped value"))
            continue
        changed.append(user)
        events.append(Event(action=action, status="success", app=app.name, person=user.label(), person_id=user.id,
                            run=run.id, operator=operator, changes=outcome.changes,
                            message=f"from Bitbucket workspace {str(setting(app, 'workspace'))}"))
    return changed, events, seen


def _correlate(store: Store, mapping: Mapping, mapped: MappedRecord, by_attribute: dict[str, dict[str, User]],
               pk_attr: str, source_tag: str = "") -> User | None:
    """An existing person this record belongs to although their primary keys differ (mapping.match_on); never a
    person this source created, nor one whose identity attribute (bitbucketAccountId) names another account."""
    identities = [n for n in mapping.match_on if n not in LOCAL_FIELDS and mapped.values.get(n)]
    for name in mapping.match_on:
        value = str(mapped.values.get(name) or "").strip()
        if not value:
            continue
        if name == "userName":
            found = store.users.by_user_name(value)
        elif name == "email":
            found = store.users.by_email(value)
        else:
            found = by_attribute.get(name, {}).get(value.casefold())
        if found is not None and (found.source == source_tag or any(
                found.attributes.get(n) and str(found.attributes[n]).casefold() != str(mapped.values[n]).casefold()
                for n in identities)):
            continue  # another member of this source who shares a nickname: not the same person
        if found is not None:
            mapped.values.pop(pk_attr, None)  # the person keeps their own primary key
            return found
    return None


def _person(store: Store, mapped: MappedRecord, existing: User | None, source_tag: str,
            taken: dict[tuple[str, str], str], pk_attr: str) -> tuple[RecordOutcome, User | None]:
    """The outcome for one mapped record and the changed person (None when skipped or unchanged)."""
    label = mapped.values.get("userName") or (existing.label() if existing else mapped.key)
    if not mapped.ok:
        return RecordOutcome(mapped.key, label, "skipped", issues=[str(i) for i in mapped.issues]), None
    if existing is not None:
        user = User.from_doc(copy.deepcopy(existing.to_doc()))
    else:
        user = User(employeeId="", userName="", source=source_tag)
    _apply_values(user, mapped.values)
    if existing is not None and existing.source != source_tag:
        links.link(user, source_tag.split(":", 1)[1], mapped.key)  # from another source, linked to this one

    def name_taken(name: str) -> bool:
        other = store.users.by_user_name(name)
        holder = taken.get(("userName", name.casefold()))
        return (other is not None and other.id != user.id) or (holder is not None and holder != mapped.key)

    notes: list[str] = []
    wanted = user.userName
    user.userName = links.unique_user_name(wanted, mapped.key, name_taken)
    if user.userName != wanted:
        notes.append(f"{mapped.key}: userName {wanted!r} is another person's; given {user.userName!r}")
    if existing is not None and existing.status == "leaver" and existing.source == source_tag:
        user.status = "active"  # a returning member
    try:
        validate_user(user, pk_attr, from_source=True)
        store.users._check(user)
        for label_, value in (("userName", user.userName), *(("email", e) for e in user.emails)):
            other = taken.get((label_, value.casefold()))
            if other is not None and other != mapped.key:
                raise ValidationError(label_, value, f"is also mapped for {other} in this run")
    except ValidationError as exc:
        issue = f"{mapped.key}: {exc.field} = {exc.value!r} {exc.rule}"
        return RecordOutcome(mapped.key, label, "skipped", issues=[issue]), None
    for label_, value in (("userName", user.userName), *(("email", e) for e in user.emails)):
        taken[(label_, value.casefold())] = mapped.key
    if existing is None:
        changes = {k: v for k, v in _diff({}, user.to_doc()).items() if v[1] not in ("", [], {}, None)}
        outcome = RecordOutcome(mapped.key, user.label(), "create", changes, notes)
    else:
        changes = _diff(existing.to_doc(), user.to_doc())
        if not changes:
            return RecordOutcome(mapped.key, user.label(), "unchanged"), None
        user.updated = utcnow()
        outcome = RecordOutcome(mapped.key, user.label(), "update", changes, notes)
    return outcome, user


def _leavers(store: Store, app: Application, seen: set[str], fetched: FetchResult, extra: list[FetchResult],
             result: ImportResult, confirmation: Confirmation, pk_attr: str) -> tuple[list[User], list[User]]:
    """(leavers, people kept): people of this source who are no longer members, or none with a warning when that
    cannot be trusted. People linked to it from another source are leavers only when its `linked_leavers` is
    `leaver`; otherwise they are kept and reported. Above the threshold the operator confirms (`yes`) the exact
    number (`count`), as for a sync's deprovisions."""
    source_tag = f"bitbucket:{app.name}"
    linked_leave = str(app.settings.get("linked_leavers") or "keep") == "leaver"
    own = [u for u in store.users if u.source == source_tag and u.status == "active"]
    linked = [u for u in store.users if u.source != source_tag and u.status == "active" and links.linked_key(u, app.name)]
    gone_own = [u for u in own if u.key(pk_attr).casefold() not in seen]
    gone_linked = [u for u in linked if links.linked_key(u, app.name).casefold() not in seen]
    mine = own + (linked if linked_leave else [])
    gone = gone_own + (gone_linked if linked_leave else [])
    kept = [] if linked_leave else gone_linked
    if not gone and not kept:
        return [], []
    names = sorted(u.label() for u in gone)
    if not all(part.complete for part in (fetched, *extra)):
        result.leavers_refused = (f"the member list was not read completely; {len(gone)} people missing from it "
                                  "were NOT made leavers")
    elif not fetched.records:
        result.leavers_refused = (f"the workspace returned no members at all; refusing to make all {len(gone)} "
                                  "people of this source leavers (check the workspace and the credentials' access)")
    else:
        limit_pct = app.threshold_percent * len(mine)
        above = len(gone) > app.threshold_count or len(gone) * 100 > limit_pct
        if confirmation.count is not None and confirmation.count != len(gone):
            result.leavers_refused = (f"{confirmation.count} leavers confirmed, but {len(gone)} people left; confirm "
                                      f"with --yes --allow-deletes {len(gone)}")
        elif above and not (confirmation.yes and confirmation.count == len(gone)):
            result.leavers_refused = (f"{len(gone)} leavers exceed the threshold (more than {app.threshold_count} "
                                      f"or {app.threshold_percent}% of {len(mine)}); confirm with --yes "
                                      f"--allow-deletes {len(gone)}")
    if result.leavers_refused:
        result.warnings.append(result.leavers_refused)
        result.pending_leavers = names
        return [], []
    return ([User.from_doc(copy.deepcopy(u.to_doc())) for u in gone],
            [User.from_doc(copy.deepcopy(u.to_doc())) for u in kept])
