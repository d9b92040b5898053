"""Provision one person now, with a trace of each step (like Entra's provision on demand): in scope because…,
matched to…, action, result — per application. The plan is the usual one, filtered to that person."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from console.models import User
from console.policies import desired_for, why_not
from console.store import Store
from console.sync.apply import ApplyResult
from console.sync.plan import AppPlan, Operation, Plan

STEPS = ("scope", "match", "action", "result")


@dataclass
class TraceStep:
    """One step of one application: what was found or done, and whether it went well (None: nothing to judge)."""

    app: str
    step: str  # scope | match | action | result
    text: str
    ok: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"app": self.app, "step": self.step, "text": self.text, "ok": self.ok}


@dataclass
class ProvisionTrace:
    """What provisioning one person did, step by step, with the run's result (None when nothing was applied)."""

    person: str
    person_id: str
    steps: list[TraceStep] = field(default_factory=list)
    result: ApplyResult | None = None
    plan: Plan | None = None

    @property
    def ok(self) -> bool:
        return all(s.ok is not False for s in self.steps) and (self.result is None or self.result.ok)

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.person, "ok": self.ok, "steps": [s.to_dict() for s in self.steps],
                "run": self.result.run_id if self.result else None,
                "dry_run": self.result.dry_run if self.result else False}


def for_person(plan: Plan, user_id: str) -> Plan:
    """The plan's operations that concern one person: their account operations, their group memberships only, and
    the creation of groups they are being added to."""
    out = Plan()
    for app_plan in plan.apps:
        ops: list[Operation] = []
        groups: set[str] = set()
        for op in app_plan.operations:
            if op.person_id == user_id:
                ops.append(op)
            elif user_id in op.member_ids:
                before = (op.changes.get("members") or [0, 0])[0]
                delta = 1 if op.action == "member_add" else -1
                ops.append(dataclasses.replace(op, member_ids=[user_id], changes={"members": [before, before + delta]}))
                groups.add(op.group)
        ops = [op for op in app_plan.operations if op.action == "group_create" and op.group in groups] + ops
        out.apps.append(dataclasses.replace(app_plan, operations=ops, orphans=[], drift=[]))
    return out


def explain(store: Store, plan: Plan, user: User) -> list[TraceStep]:
    """The scope, match and action steps of each application in the (filtered) plan."""
    steps: list[TraceStep] = []
    for app_plan in plan.apps:
        app = store.applications.by_name(app_plan.app)
        if app is None:
            continue
        entitlement = desired_for(store, app).accounts.get(user.id)
        link = store.links.find(app.name, user.id)
        if entitlement is not None:
            steps.append(TraceStep(app.name, "scope", f"in scope: {entitlement.reason()}", True))
        elif link is not None and link.state != "deleted":
            steps.append(TraceStep(app.name, "scope", f"out of scope: {why_not(store, app, user.id)}", True))
        else:
            steps.append(TraceStep(app.name, "scope", f"not in scope: {why_not(store, app, user.id)}; nothing to do",
                                   None))
            continue
        if link is None or link.state == "deleted":
            steps.append(TraceStep(app.name, "match", "no linked account: one will be created (or an existing "
                                   "account with the same name adopted)", None))
        else:
            steps.append(TraceStep(app.name, "match", f"matched to {link.remote_name or link.remote_id} "
                                   f"(id {link.remote_id}, {link.state})", True))
        if not app_plan.operations:
            steps.append(TraceStep(app.name, "action", "none: the account is up to date", True))
        for op in app_plan.operations:
            steps.append(TraceStep(app.name, "action", _describe(op), False if op.blocked else None))
    return steps


def _describe(op: Operation) -> str:
    if op.action in ("member_add", "member_remove"):
        text = f"{op.action.replace('_', ' ')} {op.group}"
    elif op.action == "group_create":
        text = f"create group {op.group}"
    elif op.action == "update":
        text = "update " + ", ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in op.changes.items())
    else:
        text = f"{op.action} ({op.reason})"
    return text + (f" — not applied: {op.blocked}" if op.blocked else "")


def results(store: Store, plan: AppPlan | Plan, result: ApplyResult, user: User) -> list[TraceStep]:
    """One result step per recorded event of the run about this person (or their groups), and per stop."""
    apps = [a.app for a in plan.apps] if isinstance(plan, Plan) else [plan.app]
    steps: list[TraceStep] = []
    events = store.events.query(run=result.run_id) if not result.dry_run else []
    for app in apps:
        mine = [e for e in events if e.app == app and (e.person_id == user.id or e.person == user.label())]
        for event in mine:
            text = f"{event.action}: {event.status}" + (f" — {event.error}" if event.error else "")
            steps.append(TraceStep(app, "result", text, event.status in ("success", "skipped")))
        for would in (w for w in result.would if w.get("app") == app):
            steps.append(TraceStep(app, "result", f"dry run: would {would.get('action', 'write')}", None))
        if app in result.stopped:
            steps.append(TraceStep(app, "result", f"stopped: {result.stopped[app]}", False))
        if not mine and app not in result.stopped and not result.dry_run and any(
                f["app"] == app for f in result.failures):
            for failure in (f for f in result.failures if f["app"] == app):
                steps.append(TraceStep(app, "result", f"{failure['action']} failed: {failure['error']}", False))
    return steps
