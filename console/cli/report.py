"""`idconsole report`: filter the provisioning report and print or export it."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from console.cli.output import emit_table
from console.reports import describe_changes
from console.service import ReportFilter, Service


def report(svc: Service, a: argparse.Namespace) -> int:
    flt = ReportFilter(person=a.user, search=a.search, app=a.app, since=a.since, start=a.start, end=a.end, action=a.action,
                       status=a.status, run=a.run, limit=a.limit)
    fmt = "json" if a.json else a.format
    if fmt == "table":
        if a.output:
            print("error: a table is for the screen", file=sys.stderr)
            print("  what to do: add --format csv or --format json to write a file", file=sys.stderr)
            return 2
        rows = ([e.time, e.app or "-", e.person or "-", e.action, e.status,
                 (e.error or describe_changes(e.changes) or e.message)[:70]] for e in svc.report_events(flt))
        count = emit_table(rows, ["time", "app", "person", "action", "status", "details"])
        print(f"{count:,} event{'' if count == 1 else 's'}")
        if svc.report_malformed():
            print(f"warning: {svc.report_malformed()} malformed line(s) of the report files were skipped",
                  file=sys.stderr)
        return 0
    count, path = svc.export_report(flt, fmt, a.output, force=a.force, to=sys.stdout.buffer)
    sys.stdout.flush()
    if svc.report_malformed():
        print(f"warning: {svc.report_malformed()} malformed line(s) of the report files were skipped", file=sys.stderr)
    if path is not None:
        print(f"{count:,} event{'' if count == 1 else 's'} written to {path}", file=sys.stderr)
    return 0


def register(sub: Any, cmd: Any) -> None:
    p = cmd(sub, "report", report, "the provisioning report")
    p.add_argument("--user", help="one person, exactly: any key, userName, e-mail or display name they ever had")
    p.add_argument("--search", metavar="TEXT",
                   help="everyone with an identifier or name holding TEXT (every word of it), deleted people too")
    p.add_argument("--app")
    p.add_argument("--since")
    p.add_argument("--from", dest="start")
    p.add_argument("--to", dest="end")
    p.add_argument("--action")
    p.add_argument("--status")
    p.add_argument("--run")
    p.add_argument("--limit", type=int)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--output", "-o", help="write the export to this new file (never inside the home)")
    p.add_argument("--force", action="store_true", help="replace the --output file if it exists")
