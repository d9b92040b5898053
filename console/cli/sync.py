"""`idconsole plan` and `idconsole sync`: what would change, then applying it."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from console.cli.output import confirm, emit_json, emit_table, run_async
from console.errors import BadInput, DeletionRefused
from console.reports import describe_changes
from console.service import Confirmation, Service

if TYPE_CHECKING:
    from console.service import Plan


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
            total = sum(len(p.deprovisions) for p in plan.apps)
            print(f"  ! {len(app_plan.deprovisions)} deprovisions exceed the deletion threshold "
                  f"({app_plan.threshold_text()}): a sync needs --yes --allow-deletes {total} (the run's total)")
        for orphan in app_plan.orphans:
            owner = f" -> will be adopted for {orphan['owner']}" if orphan.get("owner") else " (no local owner: left alone)"
            print(f"  orphan        {orphan['name']}{owner}")
        for item in app_plan.drift:
            print(f"  drift         {item['person']}: {', '.join(item['fields'])}")


def plan(svc: Service, a: argparse.Namespace) -> int:
    result = run_async(svc.plan(a.app, reconcile=a.reconcile))
    if a.json:
        emit_json(result.to_dict())
    else:
        print_plan(result)
    return 0


def confirmation_for(svc: Service, planned: Plan, a: argparse.Namespace) -> Confirmation:
    """`--yes` and `--allow-deletes N` as one confirmation; on a terminal without --yes, the operator is asked (and
    types the total when the threshold asks it). Without a terminal nothing is asked: the engine says what is missing."""
    confirmation = Confirmation(yes=a.yes, count=a.allow_deletes)
    count = svc.deprovision_count(planned)
    if a.dry_run or not count or a.yes or a.json or not sys.stdin.isatty():
        return confirmation
    print_plan(planned)
    if not confirm(f"Apply, deprovisioning {count} account(s) in all?"):
        raise BadInput("nothing applied", hint="the deprovisions were not confirmed")
    if any(app_plan.threshold_exceeded() for app_plan in planned.apps) and a.allow_deletes is None:
        typed = input(f"This exceeds the deletion threshold: type the run's total ({count}) to confirm: ").strip()
        return Confirmation(yes=True, count=int(typed) if typed.isdigit() else -1)
    return Confirmation(yes=True, count=a.allow_deletes)


def sync_user(svc: Service, a: argparse.Namespace) -> int:
    """`sync --user USER`: provision one person now and print the trace of each step."""
    trace = run_async(svc.provision_person(a.user, a.app, Confirmation(yes=a.yes, count=a.allow_deletes),
                                             dry_run=a.dry_run))
    if a.json:
        emit_json(trace.to_dict())
        return 0 if trace.ok else 1
    print(f"provisioning {trace.person}" + (" (dry run)" if a.dry_run else ""))
    current = ""
    for step in trace.steps:
        if step.app != current:
            current = step.app
            print(f"{current}:")
        mark = {True: "ok", False: "FAILED", None: "--"}[step.ok]
        print(f"  {step.step:<7} {mark:<6} {step.text}")
    if not trace.steps:
        print("  no application is bound to this person (see idconsole policies list)")
    if trace.result and trace.result.initial_passwords:
        print("initial passwords (shown once, not stored):")
        for who, password in trace.result.initial_passwords.items():
            print(f"  {who}: {password}")
    if trace.result and not trace.result.dry_run:
        print(f"run {trace.result.run_id}: see idconsole report --run {trace.result.run_id}")
    return 0 if trace.ok else 1


def sync(svc: Service, a: argparse.Namespace) -> int:
    if a.user:
        return sync_user(svc, a)
    planned = run_async(svc.plan(a.app))
    confirmation = confirmation_for(svc, planned, a)
    try:
        result = run_async(svc.apply(planned, confirmation, dry_run=a.dry_run))
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
    if result.halted:
        print(f"STOPPED the whole run before its next remote write: {result.halted}", file=sys.stderr)
    if result.resolved:
        print(f"{result.resolved} operation(s) an earlier run left in flight were looked up (see --status unknown)")
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
    p.add_argument("--user", metavar="USER", help="provision one person now, with the trace of each step")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--yes", action="store_true", help="confirm the run's deprovisions")
    p.add_argument("--allow-deletes", type=int, default=None, metavar="N",
                   help="the run's total of deprovisions, all applications together; confirms a count, never replaces --yes")


# ---- deletions: standing confirmations for unattended runs ---------------------------------------
def deletions_list(svc: Service, a: argparse.Namespace) -> int:
    rows = [s.to_dict() for s in svc.unattended_deletes()]
    if a.json:
        emit_json(rows)
    elif not rows:
        print("no standing confirmation: unattended runs deprovision nothing")
    else:
        emit_table([[r["app"], r["limit"], r["by"], r["time"]] for r in rows], ["app", "up to", "allowed by", "since"])
    return 0


def deletions_allow(svc: Service, a: argparse.Namespace) -> int:
    standing = svc.allow_unattended_deletes(a.app, a.limit)
    print(f"unattended runs may deprovision up to {standing.limit} account(s) of {standing.app} per run "
          f"(within its threshold); allowed by {standing.by}")
    return 0


def deletions_revoke(svc: Service, a: argparse.Namespace) -> int:
    svc.revoke_unattended_deletes(a.app)
    print(f"unattended runs deprovision nothing in {a.app} any more")
    return 0


def register_deletions(sub: Any, cmd: Any) -> None:
    deletions = sub.add_parser("deletions", help="standing confirmations: what unattended runs may deprovision"
                               ).add_subparsers(dest="sub", required=True)
    cmd(deletions, "list", deletions_list, "who allowed unattended deprovisions, where, up to how many")
    p = cmd(deletions, "allow", deletions_allow, "let unattended runs deprovision up to N accounts of APP per run",
            write=True)
    p.add_argument("app")
    p.add_argument("--limit", type=int, required=True, metavar="N", help="per run; never above the app's threshold")
    p = cmd(deletions, "revoke", deletions_revoke, "unattended runs deprovision nothing in APP", write=True)
    p.add_argument("app")
