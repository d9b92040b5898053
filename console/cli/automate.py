"""`idconsole automate`: one unattended cycle (`run`), its status, its settings and the systemd/cron schedule."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from console.cli.output import emit_json, emit_table, run_async
from console.service import Service, parse_pairs


def run(svc: Service, a: argparse.Namespace) -> int:
    report = run_async(svc.run_cycle(dry_run=a.dry_run))
    if a.json:
        emit_json(report.to_dict())
    else:
        print(report.summary())
        if report.dry_run:
            print("dry run: nothing was imported, applied or written (the plan is the current state's)")
        elif report.sync_run:
            print(f"cycle {report.run_id}: see idconsole report --run {report.sync_run}")
        for note in report.notified:
            print(f"  notified {note}")
    return 0 if report.ok else 1


def status(svc: Service, a: argparse.Namespace) -> int:
    st = svc.automation_status()
    if a.json:
        emit_json(st.to_dict())
        return 0
    last = st.last
    if last is None:
        print("last cycle: none yet (idconsole automate run, or install the timer: idconsole automate install)")
    else:
        print(f"last cycle: {last['run_id'][:8]} started {last['started']}, finished {last.get('finished') or '-'}: "
              f"{last['outcome']}" + (f" — {last['stopped']}" if last.get("stopped") else ""))
        for failure in last.get("failures", [])[:10]:
            print(f"  FAILED {failure['app']} {failure['action']} {failure['person']}: {failure['error']}")
    print(f"next cycle: {st.next} (from {st.next_from}); every {st.every}")
    for held in st.held:
        print(f"  HELD {held['count']} {held['kind']}(s) in {held['app']}: {held['reason']}")
        print(f"    {', '.join(held['people'][:20])}" + (" …" if held["count"] > 20 else ""))
    print(f"notifications: {', '.join(st.notify) or 'none'}; initial passwords: {st.password_file}")
    return 0


def show(svc: Service, a: argparse.Namespace) -> int:
    settings = svc.automation_settings().to_dict()
    capacity = svc.automation_capacity()
    if a.json:
        emit_json({"settings": settings, "capacity": capacity.to_dict()})
        return 0
    emit_table([[k, _text(v)] for k, v in settings.items()], ["setting", "value"])
    for source in capacity.sources:
        print(f"{source.app}: {source.requests} request(s) per cycle ({source.basis}) of {source.budget}/hour: "
              f"every {_interval(source.min_interval)} at the most often")
    return 0


def set_(svc: Service, a: argparse.Namespace) -> int:
    svc.set_automation(parse_pairs(a.pairs, example="notify=webhook"))
    print("automation settings saved (idconsole automate show)")
    return 0


def install(svc: Service, a: argparse.Namespace) -> int:
    units, written = svc.install_automation(a.every, Path(a.dir) if a.dir else None, system=a.system)
    if a.json:
        emit_json(units.to_dict() | {"written": [str(p) for p in written]})
        return 0
    if written:
        for path in written:
            print(f"wrote {path}")
        print(f"then: systemctl daemon-reload && systemctl enable --now {units.timer_name}"
              + ("" if a.system else "   (after copying them to /etc/systemd/system)"))
    else:
        for filename, text in units.files.items():
            print(f"# ---- {filename}")
            print(text)
        print("# (nothing written: --dir DIR writes them there, --system into /etc/systemd/system as root)")
    print(f"# runs as {units.account}; the equivalent cron line (crontab -e as {units.account}):")
    print(units.cron)
    for note in units.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def notify_test(svc: Service, a: argparse.Namespace) -> int:
    results = svc.test_notifications()
    for line in results:
        print(line)
    return 0 if all(": sent" in line for line in results) else 1


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _interval(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def register(sub: Any, cmd: Any) -> None:
    automate = sub.add_parser("automate", help="unattended cycles: run one, status, settings, the systemd timer"
                              ).add_subparsers(dest="sub", required=True)
    p = cmd(automate, "run", run, "one unattended cycle: import sources, rule groups, plan, apply", write=True)
    p.add_argument("--dry-run", action="store_true", help="import, plan and apply without writing anything")
    cmd(automate, "status", status, "the last and next cycles, their outcome and what is held")
    cmd(automate, "show", show, "the automation settings and how often the request budget allows cycles")
    p = cmd(automate, "set", set_, "change automation settings (every, password_file, notify, webhook_url, smtp_*, "
            "command, sources)", write=True)
    p.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    p = cmd(automate, "install", install, "systemd service + timer units for the home's owner, and the cron line",
            write=True)
    p.add_argument("--every", required=True, help="e.g. 15m, 1h (refused when Bitbucket's budget cannot take it)")
    p.add_argument("--dir", help="write the units into this directory (default: print them)")
    p.add_argument("--system", action="store_true", help="write them into /etc/systemd/system (root only)")
    cmd(automate, "notify-test", notify_test, "send a test notification through every configured way")
