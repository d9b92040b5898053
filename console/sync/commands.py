"""`idconsole plan` and `idconsole sync`."""
from __future__ import annotations

import argparse
import asyncio
import sys

from console.cli import confirm, emit_json
from console.errors import DeletionRefused
from console.reports import describe_changes
from console.service import Service
from console.sync.engine import apply_plan, deprovision_count, make_plan
from console.sync.plan import Plan


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


def plan_command(svc: Service, a: argparse.Namespace) -> int:
    plan = asyncio.run(make_plan(svc.store, a.app, reconcile_remote=a.reconcile))
    if a.json:
        emit_json(plan.to_dict())
    else:
        print_plan(plan)
    return 0


def sync_command(svc: Service, a: argparse.Namespace) -> int:
    plan = asyncio.run(make_plan(svc.store, a.app))
    count = deprovision_count(plan)
    confirmed = a.yes
    if not a.dry_run and count and not a.yes and a.allow_deletes is None:
        if not a.json:
            print_plan(plan)
        confirmed = confirm(f"Apply, deprovisioning {count} account(s)?")
        if not confirmed:
            print("nothing applied")
            return 2
    try:
        result = asyncio.run(apply_plan(svc.store, plan, operator=svc.operator, dry_run=a.dry_run,
                                        confirmed=confirmed, allow_deletes=a.allow_deletes))
    except DeletionRefused:
        if not a.json:
            print_plan(plan)
        raise
    if a.json:
        emit_json(result.to_dict() | {"plan": plan.to_dict()})
    else:
        if a.dry_run:
            print_plan(plan)
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
