"""Plan: a pure diff of the desired state (policies × people × groups) against the links.

Operations carry their reason and field-level before → after. Nothing here does I/O; the optional
reconcile (orphans and drift from a fresh remote read) lives in `reconcile.py` and feeds `build_plan`.
"""
from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import concat, eq, itemgetter
from datetime import datetime, timedelta
from typing import Any

import orjson

from console import clock
from console.connectors.base import Capability
from console.models import Application, User, document_digest
from console.policies import Entitlement, desired_for, why_not
from console.store import Store, UserRepo

AttrsFn = Callable[[User, str], dict[str, Any]]
LimitsFn = Callable[[dict[str, Any]], str]  # the connector's value limits: why the target would refuse, or ""
Tools = (tuple[AttrsFn, frozenset[Capability]] | tuple[AttrsFn, frozenset[Capability], LimitsFn]
         | tuple[AttrsFn, frozenset[Capability], LimitsFn, str])  # str: the connector's `attributes_version`

# The order in which an application's operations are applied: accounts before memberships,
# memberships before deprovisioning, groups created first and deleted last.
PHASES = ("group_create", "create", "reactivate", "update", "member_add", "member_remove", "deactivate", "delete",
          "group_delete")
DEPROVISIONS = ("deactivate", "delete")


@dataclass
class Operation:
    app: str
    action: str
    reason: str
    person_id: str = ""
    person: str = ""
    group: str = ""
    remote_id: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)  # the full desired attributes (create, update)
    changes: dict[str, list[Any]] = field(default_factory=dict)  # field -> [before, after]
    member_ids: list[str] = field(default_factory=list)  # user ids, for member_add/member_remove
    blocked: str = ""  # why it will not be applied (feature off, capability missing)
    inputs: str = ""  # create, update: what `attrs` were computed from (`inputs_key`), recorded on the link once pushed

    @property
    def key(self) -> str:
        return f"{self.app}|{self.action}|{self.person_id or self.group}|{','.join(self.member_ids)}"

    def to_dict(self) -> dict[str, Any]:
        return ({k: v for k, v in self.__dict__.items() if v not in ("", [], {}) and k != "inputs"}
                | {"action": self.action, "app": self.app})


@dataclass
class AppPlan:
    app: str
    operations: list[Operation] = field(default_factory=list)
    linked: int = 0  # active user links before the run
    orphans: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    threshold_count: int = 10
    threshold_percent: int = 20
    # people whose active link holds the attributes computed, but recorded other inputs (or none: links older than
    # `Link.inputs`): user id -> (the inputs, what says the link is the one the plan compared: `LinkRepo.pushed`).
    # A sync records them, so that the next plan skips these people too (`Applier`).
    settled: dict[str, tuple[str, Any]] = field(default_factory=dict)

    @property
    def deprovisions(self) -> list[Operation]:
        return [op for op in self.operations if op.action in DEPROVISIONS and not op.blocked]

    def threshold_exceeded(self) -> bool:
        count = len(self.deprovisions)
        if count == 0:
            return False
        return count > self.threshold_count or (self.linked > 0 and count * 100 > self.threshold_percent * self.linked)

    def threshold_text(self) -> str:
        return f"more than {self.threshold_count} accounts or {self.threshold_percent}% of {self.linked} linked"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.operations:
            name = op.action if not op.blocked else "blocked"
            counts[name] = counts.get(name, 0) + 1
        return counts


@dataclass
class Plan:
    apps: list[AppPlan] = field(default_factory=list)

    @property
    def operations(self) -> list[Operation]:
        return [op for app in self.apps for op in app.operations]

    def to_dict(self) -> dict[str, Any]:
        return {"apps": [{"app": a.app, "counts": a.counts(), "linked": a.linked,
                          "deprovisions": len(a.deprovisions), "threshold_exceeded": a.threshold_exceeded(),
                          "operations": [op.to_dict() for op in a.operations], "orphans": a.orphans, "drift": a.drift}
                         for a in self.apps]}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def person_inputs(user: User) -> str:
    """A digest of every field of a person: what a connector's `account_attributes` may read of them. A change to
    a field no target reads only costs the attributes being computed again."""
    return document_digest(orjson.dumps(user))


def context_inputs(app: Application, attributes_version: str, login_method: str) -> str:
    """A digest of what else `account_attributes` reads: the application's kind and settings, the connector's
    code (its `attributes_version`) and the person's login method (which the policies and groups decide)."""
    doc = [app.kind, app.settings, attributes_version, login_method]
    return hashlib.blake2b(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS), digest_size=6).hexdigest()


def inputs_key(person: str, context: str) -> str:
    """What a link records as `Link.inputs` when the attributes computed from these inputs were pushed."""
    return f"{person}.{context}"


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Planning allocates ~10 objects per person; with 100k people held in memory, the cyclic GC's
    full passes over the state would cost more than the plan itself. Nothing here makes cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def plan_app(store: Store, app: Application, attrs_fn: AttrsFn, capabilities: frozenset[Capability],
             *, now: datetime | None = None, drift: dict[str, dict[str, Any]] | None = None,
             limits: LimitsFn | None = None, attributes_version: str = "",
             people: dict[str, str] | None = None) -> AppPlan:
    """Every operation that brings `app` to its desired state, with the reason for each.

    With the connector's `attributes_version`, a person whose inputs (`inputs_key`) are those recorded on their
    active link when it was last pushed is skipped without computing their attributes; without it (or for links
    that recorded none) the attributes are computed and compared. `people` caches `person_inputs` by person id
    across the applications of one plan."""
    with gc_paused():
        return _plan_app(store, app, attrs_fn, capabilities, now=now, drift=drift, limits=limits,
                         attributes_version=attributes_version, people={} if people is None else people)


def _plan_app(store: Store, app: Application, attrs_fn: AttrsFn, capabilities: frozenset[Capability],
              *, now: datetime | None, drift: dict[str, dict[str, Any]] | None,
              limits: LimitsFn | None, attributes_version: str, people: dict[str, str]) -> AppPlan:
    now = now or clock.now()
    desired = desired_for(store, app)
    links, users = store.links, store.users
    partial = store.partial
    user_links = links.heads(app.name, "user")  # partial: state and inputs only, the link read when needed (`full`)
    ids, heads = list(user_links), list(user_links.values())
    states = list(map(itemgetter(0), heads))
    result = AppPlan(app=app.name, threshold_count=app.threshold_count, threshold_percent=app.threshold_percent,
                     linked=states.count("active"))
    ops = result.operations

    def gate(op: Operation, feature: str, capability: Capability) -> Operation:
        # a value the target would refuse (only what an update changes): blocked with its reason, never sent
        sent = {k: op.attrs[k] for k in op.changes if k in op.attrs} if op.action == "update" else op.attrs
        refused = limits(sent) if limits is not None and op.action in ("create", "update") and sent else ""
        if refused:
            op.blocked = f"{app.name} would refuse: {refused}"
        elif capability not in capabilities:
            op.blocked = f"{app.kind} cannot {capability.value}"
        elif not app.feature(feature):
            op.blocked = f"feature {feature} is switched off for {app.name}"
        return op

    drift = drift or {}
    accounts = desired.accounts
    contexts: dict[str, str] = {}  # login method -> context_inputs
    todo: list[str] | dict[str, Entitlement] = accounts  # the people whose attributes are computed
    if attributes_version:
        # the people whose active link recorded the inputs of now, found for all at once (C speed): skipped without
        # computing their attributes (most people, on most runs: the inputs of the last push, so the attributes
        # pushed then). A partial store digests the people's stored bytes (the same digest): no person built.
        people.update(users.stored_inputs())
        # a partial store gave every person's digest; a whole one digests its people in their order (memory order)
        missing = accounts.keys() - people.keys() if partial else [u for u in accounts if u not in people]
        for user_id in missing:
            people[user_id] = person_inputs(_person(users, user_id))
        recorded = list(map(itemgetter(1), heads))
        current = set(compress(ids, map(eq, states, repeat("active"))))
        current.difference_update(drift)
        skip: dict[str, set[str]] = {}
        for method in {ent.login_method for ent in set(accounts.values())}:
            context = contexts[method] = context_inputs(app, attributes_version, method)
            expected = map(concat, map(people.get, ids, repeat("")), repeat("." + context))  # inputs_key(person, context)
            skip[method] = current.intersection(compress(ids, map(eq, recorded, expected)))
        if len(skip) == 1:
            (skipped,) = skip.values()
            todo = [user_id for user_id in accounts if user_id not in skipped]
        else:
            todo = [user_id for user_id, ent in accounts.items() if user_id not in skip[ent.login_method]]
    for user_id in todo:
        ent = accounts[user_id]
        head = user_links.get(user_id)
        inputs = f"{people[user_id]}.{contexts[ent.login_method]}" if attributes_version else ""
        # not kept by a partial store: a plan computing most people (links that recorded no inputs, a connector
        # without `attributes_version`) reads them one at a time instead of holding them all
        user = _person(users, user_id)
        attrs = attrs_fn(user, ent.login_method)
        if head is not None and head[0] == "active" and user_id not in drift:
            last, saved = links.pushed(app.name, user_id, head)  # partial: the link's document, no link built
            if last == attrs:
                if inputs:
                    result.settled[user_id] = (inputs, saved)
                continue  # nothing changed (one C-level comparison instead of a diff)
        link = links.peek_at(app.name, user_id, head) if head is not None else None
        if link is None or link.state == "deleted":
            ops.append(gate(Operation(app.name, "create", ent.reason(), user_id, user.label(), attrs=attrs,
                                      changes=diff({}, attrs), inputs=inputs), "create", Capability.CREATE))
            continue
        if link.state == "deactivated":
            ops.append(gate(Operation(app.name, "reactivate", f"entitled again: {ent.reason()}", user_id, user.label(),
                                      remote_id=link.remote_id), "deactivate", Capability.REACTIVATE))
        observed = link.attrs
        reason = "attributes changed locally"
        if user_id in drift:
            observed = {**link.attrs, **drift[user_id]}
            reason = "changed in the target outside idconsole (drift)"
        changes = diff(observed, attrs)
        if changes:
            ops.append(gate(Operation(app.name, "update", reason, user_id, user.label(), remote_id=link.remote_id,
                                      attrs=attrs, changes=changes, inputs=inputs), "update", Capability.UPDATE))

    for user_id, head in user_links.items():
        if user_id in desired.accounts or head[0] == "deleted":
            continue
        link = links.at(app.name, user_id, head)
        user = store.users.get(user_id)
        label = user.label() if user else link.remote_name
        reason = why_not(store, app, user_id)
        wants_delete = app.deprovision == "delete"
        if link.state == "active":
            if wants_delete and app.delete_grace_days <= 0:
                ops.append(gate(Operation(app.name, "delete", reason, user_id, label, remote_id=link.remote_id),
                                "delete", Capability.DELETE))
            else:
                ops.append(gate(Operation(app.name, "deactivate", reason, user_id, label, remote_id=link.remote_id),
                                "deactivate", Capability.DEACTIVATE))
        elif link.state == "deactivated" and wants_delete:
            due = _parse(link.updated) + timedelta(days=app.delete_grace_days)
            if now >= due:
                ops.append(gate(Operation(app.name, "delete", f"{reason}; deactivated on {link.updated[:10]}, grace "
                                          f"period of {app.delete_grace_days} days over", user_id, label,
                                          remote_id=link.remote_id), "delete", Capability.DELETE))

    if Capability.GROUPS in capabilities and app.feature("groups"):
        group_links = {local_id: links.at(app.name, local_id, head, "group")
                       for local_id, head in links.heads(app.name, "group").items()}
        will_have_account = set(desired.accounts)
        deprovisioned = _deprovisioned(ops)
        for name, member_ids in desired.groups.items():
            group = store.groups.by_name(name)
            if group is None:
                continue
            glink = group_links.get(group.id)
            if glink is None or glink.state == "deleted":
                ops.append(Operation(app.name, "group_create", f"named in a policy for {app.name}", group=group.name))
                pushed: list[str] = []
            else:
                pushed = list(glink.extra.get("members", []))
            if Capability.MEMBERSHIPS not in capabilities or not app.feature("memberships"):
                continue
            wanted = [m for m in member_ids if m in will_have_account]
            wanted_set, pushed_set = set(wanted), set(pushed)
            add = [m for m in wanted if m not in pushed_set]
            remove = [m for m in pushed if m not in wanted_set and m not in deprovisioned]
            if add:
                ops.append(Operation(app.name, "member_add", f"{len(add)} people joined {group.name}", group=group.name,
                                     member_ids=add, changes={"members": [len(pushed), len(pushed) + len(add)]}))
            if remove:
                ops.append(Operation(app.name, "member_remove", f"{len(remove)} people left {group.name}",
                                     group=group.name, member_ids=remove,
                                     changes={"members": [len(pushed), len(pushed) - len(remove)]}))
        wanted_groups = {g.id for g in (store.groups.by_name(n) for n in desired.groups) if g}
        for group_id, glink in group_links.items():
            if group_id not in wanted_groups and glink.state == "active":
                group = store.groups.get(group_id)
                ops.append(Operation(app.name, "group_delete", f"no enabled policy for {app.name} names it any more",
                                     group=group.name if group else glink.remote_name, remote_id=glink.remote_id))
    ops.sort(key=lambda op: PHASES.index(op.action))
    return result


def _person(users: UserRepo, user_id: str) -> User:
    user = users.peek(user_id)
    if user is None:  # the active ids come from the very state the people are read from
        raise LookupError(f"person {user_id} is not in the state")
    return user


def _deprovisioned(ops: list[Operation]) -> set[str]:
    """People whose deprovisioning removes their memberships anyway (and whose account may be gone)."""
    return {op.person_id for op in ops if op.action in DEPROVISIONS}


def plan_from_state(store: Store, apps: list[Application], tools: dict[str, Tools],
                    *, drift: dict[str, dict[str, dict[str, Any]]] | None = None) -> Plan:
    plan = Plan()
    people: dict[str, str] = {}  # person_inputs, computed once per person for all the applications
    for app in apps:
        tool = tools[app.name]
        attrs_fn, capabilities = tool[0], tool[1]
        limits = tool[2] if len(tool) > 2 else None
        version = tool[3] if len(tool) > 3 else ""
        plan.apps.append(plan_app(store, app, attrs_fn, capabilities, drift=(drift or {}).get(app.name),
                                  limits=limits, attributes_version=version, people=people))
    return plan
