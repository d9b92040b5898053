"""`idconsole plan` and `idconsole sync`: what would change, then applying it."""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from console.cli.output import confirm, emit_json
from console.errors import DeletionRefused
from console.reports import describe_changes
from console.service import Plan, Service


def print_plan(plan: Plan) -> None:
    for app_plan in plan.apps:
        counts = ", ".join(f"{n} {k}" for k, n in app_plan.counts().items()) or "nothing to do"
        print(f"{app_plan.app}: {counts}")
        for op in app_plan.operations:
            who = op.person or op.group
            line = f"  {op.action:<13} {who:<28} {op.reason}"
            if op.blocked:
                line += f"  [not applied: {op.blocked}]"
            print(line)
            if op.changes and op.action == "update":
                print(f"  {'':<13} {'':<28} {describe_changes(op.changes)}")
        if app_plan.threshold_exceeded():
            print(f"  ! {len(app_plan.deprovisions)} deprovisions exceed the deletion threshold "
                  f"({app_plan.threshold_text()}): a sync needs --allow-deletes {len(app_plan.deprovisions)}")
        for orphan in app_plan.orphans:
            owner = f" -> will be adopted for {orphan['owner']}" if orphan.get("owner") else " (no local owner: left alone)"
            print(f"  orphan        {orphan['name']}{owner}")
        for item in app_plan.drift:
            print(f"  drift         {item['person']}: {', '.join(item['fields'])}")


def plan(svc: Service, a: argparse.Namespace) -> int:
    result = asyncio.run(svc.plan(a.app, reconcile=a.reconcile))
    if a.json:
        emit_json(result.to_dict())
    else:
        print_plan(result)
    return 0


def sync(svc: Service, a: argparse.Namespace) -> int:
    planned = asyncio.run(svc.plan(a.app))
    count = svc.deprovision_count(planned)
    confirmed = a.yes
    if not a.dry_run and count and not a.yes and a.allow_deletes is None:
        if not a.json:
            print_plan(planned)
        confirmed = confirm(f"Apply, deprovisioning {count} account(s)?")
        if not confirmed:
            print("nothing applied")
            return 2
    try:
        result = asyncio.run(svc.apply(planned, dry_run=a.dry_run, confirmed=confirmed, allow_deletes=a.allow_deletes))
    except DeletionRefused:
        if not a.json:
            print_plan(planned)
        raise
    if a.json:
        emit_json(result.to_dict() | {"plan": planned.to_dict()})
        return 0 if result.ok else 1
    if a.dry_run:
        print_plan(planned)
        print(f"dry run: {len(result.would)} write(s) would be sent; nothing was changed")
    for app, counts in result.counts.items():
        print(f"{app}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for failure in result.failures:
        print(f"  FAILED {failure['app']} {failure['action']} {failure['person']}: {failure['error']}", file=sys.stderr)
    for app, why in result.stopped.items():
        print(f"  STOPPED {app}: {why}", file=sys.stderr)
    if result.initial_passwords:
        print("initial passwords (shown once, not stored):")
        for who, password in result.initial_passwords.items():
            print(f"  {who}: {password}")
    print(f"run {result.run_id}: see idconsole report --run {result.run_id}")
    return 0 if result.ok else 1


def register(sub: Any, cmd: Any) -> None:
    p = cmd(sub, "plan", plan, "what a sync would do, with reasons")
    p.add_argument("--app")
    p.add_argument("--reconcile", action="store_true", help="read the targets too: orphans and drift")
    p = cmd(sub, "sync", sync, "apply the plan to the targets", write=True)
    p.add_argument("--app")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--yes", action="store_true")
    p.add_argument("--allow-deletes", type=int, default=None, metavar="N",
                   help="the run's total of deprovisions, all applications together; confirms a count, never replaces --yes")
