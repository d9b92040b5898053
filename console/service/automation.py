"""Automation: unattended cycles (`automate run`), their settings and notifications, the systemd/cron schedule that
starts them (`automate install`) and their status (`automate status`)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from console import clock
from console.automation.settings import (
    AutomationSettings,
    load_last_cycle,
    load_settings,
    parse_interval,
    parse_value,
    save_settings,
)
from console.connectors import is_source
from console.errors import BadInput
from console.service.groups import GroupsMixin
from console.service.base import ServiceBase, writes

if TYPE_CHECKING:  # the cycle (the inbound run, the sync engine), notifications (httpx, smtplib) and the schedule
    # are loaded by the methods that use them, so that `automate status` and every other command start without them
    from console.automation.cycle import CycleReport
    from console.automation.schedule import Capacity, Runner, TimerReader, Units

__all__ = ["AutomationMixin", "AutomationSettings", "AutomationStatus"]

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")


@dataclass
class AutomationStatus:
    """The last cycle (its outcome and what it held) and when the next one is due, and who says so."""

    every: str
    last: dict[str, Any] | None
    next: str
    next_from: str  # "systemd timer NAME" or "the interval"
    held: list[dict[str, Any]] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)
    password_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class AutomationMixin(ServiceBase):
    _timers: TimerReader | None = None

    @property
    def timers(self) -> TimerReader:
        """systemd's answers about the cycle timer, kept a minute (`TimerReader`): status reads cost no subprocess."""
        if self._timers is None:
            from console.automation.schedule import TimerReader

            self._timers = TimerReader()
        return self._timers

    @timers.setter
    def timers(self, reader: TimerReader) -> None:
        self._timers = reader

    def automation_settings(self) -> AutomationSettings:
        return load_settings(self.store)

    @writes
    def set_automation(self, pairs: dict[str, str]) -> AutomationSettings:
        """Change automation settings (`every`, `password_file`, `notify`, `webhook_url`, …), each checked; secrets
        only by reference (env:, file:, keyring:). Recorded as an `automation_set` event."""
        self._writable()
        if not pairs:
            raise BadInput("nothing to set", hint=f"KEY=VALUE with KEY one of {', '.join(AutomationSettings.keys())}")
        settings = load_settings(self.store)
        before = settings.to_dict()
        sources = sorted(a.name for a in self.store.applications if is_source(a.kind))
        for key, value in pairs.items():
            setattr(settings, key, parse_value(key, value, home=self.home, sources=sources))
        settings.check()
        if "every" in pairs:
            self.automation_capacity(settings).check(settings.interval)
        after = settings.to_dict()
        save_settings(self.store, settings)
        self._record("automation_set", app="automation", message=", ".join(sorted(pairs)),
                     changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v})
        return settings

    async def run_cycle(self, dry_run: bool = False) -> CycleReport:
        """One unattended cycle: import the sources, recompute rule groups, plan and apply every application;
        deprovisions without a standing confirmation (or above the threshold) are held; see console.automation."""
        from console.automation import notify as notifications
        from console.automation.cycle import run_cycle

        if not dry_run:
            self._writable()
        settings = load_settings(self.store)

        def notifier(report: CycleReport) -> list[str]:
            return notifications.notify(settings, report, self.home)

        return await run_cycle(self.store, operator=self.operator, dry_run=dry_run, notifier=notifier,
                               regroup=lambda: [change.group for change in cast(GroupsMixin, self).recompute_rule_groups()])

    def test_notifications(self) -> list[str]:
        """Send a test summary through every configured way (nothing else happens); one line per way."""
        from console.automation import notify as notifications
        from console.automation.cycle import CycleReport

        settings = load_settings(self.store)
        if not settings.notify:
            raise BadInput("no notification is configured", hint="idconsole automate set notify=webhook webhook_url=…")
        now = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        report = CycleReport(run_id="test-notification", dry_run=True, started=now, finished=now, outcome="test")
        return notifications.notify(settings, report, self.home)

    # ---- the schedule ------------------------------------------------------------------------
    def automation_capacity(self, settings: AutomationSettings | None = None) -> Capacity:
        """Requests each cycle sends to each source and the shortest interval Bitbucket's budget allows."""
        from console.automation.cycle import cycle_sources
        from console.automation.schedule import capacity

        settings = settings or load_settings(self.store)
        return capacity(self.store, cycle_sources(self.store, settings))

    def automation_units(self, every: str | None = None, *, python: str | None = None) -> Units:
        """The systemd units and the cron line for a cycle every `every` (refused when the budget cannot take it)."""
        from console.automation.schedule import build_units

        settings = load_settings(self.store)
        seconds = parse_interval(every or settings.every)
        self.automation_capacity(settings).check(seconds)
        return build_units(self.store, settings, seconds, python=python)

    @writes
    def install_automation(self, every: str, directory: Path | None = None, *, system: bool = False,
                           python: str | None = None) -> tuple[Units, list[Path]]:
        """Keep the interval and write the units into `directory` (or /etc/systemd/system with `system`, as root);
        without either nothing is written but the interval. Recorded as an `automation_install` event."""
        self._writable()
        if system:
            if directory is not None:
                raise BadInput("--system and --dir are exclusive", hint="--system writes /etc/systemd/system")
            if os.geteuid() != 0:
                raise BadInput("writing /etc/systemd/system needs root",
                               hint="run it with sudo, or --dir DIR to write them elsewhere, or no option to print them")
            directory = SYSTEM_UNIT_DIR
        units = self.automation_units(every, python=python)
        settings = load_settings(self.store)
        before = settings.every
        settings.every = parse_value("every", every, home=self.home, sources=[])
        save_settings(self.store, settings)
        from console.automation.schedule import write_units

        written = write_units(units, directory) if directory is not None else []
        self.timers.forget()  # the timer may be new or changed: the next status asks systemd
        where = f"written to {directory}" if written else "printed"
        self._record("automation_install", app="automation", message=f"every {settings.every}; units {where}",
                     changes={"every": [before, settings.every]} if before != settings.every else {})
        return units, written

    def automation_status(self, runner: Runner | None = None, *, fresh: bool = False) -> AutomationStatus:
        """The last cycle and the next: from the systemd timer where it runs the cycles, else from the interval.
        systemd is asked through `timers` (at most once a minute; `fresh` asks now); a `runner` given asks it
        through that runner, uncached."""
        from console.automation.schedule import next_from_interval, next_from_timer

        settings = load_settings(self.store)
        last = load_last_cycle(self.store)
        timer = f"{settings.unit}.timer"
        due = next_from_timer(timer, runner) if runner is not None else self.timers.next_elapse(timer, fresh=fresh)
        source = f"systemd timer {timer}"
        if due is None:
            due = next_from_interval(last.get("started") if last else None, settings.interval, clock.now())
            source = f"the interval ({settings.every}) — no systemd timer {timer} answered"
        return AutomationStatus(every=settings.every, last=last, next=due.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                next_from=source, held=list(last.get("held", [])) if last else [],
                                notify=settings.notify, password_file=str(settings.password_path(self.home)))
