"""The schedule of unattended cycles: how often Bitbucket's request budget lets them run, the systemd service and
timer units (and the equivalent cron line) for the account that owns the home, and when the next cycle is due.

The product never runs its own scheduler: systemd (or cron) starts `idconsole automate run`; cycles never overlap
(the cycle lock), so a timer that fires while one runs only skips."""
from __future__ import annotations

import math
import os
import pwd
import grp
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from console import clock
from console.automation.settings import AutomationSettings, format_interval
from console.connectors import is_source
from console.errors import BadInput
from console.store import Store

AUTOMATION_SHARE = 0.8  # of each source's hourly budget; the rest stays for operators (previews, tests, imports)
ENV_FILE = "automation.env"


@dataclass
class SourceCost:
    """Requests one cycle sends to a source (pages of each endpoint + the token) and its hourly budget."""

    app: str
    requests: int
    budget: int
    basis: str  # where the figure comes from

    @property
    def min_interval(self) -> int:
        """Seconds between cycles so that they use at most AUTOMATION_SHARE of the budget (whole minutes)."""
        per_hour = max(1, math.floor(self.budget * AUTOMATION_SHARE))
        seconds = math.ceil(3600 * self.requests / per_hour)
        return max(60, math.ceil(seconds / 60) * 60)


@dataclass
class Capacity:
    """How often cycles may run for the workspaces' size: the slowest source decides."""

    sources: list[SourceCost] = field(default_factory=list)

    @property
    def min_interval(self) -> int:
        return max((s.min_interval for s in self.sources), default=60)

    def check(self, every: int) -> None:
        """Refuse an interval whose cycles would use more than their share of a source's hourly budget."""
        for source in self.sources:
            if every < source.min_interval:
                per_hour = 3600 / every * source.requests
                raise BadInput(
                    f"every {format_interval(every)}: {source.app} would get about {per_hour:.0f} requests an hour "
                    f"({source.requests} per cycle, {source.basis}), above {AUTOMATION_SHARE:.0%} of its "
                    f"{source.budget} requests/hour", hint=f"run every {format_interval(source.min_interval)} or more "
                    "(or raise the endpoints' pagelen to 100 to need fewer pages)")

    def to_dict(self) -> dict[str, Any]:
        return {"min_interval": format_interval(self.min_interval), "min_interval_seconds": self.min_interval,
                "share": AUTOMATION_SHARE,
                "sources": [asdict(s) | {"min_interval": format_interval(s.min_interval)} for s in self.sources]}


def capacity(store: Store, sources: list[str]) -> Capacity:
    """Requests per cycle from each source's last import (its pages + one token request), else an estimate."""
    from console.connectors.bitbucket import setting  # here, so that `automate status` starts without httpx
    from console.inbound.endpoints import load_endpoints

    costs = []
    for name in sources:
        app = store.applications.by_name(name)
        if app is None or not is_source(app.kind):
            continue
        budget = int(setting(app, "request_budget"))
        counts = app.last_run.get("counts", {}) if isinstance(app.last_run, dict) else {}
        sent = int(counts.get("requests") or 0)
        if sent:
            basis = f"measured by its last import ({counts.get('pages', sent)} page(s))"
        else:
            sent = max(1, len([e for e in load_endpoints(store, name) if e.primary]) or 1)
            basis = "estimated: one page per endpoint until the first import measures it"
        costs.append(SourceCost(name, sent + 1, budget, basis))
    return Capacity(costs)


# ---- units -------------------------------------------------------------------------------------
@dataclass
class Units:
    """The text of the units and the cron line; `files` maps a file name to its content."""

    service_name: str
    timer_name: str
    files: dict[str, str]
    cron: str
    account: str
    env_vars: list[str]
    env_file: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def home_owner(home: Path) -> tuple[str, str]:
    """The account (and its primary group) that owns the home: the one that runs its cycles."""
    st = os.stat(home)
    try:
        entry = pwd.getpwuid(st.st_uid)
    except KeyError:
        raise BadInput(f"the owner of {home} (uid {st.st_uid}) has no account on this machine",
                       hint="give the home to the account that should run the cycles (chown)") from None
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return entry.pw_name, group


def env_references(store: Store, settings: AutomationSettings) -> list[str]:
    """The environment variables the applications' and the notifications' secret references name."""
    refs = [ref for app in store.applications for ref in app.secrets.values()]
    refs += [getattr(settings, key) for key in AutomationSettings.SECRET_KEYS]
    return sorted({ref[4:] for ref in refs if isinstance(ref, str) and ref.startswith("env:")})


def _quote(arg: str) -> str:
    """An ExecStart word: quoted when it has spaces or quotes (systemd's own quoting rules)."""
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_units(store: Store, settings: AutomationSettings, every: int, *, python: str | None = None) -> Units:
    """The service and timer for `idconsole automate run` every `every` seconds, as the home's owner."""
    home = store.home.resolve()
    account, group = home_owner(home)
    name = settings.unit
    argv = [python or sys.executable, "-m", "console", "--home", str(home), "automate", "run"]
    env_vars = env_references(store, settings)
    env_file = home / ENV_FILE
    passwords = settings.password_path(home)
    writable = sorted({str(home), str(passwords.parent)})
    notes = []
    if env_vars:
        notes.append(f"the cycles need {', '.join(env_vars)}: put VAR=value lines in {env_file} "
                     f"(install -m 600 -o {account} /dev/null {env_file}); only {account} can read it")
    if any(str(ref).startswith("keyring:") for app in store.applications for ref in app.secrets.values()):
        notes.append("keyring: references need a keyring the service can open without a login session; prefer "
                     "file: references (a 0600 file) for unattended runs")
    service = "\n".join([
        "[Unit]",
        f"Description=idconsole: one unattended provisioning cycle (home {home})",
        "Documentation=man:systemd.timer(5)",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"User={account}",
        f"Group={group}",
        "UMask=0077",
        *([f"EnvironmentFile=-{env_file}"] if env_vars else []),
        "Environment=NO_COLOR=1",
        f"ExecStart={' '.join(_quote(a) for a in argv)}",
        # exit 1 = the cycle had failures (already notified and recorded), 2 = bad configuration: both are failures
        f"TimeoutStartSec={max(300, min(every, 6 * 3600))}",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        f"ReadWritePaths={' '.join(_quote(p) for p in writable)}",
        "",
    ])
    timer = "\n".join([
        "[Unit]",
        f"Description=idconsole: a provisioning cycle every {format_interval(every)} (home {home})",
        "",
        "[Timer]",
        "OnBootSec=2min",
        f"OnUnitActiveSec={format_interval(every)}",
        "AccuracySec=30s",
        f"Unit={name}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
    command = " ".join(shlex.quote(a) for a in argv)
    if env_vars:
        command = f"set -a; . {shlex.quote(str(env_file))}; set +a; {command}"
    log = shlex.quote(str(home / "logs" / "cycles.log"))
    cron = f"{cron_schedule(every)} {command} >>{log} 2>&1"
    return Units(f"{name}.service", f"{name}.timer", {f"{name}.service": service, f"{name}.timer": timer}, cron,
                 account, env_vars, str(env_file) if env_vars else "", notes)


def cron_schedule(every: int) -> str:
    """The five cron fields for `every` seconds; BadInput when cron cannot say it exactly."""
    minutes = every // 60
    if every % 60 == 0 and minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if every % 3600 == 0 and every // 3600 <= 24 and 24 % (every // 3600) == 0:
        hours = every // 3600
        return "0 0 * * *" if hours == 24 else ("0 * * * *" if hours == 1 else f"0 */{hours} * * *")
    raise BadInput(f"every {format_interval(every)} cannot be written as a cron schedule",
                   hint="choose a divisor of an hour (5m, 10m, 15m, 20m, 30m) or of a day (1h, 2h, 3h, 4h, 6h, 12h)")


def write_units(units: Units, directory: Path) -> list[Path]:
    """Write the unit files (0644: systemd reads them; they hold no secret) into `directory`."""
    if not directory.is_dir():
        raise BadInput(f"{directory} is not a directory", hint="create it, or leave out --dir to print the units")
    written = []
    for filename, text in units.files.items():
        path = directory / filename
        tmp = path.with_name(f".{filename}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        written.append(path)
    return written


# ---- the next cycle ----------------------------------------------------------------------------
Runner = Callable[[list[str]], str]


def _systemctl(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def next_from_timer(timer: str, runner: Runner | None = None) -> datetime | None:
    """When systemd will next start the timer's service (`NextElapseUSecRealtime`), or None where it cannot say."""
    runner = runner or _systemctl
    try:
        text = runner(["systemctl", "show", timer, "--property=NextElapseUSecRealtime", "--value", "--timestamp=unix"])
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_systemd_time(text)


TIMER_MAX_AGE = 60  # seconds an answer of systemd is kept: the next elapse changes only when the timer fires


class TimerReader:
    """The next elapse of systemd timers, asked of systemctl at most once every `max_age` seconds per timer (and
    again once the answered moment has passed, or when asked `fresh`): a screen refreshing every second costs no
    subprocess. Times come from `console.clock`, so tests decide when an answer is old."""

    def __init__(self, runner: Runner | None = None, *, max_age: int = TIMER_MAX_AGE) -> None:
        self.runner = runner
        self.max_age = timedelta(seconds=max_age)
        self._answers: dict[str, tuple[datetime, datetime | None]] = {}  # timer → (asked at, its answer)
        self._lock = threading.Lock()

    def next_elapse(self, timer: str, *, fresh: bool = False) -> datetime | None:
        now = clock.now()
        with self._lock:
            cached = self._answers.get(timer)
            if cached is not None and not fresh:
                asked, due = cached
                if asked <= now < asked + self.max_age and (due is None or due > now):
                    return due
            due = next_from_timer(timer, self.runner)
            self._answers[timer] = (now, due)
            return due

    def forget(self) -> None:
        """Drop every answer (the units were just installed or changed): the next read asks systemd."""
        with self._lock:
            self._answers.clear()


def parse_systemd_time(text: str) -> datetime | None:
    """`@1718000000`, `Mon 2024-06-10 06:13:20 UTC` or a number of microseconds; None for empty or n/a."""
    text = text.strip()
    if not text or text in ("n/a", "0"):
        return None
    if text.startswith("@") and text[1:].isdigit():
        return datetime.fromtimestamp(int(text[1:]), tz=timezone.utc)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1_000_000, tz=timezone.utc)
    match = re.match(r"^\w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?: (\S+))?$", text)
    if match:
        moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
        return moment.replace(tzinfo=timezone.utc) if match.group(2) in ("UTC", None) else moment.astimezone(timezone.utc)
    return None


def next_from_interval(last_started: str | None, every: int, now: datetime) -> datetime:
    """Without a timer to ask: the last cycle's start plus the interval (now when that is past or none ran)."""
    if not last_started:
        return now
    start = datetime.fromisoformat(last_started.replace("Z", "+00:00"))
    due = start + timedelta(seconds=every)
    return due if due > now else now
