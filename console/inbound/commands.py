"""`idconsole import bitbucket APP [--dry-run] [--allow-deletes N] [--json]`: the inbound run from the CLI.

Exit codes: 0 every record imported, 1 records were skipped (each one printed with its field,
value and rule), 2 leavers were refused by the threshold (confirm with --allow-deletes N).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from console.inbound.run import ImportResult, run_import


def import_bitbucket(svc: Any, a: argparse.Namespace) -> int:
    app = svc.app(a.app)
    result = asyncio.run(run_import(svc.store, app, dry_run=bool(getattr(a, "dry_run", False)),
                                    operator=svc.operator, allow_leavers=getattr(a, "allow_deletes", None)))
    if getattr(a, "json", False):
        from console.cli import emit_json

        emit_json(result.to_dict())
    else:
        print_result(result)
    return exit_code(result)


def exit_code(result: ImportResult) -> int:
    if result.leavers_refused and "--allow-deletes" in result.leavers_refused:
        return 2
    return 0 if result.ok else 1


def print_result(result: ImportResult) -> None:
    c = result.counts
    prefix = "dry run: would import" if result.dry_run else "imported"
    print(f"{prefix} {result.app}: {c['fetched']} members read in {result.pages} page(s), "
          f"{result.requests} request(s); "
          f"{c['joiners']} joiners, {c['movers']} movers, {c['leavers']} leavers, {c['unchanged']} unchanged, "
          f"{c['skipped']} skipped")
    for outcome in result.outcomes:
        if outcome.action in ("create", "update", "leaver"):
            fields = ", ".join(f"{k}: {v[0]!r} → {v[1]!r}" if outcome.action != "create" else k
                               for k, v in outcome.changes.items())
            print(f"  {outcome.action:<7} {outcome.person}  {fields}")
    for outcome in result.of("skipped"):
        for issue in outcome.issues:
            print(f"  skipped {issue}", file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.pending_leavers:
        print("  not made leavers: " + ", ".join(result.pending_leavers), file=sys.stderr)
