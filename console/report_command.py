"""`idconsole report`: filter the provisioning report and print or export it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console import reports
from console.service import Service


def report_command(svc: Service, a: argparse.Namespace) -> int:
    flt = reports.ReportFilter(person=a.user, app=a.app, since=a.since, start=a.start, end=a.end, action=a.action,
                               status=a.status, run=a.run, limit=a.limit)
    if a.app:
        svc.app(a.app)  # an unknown application is an error, not an empty report
    events = reports.query(svc.store, flt)
    fmt = "json" if a.json else a.format
    if fmt == "json":
        data = reports.to_json(events).decode() + "\n"
    elif fmt == "csv":
        data = reports.to_csv(events)
    else:
        rows = [[e.time, e.app or "-", e.person or "-", e.action, e.status,
                 (e.error or reports.describe_changes(e.changes) or e.message)[:70]] for e in events]
        from console.cli import emit_table

        emit_table(rows, ["time", "app", "person", "action", "status", "details"])
        print(f"{len(events)} events")
        return 0
    if a.output:
        reports.write_export(Path(a.output), data.encode("utf-8"), overwrite=True)
        print(f"{len(events)} events written to {a.output}", file=sys.stderr)
    else:
        sys.stdout.write(data)
    return 0
