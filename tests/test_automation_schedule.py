"""The schedule: systemd units for the home's owner (checked by systemd-analyze where present), the cron line,
Bitbucket's hourly budget deciding how often cycles may run, and the status's next cycle."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from console import clock
from console.automation.schedule import TimerReader, parse_systemd_time
from console.errors import BadInput
from console.models import Application
from console.service import Service
from console.store import Store
from tests.plugins.core import CliRunner


@pytest.fixture
def svc(state: Store, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setenv("BB_SCHED_SECRET", "x")
    state.applications.put(Application(name="bb", kind="bitbucket", settings={"workspace": "acme", "client_id": "c"},
                                       secrets={"client_secret": "env:BB_SCHED_SECRET"},
                                       last_run={"counts": {"requests": 4, "pages": 4}}))
    state.flush()
    return Service(state, operator="sched-test")


def test_the_units_run_one_cycle_as_the_homes_owner_with_private_secrets(svc, tmp_path: Path):
    units_dir = tmp_path / "units"
    units_dir.mkdir()
    units, written = svc.install_automation("15m", units_dir, python="/usr/bin/python3")
    owner = pwd.getpwuid(os.stat(svc.home).st_uid).pw_name
    service = (units_dir / "idconsole-cycle.service").read_text()
    timer = (units_dir / "idconsole-cycle.timer").read_text()
    assert sorted(p.name for p in written) == ["idconsole-cycle.service", "idconsole-cycle.timer"]
    home = svc.home.resolve()
    assert f"User={owner}\n" in service and "Type=oneshot" in service and "UMask=0077" in service
    assert f"ExecStart=/usr/bin/python3 -m console --home {home} automate run\n" in service
    assert f"EnvironmentFile=-{home}/automation.env\n" in service  # the env: reference's variable, 0600 in the home
    assert f"ReadWritePaths={home}\n" in service and "ProtectSystem=strict" in service
    assert "x" not in service.split("EnvironmentFile")[0].split("Environment=")[-1]  # no secret value inline
    assert "OnUnitActiveSec=15m\n" in timer and "Unit=idconsole-cycle.service" in timer
    assert units.cron.startswith("*/15 * * * * set -a; . ") and "automate run" in units.cron
    assert units.env_vars == ["BB_SCHED_SECRET"] and any("automation.env" in n for n in units.notes)
    assert list(units_dir.iterdir()) == [units_dir / "idconsole-cycle.service", units_dir / "idconsole-cycle.timer"] \
        or len(list(units_dir.iterdir())) == 2
    assert svc.automation_settings().every == "15m"
    (event,) = svc.store.events.query(action="automation_install")
    assert "written to" in event.message


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(svc, tmp_path: Path):
    units_dir = tmp_path / "units"
    units_dir.mkdir()
    svc.install_automation("30m", units_dir)
    proc = subprocess.run(["systemd-analyze", "verify", str(units_dir / "idconsole-cycle.timer"),
                           str(units_dir / "idconsole-cycle.service")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "idconsole-cycle" not in proc.stderr, proc.stderr


def test_the_budget_decides_how_often_cycles_may_run(svc):
    capacity = svc.automation_capacity()
    (source,) = capacity.sources
    assert source.requests == 5 and "last import" in source.basis  # 4 pages + the token
    assert source.min_interval == 60  # 5 requests: 160 cycles an hour fit in 80% of 1,000
    with svc.store.writing():
        app = svc.store.applications.by_name("bb")
        app.settings["request_budget"] = 100
        app.last_run = {"counts": {"requests": 19, "pages": 19}}
        svc.store.applications.put(app)
    assert svc.automation_capacity().min_interval == 15 * 60  # 20 per cycle, 80 an hour: every 15 minutes at most
    with pytest.raises(BadInput, match=r"every 10m: bb would get about 120 requests an hour .*run every 15m or more"):
        svc.install_automation("10m")
    with pytest.raises(BadInput, match="every 5m"):
        svc.set_automation({"every": "5m"})
    units, written = svc.install_automation("1h")
    assert written == [] and units.cron.startswith("0 * * * * ")


def test_intervals_cron_cannot_say_are_refused_with_the_ones_it_can(svc):
    with pytest.raises(BadInput, match="cron"):
        svc.install_automation("45m")
    with pytest.raises(BadInput, match="shorter than a minute"):
        svc.install_automation("30s")


def test_system_units_need_root_and_the_explicit_option(svc, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(BadInput, match="needs root"):
        svc.install_automation("15m", system=True)


def test_status_says_when_the_next_cycle_is_due_from_the_timer_or_the_interval(svc):
    at = datetime(2025, 3, 4, 10, 0, tzinfo=timezone.utc)
    with clock.fixed(at):
        st = svc.automation_status(runner=lambda argv: "")
        assert st.last is None and st.next == "2025-03-04T10:00:00Z" and st.next_from.startswith("the interval")
        seen = []
        st = svc.automation_status(runner=lambda argv: seen.append(argv) or "@1741083300")
    assert seen[0][:3] == ["systemctl", "show", "idconsole-cycle.timer"] and "--property=NextElapseUSecRealtime" in seen[0]
    assert st.next == "2025-03-04T10:15:00Z" and st.next_from == "systemd timer idconsole-cycle.timer"
    assert parse_systemd_time("Tue 2025-03-04 10:15:00 UTC") == datetime(2025, 3, 4, 10, 15, tzinfo=timezone.utc)
    assert parse_systemd_time("n/a") is None


def test_status_reads_ask_systemd_at_most_once_a_minute_unless_asked_fresh(svc, tmp_path: Path):
    now = [datetime(2025, 3, 4, 10, 0, tzinfo=timezone.utc)]
    asked: list[list[str]] = []
    svc.timers = TimerReader(lambda argv: asked.append(argv) or "@1741083300", max_age=60)  # due 10:15
    clock.set_source(lambda: now[0])
    try:
        for _ in range(30):  # a dashboard refreshing every second for half a minute
            assert svc.automation_status().next == "2025-03-04T10:15:00Z"
            now[0] += timedelta(seconds=1)
        assert len(asked) == 1
        now[0] += timedelta(seconds=30)  # the answer is a minute old
        svc.automation_status()
        assert len(asked) == 2
        svc.automation_status(fresh=True)  # on demand (the dashboard's r)
        assert len(asked) == 3
        svc.automation_status()
        assert len(asked) == 3
        units_dir = tmp_path / "units"
        units_dir.mkdir()
        svc.install_automation("15m", units_dir, python="/usr/bin/python3")  # units changed: ask again
        svc.automation_status()
        assert len(asked) == 4
        now[0] = datetime(2025, 3, 4, 10, 15, 1, tzinfo=timezone.utc)  # the answered moment has passed
        svc.automation_status()
        assert len(asked) == 5
    finally:
        clock.set_source(None)


def test_the_cli_prints_the_units_and_the_cron_line_without_writing(svc, state):
    state.close()
    proc = CliRunner(svc.home).ok("automate", "install", "--every", "15m", BB_SCHED_SECRET="x")
    assert "# ---- idconsole-cycle.service" in proc.stdout and "User=" in proc.stdout
    assert "*/15 * * * *" in proc.stdout and "nothing written" in proc.stdout
    assert not list(svc.home.glob("*.service"))
    shown = CliRunner(svc.home).ok("automate", "show").stdout
    assert "every" in shown and "bb: 5 request(s) per cycle" in shown
