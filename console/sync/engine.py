"""The engine's entry points: build connectors, plan (optionally reconciling with a remote read), apply."""
from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

from console.connectors import Mode, is_target, make_target
from console.connectors.base import Connector
from console.connectors.tls import InsecureTransport
from console.errors import BadInput, ReadOnly
from console.models import Application, Link
from console.redact import redact
from console.store import Store
from console.sync.apply import Applier, ApplyResult, Progress
from console.sync.confirm import Confirmation, check_deletions, standing_confirmations
from console.sync.plan import AppPlan, Operation, Plan, Tools, diff, plan_from_state


def target_apps(store: Store, app_name: str | None) -> list[Application]:
    """The applications a plan covers: one by name, or every target bound by a policy."""
    if app_name:
        app = store.applications.by_name(app_name)
        if app is None:
            raise BadInput(f"no application {app_name!r}", hint="see idconsole apps list")
        if not is_target(app.kind):
            raise BadInput(f"{app.name} is a source", hint=f"use idconsole import {app.kind} {app.name}")
        return [app]
    bound = {p.app for p in store.policies}
    linked = store.links.apps()
    return sorted((a for a in store.applications if is_target(a.kind) and (a.name in bound or a.name in linked)),
                  key=lambda a: a.name)


def open_connectors(apps: list[Application], *, mode: Mode) -> dict[str, Connector]:
    return {app.name: make_target(app, mode=mode) for app in apps}


def tools_of(connectors: dict[str, Connector]) -> dict[str, Tools]:
    return {name: (c.account_attributes, frozenset(c.capabilities), _refusals(c), c.attributes_version)
            for name, c in connectors.items()}


def _refusals(connector: Connector) -> Callable[[dict[str, Any]], str]:
    """Why the target would refuse these attributes ("" when it would not): its value limits (required values,
    verified domains) and its attribute limits (syntax, rangeUpper), as one reason for the plan to block on."""
    limits = connector.value_limits()

    def reason(attrs: dict[str, Any]) -> str:
        found = connector.check_attributes(attrs)
        named = {line.split(" ", 1)[0] for line in found}  # each attribute said once, in its most precise words
        found += [problem for limit, problem in ((limit, limit.problem(attrs)) for limit in limits.limits)
                  if problem and limit.attribute not in named]
        return "; ".join(found)

    return reason


async def reconcile(store: Store, connectors: dict[str, Connector]
                    ) -> tuple[dict[str, Any], dict[str, list[Any]], dict[str, list[Link]]]:
    """Read every target: drift (linked accounts changed outside idconsole), orphans (no local owner) and missing
    accounts (linked, but deleted outside idconsole: stale links)."""
    drift: dict[str, dict[str, dict[str, Any]]] = {}
    orphans: dict[str, list[Any]] = {}
    missing: dict[str, list[Link]] = {}
    for app_name, connector in connectors.items():
        links = {link.remote_id: link for link in store.links.for_app(app_name, "user") if link.state != "deleted"}
        seen: set[str] = set()
        app_drift: dict[str, dict[str, Any]] = {}
        app_orphans: list[dict[str, Any]] = []
        async for account in connector.list_users():
            seen.add(account.uid)
            link = links.get(account.uid)
            if link is None:
                shown = redact(account.name, connector.secrets(), limit=256)  # text from the target
                app_orphans.append({"uid": account.uid, "name": shown, "active": account.active})
                continue
            changed = {k: account.attrs[k] for k in link.attrs if k in account.attrs and account.attrs[k] != link.attrs[k]}
            if changed and link.state == "active":
                app_drift[link.local_id] = changed
        drift[app_name] = app_drift
        orphans[app_name] = app_orphans
        missing[app_name] = [link for uid, link in links.items() if uid not in seen]
    return drift, orphans, missing


def plan_stale_links(app_plan: AppPlan, missing: list[Link], store: Store) -> None:
    """Accounts deleted outside idconsole: re-created for people still entitled (an active link with nothing else
    planned), otherwise shown; applying a change to one re-creates or unlinks it (see `Applier`)."""
    planned = {op.person_id for op in app_plan.operations}
    for link in missing:
        user = store.users.get(link.local_id)
        who = user.label() if user else link.local_id
        gone = link.remote_name or link.remote_id
        if link.state == "active" and link.local_id not in planned and link.attrs:
            app_plan.operations.append(Operation(
                app_plan.app, "create", f"re-create: the account {gone} is missing in the target (deleted outside "
                f"idconsole)", link.local_id, who, attrs=dict(link.attrs), changes=diff({}, link.attrs), inputs=link.inputs))
        what = ("re-created by the next sync" if link.state == "active" else "unlinked by the next sync")
        app_plan.drift.append({"person": who, "fields": [f"account {gone} missing in the target: {what}"]})


async def make_plan(store: Store, app_name: str | None = None, *, reconcile_remote: bool = False) -> Plan:
    """The plan of `app_name` (or every target). A store opened through the state's index plans through it (people
    and links read only where the inputs recorded on a link moved), and applies it without reading the others
    (`Store` writes the links changed apart)."""
    apps = target_apps(store, app_name)
    connectors = open_connectors(apps, mode=Mode.READ_ONLY)  # planning only reads
    try:
        drift, orphans, missing = (await reconcile(store, connectors)) if reconcile_remote else ({}, {}, {})
        plan = plan_from_state(store, apps, tools_of(connectors), drift=drift)
        entitled_names = {}
        for app_plan in plan.apps:
            connector = connectors[app_plan.app]
            for op in app_plan.operations:
                if op.action == "create":
                    entitled_names[(app_plan.app, connector.account_name(op.attrs).casefold())] = op
            for orphan in orphans.get(app_plan.app, []):
                op = entitled_names.get((app_plan.app, str(orphan["name"]).casefold()))
                if op is not None:
                    op.reason = f"adopt the existing account {orphan['name']} ({op.reason})"
                    orphan["owner"] = op.person
                app_plan.orphans.append(orphan)
            app_plan.drift = [{"person": store.users.get(uid).label() if store.users.get(uid) else uid, "fields": f}
                              for uid, f in drift.get(app_plan.app, {}).items()]
            plan_stale_links(app_plan, missing.get(app_plan.app, []), store)
        return plan
    finally:
        for connector in connectors.values():
            await connector.aclose()


async def apply_plan(store: Store, plan: Plan, confirmation: Confirmation | None = None, *, operator: str,
                     dry_run: bool = False, on_progress: Callable[[Progress], None] | None = None,
                     cancel: asyncio.Event | None = None) -> ApplyResult:
    """Apply a plan: refused on a read-only store, and unless `confirmation` covers its deprovisions (the applier
    checks both again, so no caller gets past them)."""
    if not dry_run:
        if store.readonly:
            raise ReadOnly("read-only: a sync would change the targets and the state",
                           hint="nothing was sent; run it without --readonly")
        check_deletions(plan, confirmation or Confirmation(), standing_confirmations(store))
    apps = [store.applications.by_name(a.app) for a in plan.apps]
    with warnings.catch_warnings(record=True) as raised:  # credentials allowed in clear: said on every run
        warnings.simplefilter("always", InsecureTransport)
        connectors = open_connectors([a for a in apps if a is not None], mode=Mode.DRY_RUN if dry_run else Mode.LIVE)
    notes = [str(w.message) for w in raised if issubclass(w.category, InsecureTransport)]
    for note in notes:
        warnings.warn(note, InsecureTransport, stacklevel=2)  # the CLI prints it; the result carries it too
    applier = Applier(store, plan, connectors, operator=operator, dry_run=dry_run, on_progress=on_progress,
                      cancel=cancel, max_concurrency={a.name: a.max_concurrency for a in apps if a}, confirmation=confirmation)
    applier.result.warnings.extend(notes)
    try:
        return await applier.apply()
    except BaseException:
        for connector in connectors.values():
            await connector.aclose()
        raise
